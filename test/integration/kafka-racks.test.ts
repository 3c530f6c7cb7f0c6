/**
 * Kafka's follower fetching (KIP-392), compressed batches and max-timestamp offsets on
 * real broker processes in racks a, b and c: Metadata names the racks; a kafkajs consumer
 * and kcat in rack b read every record from the replicas in rack b (counted by the
 * brokers' own metrics: fetches served as follower, redirected by leaders, and bytes
 * fetched per broker); a follower's rules for offsets at and past its end; gzip batches
 * from kafkajs read by the native SDK and `flotilla consume` byte for byte, a snappy one
 * refused naming its codec; and ListOffsets v7's max-timestamp (-3).
 */
import t from 'tap';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { clusterOf } from '../../client/client.js';
import { batchBounds, compressionOf, isControlBatch } from '../../protocol/batch.js';
import { buildGzipBatch, withCodecBits } from '../compressed-batch.js';
import { runCli, startCluster, waitFor } from './cluster.js';
import { rawKafkaConnection } from './kafka-raw.js';
import { runKcat } from './kcat.js';
import { parsePrometheusText, type Scrape } from './prometheus-text.js';

const RACKS: Record<number, string> = { 1: 'a', 2: 'b', 3: 'c' };
const RACK_B = 2;
const { cluster, client } = await startCluster(t, {
  brokers: 3,
  kafka: true,
  http: true,
  brokerArgs: (id) => ['--rack', RACKS[id]!],
});
const bootstrap = cluster.kafkaBootstrap;
const kafkaAddressOf = (id: number) => cluster.brokers.get(id)!.kafkaAddress!;
const kafka = new Kafka({ clientId: 'racks-test', brokers: bootstrap, logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100 } });
const admin = kafka.admin();
await admin.connect();
t.teardown(() => admin.disconnect());

async function scrape(id: number): Promise<Scrape> {
  const response = await fetch(`http://${cluster.brokers.get(id)!.httpAddress!}/metrics`);
  return parsePrometheusText(await response.text());
}

/** What broker `id` counted: Kafka fetch partitions by how they were served, and bytes fetched of `topic`. */
async function fetchCounts(id: number, topic: string): Promise<{ leader: number; follower: number; redirected: number; bytes: number }> {
  const { samples } = await scrape(id);
  const served = (how: string) => samples.find((s) => s.name === 'flotilla_kafka_fetch_partitions_total' && s.labels.served === how)?.value ?? 0;
  const bytes = samples.find((s) => s.name === 'flotilla_fetched_bytes_total' && s.labels.topic === topic)?.value ?? 0;
  return { leader: served('leader'), follower: served('follower'), redirected: served('redirected'), bytes };
}

/** Waits until every partition of `topic` has its 3 replicas in sync, as its leader says. */
async function waitInSync(topic: string): Promise<Array<{ partitionId: number; leader: number }>> {
  let partitions: Array<{ partitionId: number; leader: number; isr: number[] }> = [];
  await waitFor(`${topic}: every replica in sync`, async () => {
    partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions;
    return partitions.every((p) => p.isr.length === 3);
  }, 30_000);
  return partitions;
}

