/**
 * The standard benchmark table (SPEC section 7), what `npm run bench` runs:
 * a 3-broker cluster of real processes on this machine (fsync always unless --fsync says
 * otherwise), topics with replication 3, producers with acks all, and
 *   - publish throughput at full speed, 100 B and 1 KiB records;
 *   - consume throughput, reading back what was published;
 *   - publish latency p50/p99/p99.9 at a fixed rate of 1 KiB records, the producer alone,
 *     then publish and end-to-end latency at the same rate with a consumer tailing the topic;
 *   - failover time after kill -9 of a partition leader.
 * It also reports the brokers' CPU-seconds per GB produced and per GB consumed (from /proc).
 * Prints one markdown table and writes bench/results/latest.json; `--help` lists the options.
 *
 * With --baseline REV the same passes run alternately on REV's brokers and this
 * checkout's (bench/baseline.ts builds REV, bench/compare.ts makes the table of ratios).
 *
 * With --secure, rounds alternate between a plaintext cluster and a secure one (TLS on
 * every connection, SCRAM-SHA-512 clients under ACLs: bench/secure.ts), and the table gives
 * secure ÷ plaintext of their medians.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '../client/index.js';
import { BASELINE_CACHE, headRevision, prepareBaseline, resolveRevision, type Revision } from './baseline.js';
import { startBenchCluster, type BenchCluster } from './cluster.js';
import { compare, renderComparison } from './compare.js';
import { CpuMeter, type CpuUse } from './cpu.js';
import { measureFdatasync } from './disk.js';
import { measureFailover } from './failover.js';
import { onInterrupt } from './interrupt.js';
import { warnOfMissingGeneratorFlags } from './process-cluster.js';
import { Progress } from './progress.js';
import type { BenchResults, RunSettings, ThroughputFigures } from './results.js';
import { renderSecureComparison, secureBench } from './secure.js';
import { fmtFixed, fmtInt, fmtSpread, MB, spread, summarizeLatency, type LatencySummary } from './stats.js';
import { consume, createTopicWhenReady, produceAtFixedRate, produceAtFullSpeed, type FixedRateResult, type ThroughputResult } from './workload.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const DEFAULTS: RunSettings = { fsync: 'always', runs: 3, publishMs: 6_000, partitions: 3, latencyRate: 2_000, latencyMs: 20_000, warmupMs: 2_000, failoverRuns: 3, secure: false };
const QUICK: Partial<RunSettings> = { runs: 1, publishMs: 3_000, latencyMs: 5_000, warmupMs: 1_000, failoverRuns: 1 };

function figures(recordBytes: number, results: ThroughputResult[]): ThroughputFigures {
  return {
    recordBytes,
    recordsPerSecond: spread(results.map((r) => r.recordsPerSecond)),
    mbPerSecond: spread(results.map((r) => r.mbPerSecond)),
    records: results.reduce((n, r) => n + r.records, 0),
  };
}

/** Which brokers a pass runs: this checkout's (the default) or another revision's build. */
export interface BrokerBuild {
  /** The `flotilla` CLI the brokers run; default this checkout's dist/. */
  cli?: string;
  commit: string | null;
}

const GB = 1_000 * MB;

