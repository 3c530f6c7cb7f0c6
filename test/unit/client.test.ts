import t from 'tap';
import pino from 'pino';
import { buildBatch, buildControlBatch, ControlType, patchBatch } from '../../protocol/batch.js';
import { murmur2, partitionForKey, StickyPartitioner } from '../../client/producer/partitioner.js';
import { RecordAccumulator, type PendingRecord, type SealedBatch } from '../../client/producer/accumulator.js';
import { resolveProducerOptions } from '../../client/producer/options.js';
import { resolveConsumerOptions } from '../../client/consumer/options.js';
import { resolveClientOptions } from '../../client/options.js';
import { messagesFrom } from '../../client/consumer/messages.js';
import { messageToJson, messageToText, formatTable } from '../../client/cli/format.js';
import { splitLine } from '../../client/cli/produce.js';
import { brokerConfigFrom } from '../../client/cli/broker-command.js';
import { devCommandLine } from '../../client/cli/dev.js';
import { Client, FlotillaError } from '../../client/index.js';

t.test('murmur2 matches Kafka for its published test vectors', async (t) => {
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [input, expected] of vectors) t.equal(murmur2(Buffer.from(input)), expected, input);
});

t.test('the same key always maps to the same partition, and keys spread evenly', async (t) => {
  t.equal(partitionForKey('user-42', 6), partitionForKey(Buffer.from('user-42'), 6), 'string and Buffer keys agree');
  t.equal(partitionForKey('user-42', 6), partitionForKey(new Uint8Array(Buffer.from('user-42')), 6), 'and Uint8Array');
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60_000; i++) counts[partitionForKey(`key-${i}`, 6)]++;
  for (const c of counts) t.ok(c > 9000 && c < 11000, `partition got ${c} of 60000 keys`);
});

t.test('keyless records stick to a partition until a batch for it is sent, then move on', async (t) => {
  const sticky = new StickyPartitioner();
  const first = sticky.partitionFor('t', 3);
  t.equal(sticky.partitionFor('t', 3), first);
  sticky.batchSent('t', first, 3);
  const second = sticky.partitionFor('t', 3);
  t.equal(second, (first + 1) % 3);
  sticky.batchSent('t', (second + 1) % 3, 3);
  t.equal(sticky.partitionFor('t', 3), second, 'a batch of another partition does not move it');
});

function pending(value: string, appendedAt = Date.now()): PendingRecord & { settled: string[] } {
  const settled: string[] = [];
  return { record: { value }, bytes: 16 + value.length, appendedAt, resolve: () => settled.push('ok'), reject: () => settled.push('err'), settled };
}

t.test('a queue whose partition has a batch on the wire becomes ready after lingerMs, not before', async (t) => {
  // Judged by when the wake-up came, not by sleeping a guessed time: a loaded machine may
  // run any timer late, but never early.
  const wokenAt: number[] = [];
  const acc = new RecordAccumulator({ inFlightPerPartition: 2, lingerMs: 30, batchBytes: 10_000, deliveryTimeoutMs: 60_000, onReady: () => wokenAt.push(performance.now()) });
  acc.queue('t', 0).inFlight = 1;
  const appendedAt = performance.now();
  acc.append('t', 0, pending('a'));
  t.same(acc.poll(false).ready, [], 'not ready at once');
  while (wokenAt.length === 0) await new Promise((r) => setTimeout(r, 5));
  t.equal(wokenAt.length, 1, 'woken once');
  // Node rounds timer deadlines to whole milliseconds, so allow one below.
  t.ok(wokenAt[0]! - appendedAt >= 29, `woken ${(wokenAt[0]! - appendedAt).toFixed(1)} ms after the append, not before lingerMs`);
  t.equal(acc.poll(false).ready.length, 1);
  t.equal(acc.poll(true).ready.length, 1, 'flush makes it ready too');
  acc.stop();
});

