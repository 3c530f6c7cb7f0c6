/**
 * The Kafka listener on real broker processes: kafkajs 2.2.4 (admin, producer, idempotent
 * producer) and kcat (librdkafka) against `--kafka-listen`, records crossing between Kafka
 * clients and the native SDK byte for byte, offsets by timestamp (native, CLI, kafkajs and
 * kcat agreeing), and the wire rules (request order with
 * pipelining, no answer for acks=0, ApiVersions of an unknown version).
 */
import { connect } from 'node:net';
import t from 'tap';
import { runKcat } from './kcat.js';
import { rawKafkaConnection } from './kafka-raw.js';
import { Kafka, logLevel } from 'kafkajs';
import { buildBatch } from '../../protocol/batch.js';
import { decodeResponse, encodeRequest, KafkaFrameReader } from '../../protocol/kafka/index.js';
import { clusterOf } from '../../client/client.js';
import { runCli, startCluster, waitFor } from './cluster.js';

const { cluster, client } = await startCluster(t, { brokers: 3, kafka: true });
const bootstrap = cluster.kafkaBootstrap;
const kafka = new Kafka({ clientId: 'kafka-test', brokers: bootstrap, logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100 } });

// Every broker's Kafka address reaches the metadata through the controller.
const admin = kafka.admin();
await admin.connect();
t.teardown(() => admin.disconnect());
await waitFor('every broker in the Kafka metadata', async () => (await admin.describeCluster()).brokers.length === 3, 30_000);

const kcat = (args: string[], input?: string): Promise<string> => runKcat(bootstrap, args, input);

t.test('kafkajs admin creates a topic; an idempotent producer writes keyed records the native SDK reads byte for byte', async (t) => {
  t.ok(await admin.createTopics({ topics: [{ topic: 'k-orders', numPartitions: 3, replicationFactor: 3, configEntries: [{ name: 'retention.ms', value: '86400000' }] }], waitForLeaders: true }));
  const [described] = (await admin.describeConfigs({ resources: [{ type: 2, name: 'k-orders' }], includeSynonyms: false })).resources;
  t.equal(described?.configEntries.find((c) => c.configName === 'retention.ms')?.configValue, '86400000', 'DescribeConfigs shows the setting');

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const count = 300;
  const sent = Array.from({ length: count }, (_, i) => ({
    key: `customer-${i % 17}`,
    value: `order ${i}`,
    headers: { source: `kafkajs-${i}` },
    timestamp: String(1_700_000_000_000 + i),
  }));
  for (let i = 0; i < count; i += 50) await producer.send({ topic: 'k-orders', acks: -1, messages: sent.slice(i, i + 50) });
  await producer.disconnect();

  const byValue = new Map(sent.map((m) => [m.value, m]));
  const consumer = client.consumer({ maxWaitMs: 100 });
  consumer.assign([0, 1, 2].map((partition) => ({ topic: 'k-orders', partition, offset: 0 })));
  let matched = 0;
  const seenKeys = new Map<string, number>();
  for await (const m of consumer) {
    const original = byValue.get(m.value!.toString());
    if (original && m.key?.toString() === original.key && m.headers.source?.toString() === original.headers.source && m.timestamp === Number(original.timestamp)) matched++;
    // In order per key: each key's values increase.
    const n = Number(m.value!.toString().split(' ')[1]);
    if ((seenKeys.get(m.key!.toString()) ?? -1) > n) t.fail(`key ${m.key} out of order`);
    seenKeys.set(m.key!.toString(), n);
    if (matched === count) break;
  }
  await consumer.close();
  t.equal(matched, count, 'every record: key, value, headers and timestamp as kafkajs sent them');
});

