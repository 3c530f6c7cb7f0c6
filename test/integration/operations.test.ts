/**
 * Operating a cluster on real broker processes: a broker joins, a partition moves onto it
 * while a producer keeps writing, leadership is transferred and balanced, and a broker is
 * removed.
 */
import t from 'tap';
import { Client } from '../../client/index.js';
import { startCluster, waitFor } from './cluster.js';

t.test('a 4th broker joins and a partition moves onto it under acks=all writes without losing a record', async (t) => {
  const { cluster, client } = await startCluster(t);
  const admin = client.admin();
  await cluster.join(4, 2);
  await waitFor('broker 4 registered and alive', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4 && b.alive));
  await admin.createTopic({ topic: 'ledger', partitions: 1, replicationFactor: 3 });
  const before = (await admin.describeTopic('ledger')).partitions[0]!.replicas;
  const leaving = before.find((id) => id !== 4)!;
  const target = [...before.filter((id) => id !== leaving), 4].filter((id, i, all) => all.indexOf(id) === i);

  const producer = client.producer({ acks: 'all', deliveryTimeoutMs: 30_000 });
  const acked: Array<{ offset: number; value: string }> = [];
  let stop = false;
  let next = 0;
  const writer = (async () => {
    while (!stop) {
      const value = `entry-${next++}`;
      try {
        acked.push({ offset: (await producer.send({ topic: 'ledger', partition: 0, value })).offset, value });
      } catch {
        // Outcome unknown: not counted.
      }
    }
  })();
  try {
    await waitFor('writes flowing', () => acked.length > 100);
    await admin.movePartition('ledger', 0, target);
    await waitFor('the move to finish', async () => {
      const p = (await admin.describeTopic('ledger')).partitions[0]!;
      return [...p.replicas].sort().join() === [...target].sort().join() && [...p.inSync].sort().join() === [...target].sort().join();
    }, 30_000);
    const count = acked.length;
    await waitFor('writes flowing after the move', () => acked.length > count + 100);
  } finally {
    stop = true;
    await writer;
    await producer.close();
  }
  t.ok(acked.length > 200, `${acked.length} records acknowledged during the move`);

  const last = Math.max(...acked.map((a) => a.offset));
  for (const id of target) {
    const consumer = client.consumer({ readFrom: id, maxWaitMs: 200 });
    consumer.assign([{ topic: 'ledger', partition: 0, offset: 'earliest' }]);
    const seen = new Map<number, string>();
    const deadline = setTimeout(() => void consumer.close(), 15_000);
    for await (const m of consumer) {
      seen.set(m.offset, m.value!.toString());
      if (m.offset >= last) break;
    }
    clearTimeout(deadline);
    await consumer.close();
    t.same(acked.filter((a) => seen.get(a.offset) !== a.value), [], `broker ${id} holds every acknowledged record`);
  }
  await waitFor('the old replica deleted its copy', () => !cluster.logs(leaving).includes('"topic":"ledger"') || cluster.logs(leaving).includes('partition replica deleted'), 10_000);
});

t.test('transfer-leader and balance-leaders spread leadership; remove-broker empties a broker', async (t) => {
  const { cluster, client } = await startCluster(t);
  const admin = client.admin();
  await admin.createTopic({ topic: 'spread', partitions: 6, replicationFactor: 3 });

  // Pile every leader onto broker 1, then ask for balance.
  for (let p = 0; p < 6; p++) {
    await waitFor(`partition ${p} led by broker 1`, async () => {
      const leader = (await admin.describeTopic('spread')).partitions[p]!.leader;
      if (leader === 1) return true;
      await admin.transferLeader('spread', p, 1).catch(() => undefined);
      return false;
    });
  }
  // (Each wait above fails the test unless transfer-leader handed that partition to broker 1;
  // the brokers' own preferred-leader balancing may already be moving some back.)
  t.pass('transfer-leader moved every partition\'s leadership to broker 1');
  await admin.balanceLeaders();
  const balanced = await waitFor('leaders spread evenly', async () => {
    const c = await admin.describeCluster();
    return c.brokers.every((b) => b.leaders === 2) ? c : null;
  });
  t.same(balanced.brokers.map((b) => b.leaders), [2, 2, 2], 'each broker leads 2 of 6 partitions');

  await cluster.join(4, 1);
  await waitFor('broker 4 registered', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4 && b.alive));
  await admin.removeBroker(3);
  const described = await waitFor('no replica on broker 3', async () => {
    const d = await admin.describeTopic('spread');
    return d.partitions.every((p) => !p.replicas.includes(3)) ? d : null;
  });
  t.ok(described.partitions.every((p) => p.replicas.length === 3), 'every partition keeps 3 replicas');
  // A removed broker no longer hears the metadata; the operator stops it.
  await cluster.stop(3);
  const remaining = new Client({ brokers: [1, 2, 4].map((id) => cluster.brokers.get(id)!.address), requestTimeoutMs: 10_000 });
  t.teardown(() => remaining.close());
  const members = await waitFor('broker 3 gone from the metadata', async () => {
    const c = await remaining.admin().describeCluster();
    return c.brokers.some((b) => b.id === 3) ? null : c;
  });
  t.same(members.brokers.map((b) => b.id), [1, 2, 4], 'broker 3 is no longer a member');
});

t.test("a new topic's partitions are led by their preferred replicas when creation returns", async (t) => {
  const { client } = await startCluster(t);
  const admin = client.admin();
  await admin.createTopic({ topic: 'born-balanced', partitions: 30, replicationFactor: 3 });
  // createTopic waits for every partition to have a leader; the balancer (every 10 s) has
  // had no time to move any, so these are the first elections' winners.
  const { partitions } = await admin.describeTopic('born-balanced');
  const preferred = partitions.filter((p) => p.leader === p.replicas[0]).length;
  const perBroker = [1, 2, 3].map((id) => partitions.filter((p) => p.leader === id).length);
  t.equal(preferred, 30, `every partition led by its first replica (leaders per broker: ${perBroker.join(', ')})`);
});
