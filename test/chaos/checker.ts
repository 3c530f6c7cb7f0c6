/**
 * The verdicts on a chaos history. Every anomaly is counted, not asserted one by one, and
 * charged to the phase (nemesis) in which its record was sent, or, for a consumer read,
 * in which the read happened:
 *
 * - lost: acknowledged, but not in the final log;
 * - duplicates: one (producer, sequence) stored more than once;
 * - misplaced: stored at another partition or offset than acknowledged;
 * - divergent: two replicas hold different records (or one holds none) at the same offset
 *   below the high watermark;
 * - orderBroken: in a partition, one producer's sequence numbers do not strictly rise;
 * - consumerBackward / consumerSkipped: a consumer was handed an offset at or below the
 *   last one, or jumped over a record of the final log;
 * - consumerDirty: a consumer was handed a record that the final log does not hold at that
 *   offset (a read of something later undone).
 *
 * Availability is measured, not judged: the share of sends acknowledged, the longest time
 * without any acknowledgement (in the whole cluster, and in any one partition), and how
 * long the cluster took after healing to acknowledge again on every partition.
 *
 * The final log of a partition is what its leader served after the last heal; the other
 * replicas are compared with it offset by offset.
 */
import { parseValue, recordValue, type HistoryEvent } from './history.js';

export const ANOMALIES = ['lost', 'duplicates', 'misplaced', 'divergent', 'orderBroken', 'consumerBackward', 'consumerSkipped', 'consumerDirty'] as const;
export type Anomaly = (typeof ANOMALIES)[number];

export interface PhaseReport extends Record<Anomaly, number> {
  phase: number;
  nemesis: string;
  startMs: number;
  endMs: number;
  sent: number;
  acked: number;
  /** Longest stretch of the phase with no acknowledgement at all (the whole cluster unavailable). */
  longestNoAckMs: number;
  /** Longest stretch of the phase in which some one partition had no acknowledgement. */
  longestPartitionNoAckMs: number;
  /** Whether every partition acknowledged again within the bound after healing (null: never healed). */
  recovered: boolean | null;
  recoveryMs: number | null;
}

export interface Report {
  phases: PhaseReport[];
  /** Replicas that did not reach the high watermark after the final heal. */
  incompleteReplicas: number;
  anomalies: number;
  unrecovered: number;
  ok: boolean;
}

type Replica = Extract<HistoryEvent, { type: 'replica' }>;