t.test('a queue that reaches batchBytes is ready at once; a batch never exceeds batchBytes but holds at least one record', async (t) => {
  let woken = 0;
  const acc = new RecordAccumulator({ inFlightPerPartition: 1, lingerMs: 60_000, batchBytes: 40, deliveryTimeoutMs: 120_000, onReady: () => woken++ });
  acc.append('t', 0, pending('a'.repeat(10))); // 26 bytes
  acc.append('t', 0, pending('b'.repeat(10))); // 52 total
  await Promise.resolve();
  t.equal(woken, 1, 'woken in the same tick, once');
  const [queue] = acc.poll(false).ready;
  t.ok(queue);
  const first = acc.drain(queue!);
  t.equal(first.length, 1, 'only what fits in batchBytes');
  acc.append('t', 1, pending('x'.repeat(100)));
  const big = acc.drain(acc.queue('t', 1));
  t.equal(big.length, 1, 'a record larger than batchBytes still goes, alone');
  t.equal(acc.bufferedBytes, 26, 'one record of 26 bytes left');
  acc.failAll(new Error('test over')); // clears the 60 s linger timer
});

t.test('a queue that filled while its batches were in flight is polled again at its linger time, without a new send', async (t) => {
  // The idempotent producer's stall: records queued behind in-flight (sealed) batches
  // were looked at only when an answer came; if they had not lingered yet then, nothing
  // looked at them again until another send filled a batch.
  let clock = 1_000;
  const acc = new RecordAccumulator({ inFlightPerPartition: 2, lingerMs: 30, batchBytes: 10_000, deliveryTimeoutMs: 60_000, onReady: () => {}, now: () => clock });
  const sealed = (records: PendingRecord[], ordinal: number): SealedBatch => ({ records, bytes: Buffer.alloc(0), producerId: 1, producerEpoch: 0, baseSequence: ordinal, ordinal, inFlight: true, reseal: false });
  acc.append('t', 0, pending('a', clock));
  const [queue] = acc.poll(false).ready;
  t.ok(queue, 'ready at once: nothing of its partition is on the wire');
  queue!.sealed = [sealed(acc.drain(queue!), 0)];
  queue!.inFlight = 1;
  acc.append('t', 0, pending('a2', clock));
  t.same(acc.poll(false).ready, [], "'a2' waits for company behind the batch on the wire");
  clock += 30;
  t.equal(acc.poll(false).ready.length, 1, "'a2' lingered");
  queue!.sealed.push(sealed(acc.drain(queue!), 1));
  queue!.inFlight = 2;
  clock += 5;
  acc.append('t', 0, pending('b', clock)); // queued behind the batches in flight
  t.same(acc.poll(false).ready, [], 'the wire is full: not ready');
  clock += 5;
  queue!.sealed = queue!.sealed.slice(1); // an answer arrives before 'b' has lingered, one batch is still out
  queue!.inFlight = 1;
  t.same(acc.poll(false).ready, [], "'b' has not lingered yet");
  t.equal(acc.nextWakeAt, 1_000 + 35 + 30, "the wake-up is set for 'b''s linger time");
  clock = acc.nextWakeAt;
  t.equal(acc.poll(false).ready.length, 1, "'b' is ready at its linger time");
  acc.stop();
});

t.test('queued records past deliveryTimeoutMs are taken out at the poll, in flight or not', async (t) => {
  let clock = 0;
  const acc = new RecordAccumulator({ inFlightPerPartition: 1, lingerMs: 5, batchBytes: 10_000, deliveryTimeoutMs: 100, onReady: () => {}, now: () => clock });
  const queue = acc.append('t', 0, pending('old', 0));
  queue.inFlight = 1; // e.g. a batch whose leader does not answer
  clock = 50;
  acc.append('t', 0, pending('new', 50));
  t.same(acc.poll(false), { ready: [], expired: [] });
  t.equal(acc.nextWakeAt, 100, 'woken when the oldest queued record expires');
  clock = 100;
  const { expired } = acc.poll(false);
  t.same(expired.map((p) => p.record.value), ['old']);
  t.equal(queue.length, 1, "'new' stays queued");
  t.equal(acc.bufferedBytes, 16 + 3);
  t.equal(acc.nextWakeAt, 150);
  acc.stop();
});

