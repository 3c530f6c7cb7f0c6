/**
 * Admin commands retried after a lost answer, on real broker processes. The CLI talks to
 * a broker through a proxy that swallows the answer to the first request of a kind: that
 * attempt times out at the client although the broker carried it out, whatever the
 * machine's speed, and the client's retry must then succeed.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../../client/index.js';
import { decodeRequest, peekCorrelationId } from '../../protocol/codec.js';
import type { Request } from '../../protocol/client.schema.js';
import { ConnectionType, encodeFrame, readFrames, routeConnection, writeConnectionType } from '../../protocol/frame.js';
import { CLI, freePort, runCli, startCluster, waitFor } from './cluster.js';

type RequestKind = NonNullable<Request['body']>;

/** Forwards client connections to `target`; `loseNext(kind)` drops the answer to the next such request. */
class LosingProxy {
  readonly lost: RequestKind[] = [];
  readonly seen: RequestKind[] = [];
  private readonly toLose = new Set<RequestKind>();
  private readonly sockets = new Set<net.Socket>();
  private readonly server = net.createServer((socket) => {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    routeConnection(socket, { client: (s) => this.forward(s), peer: (s) => s.destroy() });
  });

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  loseNext(kind: RequestKind): void {
    this.toLose.add(kind);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: net.Socket): void {
    const broker = net.connect(this.target);
    this.sockets.add(broker);
    broker.on('close', () => this.sockets.delete(broker));
    writeConnectionType(broker, ConnectionType.CLIENT);
    // The kind of each request whose answer is to be lost, by correlation id: other
    // requests may pass the proxy before that answer comes back.
    const losing = new Map<number, RequestKind>();
    const frames = { frameTimeoutMs: 0, idleTimeoutMs: 0 };
    readFrames(client, {
      onFrame: (frame) => {
        const request = decodeRequest(frame);
        this.seen.push(request.body!);
        if (this.toLose.delete(request.body!)) losing.set(request.correlationId, request.body!);
        broker.write(encodeFrame(frame));
      },
      onClose: () => broker.destroy(),
    }, frames);
    readFrames(broker, {
      onFrame: (frame) => {
        const id = peekCorrelationId(frame);
        const kind = id === undefined ? undefined : losing.get(id);
        if (kind !== undefined) {
          losing.delete(id!);
          this.lost.push(kind);
          return;
        }
        client.write(encodeFrame(frame));
      },
      onClose: () => client.destroy(),
    }, frames);
  }
}

