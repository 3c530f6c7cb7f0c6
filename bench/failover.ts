/**
 * Failover time after kill -9 of a partition leader, seen from a producer: a producer
 * sends at a steady rate (acks all) to a one-partition topic; we find the leader, kill
 * its process with SIGKILL, and measure from the kill to
 *   - the first new leader (not the killed broker) reported by describeTopic, and
 *   - the first acknowledgement of a record the producer sent after the kill.
 * The second includes the client's own recovery (connection loss, metadata refresh,
 * retry backoff): it is what an application waits. The killed broker is restarted and
 * given time to catch up before the next run. At the end every acknowledged offset is
 * read back, so a run also checks that failover lost no acknowledged record.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type ClientOptions } from '../client/index.js';
import type { ClientLogger } from '../client/logger.js';
import type { BenchCluster } from './cluster.js';
import { headRevision, prepareBaseline, resolveRevision } from './baseline.js';
import { runBenchScript } from './cli.js';
import { startBenchCluster, waitFor } from './cluster.js';
import { median } from './stats.js';
import { createTopicWhenReady, payloadOf, TIMESTAMP_BYTES } from './workload.js';

export interface FailoverRun {
  killedBroker: number;
  newLeader: number;
  /** Kill → describeTopic names a new leader (ms). */
  leaderElectedMs: number;
  /** Kill → the first ack of a record sent after the kill (ms). */
  firstAckMs: number;
  /** Wall-clock time of the kill (ms since the epoch), to place the brokers' log lines. */
  killedAtEpochMs: number;
}

export interface FailoverResult {
  runs: FailoverRun[];
  acked: number;
  /** Acknowledged offsets not found when the partition was read back (must be 0). */
  lost: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function measureFailover(
  cluster: BenchCluster,
  options: {
    runs: number;
    rate?: number;
    topic?: string;
    onProgress?: (text: string) => void;
    login?: Partial<ClientOptions>;
    /** The producer's client logs here (the timeline reads its retries). */
    logger?: ClientLogger;
  },
): Promise<FailoverResult> {
  const topic = options.topic ?? 'bench-failover';
  const rate = options.rate ?? 500;
  const login = options.login ?? {};
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-failover', ...login, ...(options.logger ? { logger: options.logger } : {}) });
  // A separate client for metadata, so the producer's cache and retries are left alone.
  const watcher = new Client({ brokers: cluster.bootstrap, clientId: 'bench-failover-watch', requestTimeoutMs: 1_000, ...login });
  const admin = watcher.admin();
  await createTopicWhenReady(client, { topic, partitions: 1, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all', lingerMs: 0 });
  const template = payloadOf(64);
  const ackedOffsets = new Map<number, number>();
  let sendErrors = 0;
  let lastAckOfPostKillSend = Infinity;
  let killedAt = Infinity;
  let sending = true;
  let sequence = 0;

  // Steady sender; records carry their send time so that an ack can be matched to "after the kill".
  const sender = (async () => {
    const interval = 1000 / rate;
    let next = performance.now();
    while (sending) {
      const sentAt = performance.now();
      const value = Buffer.from(template);
      value.writeDoubleLE(sentAt, 0);
      value.writeUInt32LE(sequence++, TIMESTAMP_BYTES);
      producer.send({ topic, value }).then(
        (ack) => {
          ackedOffsets.set(ack.offset, sentAt);
          if (sentAt >= killedAt && lastAckOfPostKillSend === Infinity) lastAckOfPostKillSend = performance.now();
        },
        () => sendErrors++,
      );
      next += interval;
      await sleep(Math.max(0, next - performance.now()));
    }
  })();

  const runs: FailoverRun[] = [];
  try {
    for (let run = 0; run < options.runs; run++) {
      options.onProgress?.(`failover run ${run + 1}/${options.runs}: steady state`);
      // Steady state first: every replica alive and in sync, acks flowing.
      await waitFor('all three replicas in sync', async () => {
        const p = (await admin.describeTopic(topic)).partitions[0]!;
        return p.leader !== null && p.inSync.length === 3;
      }, 60_000);
      await sleep(1500);
      const leader = (await admin.describeTopic(topic)).partitions[0]!.leader!;
      lastAckOfPostKillSend = Infinity;
      const killedAtEpochMs = Date.now();
      killedAt = performance.now();
      await cluster.kill(leader);
      options.onProgress?.(`failover run ${run + 1}/${options.runs}: killed broker ${leader}, waiting`);
      let leaderElectedMs = NaN;
      let newLeader = -1;
      await waitFor('a new leader in metadata', async () => {
        const p = (await admin.describeTopic(topic)).partitions[0]!;
        if (p.leader === null || p.leader === leader) return false;
        leaderElectedMs = performance.now() - killedAt;
        newLeader = p.leader;
        return true;
      }, 60_000, 10);
      await waitFor('an ack of a record sent after the kill', () => lastAckOfPostKillSend !== Infinity, 60_000, 5);
      runs.push({ killedBroker: leader, newLeader, leaderElectedMs, firstAckMs: lastAckOfPostKillSend - killedAt, killedAtEpochMs });
      killedAt = Infinity;
      cluster.restart(leader);
    }
  } finally {
    sending = false;
    await sender;
    await producer.flush().catch(() => undefined);
  }

  // Read the partition back: every acknowledged offset must be there.
  options.onProgress?.('failover: reading back acknowledged records');
  const expected = new Set(ackedOffsets.keys());
  const hw = (await admin.describeTopic(topic)).partitions[0]!.highWatermark;
  const consumer = client.consumer({ readFrom: 'leader', maxWaitMs: 100 });
  consumer.assign([{ topic, partition: 0, offset: 'earliest' }]);
  const giveUpAt = performance.now() + 60_000;
  // The last batches may carry no user records (leader no-ops): stop on the fetch position.
  const caughtUp = setInterval(() => {
    const p = consumer.progress()[0]!;
    if ((p.fetchOffset !== null && p.fetchOffset >= hw && p.buffered === 0) || performance.now() > giveUpAt) void consumer.close();
  }, 20);
  for await (const m of consumer) {
    expected.delete(m.offset);
    if (expected.size === 0) break;
  }
  clearInterval(caughtUp);
  await consumer.close();
  await client.admin().deleteTopic(topic).catch(() => undefined);
  await Promise.all([client.close(), watcher.close()]);
  if (sendErrors > 0) options.onProgress?.(`failover: ${sendErrors} sends failed (delivery timeout)`);
  return { runs, acked: ackedOffsets.size, lost: expected.size };
}

/** One step of a failover, in ms after the kill, with where it was seen. */
export interface TimelineStep {
  ms: number;
  what: string;
}

/** A JSON log line with its time (pino's `time`, ms since the epoch). */
type LogLine = { time: number; msg: string; [field: string]: unknown };

function logLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as LogLine;
      if (typeof parsed.time === 'number') lines.push(parsed);
    } catch {
      // Not a log line.
    }
  }
  return lines;
}

