/**
 * The metadata log is compacted on real broker processes: with a snapshot every 10
 * entries, brokers write the controller state to their snapshot file and start their log
 * after it; after kill -9 of every broker they come back from the snapshot plus the log's
 * tail with all the metadata, and a broker that joins later is sent the snapshot (the
 * entries before it are gone) and knows every topic. A broker that was down while a topic
 * was deleted and a partition moved away learns both from a snapshot, and deletes those
 * replicas all the same.
 */
import t from 'tap';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../../client/index.js';
import { clusterOf } from '../../client/client.js';
import { controllerSnapshotIndex, startCluster, waitFor } from './cluster.js';

const TOPICS = 12;
const SNAPSHOT_EVERY = 10;

t.test('metadata survives compaction, a restart of every broker, and reaches a broker that joins later', async (t) => {
  const { cluster, client } = await startCluster(t, { extraArgs: ['--controller-snapshot-entries', String(SNAPSHOT_EVERY)] });
  const admin = client.admin();
  const names = Array.from({ length: TOPICS }, (_, i) => `t${String(i).padStart(2, '0')}`);
  for (const topic of names) await admin.createTopic({ topic, partitions: 1, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all' });
  const ack = await producer.send({ topic: 't00', value: 'kept' });
  await producer.close();

  await waitFor('every broker to compact its metadata log', () => [1, 2, 3].every((id) => controllerSnapshotIndex(cluster.brokers.get(id)!.dataDir) >= SNAPSHOT_EVERY - 1), 20_000);
  const indexes = [1, 2, 3].map((id) => controllerSnapshotIndex(cluster.brokers.get(id)!.dataDir));
  t.ok(indexes.every((i) => i >= SNAPSHOT_EVERY - 1), `snapshots at offsets ${indexes.join(', ')}`);

  for (const id of [1, 2, 3]) await cluster.kill(id);
  for (const id of [1, 2, 3]) cluster.restart(id);
  await waitFor('a controller after the restart', async () => (await admin.describeCluster()).controller);
  t.same((await waitFor('the topics after the restart', async () => {
    const listed = await admin.listTopics();
    return listed.length === TOPICS ? listed : undefined;
  })).sort(), names, 'every topic is known after restarting from the snapshot');
  const consumer = client.consumer({ maxWaitMs: 200 });
  consumer.assign([{ topic: 't00', partition: 0, offset: ack.offset }]);
  for await (const m of consumer) {
    t.equal(m.value?.toString(), 'kept', 'and its records are still there');
    break;
  }
  await consumer.close();

  // A crash between installing a leader's snapshot (the log reset is durable at once) and
  // writing its state: the log no longer starts at 0 and there is no snapshot file. The
  // broker must not rebuild the metadata from the log's tail alone.
  await cluster.stop(3);
  rmSync(join(cluster.brokers.get(3)!.dataDir, 'controller-snapshot.json'));
  cluster.restart(3);
  const three = cluster.brokers.get(3)!.address;
  const viaThree = new Client({ brokers: [three], requestTimeoutMs: 10_000 });
  t.teardown(() => viaThree.close());
  t.same(
    await waitFor('broker 3 to know every topic again', async () => {
      const { result } = await clusterOf(viaThree).send(three, { type: 'metadata' });
      return result.topics.length === TOPICS ? result.topics.map((x) => x.topic).sort() : undefined;
    }),
    names,
    'a broker whose metadata log does not continue its saved state catches up from the leader',
  );
  t.ok(controllerSnapshotIndex(cluster.brokers.get(3)!.dataDir) >= 0, 'and saved the snapshot it was sent');

  // Bit rot in a snapshot: it fails its checksum, is set aside, and the broker starts its
  // metadata from nothing and catches up from the leader, as above.
  await cluster.stop(3);
  const snapshotPath = join(cluster.brokers.get(3)!.dataDir, 'controller-snapshot.json');
  const rotten = readFileSync(snapshotPath);
  rotten[rotten.length - 20] ^= 0x01;
  writeFileSync(snapshotPath, rotten);
  cluster.restart(3);
  t.same(
    await waitFor('broker 3 to know every topic after its snapshot rotted', async () => {
      const { result } = await clusterOf(viaThree).send(three, { type: 'metadata' });
      return result.topics.length === TOPICS ? result.topics.map((x) => x.topic).sort() : undefined;
    }),
    names,
    'a broker whose snapshot fails its checksum catches up from the leader',
  );
  t.ok(readdirSync(cluster.brokers.get(3)!.dataDir).some((f) => f.startsWith('controller-snapshot.json.corrupt-')), 'the corrupt snapshot is kept aside');
  t.match(cluster.logs(3), /corrupt controller snapshot/, 'and the broker said why');

  // A snapshot deleted by hand under a compacted log: the same, and the loss is recorded.
  await cluster.stop(3);
  rmSync(snapshotPath);
  cluster.restart(3);
  t.same(
    await waitFor('broker 3 to know every topic after its snapshot was deleted', async () => {
      const { result } = await clusterOf(viaThree).send(three, { type: 'metadata' });
      return result.topics.length === TOPICS ? result.topics.map((x) => x.topic).sort() : undefined;
    }),
    names,
    'a broker whose snapshot is missing under a compacted metadata log catches up from the leader',
  );
  t.match(cluster.logs(3), /no controller snapshot, yet the metadata log was compacted past its start/, 'and the broker said why');

  // A new broker: the entries that registered the first topics are gone from every log.
  const joined = await cluster.join(4, 2);
  await waitFor('broker 4 registered and alive', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4 && b.alive), 30_000);
  await waitFor('broker 4 to install the metadata snapshot', () => controllerSnapshotIndex(joined.dataDir) >= SNAPSHOT_EVERY - 1, 20_000);
  const segments = readdirSync(join(joined.dataDir, '__controller')).filter((f) => f.endsWith('.log')).sort();
  t.ok(Number.parseInt(segments[0]!, 10) > 0, `broker 4's metadata log starts after the snapshot (${segments[0]}), not at offset 0`);
  const viaFour = new Client({ brokers: [joined.address], requestTimeoutMs: 10_000 });
  t.teardown(() => viaFour.close());
  const seen = await waitFor('broker 4 to know every topic', async () => {
    const { result } = await clusterOf(viaFour).send(joined.address, { type: 'metadata' });
    return result.topics.length === TOPICS ? result.topics.map((x) => x.topic).sort() : undefined;
  });
  t.same(seen, names, 'broker 4 answers metadata with every topic');
  const announced = cluster.logs(4).match(/"msg":"topic created"/g)?.length ?? 0;
  t.match(cluster.logs(4), /"msg":"metadata snapshot adopted"/, 'broker 4 logged the adoption in one line');
  t.ok(announced < TOPICS, `and "topic created" only for entries after the snapshot (${announced} of ${TOPICS} topics)`);
});

t.test('replicas of a topic deleted and of a partition moved away while their broker was down go once it learns the metadata from a snapshot', async (t) => {
  const { cluster, client } = await startCluster(t, { extraArgs: ['--controller-snapshot-entries', String(SNAPSHOT_EVERY)] });
  const admin = client.admin();
  for (const topic of ['gone', 'moved', 'kept']) await admin.createTopic({ topic, partitions: 1, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all' });
  const acks = await Promise.all(['moved', 'kept'].map((topic) => producer.send({ topic, value: `${topic}-record` })));
  await producer.close();
  const three = cluster.brokers.get(3)!.dataDir;
  const dirsOnThree = (topic: string) => readdirSync(three).filter((name) => name.startsWith(`${topic}-`));
  t.equal(dirsOnThree('gone').length + dirsOnThree('moved').length, 2, 'broker 3 holds a replica of both');

  await cluster.stop(3);
  await admin.deleteTopic('gone');
  await admin.movePartition('moved', 0, [1, 2]);
  await waitFor('the move to be done', async () => (await admin.describeTopic('moved')).partitions[0]!.replicas.length === 2, 20_000);
  // Enough metadata entries that the others compact past everything broker 3 holds.
  for (let i = 0; i < 3 * SNAPSHOT_EVERY; i++) await admin.alterTopic('kept', { retentionMs: 3_600_000 + i });
  cluster.restart(3);

  await waitFor("broker 3 to delete the deleted topic's replica and the moved one's", () => dirsOnThree('gone').length + dirsOnThree('moved').length === 0, 30_000);
  t.pass('broker 3 deleted both replicas the metadata no longer places there');
  t.match(cluster.logs(3), /topic of this partition replica was deleted while this broker was away/, 'and said why, for the deleted topic');
  t.match(cluster.logs(3), /this partition replica moved away while this broker was away/, 'and for the partition moved away');
  t.equal(dirsOnThree('kept').length, 1, 'the replica still placed there stays');
  const consumer = client.consumer({ maxWaitMs: 200 });
  consumer.assign(acks.map((ack, i) => ({ topic: ['moved', 'kept'][i]!, partition: 0, offset: ack.offset })));
  const seen: string[] = [];
  for await (const m of consumer) {
    seen.push(m.value!.toString());
    if (seen.length === 2) break;
  }
  await consumer.close();
  t.same(seen.sort(), ['kept-record', 'moved-record'], 'the moved partition and the kept topic still hold their records');
});

t.test('a broker restarted from a snapshot that names a broker which joined later talks to it', async (t) => {
  const { cluster, client } = await startCluster(t, { extraArgs: ['--controller-snapshot-entries', String(SNAPSHOT_EVERY)] });
  const admin = client.admin();
  await admin.createTopic({ topic: 'settings', partitions: 1, replicationFactor: 3 });
  await cluster.join(4, 2);
  await waitFor('broker 4 registered and alive', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4 && b.alive), 30_000);
  // Broker 4's registration goes into broker 3's snapshot, out of its log.
  for (let i = 0; i < 3 * SNAPSHOT_EVERY; i++) await admin.alterTopic('settings', { retentionMs: 3_600_000 + i });
  const three = cluster.brokers.get(3)!.dataDir;
  await waitFor("broker 3's snapshot to name broker 4", () => existsSync(join(three, 'controller-snapshot.json')) && readFileSync(join(three, 'controller-snapshot.json'), 'utf8').includes('"id":4,'), 20_000);
  await cluster.stop(3);
  cluster.restart(3);
  await waitFor('broker 3 alive again', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 3 && b.alive), 30_000);

  // A partition on brokers 3 and 4 alone needs each to reach the other.
  await admin.createTopic({ topic: 'pair', partitions: 1, replicationFactor: 1 });
  await admin.movePartition('pair', 0, [3, 4]);
  const moved = await waitFor('the move onto brokers 3 and 4 to finish', async () => {
    const p = (await admin.describeTopic('pair')).partitions[0]!;
    return !p.movingFrom && p.inSync.length === 2 ? p : undefined;
  }, 30_000);
  t.same([...moved.inSync].sort(), [3, 4], 'brokers 3 and 4 replicate the partition together');
  const producer = client.producer({ acks: 'all' });
  const ack = await producer.send({ topic: 'pair', value: 'both' });
  await producer.close();
  t.ok(ack.offset >= 0, 'and acknowledge a write');
});
