/**
 * Thousands of partitions on a 3-broker local cluster (replication 3): how long creating
 * them takes, how leadership is spread the moment creation returns, how long until
 * leadership is balanced (no broker leads a partition whose preferred replica is another
 * one, nothing in flight, leader counts unchanged over three reports), and what an idle
 * broker costs after that — CPU share of one core, memory, and peer traffic (frames,
 * per-group heartbeat entries, other Raft messages per second). The brokers report these
 * themselves (`--stats-interval-ms`); idle figures are the medians of the reports over the
 * measuring window, which starts once balancing has finished and every group has gone
 * quiet. A broker that exits on its own fails the run. With `--faults`, a light producer
 * then writes while one broker is killed and restarted and every broker is restarted in
 * turn; each restart is timed until the broker is back in sync and leadership balanced,
 * and every acknowledged record is read back.
 *
 *   npm run build && node dist/bench/scale.js --help   (its options)
 */
import { Client } from '../client/index.js';
import { MAX_PARTITIONS } from '../protocol/topics.js';
import { runBenchScript } from './cli.js';
import { brokerStats, startBenchCluster, waitFor, type BenchCluster } from './cluster.js';
import { median } from './stats.js';
import { missingAcknowledged, SteadyProducer } from './steady-producer.js';

interface StatsLine {
  groups: number;
  balancing?: { misplacedLeaders: number; transfersInFlight: number; transfersStarted: number; transfersFailed: number };
  quiesced: number;
  leaders: number;
  laggingFollowers: number;
  peerFramesPerSec: number;
  raftMessagesPerSec: number;
  groupHeartbeatsPerSec: number;
  cpuPercent: number;
  rssMiB: number;
  heapMiB: number;
  time: number;
}

export interface ScaleResult {
  partitions: number;
  /** `ulimit -n` of the brokers (undefined: inherited from the bench). */
  openFileLimit: number | undefined;
  createSeconds: number;
  /** From creation returning until balanced and quiet on every broker. */
  quietSeconds: number;
  /** Until every broker reported no misplaced leader, nothing in flight, and the same leader count three times running. */
  balancedSeconds: number;
  /** Partition leaders per broker (by id) when createTopic returned, and how many were the preferred replica. */
  leadersAtCreation: Map<number, number>;
  preferredAtCreation: number;
  /** Measured from the start of the cluster to the end of the idle window. */
  aliveSeconds: number;
  brokers: Array<{ id: number; groups: number; leaders: number; transfersStarted: number; transfersFailed: number; cpuPercent: number; rssMiB: number; heapMiB: number; peerFramesPerSec: number; groupHeartbeatsPerSec: number; raftMessagesPerSec: number }>;
}

const STATS_INTERVAL_MS = 2000;
/** Broker flags for waitBalancedAndQuiet: stats lines are logged at info. */
export const STATS_ARGS = ['--log-level', 'info', '--stats-interval-ms', String(STATS_INTERVAL_MS)];

/**
 * Waits until every broker's stats lines (`--stats-interval-ms`, logged after `since`) show
 * leadership balanced (no misplaced leader, nothing in flight, the same leader count three
 * reports running) and every one of the `partitions` groups and the controller's open, and
 * (unless `quiet` is false: a producer is writing) quiet.
 * Returns when the broker that steadied last first reported steady (ms since the epoch).
 */
export async function waitBalancedAndQuiet(cluster: BenchCluster, partitions: number, since: number, quiet = true): Promise<number> {
  const expected = partitions + 1; // and the controller's group
  let balancedAt = 0;
  await waitFor(
    quiet ? 'leadership balanced and every group on every broker quiet' : 'leadership balanced',
    () => {
      cluster.throwIfCrashed();
      const recent = [...cluster.brokers.keys()].map((id) => brokerStats<StatsLine>(cluster, id, since).slice(-3));
      const balanced = recent.every((lines) =>
        lines.length === 3 && lines.every((l) => l.balancing?.misplacedLeaders === 0 && l.balancing.transfersInFlight === 0 && l.leaders === lines[0]!.leaders));
      if (!balanced) return false;
      // The first of the three steady reports on the broker that steadied last.
      balancedAt ||= Math.max(...recent.map((lines) => lines[0]!.time));
      return recent.every((lines) => lines.at(-1)!.groups === expected && (!quiet || lines.at(-1)!.quiesced >= expected - 1));
    },
    15 * 60_000,
    1000,
  );
  return balancedAt;
}


/**
 * Waits until broker `id`, (re)started at `since`, hosts every one of the `partitions`
 * groups and the controller's, and every broker has since reported no leader with a
 * follower lacking committed entries. Returns the seconds from `since`.
 */
