/**
 * Elections that nobody asked for: on a 3-broker local cluster (replication 3) with many
 * partitions, how many campaigns the brokers start while the cluster sits idle, then
 * while a producer publishes at full speed (the publish workload of `npm run bench`: 1 KiB
 * records, acks all, 3 partitions), then while each broker in turn is stopped (SIGSTOP) for
 * a little longer than the silence window and continued, as a machine starved of CPU
 * stops a process. None should start any: each election is a moment a partition refuses
 * writes, and a broker stopped for less than its peers' election timeouts is only slow.
 * The brokers count them themselves (the `elections` field of
 * their `--stats-interval-ms` lines: pre-votes, votes, transfers, won, since start); a
 * window's figure is the difference between a broker's first report after the window
 * opened and its first report after it closed. The idle window opens once leadership is
 * balanced and every group is quiet. The machine's load average is printed beside it,
 * since a busy machine is what makes timers fire late.
 *
 *   npm run build && node dist/bench/elections.js --help   (its options)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareBaseline, resolveRevision } from './baseline.js';
import { Client } from '../client/index.js';
import { runBenchScript } from './cli.js';
import { brokerStats, startBenchCluster, type BenchCluster } from './cluster.js';
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
  /** Peer connections that closed in the window (`peer disconnected` lines): each starts elections at once. */
  connectionsClosed: number;
}

const NONE: Elections = { preVotes: 0, votes: 0, transfers: 0, won: 0 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Every broker's first stats line at or after `since` (waits for it), summed. A build
 * whose stats line has no `elections` (before it was added) counts only elections won,
 * from its `replica became leader` lines up to that report.
 */
async function electionsReportedAfter(cluster: BenchCluster, since: number, logDir: string): Promise<Elections> {
  const total = { ...NONE };
  for (const id of cluster.brokers.keys()) {
    for (;;) {
      cluster.throwIfCrashed();
      const line = brokerStats<{ time: number; elections?: Elections }>(cluster, id, since)[0];
      if (line) {
        if (line.elections) for (const key of Object.keys(NONE) as Array<keyof Elections>) total[key] += line.elections[key];
        else total.won += leadersElectedUntil(join(logDir, `broker-${id}.log`), line.time);
        break;
      }
      await sleep(250);
    }
  }
  return total;
}

/** `replica became leader` lines logged up to `until` (ms since the epoch). */
function leadersElectedUntil(file: string, until: number): number {
  return linesBetween(file, 'replica became leader', -Infinity, until);
}

/** Log lines with message `msg` in [from, until] (ms since the epoch). */
function linesBetween(file: string, msg: string, from: number, until: number): number {
  if (!existsSync(file)) return 0;
  let count = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      const time = (JSON.parse(line) as { time: number }).time;
      if (time >= from && time <= until) count++;
    } catch {
      // A line still being written.
    }
  }
  return count;
}

function minus(a: Elections, b: Elections): Elections {
  return { preVotes: a.preVotes - b.preVotes, votes: a.votes - b.votes, transfers: a.transfers - b.transfers, won: a.won - b.won };
}

/** Counts the elections over `during`, which runs the window's work (or just waits). */
async function countWindow(cluster: BenchCluster, logDir: string, name: string, during: () => Promise<number | undefined>): Promise<ElectionWindow> {
  const opened = Date.now();
  const before = await electionsReportedAfter(cluster, opened, logDir);
  const load0 = loadavg()[0]!;
  const start = Date.now();
  const records = await during();
  const seconds = (Date.now() - start) / 1000;
  const load1 = loadavg()[0]!;
  const end = Date.now();
  const after = await electionsReportedAfter(cluster, end, logDir);
  const connectionsClosed = [...cluster.brokers.keys()].reduce((n, id) => n + linesBetween(join(logDir, `broker-${id}.log`), 'peer disconnected', start, end), 0);
  return { name, seconds, elections: minus(after, before), load: [load0, load1], connectionsClosed, ...(records !== undefined ? { records } : {}) };
}

