import t from 'tap';
import { FlotillaError } from '../../protocol/errors.js';
import { toErrorInfo } from '../../protocol/codec.js';
import { buildBatch, patchBatch, buildControlBatch, ControlType } from '../../protocol/batch.js';
import type { Request } from '../../protocol/client.schema.js';
import { Connection } from '../../client/network/connection.js';
import { createWireCodec } from '../../client/network/wire.js';
import type { ClientRequest, ClientResponse } from '../../client/network/api.js';
import { FakeBroker, produceAnswer, type FakeAnswer } from '../../client/testing/fake-broker.js';
import { Client } from '../../client/index.js';
import { clusterOf } from '../../client/client.js';

function connectionTo(address: string, options: { requestTimeoutMs?: number; maxFrameBytes?: number } = {}): Connection<ClientRequest, ClientResponse> {
  return new Connection(createWireCodec('test'), {
    address,
    requestTimeoutMs: options.requestTimeoutMs ?? 5000,
    connectTimeoutMs: 2000,
    maxFrameBytes: options.maxFrameBytes ?? 1024 * 1024,
  });
}

const describe = (topic: string): ClientRequest => ({ type: 'describeTopic', topic });
const described = (topic: string): FakeAnswer => ({ describeTopic: { topic, partitions: [] } });

t.test('20 requests pipelined on one connection, answered in reverse order, each get their own response', async (t) => {
  const held: Array<{ request: Request; answer: (a: FakeAnswer) => void }> = [];
  let releaseAll!: () => void;
  const allArrived = new Promise<void>((resolve) => (releaseAll = resolve));
  const broker = new FakeBroker(
    (request) =>
      new Promise<FakeAnswer>((answer) => {
        held.push({ request, answer });
        if (held.length === 20) releaseAll();
      }),
  );
  await broker.listen();
  const connection = connectionTo(broker.address);
  t.teardown(async () => {
    await connection.close();
    await broker.close();
  });
  const responses = Array.from({ length: 20 }, (_, i) => connection.request(describe(`t${i}`)));
  await allArrived;
  t.equal(connection.inFlight, 20, 'all 20 in flight at once');
  for (const h of [...held].reverse()) h.answer(described(h.request.describeTopic!.topic));
  const results = await Promise.all(responses);
  t.same(
    results.map((r) => (r && r.type === 'describeTopic' ? r.result.topic : null)),
    Array.from({ length: 20 }, (_, i) => `t${i}`),
  );
  t.same(broker.connectionTypes, [0x01], 'one connection, opened with the client type byte');
  t.equal(new Set(broker.requests.map((r) => r.correlationId)).size, 20, 'distinct correlation ids');
});

t.test('a request without an answer fails with TIMEOUT, the late answer is dropped, and the connection still works', async (t) => {
  let first = true;
  const broker = new FakeBroker(async (request) => {
    if (first) {
      first = false;
      await new Promise((r) => setTimeout(r, 150));
    }
    return described(request.describeTopic!.topic);
  });
  await broker.listen();
  const connection = connectionTo(broker.address, { requestTimeoutMs: 50 });
  t.teardown(async () => {
    await connection.close();
    await broker.close();
  });
  await t.rejects(connection.request(describe('slow')), { code: 'TIMEOUT', retriable: true });
  await new Promise((r) => setTimeout(r, 150));
  const again = await connection.request(describe('fast'));
  t.equal(again && again.type === 'describeTopic' && again.result.topic, 'fast');
  t.equal(broker.connectionTypes.length, 1, 'the timeout did not cost the connection');
});

