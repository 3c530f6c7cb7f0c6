// `npm run bench -- --baseline REV` and `-- --secure`: their command line, the revision and
// CLI checks, and the tables of ratios. No timing is asserted; the passes compared here are made up.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executableOf, missingBrokerFlags, resolveRevision } from '../../bench/baseline.js';
import { shebangNodeFlags } from '../../bench/process-cluster.js';
import { compare, fmtRatio, renderComparison } from '../../bench/compare.js';
import type { CpuUse } from '../../bench/cpu.js';
import type { BenchResults } from '../../bench/results.js';
import { parseBenchArgs } from '../../bench/run.js';
import { renderSecureComparison } from '../../bench/secure.js';
import { spread, summarizeLatency } from '../../bench/stats.js';

const CLI = 'dist/client/cli/main.js';

t.test('the command line: defaults, --quick with --baseline, and errors that name the option', async (t) => {
  const plain = parseBenchArgs([]);
  t.equal(plain.baseline, null);
  t.equal(plain.settings.runs, 3);
  t.match(plain.out, /bench[/\\]results[/\\]latest\.json$/);

  const quick = parseBenchArgs(['--quick', '--baseline', 'HEAD~3', '--fsync', 'never']);
  t.equal(quick.baseline, 'HEAD~3');
  t.equal(quick.settings.runs, 1);
  t.equal(quick.settings.fsync, 'never');
  t.match(quick.out, /bench[/\\]results[/\\]baseline\.json$/, 'a comparison does not overwrite latest.json');
  t.equal(parseBenchArgs(['--quick', '--runs', '4']).settings.runs, 4, '--runs wins over --quick');
  t.equal(parseBenchArgs(['-h']).help, true);

  t.throws(() => parseBenchArgs(['--runs', '0']), /--runs takes a whole number/);
  t.throws(() => parseBenchArgs(['--fsync', 'sometimes']), /--fsync takes always, batch or never/);
  t.throws(() => parseBenchArgs(['--baseline', 'HEAD~1', '--micro']), /--micro measures this checkout alone/);
  t.throws(() => parseBenchArgs(['--baseline', ' ']), /--baseline takes a revision/);
  t.throws(() => parseBenchArgs(['--base']), /Unknown option/);
});

t.test('a revision resolves to its full commit and title; an unknown one says so', async (t) => {
  const head = resolveRevision(process.cwd(), 'HEAD');
  t.match(head.commit, /^[0-9a-f]{40}$/);
  t.equal(head.title.split(' ')[0], head.commit.slice(0, 7));
  t.throws(() => resolveRevision(process.cwd(), 'no-such-revision-anywhere'), /--baseline no-such-revision-anywhere: not a commit of this repository/);
});

t.test("the broker flags the bench cluster passes: this checkout's CLI takes them all, an older help text lacks some", async (t) => {
  t.ok(existsSync(CLI), `${CLI} is built (npm test builds first)`);
  const help = execFileSync(process.execPath, [join(process.cwd(), CLI), 'broker', 'start', '--help'], { encoding: 'utf8' });
  t.same(missingBrokerFlags(help), []);
  const older = ['Options:', '  --id <n>   broker id', '  --listen <host:port>', '  --data <dir>', '  --initial-cluster <list>', '  --join <host:port>', '  --idle-timeout-ms <n>'].join('\n');
  t.same(missingBrokerFlags(older), ['--fsync', '--log-level']);
  t.same(missingBrokerFlags(older.replace('--id <n>', '--broker-id <n>')), ['--id', '--fsync', '--log-level'], '--idle-timeout-ms is not --id');
});

/** A made-up pass whose throughputs are `speed` and whose times and CPU are 1 / `speed`. */
function pass(speed: number, commit: string): BenchResults {
  const one = (n: number) => spread([n]);
  const latency = (p50: number) => summarizeLatency([p50, p50, p50, p50 * 4]);
  const cpu: CpuUse = { seconds: 10, benchCores: 0.5, brokerCores: [0.4, 0.4, 0.4], brokerSeconds: 12 / speed, brokerSecondsEach: [4 / speed, 4 / speed, 4 / speed], otherCores: 0.1 };
  return {
    meta: { date: '2026-12-04T00:00:00.000Z', node: 'v20', cpus: 'test CPU', cores: 2, platform: 'linux', commit, settings: { fsync: 'always', runs: 1, publishMs: 3_000, partitions: 3, latencyRate: 2_000, latencyMs: 5_000, warmupMs: 1_000, failoverRuns: 1, secure: false } },
    publish: [100, 1024].map((recordBytes) => ({ recordBytes, recordsPerSecond: one(100_000 * speed), mbPerSecond: one(10 * speed), records: 300_000 })),
    consume: [100, 1024].map((recordBytes) => ({ recordBytes, recordsPerSecond: one(500_000 * speed), mbPerSecond: one(50 * speed), records: 300_000 })),
    latency: { recordBytes: 1024, rate: 2_000, publish: latency(4 / speed), endToEnd: latency(5 / speed), achievedRate: 2_000, behind: 0 },
    failover: { runs: [], acked: 100, lost: 0, leaderElectedMs: one(1_000 / speed), firstAckMs: one(1_500 / speed) },
    missingOnReadBack: 0,
    repeatedOnReadBack: 0,
    cpu: { publish: cpu, consume: cpu, latency: cpu },
    brokerCpuSecondsPerGB: { produced: 20 / speed, consumed: 5 / speed },
  };
}

