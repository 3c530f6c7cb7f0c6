/**
 * The standard benchmark table (SPEC section 7), what `npm run bench` runs:
 * a 3-broker cluster of real processes on this machine (fsync always unless --fsync says
 * otherwise), topics with replication 3, producers with acks all, and
 *   - publish throughput at full speed, 100 B and 1 KiB records;
 *   - consume throughput, reading back what was published;
 *   - publish and end-to-end latency p50/p99/p99.9 at a fixed rate of 1 KiB records;
 *   - failover time after kill -9 of a partition leader.
 * Prints one markdown table and writes bench/results/latest.json.
 *
 *   npm run bench [-- --micro] [-- --fsync never] [-- --quick] [-- --tls] [-- --out FILE]
 *
 * --tls runs the same table with TLS on every connection the measured clients and the
 * brokers' replication use (certificates generated with openssl into a temp folder); the
 * brokers also allow plaintext, which only set-up and the failover measurement use.
 *
 * --micro adds the storage, Raft and protocol micro-benchmarks' tables (about 2 minutes).
 * Throughput figures are the median of --runs runs (default 3), with min–max beside.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '../client/index.js';
import { generateCertificates } from './certificates.js';
import { startBenchCluster, type BenchCluster } from './cluster.js';
import { CpuMeter, type CpuUse } from './cpu.js';
import { measureFailover, type FailoverResult } from './failover.js';
import { Progress } from './progress.js';
import { fmtFixed, fmtInt, fmtSpread, spread, summarizeLatency, type LatencySummary, type Spread } from './stats.js';
import { consume, createTopicWhenReady, produceAtFixedRate, produceAtFullSpeed, type ThroughputResult } from './workload.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

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
  /** TLS for the measured clients and between brokers. */
  tls: boolean;
}

const DEFAULTS: RunSettings = { fsync: 'always', runs: 3, publishMs: 6_000, partitions: 3, latencyRate: 2_000, latencyMs: 20_000, warmupMs: 2_000, failoverRuns: 3, tls: false };
const QUICK: Partial<RunSettings> = { runs: 1, publishMs: 3_000, latencyMs: 5_000, warmupMs: 1_000, failoverRuns: 1 };

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
  latency: { recordBytes: number; rate: number; publish: LatencySummary; endToEnd: LatencySummary; achievedRate: number; behind: number };
  failover: FailoverResult & { leaderElectedMs: Spread; firstAckMs: Spread };
  /** Records acknowledged by publish runs but not read back by the consume runs. */
  missingOnReadBack: number;
  /** Records a consumer was handed twice (or behind one it had): must be 0. */
  repeatedOnReadBack: number;
  /** CPU use per phase: bench process, each broker, other processes. */
  cpu: Record<'publish' | 'consume' | 'latency', CpuUse>;
}

function figures(recordBytes: number, results: ThroughputResult[]): ThroughputFigures {
  return {
    recordBytes,
    recordsPerSecond: spread(results.map((r) => r.recordsPerSecond)),
    mbPerSecond: spread(results.map((r) => r.mbPerSecond)),
    records: results.reduce((n, r) => n + r.records, 0),
  };
}