async function waitInSync(cluster: BenchCluster, id: number, partitions: number, since: number): Promise<number> {
  let inSyncAt = 0;
  await waitFor(`broker ${id} back in sync`, () => {
    cluster.throwIfCrashed();
    const opened = brokerStats<StatsLine>(cluster, id, since).find((l) => l.groups === partitions + 1);
    if (!opened) return false;
    const caughtUp = [...cluster.brokers.keys()].map((b) => brokerStats<StatsLine>(cluster, b, opened.time).find((l) => l.laggingFollowers === 0));
    if (caughtUp.some((l) => !l)) return false;
    inSyncAt = Math.max(...caughtUp.map((l) => l!.time));
    return true;
  }, 15 * 60_000, 1000);
  return (inSyncAt - since) / 1000;
}

/** Starts broker `id` again: seconds until it is back in sync, and until leadership is balanced. */
async function restartTimed(cluster: BenchCluster, id: number, partitions: number): Promise<{ inSyncSeconds: number; balancedSeconds: number }> {
  const restarted = Date.now();
  cluster.restart(id);
  const inSyncSeconds = await waitInSync(cluster, id, partitions, restarted);
  const balancedSeconds = Math.max(0, (await waitBalancedAndQuiet(cluster, partitions, restarted, false)) - restarted) / 1000;
  return { inSyncSeconds, balancedSeconds };
}

/** Partitions of the first topic the fault phase's producer writes to, round robin. */
const WRITTEN_PARTITIONS = 300;
/** Its pace: one record every this many ms (100 records/s). */
const WRITE_INTERVAL_MS = 10;

export interface FaultResult {
  partitions: number;
  /** kill -9 of one broker, restarted once the others lead its partitions. */
  killed: { id: number; inSyncSeconds: number; balancedSeconds: number };
  /** Each broker in turn: SIGTERM until it exited, then from its restart until in sync and balanced. */
  rolling: Array<{ id: number; exitCode: number | null; stopSeconds: number; inSyncSeconds: number; balancedSeconds: number }>;
  acknowledged: number;
  /** Acknowledged records not read back from the leaders byte for byte. */
  lost: number;
  producerErrors: number;
  longestGapMs: number;
}

/**
 * Under a light idempotent producer (100 records/s over WRITTEN_PARTITIONS partitions):
 * kill -9 one broker and restart it, then restart every broker in turn with SIGTERM as an
 * operator would, each time measuring until the broker is back in sync and leadership is
 * balanced again; then read every acknowledged record back.
 */
async function runFaults(cluster: BenchCluster, client: Client, partitions: number, log: (line: string) => void): Promise<FaultResult> {
  const producer = new SteadyProducer(client, 'scale', Math.min(partitions, WRITTEN_PARTITIONS), WRITE_INTERVAL_MS).start();
  const acks = async (more: number, what: string) => {
    const target = producer.ackCount + more;
    await waitFor(what, () => {
      cluster.throwIfCrashed();
      return producer.ackCount >= target;
    }, 10 * 60_000, 200);
  };
  try {
    await acks(200, 'a first 200 acknowledgements');
    const victim = 3;
    await cluster.kill(victim);
    await acks(200, `acknowledgements with broker ${victim} killed`);
    const killed = { id: victim, ...(await restartTimed(cluster, victim, partitions)) };
    log(`killed broker ${victim}: back in sync ${killed.inSyncSeconds.toFixed(1)} s after its restart, balanced after ${killed.balancedSeconds.toFixed(1)} s`);
    const rolling: FaultResult['rolling'] = [];
    for (const id of [...cluster.brokers.keys()]) {
      const stopping = Date.now();
      const exitCode = await cluster.stop(id);
      const stopSeconds = (Date.now() - stopping) / 1000;
      const { inSyncSeconds, balancedSeconds } = await restartTimed(cluster, id, partitions);
      rolling.push({ id, exitCode, stopSeconds, inSyncSeconds, balancedSeconds });
      log(`rolling restart, broker ${id}: exited (code ${exitCode}) ${stopSeconds.toFixed(1)} s after SIGTERM, in sync ${inSyncSeconds.toFixed(1)} s and balanced ${balancedSeconds.toFixed(1)} s after its restart`);
    }
    await acks(200, 'acknowledgements after the rolling restart');
    await producer.stop();
    const { missing } = await missingAcknowledged(client, 'scale', producer.acked);
    log(`${producer.summary()}; ${missing} acknowledged records missing when read back`);
    return { partitions, killed, rolling, acknowledged: producer.ackCount, lost: missing, producerErrors: producer.errors.length, longestGapMs: producer.longestGapMs };
  } finally {
    await producer.stop();
  }
}

