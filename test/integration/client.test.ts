/**
 * The client and CLI against a real broker: bad input gets a clear FlotillaError, and the
 * CLI round-trips a million lines.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, startCluster } from './cluster.js';

t.test('bad input to the client gets a clear FlotillaError', async (t) => {
  const { client } = await startCluster(t, { brokers: 1 }, { requestTimeoutMs: 3000 });
  await client.admin().createTopic({ topic: 'known', partitions: 1, replicationFactor: 1, timeoutMs: 20_000 });

  const producer = client.producer({ deliveryTimeoutMs: 5000 });
  const started = Date.now();
  await t.rejects(producer.send({ topic: 'nope', value: 'x' }), { name: 'FlotillaError', code: 'UNKNOWN_TOPIC', retriable: false }, 'a send to an unknown topic');
  t.ok(Date.now() - started < 3000 + 1000, 'UNKNOWN_TOPIC surfaces within requestTimeoutMs');

  const huge = Buffer.alloc(17 * 1024 * 1024, 7);
  await t.rejects(producer.send({ topic: 'known', value: huge }), { name: 'FlotillaError', code: 'RECORD_TOO_LARGE' }, 'a record over the 16 MiB frame limit');
  t.ok((await producer.send({ topic: 'known', value: 'fine' })).offset >= 0, 'the producer goes on after refusing a record');

  await producer.close();
  await t.resolves(producer.close(), 'closing a producer twice is harmless');
  await t.rejects(producer.send({ topic: 'known', value: 'late' }), { name: 'FlotillaError', code: 'INVALID_REQUEST' }, 'a send after close');

  const consumer = client.consumer({});
  const iterate = async () => {
    for await (const m of consumer) return m;
    return undefined;
  };
  await t.rejects(iterate(), { name: 'FlotillaError', code: 'INVALID_REQUEST' }, 'iterating a consumer without an assignment');
  await consumer.close();
});

/** Runs the CLI with stdin from `input` (a file) and stdout to `output` (a file). */
function cli(args: string[], input: string | null, output: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.pipe(createWriteStream(output));
    if (input) createReadStream(input).pipe(child.stdin);
    else child.stdin.end();
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

t.test('the CLI round-trips a file of 1,000,000 lines', async (t) => {
  const { cluster, client } = await startCluster(t);
  await client.admin().createTopic({ topic: 'lines', partitions: 1, replicationFactor: 3 });
  const lines = Array.from({ length: 1_000_000 }, (_, i) => `line ${i} ${'abcdefghij'.slice(0, i % 11)}`);
  const input = join(cluster.root, 'in.txt');
  const output = join(cluster.root, 'out.txt');
  writeFileSync(input, lines.join('\n') + '\n');
  const brokers = ['--brokers', cluster.bootstrap.join(',')];

  const produced = await cli(['produce', 'lines', ...brokers], input, join(cluster.root, 'produce.out'));
  t.equal(produced.code, 0, `produce exits 0 (${produced.stderr.trim()})`);
  const consumed = await cli(['consume', 'lines', '--offset', 'earliest', '--count', '1000000', ...brokers], null, output);
  t.equal(consumed.code, 0, `consume exits 0 (${consumed.stderr.trim()})`);
  const back = readFileSync(output, 'utf8').split('\n');
  back.pop();
  t.equal(back.length, 1_000_000, 'a million lines came back');
  t.ok(back.every((line, i) => line === lines[i]), 'every line came back, in order');
});

t.test('an idempotent producer sending at a steady rate settles every send after the application stops, without flush()', async (t) => {
  // The stall this guards against: records queued behind a batch in flight were sent only
  // when a later send filled a batch, so acks stopped for seconds and, once the
  // application stopped sending, the last sends never settled.
  const { client } = await startCluster(t);
  await client.admin().createTopic({ topic: 'steady', partitions: 6, replicationFactor: 3 });
  const producer = client.producer({ idempotent: true });
  const value = Buffer.alloc(1024, 1);
  const pending = new Set<Promise<unknown>>();
  const ackTimes: number[] = [];
  let failed = 0;
  const total = 4_000;
  for (let i = 0; i < total; i++) {
    const send = producer.send({ topic: 'steady', value }).then(
      () => ackTimes.push(Date.now()),
      () => failed++,
    );
    pending.add(send);
    void send.finally(() => pending.delete(send));
    if (i % 2 === 1) await new Promise((r) => setTimeout(r, 1)); // about 2,000 records/s at most
  }
  const stoppedAt = Date.now();
  await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 20_000))]);
  t.equal(pending.size, 0, 'every send settled without flush()');
  t.equal(failed, 0, 'and none failed');
  ackTimes.sort((a, b) => a - b);
  let longestGap = 0;
  for (let i = 1; i < ackTimes.length; i++) longestGap = Math.max(longestGap, ackTimes[i]! - ackTimes[i - 1]!);
  t.comment(`last ack ${ackTimes[ackTimes.length - 1]! - stoppedAt} ms after the last send; longest window without an ack ${longestGap} ms`);
  await producer.close();
});
