/**
 * The idempotent producer against a scripted cluster: which bytes it sends, when it asks
 * for a producer id or a new epoch, and what it does with each kind of failure.
 */
import t from 'tap';
import { readBatchHeader, records } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import { Producer } from '../../client/producer/producer.js';
import type { Cluster } from '../../client/cluster/cluster.js';

interface Sent {
  batch: Buffer;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  values: string[];
}

/** A cluster of one partition whose produce answers come from `answer`. */
function scriptedCluster(answer: (sent: Sent, n: number) => number | FlotillaError) {
  const sent: Sent[] = [];
  const inits: Array<{ producerId?: number; producerEpoch?: number }> = [];
  let nextId = 41;
  const silent = () => undefined;
  const cluster = {
    logger: { debug: silent, warn: silent, info: silent, error: silent },
    options: { requestTimeoutMs: 1_000 },
    retryPolicy: { initialBackoffMs: 1, maxBackoffMs: 5 },
    cachedTopic: () => ({ topic: 't', partitions: [{ partition: 0, leader: 1, replicas: [1] }] }),
    topic: async () => ({ topic: 't', partitions: [{ partition: 0, leader: 1, replicas: [1] }] }),
    leaderAddress: async () => ({ id: 1, address: 'b1' }),
    cachedLeaderAddress: () => 'b1',
    noteFailure: silent,
    async controllerRequest(request: { type: string; producerId?: number; producerEpoch?: number }) {
      inits.push({ ...request });
      if (request.producerId !== undefined) return { type: 'initProducerId', result: { producerId: request.producerId, producerEpoch: request.producerEpoch! + 1 } };
      return { type: 'initProducerId', result: { producerId: nextId++, producerEpoch: 0 } };
    },
    async send(_address: string, request: { partitions: Array<{ topic: string; partition: number; batch: Buffer }> }) {
      const { topic, partition, batch } = request.partitions[0]!;
      const header = readBatchHeader(batch);
      const s: Sent = {
        batch: Buffer.from(batch),
        producerId: header.producerId,
        producerEpoch: header.producerEpoch,
        baseSequence: header.baseSequence,
        values: [...records(batch)].map((r) => r.value!.toString()),
      };
      sent.push(s);
      const outcome = answer(s, sent.length - 1);
      if (outcome instanceof FlotillaError) throw outcome;
      return { type: 'produce', result: { partitions: [{ topic, partition, baseOffset: outcome }] } };
    },
  };
  return { cluster: cluster as unknown as Cluster, sent, inits };
}

t.test('a retriable failure resends the same bytes with the same sequence; the next batch follows on', async (t) => {
  const { cluster, sent, inits } = scriptedCluster((_s, n) => (n === 0 || n === 1 ? new FlotillaError('TIMEOUT', 'lost') : 100 + n));
  const producer = new Producer(cluster, { idempotent: true, lingerMs: 0 });
  const first = await Promise.all(['a', 'b', 'c'].map((value) => producer.send({ topic: 't', value })));
  const second = await producer.send({ topic: 't', value: 'd' });
  await producer.close();
  t.same(inits, [{ type: 'initProducerId' }], 'one producer id, asked for before the first batch');
  t.equal(sent.length, 4);
  t.ok(sent[1]!.batch.equals(sent[0]!.batch) && sent[2]!.batch.equals(sent[0]!.batch), 'retries are byte for byte the first attempt');
  t.same(sent[0]!.values, ['a', 'b', 'c']);
  t.same([sent[0]!.producerId, sent[0]!.producerEpoch, sent[0]!.baseSequence], [41, 0, 0]);
  t.same(first.map((a) => a.offset), [102, 103, 104], 'acks carry the offsets of the attempt that succeeded');
  t.same([sent[3]!.baseSequence, sent[3]!.values], [3, ['d']], 'the sequence advanced by the record count');
  t.equal(second.offset, 103);
});

t.test('OUT_OF_ORDER_SEQUENCE fails the batch, bumps the epoch and restarts the partition at sequence 0', async (t) => {
  const { cluster, sent, inits } = scriptedCluster((_s, n) => (n === 1 ? new FlotillaError('OUT_OF_ORDER_SEQUENCE', 'gap') : 10 * n));
  const producer = new Producer(cluster, { idempotent: true, lingerMs: 0 });
  await producer.send({ topic: 't', value: 'a' });
  await t.rejects(producer.send({ topic: 't', value: 'b' }), { code: 'OUT_OF_ORDER_SEQUENCE' });
  await producer.send({ topic: 't', value: 'c' });
  await producer.close();
  t.same(inits, [{ type: 'initProducerId' }, { type: 'initProducerId', producerId: 41, producerEpoch: 0 }], 'the second request bumps the epoch of the same id');
  t.same(sent.map((s) => [s.producerEpoch, s.baseSequence, s.values[0]]), [[0, 0, 'a'], [0, 1, 'b'], [1, 0, 'c']]);
});

