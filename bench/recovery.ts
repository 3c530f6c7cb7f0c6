/**
 * A broker returns after missing writes to every partition: how long until every follower
 * holds everything committed, and what the catch-up costs the returning broker (peak RSS,
 * CPU) and the wire (peer messages dropped at a full socket), with recovery permits
 * (`--recovery-concurrency`) at each value asked for — the same workload, one cluster per
 * value, in one sitting. The brokers report the figures themselves (`--stats-interval-ms`).
 *
 *   npm run build && node dist/bench/recovery.js --help   (its options)
 */
import { Client } from '../client/index.js';
import { runBenchScript } from './cli.js';
import { brokerStats, startBenchCluster, waitFor } from './cluster.js';

interface StatsLine {
  time: number;
  laggingFollowers: number;
  cpuPercent: number;
  rssMiB: number;
  peerMessagesDropped: number;
  recoveries?: { active: number; waiting: number; peakPerPeer: number; peakWaiting: number; granted: number };
}

export interface RecoveryResult {
  concurrency: number;
  partitions: number;
  backlogMiB: number;
  catchUpSeconds: number;
  returningPeakRssMiB: number;
  returningMeanCpuPercent: number;
  leaderPeakPerPeer: number;
  leaderPeakWaiting: number;
  droppedMessages: number;
}

const STATS_INTERVAL_MS = 250;
const RETURNING = 3;


export async function runRecovery(partitions: number, kibPerPartition: number, concurrency: number, log: (line: string) => void = () => undefined): Promise<RecoveryResult> {
  const cluster = await startBenchCluster({
    extraArgs: ['--log-level', 'info', '--stats-interval-ms', String(STATS_INTERVAL_MS), '--recovery-concurrency', String(concurrency)],
  });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-recovery', requestTimeoutMs: 60_000 });
  try {
    await client.admin().createTopic({ topic: 'recovery', partitions, replicationFactor: 3, timeoutMs: 30 * 60_000 });
    await cluster.stop(RETURNING);

    // The backlog: kibPerPartition records of 1 KiB on every partition, acks all (2 of 3).
    const writeStarted = Date.now();
    const producer = client.producer({ acks: 'all', lingerMs: 20 });
    const value = Buffer.alloc(1024, 'b');
    let inFlight: Array<Promise<unknown>> = [];
    for (let i = 0; i < kibPerPartition; i++) {
      for (let partition = 0; partition < partitions; partition++) {
        inFlight.push(producer.send({ topic: 'recovery', partition, value }));
        if (inFlight.length >= 20_000) {
          await Promise.all(inFlight);
          inFlight = [];
        }
      }
    }
    await Promise.all(inFlight);
    await producer.close();
    const backlogMiB = (partitions * kibPerPartition) / 1024;
    log(`concurrency ${concurrency}: ${backlogMiB.toFixed(0)} MiB written over ${partitions} partitions in ${((Date.now() - writeStarted) / 1000).toFixed(1)} s while broker ${RETURNING} was down`);

    const returnedAt = Date.now();
    cluster.restart(RETURNING);
    const leaders = [...cluster.brokers.keys()].filter((id) => id !== RETURNING);
    const caughtUp = await waitFor(
      'every follower to hold everything committed',
      () => {
        const latest = leaders.map((id) => brokerStats<StatsLine>(cluster, id, returnedAt + STATS_INTERVAL_MS).at(-1));
        if (latest.some((s) => s === undefined || s.laggingFollowers > 0)) return undefined;
        return Math.max(...latest.map((s) => s!.time));
      },
      30 * 60_000,
      STATS_INTERVAL_MS,
    );
    const catchUpSeconds = (caughtUp - returnedAt) / 1000;
    const returning = brokerStats<StatsLine>(cluster, RETURNING, returnedAt).filter((s) => s.time <= caughtUp + STATS_INTERVAL_MS);
    const leaderLines = leaders.map((id) => brokerStats<StatsLine>(cluster, id, returnedAt).at(-1)!);
    const result: RecoveryResult = {
      concurrency,
      partitions,
      backlogMiB,
      catchUpSeconds,
      returningPeakRssMiB: Math.max(0, ...returning.map((s) => s.rssMiB)),
      returningMeanCpuPercent: returning.length ? returning.reduce((n, s) => n + s.cpuPercent, 0) / returning.length : NaN,
      leaderPeakPerPeer: Math.max(0, ...leaderLines.map((s) => s.recoveries?.peakPerPeer ?? 0)),
      leaderPeakWaiting: Math.max(0, ...leaderLines.map((s) => s.recoveries?.peakWaiting ?? 0)),
      droppedMessages: leaderLines.reduce((n, s) => n + s.peerMessagesDropped, 0),
    };
    log(`concurrency ${concurrency}: caught up in ${catchUpSeconds.toFixed(1)} s`);
    return result;
  } finally {
    await client.close();
    await cluster.close();
  }
}

export function recoveryTable(results: RecoveryResult[]): string {
  const rows = [
    '| partitions (replication 3) | backlog | --recovery-concurrency | caught up in | returning broker: peak RSS | its mean CPU (% of a core) | catch-ups at once per leader broker (peak) | waiting (peak) | peer messages dropped |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    rows.push(
      `| ${r.partitions.toLocaleString('en-US')} | ${r.backlogMiB.toFixed(0)} MiB | ${r.concurrency === 0 ? 'no limit' : r.concurrency} | ${r.catchUpSeconds.toFixed(1)} s | ${r.returningPeakRssMiB} MiB | ${r.returningMeanCpuPercent.toFixed(0)} | ${r.concurrency === 0 ? 'not counted' : r.leaderPeakPerPeer} | ${r.concurrency === 0 ? '–' : r.leaderPeakWaiting} | ${r.droppedMessages} |`,
    );
  }
  return rows.join('\n');
}

const USAGE = `node dist/bench/recovery.js [options]   (npm run build first)

A broker returning to 3 local brokers after missing writes to many partitions: how long it
takes to catch up, its memory and CPU, and how many partitions each leader sends at once.

  --partitions N           partitions (default 1000)
  --kib-per-partition K    KiB written to each while the broker was away (default 64)
  --concurrency N[,N...]   --recovery-concurrency of each run; 0 for no limit (default 32,0)
  -h, --help               this text`;

runBenchScript(import.meta.url, USAGE, { '--partitions': 'value', '--kib-per-partition': 'value', '--concurrency': 'value' }, async (args) => {
  const partitions = args.number('--partitions', 1000);
  const kib = args.number('--kib-per-partition', 64);
  const results: RecoveryResult[] = [];
  for (const concurrency of args.numbers('--concurrency', '32,0')) results.push(await runRecovery(partitions, kib, concurrency, (line) => process.stderr.write(`${line}\n`)));
  process.stdout.write(`${recoveryTable(results)}\n`);
});
