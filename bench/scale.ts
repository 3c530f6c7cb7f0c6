/**
 * Thousands of partitions on a 3-broker local cluster (replication 3): how long creating
 * them takes, and what an idle broker costs afterwards — CPU share of one core, memory,
 * and peer traffic (frames, per-group heartbeat entries, other Raft messages per second).
 * The brokers report these themselves (`--stats-interval-ms`); idle figures are the
 * medians of the reports over the measuring window, once every group has gone quiet.
 *
 *   npm run build && node dist/bench/scale.js [--partitions 1000,10000] [--idle-seconds 20]
 */
import { fileURLToPath } from 'node:url';
import { Client } from '../client/index.js';
import { brokerStats, cliOption, startBenchCluster, waitFor } from './cluster.js';
import { median } from './stats.js';

interface StatsLine {
  groups: number;
  quiesced: number;
  leaders: number;
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
  createSeconds: number;
  quietSeconds: number;
  brokers: Array<{ id: number; groups: number; leaders: number; cpuPercent: number; rssMiB: number; heapMiB: number; peerFramesPerSec: number; groupHeartbeatsPerSec: number; raftMessagesPerSec: number }>;
}

const STATS_INTERVAL_MS = 2000;


export async function runScale(partitions: number, idleSeconds: number, log: (line: string) => void = () => undefined): Promise<ScaleResult> {
  // Brokers log at info here: the stats lines are info; nothing else logs when idle.
  const cluster = await startBenchCluster({ extraArgs: ['--log-level', 'info', '--stats-interval-ms', String(STATS_INTERVAL_MS)] });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-scale', requestTimeoutMs: 60_000 });
  try {
    const started = Date.now();
    await client.admin().createTopic({ topic: 'scale', partitions, replicationFactor: 3, timeoutMs: 30 * 60_000 });
    const createSeconds = (Date.now() - started) / 1000;
    log(`${partitions} partitions created in ${createSeconds.toFixed(1)} s`);
    const expected = partitions + 1; // and the controller's group
    await waitFor(
      'every group on every broker to go quiet',
      () => [...cluster.brokers.keys()].every((id) => {
        const last = brokerStats<StatsLine>(cluster, id, 0).at(-1);
        return last !== undefined && last.groups === expected && last.quiesced >= expected - 1;
      }),
      15 * 60_000,
      1000,
    );
    const quietSeconds = (Date.now() - started) / 1000 - createSeconds;
    log(`quiet ${quietSeconds.toFixed(1)} s later; measuring ${idleSeconds} s of idleness`);
    const from = Date.now();
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const brokers = [...cluster.brokers.keys()].map((id) => {
      const lines = brokerStats<StatsLine>(cluster, id, from + STATS_INTERVAL_MS);
      const pick = (key: keyof StatsLine) => median(lines.map((l) => l[key]));
      const last = lines.at(-1)!;
      return {
        id,
        groups: last.groups,
        leaders: last.leaders,
        cpuPercent: pick('cpuPercent'),
        rssMiB: pick('rssMiB'),
        heapMiB: pick('heapMiB'),
        peerFramesPerSec: pick('peerFramesPerSec'),
        groupHeartbeatsPerSec: pick('groupHeartbeatsPerSec'),
        raftMessagesPerSec: pick('raftMessagesPerSec'),
      };
    });
    return { partitions, createSeconds, quietSeconds, brokers };
  } finally {
    await client.close();
    await cluster.close();
  }
}

export function scaleTable(results: ScaleResult[]): string {
  const rows = [
    '| partitions (replication 3) | create | until all quiet | broker | groups | leads | idle CPU (% of a core) | RSS | heap | peer frames/s | group heartbeats/s | other Raft msgs/s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    for (const b of r.brokers) {
      rows.push(
        `| ${r.partitions.toLocaleString('en-US')} | ${r.createSeconds.toFixed(1)} s | ${r.quietSeconds.toFixed(1)} s | ${b.id} | ${b.groups} | ${b.leaders} | ${b.cpuPercent.toFixed(1)} | ${b.rssMiB} MiB | ${b.heapMiB} MiB | ${b.peerFramesPerSec} | ${b.groupHeartbeatsPerSec} | ${b.raftMessagesPerSec} |`,
      );
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => cliOption(args, name, fallback);
  const counts = option('--partitions', '1000,10000').split(',').map(Number);
  const idleSeconds = Number(option('--idle-seconds', '20'));
  const results: ScaleResult[] = [];
  for (const count of counts) results.push(await runScale(count, idleSeconds, (line) => process.stderr.write(`${line}\n`)));
  process.stdout.write(`${scaleTable(results)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
