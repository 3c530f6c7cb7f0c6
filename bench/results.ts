/**
 * What one `npm run bench` pass measures (bench/run.ts), as written to the results JSON;
 * a `--baseline` comparison (bench/compare.ts) holds one of these per round and revision.
 */
import type { CpuUse } from './cpu.js';
import type { FailoverResult } from './failover.js';
import type { LatencySummary, Spread } from './stats.js';

export interface RunSettings {
  fsync: 'always' | 'batch' | 'never';
  runs: number;
  /** Length of one full-speed publish run. */
  publishMs: number;
  partitions: number;
  latencyRate: number;
  latencyMs: number;
  warmupMs: number;
  failoverRuns: number;
  /** TLS and SCRAM-SHA-512 for every client, mutual TLS between brokers (bench/secure.ts). */
  secure: boolean;
}

export interface ThroughputFigures {
  recordBytes: number;
  recordsPerSecond: Spread;
  mbPerSecond: Spread;
  records: number;
}

export interface BenchResults {
  meta: { date: string; node: string; cpus: string; cores: number; platform: string; settings: RunSettings; commit: string | null };
  publish: ThroughputFigures[];
  consume: ThroughputFigures[];
  latency: {
    recordBytes: number;
    rate: number;
    /** Send → ack, the producer alone (the first run). */
    publish: LatencySummary;
    /** Send → consumer, in the second run, where a consumer tails the topic. */
    endToEnd: LatencySummary;
    /** Send → ack in that second run; absent in results from before the runs were split. */
    publishTailed?: LatencySummary;
    /** How late the load generator's send() calls were against their schedule; absent in older results. */
    sendDelay?: LatencySummary;
    achievedRate: number;
    behind: number;
    /** The disk's own fdatasync after a 4 KiB append, measured just before the run (bench/disk.ts); absent in older results. */
    fdatasync?: LatencySummary;
  };
  failover: FailoverResult & { leaderElectedMs: Spread; firstAckMs: Spread };
  /** Records acknowledged by publish runs but not read back by the consume runs. */
  missingOnReadBack: number;
  /** Records a consumer was handed twice (or behind one it had): must be 0. */
  repeatedOnReadBack: number;
  /** CPU use per phase: bench process, each broker, other processes (latencyTailed: absent in older results). */
  cpu: Record<'publish' | 'consume' | 'latency', CpuUse> & { latencyTailed?: CpuUse };
  /**
   * CPU-seconds all brokers together spent per GB (10^9 bytes) of record payload, over the
   * publish runs (replication and fsync included) and over the consume runs.
   */
  brokerCpuSecondsPerGB: { produced: number; consumed: number };
}