/**
 * What happened between a kill and the producer's next ack, from the surviving brokers'
 * logs (debug level: campaigns are debug lines) and the producer's client log: the
 * peer connection to the killed broker closing, pre-vote and vote campaigns of the
 * topic's partition, the election won, and the producer's retries.
 */
export function failoverTimeline(run: FailoverRun, topic: string, brokerLogs: ReadonlyMap<number, string>, clientLog: ReadonlyArray<LogLine>): TimelineStep[] {
  const from = run.killedAtEpochMs;
  const until = from + run.firstAckMs;
  const steps: TimelineStep[] = [];
  const within = (line: LogLine) => line.time >= from && line.time <= until + 50;
  for (const [id, text] of brokerLogs) {
    if (id === run.killedBroker) continue;
    for (const line of logLines(text).filter(within)) {
      const at = `broker ${id}`;
      if (line.msg === 'peer connection lost' && line.peer === run.killedBroker) steps.push({ ms: line.time - from, what: `${at}: its connection to the killed broker closed` });
      if (line.msg === 'peer disconnected' && line.peer === run.killedBroker) steps.push({ ms: line.time - from, what: `${at}: the killed broker's connection to it closed` });
      if (line.topic !== topic) continue;
      if (line.msg === 'raft: campaign') steps.push({ ms: line.time - from, what: `${at}: campaign (${String(line.kind)}, term ${String(line.term)})` });
      else if (line.msg === 'raft: lost') steps.push({ ms: line.time - from, what: `${at}: lost the ${String(line.kind)}` });
      else if (line.msg === 'raft: vote-refused') steps.push({ ms: line.time - from, what: `${at}: refused a ${String(line.kind)} (${String(line.why)})` });
      else if (line.msg === 'raft: leader-lost') steps.push({ ms: line.time - from, what: `${at}: stops vouching for the leader (its connection closed)` });
      else if (line.msg === 'replica became leader') steps.push({ ms: line.time - from, what: `${at}: became leader (term ${String(line.term)})` });
    }
  }
  for (const line of clientLog.filter(within)) {
    if (line.msg === 'produce retry') steps.push({ ms: line.time - from, what: `producer: retry after ${String(line.code)} (attempt ${String(line.attempt)})` });
    else if (line.msg === 'request failed') steps.push({ ms: line.time - from, what: `producer: ${String(line.request)} to ${String(line.broker)} failed (${String(line.code)})` });
  }
  steps.push({ ms: run.leaderElectedMs, what: 'watcher: describeTopic names the new leader' });
  steps.push({ ms: run.firstAckMs, what: 'producer: first ack of a record sent after the kill' });
  return steps.sort((a, b) => a.ms - b.ms);
}