export async function runClusterBench(settings: RunSettings, progress: Pick<Progress, 'update' | 'done'>, brokers: BrokerBuild = { commit: headRevision(repoRoot)?.commit ?? null }): Promise<BenchResults> {
  progress.update(`starting a 3-broker cluster${brokers.cli ? ` of ${brokers.commit?.slice(0, 7)}` : ''}`);
  const security = settings.secure ? secureBench() : null;
  let cluster: BenchCluster;
  try {
    cluster = await startBenchCluster(
      { brokers: 3, fsync: settings.fsync, cli: brokers.cli, ...(security ? { brokerArgs: security.brokerArgs, env: security.env } : {}) },
      security?.admin,
    );
  } catch (err) {
    security?.dispose();
    throw err;
  }
  const releaseInterrupt = onInterrupt(() => cluster.abandon());
  const login = security?.client ?? {};
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench', ...login });
  try {
    await security?.grant(cluster.bootstrap);
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
    // Topics stay until the cluster's directories go at the end: deleting the publish runs'
    // gigabytes just before the latency runs had the brokers unlinking segments while they
    // fsynced, and the disk's fdatasync p99 measured then read 3-8 ms instead of 0.3-1.

    // Latency at a fixed rate, twice. First the producer alone: the ack path's own cost,
    // what the latency goal is about. Then the same load with a consumer tailing the topic
    // (in this process, reading from any replica): end-to-end latency, and what one more
    // busy client on the same cores does to the acks.
    // The floor an ack stands on, on the brokers' own file system in the same sitting.
    progress.update('fdatasync of the disk');
    const fdatasync = measureFdatasync({ dir: cluster.root });
    meter = new CpuMeter(cluster.pids());
    const alone = await fixedRateRun(client, settings, progress, { topic: 'bench-latency', tail: false });
    cpu.latency = meter.read();
    meter = new CpuMeter(cluster.pids());
    const tailed = await fixedRateRun(client, settings, progress, { topic: 'bench-latency-tailed', tail: true });
    cpu.latencyTailed = meter.read();
    repeatedOnReadBack += tailed.repeated;

    progress.update('failover');
    const failover = await measureFailover(cluster, { runs: settings.failoverRuns, onProgress: (t) => progress.update(t), login });
    return {
      meta: {
        date: new Date().toISOString(),
        node: process.version,
        cpus: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        platform: `${os.platform()} ${os.release()}`,
        settings,
        commit: brokers.commit,
      },
      publish: sizes.map((s) => figures(s, publishRuns.get(s)!)),
      consume: sizes.map((s) => figures(s, consumeRuns.get(s)!)),
      latency: {
        recordBytes: 1024,
        rate: settings.latencyRate,
        publish: summarizeLatency(alone.fixed.publishLatencyMs),
        sendDelay: summarizeLatency(alone.fixed.sendDelayMs),
        achievedRate: alone.fixed.recordsPerSecond,
        behind: alone.fixed.behind + tailed.fixed.behind,
        fdatasync,
        endToEnd: summarizeLatency(tailed.endToEnd),
        publishTailed: summarizeLatency(tailed.fixed.publishLatencyMs),
      },
      failover: {
        ...failover,
        leaderElectedMs: spread(failover.runs.map((r) => r.leaderElectedMs)),
        firstAckMs: spread(failover.runs.map((r) => r.firstAckMs)),
      },
      missingOnReadBack: Math.max(missingOnReadBack, tailed.missing),
      repeatedOnReadBack,
      cpu,
      brokerCpuSecondsPerGB: {
        produced: cpu.publish.brokerSeconds / (bytesOf(publishRuns) / GB),
        consumed: cpu.consume.brokerSeconds / (bytesOf(consumeRuns) / GB),
      },
    };
  } catch (err) {
    progress.done();
    if (cluster.crashes.length > 0) process.stderr.write(`${cluster.crashReport()}\n`);
    throw err;
  } finally {
    progress.update('stopping the cluster');
    await client.close().catch(() => undefined);
    await cluster.close();
    releaseInterrupt();
    security?.dispose();
  }
}

interface LatencyRun {
  fixed: FixedRateResult;
  endToEnd: ArrayLike<number>;
  missing: number;
  repeated: number;
}

/**
 * One fixed-rate run of 1 KiB records with `lingerMs: 0` (each record leaves at once, so the
 * figure is the path's, not the linger's) on a topic of its own; with `tail`, a consumer
 * follows the topic from its end and yields end-to-end latencies (records sent after the
 * warm-up) and what it missed or got twice.
 */