t.test('an idle partition sends once the burst of sends is queued, lingerMs or not', async (t) => {
  let wakes = 0;
  const acc = new RecordAccumulator({ inFlightPerPartition: 5, lingerMs: 60_000, batchBytes: 1000, deliveryTimeoutMs: 60_000, onReady: () => wakes++ });
  for (const v of ['1', '2', '3']) acc.append('t', 0, pending(v));
  acc.queue('t', 1).inFlight = 1;
  acc.append('t', 1, pending('4'));
  await Promise.resolve();
  t.equal(wakes, 1, 'woken once the burst is done, not after lingerMs');
  t.same(acc.poll(false).ready.map((q) => q.partition), [0], 'partition 0 sends its three records now; partition 1, with a batch on the wire, lingers');
  acc.stop();
});

t.test('with lingerMs 0 a burst of sends is ready once it is queued, without a timer', async (t) => {
  let wakes = 0;
  const acc = new RecordAccumulator({ inFlightPerPartition: 1, lingerMs: 0, batchBytes: 1000, deliveryTimeoutMs: 60_000, onReady: () => wakes++ });
  for (const v of ['1', '2', '3']) acc.append('t', 0, pending(v));
  acc.append('t', 1, pending('4'));
  t.equal(wakes, 0, 'not inside the burst');
  await Promise.resolve();
  t.equal(wakes, 1, 'once, as soon as the burst is done (a microtask, not a timer 1-2 ms later)');
  t.equal(acc.poll(false).ready.length, 2, 'both partitions send now');
  acc.stop();
});

t.test('records put back after a failure keep their order in front of newer ones', async (t) => {
  const acc = new RecordAccumulator({ inFlightPerPartition: 1, lingerMs: 0, batchBytes: 1000, deliveryTimeoutMs: 60_000, onReady: () => {} });
  for (const v of ['1', '2', '3']) acc.append('t', 0, pending(v));
  const queue = acc.queue('t', 0);
  const batch = acc.drain(queue);
  acc.append('t', 0, pending('4'));
  acc.putBack(queue, batch);
  t.same(acc.drain(queue).map((p) => p.record.value), ['1', '2', '3', '4']);
  t.equal(acc.bufferedBytes, 0);
});

t.test('options are validated once with errors that name the fix', async (t) => {
  t.throws(() => resolveProducerOptions({ acks: 'most' as never }), { code: 'INVALID_CONFIG', message: /acks must be one of 'all', 'leader', 'none'/ });
  t.throws(() => resolveProducerOptions({ lingerMs: -1 }), { code: 'INVALID_CONFIG', message: /lingerMs/ });
  t.throws(() => resolveProducerOptions({ idempotent: true, acks: 'leader' }), { code: 'INVALID_CONFIG', message: /use acks: 'all'/ });
  t.throws(() => resolveProducerOptions({ lingerMS: 5 } as never), { code: 'INVALID_CONFIG', message: /unknown producer option lingerMS/ });
  t.same(resolveProducerOptions({ lingerMs: undefined }).lingerMs, 2, 'undefined keeps the default');
  t.throws(() => resolveConsumerOptions({ readFrom: 'follower' as never }), { code: 'INVALID_CONFIG', message: /readFrom/ });
  t.throws(() => resolveConsumerOptions({ heartbeatIntervalMs: 5000, sessionTimeoutMs: 3000 }), { code: 'INVALID_CONFIG', message: /below sessionTimeoutMs/ });
  t.equal(resolveConsumerOptions({ readFrom: 2 }).readFrom, 2);
  t.throws(() => resolveClientOptions({ brokers: [] }), { code: 'INVALID_CONFIG', message: /at least one broker/ });
  t.throws(() => resolveClientOptions({ brokers: ['localhost'] }), { code: 'INVALID_CONFIG', message: /HOST:PORT/ });
  t.throws(() => new Client({ brokers: ['127.0.0.1:1'], requestTimeoutMs: 0 }), { name: 'FlotillaError', code: 'INVALID_CONFIG' });
});

