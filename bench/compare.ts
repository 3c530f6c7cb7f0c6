/**
 * `npm run bench -- --baseline REV`: the figures of bench/run.ts for two revisions'
 * brokers measured in one sitting, in alternating rounds, and the ratio head ÷ baseline of
 * their medians. On a shared machine figures move by tens of percent between sittings;
 * a ratio of runs taken side by side is what a claim can rest on.
 */
import type { BenchResults } from './results.js';
import { fmtFixed, fmtInt, fmtSpread, median, spread, type Spread } from './stats.js';

type Better = 'higher' | 'lower';

interface Figure {
  measure: string;
  unit: 'records/s' | 'ms' | 'CPU-s/GB';
  better: Better;
  value: number;
}

export interface ComparedFigure extends Omit<Figure, 'value'> {
  /** Over the rounds of each revision. */
  baseline: Spread;
  head: Spread;
  /** Median of head ÷ median of baseline. */
  ratio: number;
}

export interface Side {
  /** Short hash and subject. */
  title: string;
  rounds: BenchResults[];
}

/** The figures one pass of the standard bench yields, in table order. */
export function figuresOf(r: BenchResults): Figure[] {
  const figures: Figure[] = [];
  for (const f of r.publish) figures.push({ measure: `publish, ${f.recordBytes} B records`, unit: 'records/s', better: 'higher', value: f.recordsPerSecond.median });
  for (const f of r.consume) figures.push({ measure: `consume, ${f.recordBytes} B records`, unit: 'records/s', better: 'higher', value: f.recordsPerSecond.median });
  const l = r.latency;
  const at = `${fmtInt(l.rate)} records/s of ${l.recordBytes} B`;
  figures.push(
    { measure: `publish latency p50 (send → ack), ${at}, the producer alone`, unit: 'ms', better: 'lower', value: l.publish.p50 },
    { measure: `publish latency p99, same run`, unit: 'ms', better: 'lower', value: l.publish.p99 },
  );
  if (l.sendDelay) {
    figures.push(
      { measure: `the load generator's send() behind its schedule p50, same run`, unit: 'ms', better: 'lower', value: l.sendDelay.p50 },
      { measure: `the load generator's send() behind its schedule p99, same run`, unit: 'ms', better: 'lower', value: l.sendDelay.p99 },
    );
  }
  if (l.publishTailed) {
    figures.push(
      { measure: `publish latency p50, same load with a consumer tailing the topic`, unit: 'ms', better: 'lower', value: l.publishTailed.p50 },
      { measure: `publish latency p99, with the consumer`, unit: 'ms', better: 'lower', value: l.publishTailed.p99 },
    );
  }
  const tailedRun = l.publishTailed ? 'the run with the consumer' : 'same run';
  figures.push(
    { measure: `end-to-end latency p50 (send → consumer), ${tailedRun}`, unit: 'ms', better: 'lower', value: l.endToEnd.p50 },
    { measure: `end-to-end latency p99, ${tailedRun}`, unit: 'ms', better: 'lower', value: l.endToEnd.p99 },
  );
  if (l.fdatasync) {
    figures.push(
      { measure: `the disk's fdatasync p50 (4 KiB append), same sitting`, unit: 'ms', better: 'lower', value: l.fdatasync.p50 },
      { measure: `the disk's fdatasync p99, same sitting`, unit: 'ms', better: 'lower', value: l.fdatasync.p99 },
    );
  }
  figures.push(
    { measure: 'broker CPU per GB produced (publish runs, 3 brokers)', unit: 'CPU-s/GB', better: 'lower', value: r.brokerCpuSecondsPerGB.produced },
    { measure: 'broker CPU per GB consumed (consume runs, 3 brokers)', unit: 'CPU-s/GB', better: 'lower', value: r.brokerCpuSecondsPerGB.consumed },
    { measure: 'failover after kill -9 of the leader: new leader in metadata', unit: 'ms', better: 'lower', value: r.failover.leaderElectedMs.median },
    { measure: "failover after kill -9 of the leader: producer's next ack", unit: 'ms', better: 'lower', value: r.failover.firstAckMs.median },
  );
  return figures;
}

/** Every figure of the rounds of both sides, with its spread over rounds and the ratio of medians. */
export function compare(baseline: BenchResults[], head: BenchResults[]): ComparedFigure[] {
  const valuesByMeasure = (rounds: BenchResults[]) => {
    const values = new Map<string, number[]>();
    for (const round of rounds) {
      for (const f of figuresOf(round)) values.set(f.measure, [...(values.get(f.measure) ?? []), f.value]);
    }
    return values;
  };
  const before = valuesByMeasure(baseline);
  const after = valuesByMeasure(head);
  return figuresOf(head[0]!).map(({ measure, unit, better }) => {
    const b = spread(before.get(measure) ?? []);
    const h = spread(after.get(measure) ?? []);
    return { measure, unit, better, baseline: b, head: h, ratio: h.median / b.median };
  });
}