t.test("a baseline's brokers run its own executable (package.json bin), with that file's node flags", async (t) => {
  const checkout = mkdtempSync(join(tmpdir(), 'flotilla-baseline-'));
  t.teardown(() => rmSync(checkout, { recursive: true, force: true }));
  const cli = join(checkout, 'dist', 'client', 'cli');
  mkdirSync(cli, { recursive: true });
  writeFileSync(join(cli, 'main.js'), '#!/usr/bin/env node\n');
  t.equal(executableOf(checkout), join(cli, 'main.js'), 'no package.json: main.js');
  writeFileSync(join(checkout, 'package.json'), JSON.stringify({ name: 'flotilla', bin: { flotilla: './dist/client/cli/launcher.cjs' } }));
  t.equal(executableOf(checkout), join(cli, 'main.js'), 'a bin that was not built: main.js');
  writeFileSync(join(cli, 'launcher.cjs'), '#!/usr/bin/env -S node --initial-old-space-size=128\n');
  t.equal(executableOf(checkout), join(cli, 'launcher.cjs'), 'the bin it declares');
  t.same(shebangNodeFlags(executableOf(checkout)), ['--initial-old-space-size=128'], 'whose node flags the bench cluster passes');
  writeFileSync(join(checkout, 'package.json'), JSON.stringify({ name: 'flotilla', bin: './dist/client/cli/main.js' }));
  t.equal(executableOf(checkout), join(cli, 'main.js'), 'a bin without a flotilla entry: main.js');
  t.equal(executableOf(process.cwd()), join(process.cwd(), 'dist', 'client', 'cli', 'launcher.cjs'), "this checkout's own: the launcher");
});

t.test('ratios are head ÷ baseline of the medians over rounds, for every figure', async (t) => {
  const rows = compare([pass(1, 'a'), pass(1.25, 'a'), pass(0.75, 'a')], [pass(2, 'b'), pass(2.5, 'b'), pass(1.5, 'b')]);
  const byMeasure = new Map(rows.map((r) => [r.measure, r]));
  t.equal(rows.length, 12, 'publish and consume of 2 sizes, 4 latencies, 2 CPU per GB, 2 failover times');
  t.equal(byMeasure.get('publish, 1024 B records')!.ratio, 2);
  t.same(byMeasure.get('publish, 1024 B records')!.head.runs, [200_000, 250_000, 150_000]);
  t.equal(byMeasure.get('broker CPU per GB produced (publish runs, 3 brokers)')!.ratio, 0.5);
  t.equal(byMeasure.get("failover after kill -9 of the leader: producer's next ack")!.ratio, 0.5);
  t.equal(byMeasure.get('end-to-end latency p99, same run')!.better, 'lower');
  const withDelay = (speed: number, commit: string) => {
    const r = pass(speed, commit);
    r.latency.sendDelay = summarizeLatency([0.5, 0.5, 0.5, 2]);
    return r;
  };
  const delayRows = compare([withDelay(1, 'a')], [withDelay(2, 'b')]);
  t.equal(delayRows.length, 14, "the load generator's send delay p50 and p99 join the table when measured");
  t.equal(delayRows.find((r) => r.measure.startsWith("the load generator's send() behind its schedule p50"))!.ratio, 1, 'the same generator on both sides');
  const withTailedRun = (speed: number, commit: string) => {
    const r = withDelay(speed, commit);
    r.latency.publishTailed = summarizeLatency([8 / speed, 8 / speed, 8 / speed, 32 / speed]);
    return r;
  };
  const tailedRows = compare([withTailedRun(1, 'a')], [withTailedRun(2, 'b')]);
  t.equal(tailedRows.length, 16, 'the publish latency of the run with a tailing consumer joins the table when measured');
  t.equal(tailedRows.find((r) => r.measure === 'publish latency p99, with the consumer')!.ratio, 0.5);
  t.ok(tailedRows.some((r) => r.measure === 'end-to-end latency p99, the run with the consumer'), 'end-to-end latency names the run it comes from');
});

