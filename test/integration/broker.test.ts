/**
 * The broker end to end: real broker processes on 127.0.0.1, real files, the real client.
 */
import t from 'tap';
import { connect, createServer } from 'node:net';
import { mkdirSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Client } from '../../client/index.js';
import { encodeFrame } from '../../protocol/frame.js';
import { encodeRequest, decodeResponse } from '../../protocol/codec.js';
import { CLI, ProcessCluster, freeDevBasePort, freePort, runCli, startCluster, waitFor } from './cluster.js';

type Stored = { offset: number; key: string; value: string };

/**
 * Reads partition `partition` of `topic` from one replica until a record at `lastOffset`
 * or later arrives, or `timeoutMs` passes (then returns what it has).
 */
async function readReplica(client: Client, topic: string, partition: number, brokerId: number, lastOffset: number, timeoutMs = 10_000): Promise<Stored[]> {
  const consumer = client.consumer({ readFrom: brokerId, maxWaitMs: 200 });
  consumer.assign([{ topic, partition, offset: 'earliest' }]);
  const out: Stored[] = [];
  const deadline = setTimeout(() => void consumer.close(), timeoutMs);
  try {
    for await (const m of consumer) {
      out.push({ offset: m.offset, key: m.key?.toString() ?? '', value: m.value?.toString() ?? '' });
      if (m.offset >= lastOffset) break;
    }
  } finally {
    clearTimeout(deadline);
    await consumer.close();
  }
  return out;
}

async function highWatermarks(client: Client, topic: string): Promise<number[]> {
  const description = await client.admin().describeTopic(topic);
  return description.partitions.map((p) => p.highWatermark);
}

t.test('a 3-broker cluster replicates acks=all records to every replica, byte for byte', async (t) => {
  const { cluster, client } = await startCluster(t);
  // Started by the `flotilla` executable, as users start them: its thread pool sized for fsyncs.
  for (const id of [1, 2, 3]) {
    t.match(cluster.logs(id), /"threadPool":16,"nodeFlags":\["--initial-old-space-size=128"\],"msg":"broker started"/, `broker ${id} runs 16 pool threads and the launcher's node flags`);
  }
  const admin = client.admin();
  await admin.createTopic({ topic: 'orders', partitions: 6, replicationFactor: 3 });
  const description = await admin.describeTopic('orders');
  t.equal(description.partitions.length, 6);
  for (const p of description.partitions) {
    t.ok(p.leader, `partition ${p.partition} has a leader`);
    t.same([...p.replicas].sort(), [1, 2, 3]);
  }

  const producer = client.producer({ acks: 'all' });
  const sent = new Map<number, Stored[]>();
  const acks = await Promise.all(
    Array.from({ length: 3000 }, (_, i) => producer.send({ topic: 'orders', key: `k${i % 97}`, value: `value-${i}-${'x'.repeat(i % 50)}` })),
  );
  acks.forEach((ack, i) => {
    const list = sent.get(ack.partition) ?? [];
    list.push({ offset: ack.offset, key: `k${i % 97}`, value: `value-${i}-${'x'.repeat(i % 50)}` });
    sent.set(ack.partition, list);
  });
  await producer.close();

  // Followers learn the commit index with the next append or heartbeat.
  await waitFor('all replicas at the same high watermark', async () => {
    const hw = await highWatermarks(client, 'orders');
    return hw.every((h, p) => h > Math.max(...(sent.get(p) ?? [{ offset: -1 }]).map((s) => s.offset)));
  });
  for (const [partition, records] of sent) {
    records.sort((a, b) => a.offset - b.offset);
    const last = records[records.length - 1]!.offset;
    for (const brokerId of [1, 2, 3]) {
      const stored = await readReplica(client, 'orders', partition, brokerId, last);
      t.same(stored, records, `partition ${partition} on broker ${brokerId} holds exactly what was acknowledged`);
    }
  }
});