t.test('a second request timing out with nothing received since drops the connection, and the next request connects again', async (t) => {
  const broker = new FakeBroker((request) => (request.describeTopic!.topic === 'hang' ? null : described(request.describeTopic!.topic)));
  await broker.listen();
  const connection = connectionTo(broker.address, { requestTimeoutMs: 50 });
  t.teardown(async () => {
    await connection.close();
    await broker.close();
  });
  const fast = async () => {
    const answer = await connection.request(describe('fast'));
    return answer && answer.type === 'describeTopic' ? answer.result.topic : undefined;
  };
  // An answer between two timeouts shows the connection alive: it stays.
  await t.rejects(connection.request(describe('hang')), { code: 'TIMEOUT' });
  t.equal(await fast(), 'fast');
  await t.rejects(connection.request(describe('hang')), { code: 'TIMEOUT' });
  t.equal(broker.connectionTypes.length, 1, 'timeouts with answers between them keep the connection');
  // Two in a row with nothing received (a silently cut connection looks like this): dropped.
  await t.rejects(connection.request(describe('hang')), { code: 'TIMEOUT' });
  t.equal(await fast(), 'fast', 'the next request is answered');
  t.equal(broker.connectionTypes.length, 2, 'on a new connection');
});

t.test('losing the connection fails every in-flight request with BROKER_NOT_AVAILABLE, and the next request reconnects', async (t) => {
  const broker = new FakeBroker((request) => (request.describeTopic!.topic === 'hang' ? null : described(request.describeTopic!.topic)));
  await broker.listen();
  const connection = connectionTo(broker.address);
  t.teardown(async () => {
    await connection.close();
    await broker.close();
  });
  const inFlight = [connection.request(describe('hang')), connection.request(describe('hang'))];
  while (broker.requests.length < 2) await new Promise((r) => setTimeout(r, 5));
  broker.dropConnections();
  for (const p of inFlight) await t.rejects(p, { code: 'BROKER_NOT_AVAILABLE', retriable: true });
  const after = await connection.request(describe('ok'));
  t.equal(after && after.type === 'describeTopic' && after.result.topic, 'ok');
  t.equal(broker.connectionTypes.length, 2, 'reconnected lazily');
});

t.test('a refused connection is BROKER_NOT_AVAILABLE', async (t) => {
  const broker = new FakeBroker(() => null);
  await broker.listen();
  const address = broker.address;
  await broker.close();
  const connection = connectionTo(address);
  await t.rejects(connection.request(describe('x')), { code: 'BROKER_NOT_AVAILABLE' });
  await connection.close();
});

t.test("the broker's error comes back as a FlotillaError with its details", async (t) => {
  const broker = new FakeBroker(() => new FlotillaError('NOT_LEADER', 'not me', { leaderId: 2, leaderAddress: '127.0.0.1:9' }));
  await broker.listen();
  const connection = connectionTo(broker.address);
  t.teardown(async () => {
    await connection.close();
    await broker.close();
  });
  await t.rejects(connection.request(describe('x')), { name: 'FlotillaError', code: 'NOT_LEADER', retriable: true, details: { leaderId: 2, leaderAddress: '127.0.0.1:9' } });
});

t.test('a response frame above maxFrameBytes closes the connection before its body arrives', async (t) => {
  const broker = new FakeBroker(() => null);
  await broker.listen();
  const connection = connectionTo(broker.address, { maxFrameBytes: 1024 });
  t.teardown(async () => {
    await connection.close();
    await broker.close();
  });
  const pending = connection.request(describe('x'));
  while (broker.requests.length < 1) await new Promise((r) => setTimeout(r, 5));
  broker.writeRaw(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04])); // a 2^30-byte prefix
  await t.rejects(pending, { code: 'BROKER_NOT_AVAILABLE', message: /limit is 1024 bytes/ });
});

t.test('produce with acks none resolves once written, with no response', async (t) => {
  const broker = new FakeBroker(() => null);
  await broker.listen();
  const connection = connectionTo(broker.address, { requestTimeoutMs: 50 });
  t.teardown(async () => {
    await connection.close();
    await broker.close();
  });
  const result = await connection.request(
    { type: 'produce', acks: 'none', timeoutMs: 100, partitions: [{ topic: 't', partition: 0, batch: buildBatch([{ value: 'v' }]) }] },
    { expectResponse: false },
  );
  t.equal(result, undefined);
  t.equal(connection.inFlight, 0);
});