interface Run {
  status: number | null;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/**
 * One broker listening on a port of its own, whose metadata names the proxy as its
 * address, so that every request of a client goes through the proxy.
 */
async function brokerBehindProxy(t: { teardown(fn: () => unknown): void }): Promise<{ proxy: LosingProxy; address: string; client: Client }> {
  const root = mkdtempSync(join(tmpdir(), 'flotilla-it-'));
  const [listen, advertised] = [await freePort(), await freePort()];
  const proxy = new LosingProxy({ host: '127.0.0.1', port: listen });
  await proxy.listen(advertised);
  const address = `127.0.0.1:${advertised}`;
  const child = spawn(process.execPath, [
    CLI, 'broker', 'start', '--id', '1', '--listen', `127.0.0.1:${listen}`, '--initial-cluster', `1=${address}`,
    '--data', join(root, 'broker-1'), '--fsync', 'never', '--log-level', 'warn',
  ], { stdio: 'ignore' });
  const client = new Client({ brokers: [address], requestTimeoutMs: 10_000 });
  t.teardown(async () => {
    await client.close();
    await proxy.close();
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  });
  await waitFor('a controller', async () => (await client.admin().describeCluster()).controller);
  return { proxy, address, client };
}

t.test('topic create, delete and alter whose first answer was lost are retried and exit 0', async (t) => {
  const { proxy, address, client } = await brokerBehindProxy(t);
  const admin = client.admin();
  const global = ['--brokers', address, '--timeout-ms', '1000'];

  proxy.loseNext('createTopics');
  const created = await cli(['topic', 'create', 'wide', '--partitions', '50', '--replication', '1', '--retention-ms', '3600000', ...global]);
  t.equal(created.status, 0, created.stderr);
  t.match(created.stderr, /created topic wide with 50 partitions/);
  t.same(proxy.lost, ['createTopics'], 'the first attempt lost its answer');
  t.equal(proxy.seen.filter((k) => k === 'createTopics').length, 2, 'and was retried once');
  const described = await admin.describeTopic('wide');
  t.equal(described.partitions.length, 50);
  t.ok(described.partitions.every((p) => p.replicas.length === 1), 'replication 1');
  t.equal(Number(described.config.retentionMs), 3_600_000);

  const again = await cli(['topic', 'create', 'wide', '--partitions', '50', '--replication', '1', '--retention-ms', '3600000', ...global]);
  t.equal(again.status, 0, `the same create run again succeeds: ${again.stderr}`);
  await admin.createTopic({ topic: 'wide', partitions: 50, replicationFactor: 1, config: { retentionMs: 3_600_000 } });
  t.pass('and so does the same create through the client library');

  const other = await cli(['topic', 'create', 'wide', '--partitions', '60', '--replication', '1', ...global]);
  t.equal(other.status, 1);
  t.match(other.stderr, /^error: TOPIC_EXISTS: topic "wide" already exists with other settings: partitions 50 \(requested 60\), retentionMs 3600000 \(requested 604800000\)\n$/);
  await t.rejects(admin.createTopic({ topic: 'wide', partitions: 50, replicationFactor: 1 }), { code: 'TOPIC_EXISTS', message: /retentionMs 3600000 \(requested 604800000\)/ });

  proxy.loseNext('alterTopicConfig');
  const altered = await cli(['topic', 'alter', 'wide', '--retention-ms', '7200000', ...global]);
  t.equal(altered.status, 0, altered.stderr);
  t.same(proxy.lost, ['createTopics', 'alterTopicConfig']);
  t.equal(Number((await admin.describeTopic('wide')).config.retentionMs), 7_200_000);

  proxy.loseNext('deleteTopics');
  const deleted = await cli(['topic', 'delete', 'wide', ...global]);
  t.equal(deleted.status, 0, deleted.stderr);
  t.same(proxy.lost, ['createTopics', 'alterTopicConfig', 'deleteTopics']);
  t.notOk((await admin.listTopics()).includes('wide'), 'the topic is gone');
  const deletedAgain = await cli(['topic', 'delete', 'wide', ...global]);
  t.equal(deletedAgain.status, 1, 'deleting a topic that is not there still fails');
  t.match(deletedAgain.stderr, /^error: UNKNOWN_TOPIC: /);
});

// The second ask follows the first at once, while the replicas are still catching up; had the
// move finished already, the ask is still a success: either way the verdict is the same.
t.test('a partition move asked again, during the move or after it, succeeds', async (t) => {
  const { client } = await startCluster(t, { brokers: 3, fsync: 'never' });
  const admin = client.admin();
  await admin.createTopic({ topic: 'moving', partitions: 1, replicationFactor: 1 });
  const [from] = (await admin.describeTopic('moving')).partitions[0]!.replicas;
  const target = [1, 2, 3].filter((id) => id !== from);
  await admin.movePartition('moving', 0, target);
  await admin.movePartition('moving', 0, target);
  t.pass('the same move asked twice in a row succeeds');
  await waitFor('the move to finish', async () => {
    const p = (await admin.describeTopic('moving')).partitions[0]!;
    return [...p.replicas].sort().join() === target.join() && [...p.inSync].sort().join() === target.join();
  }, 30_000);
  await admin.movePartition('moving', 0, target);
  t.pass('and so does a move to the replicas the partition has');
});

t.test('a move that cannot finish shows where it moves from; it finishes once its target is back', async (t) => {
  const { cluster, client } = await startCluster(t, { brokers: 3, fsync: 'never' });
  const admin = client.admin();
  await admin.createTopic({ topic: 'stuck', partitions: 1, replicationFactor: 1 });
  const [from] = (await admin.describeTopic('stuck')).partitions[0]!.replicas;
  const away = [1, 2, 3].find((id) => id !== from)!;
  await cluster.stop(away);
  await admin.movePartition('stuck', 0, [from!, away]);
  // Broker `away` must catch up before the move can finish: it cannot while it is down.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const moving = (await admin.describeTopic('stuck')).partitions[0]!;
  t.same(moving.replicas, [from, away], 'replicas name the target');
  t.same(moving.movingFrom, [from], 'and movingFrom the replicas before the move');
  const described = await runCli(['topic', 'describe', 'stuck', '--json', '--brokers', cluster.bootstrap.join(',')]);
  t.same((JSON.parse(described.stdout) as { partitions: Array<{ movingFrom?: number[] }> }).partitions[0]!.movingFrom, [from], '`topic describe --json` shows it too');
  cluster.restart(away);
  await waitFor('the move to finish', async () => !(await admin.describeTopic('stuck')).partitions[0]!.movingFrom, 30_000);
  const done = (await admin.describeTopic('stuck')).partitions[0]!;
  t.same([...done.replicas].sort(), [from, away].sort(), 'once finished, the replicas are the target');
  t.equal(done.movingFrom, undefined, 'and nothing is moving');
});