async function fixedRateRun(client: Client, settings: RunSettings, progress: Pick<Progress, 'update'>, options: { topic: string; tail: boolean }): Promise<LatencyRun> {
  const { topic } = options;
  await createTopicWhenReady(client, { topic, partitions: settings.partitions, replicationFactor: 3 });
  const totalMs = settings.latencyMs + settings.warmupMs;
  const stopTail = new AbortController();
  const tail = options.tail
    ? consume(client, { topic, partitions: settings.partitions, from: 'latest', records: Math.floor((totalMs / 1000) * settings.latencyRate), signal: stopTail.signal, stamped: true })
    : null;
  // A consumer that fails surfaces here or where its result is awaited, not as an
  // unhandled rejection in the middle of the run.
  tail?.done.catch(() => undefined);
  if (tail) await Promise.race([tail.ready, tail.done]);
  const producer = client.producer({ acks: 'all', lingerMs: 0 });
  const label = `latency${options.tail ? ' with a tailing consumer' : ''}: ${fmtInt(settings.latencyRate)} records/s of 1 KiB for ${totalMs / 1000} s`;
  progress.update(label);
  const fixed = await produceAtFixedRate(producer, {
    topic,
    recordBytes: 1024,
    rate: settings.latencyRate,
    durationMs: totalMs,
    warmupMs: settings.warmupMs,
    onProgress: (acked) => progress.update(`${label}: ${fmtInt(acked)} acked`),
  });
  await producer.close();
  if (!tail) return { fixed, endToEnd: [], missing: 0, repeated: 0 };
  // Every record is acknowledged; the consumer should have them within a fetch wait or two.
  const giveUp = setTimeout(() => stopTail.abort(), 5_000);
  const tailed = await tail.done;
  clearTimeout(giveUp);
  const measuredFrom = fixed.startedAt + settings.warmupMs;
  return {
    fixed,
    endToEnd: tailed.endToEndLatencyMs.filter((_, i) => tailed.stamps[i]! >= measuredFrom),
    missing: fixed.records - (tailed.records - tailed.repeated),
    repeated: tailed.repeated,
  };
}

function bytesOf(runs: Map<number, ThroughputResult[]>): number {
  return [...runs.values()].flat().reduce((n, r) => n + r.bytes, 0);
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
  rows.push([`publish latency (send → ack), ${fmtInt(l.rate)} records/s of ${l.recordBytes} B, lingerMs 0, the producer alone`, lat(l.publish), `max ${ms(l.publish.max)} ms, ${fmtInt(l.publish.count)} records`]);
  if (l.sendDelay) rows.push([`the load generator's send() behind its schedule, same run`, `p50 ${fmtFixed(l.sendDelay.p50, 2)} / p99 ${fmtFixed(l.sendDelay.p99, 2)} ms`, `max ${ms(l.sendDelay.max)} ms`]);
  if (l.publishTailed) rows.push([`publish latency, same load with a consumer tailing the topic`, lat(l.publishTailed), `max ${ms(l.publishTailed.max)} ms, ${fmtInt(l.publishTailed.count)} records`]);
  rows.push([`end-to-end latency (send → consumer), ${l.publishTailed ? 'that run' : 'same run'}`, lat(l.endToEnd), `max ${ms(l.endToEnd.max)} ms, ${fmtInt(l.endToEnd.count)} records`]);
  if (l.fdatasync) rows.push([`the disk's fdatasync after a 4 KiB append, same sitting`, `p50 ${fmtFixed(l.fdatasync.p50, 2)} / p99 ${fmtFixed(l.fdatasync.p99, 2)} ms`, `${fmtInt(l.fdatasync.count)} syncs`]);
  const perGB = (value: number, phase: CpuUse) => [`${fmtFixed(value, 1)} CPU-s/GB`, `${fmtFixed(phase.brokerSeconds, 1)} CPU-s over ${fmtFixed(phase.brokerSeconds / value, 3)} GB`];
  rows.push([`broker CPU per GB produced (publish runs, 3 brokers together)`, ...perGB(r.brokerCpuSecondsPerGB.produced, r.cpu.publish)]);
  rows.push([`broker CPU per GB consumed (consume runs, 3 brokers together)`, ...perGB(r.brokerCpuSecondsPerGB.consumed, r.cpu.consume)]);
  const f = r.failover;
  rows.push([`failover after kill -9 of the leader: new leader in metadata`, `${fmtSpread(f.leaderElectedMs, fmtInt)} ms`, `${f.runs.length} kills`]);
  rows.push([`failover after kill -9 of the leader: producer's next ack`, `${fmtSpread(f.firstAckMs, fmtInt)} ms`, `${fmtInt(f.acked)} acked, ${f.lost} lost`]);
  const header = `Flotilla ${r.meta.commit?.slice(0, 7) ?? ''}: 3 brokers on one machine (${r.meta.cores} × ${r.meta.cpus}), replication 3, acks all, fsync ${s.fsync}, ` +
    `${s.secure ? 'TLS (ECDSA P-256) on every connection and SCRAM-SHA-512 clients under ACLs, ' : ''}${s.partitions} partitions per topic, one producer (lingerMs 2, batchBytes 1 MiB, window 8,192 records; lingerMs 0 for latency), ${r.meta.node}, ${r.meta.date}. ` +
    `Throughput: median (min–max) of ${s.runs} runs of ${s.publishMs / 1000} s.`;
  const lines = [header, '', '| measure | result | |', '|---|---:|---:|', ...rows.map((cells) => `| ${cells.join(' | ')} |`)];
  const cores = (c: CpuUse) => `bench process ${fmtFixed(c.benchCores, 2)}, brokers ${c.brokerCores.map((b) => fmtFixed(b, 2)).join(' + ')}, other processes ${fmtFixed(c.otherCores, 2)}`;
  lines.push('', `CPU in cores (of ${r.meta.cores}): publish runs: ${cores(r.cpu.publish)}; consume runs: ${cores(r.cpu.consume)}; latency run: ${cores(r.cpu.latency)}${r.cpu.latencyTailed ? `; latency run with a tailing consumer: ${cores(r.cpu.latencyTailed)}` : ''}.`);
  if (r.missingOnReadBack > 0) lines.push('', `WARNING: ${r.missingOnReadBack} acknowledged records were not read back.`);
  if (r.repeatedOnReadBack > 0) lines.push('', `WARNING: consumers were handed ${r.repeatedOnReadBack} records at or below an offset they had already received.`);
  if (l.behind > 0) lines.push('', `WARNING: the fixed-rate producer fell ${l.behind} records behind its schedule.`);
  return lines.join('\n');
}