t.test('a batch past deliveryTimeoutMs fails with its last error and the next batch starts a new epoch', async (t) => {
  const { cluster, sent } = scriptedCluster((s) => (s.values[0] === 'a' ? new FlotillaError('TIMEOUT', 'no answer') : 7));
  const producer = new Producer(cluster, { idempotent: true, lingerMs: 0, deliveryTimeoutMs: 50 });
  await t.rejects(producer.send({ topic: 't', value: 'a' }), { code: 'TIMEOUT' });
  t.ok(sent.length > 1 && sent.every((s) => s.batch.equals(sent[0]!.batch)), `retried ${sent.length} times, always the same bytes`);
  const ack = await producer.send({ topic: 't', value: 'b' });
  await producer.close();
  t.equal(ack.offset, 7);
  const last = sent[sent.length - 1]!;
  t.same([last.producerEpoch, last.baseSequence], [1, 0]);
});

t.test('a failure of one partition does not disturb a batch of another partition already built', async (t) => {
  // Partitions 0 and 1: partition 0's batch fails for good; partition 1 keeps its sequence
  // until it seals a batch under the new epoch, which starts again at 0.
  const { cluster, sent } = scriptedCluster((s) => (s.values[0] === 'p0-a' ? new FlotillaError('INVALID_REQUEST', 'no') : 1));
  const c = cluster as unknown as { cachedTopic: () => unknown; topic: () => Promise<unknown> };
  const meta = { topic: 't', partitions: [{ partition: 0, leader: 1, replicas: [1] }, { partition: 1, leader: 1, replicas: [1] }] };
  c.cachedTopic = () => meta;
  c.topic = async () => meta;
  const producer = new Producer(cluster, { idempotent: true, lingerMs: 0 });
  await producer.send({ topic: 't', partition: 1, value: 'p1-a' });
  await t.rejects(producer.send({ topic: 't', partition: 0, value: 'p0-a' }), { code: 'INVALID_REQUEST' });
  await producer.send({ topic: 't', partition: 1, value: 'p1-b' });
  await producer.send({ topic: 't', partition: 0, value: 'p0-b' });
  await producer.send({ topic: 't', partition: 1, value: 'p1-c' });
  await producer.close();
  const of = (v: string) => sent.find((s) => s.values[0] === v)!;
  t.same([of('p1-a').producerEpoch, of('p1-a').baseSequence], [0, 0]);
  t.same([of('p1-b').producerEpoch, of('p1-b').baseSequence], [0, 1], 'the epoch is bumped only when partition 0 sends again');
  t.same([of('p0-b').producerEpoch, of('p0-b').baseSequence], [1, 0], 'partition 0 restarts at 0 under the new epoch');
  t.same([of('p1-c').producerEpoch, of('p1-c').baseSequence], [1, 0], 'partition 1 starts again at 0 under the new epoch (brokers take a new epoch only from 0)');
});

t.test('a record queued behind a batch in flight is sent at its linger time, with no later send to push it', async (t) => {
  // The stall: 'b' arrives while 'a''s batch is in flight and 'a''s answer comes before
  // 'b' has lingered; nothing looked at 'b''s queue again until another send filled a batch.
  let release: () => void = () => {};
  const answered = new Promise<void>((resolve) => (release = resolve));
  const { cluster, sent } = scriptedCluster((_s, n) => n);
  const scripted = cluster as unknown as { send: (...args: unknown[]) => Promise<unknown> };
  const answer = scripted.send.bind(cluster);
  let requests = 0;
  scripted.send = async (...args: unknown[]) => {
    if (requests++ === 0) await answered; // hold the first batch's answer
    return answer(...args);
  };
  const producer = new Producer(cluster, { idempotent: true, lingerMs: 40 });
  const a = producer.send({ topic: 't', value: 'a' });
  while (requests === 0) await new Promise((r) => setTimeout(r, 5));
  const b = producer.send({ topic: 't', value: 'b' });
  await new Promise((r) => setTimeout(r, 5));
  release();
  t.same(await a, { topic: 't', partition: 0, offset: 0 });
  const outcome = await Promise.race([b.then(() => 'acknowledged'), new Promise((r) => setTimeout(() => r('still pending after 2 s'), 2_000))]);
  t.equal(outcome, 'acknowledged', "'b' went out on its own");
  t.same(sent.map((s) => s.values), [['a'], ['b']]);
  await producer.close();
});
