/**
 * Real broker processes for integration tests: each broker is `flotilla broker start` in its
 * own OS process on 127.0.0.1, with a data directory under a fresh temp folder. Tests can
 * kill (SIGKILL), stop (SIGTERM) and restart brokers from their data directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../../client/index.js';

// This file runs from test/integration (tap) or dist/test/integration (compiled benches).
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', ...(here.split(sep).includes('dist') ? ['..'] : []));
export const CLI = join(repoRoot, 'dist', 'client', 'cli', 'main.js');

/** Asks the OS for a free port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface BrokerProcess {
  id: number;
  address: string;
  dataDir: string;
  child: ChildProcess | null;
  output: string[];
  /** Set for brokers started with --join (through this address). */
  joinVia?: string;
}

export interface TestClusterOptions {
  brokers?: number;
  fsync?: 'always' | 'batch' | 'never';
  extraArgs?: string[];
  /** Start each broker under `ulimit -n` of this many descriptors (through bash). */
  openFileLimit?: number;
}

export class TestCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'flotilla-it-'));
  readonly brokers = new Map<number, BrokerProcess>();
  private initialCluster = '';

  constructor(private readonly options: TestClusterOptions = {}) {}

  get bootstrap(): string[] {
    return [...this.brokers.values()].map((b) => b.address);
  }

  async start(): Promise<this> {
    const count = this.options.brokers ?? 3;
    const members: string[] = [];
    for (let id = 1; id <= count; id++) {
      const address = `127.0.0.1:${await freePort()}`;
      this.brokers.set(id, { id, address, dataDir: join(this.root, `broker-${id}`), child: null, output: [] });
      members.push(`${id}=${address}`);
    }
    this.initialCluster = members.join(',');
    for (const id of this.brokers.keys()) this.spawn(id);
    return this;
  }

  /** Starts a new broker that joins the running cluster through broker `via`. */
  async join(id: number, via = 1): Promise<BrokerProcess> {
    const address = `127.0.0.1:${await freePort()}`;
    this.brokers.set(id, { id, address, dataDir: join(this.root, `broker-${id}`), child: null, output: [], joinVia: this.brokers.get(via)!.address });
    return this.spawn(id);
  }

  spawn(id: number): BrokerProcess {
    const broker = this.brokers.get(id)!;
    const membership = broker.joinVia ? ['--join', broker.joinVia] : ['--initial-cluster', this.initialCluster];
    const args = [
      CLI, 'broker', 'start', '--id', String(id), '--listen', broker.address, '--data', broker.dataDir,
      ...membership, '--fsync', this.options.fsync ?? 'always', '--log-level', process.env.FLOTILLA_TEST_LOG_LEVEL ?? 'info',
      ...(this.options.extraArgs ?? []),
    ];
    // exec keeps the broker's pid the child's, so signals reach it.
    const child = this.options.openFileLimit === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `ulimit -n ${this.options.openFileLimit} && exec "$0" "$@"`, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    broker.output = [];
    // FLOTILLA_TEST_LOGS=<dir> keeps every broker's whole output there, for a failure's post-mortem.
    const logFile = process.env.FLOTILLA_TEST_LOGS ? join(process.env.FLOTILLA_TEST_LOGS, `${basename(this.root)}-broker-${id}.log`) : undefined;
    const keep = (chunk: Buffer) => {
      broker.output.push(chunk.toString());
      if (logFile) appendFileSync(logFile, chunk);
      if (broker.output.length > 500) broker.output.splice(0, 100);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    broker.child = child;
    return broker;
  }

  /** kill -9: no chance to flush or hand over leadership. */
  async kill(id: number): Promise<void> {
    await this.signal(id, 'SIGKILL');
  }

  /** SIGTERM: the broker moves leadership away and exits cleanly. */
  async stop(id: number): Promise<number | null> {
    return this.signal(id, 'SIGTERM');
  }

  private async signal(id: number, signal: NodeJS.Signals): Promise<number | null> {
    const child = this.brokers.get(id)?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    this.brokers.get(id)!.child = null;
    return code;
  }

  restart(id: number): BrokerProcess {
    return this.spawn(id);
  }

  logs(id: number): string {
    return this.brokers.get(id)?.output.join('') ?? '';
  }

  async close(): Promise<void> {
    await Promise.all([...this.brokers.keys()].map((id) => this.kill(id)));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
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
  options: TestClusterOptions = {},
  clientOptions: Partial<ConstructorParameters<typeof Client>[0]> = {},
): Promise<{ cluster: TestCluster; client: Client }> {
  const cluster = await new TestCluster(options).start();
  const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000, ...clientOptions });
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  await waitFor('a controller', async () => (await client.admin().describeCluster()).controller);
  return { cluster, client };
}