export function faultTable(results: FaultResult[]): string {
  const rows = [
    '| partitions | broker | restarted after | exited after SIGTERM | back in sync after restart | balanced after restart |',
    '|---:|---:|---|---:|---:|---:|',
  ];
  for (const r of results) {
    const n = r.partitions.toLocaleString('en-US');
    rows.push(`| ${n} | ${r.killed.id} | kill -9 | | ${r.killed.inSyncSeconds.toFixed(1)} s | ${r.killed.balancedSeconds.toFixed(1)} s |`);
    for (const b of r.rolling) rows.push(`| ${n} | ${b.id} | SIGTERM (rolling) | ${b.stopSeconds.toFixed(1)} s (code ${b.exitCode}) | ${b.inSyncSeconds.toFixed(1)} s | ${b.balancedSeconds.toFixed(1)} s |`);
  }
  const totals = results.map((r) => `${r.partitions.toLocaleString('en-US')} partitions: ${r.acknowledged} records acknowledged, ${r.lost} lost, ${r.producerErrors} producer errors, longest stretch without an acknowledgement ${r.longestGapMs} ms`);
  return [...rows, '', ...totals].join('\n');
}

/** `partitions` as topics of at most MAX_PARTITIONS each: scale, scale-1, scale-2, ... */
export function scaleTopics(partitions: number): Array<{ topic: string; partitions: number }> {
  const topics: Array<{ topic: string; partitions: number }> = [];
  for (let left = partitions; left > 0; left -= MAX_PARTITIONS) {
    topics.push({ topic: topics.length === 0 ? 'scale' : `scale-${topics.length}`, partitions: Math.min(left, MAX_PARTITIONS) });
  }
  return topics;
}

export async function runScale(partitions: number, idleSeconds: number, log: (line: string) => void = () => undefined, openFileLimit?: number, profileDir?: string, faults?: FaultResult[]): Promise<ScaleResult> {
  // Brokers log at info here: the stats lines are info; nothing else logs when idle.
  const cluster = await startBenchCluster({
    extraArgs: STATS_ARGS,
    ...(openFileLimit ? { openFileLimit } : {}),
    ...(profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}),
  });
  const clusterStarted = Date.now();
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-scale', requestTimeoutMs: 60_000 });
  try {
    const topics = scaleTopics(partitions);
    const started = Date.now();
    await cluster.whileAlive(Promise.all(topics.map(({ topic, partitions }) => client.admin().createTopic({ topic, partitions, replicationFactor: 3, timeoutMs: 30 * 60_000 }))));
    const created = Date.now();
    const createSeconds = (created - started) / 1000;
    const described = (await Promise.all(topics.map(({ topic }) => client.admin().describeTopic(topic)))).flatMap((d) => d.partitions);
    const leadersAtCreation = new Map<number, number>([...cluster.brokers.keys()].map((id) => [id, 0]));
    for (const p of described) if (p.leader !== null) leadersAtCreation.set(p.leader, (leadersAtCreation.get(p.leader) ?? 0) + 1);
    const preferredAtCreation = described.filter((p) => p.leader === p.replicas[0]).length;
    log(`${partitions} partitions created in ${createSeconds.toFixed(1)} s; leaders per broker then: ${[...leadersAtCreation].map(([id, n]) => `${id}: ${n}`).join(', ')} (${preferredAtCreation} preferred)`);
    const balancedAt = await waitBalancedAndQuiet(cluster, partitions, created);
    const balancedSeconds = Math.max(0, (balancedAt - created) / 1000);
    const quietSeconds = (Date.now() - created) / 1000;
    log(`balanced ${balancedSeconds.toFixed(1)} s and quiet ${quietSeconds.toFixed(1)} s after creation returned; measuring ${idleSeconds} s of idleness`);
    const from = Date.now();
    const end = from + idleSeconds * 1000;
    while (Date.now() < end) {
      cluster.throwIfCrashed();
      await new Promise((r) => setTimeout(r, Math.min(5000, Math.max(0, end - Date.now()))));
    }
    cluster.throwIfCrashed();
    const aliveSeconds = (Date.now() - clusterStarted) / 1000;
    const idleStats = new Map([...cluster.brokers.keys()].map((id) => [id, brokerStats<StatsLine>(cluster, id, from + STATS_INTERVAL_MS)]));
    if (faults) faults.push(await runFaults(cluster, client, partitions, log));
    const brokers = [...cluster.brokers.keys()].map((id) => {
      const lines = idleStats.get(id)!;
      const pick = (key: 'cpuPercent' | 'rssMiB' | 'heapMiB' | 'peerFramesPerSec' | 'groupHeartbeatsPerSec' | 'raftMessagesPerSec') => median(lines.map((l) => l[key]));
      const last = lines.at(-1)!;
      return {
        id,
        groups: last.groups,
        // The controller's group is one of the groups it leads.
        leaders: last.leaders,
        transfersStarted: last.balancing?.transfersStarted ?? 0,
        transfersFailed: last.balancing?.transfersFailed ?? 0,
        cpuPercent: pick('cpuPercent'),
        rssMiB: pick('rssMiB'),
        heapMiB: pick('heapMiB'),
        peerFramesPerSec: pick('peerFramesPerSec'),
        groupHeartbeatsPerSec: pick('groupHeartbeatsPerSec'),
        raftMessagesPerSec: pick('raftMessagesPerSec'),
      };
    });
    return { partitions, openFileLimit, createSeconds, quietSeconds, balancedSeconds, leadersAtCreation, preferredAtCreation, aliveSeconds, brokers };
  } finally {
    await client.close();
    // A profile is written only by a broker that exits on its own (SIGTERM), not by a kill.
    if (profileDir) await Promise.all([...cluster.brokers.keys()].map((id) => cluster.stop(id)));
    await cluster.close();
  }
}