await waitFor('every broker with its rack in the Kafka metadata', async () => {
  const raw = await rawKafkaConnection(bootstrap[0]!);
  try {
    const metadata = await raw.request('Metadata', 8, { topics: null, allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    return metadata.brokers.length === 3 && metadata.brokers.every((b) => b.rack === RACKS[b.nodeId]);
  } finally {
    raw.socket.destroy();
  }
}, 30_000);

const RACKED = 'racked';
const RACKED_COUNT = 600;
await admin.createTopics({ topics: [{ topic: RACKED, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });
{
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < RACKED_COUNT; i += 100) {
    await producer.send({ topic: RACKED, acks: -1, messages: Array.from({ length: 100 }, (_, j) => ({ key: `k${(i + j) % 11}`, value: `racked ${i + j}` })) });
  }
  await producer.disconnect();
}

t.test('a kafkajs consumer with rackId b reads every record from the replicas in rack b', async (t) => {
  const partitions = await waitInSync(RACKED);
  const ledElsewhere = partitions.filter((p) => p.leader !== RACK_B).length;
  t.ok(ledElsewhere > 0, `${ledElsewhere} of 3 partitions led outside rack b`);
  const before = await Promise.all([1, 2, 3].map((id) => fetchCounts(id, RACKED)));

  const consumer = kafka.consumer({ groupId: 'rack-b-readers', rackId: 'b', maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic: RACKED, fromBeginning: true });
  const values = new Set<string>();
  await consumer.run({ eachMessage: async ({ message }) => void values.add(message.value!.toString()) });
  await waitFor('every record consumed', async () => values.size === RACKED_COUNT, 60_000);
  await consumer.disconnect();
  t.equal(values.size, RACKED_COUNT, 'every record, once');

  const after = await Promise.all([1, 2, 3].map((id) => fetchCounts(id, RACKED)));
  const delta = (i: number, key: 'leader' | 'follower' | 'redirected' | 'bytes') => after[i]![key] - before[i]![key];
  t.ok(delta(RACK_B - 1, 'follower') > 0, `broker 2 (rack b) served ${delta(RACK_B - 1, 'follower')} partition fetches as a follower`);
  t.ok(delta(0, 'redirected') + delta(2, 'redirected') > 0, 'the leaders in racks a and c named a preferred read replica');
  t.equal(delta(0, 'bytes') + delta(2, 'bytes'), 0, 'no record bytes of the topic were fetched from racks a and c');
  t.ok(delta(RACK_B - 1, 'bytes') > 0, 'rack b served them all');
});

t.test('kcat with client.rack=b reads everything, from the follower in rack b', async (t) => {
  await waitInSync(RACKED);
  const before = await fetchCounts(RACK_B, RACKED);
  const out = await runKcat(bootstrap, ['-X', 'client.rack=b', '-C', '-t', RACKED, '-e', '-q', '-f', '%s\\n']);
  const lines = out.split('\n').filter(Boolean);
  t.equal(lines.length, RACKED_COUNT, 'kcat read every record and exited at the end of every partition');
  t.equal(new Set(lines).size, RACKED_COUNT);
  const after = await fetchCounts(RACK_B, RACKED);
  t.ok(after.follower > before.follower, `broker 2 (rack b) served ${after.follower - before.follower} partition fetches as a follower`);
});

t.test('Fetch at a follower and at a leader: the rules of KIP-392', async (t) => {
  const partitions = await waitInSync(RACKED);
  const { partitionId: partition, leader } = partitions.find((p) => p.leader !== RACK_B)!;
  const end = await clusterOf(client).offsetFor(RACKED, partition, 'latest');
  const fetchBody = (offset: number, rackId: string) => ({
    replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic: RACKED, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [], rackId,
  });
  const follower = await rawKafkaConnection(kafkaAddressOf(RACK_B));
  const atLeader = await rawKafkaConnection(kafkaAddressOf(leader));
  t.teardown(() => {
    follower.socket.destroy();
    atLeader.socket.destroy();
  });
  const answer = async (connection: typeof follower, version: number, offset: number, rackId = '') =>
    (await connection.request('Fetch', version, fetchBody(offset, rackId))).responses[0]!.partitions[0]!;

  const fromStart = await answer(follower, 11, 0);
  t.equal(fromStart.errorCode, 0, 'v11: a follower serves');
  t.ok(fromStart.records && fromStart.records.length > 0, 'records from the follower');
  t.equal(fromStart.highWatermark, end, 'its high watermark is the committed end');
  const atEnd = await answer(follower, 11, end);
  t.same([atEnd.errorCode, atEnd.records?.length ?? 0], [0, 0], 'at its high watermark: empty, no error');
  t.equal((await answer(follower, 11, end + 10)).errorCode, 1, 'past its log end: OFFSET_OUT_OF_RANGE');
  t.equal((await answer(follower, 10, 0)).errorCode, 6, 'v10 has no follower fetching: NOT_LEADER_OR_FOLLOWER');

  const redirected = await answer(atLeader, 11, 0, 'b');
  t.same([redirected.errorCode, redirected.preferredReadReplica, redirected.records?.length ?? 0], [0, RACK_B, 0], 'the leader names the replica in rack b, with no records');
  const ownRack = await answer(atLeader, 11, 0, RACKS[leader]!);
  t.same([ownRack.preferredReadReplica, ownRack.records!.length > 0], [-1, true], 'a client of the leader\'s rack reads the leader');
  const noRack = await answer(atLeader, 11, 0, '');
  t.same([noRack.preferredReadReplica, noRack.records!.length > 0], [-1, true], 'a client without a rack reads the leader');
  const nowhere = await answer(atLeader, 11, 0, 'd');
  t.same([nowhere.preferredReadReplica, nowhere.records!.length > 0], [-1, true], 'a rack with no replica: the leader');
});

t.test('gzip batches from kafkajs are read by the native SDK and flotilla consume byte for byte', async (t) => {
  const topic = 'zipped';
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true });
  const producer = kafka.producer();
  await producer.connect();
  const sent = Array.from({ length: 200 }, (_, i) => ({ key: `key-${i % 13}`, value: `gzip value ${i} ${'x'.repeat(i % 50)}`, headers: { n: `${i}` }, timestamp: String(1_750_000_000_000 + i) }));
  for (let i = 0; i < sent.length; i += 50) await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: sent.slice(i, i + 50) });
  await producer.disconnect();
  const stored = (await client.admin().describeTopic(topic)).partitions[0]!;
  const raw = await rawKafkaConnection(kafkaAddressOf(stored.leader!));
  const fetched = await raw.request('Fetch', 11, {
    replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [], rackId: '',
  });
  raw.socket.destroy();
  const records = fetched.responses[0]!.partitions[0]!.records!;
  const codecs = [...batchBounds(records)].filter(({ start }) => !isControlBatch(records, start)).map(({ start }) => compressionOf(records, start));
  t.same(new Set(codecs), new Set(['gzip']), `stored as kafkajs compressed them (${codecs.length} gzip batches)`);

  const consumer = client.consumer({ maxWaitMs: 100 });
  consumer.assign([{ topic, partition: 0, offset: 0 }]);
  const got: Array<{ key: string; value: string; n: string; timestamp: number }> = [];
  for await (const m of consumer) {
    got.push({ key: m.key!.toString(), value: m.value!.toString(), n: m.headers.n!.toString(), timestamp: m.timestamp });
    if (got.length === sent.length) break;
  }
  await consumer.close();
  t.same(got, sent.map((m) => ({ key: m.key, value: m.value, n: m.headers.n, timestamp: Number(m.timestamp) })), 'the native consumer: keys, values, headers, timestamps');

  const brokers = ['--brokers', cluster.bootstrap.join(',')];
  const cli = await runCli(['consume', topic, '--partition', '0', '--offset', 'earliest', '--count', String(sent.length), '--format', 'json', ...brokers]);
  t.equal(cli.code, 0, cli.stderr);
  const lines = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; value: string; headers: Record<string, string>; timestamp: number });
  t.same(lines.map((l) => ({ key: l.key, value: l.value, n: l.headers.n, timestamp: l.timestamp })), got, 'flotilla consume: the same records');
});