// ---------------------------------------------------------------------------------------
// A two-broker fake cluster: metadata, leader redirects, produce and fetch

/** The part of a tap test the fixture needs. */
interface Tap {
  teardown(fn: () => unknown): void;
}

interface FakeCluster {
  brokers: FakeBroker[];
  /** Partition → leader broker id (1-based) as metadata reports it. */
  leaders: number[];
  log: Buffer[];
}

async function fakeCluster(t: Tap, partitions: number, handle: (id: number, request: Request, cluster: FakeCluster) => FakeAnswer | undefined): Promise<FakeCluster> {
  const cluster: FakeCluster = { brokers: [], leaders: Array.from({ length: partitions }, () => 1), log: [] };
  for (let id = 1; id <= 2; id++) {
    const broker = new FakeBroker((request) => {
      const answer = handle(id, request, cluster);
      if (answer !== undefined) return answer;
      if (request.metadata) {
        return {
          metadata: {
            controllerId: 1,
            brokers: cluster.brokers.map((b, i) => ({ id: i + 1, address: b.address })),
            topics: [
              {
                topic: 't',
                partitions: cluster.leaders.map((leader, partition) => ({ partition, leader, leaderTerm: 1, replicas: [1, 2], inSync: [1, 2] })),
              },
            ],
          },
        };
      }
      // Producers are idempotent by default: they ask for an id first.
      if (request.initProducerId) return { initProducerId: { producerId: 1, producerEpoch: 0 } };
      return new FlotillaError('INVALID_REQUEST', 'fake broker: unexpected request');
    });
    await broker.listen();
    cluster.brokers.push(broker);
  }
  t.teardown(async () => {
    for (const b of cluster.brokers) await b.close();
  });
  return cluster;
}

t.test('NOT_LEADER naming the new leader sends the retry straight there', async (t) => {
  const produced: Array<{ broker: number; values: number }> = [];
  const cluster = await fakeCluster(t, 1, (id, request) => {
    if (!request.produce) return undefined;
    if (id === 1) return new FlotillaError('NOT_LEADER', 'moved', { leaderId: 2, leaderAddress: cluster.brokers[1]!.address });
    produced.push({ broker: id, values: request.produce.partitions[0]!.batch.readInt32BE(57) });
    return produceAnswer(request.produce, () => 100);
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address], retryBackoffMs: 1000 });
  t.teardown(() => client.close());
  const producer = client.producer({ lingerMs: 0 });
  const started = Date.now();
  t.same(await producer.send({ topic: 't', value: 'v' }), { topic: 't', partition: 0, offset: 100 });
  t.ok(Date.now() - started < 900, 'no backoff before following the named leader');
  t.same(produced, [{ broker: 2, values: 1 }]);
});