t.test('records the native SDK writes are read through Kafka: kcat -C -e reaches the end of every partition', async (t) => {
  await client.admin().createTopic({ topic: 'native-out', partitions: 3, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all' });
  const count = 500;
  await Promise.all(Array.from({ length: count }, (_, i) => producer.send({ topic: 'native-out', key: `k${i % 7}`, value: `native ${i}` })));
  await producer.close();
  const out = await kcat(['-C', '-t', 'native-out', '-e', '-q', '-f', '%k=%s\\n']);
  const lines = out.split('\n').filter(Boolean);
  t.equal(lines.length, count, 'kcat read every record and exited at the end of every partition');
  t.equal(new Set(lines).size, count);
  t.ok(lines.every((l) => /^k\d=native \d+$/.test(l)));
});

t.test('kcat lists brokers and partitions, and round-trips 10,000 lines', async (t) => {
  await admin.createTopics({ topics: [{ topic: 'k-lines', numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });
  const listing = await kcat(['-L', '-t', 'k-lines']);
  t.match(listing, /3 brokers:/);
  for (const address of bootstrap) t.ok(listing.includes(address), `kcat -L lists ${address}`);
  t.match(listing, /3 partitions:/);

  const lines = Array.from({ length: 10_000 }, (_, i) => `line ${i}`);
  await kcat(['-P', '-t', 'k-lines', '-X', 'enable.idempotence=true'], lines.join('\n') + '\n');
  const out = await kcat(['-C', '-t', 'k-lines', '-e', '-q']);
  const read = out.split('\n').filter(Boolean);
  t.equal(read.length, lines.length, 'kcat -C -e read every line and exited');
  t.same([...new Set(read)].sort(), [...lines].sort(), 'the same lines, each once');

  // And the native SDK reads kcat's records.
  const end = (await client.admin().describeTopic('k-lines')).partitions.reduce((n, p) => n + p.highWatermark, 0);
  t.ok(end >= lines.length, 'the partitions hold every line (plus Raft control batches)');
});

/** One raw Kafka connection for the wire rules. */
const rawConnection = () => rawKafkaConnection(bootstrap[0]!);

t.test('offsets by timestamp: natively, through the CLI, kafkajs and kcat, all the same answer', async (t) => {
  const topic = 'by-time';
  await client.admin().createTopic({ topic, partitions: 2, replicationFactor: 3 });
  const base = 1_800_000_000_000;
  // Partition 0: three batches stamped base + 10 i, one record stamped late (not monotonic);
  // partition 1: records stamped only after every target below but the last.
  const stamps0 = Array.from({ length: 30 }, (_, i) => (i === 12 ? base + 5_000 : base + 10 * i));
  const stamps1 = Array.from({ length: 5 }, (_, i) => base + 2_000 + i);
  const producer = client.producer({ acks: 'all' });
  const acks0 = [];
  for (let b = 0; b < 3; b++) {
    acks0.push(...(await producer.sendBatch(stamps0.slice(b * 10, b * 10 + 10).map((timestamp, i) => ({ topic, partition: 0, value: `p0-${b * 10 + i}`, timestamp })))));
  }
  const acks1 = await producer.sendBatch(stamps1.map((timestamp, i) => ({ topic, partition: 1, value: `p1-${i}`, timestamp })));
  await producer.close();
  /** The expected answer by reading what was sent: the first record at or after `target`. */
  const expected = (acks: Array<{ offset: number }>, stamps: number[], target: number) => {
    const i = stamps.findIndex((s) => s >= target);
    return i < 0 ? { offset: -1, timestamp: -1 } : { offset: acks[i]!.offset, timestamp: stamps[i]! };
  };
  const cluster = clusterOf(client);
  const end0 = await cluster.offsetFor(topic, 0, 'latest');
  const end1 = await cluster.offsetFor(topic, 1, 'latest');
  const brokers = ['--brokers', cluster.knownBrokers().map((b) => b.address).join(',')];

  for (const target of [0, base + 15, base + 120, base + 295, base + 4_000, base + 9_000]) {
    const want0 = expected(acks0, stamps0, target);
    const want1 = expected(acks1, stamps1, target);
    // Native: the wire's answer, and a consumer assigned to start there.
    const { result } = await cluster.leaderRequest({ type: 'listOffsets', topic, partition: 0, target: { timestamp: target } });
    t.same(result, want0, `native listOffsets at ${target}`);
    if (want0.offset >= 0) {
      const consumer = client.consumer({ maxWaitMs: 100 });
      consumer.assign([{ topic, partition: 0, offset: { timestamp: target } }]);
      for await (const m of consumer) {
        t.same({ offset: m.offset, timestamp: m.timestamp }, want0, `consumer assigned { timestamp: ${target} } starts there`);
        break;
      }
      await consumer.close();
      // The CLI, with @MS and with an ISO time.
      for (const at of [`@${target}`, new Date(target).toISOString()]) {
        const cli = await runCli(['consume', topic, '--partition', '0', '--offset', at, '--count', '1', '--format', 'json', ...brokers]);
        t.equal(cli.code, 0, cli.stderr);
        const line = JSON.parse(cli.stdout) as { offset: number; timestamp: number };
        t.same({ offset: line.offset, timestamp: line.timestamp }, want0, `consume --offset ${at}`);
      }
      // kcat (librdkafka's offsetsForTimes).
      const kcatLine = await kcat(['-C', '-t', topic, '-p', '0', '-o', `s@${target}`, '-c', '1', '-e', '-f', '%o %T\n']);
      t.equal(kcatLine.trim(), `${want0.offset} ${want0.timestamp}`, `kcat -o s@${target}`);
    }
    // kafkajs: where no record is that late it answers the end, as the SDK's { timestamp } start does.
    const byKafkajs = await admin.fetchTopicOffsetsByTimestamp(topic, target);
    const kafkajsOffsets = byKafkajs.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
    t.same(kafkajsOffsets, [want0.offset < 0 ? end0 : want0.offset, want1.offset < 0 ? end1 : want1.offset], `kafkajs fetchTopicOffsetsByTimestamp at ${target}`);
  }

  // A group's offsets reset to a time: per partition the first record at or after it, the end where none is.
  const target = base + 3_000;
  const reset = await runCli(['group', 'reset-offsets', 'by-time-group', '--topic', topic, '--to', `@${target}`, '--json', ...brokers]);
  t.equal(reset.code, 0, reset.stderr);
  const offsets = (JSON.parse(reset.stdout) as Array<{ partition: number; offset: number }>).sort((a, b) => a.partition - b.partition).map((o) => o.offset);
  t.same(offsets, [expected(acks0, stamps0, target).offset, end1]);
});

t.test('answers come in request order; acks=0 gets none; an unknown ApiVersions version gets a v0 error answer', async (t) => {
  const topic = 'k-orders';
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const leaderId = meta.topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader;
  const leaderAddress = cluster.brokers.get(leaderId)!.kafkaAddress!;
  const [host, port] = leaderAddress.split(':');
  const socket = connect({ host: host!, port: Number(port) });
  t.teardown(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  const reader = new KafkaFrameReader();
  const frames: Buffer[] = [];
  socket.on('data', (chunk) => frames.push(...reader.push(chunk)));
  const produce = (correlationId: number, acks: number) =>
    encodeRequest('Produce', { apiVersion: 7, correlationId, clientId: 'raw' }, {
      acks,
      timeoutMs: 10_000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch([{ value: `raw ${correlationId}` }]) }] }],
    });
  // Pipelined: a slow produce (acks -1, waits for the majority), a no-answer produce, then a quick ApiVersions.
  for (const chunk of [...produce(1, -1), ...produce(2, 0), ...encodeRequest('ApiVersions', { apiVersion: 2, correlationId: 3, clientId: 'raw' }, {})]) socket.write(chunk);
  await waitFor('two answers', () => frames.length >= 2, 20_000);
  const first = decodeResponse('Produce', 7, frames[0]!);
  t.equal(first.correlationId, 1, 'the produce is answered first, as it was asked first');
  t.equal(first.body.responses[0]!.partitionResponses[0]!.errorCode, 0);
  t.equal(decodeResponse('ApiVersions', 2, frames[1]!).correlationId, 3, 'acks=0 got no answer');

  const raw = await rawConnection();
  t.teardown(() => raw.socket.destroy());
  for (const chunk of encodeRequest('ApiVersions', { apiVersion: 3, correlationId: 7, clientId: 'raw', }, { clientSoftwareName: 'x', clientSoftwareVersion: '1' })) raw.socket.write(chunk);
  const v3 = decodeResponse('ApiVersions', 3, await raw.next());
  t.equal(v3.body.errorCode, 0);
  t.ok(v3.body.apiKeys.some((k) => k.apiKey === 1 && k.minVersion === 4 && k.maxVersion === 11), 'Fetch 4-11 advertised');
  // Version 9 of ApiVersions: the header (int16 key, int16 version, int32 correlation id) is all a broker can read.
  const unknown = Buffer.alloc(14);
  unknown.writeInt32BE(10, 0);
  unknown.writeInt16BE(18, 4);
  unknown.writeInt16BE(9, 6);
  unknown.writeInt32BE(8, 8);
  unknown.writeInt16BE(-1, 12);
  raw.socket.write(unknown);
  const answer = decodeResponse('ApiVersions', 0, await raw.next());
  t.equal(answer.correlationId, 8);
  t.equal(answer.body.errorCode, 35, 'UNSUPPORTED_VERSION, with the versions served');
  t.ok(answer.body.apiKeys.length >= 10);
});

t.test("a fetch's maxBytes holds across partitions (KIP-74); minBytes 0 is answered at once", async (t) => {
  const topic = 'k-limit';
  await client.admin().createTopic({ topic, partitions: 4, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all' });
  const big = Buffer.alloc(600_000, 'x');
  for (let partition = 0; partition < 4; partition++) await producer.send({ topic, partition, value: big });
  await producer.close();
  const raw = await rawConnection();
  t.teardown(() => raw.socket.destroy());
  const fetch = (fetchOffset: number, minBytes: number, maxWaitMs: number) =>
    raw.request('Fetch', 11, {
      replicaId: -1, maxWaitMs, minBytes, maxBytes: 1_000_000, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic, partitions: [0, 1, 2, 3].map((partition) => ({ partition, currentLeaderEpoch: -1, fetchOffset, logStartOffset: -1, partitionMaxBytes: 1_000_000 })) }],
      forgottenTopicsData: [], rackId: '',
    });
  // Each partition's log starts with its first leader's no-op: the records are at offset 1.
  const answer = await waitFor('every partition committed on the broker asked', async () => {
    const r = await fetch(1, 1, 500);
    return r.responses[0]!.partitions.every((p) => p.highWatermark === 2) ? r : undefined;
  });
  const sizes = answer.responses[0]!.partitions.map((p) => p.records?.length ?? 0);
  t.ok(sizes[0]! > 600_000, `the first partition's batch comes whole though it uses most of the limit (${sizes[0]} bytes)`);
  t.same(sizes.slice(1), [0, 0, 0], 'the others, which would pass 1,000,000 bytes, come without records');
  t.same(answer.responses[0]!.partitions.map((p) => p.highWatermark), [2, 2, 2, 2], 'but with their high watermarks');

  const started = Date.now();
  const atEnd = await fetch(2, 0, 20_000);
  t.same(atEnd.responses[0]!.partitions.map((p) => p.records?.length ?? 0), [0, 0, 0, 0]);
  t.ok(Date.now() - started < 10_000, `minBytes 0 at the end of the log: answered in ${Date.now() - started} ms, not after maxWaitMs (20 s)`);
});

t.test('CreateTopics with timeoutMs 0 creates the topics (librdkafka sends it for operation_timeout 0)', async (t) => {
  // To the controller, as clients send it.
  const { controller } = await admin.describeCluster();
  const raw = await rawKafkaConnection(cluster.brokers.get(controller!)!.kafkaAddress!);
  t.teardown(() => raw.socket.destroy());
  const names = ['k-now-0', 'k-now-1', 'k-now-2'];
  const answer = await raw.request('CreateTopics', 4, {
    topics: names.map((name) => ({ name, numPartitions: 2, replicationFactor: 3, assignments: [], configs: [] })),
    timeoutMs: 0,
    validateOnly: false,
  });
  t.same(answer.topics.map((x) => x.errorCode), [0, 0, 0], 'no error');
  // Committed at the controller when answered; the broker the listing asks may apply it a moment later.
  await waitFor('every topic listed', async () => {
    const listed = await client.admin().listTopics();
    return names.every((name) => listed.includes(name));
  });
  t.pass('and every topic exists');

  const again = await raw.request('CreateTopics', 4, { topics: [{ name: names[0]!, numPartitions: 2, replicationFactor: 3, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
  t.equal(again.topics[0]!.errorCode, 36, 'created again with the same settings: TOPIC_ALREADY_EXISTS, as Kafka answers');
  const check = (name: string, replicationFactor: number) => ({ name, numPartitions: 1, replicationFactor, assignments: [], configs: [] });
  const validated = await raw.request('CreateTopics', 4, { topics: [check('k-check-ok', 3), check('k-check-rf', 5), check(names[1]!, 3)], timeoutMs: 5000, validateOnly: true });
  t.same(validated.topics.map((x) => x.errorCode), [0, 38, 36], 'validateOnly: fine, INVALID_REPLICATION_FACTOR for 5 replicas on 3 brokers, TOPIC_ALREADY_EXISTS');
  t.notOk((await client.admin().listTopics()).includes('k-check-ok'), 'and creates nothing');
});

t.test('a produce with acks 0 that fails closes the connection, so the client looks up the leader again', async (t) => {
  const topic = 'k-orders';
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const leaderId = meta.topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader;
  const other = [...cluster.brokers.values()].find((b) => b.id !== leaderId)!;
  const raw = await rawKafkaConnection(other.kafkaAddress!);
  t.teardown(() => raw.socket.destroy());
  for (const chunk of encodeRequest('Produce', { apiVersion: 7, correlationId: 1, clientId: 'raw' }, {
    acks: 0,
    timeoutMs: 10_000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch([{ value: 'to a follower' }]) }] }],
  })) raw.socket.write(chunk);
  await t.rejects(raw.next(), `broker ${other.id}, not the leader, closed the connection without an answer`);
});

t.test('Metadata leaves out a broker that is down and names its replicas offline; it is back once the broker is', async (t) => {
  const topic = 'k-offline';
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });
  const [asked, down] = [...cluster.brokers.values()];
  const raw = await rawKafkaConnection(asked!.kafkaAddress!);
  t.teardown(() => raw.socket.destroy());
  const metadata = () => raw.request('Metadata', 8, { topics: [{ name: topic }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
  t.same((await metadata()).brokers.map((b) => b.nodeId).sort(), [1, 2, 3], 'all three while all are up');

  await cluster.kill(down!.id);
  t.teardown(async () => {
    if (cluster.running(down!.id)) return;
    cluster.restart(down!.id);
    await waitFor(`broker ${down!.id} back`, async () => (await client.admin().describeCluster()).brokers.find((b) => b.id === down!.id)?.alive, 30_000);
  });
  const without = await waitFor(`broker ${down!.id} left out, every partition led by another`, async () => {
    const answer = await metadata();
    const partitions = answer.topics[0]!.partitions;
    return !answer.brokers.some((b) => b.nodeId === down!.id) && partitions.every((p) => p.leaderId > 0) ? answer : null;
  }, 30_000);
  for (const p of without.topics[0]!.partitions) {
    t.same(p.offlineReplicas, [down!.id], `partition ${p.partitionIndex}: the broker that is down is its offline replica`);
    t.not(p.leaderId, down!.id);
  }

  cluster.restart(down!.id);
  await waitFor(`broker ${down!.id} listed again, no replica offline`, async () => {
    const answer = await metadata();
    return answer.brokers.length === 3 && answer.topics[0]!.partitions.every((p) => p.offlineReplicas.length === 0);
  }, 30_000);
  t.pass('listed again once it is back');
});

t.test('a Produce over --max-frame-bytes is answered MESSAGE_TOO_LARGE, and the connection carries on', async (t) => {
  const topic = 'k-too-large';
  await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 3 }], waitForLeaders: true });
  const raw = await rawKafkaConnection(bootstrap[0]!);
  t.teardown(() => raw.socket.destroy());
  const answer = await raw.request('Produce', 8, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 10_000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch([{ value: Buffer.alloc(17 * 1024 * 1024, 1) }]) }, { index: 1, records: buildBatch([{ value: 'small' }]) }] }],
  });
  t.same(answer.responses[0]!.partitionResponses.map((p) => [p.index, p.errorCode]), [[0, 10], [1, 10]], 'MESSAGE_TOO_LARGE for each partition of the request');
  t.match(answer.responses[0]!.partitionResponses[0]!.errorMessage, /over the broker's --max-frame-bytes 16777216: nothing in it was stored/);
  t.equal((await raw.request('ApiVersions', 0, {})).errorCode, 0, 'the next request on the same connection is answered');
  t.same(await kcat(['-C', '-t', topic, '-e', '-f', '%s\n']), '', 'nothing was stored');

  const producer = kafka.producer({ retry: { retries: 3 } });
  await producer.connect();
  t.teardown(() => producer.disconnect());
  const sent = await producer.send({ topic, acks: -1, messages: [{ partition: 0, value: Buffer.alloc(17 * 1024 * 1024, 2) }] }).catch((error: { type?: string }) => error);
  t.match(sent, { type: 'MESSAGE_TOO_LARGE' }, "kafkajs's send fails with Kafka's error, not a lost connection");
});