t.test('subscribe/commit need a groupId; assign is synchronous and validated', async (t) => {
  const client = new Client({ brokers: ['127.0.0.1:1'] });
  const consumer = client.consumer();
  await t.rejects(consumer.subscribe({ topic: 't' }), { code: 'INVALID_REQUEST', message: /needs a consumer group/ });
  await t.rejects(consumer.commit(), { code: 'INVALID_REQUEST' });
  t.throws(() => consumer.assign([{ topic: 't', partition: -1, offset: 0 }]), { code: 'INVALID_REQUEST' });
  t.throws(() => consumer.assign([{ topic: 't', partition: 0, offset: 'first' as never }]), { code: 'INVALID_REQUEST' });
  for (const offset of [{ timestamp: -1 }, { timestamp: 1.5 }, { timestamp: 5, offset: 3 }, {}, null]) {
    t.throws(() => consumer.assign([{ topic: 't', partition: 0, offset: offset as never }]), { code: 'INVALID_REQUEST', message: /timestamp/ }, JSON.stringify(offset));
  }
  consumer.assign([{ topic: 't', partition: 0, offset: 'earliest' }, { topic: 't', partition: 1, offset: 5 }, { topic: 't', partition: 2, offset: { timestamp: 1_700_000_000_000 } }]);
  t.same(consumer.assignment(), [{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }, { topic: 't', partition: 2 }]);
  await client.close();
});

t.test('records from a fetch: positions below the start, control batches and a cut-off tail are skipped', async (t) => {
  const control = buildControlBatch(ControlType.NOOP, null);
  patchBatch(control, 10, 1);
  const batch = buildBatch([{ key: 'k', value: 'a', headers: { h: 'v' }, timestamp: 5 }, { value: 'b', timestamp: 6 }, { value: null, timestamp: 7 }]);
  patchBatch(batch, 11, 1);
  const tail = buildBatch([{ value: 'cut' }]);
  const bytes = Buffer.concat([control, batch, tail.subarray(0, tail.length - 3)]);
  const { messages, nextOffset } = messagesFrom(bytes, 't', 0, 12);
  t.same(messages.map((m) => [m.offset, m.value?.toString() ?? null]), [[12, 'b'], [13, null]]);
  t.equal(nextOffset, 14, 'next fetch starts after the last whole batch');
  const all = messagesFrom(bytes, 't', 0, 0);
  t.equal(all.messages[0]!.key!.toString(), 'k');
  t.equal(all.messages[0]!.headers['h']!.toString(), 'v');
  t.same(messagesFrom(control, 't', 0, 0), { messages: [], nextOffset: 11 }, 'a control batch alone still moves the position');
});

t.test('consume --format json lines have the SPEC shape; --binary switches key and value to base64', async (t) => {
  const message = { topic: 't', partition: 1, offset: 7, timestamp: 1000, key: Buffer.from('k'), value: Buffer.from('héllo'), headers: { h: Buffer.from('v') } };
  t.same(JSON.parse(messageToJson(message, false)), { topic: 't', partition: 1, offset: 7, timestamp: 1000, key: 'k', value: 'héllo', headers: { h: 'v' } });
  t.same(Object.keys(JSON.parse(messageToJson(message, false))), ['topic', 'partition', 'offset', 'timestamp', 'key', 'value', 'headers']);
  const binary = JSON.parse(messageToJson({ ...message, key: null }, true));
  t.equal(binary.key, null, 'key null when absent');
  t.equal(Buffer.from(binary.value, 'base64').toString(), 'héllo');
  t.equal(messageToText(message, false), 'héllo');
  t.equal(messageToText({ ...message, value: null }, false), '');
});

t.test('produce splits lines at the first key separator', async (t) => {
  t.same(splitLine('a:b:c', { keySeparator: ':' }), { key: 'a', value: 'b:c' });
  t.same(splitLine('plain', { keySeparator: ':' }), { key: null, value: 'plain' });
  t.same(splitLine('v', { key: 'K' }), { key: 'K', value: 'v' });
  t.same(splitLine('v', {}), { key: null, value: 'v' });
});

t.test('tables align columns', async (t) => {
  t.equal(formatTable(['ID', 'ADDRESS'], [[1, '127.0.0.1:7401'], [10, null]]), 'ID  ADDRESS\n1   127.0.0.1:7401\n10  -');
});