function gitCommit(): string | null {
  try {
    const head = readText(join(repoRoot, '.git', 'HEAD')).trim();
    if (!head.startsWith('ref: ')) return head;
    return readText(join(repoRoot, '.git', head.slice(5))).trim();
  } catch {
    return null;
  }
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

export async function runClusterBench(settings: RunSettings, progress: Progress): Promise<BenchResults> {
  progress.update('starting a 3-broker cluster');
  const certs = settings.tls ? generateCertificates(mkdtempSync(join(tmpdir(), 'flotilla-bench-tls-'))) : null;
  const brokerArgs = (id: number): string[] => {
    const own = certs?.brokers.get(id);
    return certs && own ? ['--tls-cert', own.cert, '--tls-key', own.key, '--tls-ca', certs.ca, '--tls-allow-plaintext'] : [];
  };
  const cluster: BenchCluster = await startBenchCluster({ brokers: 3, fsync: settings.fsync, brokerArgs });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench', ...(certs ? { tls: { ca: readFileSync(certs.ca) } } : {}) });
  try {
    const admin = client.admin();
    const sizes = [100, 1024];
    const topicOf = (size: number) => `bench-publish-${size}`;
    for (const size of sizes) await createTopicWhenReady(client, { topic: topicOf(size), partitions: settings.partitions, replicationFactor: 3 });

    const cpu = {} as BenchResults['cpu'];
    // Publish at full speed; runs of both sizes interleave so that drift hits both alike.
    let meter = new CpuMeter(cluster.pids());
    const publishRuns = new Map<number, ThroughputResult[]>(sizes.map((s) => [s, []]));
    for (let run = 0; run < settings.runs; run++) {
      for (const size of sizes) {
        const producer = client.producer({ acks: 'all' });
        const label = `publish ${size} B, run ${run + 1}/${settings.runs}`;
        progress.update(label);
        const result = await produceAtFullSpeed(producer, {
          topic: topicOf(size),
          recordBytes: size,
          durationMs: settings.publishMs,
          onProgress: (acked) => progress.update(`${label}: ${fmtInt(acked)} acked`),
        });
        await producer.close();
        publishRuns.get(size)!.push(result);
      }
    }

    cpu.publish = meter.read();
    // Consume: read back everything published, from the start, by one consumer.
    meter = new CpuMeter(cluster.pids());
    const consumeRuns = new Map<number, ThroughputResult[]>(sizes.map((s) => [s, []]));
    let missingOnReadBack = 0;
    let repeatedOnReadBack = 0;
    for (let run = 0; run < settings.runs; run++) {
      for (const size of sizes) {
        const label = `consume ${size} B, run ${run + 1}/${settings.runs}`;
        progress.update(label);
        const expected = publishRuns.get(size)!.reduce((n, r) => n + r.records, 0);
        const { done } = consume(client, {
          topic: topicOf(size),
          partitions: settings.partitions,
          from: 'earliest',
          untilCaughtUp: true,
          onProgress: (n) => progress.update(`${label}: ${fmtInt(n)} of ${fmtInt(expected)}`),
        });
        const result = await done;
        missingOnReadBack = Math.max(missingOnReadBack, expected - (result.records - result.repeated));
        repeatedOnReadBack += result.repeated;
        consumeRuns.get(size)!.push(result);
      }
    }
    cpu.consume = meter.read();
    for (const size of sizes) await admin.deleteTopic(topicOf(size)).catch(() => undefined);

    // Latency at a fixed rate, a tailing consumer in the same process.
    const latencyTopic = 'bench-latency';
    await createTopicWhenReady(client, { topic: latencyTopic, partitions: settings.partitions, replicationFactor: 3 });
    const totalMs = settings.latencyMs + settings.warmupMs;
    const stopTail = new AbortController();
    const tail = consume(client, {
      topic: latencyTopic,
      partitions: settings.partitions,
      from: 'latest',
      records: Math.floor((totalMs / 1000) * settings.latencyRate),
      signal: stopTail.signal,
      stamped: true,
    });
    await tail.ready;
    const latencyProducer = client.producer({ acks: 'all' });
    const label = `latency: ${fmtInt(settings.latencyRate)} records/s of 1 KiB for ${totalMs / 1000} s`;
    progress.update(label);
    meter = new CpuMeter(cluster.pids());
    const fixed = await produceAtFixedRate(latencyProducer, {
      topic: latencyTopic,
      recordBytes: 1024,
      rate: settings.latencyRate,
      durationMs: totalMs,
      warmupMs: settings.warmupMs,
      onProgress: (acked) => progress.update(`${label}: ${fmtInt(acked)} acked`),
    });
    await latencyProducer.close();
    cpu.latency = meter.read();
    // Every record is acknowledged; the consumer should have them within a fetch wait or two.
    const giveUp = setTimeout(() => stopTail.abort(), 5_000);
    const tailed = await tail.done;
    clearTimeout(giveUp);
    const measuredFrom = fixed.startedAt + settings.warmupMs;
    const endToEnd = tailed.endToEndLatencyMs.filter((_, i) => tailed.stamps[i]! >= measuredFrom);
    const tailMissing = fixed.records - (tailed.records - tailed.repeated);
    repeatedOnReadBack += tailed.repeated;
    await admin.deleteTopic(latencyTopic).catch(() => undefined);

    progress.update('failover');
    const failover = await measureFailover(cluster, { runs: settings.failoverRuns, onProgress: (t) => progress.update(t) });
    return {
      meta: {
        date: new Date().toISOString(),
        node: process.version,
        cpus: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        platform: `${os.platform()} ${os.release()}`,
        settings,
        commit: gitCommit(),
      },
      publish: sizes.map((s) => figures(s, publishRuns.get(s)!)),
      consume: sizes.map((s) => figures(s, consumeRuns.get(s)!)),
      latency: {
        recordBytes: 1024,
        rate: settings.latencyRate,
        publish: summarizeLatency(fixed.publishLatencyMs),
        endToEnd: summarizeLatency(endToEnd),
        achievedRate: fixed.recordsPerSecond,
        behind: fixed.behind,
      },
      failover: {
        ...failover,
        leaderElectedMs: spread(failover.runs.map((r) => r.leaderElectedMs)),
        firstAckMs: spread(failover.runs.map((r) => r.firstAckMs)),
      },
      missingOnReadBack: Math.max(missingOnReadBack, tailMissing),
      repeatedOnReadBack,
      cpu,
    };
  } catch (err) {
    progress.done();
    if (cluster.crashes.length > 0) process.stderr.write(`${cluster.crashReport()}\n`);
    throw err;
  } finally {
    progress.update('stopping the cluster');
    await client.close().catch(() => undefined);
    await cluster.close();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  }
}

/** The one table of SPEC section 7. */
export function renderTable(r: BenchResults): string {
  const s = r.meta.settings;
  const ms = (n: number) => fmtFixed(n, 1);
  const rows: string[][] = [];
  for (const f of r.publish) {
    rows.push([`publish, ${f.recordBytes} B records`, `${fmtSpread(f.recordsPerSecond, fmtInt)} records/s`, `${fmtSpread(f.mbPerSecond, (n) => fmtFixed(n, 2))} MB/s`]);
  }
  for (const f of r.consume) {
    rows.push([`consume, ${f.recordBytes} B records (read back ${fmtInt(f.records / f.recordsPerSecond.runs.length)} stored)`, `${fmtSpread(f.recordsPerSecond, fmtInt)} records/s`, `${fmtSpread(f.mbPerSecond, (n) => fmtFixed(n, 2))} MB/s`]);
  }
  const l = r.latency;
  const lat = (x: LatencySummary) => `p50 ${ms(x.p50)} / p99 ${ms(x.p99)} / p99.9 ${ms(x.p999)} ms`;
  rows.push([`publish latency (send → ack), ${fmtInt(l.rate)} records/s of ${l.recordBytes} B`, lat(l.publish), `max ${ms(l.publish.max)} ms, ${fmtInt(l.publish.count)} records`]);
  rows.push([`end-to-end latency (send → consumer), same run`, lat(l.endToEnd), `max ${ms(l.endToEnd.max)} ms, ${fmtInt(l.endToEnd.count)} records`]);
  const f = r.failover;
  rows.push([`failover after kill -9 of the leader: new leader in metadata`, `${fmtSpread(f.leaderElectedMs, fmtInt)} ms`, `${f.runs.length} kills`]);
  rows.push([`failover after kill -9 of the leader: producer's next ack`, `${fmtSpread(f.firstAckMs, fmtInt)} ms`, `${fmtInt(f.acked)} acked, ${f.lost} lost`]);
  const header = `Flotilla ${r.meta.commit?.slice(0, 7) ?? ''}: 3 brokers on one machine (${r.meta.cores} × ${r.meta.cpus}), replication 3, acks all, fsync ${s.fsync}, ` +
    `${s.tls ? 'TLS (ECDSA P-256) for clients and replication, ' : ''}${s.partitions} partitions per topic, one producer (lingerMs 2, batchBytes 1 MiB, window 8,192 records), ${r.meta.node}, ${r.meta.date}. ` +
    `Throughput: median (min–max) of ${s.runs} runs of ${s.publishMs / 1000} s.`;
  const lines = [header, '', '| measure | result | |', '|---|---:|---:|', ...rows.map((cells) => `| ${cells.join(' | ')} |`)];
  const cores = (c: CpuUse) => `bench process ${fmtFixed(c.benchCores, 2)}, brokers ${c.brokerCores.map((b) => fmtFixed(b, 2)).join(' + ')}, other processes ${fmtFixed(c.otherCores, 2)}`;
  lines.push('', `CPU in cores (of ${r.meta.cores}): publish runs: ${cores(r.cpu.publish)}; consume runs: ${cores(r.cpu.consume)}; latency run: ${cores(r.cpu.latency)}.`);
  if (r.missingOnReadBack > 0) lines.push('', `WARNING: ${r.missingOnReadBack} acknowledged records were not read back.`);
  if (r.repeatedOnReadBack > 0) lines.push('', `WARNING: consumers were handed ${r.repeatedOnReadBack} records at or below an offset they had already received.`);
  if (l.behind > 0) lines.push('', `WARNING: the fixed-rate producer fell ${l.behind} records behind its schedule.`);
  return lines.join('\n');
}

async function runMicroBenchmarks(progress: Progress): Promise<string> {
  const parts: string[] = [];
  progress.update('micro: protocol');
  const { runProtocolBench } = await import('./protocol.js');
  parts.push('### Protocol micro-benchmark', '', runProtocolBench());
  progress.update('micro: Raft core');
  const { benchRaft, printTables } = await import('./raft.js');
  const raft = benchRaft();
  // printTables writes to the console; capture it to keep one output stream.
  const captured: string[] = [];
  const log = console.log;
  console.log = (...items: unknown[]) => void captured.push(items.join(' '));
  try {
    printTables(raft);
  } finally {
    console.log = log;
  }
  parts.push('', '### Raft core micro-benchmark', '', captured.join('\n'));
  progress.update('micro: storage');
  const { runStorageBench } = await import('./storage.js');
  parts.push('', '### Storage micro-benchmark', '', (await runStorageBench({ durationMs: 1_000, partitions: 2_000 })).markdown);
  return parts.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      micro: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      tls: { type: 'boolean', default: false },
      fsync: { type: 'string', default: 'always' },
      runs: { type: 'string' },
      out: { type: 'string', default: join(repoRoot, 'bench', 'results', 'latest.json') },
    },
  });
  if (!['always', 'batch', 'never'].includes(values.fsync!)) throw new Error(`--fsync takes always, batch or never, got ${values.fsync}`);
  const settings: RunSettings = { ...DEFAULTS, ...(values.quick ? QUICK : {}), fsync: values.fsync as RunSettings['fsync'], tls: values.tls! };
  if (values.runs !== undefined) settings.runs = Number(values.runs);
  const progress = new Progress();
  const started = performance.now();
  const results = await runClusterBench(settings, progress);
  let micro: string | null = null;
  if (values.micro) micro = await runMicroBenchmarks(progress);
  progress.done();
  const table = renderTable(results);
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify({ ...results, table, micro }, null, 2)}\n`);
  process.stdout.write(`${table}\n${micro ? `\n${micro}\n` : ''}`);
  process.stderr.write(`bench: ${((performance.now() - started) / 1000).toFixed(0)} s, results in ${values.out}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
