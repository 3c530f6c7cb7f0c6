/**
 * The local cluster the benchmarks run against: a ProcessCluster (real
 * broker processes on free 127.0.0.1 ports, temp data dirs, fsync always unless asked).
 */
import { ProcessCluster, waitFor, type BrokerProcess, type ProcessClusterOptions } from './process-cluster.js';
import { Client, type ClientOptions } from '../client/index.js';

export { waitFor };

/** ProcessCluster with crash reporting, brokers logging at warn, and access to the PIDs. */
export class BenchCluster extends ProcessCluster {
  constructor(options: ProcessClusterOptions = {}) {
    // Brokers log at warn: info lines cost CPU that the benchmark would measure.
    super({ ...options, extraArgs: ['--log-level', 'warn', ...(options.extraArgs ?? [])] });
  }

  /** Brokers that exited without being told to, with the tail of their output. */
  readonly crashes: Array<{ id: number; code: number | null; signal: string | null; output: string }> = [];
  private readonly stopping = new Set<number>();

  override spawn(id: number): BrokerProcess {
    const broker = super.spawn(id);
    this.stopping.delete(id);
    const child = broker.child!;
    child.once('exit', (code, signal) => {
      if (!this.stopping.has(id)) this.crashes.push({ id, code, signal, output: broker.output.join('').slice(-4000) });
    });
    return broker;
  }

  override async kill(id: number): Promise<void> {
    this.stopping.add(id);
    await super.kill(id);
  }

  override async stop(id: number): Promise<number | null> {
    this.stopping.add(id);
    return super.stop(id);
  }

  /** One line per broker that died on its own, for error messages. */
  crashReport(): string {
    return this.crashes.map((c) => `broker ${c.id} exited (code ${c.code}, signal ${c.signal}); its last output:\n${c.output}`).join('\n');
  }

  /** Throws the crash report once any broker has died on its own. */
  throwIfCrashed(): void {
    if (this.crashes.length > 0) throw new Error(this.crashReport());
  }

  /** `work`, unless a broker dies on its own first: then an error with the crash report. */
  async whileAlive<T>(work: Promise<T>): Promise<T> {
    let watch: NodeJS.Timeout | undefined;
    const crashed = new Promise<never>((_, reject) => {
      watch = setInterval(() => {
        try {
          this.throwIfCrashed();
        } catch (error) {
          reject(error);
        }
      }, 500);
    });
    try {
      return await Promise.race([work, crashed]);
    } finally {
      clearInterval(watch);
    }
  }

  /** The PID of broker `id`, which must be running. */
  pidOf(id: number): number {
    const pid = this.brokers.get(id)?.child?.pid;
    if (pid === undefined) throw new Error(`broker ${id} is not running`);
    return pid;
  }

  /** PIDs of the running broker processes (for CPU accounting and profiling). */
  pids(): number[] {
    return [...this.brokers.values()].flatMap((b) => (b.child?.pid ? [b.child.pid] : []));
  }
}

/**
 * Starts a cluster and waits until its controller is elected and every broker is alive;
 * `login` is how clients connect (TLS, SASL) when the brokers ask for it.
 */
export async function startBenchCluster(options: ProcessClusterOptions = {}, login: Partial<ClientOptions> = {}): Promise<BenchCluster> {
  const cluster = new BenchCluster(options);
  await cluster.start();
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-setup', requestTimeoutMs: 5_000, ...login });
  try {
    await waitFor(
      'the cluster to elect a controller with every broker alive',
      async () => {
        const status = await client.admin().describeCluster();
        return status.controller !== null && status.brokers.length === cluster.brokers.size && status.brokers.every((b) => b.alive);
      },
      60_000,
      200,
    );
  } catch (err) {
    const logs = [...cluster.brokers.values()].map((b) => `--- broker ${b.id} (${b.child ? 'running' : 'exited'}):\n${b.output.join('').slice(-2000)}`).join('\n');
    await cluster.close();
    throw new Error(`${(err as Error).message}\n${logs}`);
  } finally {
    await client.close();
  }
  return cluster;
}

/**
 * The `stats` lines (`--stats-interval-ms`) broker `id` logged at or after `since` (ms
 * since the epoch), parsed; a line still being written is skipped.
 */
export function brokerStats<T extends { time: number }>(cluster: Pick<ProcessCluster, 'logs'>, id: number, since = 0): T[] {
  return cluster
    .logs(id)
    .split('\n')
    .filter((line) => line.includes('"msg":"stats"'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as T];
      } catch {
        return [];
      }
    })
    .filter((s) => s.time >= since);
}