/** A client logger that keeps every line with its time, for the timeline. */
function recordingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): ClientLogger {
  const keep = (obj: object, msg?: string) => lines.push({ ...bindings, ...obj, time: Date.now(), msg: msg ?? '' });
  return { debug: keep, info: keep, warn: keep, error: keep, child: (more) => recordingLogger(lines, { ...bindings, ...more }) };
}

/** Kills on a fresh cluster of the given brokers (`cli`: another revision's build), printed as they go. */
async function killsOn(kills: number, rate: number, timeline: boolean, label: string, cli?: string): Promise<FailoverRun[]> {
  const logDir = mkdtempSync(join(tmpdir(), 'flotilla-failover-logs-'));
  const cluster = await startBenchCluster({ logDir, extraArgs: timeline ? ['--log-level', 'debug'] : [], ...(cli ? { cli } : {}) });
  const clientLog: LogLine[] = [];
  const topic = 'bench-failover';
  try {
    const result = await measureFailover(cluster, { runs: kills, rate, topic, onProgress: (t) => process.stderr.write(`${label}: ${t}\n`), ...(timeline ? { logger: recordingLogger(clientLog) } : {}) });
    if (result.lost > 0) throw new Error(`${label}: ${result.lost} acknowledged records were lost`);
    const logOf = (id: number) => {
      const file = join(logDir, `broker-${id}.log`);
      return existsSync(file) ? readFileSync(file, 'utf8') : ''; // a broker that logged nothing has none
    };
    const brokerLogs = new Map([...cluster.brokers.keys()].map((id) => [id, logOf(id)] as const));
    for (const run of result.runs) {
      process.stdout.write(`${label}: killed broker ${run.killedBroker}; new leader ${run.newLeader} in metadata after ${Math.round(run.leaderElectedMs)} ms; next ack after ${Math.round(run.firstAckMs)} ms\n`);
      if (!timeline) continue;
      for (const step of failoverTimeline(run, topic, brokerLogs, clientLog)) process.stdout.write(`  ${String(Math.round(step.ms)).padStart(6)} ms  ${step.what}\n`);
    }
    return result.runs;
  } finally {
    await cluster.close();
    rmSync(logDir, { recursive: true, force: true });
  }
}

function summary(label: string, runs: FailoverRun[]): string {
  const ms = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return `${Math.round(median(sorted))} ms (${Math.round(sorted[0]!)}–${Math.round(sorted.at(-1)!)})`;
  };
  return `${label}: next ack after the kill ${ms(runs.map((r) => r.firstAckMs))}, new leader in metadata ${ms(runs.map((r) => r.leaderElectedMs))}; median (min–max) of ${runs.length} kills`;
}

const USAGE = `node dist/bench/failover.js [options]   (npm run build first)

kill -9 of a partition leader on 3 local brokers under a steady producer, and the time to
the producer's next acknowledged write (median over the kills).

  --kills N        kills, each on a fresh cluster (default 5)
  --rate R         records per second the producer sends (default 500)
  --timeline       run the brokers at debug level and print each kill's steps from their logs
  --baseline REV   alternate one kill on REV's brokers (built in a temporary git worktree)
                   with one on this checkout's, --kills rounds
  -h, --help       this text`;

runBenchScript(import.meta.url, USAGE, { '--kills': 'value', '--rate': 'value', '--timeline': 'flag', '--baseline': 'value' }, async (args) => {
  const kills = args.number('--kills', 5);
  const rate = args.number('--rate', 500);
  const timeline = args.flag('--timeline');
  const baselineRev = args.string('--baseline', '');
  if (!baselineRev) {
    process.stdout.write(`${summary('this checkout', await killsOn(kills, rate, timeline, 'this checkout'))}\n`);
    return;
  }
  const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const baseline = await prepareBaseline(repoRoot, resolveRevision(repoRoot, baselineRev), (t) => process.stderr.write(`${t}\n`));
  const head = headRevision(repoRoot)?.commit.slice(0, 7) ?? 'this checkout';
  const runs = { baseline: [] as FailoverRun[], head: [] as FailoverRun[] };
  for (let round = 0; round < kills; round++) {
    runs.baseline.push(...(await killsOn(1, rate, timeline, baseline.commit.slice(0, 7), baseline.cli)));
    runs.head.push(...(await killsOn(1, rate, timeline, head)));
  }
  process.stdout.write(`${summary(baseline.commit.slice(0, 7), runs.baseline)}\n${summary(head, runs.head)}\n`);
});