t.test('a snappy batch fails the native read with an error naming the codec', async (t) => {
  const topic = 'snappy';
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true });
  const leader = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions[0]!.leader;
  // A real gzip batch with the codec bits rewritten: well formed, stored, unreadable without snappy.
  const batch = withCodecBits(buildGzipBatch([{ key: 'k', value: 'compressed elsewhere', timestamp: 1_750_000_000_000 }]), 2);
  const raw = await rawKafkaConnection(kafkaAddressOf(leader));
  t.teardown(() => raw.socket.destroy());
  const produced = await raw.request('Produce', 7, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
  t.equal(produced.responses[0]!.partitionResponses[0]!.errorCode, 0, 'stored as it is');

  const consumer = client.consumer({ maxWaitMs: 100 });
  consumer.assign([{ topic, partition: 0, offset: 0 }]);
  await t.rejects(
    (async () => {
      for await (const m of consumer) t.fail(`no record should be read, got offset ${m.offset}`);
    })(),
    { code: 'UNSUPPORTED_VERSION', message: /compressed with snappy/ },
    'the consumer fails naming snappy',
  );
  await consumer.close();
  const cli = await runCli(['consume', topic, '--offset', 'earliest', '--count', '1', '--brokers', cluster.bootstrap.join(',')]);
  t.equal(cli.code, 1);
  t.match(cli.stderr, /UNSUPPORTED_VERSION: .*compressed with snappy/, 'flotilla consume names the codec');
});

t.test('ListOffsets v7 max-timestamp (-3): the committed record with the largest timestamp', async (t) => {
  const topic = 'max-ts';
  await client.admin().createTopic({ topic, partitions: 1, replicationFactor: 3 });
  const base = 1_760_000_000_000;
  const stamps = [base + 5, base + 900, base + 10, base + 900, base + 20];
  const producer = client.producer({ acks: 'all' });
  const acks = [];
  for (const [i, timestamp] of stamps.entries()) acks.push(await producer.send({ topic, partition: 0, value: `m${i}`, timestamp }));
  await producer.close();
  const leader = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions[0]!.leader;
  const raw = await rawKafkaConnection(kafkaAddressOf(leader));
  t.teardown(() => raw.socket.destroy());
  const versions = await raw.request('ApiVersions', 3, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' });
  t.equal(versions.apiKeys.find((k) => k.apiKey === 2)?.maxVersion, 7, 'ListOffsets v7 advertised');
  const listed = await raw.request('ListOffsets', 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -3 }] }] });
  const p = listed.topics[0]!.partitions[0]!;
  t.same([p.errorCode, p.offset, p.timestamp], [0, acks[1]!.offset, base + 900], 'the first of the two records stamped latest');
});