export function scaleTable(results: ScaleResult[]): string {
  const rows = [
    '| partitions (replication 3) | `ulimit -n` | create | broker | leaders when creation returned | balanced after | transfers (failed) | leads (partitions + controller) | idle CPU (% of a core) | RSS | heap | peer frames/s | group heartbeats/s | other Raft msgs/s | brokers alive for |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    for (const b of r.brokers) {
      rows.push(
        `| ${r.partitions.toLocaleString('en-US')} | ${r.openFileLimit?.toLocaleString('en-US') ?? 'inherited'} | ${r.createSeconds.toFixed(1)} s | ${b.id} | ${(r.leadersAtCreation.get(b.id) ?? 0).toLocaleString('en-US')} | ${r.balancedSeconds.toFixed(1)} s | ${b.transfersStarted} (${b.transfersFailed}) | ${b.leaders.toLocaleString('en-US')} | ${b.cpuPercent.toFixed(1)} | ${b.rssMiB} MiB | ${b.heapMiB} MiB | ${b.peerFramesPerSec} | ${b.groupHeartbeatsPerSec} | ${b.raftMessagesPerSec} | ${Math.round(r.aliveSeconds)} s |`,
      );
    }
  }
  return rows.join('\n');
}

const USAGE = `node dist/bench/scale.js [options]   (npm run build first)

Thousands of partitions on 3 local brokers (replication 3; topics of at most 10,000
partitions, created at once): creation time, leaders when it returns, time until balanced
and quiet, then idle CPU, memory and peer traffic per broker.

  --partitions N[,N...]        partition counts, one cluster each (default 1000,10000)
  --idle-seconds S             length of the idle window measured (default 20)
  --open-file-limits N[,N...]  run each count with the brokers under \`ulimit -n\` N
                               (default: the limit this shell has)
  --faults                     then, under a light producer (100 records/s over 300
                               partitions): kill -9 a broker and restart it, restart
                               every broker in turn (SIGTERM), and read every
                               acknowledged record back
  --cpu-prof DIR               profile every broker (node --cpu-prof); the profiles are
                               written to DIR as the brokers stop
  -h, --help                   this text`;

runBenchScript(import.meta.url, USAGE, { '--partitions': 'value', '--idle-seconds': 'value', '--open-file-limits': 'value', '--cpu-prof': 'value', '--faults': 'flag' }, async (args) => {
  const counts = args.numbers('--partitions', '1000,10000');
  const idleSeconds = args.number('--idle-seconds', 20);
  const limits = args.string('--open-file-limits', '') === '' ? [undefined] : args.numbers('--open-file-limits', '');
  const results: ScaleResult[] = [];
  const faults: FaultResult[] | undefined = args.flag('--faults') ? [] : undefined;
  for (const limit of limits) {
    for (const count of counts) {
      results.push(await runScale(count, idleSeconds, (line) => process.stderr.write(`${line}\n`), limit, args.string('--cpu-prof', '') || undefined, faults));
      process.stderr.write(`${scaleTable(results.slice(-1))}\n`);
    }
  }
  process.stdout.write(`${scaleTable(results)}\n`);
  if (faults) process.stdout.write(`\n${faultTable(faults)}\n`);
});
