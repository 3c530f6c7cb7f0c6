/**
 * The fault suite's checker on hand-made histories: a clean one passes, and each kind of
 * anomaly is counted, and charged to the phase its record was sent (or read) in.
 */
import t from 'tap';
import { check, byNemesis, type PhaseReport } from '../chaos/checker.js';
import type { HistoryEvent } from '../chaos/history.js';

type Draft = HistoryEvent extends infer E ? (E extends unknown ? Omit<E, 't'> : never) : never;

/** Events one millisecond apart, in the order given. */
function history(...drafts: Draft[]): HistoryEvent[] {
  return drafts.map((d, i) => ({ t: 1000 + i, ...d }) as HistoryEvent);
}

const phase = (n: number, nemesis: string, edge: 'start' | 'heal' | 'end'): Draft =>
  edge === 'end' ? { type: 'phase', phase: n, nemesis, edge, recovered: true, recoveryMs: 5 } : { type: 'phase', phase: n, nemesis, edge };
const send = (producer: number, seq: number, partition = 0): Draft => ({ type: 'send', producer, seq, partition });
const ack = (producer: number, seq: number, offset: number, partition = 0): Draft => ({ type: 'ack', producer, seq, partition, offset });
const replica = (broker: number, leader: boolean, records: Array<[number, string]>, highWatermark = 10, partition = 0): Draft => ({ type: 'replica', partition, broker, leader, highWatermark, complete: true, records });
const read = (offset: number, value: string): Draft => ({ type: 'read', consumer: 0, partition: 0, offset, value });

/** Two phases: records 0:0 and 0:1 sent in 'none', 0:2 and 0:3 in 'kill'. */
function base(tail: Draft[], log: Array<[number, string]>, follower: Array<[number, string]> = log, highWatermark = 10): HistoryEvent[] {
  return history(
    phase(0, 'none', 'start'), send(0, 0), ack(0, 0, 1), send(0, 1), ack(0, 1, 2), phase(0, 'none', 'heal'), phase(0, 'none', 'end'),
    phase(1, 'kill', 'start'), send(0, 2), ack(0, 2, 3), send(0, 3), ack(0, 3, 4), phase(1, 'kill', 'heal'), phase(1, 'kill', 'end'),
    ...tail,
    replica(1, true, log, highWatermark), replica(2, false, follower, highWatermark),
  );
}

const clean: Array<[number, string]> = [[1, '0:0'], [2, '0:1'], [3, '0:2'], [4, '0:3']];

function counts(report: { phases: PhaseReport[] }) {
  return Object.fromEntries(report.phases.map((p) => [p.nemesis, { lost: p.lost, duplicates: p.duplicates, misplaced: p.misplaced, divergent: p.divergent, orderBroken: p.orderBroken, consumerBackward: p.consumerBackward, consumerSkipped: p.consumerSkipped, consumerDirty: p.consumerDirty }]));
}

t.test('a clean history passes, with availability counted per phase', async (t) => {
  const report = check(base([read(1, '0:0'), read(2, '0:1'), read(3, '0:2'), read(4, '0:3')], clean));
  t.equal(report.ok, true);
  t.equal(report.anomalies, 0);
  t.same(byNemesis(report).map((r) => [r.nemesis, r.sent, r.acked]), [['none', 2, 2], ['kill', 2, 2]]);
});

t.test('a lost acknowledged record is charged to the phase it was sent in', async (t) => {
  const report = check(base([], [[1, '0:0'], [2, '0:1'], [3, '0:2']]));
  t.equal(report.anomalies, 1);
  t.equal(counts(report).kill!.lost, 1);
});

t.test('a duplicate, a misplaced record and broken order are each counted', async (t) => {
  const report = check(base([], [[1, '0:0'], [2, '0:1'], [3, '0:3'], [4, '0:2'], [5, '0:3']]));
  const kill = counts(report).kill!;
  t.equal(kill.duplicates, 1, '0:3 twice');
  t.equal(kill.misplaced, 2, '0:2 at 4 not 3, 0:3 at 3 and 5, never at 4');
  t.equal(kill.orderBroken, 2, '0:2 after 0:3, and 0:3 again');
});

t.test('replicas that differ at an offset are divergent', async (t) => {
  const report = check(base([], clean, [[1, '0:0'], [2, '0:1'], [3, '0:3']]));
  t.equal(counts(report).kill!.divergent, 2, 'offset 3 differs, offset 4 missing on the follower');
});

t.test('consumers: backward, skipped and dirty reads, charged to the phase of the read', async (t) => {
  const report = check(history(
    phase(0, 'none', 'start'), send(0, 0), ack(0, 0, 1), send(0, 1), ack(0, 1, 2), send(0, 2), ack(0, 2, 3),
    read(1, '0:0'), read(3, '0:2'), phase(1, 'pause', 'start'), read(2, '0:1'), read(4, '9:9'),
    replica(1, true, [[1, '0:0'], [2, '0:1'], [3, '0:2']], 4),
  ));
  t.same(counts(report).none, { lost: 0, duplicates: 0, misplaced: 0, divergent: 0, orderBroken: 0, consumerBackward: 0, consumerSkipped: 1, consumerDirty: 0 });
  t.same(counts(report).pause, { lost: 0, duplicates: 0, misplaced: 0, divergent: 0, orderBroken: 0, consumerBackward: 1, consumerSkipped: 0, consumerDirty: 1 });
});

t.test('no recovery after healing, or a replica that never caught up, fails the verdict without being an anomaly', async (t) => {
  const events = base([], clean);
  const end = events.find((e) => e.type === 'phase' && e.edge === 'end' && e.nemesis === 'kill') as Extract<HistoryEvent, { type: 'phase' }>;
  end.recovered = false;
  const lagging = events.find((e) => e.type === 'replica' && !e.leader) as Extract<HistoryEvent, { type: 'replica' }>;
  lagging.complete = false;
  lagging.records = clean.slice(0, 2);
  const report = check(events);
  t.equal(report.anomalies, 0, 'what the lagging replica has agrees');
  t.equal(report.unrecovered, 2);
  t.equal(report.ok, false);
});

t.test('the longest stretch without an acknowledgement, in the cluster and in one partition', async (t) => {
  const events: HistoryEvent[] = [
    { t: 0, type: 'phase', phase: 0, nemesis: 'minority', edge: 'start' },
    { t: 100, type: 'ack', producer: 0, seq: 0, partition: 0, offset: 0 },
    { t: 4100, type: 'ack', producer: 0, seq: 1, partition: 0, offset: 1 },
    { t: 5000, type: 'phase', phase: 0, nemesis: 'minority', edge: 'end', recovered: true, recoveryMs: 1 },
  ];
  t.equal(check(events).phases[0]!.longestNoAckMs, 4000);
  const more: HistoryEvent[] = [
    { t: 2000, type: 'ack', producer: 0, seq: 2, partition: 1, offset: 0 },
    { t: 2100, type: 'send', producer: 0, seq: 3, partition: 0 },
    { t: 2200, type: 'send', producer: 0, seq: 4, partition: 1 },
  ];
  const twoPartitions = [...events, ...more].sort((a, b) => a.t - b.t);
  const phase = check(twoPartitions).phases[0]!;
  t.equal(phase.longestNoAckMs, 2100, 'the cluster: 2000 to 4100');
  t.equal(phase.longestPartitionNoAckMs, 4000, 'partition 0: 100 to 4100; partition 1: 2000 to 5000 is shorter');
});
