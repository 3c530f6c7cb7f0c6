/**
 * Every Raft entry must fit, with its append's envelope, in one peer frame: on brokers with
 * a small --max-frame-bytes (256 KiB), a batch or a metadata command too large for that is
 * refused with a clear error before it reaches a log (one that did was never received by
 * any follower, and its partition committed nothing after it), and appends that carry
 * many entries stay under the frame, so a follower catches up.
 */
import t from 'tap';
import { buildBatch } from '../../protocol/batch.js';
import { rawKafkaConnection } from './kafka-raw.js';
import { leaderOf, startCluster, waitFor } from './cluster.js';

const { cluster, client } = await startCluster(t, { brokers: 3, kafka: true, extraArgs: ['--max-frame-bytes', String(256 * 1024)] });

t.test('a topic too large for one metadata entry is refused with what to do; a smaller one is created', async (t) => {
  await t.rejects(client.admin().createTopic({ topic: 'wide', partitions: 8000, replicationFactor: 1 }), { code: 'RECORD_TOO_LARGE', message: /createTopic command is \d+ bytes, over the \d+ a metadata entry may have: make it smaller .* raise --max-frame-bytes/ });
  const controller = (await client.admin().describeCluster()).controller!;
  const raw = await rawKafkaConnection(cluster.brokers.get(controller)!.kafkaAddress!); // Kafka clients create topics at the controller
  t.teardown(() => raw.socket.destroy());
  const answer = await raw.request('CreateTopics', 4, { topics: [{ name: 'wide-kafka', numPartitions: 8000, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
  t.same([answer.topics[0]!.errorCode, /raise --max-frame-bytes/.test(answer.topics[0]!.errorMessage ?? '')], [37, true], 'Kafka: INVALID_PARTITIONS, with the same advice');
  t.same((await client.admin().listTopics()).filter((name) => name.startsWith('wide')), [], 'nothing created');
  await client.admin().createTopic({ topic: 'narrow', partitions: 100, replicationFactor: 1 });
  t.ok((await client.admin().listTopics()).includes('narrow'), 'a topic that fits is created');
});

t.test('a batch that fits in a request but not in an append is refused; the partition goes on committing', async (t) => {
  const topic = 'entries';
  await client.admin().createTopic({ topic, partitions: 1, replicationFactor: 3 });
  const leader = await leaderOf(client, topic, 0);
  const producer = client.producer({ acks: 'all', idempotent: false, batchBytes: 1024, lingerMs: 0 });
  t.teardown(() => producer.close());
  await t.rejects(producer.send({ topic, partition: 0, value: Buffer.alloc(240 * 1024, 1) }), { code: 'RECORD_TOO_LARGE', message: /over the \d+ a partition takes/ }, 'natively');
  const raw = await rawKafkaConnection(cluster.brokers.get(leader)!.kafkaAddress!);
  t.teardown(() => raw.socket.destroy());
  const answer = await raw.request('Produce', 7, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch([{ value: Buffer.alloc(240 * 1024, 2) }]) }] }] });
  t.equal(answer.responses[0]!.partitionResponses[0]!.errorCode, 10, 'through Kafka: MESSAGE_TOO_LARGE');
  const after = await producer.send({ topic, partition: 0, value: 'after' });
  t.ok(after.offset >= 0, 'the next record commits');
});

t.test('a follower behind by more than one frame of batches catches up', async (t) => {
  const topic = 'catch-up';
  await client.admin().createTopic({ topic, partitions: 1, replicationFactor: 3 });
  const leader = await leaderOf(client, topic, 0);
  const [behind, other] = [...cluster.brokers.keys()].filter((id) => id !== leader);
  const producer = client.producer({ acks: 'all', idempotent: false, batchBytes: 1024, lingerMs: 0 });
  t.teardown(() => producer.close());
  await cluster.kill(behind!);
  // Four 100-KiB batches: together more than a 256-KiB frame.
  await Promise.all(Array.from({ length: 4 }, (_, i) => producer.send({ topic, partition: 0, value: Buffer.alloc(100 * 1024, i) })));
  cluster.restart(behind!);
  await waitFor(`broker ${behind} back`, async () => (await client.admin().describeCluster()).brokers.find((b) => b.id === behind)?.alive, 30_000);
  await cluster.kill(other!);
  t.teardown(async () => {
    cluster.restart(other!);
    await waitFor(`broker ${other} back`, async () => (await client.admin().describeCluster()).brokers.find((b) => b.id === other)?.alive, 30_000);
  });
  // With the other follower down, a commit needs the one that was behind.
  const last = await producer.send({ topic, partition: 0, value: 'needs the follower that was behind' });
  t.ok(last.offset >= 4, `committed at ${last.offset}: the follower caught up`);
});