export function check(events: HistoryEvent[]): Report {
  const phases = phaseReports(events);
  const starts = phases.map((p) => p.startMs);
  /** The phase an event at time t belongs to: the last one started by then (the first for earlier events). */
  const phaseAt = (t: number): PhaseReport => {
    let i = 0;
    while (i + 1 < starts.length && starts[i + 1]! <= t) i++;
    return phases[i]!;
  };

  const sentAt = new Map<string, number>();
  const acks: Array<Extract<HistoryEvent, { type: 'ack' }>> = [];
  const replicas = new Map<number, Replica[]>();
  for (const e of events) {
    if (e.type === 'send') {
      sentAt.set(recordValue(e.producer, e.seq), e.t);
      phaseAt(e.t).sent++;
    } else if (e.type === 'ack') {
      acks.push(e);
    } else if (e.type === 'replica') {
      replicas.set(e.partition, [...(replicas.get(e.partition) ?? []), e]);
    }
  }
  const chargeRecord = (value: string | undefined, fallbackT: number): PhaseReport => phaseAt((value === undefined ? undefined : sentAt.get(value)) ?? fallbackT);

  // The final log of each partition: its leader's replica read.
  const logs = new Map<number, Map<number, string>>();
  const stored = new Map<string, Array<{ partition: number; offset: number }>>();
  let incompleteReplicas = 0;
  for (const [partition, reads] of replicas) {
    const leader = reads.find((r) => r.leader) ?? reads[0]!;
    const log = new Map(leader.records);
    logs.set(partition, log);
    const lastSeq = new Map<number, number>();
    for (const [offset, value] of leader.records) {
      const places = stored.get(value) ?? [];
      places.push({ partition, offset });
      stored.set(value, places);
      if (places.length > 1) chargeRecord(value, leader.t).duplicates++;
      const id = parseValue(value);
      if (id) {
        const last = lastSeq.get(id.producer);
        if (last !== undefined && id.seq <= last) chargeRecord(value, leader.t).orderBroken++;
        lastSeq.set(id.producer, Math.max(last ?? -1, id.seq));
      }
    }
    for (const r of reads) {
      if (!r.complete) incompleteReplicas++;
      if (r === leader) continue;
      const mine = new Map(r.records);
      const limit = r.complete ? Math.min(r.highWatermark, leader.highWatermark) : Math.max(-1, ...r.records.map(([o]) => o)) + 1;
      for (let offset = 0; offset < limit; offset++) {
        const a = log.get(offset);
        const b = mine.get(offset);
        if (a !== b) chargeRecord(a ?? b, r.t).divergent++;
      }
    }
  }

  for (const ack of acks) {
    const value = recordValue(ack.producer, ack.seq);
    const places = stored.get(value);
    if (!places) chargeRecord(value, ack.t).lost++;
    else if (!places.some((p) => p.partition === ack.partition && p.offset === ack.offset)) chargeRecord(value, ack.t).misplaced++;
    const sent = sentAt.get(value);
    if (sent !== undefined) phaseAt(sent).acked++;
  }

  // Consumers: offsets rise, nothing of the final log is jumped over, nothing else is read.
  const offsetsOf = new Map([...logs].map(([p, log]) => [p, [...log.keys()].sort((a, b) => a - b)]));
  const position = new Map<number, number>();
  for (const e of events) {
    if (e.type !== 'read') continue;
    const phase = phaseAt(e.t);
    const prev = position.get(e.consumer) ?? -1;
    const log = logs.get(e.partition);
    if (e.offset <= prev) phase.consumerBackward++;
    else if (log) {
      const offsets = offsetsOf.get(e.partition)!;
      const next = firstAbove(offsets, prev);
      if (next !== undefined && next < e.offset) phase.consumerSkipped++;
    }
    if (log && log.get(e.offset) !== e.value) phase.consumerDirty++;
    position.set(e.consumer, Math.max(prev, e.offset));
  }

  // Availability: gaps between acknowledgements, phase by phase, over the whole cluster
  // and partition by partition (one partition down is invisible in the first).
  const ackTimes = acks.map((a) => a.t).sort((a, b) => a - b);
  const partitionsSent = new Set(events.flatMap((e) => (e.type === 'send' ? [e.partition] : [])));
  for (const phase of phases) {
    phase.longestNoAckMs = longestGap(ackTimes, phase.startMs, phase.endMs);
    for (const partition of partitionsSent) {
      const times = acks.filter((a) => a.partition === partition).map((a) => a.t);
      phase.longestPartitionNoAckMs = Math.max(phase.longestPartitionNoAckMs, longestGap(times, phase.startMs, phase.endMs));
    }
  }

  const anomalies = phases.reduce((n, p) => n + ANOMALIES.reduce((m, a) => m + p[a], 0), 0);
  const unrecovered = phases.filter((p) => p.recovered === false).length + incompleteReplicas;
  return { phases, incompleteReplicas, anomalies, unrecovered, ok: anomalies === 0 && unrecovered === 0 };
}