t.test('topics created at once each get their own Raft groups: every broker stays up, every partition takes records', async (t) => {
  const { cluster, client } = await startCluster(t);
  const admin = client.admin();
  const topics = Array.from({ length: 6 }, (_, i) => `burst-${i}`);
  // One request each, all in flight together, as several admins (or a script) would send them.
  await Promise.all(topics.map((topic) => admin.createTopic({ topic, partitions: 20, replicationFactor: 3 })));
  const producer = client.producer({ acks: 'all' });
  for (const topic of topics) {
    const acks = await Promise.all(Array.from({ length: 20 }, (_, partition) => producer.send({ topic, partition, value: `${topic}/${partition}` })));
    t.same(acks.map((a) => a.partition), Array.from({ length: 20 }, (_, partition) => partition), `${topic}: every partition took a record`);
    const stored = await readReplica(client, topic, 19, 1, acks[19]!.offset);
    t.equal(stored.at(-1)?.value, `${topic}/19`, `${topic}: its last partition serves the record from broker 1`);
  }
  await producer.close();
  for (const id of [1, 2, 3]) t.ok(cluster.running(id), `broker ${id} is still running`);
});

t.test('kill -9 of a partition leader while producing loses no acknowledged record', async (t) => {
  const { cluster, client } = await startCluster(t, {}, { requestTimeoutMs: 5_000 });
  const admin = client.admin();
  await admin.createTopic({ topic: 'payments', partitions: 1, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all', deliveryTimeoutMs: 30_000 });

  const acked: Stored[] = [];
  const errors: string[] = [];
  let stop = false;
  let next = 0;
  const writer = (async () => {
    while (!stop) {
      const value = `payment-${next++}`;
      try {
        const ack = await producer.send({ topic: 'payments', partition: 0, value });
        acked.push({ offset: ack.offset, key: '', value });
      } catch (error) {
        // Unknown outcome: not counted as acknowledged.
        errors.push(String(error));
      }
    }
  })();
  await waitFor('some records acknowledged', () => acked.length > 200);
  const leader = (await admin.describeTopic('payments')).partitions[0]!.leader!;
  const countAtKill = acked.length;
  const killedAt = Date.now();
  await cluster.kill(leader);
  try {
    await waitFor('a new leader accepting writes', () => acked.length > countAtKill + 50, 20_000);
  } catch (error) {
    stop = true;
    t.comment(errors.slice(-5).join('\n'));
    for (const id of [1, 2, 3]) t.comment(`broker ${id}: ${cluster.logs(id).slice(-1500)}`);
    throw error;
  }
  const failover = Date.now() - killedAt;
  t.ok(failover < 2000 + 3000, `a new leader served within 3 s of the 2 s maximum election timeout (took ${failover} ms)`);

  cluster.restart(leader);
  await new Promise((r) => setTimeout(r, 1000));
  stop = true;
  await writer;
  await producer.close();

  acked.sort((a, b) => a.offset - b.offset);
  const until = acked[acked.length - 1]!.offset + 1;
  await waitFor('the restarted broker catching up', async () => {
    const hw = await highWatermarks(client, 'payments');
    return hw[0]! >= until;
  });
  for (const brokerId of [1, 2, 3]) {
    const stored = await waitFor(`broker ${brokerId} serving the acknowledged range`, async () => {
      const records = await readReplica(client, 'payments', 0, brokerId, until - 1, 3000);
      return records.length > 0 && records[records.length - 1]!.offset >= until - 1 ? records : null;
    });
    const byOffset = new Map(stored.map((s) => [s.offset, s.value]));
    const missing = acked.filter((a) => byOffset.get(a.offset) !== a.value);
    t.same(missing, [], `broker ${brokerId} (killed: ${brokerId === leader}) holds every acknowledged record`);
  }
});

t.test('a broker whose newest segment was cut mid-batch restarts and catches up', async (t) => {
  const { cluster, client } = await startCluster(t);
  const admin = client.admin();
  await admin.createTopic({ topic: 'events', partitions: 1, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all' });
  await Promise.all(Array.from({ length: 500 }, (_, i) => producer.send({ topic: 'events', partition: 0, value: `event-${i}` })));

  const leader = (await admin.describeTopic('events')).partitions[0]!.leader;
  const victim = [1, 2, 3].find((id) => id !== leader)!;
  await cluster.stop(victim);
  const dir = readdirSync(cluster.brokers.get(victim)!.dataDir).find((d) => d.startsWith('events-0'))!;
  const segmentDir = join(cluster.brokers.get(victim)!.dataDir, dir);
  const segment = readdirSync(segmentDir).filter((f) => f.endsWith('.log')).sort().pop()!;
  const path = join(segmentDir, segment);
  const size = statSync(path).size;
  truncateSync(path, size - 37); // mid-way through the last batch
  t.ok(statSync(path).size < size, 'the tail was cut');

  const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => producer.send({ topic: 'events', partition: 0, value: `later-${i}` })));
  await producer.close();
  cluster.restart(victim);
  const lastAcked = Math.max(...acks.map((a) => a.offset));
  const reference = await readReplica(client, 'events', 0, [1, 2, 3].find((id) => id !== victim)!, lastAcked);
  let lastSeen = '';
  const healed = await waitFor('the cut replica matching the others', async () => {
    const stored = await readReplica(client, 'events', 0, victim, lastAcked, 3000);
    lastSeen = `victim served ${stored.length} records up to offset ${stored.at(-1)?.offset}; the others ${reference.length} up to ${lastAcked}`;
    return stored.length === reference.length ? stored : null;
  }).catch((error) => {
    t.comment(lastSeen);
    t.comment(cluster.logs(victim).slice(-3000));
    throw error;
  });
  t.same(healed, reference, 'the restarted replica holds the same records as the others');
  t.equal(reference.length, 700);
});

t.test('bad input closes only the offending connection', async (t) => {
  const { cluster, client } = await startCluster(t, { brokers: 1 });
  const admin = client.admin();
  await admin.createTopic({ topic: 'steady', partitions: 1, replicationFactor: 1 });
  const [host, port] = cluster.bootstrap[0]!.split(':') as [string, string];

  /** Sends `bytes`, returns what came back before the broker closed the connection. */
  const exchange = (bytes: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const socket = connect({ host, port: Number(port) }, () => socket.write(bytes));
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.on('error', () => undefined);
      setTimeout(() => reject(new Error('the broker did not close the connection')), 10_000).unref();
    });

  t.equal((await exchange(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).length, 0, 'a wrong connection-type byte is closed without an answer');
  await exchange(Buffer.concat([Buffer.of(0x02), encodeFrame(Buffer.from('not a handshake'))]));
  t.pass('a stranger on the peer byte is closed');

  const oversized = Buffer.concat([Buffer.of(0x01), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x01])]); // 256 MiB prefix, no body
  await exchange(oversized);
  t.pass('an oversized frame prefix is refused before any body arrives');

  const garbage = Buffer.concat([Buffer.of(0x01), encodeFrame(Buffer.concat([Buffer.from([0x08, 0x2a]), Buffer.alloc(20, 0xff)]))]);
  const reply = await exchange(garbage);
  t.ok(reply.length > 0, 'a frame that does not decode gets an answer');
  const response = decodeResponse(reply.subarray(1));
  t.equal(response.correlationId, 42);
  t.equal(response.error?.code, 8, 'INVALID_REQUEST');

  const unknownTopic = Buffer.concat([Buffer.of(0x01), encodeFrame(encodeRequest({ correlationId: 7, apiVersion: 1, produce: { partitions: [{ topic: 'nope', partition: 0, batch: Buffer.alloc(0) }] } }))]);
  const socket = connect({ host, port: Number(port) });
  socket.write(unknownTopic);
  const answer = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.destroy();
  t.equal(decodeResponse(answer.subarray(1)).produce?.partitions[0]?.error?.code, 4, 'UNKNOWN_TOPIC for a topic that does not exist');

  const producer = client.producer({ acks: 'all' });
  const ack = await producer.send({ topic: 'steady', value: 'still here' });
  t.equal(ack.offset >= 0, true, 'the broker and its other clients go on');
  await producer.close();
});