t.test('one produce request carries every ready partition of a broker; a partition that moved is retried alone', async (t) => {
  const requests: Array<{ broker: number; partitions: number[] }> = [];
  const cluster = await fakeCluster(t, 4, (id, request, c) => {
    if (!request.produce) return undefined;
    requests.push({ broker: id, partitions: request.produce.partitions.map((p) => p.partition) });
    return {
      produce: {
        partitions: request.produce.partitions.map((p) =>
          c.leaders[p.partition] === id
            ? { topic: p.topic, partition: p.partition, baseOffset: 10 * p.partition, lastOffset: 10 * p.partition, logStartOffset: 0 }
            : { topic: p.topic, partition: p.partition, error: { code: 1, message: 'moved', leaderId: c.leaders[p.partition]!, leaderAddress: c.brokers[c.leaders[p.partition]! - 1]!.address } },
        ),
      },
    };
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address], retryBackoffMs: 30_000, maxRetryBackoffMs: 30_000 });
  t.teardown(() => client.close());
  // Nothing lingers out on its own: flush() makes the four partitions ready together.
  const producer = client.producer({ lingerMs: 60_000 });
  await clusterOf(client).topic('t');
  cluster.leaders[2] = 2; // moved after the client cached the metadata
  const started = Date.now();
  const sent = Promise.all([0, 1, 2, 3].map((partition) => producer.send({ topic: 't', partition, value: `p${partition}` })));
  await producer.flush();
  const acks = await sent;
  t.same(acks.map((a) => a.offset), [0, 10, 20, 30], 'every partition acknowledged at its own offset');
  t.same(requests[0], { broker: 1, partitions: [0, 1, 2, 3] }, 'the first request carried all four partitions');
  t.same(requests.slice(1), [{ broker: 2, partitions: [2] }], 'only the partition that moved was sent again, to its new leader');
  t.ok(Date.now() - started < 20_000, 'the named leader was followed without the 30 s backoff');
});

t.test('records to one partition keep call order across un-awaited sends, batches and a retriable failure', async (t) => {
  let failNext = true;
  let next = 0;
  let produceRequests = 0;
  const values: string[] = [];
  const cluster = await fakeCluster(t, 1, (_id, request) => {
    if (!request.produce) return undefined;
    if (failNext && ++produceRequests === 2) {
      failNext = false;
      return new FlotillaError('NOT_ENOUGH_REPLICAS', 'try again');
    }
    return produceAnswer(request.produce, (sent) => {
      const base = next;
      next += sent.readInt32BE(57);
      const batch = Buffer.from(sent);
      patchBatch(batch, base, 1);
      cluster.log.push(batch);
      return base;
    });
  });
  // Read back what was appended, in log order.
  const client = new Client({ brokers: [cluster.brokers[0]!.address], retryBackoffMs: 5, maxRetryBackoffMs: 10 });
  t.teardown(() => client.close());
  // The plain producer: this fake broker checks no sequences, so only one batch per
  // partition on the wire keeps the order here (producer-pipeline.test.ts covers the
  // idempotent producer against the broker's own sequence check).
  const producer = client.producer({ lingerMs: 1, batchBytes: 200, idempotent: false });
  const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => producer.send({ topic: 't', value: `v${i}` })));
  const { records } = await import('../../protocol/batch.js');
  for (const batch of cluster.log) for (const r of records(batch)) values.push(r.value!.toString());
  t.same(values, Array.from({ length: 50 }, (_, i) => `v${i}`), 'appended in call order');
  t.same(acks.map((a) => a.offset), Array.from({ length: 50 }, (_, i) => i), 'offsets follow call order');
  t.ok(cluster.log.length > 1, 'split into several batches by batchBytes');
  t.notOk(failNext, 'one request failed and was retried');
});

t.test('a send after close fails clearly; close twice is a no-op', async (t) => {
  const cluster = await fakeCluster(t, 1, () => undefined);
  const client = new Client({ brokers: [cluster.brokers[0]!.address] });
  t.teardown(() => client.close());
  const producer = client.producer();
  await producer.close();
  await producer.close();
  await t.rejects(producer.send({ topic: 't', value: 'x' }), { code: 'INVALID_REQUEST', message: /after producer.close/ });
});

t.test('UNKNOWN_TOPIC surfaces from send without retrying until the delivery timeout', async (t) => {
  // A topic a listing leaves out is asked about by name (NOT_AUTHORIZED or UNKNOWN_TOPIC).
  const cluster = await fakeCluster(t, 1, (_id, request) => (request.describeTopic ? new FlotillaError('UNKNOWN_TOPIC', `topic "${request.describeTopic.topic}" does not exist`) : undefined));
  const client = new Client({ brokers: [cluster.brokers[0]!.address] });
  t.teardown(() => client.close());
  await t.rejects(client.producer().send({ topic: 'nope', value: 'x' }), { code: 'UNKNOWN_TOPIC' });
});

