/**
 * Elections that nobody asked for: on a 3-broker local cluster (replication 3) with many
 * partitions, how many campaigns the brokers start while the cluster sits idle, and then
 * while a producer publishes at full speed (the publish workload of `npm run bench`: 1 KiB
 * records, acks all, 3 partitions). Neither should start any: each election is a moment a
 * partition refuses writes. The brokers count them themselves (the `elections` field of
 * their `--stats-interval-ms` lines: pre-votes, votes, transfers, won, since start); a
 * window's figure is the difference between a broker's first report after the window
 * opened and its first report after it closed. The idle window opens once leadership is
 * balanced and every group is quiet. The machine's load average is printed beside it,
 * since a busy machine is what makes timers fire late.
 *
 *   npm run build && node dist/bench/elections.js [--partitions 1000] [--idle-seconds 600] [--load-seconds 60]
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client } from '../client/index.js';
import { brokerStats, cliOption, startBenchCluster, type BenchCluster } from './cluster.js';
import { STATS_ARGS, waitBalancedAndQuiet } from './scale.js';
import { fmtInt } from './stats.js';
import { createTopicWhenReady, produceAtFullSpeed } from './workload.js';

/** The `elections` field of a broker's stats line (broker/multiraft: ElectionStats). */
interface Elections {
  preVotes: number;
  votes: number;
  transfers: number;
  won: number;
}

export interface ElectionWindow {
  name: string;
  seconds: number;
  /** Campaigns started and elections won in the window, all brokers together. */
  elections: Elections;
  /** 1-minute load averages at the start and end of the window. */
  load: [number, number];
  /** For the load window: records acknowledged. */
  records?: number;
}

const NONE: Elections = { preVotes: 0, votes: 0, transfers: 0, won: 0 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Every broker's first stats line at or after `since` (waits for it), summed. */
async function electionsReportedAfter(cluster: BenchCluster, since: number): Promise<Elections> {
  const total = { ...NONE };
  for (const id of cluster.brokers.keys()) {
    for (;;) {
      if (cluster.crashes.length > 0) throw new Error(cluster.crashReport());
      const line = brokerStats<{ time: number; elections?: Elections }>(cluster, id, since)[0];
      if (line) {
        if (!line.elections) throw new Error(`broker ${id} reports no elections in its stats line (an older build?)`);
        for (const key of Object.keys(NONE) as Array<keyof Elections>) total[key] += line.elections[key];
        break;
      }
      await sleep(250);
    }
  }
  return total;
}

function minus(a: Elections, b: Elections): Elections {
  return { preVotes: a.preVotes - b.preVotes, votes: a.votes - b.votes, transfers: a.transfers - b.transfers, won: a.won - b.won };
}

/** Counts the elections over `during`, which runs the window's work (or just waits). */
async function countWindow(cluster: BenchCluster, name: string, during: () => Promise<number | undefined>): Promise<ElectionWindow> {
  const opened = Date.now();
  const before = await electionsReportedAfter(cluster, opened);
  const load0 = loadavg()[0]!;
  const start = Date.now();
  const records = await during();
  const seconds = (Date.now() - start) / 1000;
  const load1 = loadavg()[0]!;
  const after = await electionsReportedAfter(cluster, Date.now());
  return { name, seconds, elections: minus(after, before), load: [load0, load1], ...(records !== undefined ? { records } : {}) };
}

export async function countElections(options: { partitions: number; idleSeconds: number; loadSeconds: number; log?: (line: string) => void }): Promise<ElectionWindow[]> {
  const log = options.log ?? (() => undefined);
  const cluster = await startBenchCluster({ extraArgs: STATS_ARGS });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-elections', requestTimeoutMs: 60_000 });
  const windows: ElectionWindow[] = [];
  try {
    const started = Date.now();
    await client.admin().createTopic({ topic: 'elections-idle', partitions: options.partitions, replicationFactor: 3, timeoutMs: 30 * 60_000 });
    await waitBalancedAndQuiet(cluster, options.partitions, started);
    log(`${fmtInt(options.partitions)} partitions created, balanced and quiet; idle for ${options.idleSeconds} s`);
    windows.push(
      await countWindow(cluster, `idle, ${fmtInt(options.partitions)} partitions`, async () => {
        const end = Date.now() + options.idleSeconds * 1000;
        while (Date.now() < end) {
          if (cluster.crashes.length > 0) throw new Error(cluster.crashReport());
          await sleep(Math.min(5000, Math.max(0, end - Date.now())));
        }
        return undefined;
      }),
    );
    log(`idle window: ${describeElections(windows[0]!.elections)}; publishing for ${options.loadSeconds} s`);
    const topic = 'elections-publish';
    await createTopicWhenReady(client, { topic, partitions: 3, replicationFactor: 3 });
    windows.push(
      await countWindow(cluster, `full publish load (1 KiB, acks all, 3 partitions) beside the idle ones`, async () => {
        const producer = client.producer({ acks: 'all' });
        const result = await produceAtFullSpeed(producer, { topic, recordBytes: 1024, durationMs: options.loadSeconds * 1000 });
        await producer.close();
        return result.records;
      }),
    );
    log(`load window: ${describeElections(windows[1]!.elections)}`);
  } finally {
    await client.close();
    await cluster.close();
  }
  return windows;
}

function describeElections(e: Elections): string {
  return `${e.preVotes} pre-votes, ${e.votes} votes, ${e.transfers} transfers, ${e.won} won`;
}

export function electionsTable(windows: ElectionWindow[]): string {
  const rows = ['| window | duration | pre-votes | votes | transfers | elections won | load average (start / end) |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const w of windows) {
    const what = w.records !== undefined ? `${w.name}: ${fmtInt(w.records)} records acknowledged` : w.name;
    rows.push(`| ${what} | ${Math.round(w.seconds)} s | ${w.elections.preVotes} | ${w.elections.votes} | ${w.elections.transfers} | ${w.elections.won} | ${w.load[0].toFixed(1)} / ${w.load[1].toFixed(1)} |`);
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const windows = await countElections({
    partitions: Number(cliOption(args, '--partitions', '1000')),
    idleSeconds: Number(cliOption(args, '--idle-seconds', '600')),
    loadSeconds: Number(cliOption(args, '--load-seconds', '60')),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${electionsTable(windows)}\n`);
  const total = windows.reduce((n, w) => n + w.elections.preVotes + w.elections.votes + w.elections.transfers, 0);
  if (total > 0) process.stdout.write(`${total} campaigns started where none was expected\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
