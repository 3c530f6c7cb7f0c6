/**
 * Small statistics helpers for the benchmarks: exact percentiles over sorted samples
 * (the sample counts here are at most a few hundred thousand, so sorting is cheap and
 * there is no histogram rounding), medians of repeated runs, and number formatting.
 */

/** The value at percentile `p` (0-100) of ascending `sorted`, nearest-rank; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function sortedCopy(samples: ArrayLike<number>): Float64Array {
  return Float64Array.from(samples).sort();
}

export function median(values: number[]): number {
  return percentile(sortedCopy(values), 50);
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** p50/p99/p99.9/max of latency samples in ms. */
export function summarizeLatency(samples: ArrayLike<number>): LatencySummary {
  const sorted = sortedCopy(samples);
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

/** Median, min and max of one figure over repeated runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function spread(runs: number[]): Spread {
  return { median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs };
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

export function fmtFixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

/** "12,345 (11,000–13,000)" for a figure with its range over runs. */
export function fmtSpread(s: Spread, format: (n: number) => string): string {
  return s.runs.length > 1 ? `${format(s.median)} (${format(s.min)}–${format(s.max)})` : format(s.median);
}

/** Payload MB/s uses 10^6 bytes, as the OMB and the peers' figures do. */
export const MB = 1_000_000;