t.test('the consumer skips records below its position and control batches, and prefetches', async (t) => {
  // The broker returns the whole log from 0 whatever offset is asked: a control batch at
  // 0, records at 1-3, another at 4-5.
  const control = buildControlBatch(ControlType.NOOP, null);
  patchBatch(control, 0, 1);
  const a = buildBatch([{ value: 'r1' }, { value: 'r2' }, { value: 'r3' }]);
  patchBatch(a, 1, 1);
  const b = buildBatch([{ value: 'r4' }, { value: 'r5' }]);
  patchBatch(b, 4, 1);
  const fetchOffsets: number[] = [];
  const cluster = await fakeCluster(t, 1, (_id, request) => {
    if (request.fetch) {
      const offset = request.fetch.partitions[0]!.offset;
      fetchOffsets.push(offset);
      const records = offset >= 6 ? Buffer.alloc(0) : Buffer.concat([control, a, b]);
      return { fetch: { partitions: [{ topic: 't', partition: 0, highWatermark: 6, logStartOffset: 0, records }] } };
    }
    if (request.listOffsets) return { listOffsets: { offsets: [{ topic: 't', partition: 0, offset: 0, timestamp: -1 }] } };
    return undefined;
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address] });
  t.teardown(() => client.close());
  const consumer = client.consumer({ maxWaitMs: 10 });
  consumer.assign([{ topic: 't', partition: 0, offset: 2 }]);
  const seen: string[] = [];
  for await (const m of consumer) {
    seen.push(`${m.offset}:${m.value!.toString()}`);
    if (seen.length === 4) break;
  }
  t.same(seen, ['2:r2', '3:r3', '4:r4', '5:r5']);
  t.equal(fetchOffsets[0], 2);
  for (let i = 0; i < 100 && !fetchOffsets.includes(6); i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(fetchOffsets.includes(6), 'fetched ahead, from past the last batch');
  await consumer.close();
});

t.test("a leader whose high watermark trails what the consumer was served does not send it back to 'earliest'", async (t) => {
  // Records 0-2 are served; then the partition changes leader: the next fetch is out of
  // range and the new leader's high watermark is 1 until its first commit, then 4.
  const first = buildBatch([{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
  patchBatch(first, 0, 1);
  const more = buildBatch([{ value: 'd' }]);
  patchBatch(more, 3, 1);
  let fetches = 0;
  let latestAsked = 0;
  const cluster = await fakeCluster(t, 1, (_id, request) => {
    if (request.fetch) {
      const offset = request.fetch.partitions[0]!.offset;
      fetches++;
      if (offset === 3 && latestAsked < 3) return new FlotillaError('OFFSET_OUT_OF_RANGE', 'offset 3 is past the high watermark');
      const records = offset < 3 ? first : offset === 3 ? more : Buffer.alloc(0);
      return { fetch: { partitions: [{ topic: 't', partition: 0, highWatermark: 4, logStartOffset: 0, records }] } };
    }
    if (request.listOffsets) {
      const latest = request.listOffsets.partitions[0]!.spec === 0;
      if (latest) latestAsked++;
      const offset = latest ? (latestAsked < 3 ? 1 : 4) : 0;
      return { listOffsets: { offsets: [{ topic: 't', partition: 0, offset, timestamp: -1 }] } };
    }
    return undefined;
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address], retryBackoffMs: 1 });
  t.teardown(() => client.close());
  const consumer = client.consumer({ readFrom: 'leader', maxWaitMs: 10, offsetReset: 'earliest' });
  consumer.assign([{ topic: 't', partition: 0, offset: 0 }]);
  const seen: string[] = [];
  for await (const m of consumer) {
    seen.push(`${m.offset}:${m.value!.toString()}`);
    if (seen.length === 4) break;
  }
  t.same(seen, ['0:a', '1:b', '2:c', '3:d'], 'offset 3 next, not offset 0 again');
  t.ok(latestAsked >= 3, 'asked the leader again until its high watermark covered the position');
  t.ok(fetches >= 3);
  await consumer.close();
});

/** Waits for a consumer's first message (or its failure). */
async function firstMessage(consumer: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of consumer) break;
}

t.test('readFrom a broker that holds no replica fails with UNKNOWN_PARTITION', async (t) => {
  const cluster = await fakeCluster(t, 1, () => undefined);
  const client = new Client({ brokers: [cluster.brokers[0]!.address] });
  t.teardown(() => client.close());
  const consumer = client.consumer({ readFrom: 7 });
  consumer.assign([{ topic: 't', partition: 0, offset: 0 }]);
  await t.rejects(firstMessage(consumer), { code: 'UNKNOWN_PARTITION' });
  await consumer.close();
});

t.test('admin requests for the controller follow NOT_CONTROLLER', async (t) => {
  const cluster = await fakeCluster(t, 1, (id, request) => {
    if (request.deleteTopics) return id === 1 ? new FlotillaError('NOT_CONTROLLER', 'ask 2', { leaderId: 2, leaderAddress: cluster.brokers[1]!.address }) : { deleteTopics: { results: [{ topic: 't' }] } };
    return undefined;
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address], retryBackoffMs: 1 });
  t.teardown(() => client.close());
  await client.admin().deleteTopic('t');
  t.ok(cluster.brokers[1]!.requests.some((r) => r.deleteTopics), 'retried at broker 2');
});