export function formatValue(unit: Figure['unit'], n: number): string {
  if (unit === 'records/s') return fmtInt(n);
  if (unit === 'ms') return n >= 100 ? fmtInt(n) : fmtFixed(n, 1);
  return fmtFixed(n, 1);
}

/**
 * Rounds per revision before a ratio gets a verdict. If the brokers were the same, every
 * round of one revision would beat every round of the other with probability
 * 2 / C(2n, n): 10% at 3 rounds (so with a dozen figures, one false verdict per table),
 * 0.8% at 5.
 */
export const ROUNDS_FOR_VERDICT = 5;

/**
 * "1.08×", and "better" or "worse" when, over at least ROUNDS_FOR_VERDICT rounds each,
 * the two revisions' ranges do not overlap: a change bigger than the noise of this sitting.
 */
export function fmtRatio(f: Pick<ComparedFigure, 'ratio' | 'better' | 'baseline' | 'head'>): string {
  if (!Number.isFinite(f.ratio)) return '–';
  const rounds = Math.min(f.baseline.runs.length, f.head.runs.length);
  const apart = rounds >= ROUNDS_FOR_VERDICT && (f.head.min > f.baseline.max || f.head.max < f.baseline.min);
  const higher = f.head.median > f.baseline.median;
  const verdict = !apart ? '' : higher === (f.better === 'higher') ? ' better' : ' worse';
  return `${fmtFixed(f.ratio, 2)}×${verdict}`;
}

/** The comparison table: a header that says how it was measured, one row per figure, noise and warnings. */
export function renderComparison(baseline: Side, head: Side): string {
  const first = head.rounds[0]!.meta;
  const s = first.settings;
  const rounds = head.rounds.length;
  const header =
    `Baseline ${baseline.title} → head ${head.title}. ` +
    `${rounds} round${rounds === 1 ? '' : 's'} per revision in one sitting, alternated (baseline, head, baseline, head, …), never both at once; ` +
    `each round starts a fresh cluster of 3 brokers on one machine (${first.cores} × ${first.cpus}), replication 3, acks all, fsync ${s.fsync}, ${s.partitions} partitions per topic, ` +
    `one ${s.publishMs / 1000} s publish run per size, one read-back, one latency run, one leader kill. ` +
    `The brokers run each revision's own build; the load generator (producer, consumer, bench client) is head's for both, so only the brokers differ. ` +
    `Cells: median (min–max) over the rounds; ratio = head median ÷ baseline median, marked "better" or "worse" where the two ranges do not overlap over at least ${ROUNDS_FOR_VERDICT} rounds each (by chance alone under 1% per figure); higher records/s, lower ms and CPU-s/GB are better. ${first.node}, ${first.date}.`;
  const rows = compare(baseline.rounds, head.rounds).map((f) => {
    const cell = (x: Spread) => `${fmtSpread(x, (n) => formatValue(f.unit, n))} ${f.unit}`;
    return `| ${f.measure} | ${cell(f.baseline)} | ${cell(f.head)} | ${fmtRatio(f)} |`;
  });
  const short = (side: Side) => side.title.split(' ')[0];
  const lines = [header, '', `| measure | baseline ${short(baseline)} | head ${short(head)} | head ÷ baseline |`, '|---|---:|---:|---:|', ...rows];
  const otherCores = (side: Side) => (['publish', 'consume', 'latency'] as const).map((phase) => fmtFixed(median(side.rounds.map((r) => r.cpu[phase].otherCores)), 2)).join(' / ');
  lines.push('', `Other processes' CPU in cores (of ${first.cores}), median over rounds, publish / consume / latency phases: baseline ${otherCores(baseline)}; head ${otherCores(head)}.`);
  for (const side of [{ name: 'baseline', ...baseline }, { name: 'head', ...head }]) {
    const missing = Math.max(...side.rounds.map((r) => r.missingOnReadBack));
    const repeated = side.rounds.reduce((n, r) => n + r.repeatedOnReadBack, 0);
    const lost = side.rounds.reduce((n, r) => n + r.failover.lost, 0);
    if (missing > 0) lines.push('', `WARNING (${side.name}): ${missing} acknowledged records were not read back.`);
    if (repeated > 0) lines.push('', `WARNING (${side.name}): consumers were handed ${repeated} records at or below an offset they had already received.`);
    if (lost > 0) lines.push('', `WARNING (${side.name}): ${lost} acknowledged records were lost in failover.`);
  }
  return lines.join('\n');
}
