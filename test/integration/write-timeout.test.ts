/**
 * --write-timeout-ms with a real broker: a client that pipelines large fetches and stops
 * reading is closed once it has taken none of its responses for that long, on the native
 * port and on the Kafka listener (what it held of the response budgets is released on
 * close, as response-budget.test.ts shows); a client that reads slowly, with pauses well
 * inside the timeout, is served to the end. (Without the timeout such a client kept its
 * budget until its idle timeout, 10 minutes.)
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { readFrames } from '../../protocol/frame.js';
import { encodeRequest } from '../../protocol/kafka/index.js';
import { openSocket, requestFrame } from '../../bench/raw-client.js';
import { startCluster, waitFor } from './cluster.js';

const MiB = 1024 * 1024;
const WRITE_TIMEOUT_MS = 3_000;
const TOPIC = 'big';
const FETCH_BYTES = 2 * MiB;

const { cluster, client } = await startCluster(t, { brokers: 1, fsync: 'never', kafka: true, extraArgs: ['--write-timeout-ms', String(WRITE_TIMEOUT_MS)] });
await client.admin().createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 1 });
const producer = client.producer({ acks: 'all' });
const value = Buffer.alloc(1024, 7);
await Promise.all(Array.from({ length: 4 * 1024 }, () => producer.send({ topic: TOPIC, partition: 0, value }))); // 4 MiB: every fetch is full
const broker = cluster.brokers.get(1)!;

function nativeFetches(count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, () =>
    requestFrame({ fetch: { partitions: [{ topic: TOPIC, partition: 0, offset: 0, maxBytes: FETCH_BYTES }], maxBytes: FETCH_BYTES, maxWaitMs: 0, minBytes: 1 } }).frame));
}

/**
 * Waits for the broker to log that it closed a stalled connection (`what`: "client" or
 * "Kafka"), the `nth` such line, and returns how long it said the client took nothing.
 * (The stalled socket itself cannot tell: paused, it reads neither data nor the close.)
 */
async function brokerClosed(what: string, nth: number): Promise<number> {
  const lines = () => cluster.logs(1).split('\n').filter((line) => line.includes(`closed a ${what} connection that took none of its responses`));
  await waitFor(`the broker to close the stalled ${what} connection`, () => lines().length >= nth, 30_000);
  return JSON.parse(lines()[nth - 1]!).waitedMs as number;
}

/** Resumes a stalled socket: resolves with the bytes it read before the broker's close reached it. */
function drainToClose(socket: Socket): Promise<number> {
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(bytes)));
  socket.resume();
  return closed;
}

t.test('a native client that stops reading is closed after --write-timeout-ms; others are served meanwhile', async (t) => {
  const stalled = await openSocket(broker.address);
  t.teardown(() => stalled.destroy());
  stalled.pause();
  stalled.write(nativeFetches(64)); // 128 MiB of answers: far past what the socket buffers take

  const ack = await producer.send({ topic: TOPIC, partition: 0, value: 'honest' });
  t.ok(ack.offset >= 4096, 'an honest produce is answered while the stalled client holds its budget');

  const waitedMs = await brokerClosed('client', 1);
  t.ok(waitedMs >= WRITE_TIMEOUT_MS, `closed once it had taken nothing for ${waitedMs} ms, not before the timeout`);
  const read = await drainToClose(stalled);
  t.ok(read < 64 * FETCH_BYTES, `the connection ends after ${(read / MiB).toFixed(1)} of 128 MiB of answers`);
});

t.test('a native client that reads slowly, pausing well inside the timeout, gets every answer', async (t) => {
  const FETCHES = 24;
  const reader = await openSocket(broker.address);
  t.teardown(() => reader.destroy());
  let answered = 0;
  const done = new Promise<void>((resolve, reject) => {
    readFrames(reader, {
      onFrame: () => {
        if (++answered === FETCHES) resolve();
        // A pause after every answer: a slow consumer, not a stopped one.
        reader.pause();
        setTimeout(() => reader.resume(), 100);
      },
      onClose: (error) => reject(error ?? new Error(`closed after ${answered} of ${FETCHES} answers`)),
    }, { maxFrameBytes: 64 * MiB, idleTimeoutMs: 0 });
  });
  reader.write(nativeFetches(FETCHES));
  await done;
  t.equal(answered, FETCHES, 'every pipelined fetch answered, the connection still open');
});

t.test('a Kafka client that stops reading is closed after --write-timeout-ms', async (t) => {
  const [host, port] = broker.kafkaAddress!.split(':');
  const stalled = connect({ host: host!, port: Number(port) });
  t.teardown(() => stalled.destroy());
  stalled.on('error', () => undefined);
  await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
  stalled.pause();
  for (let i = 0; i < 64; i++) {
    const chunks = encodeRequest('Fetch', { apiVersion: 11, correlationId: i + 1, clientId: 'stalled' }, {
      replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: FETCH_BYTES, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: FETCH_BYTES }] }], forgottenTopicsData: [], rackId: '',
    });
    for (const chunk of chunks) stalled.write(chunk);
  }
  const waitedMs = await brokerClosed('Kafka', 1);
  t.ok(waitedMs >= WRITE_TIMEOUT_MS, `closed once it had taken nothing for ${waitedMs} ms, not before the timeout`);
  const read = await drainToClose(stalled);
  t.ok(read < 64 * FETCH_BYTES, `the connection ends after ${(read / MiB).toFixed(1)} of 128 MiB of answers`);
});
