/**
 * Real broker processes for the integration tests, the fault suite and the benchmarks:
 * each broker is `flotilla broker start` in its own OS process on 127.0.0.1 (or on a host of the test's choosing, a network namespace
 * say), with a data directory under a fresh temp folder. Tests can kill (SIGKILL), stop
 * (SIGTERM), pause (SIGSTOP), resume (SIGCONT) and restart brokers from their data
 * directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, join, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onInterrupt } from './interrupt.js';

// This file runs from bench/ (tap) or dist/bench/ (compiled benches and tools).
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', ...(here.split(sep).includes('dist') ? ['..'] : []));
export const CLI = join(repoRoot, 'dist', 'client', 'cli', 'launcher.cjs');

/**
 * A port of 127.0.0.1 free right now, for a broker to bind a moment later. Taken below the
 * kernel's ephemeral range, where outgoing connections get their local ports: a port
 * from that range (what listening on port 0 hands out) could be taken by a connection of
 * a test running beside this one before the broker binds it, and the broker then exits.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralPortsStart();
  for (let attempt = 0; below > LOWEST_PORT && attempt < 100; attempt++) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (below - LOWEST_PORT));
    if ((await listenOnce(port)) !== null) return port;
  }
  const port = await listenOnce(0);
  if (port === null) throw new Error('no free port on 127.0.0.1');
  return port;
}

/**
 * `setpriv --pdeathsig KILL` (util-linux), where the machine has it: the kernel SIGKILLs a
 * broker when the process that started it dies, even by SIGKILL, which no clean-up of this
 * process can catch (the interrupt clean-ups cover SIGINT and SIGTERM). It execs in place.
 * Without it, brokers of a process killed that way outlive it.
 */
const DIE_WITH_STARTER = (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, 'setpriv')))
  ? ['setpriv', '--pdeathsig', 'KILL']
  : [];

const LOWEST_PORT = 10_000;
const START_ATTEMPTS = 5;

function ephemeralPortsStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0; // not Linux: listen on port 0 instead
  }
}

/** Listens on `port` of 127.0.0.1 and closes again: the port listened on, or null if it was taken. */
function listenOnce(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
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
  /** The Kafka listener's HOST:PORT, with the `kafka` option. */
  kafkaAddress?: string;
  /** The HTTP operations endpoint's HOST:PORT, with the `http` option. */
  httpAddress?: string;
  /** This broker's own flags after the cluster's extraArgs (its TLS files, say); change them before a restart. */
  args: string[];
}

export interface ProcessClusterOptions {
  brokers?: number;
  fsync?: 'always' | 'batch' | 'never';
  extraArgs?: string[];
  /** Flags of broker `id` alone, after extraArgs (initial value of BrokerProcess.args). */
  brokerArgs?: (id: number) => string[];
  /** Start each broker under `ulimit -n` of this many descriptors (through bash). */
  openFileLimit?: number;
  /**
   * Where broker `id` runs: the HOST:PORT it listens on and an argv prefix its command
   * runs under (`ip netns exec NS`, which execs in place so signals still reach the
   * broker). Default: 127.0.0.1 on a free port, no prefix.
   */
  host?: (id: number) => { address: string; prefix: string[] };
  /** Extra environment of every broker (FLOTILLA_BOOTSTRAP_USER, say). */
  env?: Record<string, string>;
  /** Also append each broker's output to broker-ID.log here: the whole log, for a post-mortem. */
  logDir?: string;
  /** The `flotilla` CLI the brokers run (another revision's build, say); default this checkout's. */
  cli?: string;
  /** Also open a Kafka listener on each broker (127.0.0.1, a free port): `--kafka-listen`. */
  kafka?: boolean;
  /** Also open the HTTP operations endpoint on each broker (127.0.0.1, a free port): `--http-listen`. */
  http?: boolean;
  /** Node's own flags for every broker (`--cpu-prof`, say, which NODE_OPTIONS does not take). */
  nodeArgs?: string[];
}

/**
 * The node flags on a script's first line (`#!/usr/bin/env -S node FLAGS`), which running
 * it as an executable applies: what spawns `node SCRIPT` passes them itself, so a broker
 * runs with the same settings however it is started (client/cli/launcher.cts says which
 * and why). None for a script without such a line (an older revision's entry point).
 */
export function shebangNodeFlags(script: string): string[] {
  let first: string;
  try {
    first = readFileSync(script, 'utf8').split('\n', 1)[0]!;
  } catch {
    return [];
  }
  const match = /^#!\S*env -S node((?:\s+-\S+)*)\s*$/.exec(first);
  return match ? match[1]!.trim().split(/\s+/).filter(Boolean) : [];
}

