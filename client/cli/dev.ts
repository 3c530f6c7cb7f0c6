/**
 * `flotilla dev`: a local cluster of N brokers, each its own OS process running
 * `flotilla broker start` (this same script), on 127.0.0.1 from --base-port up, data
 * under --data/<id>, operations endpoints from --base-port + 1000 up. Prints the addresses, waits until every broker reports alive, prints
 * one status line per broker, and on SIGINT/SIGTERM stops the children (SIGTERM, then
 * SIGKILL after STOP_TIMEOUT_MS) and exits 0 once all have exited. A port already in use
 * is named before anything starts, and a broker that exits before the cluster is ready
 * stops the others (exit 1): a cluster short of a broker is not what was asked for.
 *
 * With --secure (dev-secure.ts) every connection is TLS, clients authenticate with SCRAM,
 * and the brokers bootstrap a superuser whose password is in the data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { Client } from '../client.js';
import type { ClientOptions } from '../options.js';
import { sleep } from '../cluster/retry.js';
import { prepareSecureDev, secureBrokerArgs, secureClientOptions, secureConnectionText, type SecureDev } from './dev-secure.js';
import { shebangNodeFlags } from '../../bench/process-cluster.js';

export interface DevOptions {
  brokers: number;
  data: string;
  basePort: number;
  logLevel: string;
  fsync?: string;
  /** TLS everywhere, SCRAM and a superuser (certificates and password kept under `data`). */
  secure?: boolean;
}

const STOP_TIMEOUT_MS = 10_000;
/** Broker N's Kafka listener is on base port + this + N - 1: 9092-9094 with the default base port 7401. */
const KAFKA_PORT_OFFSET = 9092 - 7401;

/** The Kafka listener of broker `id`, derived from --base-port. */
export function devKafkaAddress(id: number, options: Pick<DevOptions, 'basePort'>): string {
  return `127.0.0.1:${options.basePort + KAFKA_PORT_OFFSET + id - 1}`;
}
const STATUS_POLL_MS = 500;
/** How long to wait for all brokers to report alive before printing what is known. */
const START_TIMEOUT_MS = 60_000;
/** Broker N's operations endpoints are at base-port + HTTP_PORT_OFFSET + N - 1 (SPEC section 10). */
const HTTP_PORT_OFFSET = 1000;

export function devHttpAddress(id: number, options: Pick<DevOptions, 'basePort'>): string {
  return `127.0.0.1:${options.basePort + HTTP_PORT_OFFSET + id - 1}`;
}

/** Every port the dev cluster listens on, with what listens there (for a clear error when one is taken). */
export function devPorts(options: Pick<DevOptions, 'basePort' | 'brokers'>): Array<{ port: number; what: string }> {
  const ports: Array<{ port: number; what: string }> = [];
  for (let id = 1; id <= options.brokers; id++) {
    ports.push({ port: options.basePort + id - 1, what: `broker ${id}'s listener` });
    ports.push({ port: Number(devKafkaAddress(id, options).split(':')[1]), what: `broker ${id}'s Kafka listener` });
    ports.push({ port: Number(devHttpAddress(id, options).split(':')[1]), what: `broker ${id}'s operations endpoints` });
  }
  return ports;
}

/** Why 127.0.0.1:`port` cannot be listened on now (EADDRINUSE, say), or undefined when it can. */
export function listenRefusal(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(undefined)));
  });
}

/** The first of `ports` that cannot be listened on at 127.0.0.1 now, or undefined when all can. */
async function firstTakenPort(ports: Array<{ port: number; what: string }>): Promise<{ port: number; what: string; code: string } | undefined> {
  for (const entry of ports) {
    const code = await listenRefusal(entry.port);
    if (code !== undefined) return { ...entry, code };
  }
  return undefined;
}

export function devCommandLine(id: number, options: DevOptions, secure: SecureDev | null = null): string[] {
  const members = Array.from({ length: options.brokers }, (_, i) => `${i + 1}=127.0.0.1:${options.basePort + i}`).join(',');
  const args = [
    'broker', 'start',
    '--id', String(id),
    '--listen', `127.0.0.1:${options.basePort + id - 1}`,
    '--kafka-listen', devKafkaAddress(id, options),
    '--data', path.join(options.data, String(id)),
    '--initial-cluster', members,
    '--log-level', options.logLevel,
    '--http-listen', devHttpAddress(id, options),
  ];
  if (options.fsync !== undefined) args.push('--fsync', options.fsync);
  if (secure) args.push(...secureBrokerArgs(secure, id));
  return args;
}