/** The phases as the history's phase events draw them; a history without any is one phase. */
function phaseReports(events: HistoryEvent[]): PhaseReport[] {
  const blank = (phase: number, nemesis: string, startMs: number): PhaseReport => ({
    phase, nemesis, startMs, endMs: startMs, sent: 0, acked: 0, longestNoAckMs: 0, longestPartitionNoAckMs: 0, recovered: null, recoveryMs: null,
    ...(Object.fromEntries(ANOMALIES.map((a) => [a, 0])) as Record<Anomaly, number>),
  });
  const phases: PhaseReport[] = [];
  for (const e of events) {
    if (e.type !== 'phase') continue;
    if (e.edge === 'start') phases.push(blank(e.phase, e.nemesis, e.t));
    const current = phases[phases.length - 1];
    if (!current) continue;
    current.endMs = e.t;
    if (e.edge === 'end') {
      current.recovered = e.recovered ?? null;
      current.recoveryMs = e.recoveryMs ?? null;
    }
  }
  if (phases.length === 0) {
    const first = events[0]?.t ?? 0;
    const only = blank(0, 'none', first);
    only.endMs = events[events.length - 1]?.t ?? first;
    phases.push(only);
  }
  return phases;
}

/** The longest stretch of [start, end] without any of the sorted `times`. */
function longestGap(times: number[], start: number, end: number): number {
  let last = start;
  let longest = 0;
  for (const t of times) {
    if (t < start) continue;
    if (t > end) break;
    longest = Math.max(longest, t - last);
    last = t;
  }
  return Math.max(longest, end - last);
}

/** The smallest element of a sorted array above `value`. */
function firstAbove(sorted: number[], value: number): number | undefined {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return sorted[lo];
}

export interface NemesisRow extends Record<Anomaly, number> {
  nemesis: string;
  phases: number;
  sent: number;
  acked: number;
  longestNoAckMs: number;
  longestPartitionNoAckMs: number;
  /** The slowest recovery after healing among its phases (null: none measured). */
  maxRecoveryMs: number | null;
  unrecovered: number;
}

/** Phases of the same nemesis added up, in order of first appearance. */
export function byNemesis(report: Report): NemesisRow[] {
  const rows = new Map<string, NemesisRow>();
  for (const p of report.phases) {
    let row = rows.get(p.nemesis);
    if (!row) {
      row = { nemesis: p.nemesis, phases: 0, sent: 0, acked: 0, longestNoAckMs: 0, longestPartitionNoAckMs: 0, maxRecoveryMs: null, unrecovered: 0, ...(Object.fromEntries(ANOMALIES.map((a) => [a, 0])) as Record<Anomaly, number>) };
      rows.set(p.nemesis, row);
    }
    row.phases++;
    row.sent += p.sent;
    row.acked += p.acked;
    row.longestNoAckMs = Math.max(row.longestNoAckMs, p.longestNoAckMs);
    row.longestPartitionNoAckMs = Math.max(row.longestPartitionNoAckMs, p.longestPartitionNoAckMs);
    if (p.recoveryMs !== null) row.maxRecoveryMs = Math.max(row.maxRecoveryMs ?? 0, p.recoveryMs);
    if (p.recovered === false) row.unrecovered++;
    for (const a of ANOMALIES) row[a] += p[a];
  }
  return [...rows.values()];
}

export function anomaliesOf(row: Record<Anomaly, number>): number {
  return ANOMALIES.reduce((n, a) => n + row[a], 0);
}

/** A plain-text table: one row per nemesis, availability then anomalies. */
export function formatTable(rows: NemesisRow[]): string {
  const header = ['nemesis', 'phases', 'sent', 'acked', 'no ack: cluster', 'no ack: a partition', 'recovery (max)', 'anomalies'];
  const lines = rows.map((r) => [
    r.nemesis,
    String(r.phases),
    String(r.sent),
    r.sent ? `${((100 * r.acked) / r.sent).toFixed(1)}%` : '-',
    `${(r.longestNoAckMs / 1000).toFixed(1)} s`,
    `${(r.longestPartitionNoAckMs / 1000).toFixed(1)} s`,
    r.maxRecoveryMs === null ? '-' : `${(r.maxRecoveryMs / 1000).toFixed(1)} s${r.unrecovered ? ` (${r.unrecovered} not)` : ''}`,
    anomaliesOf(r) === 0 ? '0' : ANOMALIES.filter((a) => r[a] > 0).map((a) => `${a} ${r[a]}`).join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}