/**
 * The brokers' node flags (the `flotilla` executable's first line) that this load
 * generator was started without. `npm run bench` passes them, so that the generator's
 * heap is set up as the brokers' are. They were first added for a producer at 2,000
 * records/s that ran a full collection about once a second from V8's small initial old
 * generation (5-9 ms pauses inside the measured latencies); the cause, the producer's
 * queue holding every record it had batched for up to a thousand sends, is fixed, and such
 * a run now makes one full collection in 20 s with or without them.
 */
export function missingGeneratorFlags(execArgv: readonly string[] = process.execArgv): string[] {
  const given = new Set(execArgv.map((flag) => flag.split('=')[0]));
  return shebangNodeFlags(CLI).filter((flag) => !given.has(flag.split('=')[0]));
}

/** A note on stderr when the generator runs without the brokers' node flags (see missingGeneratorFlags). */
export function warnOfMissingGeneratorFlags(command: string): void {
  const missing = missingGeneratorFlags();
  if (missing.length === 0) return;
  process.stderr.write(
    `note: this load generator runs without the brokers' ${missing.join(' ')}, which \`npm run bench\` passes. ` +
      `Run it as \`node ${missing.join(' ')} ${command}\` to measure as the bench does.\n`,
  );
}

/** The `broker start` flags spawn() passes: another revision's CLI must accept each of them. */
export const BROKER_START_FLAGS = ['--id', '--listen', '--data', '--initial-cluster', '--join', '--fsync', '--log-level'];

