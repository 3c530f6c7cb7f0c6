/**
 * The integration tests' cluster: real broker processes (bench/process-cluster.ts), plus a
 * start-up that ties the cluster and a client to a tap test's lifetime.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../../client/index.js';
import { devPorts, listenRefusal } from '../../client/cli/dev.js';
import { CLI, ProcessCluster, waitFor, type ProcessClusterOptions } from '../../bench/process-cluster.js';

export { CLI, ProcessCluster, freePort, waitFor, type BrokerProcess, type ProcessClusterOptions } from '../../bench/process-cluster.js';

/**
 * A `flotilla dev --base-port` whose every derived port (devPorts) is free now. Drawn below
 * Linux's ephemeral range (32768 up), where no client connection of a test running beside
 * takes one by chance.
 */
export async function freeDevBasePort(brokers = 3): Promise<number> {
  const offsets = devPorts({ basePort: 0, brokers }).map((p) => p.port);
  const span = Math.max(...offsets);
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * (32_000 - span - 10_000));
    let free = true;
    for (const offset of offsets) if (!(free = (await listenRefusal(base + offset)) === undefined)) break;
    if (free) return base;
  }
  throw new Error(`no free --base-port for ${brokers} dev brokers found`);
}

/** The part of a tap test that `startCluster` needs: a hook run when the test ends. */
interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Starts a cluster and a client on it, waits for a controller, and closes both when the
 * test ends.
 */
export async function startCluster(
  t: Teardown,
  options: ProcessClusterOptions = {},
  clientOptions: Partial<ConstructorParameters<typeof Client>[0]> = {},
): Promise<{ cluster: ProcessCluster; client: Client }> {
  const cluster = await new ProcessCluster(options).start();
  const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000, ...clientOptions });
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  await waitFor('a controller', async () => (await client.admin().describeCluster()).controller);
  return { cluster, client };
}

/**
 * Runs the `flotilla` CLI to its end with `stdin` as its input. The FLOTILLA_* variables of
 * this process are left out: only `env` sets them.
 */
export function runCli(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLOTILLA_')));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** The broker the metadata names as leader of `topic`/`partition`, once one is named. */
export async function leaderOf(client: Client, topic: string, partition: number): Promise<number> {
  return waitFor(`a leader for ${topic}/${partition}`, async () => {
    const d = await client.admin().describeTopic(topic);
    return d.partitions[partition]?.leader ?? null;
  });
}

/**
 * kill -9 of the leader of `topic`/`partition`; `onKilled` runs right after the kill (to
 * note what had happened by then). After `downMs` the broker restarts, and this resolves
 * with its id once the cluster sees it alive again.
 */
export async function killLeaderAndRestart(
  cluster: ProcessCluster,
  client: Client,
  topic: string,
  partition: number,
  { downMs = 1_500, onKilled }: { downMs?: number; onKilled?: (broker: number) => void } = {},
): Promise<number> {
  const leader = await leaderOf(client, topic, partition);
  await cluster.kill(leader);
  onKilled?.(leader);
  await new Promise((r) => setTimeout(r, downMs)); // down for a while: producers retry against the new leader
  cluster.restart(leader);
  await waitFor(`broker ${leader} back`, async () => (await client.admin().describeCluster()).brokers.find((b) => b.id === leader)?.alive, 30_000);
  return leader;
}

/** The index of the controller snapshot in a broker's data directory, -1 when it has none. */
export function controllerSnapshotIndex(dataDir: string): number {
  const path = join(dataDir, 'controller-snapshot.json');
  if (!existsSync(path)) return -1;
  const text = readFileSync(path, 'utf8');
  // A checksum line comes before the JSON.
  return (JSON.parse(text.startsWith('{') ? text : text.slice(text.indexOf('\n') + 1)) as { index: number }).index;
}