t.test('"better" and "worse" only where the ranges of at least 5 rounds each do not overlap', async (t) => {
  const rounds = (commit: string, ...speeds: number[]) => speeds.map((speed) => pass(speed, commit));
  const apartFaster = compare(rounds('a', 1, 1.1, 0.9, 1.05, 0.95), rounds('b', 2, 2.2, 1.8, 2.1, 1.9));
  t.equal(fmtRatio(apartFaster.find((r) => r.unit === 'records/s')!), '2.00× better');
  t.equal(fmtRatio(apartFaster.find((r) => r.unit === 'ms')!), '0.50× better', 'shorter times are better');
  const apartSlower = compare(rounds('a', 2, 2.2, 1.8, 2.1, 1.9), rounds('b', 1, 1.1, 0.9, 1.05, 0.95));
  t.equal(fmtRatio(apartSlower.find((r) => r.unit === 'CPU-s/GB')!), '2.00× worse');
  const overlapping = compare(rounds('a', 1, 1.5, 1, 1.5, 1), rounds('b', 1.2, 1.4, 1.2, 1.4, 1.2));
  t.equal(fmtRatio(overlapping[0]!), '1.20×');
  const threeRounds = compare(rounds('a', 1, 1.1, 0.9), rounds('b', 2, 2.2, 1.8));
  t.equal(fmtRatio(threeRounds[0]!), '2.00×', 'ranges of 3 rounds each are apart by chance 10% of the time');
});

t.test('the table names both revisions, how the runs alternated, and that the load generator is the same', async (t) => {
  const table = renderComparison({ title: 'aaaaaaa old broker', rounds: [pass(1, 'a'), pass(1, 'a')] }, { title: 'bbbbbbb new broker', rounds: [pass(1.25, 'b'), pass(1.25, 'b')] });
  const lines = table.split('\n');
  t.match(lines[0], /^Baseline aaaaaaa old broker → head bbbbbbb new broker\. 2 rounds per revision in one sitting, alternated/);
  t.match(lines[0], /the load generator \(producer, consumer, bench client\) is head's for both, so only the brokers differ/);
  t.equal(lines[2], '| measure | baseline aaaaaaa | head bbbbbbb | head ÷ baseline |');
  t.ok(lines.includes('| publish, 100 B records | 100,000 (100,000–100,000) records/s | 125,000 (125,000–125,000) records/s | 1.25× |'));
  t.ok(lines.includes('| broker CPU per GB consumed (consume runs, 3 brokers) | 5.0 (5.0–5.0) CPU-s/GB | 4.0 (4.0–4.0) CPU-s/GB | 0.80× |'));
  t.match(table, /Other processes' CPU in cores \(of 2\), median over rounds, publish \/ consume \/ latency phases: baseline 0\.10 \/ 0\.10 \/ 0\.10; head 0\.10 \/ 0\.10 \/ 0\.10\./);
  t.notMatch(table, /WARNING/);
  const lossy = pass(1, 'b');
  lossy.failover.lost = 3;
  t.match(renderComparison({ title: 'a x', rounds: [pass(1, 'a')] }, { title: 'b y', rounds: [lossy] }), /WARNING \(head\): 3 acknowledged records were lost in failover\./);
});

t.test('--secure: its own results file, not with --baseline, and a table of secure ÷ plaintext with the 70% verdict', async (t) => {
  const secure = parseBenchArgs(['--secure', '--quick', '--runs', '2']);
  t.ok(secure.secure);
  t.equal(secure.settings.runs, 2);
  t.match(secure.out, /bench[/\\]results[/\\]secure\.json$/);
  t.throws(() => parseBenchArgs(['--secure', '--baseline', 'HEAD~1']), /--secure .*without --baseline/);
  t.throws(() => parseBenchArgs(['--tls']), /Unknown option '--tls'/, '--tls is folded into --secure');

  const table = renderSecureComparison([pass(1, 'a'), pass(1, 'a')], [pass(0.8, 'a'), pass(0.8, 'a')]);
  const lines = table.split('\n');
  t.match(lines[0], /^Plaintext vs TLS \+ SCRAM, Flotilla a\. 2 rounds each in one sitting, alternated/);
  t.match(lines[0], /SCRAM-SHA-512/);
  t.equal(lines[2], '| measure | plaintext | TLS + SCRAM | secure ÷ plaintext |');
  t.ok(lines.includes('| consume, 1024 B records | 500,000 (500,000–500,000) records/s | 400,000 (400,000–400,000) records/s | 0.80× |'));
  t.ok(lines.includes('| broker CPU per GB produced (publish runs, 3 brokers) | 20.0 (20.0–20.0) CPU-s/GB | 25.0 (25.0–25.0) CPU-s/GB | 1.25× |'));
  t.match(table, /secure ≥ 0\.70 × plaintext: met \(lowest: publish, 100 B records, 0\.80\)/);
  const slower = renderSecureComparison([pass(1, 'a')], [pass(0.5, 'a')]);
  t.match(slower, /secure ≥ 0\.70 × plaintext: NOT met \(lowest: publish, 100 B records, 0\.50\)/);
});
