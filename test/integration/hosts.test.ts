/**
 * A cluster across hosts: each broker in its own network namespace on a bridge (netns.ts),
 * listening on and advertising its own address (10.77.K.x, never 127.0.0.1), its
 * operations port on that address too; the client and the CLI outside, in the root
 * namespace, as an application on another machine. Create, produce, consume in a group,
 * kill -9 one host's broker under an acks=all producer, add a fourth host with --join,
 * move the dead host's partitions onto it with the CLI, bring the dead host back, and
 * check every host's /readyz and `cluster health --wait`. Every acknowledged record is
 * read back from every replica. Skipped, with one line, where namespaces cannot be made.
 */
import t from 'tap';
import { onInterrupt } from '../../bench/interrupt.js';
import { Client } from '../../client/index.js';
import { ProcessCluster, runCli, waitFor } from './cluster.js';
import { Network, namespacesUnavailable } from './netns.js';
import { readsBack } from './read-back.js';
import { SteadyProducer } from '../../bench/steady-producer.js';

/** Every host has its own ports: the same numbers on each. */
const PORT = 7400;
const HTTP_PORT = 8400;
const TOPIC = 'orders';
const PARTITIONS = 3;

/** What a CLI run said on stderr, for a test's message. */
const why = (run: { stderr: string }) => (run.stderr.trim() ? ` (${run.stderr.trim()})` : '');

const unavailable = await namespacesUnavailable();
if (unavailable) {
  t.plan(0, `multi-host test skipped: ${unavailable}`);
} else {
  t.test('brokers on four hosts: a host lost, a host added, partitions moved onto it, nothing acknowledged lost', async (t) => {
    // Four hosts from the start; the fourth gets its broker later, with --join.
    const net = await Network.create([1, 2, 3, 4]);
    const address = (id: number) => `${net.address(id)}:${PORT}`;
    const readyz = (id: number) => `http://${net.address(id)}:${HTTP_PORT}/readyz`;
    const cluster = new ProcessCluster({
      brokers: 3,
      host: (id) => ({ address: address(id), prefix: net.prefix(id) }),
      brokerArgs: (id) => ['--advertise', address(id), '--http-listen', `${net.address(id)}:${HTTP_PORT}`],
    });
    // A runner's timeout or Ctrl-C must not leave brokers, namespaces or the bridge behind.
    const releaseInterrupt = onInterrupt(() => {
      cluster.abandon();
      net.destroySync();
    });
    const client = new Client({ brokers: [address(1), address(2), address(3)], requestTimeoutMs: 10_000 });
    t.teardown(async () => {
      await client.close();
      await cluster.close();
      await net.destroy();
      releaseInterrupt();
    });
    await cluster.start();
    const brokers = ['--brokers', cluster.bootstrap.join(',')];
    t.comment(`hosts ${[1, 2, 3, 4].map(address).join(' ')} (namespaces ${net.namespace(1)}..)`);

    const described = await waitFor('a controller', async () => {
      const d = await client.admin().describeCluster();
      return d.controller !== null && d.brokers.length === 3 ? d : null;
    }, 60_000);
    t.same(described.brokers.map((b) => b.address), [1, 2, 3].map(address), 'the metadata gives each broker the address it advertises');

    const created = await runCli(['topic', 'create', TOPIC, '--partitions', String(PARTITIONS), '--replication', '3', ...brokers]);
    t.equal(created.code, 0, `topic created from outside${why(created)}`);

    // Produce, then read it all in a consumer group, from outside.
    const producer = new SteadyProducer(client, TOPIC, PARTITIONS, 5).start();
    await waitFor('300 acknowledgements', () => producer.ackCount >= 300, 60_000);
    const consumer = client.consumer({ groupId: 'billing' });
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    const consumed = new Set<string>();
    for await (const m of consumer) {
      if (producer.acked.get(`${m.partition}@${m.offset}`) === m.value?.toString()) consumed.add(`${m.partition}@${m.offset}`);
      if (consumed.size >= 300) break;
    }
    await consumer.close();
    t.equal(consumed.size, 300, 'a consumer group read 300 acknowledged records, byte for byte');

    // kill -9 the host that leads partition 0; the producer goes on.
    const leader = (await client.admin().describeTopic(TOPIC)).partitions[0]!.leader;
    const lost = leader ?? 2;
    const survivor = [1, 2, 3].find((id) => id !== lost)!;
    await cluster.kill(lost);
    const ackedAtKill = new Map([...Array(PARTITIONS).keys()].map((p) => [p, producer.maxAckedOffset.get(p) ?? -1]));
    await waitFor('acknowledgements on every partition after the kill', () =>
      [...ackedAtKill].every(([p, offset]) => (producer.maxAckedOffset.get(p) ?? -1) > offset), 120_000, 100);
    t.pass(`broker ${lost} killed; every partition acknowledges without it`);

    // A fourth host joins, and takes the lost host's replicas (the CLI waits until they are in sync).
    await cluster.join(4, survivor);
    const joined = await waitFor('broker 4 in the metadata', async () =>
      (await client.admin().describeCluster()).brokers.find((b) => b.id === 4 && b.alive), 60_000);
    t.equal(joined.address, address(4), 'the joined broker advertises its own host');
    const before = await client.admin().describeTopic(TOPIC);
    for (const p of before.partitions) {
      const target = p.replicas.map((id) => (id === lost ? 4 : id));
      const moved = await runCli(['partition', 'move', TOPIC, String(p.partition), '--replicas', target.join(','), ...brokers]);
      t.equal(moved.code, 0, `${TOPIC}/${p.partition} moved to ${target.join(',')}${why(moved)}`);
    }
    const after = await client.admin().describeTopic(TOPIC);
    t.ok(after.partitions.every((p) => p.replicas.includes(4) && !p.replicas.includes(lost)), 'every partition now lives on host 4, none on the lost host');

    // The lost host comes back (empty of partitions now); every host is ready, the cluster whole.
    cluster.restart(lost);
    for (const id of [1, 2, 3, 4]) {
      await waitFor(`host ${id} ready`, async () => (await fetch(readyz(id)).catch(() => null))?.status === 200, 120_000, 250);
    }
    t.pass('GET /readyz answers 200 on every host');
    const health = await runCli(['cluster', 'health', '--wait', '--timeout-ms', '120000', ...brokers]);
    t.equal(health.code, 0, `cluster health --wait from outside: healthy${why(health)}`);
    t.same(JSON.parse(health.stdout).brokersDown, [], 'no broker down');

    await producer.stop();
    t.comment(producer.summary());
    t.ok(producer.ackCount > 300, 'records acknowledged throughout');
    // Every acknowledged record, byte for byte, at its offset, from every replica.
    for (const id of [1, 2, 3, 4]) {
      const hosted = new Set(after.partitions.filter((p) => p.replicas.includes(id)).map((p) => p.partition));
      const mine = new Map([...producer.acked].filter(([key]) => hosted.has(Number(key.split('@')[0]))));
      if (mine.size > 0) await readsBack(t, client, TOPIC, id, mine);
    }
  });
}