t.test('broker start flags become a validated BrokerConfig; dev builds one command line per broker', async (t) => {
  const config = brokerConfigFrom({ id: 2, listen: '127.0.0.1:7402', data: '/tmp/x', initialCluster: '1=127.0.0.1:7401,2=127.0.0.1:7402', maxFrameBytes: 2048 });
  t.equal(config.id, 2);
  t.equal(config.advertise, '127.0.0.1:7402');
  t.equal(config.initialCluster.get(1), '127.0.0.1:7401');
  t.equal(config.maxFrameBytes, 2048);
  t.equal(config.scrubIntervalMs, 30_000, 'a scrub pass starts at most every 30 s by default');
  const base = { id: 1, listen: '127.0.0.1:7401', data: '/tmp/x', initialCluster: '1=127.0.0.1:7401' };
  t.equal(brokerConfigFrom({ ...base, scrubIntervalMs: 2000 }).scrubIntervalMs, 2000, '--scrub-interval-ms');
  t.throws(() => brokerConfigFrom({ ...base, scrubIntervalMs: 0 }), { code: 'INVALID_CONFIG', message: /scrubIntervalMs must be a positive integer/ });
  t.throws(() => brokerConfigFrom({ id: 3, listen: '127.0.0.1:7403', data: '/tmp/x', initialCluster: '1=127.0.0.1:7401' }), { code: 'INVALID_CONFIG', message: /does not name this broker/ });
  t.throws(() => brokerConfigFrom({ id: 1, listen: '127.0.0.1:7401', data: '/tmp/x', initialCluster: '1=127.0.0.1:7401', join: '127.0.0.1:7402' }), { code: 'INVALID_CONFIG', message: /not both/ });
  const args = devCommandLine(2, { brokers: 3, data: 'data/dev', basePort: 7401, logLevel: 'warn' });
  t.same(args.slice(0, 6), ['broker', 'start', '--id', '2', '--listen', '127.0.0.1:7402']);
  t.ok(args.includes('1=127.0.0.1:7401,2=127.0.0.1:7402,3=127.0.0.1:7403'));
  t.same(args.slice(6, 8), ['--kafka-listen', '127.0.0.1:9093'], 'broker 2 speaks Kafka on 9093 with the default base port');
  const kafka = brokerConfigFrom({ id: 1, listen: '127.0.0.1:7401', data: '/tmp/x', kafkaListen: '0.0.0.0:9092', kafkaAdvertise: 'kafka-1:9092' });
  t.equal(kafka.kafkaAdvertise, 'kafka-1:9092');
  t.equal(brokerConfigFrom({ id: 1, listen: '127.0.0.1:7401', data: '/tmp/x', kafkaListen: '127.0.0.1:9092' }).kafkaAdvertise, '127.0.0.1:9092', '--kafka-advertise defaults to --kafka-listen');
  t.throws(() => brokerConfigFrom({ id: 1, listen: '127.0.0.1:7401', data: '/tmp/x', kafkaAdvertise: 'kafka-1:9092' }), { code: 'INVALID_CONFIG', message: /needs --kafka-listen/ });
  t.equal(brokerConfigFrom({ id: 1, listen: '127.0.0.1:7401', data: '/tmp/x', rack: 'eu-west-1a' }).rack, 'eu-west-1a');
  for (const rack of ['', 'two words', 'r'.repeat(256)]) {
    t.throws(() => brokerConfigFrom({ id: 1, listen: '127.0.0.1:7401', data: '/tmp/x', rack }), { code: 'INVALID_CONFIG', message: /--rack must be/ }, `--rack "${rack.slice(0, 12)}"`);
  }
});

t.test('a pino logger is accepted as the client logger', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const client = new Client({ brokers: ['127.0.0.1:1'], logger, requestTimeoutMs: 200, retryBackoffMs: 50 });
  await t.rejects(client.admin().listTopics(), { code: 'BROKER_NOT_AVAILABLE' });
  t.ok(lines.some((l) => l.includes('request failed')), 'the client logged through it');
  await client.close();
});

t.test('FlotillaError is the root export', async (t) => {
  const error = new FlotillaError('NOT_LEADER');
  t.equal(error.retriable, true);
});