/** Stops broker `id` (SIGSTOP) for `ms`, then continues it: what a machine starved of CPU does to a process. */
async function pauseBroker(cluster: BenchCluster, id: number, ms: number): Promise<void> {
  const pid = cluster.pidOf(id);
  process.kill(pid, 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

/** After a pause, how long elections it provoked would take to show: the woken followers' longest election timeout and then some. */
const AFTER_PAUSE_MS = 4000;

export async function countElections(options: { partitions: number; idleSeconds: number; loadSeconds: number; pauseMs: number; log?: (line: string) => void; cli?: string }): Promise<ElectionWindow[]> {
  const log = options.log ?? (() => undefined);
  const logDir = mkdtempSync(join(tmpdir(), 'flotilla-elections-logs-'));
  const cluster = await startBenchCluster({ extraArgs: STATS_ARGS, logDir, ...(options.cli ? { cli: options.cli } : {}) });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-elections', requestTimeoutMs: 60_000 });
  const windows: ElectionWindow[] = [];
  try {
    const started = Date.now();
    await client.admin().createTopic({ topic: 'elections-idle', partitions: options.partitions, replicationFactor: 3, timeoutMs: 30 * 60_000 });
    await waitBalancedAndQuiet(cluster, options.partitions, started);
    log(`${fmtInt(options.partitions)} partitions created, balanced and quiet; idle for ${options.idleSeconds} s`);
    windows.push(
      await countWindow(cluster, logDir, `idle, ${fmtInt(options.partitions)} partitions`, async () => {
        const end = Date.now() + options.idleSeconds * 1000;
        while (Date.now() < end) {
          cluster.throwIfCrashed();
          await sleep(Math.min(5000, Math.max(0, end - Date.now())));
        }
        return undefined;
      }),
    );
    log(`idle window: ${describeElections(windows[0]!.elections)}; publishing for ${options.loadSeconds} s`);
    const topic = 'elections-publish';
    await createTopicWhenReady(client, { topic, partitions: 3, replicationFactor: 3 });
    windows.push(
      await countWindow(cluster, logDir, `full publish load (1 KiB, acks all, 3 partitions) beside the idle ones`, async () => {
        const producer = client.producer({ acks: 'all' });
        const result = await produceAtFullSpeed(producer, { topic, recordBytes: 1024, durationMs: options.loadSeconds * 1000 });
        await producer.close();
        return result.records;
      }),
    );
    log(`load window: ${describeElections(windows[1]!.elections)}`);
    if (options.pauseMs > 0) {
      await waitBalancedAndQuiet(cluster, options.partitions + 3, Date.now());
      log(`balanced and quiet again; stopping each broker in turn for ${options.pauseMs} ms`);
      windows.push(
        await countWindow(cluster, logDir, `each broker stopped for ${fmtInt(options.pauseMs)} ms in turn, ${AFTER_PAUSE_MS / 1000} s apart`, async () => {
          for (const id of cluster.brokers.keys()) {
            await pauseBroker(cluster, id, options.pauseMs);
            await sleep(AFTER_PAUSE_MS);
            cluster.throwIfCrashed();
          }
          return undefined;
        }),
      );
      log(`pause window: ${describeElections(windows[2]!.elections)}`);
    }
  } finally {
    await client.close();
    await cluster.close();
    rmSync(logDir, { recursive: true, force: true });
  }
  return windows;
}

function describeElections(e: Elections): string {
  return `${e.preVotes} pre-votes, ${e.votes} votes, ${e.transfers} transfers, ${e.won} won`;
}

export function electionsTable(windows: ElectionWindow[]): string {
  const rows = ['| window | duration | pre-votes | votes | transfers | elections won | peer connections closed | load average (start / end) |', '|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const w of windows) {
    const what = w.records !== undefined ? `${w.name}: ${fmtInt(w.records)} records acknowledged` : w.name;
    rows.push(`| ${what} | ${Math.round(w.seconds)} s | ${w.elections.preVotes} | ${w.elections.votes} | ${w.elections.transfers} | ${w.elections.won} | ${w.connectionsClosed} | ${w.load[0].toFixed(1)} / ${w.load[1].toFixed(1)} |`);
  }
  return rows.join('\n');
}

const USAGE = `node dist/bench/elections.js [options]   (npm run build first)

Elections nobody asked for: campaigns counted on 3 local brokers (replication 3) while the
cluster sits idle, then while a producer publishes at full speed, then while each broker
in turn is stopped (SIGSTOP) and continued. All should be 0.

  --partitions N     partitions of the idle cluster (default 1000)
  --idle-seconds S   length of the idle window (default 600)
  --load-seconds S   length of the publishing window (default 60)
  --pause-ms MS      how long each broker is stopped (default 1500: past the 1-s silence
                     window, short of the woken followers' election timeouts; 0: no pauses)
  --baseline REV     count REV's brokers instead (built in a temporary git worktree)
  -h, --help         this text`;

runBenchScript(import.meta.url, USAGE, { '--partitions': 'value', '--idle-seconds': 'value', '--load-seconds': 'value', '--pause-ms': 'value', '--baseline': 'value' }, async (args) => {
  const baselineRev = args.string('--baseline', '');
  const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const baseline = baselineRev ? await prepareBaseline(repoRoot, resolveRevision(repoRoot, baselineRev), (t) => process.stderr.write(`${t}\n`)) : undefined;
  const windows = await countElections({
    ...(baseline ? { cli: baseline.cli } : {}),
    partitions: args.number('--partitions', 1000),
    idleSeconds: args.number('--idle-seconds', 600),
    loadSeconds: args.number('--load-seconds', 60),
    pauseMs: args.number('--pause-ms', 1500),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${electionsTable(windows)}\n`);
  const total = windows.reduce((n, w) => n + w.elections.preVotes + w.elections.votes + w.elections.transfers, 0);
  if (total > 0) process.stdout.write(`${total} campaigns started where none was expected\n`);
});