async function runMicroBenchmarks(progress: Pick<Progress, 'update'>): Promise<string> {
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

export const USAGE = `Usage: npm run bench -- [options]

3 brokers of this checkout on 127.0.0.1 (each its own process, fsync always), replication 3,
acks all: publish and consume throughput, publish and end-to-end latency at a fixed rate,
the brokers' CPU-seconds per GB produced and consumed, failover after kill -9 of a leader.

Options:
  --quick          1 run of each, shorter publish and latency runs (about 30 s)
  --runs N         runs of each throughput measure (default 3); with --baseline, rounds per revision
  --fsync MODE     always (default), batch or never
  --micro          also the storage, Raft and protocol micro-benchmarks (about 2 minutes)
  --secure         what TLS + SCRAM cost: rounds alternate a plaintext cluster and a secure one (TLS on
                   every connection, mutual TLS between brokers, clients with SCRAM-SHA-512 under
                   ACLs; certificates made with openssl), --runs rounds each (one run of each
                   measure per round), and print plaintext, secure and secure / plaintext of the
                   medians (results in bench/results/secure.json)
  --baseline REV   compare this checkout with REV (a commit, tag, branch or HEAD~N): build REV in a
                   temporary git worktree (npm ci from its lockfile, npm run build), kept by commit
                   in ${BASELINE_CACHE} for the next time; then run the measurements in
                   alternating rounds on REV's brokers and on this checkout's (baseline, head,
                   baseline, head, ...; --runs rounds each; one cluster at a time) and print
                   baseline, head and head / baseline of the medians. The load generator is this
                   checkout's for both, so only the brokers differ.
  --out FILE       results JSON (default bench/results/latest.json, with --baseline
                   bench/results/baseline.json)
  -h, --help       this text
`;

export interface BenchOptions {
  settings: RunSettings;
  micro: boolean;
  /** A revision to compare with, or null for the standard table alone. */
  baseline: string | null;
  /** Compare plaintext with TLS + SCRAM instead. */
  secure: boolean;
  out: string;
  help: boolean;
}

/** The command line of `npm run bench`, checked; errors say what each option takes. */
export function parseBenchArgs(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      micro: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      secure: { type: 'boolean', default: false },
      fsync: { type: 'string', default: 'always' },
      runs: { type: 'string' },
      baseline: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (!['always', 'batch', 'never'].includes(values.fsync!)) throw new Error(`--fsync takes always, batch or never, got ${values.fsync}`);
  const settings: RunSettings = { ...DEFAULTS, ...(values.quick ? QUICK : {}), fsync: values.fsync as RunSettings['fsync'] };
  if (values.runs !== undefined) {
    settings.runs = Number(values.runs);
    if (!Number.isInteger(settings.runs) || settings.runs < 1) throw new Error(`--runs takes a whole number of at least 1, got ${values.runs}`);
  }
  const baseline = values.baseline ?? null;
  if (baseline !== null && baseline.trim() === '') throw new Error('--baseline takes a revision: a commit, tag, branch or HEAD~N');
  if (baseline !== null && values.micro) throw new Error('--micro measures this checkout alone; run it without --baseline');
  if (values.secure && (baseline !== null || values.micro)) throw new Error('--secure compares plaintext with TLS + SCRAM on this checkout; run it without --baseline and --micro');
  const resultsFile = values.secure ? 'secure.json' : baseline === null ? 'latest.json' : 'baseline.json';
  const out = values.out ?? join(repoRoot, 'bench', 'results', resultsFile);
  return { settings, micro: values.micro!, baseline, secure: values.secure!, out, help: values.help! };
}

/**
 * The standard passes on `rev`'s brokers and on this checkout's, alternating one pass at
 * a time, `settings.runs` passes each; every pass is one run of every measure on a fresh cluster.
 */
async function runComparison(rev: string, settings: RunSettings, progress: Progress) {
  const revision = resolveRevision(repoRoot, rev);
  const head: Revision = headRevision(repoRoot) ?? { commit: 'unknown', title: 'this checkout' };
  const build = await prepareBaseline(repoRoot, revision, (text) => progress.update(text));
  const round: RunSettings = { ...settings, runs: 1, failoverRuns: 1 };
  const rounds = { baseline: [] as BenchResults[], head: [] as BenchResults[] };
  for (let i = 0; i < settings.runs; i++) {
    const labelled = (name: string) => ({ update: (text: string) => progress.update(`round ${i + 1}/${settings.runs}, ${name}: ${text}`), done: () => progress.done() });
    rounds.baseline.push(await runClusterBench(round, labelled(`baseline ${revision.commit.slice(0, 7)}`), { cli: build.cli, commit: build.commit }));
    rounds.head.push(await runClusterBench(round, labelled('head'), { commit: head.commit }));
  }
  const baselineSide = { title: build.title, rounds: rounds.baseline };
  const headSide = { title: head.title, rounds: rounds.head };
  return {
    baseline: { commit: build.commit, title: build.title, buildCached: build.cached, rounds: rounds.baseline },
    head: { commit: head.commit, title: head.title, rounds: rounds.head },
    comparison: compare(rounds.baseline, rounds.head),
    table: renderComparison(baselineSide, headSide),
  };
}

/**
 * Plaintext and secure passes alternating, `settings.runs` each; every pass is one run of
 * every measure on a fresh cluster.
 */
async function runSecureComparison(settings: RunSettings, progress: Progress) {
  const round: RunSettings = { ...settings, runs: 1, failoverRuns: 1 };
  const rounds = { plaintext: [] as BenchResults[], secure: [] as BenchResults[] };
  for (let i = 0; i < settings.runs; i++) {
    const labelled = (name: string) => ({ update: (text: string) => progress.update(`round ${i + 1}/${settings.runs}, ${name}: ${text}`), done: () => progress.done() });
    rounds.plaintext.push(await runClusterBench({ ...round, secure: false }, labelled('plaintext')));
    rounds.secure.push(await runClusterBench({ ...round, secure: true }, labelled('TLS + SCRAM')));
  }
  return { ...rounds, comparison: compare(rounds.plaintext, rounds.secure), table: renderSecureComparison(rounds.plaintext, rounds.secure) };
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  warnOfMissingGeneratorFlags('dist/bench/run.js');
  const progress = new Progress();
  const started = performance.now();
  let output: object;
  let printed: string;
  if (options.secure) {
    const comparison = await runSecureComparison(options.settings, progress);
    progress.done();
    output = comparison;
    printed = comparison.table;
  } else if (options.baseline !== null) {
    const comparison = await runComparison(options.baseline, options.settings, progress);
    progress.done();
    output = comparison;
    printed = comparison.table;
  } else {
    const results = await runClusterBench(options.settings, progress);
    let micro: string | null = null;
    if (options.micro) micro = await runMicroBenchmarks(progress);
    progress.done();
    const table = renderTable(results);
    output = { ...results, table, micro };
    printed = `${table}${micro ? `\n\n${micro}` : ''}`;
  }
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(output, null, 2)}\n`);
  process.stdout.write(`${printed}\n`);
  process.stderr.write(`bench: ${((performance.now() - started) / 1000).toFixed(0)} s, results in ${options.out}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