export class ProcessCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'flotilla-it-'));
  readonly brokers = new Map<number, BrokerProcess>();
  private initialCluster = '';
  /** Every port handed to a broker of this cluster (see newPort). */
  private readonly portsGiven = new Set<number>();
  /** Interrupted (Ctrl-C, a test runner's timeout), this process takes its brokers and their data with it. */
  private readonly releaseInterrupt = onInterrupt(() => this.abandon());

  constructor(private readonly options: ProcessClusterOptions = {}) {}

  get bootstrap(): string[] {
    return [...this.brokers.values()].map((b) => b.address);
  }

  /** The brokers' Kafka listeners (with the `kafka` option). */
  get kafkaBootstrap(): string[] {
    return [...this.brokers.values()].flatMap((b) => (b.kafkaAddress ? [b.kafkaAddress] : []));
  }

  /**
   * Starts every broker on free ports. freePort's pick races every other process on the
   * machine until the broker binds it: a broker that finds one of its ports taken exits,
   * and the cluster starts again on new ports (up to START_ATTEMPTS times, then gives up
   * with that broker's output) rather than run short of a broker. Seen only while the
   * broker logs at info or below ("broker started" marks its ports bound), and not with
   * `host`, whose addresses are the test's.
   */
  async start(): Promise<this> {
    const count = this.options.brokers ?? 3;
    for (let attempt = 1; ; attempt++) {
      const members: string[] = [];
      for (let id = 1; id <= count; id++) {
        const address = await this.addressFor(id);
        this.brokers.set(id, { id, address, dataDir: join(this.root, `broker-${id}`), child: null, output: [], args: this.options.brokerArgs?.(id) ?? [], ...(await this.extraListeners()) });
        members.push(`${id}=${address}`);
      }
      this.initialCluster = members.join(',');
      const portsTaken = await Promise.all([...this.brokers.keys()].map((id) => this.lostAPort(this.spawn(id))));
      if (this.options.host || !portsTaken.includes(true)) return this;
      await Promise.all([...this.brokers.keys()].map((id) => this.kill(id)));
      if (attempt === START_ATTEMPTS) {
        const lost = [...this.brokers.keys()].filter((_, i) => portsTaken[i]);
        const error = new Error(`broker ${lost.join(', ')} found a port taken on each of ${START_ATTEMPTS} starts; the last output of broker ${lost[0]}:\n${this.logs(lost[0]!)}`);
        await this.close();
        throw error;
      }
      for (const broker of this.brokers.values()) rmSync(broker.dataDir, { recursive: true, force: true });
      this.brokers.clear();
    }
  }

  /**
   * Whether a just-spawned broker lost one of its ports to another process: settles once it
   * logged "broker started", said EADDRINUSE, or exited. False at once when its log level
   * hides the "broker started" line.
   */
  private lostAPort(broker: BrokerProcess): Promise<boolean> {
    const child = broker.child!;
    const levels = this.spawnArgs(broker).flatMap((arg, i, all) => (arg === '--log-level' ? [all[i + 1]] : []));
    if (!['trace', 'debug', 'info'].includes(levels.at(-1) ?? 'info')) return Promise.resolve(false);
    return new Promise((resolve) => {
      let seen = '';
      const settle = () => {
        child.stdout!.off('data', onOutput);
        child.stderr!.off('data', onOutput);
        child.off('close', settle);
        resolve(seen.includes('EADDRINUSE'));
      };
      const onOutput = (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('EADDRINUSE') || seen.includes('"msg":"broker started"')) settle();
      };
      child.stdout!.on('data', onOutput);
      child.stderr!.on('data', onOutput);
      child.once('close', settle);
    });
  }

  /** Starts a new broker that joins the running cluster through broker `via`. */
  async join(id: number, via = 1): Promise<BrokerProcess> {
    const address = await this.addressFor(id);
    this.brokers.set(id, { id, address, dataDir: join(this.root, `broker-${id}`), child: null, output: [], joinVia: this.brokers.get(via)!.address, args: this.options.brokerArgs?.(id) ?? [], ...(await this.extraListeners()) });
    return this.spawn(id);
  }

  private async extraListeners(): Promise<{ kafkaAddress?: string; httpAddress?: string }> {
    return {
      ...(this.options.kafka ? { kafkaAddress: `127.0.0.1:${await this.newPort()}` } : {}),
      ...(this.options.http ? { httpAddress: `127.0.0.1:${await this.newPort()}` } : {}),
    };
  }

  /**
   * A free port that no broker of this cluster was given yet: freePort alone may hand out
   * one port twice, since a port it found free stays free until a broker binds it.
   */
  private async newPort(): Promise<number> {
    for (;;) {
      const port = await freePort();
      if (this.portsGiven.has(port)) continue;
      this.portsGiven.add(port);
      return port;
    }
  }

  /** Where broker `id` listens: protected so that a test can hand out a port that is taken. */
  protected async addressFor(id: number): Promise<string> {
    return this.options.host ? this.options.host(id).address : `127.0.0.1:${await this.newPort()}`;
  }

  /** The `flotilla broker start` command line of `broker` (the CLI script first). */
  private spawnArgs(broker: BrokerProcess): string[] {
    const membership = broker.joinVia ? ['--join', broker.joinVia] : ['--initial-cluster', this.initialCluster];
    return [
      this.options.cli ?? CLI, 'broker', 'start', '--id', String(broker.id), '--listen', broker.address, '--data', broker.dataDir,
      ...membership, '--fsync', this.options.fsync ?? 'always', '--log-level', process.env.FLOTILLA_TEST_LOG_LEVEL ?? 'info',
      ...(broker.kafkaAddress ? ['--kafka-listen', broker.kafkaAddress] : []),
      ...(broker.httpAddress ? ['--http-listen', broker.httpAddress] : []),
      ...(this.options.extraArgs ?? []), ...broker.args,
    ];
  }

  spawn(id: number): BrokerProcess {
    const broker = this.brokers.get(id)!;
    const args = this.spawnArgs(broker);
    // Every wrapper execs in place, so the broker's pid is the child's and signals reach it.
    let argv = [process.execPath, ...shebangNodeFlags(args[0]!), ...(this.options.nodeArgs ?? []), ...args];
    if (this.options.openFileLimit !== undefined) argv = ['bash', '-c', `ulimit -n ${this.options.openFileLimit} && exec "$0" "$@"`, ...argv];
    if (this.options.host) argv = [...this.options.host(id).prefix, ...argv];
    argv = [...DIE_WITH_STARTER, ...argv];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.options.env } });
    broker.output = [];
    // logDir, or FLOTILLA_TEST_LOGS=<dir> for any test: every broker's whole output, for a post-mortem.
    const logDir = this.options.logDir ?? process.env.FLOTILLA_TEST_LOGS;
    const logFile = logDir ? join(logDir, this.options.logDir ? `broker-${id}.log` : `${basename(this.root)}-broker-${id}.log`) : undefined;
    const keep = (chunk: Buffer) => {
      broker.output.push(chunk.toString());
      if (broker.output.length > 500) broker.output.splice(0, 100);
      if (logFile) appendFileSync(logFile, chunk);
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

  /** SIGSTOP: the broker freezes mid-whatever, its sockets open, until resume(). */
  pause(id: number): void {
    this.brokers.get(id)?.child?.kill('SIGSTOP');
  }

  resume(id: number): void {
    this.brokers.get(id)?.child?.kill('SIGCONT');
  }

  /** Whether broker `id` has a live process (paused counts as live). */
  running(id: number): boolean {
    const child = this.brokers.get(id)?.child;
    return !!child && child.exitCode === null && child.signalCode === null;
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
    this.releaseInterrupt();
    await Promise.all([...this.brokers.keys()].map((id) => this.kill(id)));
    rmSync(this.root, { recursive: true, force: true });
  }

  /** SIGKILL every broker and delete the data, without waiting: for a process about to exit. */
  abandon(): void {
    for (const broker of this.brokers.values()) broker.child?.kill('SIGKILL');
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