t.test('a broker whose port is taken says which flag and exits 1, closing what it had opened', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  for (const flag of ['--listen', '--kafka-listen', '--http-listen']) {
    const squatter = createServer();
    const taken = await freePort();
    await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
    const address = (port: number) => `127.0.0.1:${port}`;
    const ports = { '--listen': flag === '--listen' ? taken : await freePort(), '--kafka-listen': flag === '--kafka-listen' ? taken : await freePort(), '--http-listen': flag === '--http-listen' ? taken : await freePort() };
    const listen = address(ports['--listen']);
    const run = await runCli([
      'broker', 'start', '--id', '1', '--listen', listen, '--initial-cluster', `1=${listen}`, '--data', join(cluster.root, flag.slice(2)),
      '--kafka-listen', address(ports['--kafka-listen']), '--http-listen', address(ports['--http-listen']),
    ]);
    await new Promise((resolve) => squatter.close(resolve));
    t.equal(run.code, 1, `${flag}: exits 1`);
    t.match(run.stderr, `error: INVALID_CONFIG: cannot listen on ${address(taken)} (${flag}): the address is already in use`, `${flag}: names the flag and the address`);
    t.match(run.stdout, '"msg":"broker stopped"', `${flag}: stopped what had started before exiting`);
  }
});

t.test('flotilla dev names a port already in use and starts nothing', async (t) => {
  const basePort = await freeDevBasePort();
  const kafkaOfBroker2 = basePort + 1691 + 1;
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(kafkaOfBroker2, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  const dev = await runCli(['dev', '--base-port', String(basePort), '--data', join(cluster.root, 'dev')]);
  t.equal(dev.code, 1, 'exits 1');
  t.match(dev.stderr, `port ${kafkaOfBroker2} (broker 2's Kafka listener) cannot be used: EADDRINUSE; pick another --base-port`);
  t.notOk(dev.stdout.includes('broker 1:'), 'no broker was started');
});

t.test('flotilla dev stops every broker and exits 1 when one cannot start', async (t) => {
  const basePort = await freeDevBasePort();
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  const data = join(cluster.root, 'dev');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, '2'), 'a file where broker 2 keeps its data directory');
  const dev = await runCli(['dev', '--base-port', String(basePort), '--data', data]);
  t.equal(dev.code, 1, 'exits 1');
  t.match(dev.stderr, /broker 2 exited unexpectedly/);
  t.match(dev.stderr, 'the cluster never became ready; stopping the other brokers');
  t.notOk(dev.stdout.includes('cluster ready'), 'never says ready');
  for (const port of [basePort, basePort + 2]) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(false)));
      socket.on('error', () => resolve(true));
    });
    t.ok(refused, `nothing listens on ${port} any more`);
  }
});

t.test('flotilla dev starts three brokers and stops them all on Ctrl-C', async (t) => {
  const basePort = await freeDevBasePort();
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  const child = spawn(process.execPath, [CLI, 'dev', '--base-port', String(basePort), '--data', join(cluster.root, 'dev')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  await waitFor('three broker addresses printed', () => [0, 1, 2].every((i) => output.includes(`127.0.0.1:${basePort + i}`)), 30_000);
  t.ok([0, 1, 2].every((i) => output.includes(`Kafka 127.0.0.1:${basePort + 1691 + i}`)), 'and their Kafka listeners');
  const client = new Client({ brokers: [`127.0.0.1:${basePort}`], requestTimeoutMs: 5000 });
  const status = await waitFor('all three brokers alive', async () => {
    const c = await client.admin().describeCluster();
    return c.brokers.length === 3 && c.brokers.every((b) => b.alive) ? c : null;
  }, 30_000);
  t.equal(status.brokers.length, 3);
  await client.close();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  t.equal(await exited, 0, 'exits 0 once all brokers have stopped');
});