export async function devCommand(options: DevOptions, scriptPath: string): Promise<number> {
  const children = new Map<number, ChildProcess>();
  const exited = new Map<number, number | string>();
  const taken = await firstTakenPort(devPorts(options));
  if (taken) {
    process.stderr.write(`port ${taken.port} (${taken.what}) cannot be used: ${taken.code}; pick another --base-port\n`);
    return 1;
  }
  let stopping = false;
  let ready = false;
  let resolveAllExited!: () => void;
  const allExited = new Promise<void>((resolve) => (resolveAllExited = resolve));
  const secure = options.secure ? prepareSecureDev(options.data, options.brokers) : null;
  // The bootstrap superuser's password reaches the brokers in their environment, never in argv.
  const env = secure ? { ...process.env, FLOTILLA_BOOTSTRAP_USER: `${secure.user}:${secure.password}` } : process.env;

  let failedToStart = false;
  const stopAll = (): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('stopping brokers...\n');
    for (const [id, child] of children) if (!exited.has(id)) child.kill('SIGTERM');
    setTimeout(() => {
      for (const [id, child] of children) {
        if (!exited.has(id)) {
          process.stderr.write(`broker ${id} did not stop within ${STOP_TIMEOUT_MS} ms; killing it\n`);
          child.kill('SIGKILL');
        }
      }
    }, STOP_TIMEOUT_MS).unref();
  };
  for (let id = 1; id <= options.brokers; id++) {
    const child = spawn(process.execPath, [...shebangNodeFlags(scriptPath), scriptPath, ...devCommandLine(id, options, secure)], { stdio: ['ignore', 'inherit', 'inherit'], env });
    children.set(id, child);
    child.on('exit', (code, signal) => {
      exited.set(id, code ?? signal ?? 'unknown');
      if (!stopping) {
        process.stderr.write(`broker ${id} exited unexpectedly (${code ?? signal}); see its output above\n`);
        if (!ready) {
          process.stderr.write('the cluster never became ready; stopping the other brokers\n');
          failedToStart = true;
          stopAll();
        }
      }
      if (exited.size === children.size) resolveAllExited();
    });
    const http = `http://${devHttpAddress(id, options)}`;
    process.stdout.write(`broker ${id}: 127.0.0.1:${options.basePort + id - 1}  Kafka ${devKafkaAddress(id, options)}  (data ${path.join(options.data, String(id))}; console ${http}/, ${http}/metrics, ${http}/readyz)\n`);
  }

  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);

  const addresses = Array.from({ length: options.brokers }, (_, i) => `127.0.0.1:${options.basePort + i}`);
  const kafkaAddresses = Array.from({ length: options.brokers }, (_, i) => devKafkaAddress(i + 1, options));
  const httpAddresses = Array.from({ length: options.brokers }, (_, i) => devHttpAddress(i + 1, options));
  if (secure) process.stdout.write(secureConnectionText(secure, { addresses, kafkaAddresses, httpAddresses }));
  void reportStatus(addresses, kafkaAddresses, options.brokers, () => stopping || exited.size === children.size, secure ? secureClientOptions(secure) : {}).then((allAlive) => (ready = allAlive));

  await allExited;
  const failed = [...exited.values()].some((status) => status !== 0 && status !== 'SIGTERM' && status !== 'SIGINT');
  if (failedToStart) return 1;
  if (stopping) {
    process.stderr.write('all brokers stopped\n');
    return 0;
  }
  return failed ? 1 : 0;
}

/**
 * Polls describeCluster until all brokers are alive, then prints one line per broker and
 * "cluster ready"; after START_TIMEOUT_MS, prints what is known instead. Resolves true once ready.
 */
async function reportStatus(addresses: string[], kafkaAddresses: string[], expected: number, cancelled: () => boolean, login: Partial<ClientOptions>): Promise<boolean> {
  const client = new Client({ brokers: addresses, clientId: 'flotilla-dev', requestTimeoutMs: 2000, connectTimeoutMs: 1000, ...login });
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    let last: Awaited<ReturnType<ReturnType<Client['admin']>['describeCluster']>> | null = null;
    let allAlive = false;
    while (!cancelled()) {
      try {
        last = await client.admin().describeCluster();
        allAlive = last.brokers.length >= expected && last.brokers.every((b) => b.alive) && last.controller !== null;
        if (allAlive) break;
      } catch {
        // Not up yet: keep polling.
      }
      if (Date.now() > deadline) {
        process.stderr.write(`not every broker reported alive within ${START_TIMEOUT_MS / 1000} s; status so far:\n`);
        break;
      }
      await sleep(STATUS_POLL_MS);
    }
    if (cancelled()) return false;
    if (!last) {
      process.stdout.write('no broker answered yet\n');
      return false;
    }
    for (const b of last.brokers) {
      const role = b.id === last.controller ? ', controller' : '';
      process.stdout.write(`broker ${b.id} ${b.address} ${b.alive ? 'alive' : 'down'}, leads ${b.leaders} partitions${role}\n`);
    }
    const state = allAlive ? 'cluster ready' : 'cluster not ready yet';
    process.stdout.write(`${state}: FLOTILLA_BROKERS=${addresses.join(',')}  Kafka bootstrap ${kafkaAddresses.join(',')}  (Ctrl-C stops all brokers)\n`);
    return allAlive;
  } finally {
    await client.close();
  }
}