t.test('a delete retried after a timeout succeeds when the retry finds the topic gone; without a timeout UNKNOWN_TOPIC stands', async (t) => {
  // The first delete's answer never comes (the broker did delete it); the retry finds no topic.
  let deletes = 0;
  const cluster = await fakeCluster(t, 1, (_id, request) => {
    if (!request.deleteTopics) return undefined;
    return deletes++ === 0 ? null : { deleteTopics: { results: [{ topic: 't', error: toErrorInfo(new FlotillaError('UNKNOWN_TOPIC', 'topic "t" does not exist')) }] } };
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address], requestTimeoutMs: 200, retryBackoffMs: 1 });
  t.teardown(() => client.close());
  await client.admin().deleteTopic('t', 5000);
  t.equal(deletes, 2, 'the first attempt timed out and was retried');
  await t.rejects(client.admin().deleteTopic('t', 5000), { code: 'UNKNOWN_TOPIC' }, 'a first attempt that finds no topic fails');
});

t.test("readFrom 'any' sets aside a replica that does not answer within maxWaitMs + requestTimeoutMs and reads another", async (t) => {
  const batch = buildBatch([{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
  patchBatch(batch, 0, 1);
  const fetchesAt = [0, 0, 0];
  const cluster = await fakeCluster(t, 1, (id, request) => {
    if (!request.fetch) return undefined;
    fetchesAt[id]!++;
    if (id === 2) return null; // a replica that hangs
    const offset = request.fetch.partitions[0]!.offset;
    return { fetch: { partitions: [{ topic: 't', partition: 0, highWatermark: 3, logStartOffset: 0, records: offset < 3 ? batch : Buffer.alloc(0) }] } };
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address], requestTimeoutMs: 150 });
  t.teardown(() => client.close());
  const consumer = client.consumer({ maxWaitMs: 10 });
  consumer.assign([{ topic: 't', partition: 0, offset: 0 }]);
  const seen: string[] = [];
  const started = Date.now();
  for await (const m of consumer) {
    seen.push(m.value!.toString());
    if (seen.length === 3) break;
  }
  t.same(seen, ['a', 'b', 'c']);
  t.ok(Date.now() - started < 1500, 'did not wait on the hanging replica more than once');
  await new Promise((r) => setTimeout(r, 400));
  t.ok(fetchesAt[2]! <= 1, `the hanging replica was asked at most once (${fetchesAt[2]})`);
  t.ok(fetchesAt[1]! >= 2, 'the answering replica kept being read');
  await consumer.close();
});

t.test("readFrom 'any': a replica that does not know the topic yet (its metadata lags) is set aside; a topic that is gone fails", async (t) => {
  // One record per fetch: the consumer fetches at least three times and, round-robin
  // over the replicas, asks both.
  const batches = ['a', 'b', 'c'].map((value, offset) => {
    const batch = buildBatch([{ value }]);
    patchBatch(batch, offset, 1);
    return batch;
  });
  const fetchesAt = [0, 0, 0];
  let deleted = false;
  const cluster = await fakeCluster(t, 1, (id, request) => {
    if (deleted && (request.metadata || request.fetch || request.describeTopic)) {
      if (!request.metadata) return new FlotillaError('UNKNOWN_TOPIC', 'topic "t" does not exist');
      return { metadata: { controllerId: 1, brokers: cluster.brokers.map((b, i) => ({ id: i + 1, address: b.address })), topics: [{ topic: 't', partitions: [], error: toErrorInfo(new FlotillaError('UNKNOWN_TOPIC', 'topic "t" does not exist')) }] } };
    }
    if (!request.fetch) return undefined;
    fetchesAt[id]!++;
    // Broker 2 has not applied the topic's creation yet.
    if (id === 2) return new FlotillaError('UNKNOWN_TOPIC', 'topic "t" does not exist');
    const offset = request.fetch.partitions[0]!.offset;
    return { fetch: { partitions: [{ topic: 't', partition: 0, highWatermark: 3, logStartOffset: 0, records: batches[offset] ?? Buffer.alloc(0) }] } };
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address], retryBackoffMs: 1 });
  t.teardown(() => client.close());
  const consumer = client.consumer({ maxWaitMs: 10 });
  consumer.assign([{ topic: 't', partition: 0, offset: 0 }]);
  const seen: string[] = [];
  for await (const m of consumer) {
    seen.push(m.value!.toString());
    if (seen.length === 3) break;
  }
  t.same(seen, ['a', 'b', 'c'], 'read from the replica that knows the topic');
  t.equal(fetchesAt[2], 1, 'the lagging replica was asked once, then set aside');
  await consumer.close();

  deleted = true;
  const after = client.consumer({ maxWaitMs: 10 });
  after.assign([{ topic: 't', partition: 0, offset: 3 }]);
  await t.rejects(firstMessage(after), { code: 'UNKNOWN_TOPIC' }, 'once the metadata says the topic is gone, the consumer fails with UNKNOWN_TOPIC');
  await after.close();
});

t.test("a partition whose leader the metadata broker does not know is looked up at the partition's replicas", async (t) => {
  const cluster = await fakeCluster(t, 1, (id, request) => {
    if (request.metadata) {
      // Broker 1 holds no replica of t/0 and so reports no leader; broker 2 leads it.
      return {
        metadata: {
          controllerId: 1,
          brokers: cluster.brokers.map((b, i) => ({ id: i + 1, address: b.address })),
          topics: [{ topic: 't', partitions: [{ partition: 0, leader: id === 1 ? 0 : 2, leaderTerm: id === 1 ? 0 : 3, replicas: [2], inSync: [2] }] }],
        },
      };
    }
    if (request.produce) return id === 2 ? produceAnswer(request.produce, () => 7) : new FlotillaError('NOT_LEADER', 'no replica here');
    return undefined;
  });
  const client = new Client({ brokers: [cluster.brokers[0]!.address], retryBackoffMs: 1000 });
  t.teardown(() => client.close());
  const started = Date.now();
  t.same(await client.producer({ lingerMs: 0 }).send({ topic: 't', value: 'x' }), { topic: 't', partition: 0, offset: 7 });
  t.ok(Date.now() - started < 900, 'found without waiting for a backoff');
});
