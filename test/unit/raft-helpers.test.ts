/** Table tests for the Raft core's pure helpers: quorum math, inflights, progress, membership, memory log. */
import t from 'tap';
import { buildBatch, patchBatch } from '../../protocol/batch.js';
import { committedIndex, hasQuorum, voteResult } from '../../broker/raft/quorum.js';
import { Inflights } from '../../broker/raft/inflights.js';
import { Progress } from '../../broker/raft/progress.js';
import { applyChange, decodeMembership, encodeMembership, type ConfigChange, type Membership } from '../../broker/raft/membership.js';
import { MemoryLog } from '../../broker/raft/memory-log.js';
import type { Entry } from '../../broker/raft/log.js';
import { Rng } from '../sim/prng.js';

t.test('committedIndex: the index a majority holds', async (t) => {
  const cases: Array<[number[], number]> = [
    [[], 0],
    [[5], 5],
    [[5, 3], 3],
    [[7, 5, 3], 5],
    [[3, 5, 7], 5],
    [[0, 0, 9], 0],
    [[9, 9, 0], 9],
    [[1, 2, 3, 4], 2],
    [[10, 8, 6, 4, 2], 6],
    [[2, 2, 2, 100, 100], 2],
  ];
  for (const [matches, want] of cases) {
    const voters = matches.map((_, i) => i + 1);
    t.equal(committedIndex(voters, (id) => matches[id - 1]!), want, `matches ${matches.join(',')} → ${want}`);
  }
});

t.test('voteResult: won, lost or pending', async (t) => {
  const cases: Array<[number, Array<[number, boolean]>, string]> = [
    [1, [[1, true]], 'won'],
    [3, [[1, true]], 'pending'],
    [3, [[1, true], [2, true]], 'won'],
    [3, [[1, true], [2, false]], 'pending'],
    [3, [[1, true], [2, false], [3, false]], 'lost'],
    [5, [[1, true], [2, true], [3, false], [4, false]], 'pending'],
    [5, [[1, true], [2, false], [3, false], [4, false]], 'lost'],
    [5, [[1, true], [9, true], [8, true]], 'pending'], // non-voters do not count
  ];
  for (const [n, votes, want] of cases) {
    const voters = Array.from({ length: n }, (_, i) => i + 1);
    t.equal(voteResult(voters, new Map(votes)), want, `${n} voters, ${JSON.stringify(votes)}`);
  }
  t.ok(hasQuorum([1, 2, 3], (id) => id !== 3));
  t.notOk(hasQuorum([1, 2, 3, 4], (id) => id <= 2));
});

t.test('Inflights: a bounded window freed by acknowledgements', async (t) => {
  const w = new Inflights(3, 250);
  w.add(10, 100);
  w.add(20, 100);
  t.notOk(w.full());
  w.add(30, 100);
  t.ok(w.full(), 'full by count (and bytes)');
  t.throws(() => w.add(40, 1));
  w.freeLE(15);
  t.equal(w.count(), 2);
  t.equal(w.inflightBytes(), 200);
  t.notOk(w.full());
  w.add(40, 10);
  w.freeFirstOne();
  t.equal(w.count(), 2, 'wraps around the ring');
  w.freeLE(100);
  t.equal(w.count(), 0);
  const b = new Inflights(10, 150);
  b.add(1, 100);
  t.notOk(b.full());
  b.add(2, 60);
  t.ok(b.full(), 'full by bytes');
});

t.test('Progress: state transitions and stale responses', async (t) => {
  const p = new Progress(11, 2);
  t.equal(p.state, 'probe');
  t.notOk(p.isPaused());
  p.sentEntries(12, 10, 1);
  t.ok(p.isPaused(), 'probe: one message at a time');
  t.notOk(p.maybeDecrTo(5, 3), 'rejection of a prevIndex we did not send is stale');
  t.ok(p.maybeDecrTo(10, 6), 'rejection of prevIndex 10 → probe from 7');
  t.equal(p.next, 7);
  t.notOk(p.isPaused());
  t.ok(p.maybeUpdate(6));
  p.becomeReplicate();
  t.same([p.match, p.next, p.state], [6, 7, 'replicate']);
  p.sentEntries(9, 10, 2);
  p.sentEntries(12, 10, 1);
  t.equal(p.next, 13, 'optimistic next');
  t.ok(p.isPaused(), 'window of 2 full');
  t.notOk(p.maybeUpdate(5), 'old ack');
  t.ok(p.maybeUpdate(9));
  p.inflights.freeLE(9);
  t.notOk(p.isPaused());
  t.notOk(p.maybeDecrTo(9, 0), 'rejection at or below match is stale in replicate');
  t.ok(p.maybeDecrTo(12, 10));
  t.same([p.state, p.next], ['probe', 11]);
  p.becomeSnapshot(50);
  t.ok(p.isPaused());
  p.maybeUpdate(50);
  p.becomeProbe();
  t.equal(p.next, 51, 'after a snapshot, probe right after it');
});

t.test('membership: single-server changes', async (t) => {
  const m: Membership = { voters: [1, 2, 3], learners: [] };
  const cases: Array<[ConfigChange, Membership | string]> = [
    [{ type: 'addLearner', id: 4 }, { voters: [1, 2, 3], learners: [4] }],
    [{ type: 'addVoter', id: 4 }, { voters: [1, 2, 3, 4], learners: [] }],
    [{ type: 'remove', id: 2 }, { voters: [1, 3], learners: [] }],
    [{ type: 'addVoter', id: 2 }, 'already a voter'],
    [{ type: 'promote', id: 4 }, 'not a learner'],
    [{ type: 'remove', id: 9 }, 'not a member'],
  ];
  for (const [change, want] of cases) {
    if (typeof want === 'string') t.throws(() => applyChange(m, change), { code: 'INVALID_CONFIG', message: new RegExp(want) });
    else t.same(applyChange(m, change), want, JSON.stringify(change));
  }
  const withLearner = applyChange(m, { type: 'addLearner', id: 4 });
  t.same(applyChange(withLearner, { type: 'promote', id: 4 }), { voters: [1, 2, 3, 4], learners: [] });
  t.throws(() => applyChange({ voters: [1], learners: [] }, { type: 'remove', id: 1 }), { code: 'INVALID_CONFIG' });
  t.same(decodeMembership(encodeMembership(withLearner)), withLearner);
  t.throws(() => decodeMembership(Buffer.from('{"voters":[1,1],"learners":[]}')), { code: 'INVALID_CONFIG' });
});

function entry(base: number, records: number, term: number): Entry {
  const data = buildBatch(Array.from({ length: records }, (_, i) => ({ value: `r${base + i}`, timestamp: 0 })), { now: 0 });
  patchBatch(data, base, term);
  return { index: base + records - 1, term, data };
}

t.test('MemoryLog: offsets inside batches, truncation, reset', async (t) => {
  const log = new MemoryLog();
  t.same([log.firstIndex(), log.lastIndex(), log.termAt(0)], [1, 0, 0]);
  log.append([entry(1, 1, 1), entry(2, 3, 1), entry(5, 2, 2)]);
  t.equal(log.lastIndex(), 6);
  t.same([2, 3, 4, 5, 6, 7].map((i) => log.termAt(i)), [1, 1, 1, 2, 2, undefined], 'any offset answers for its batch');
  t.same(log.entries(3, 0).map((e) => e.index), [4], 'from inside a batch: that batch, at least one');
  t.same(log.entries(3, 1 << 20).map((e) => e.index), [4, 6]);
  t.same(log.entries(7, 100), []);
  t.throws(() => log.append([entry(8, 1, 2)]), /does not follow/);
  t.throws(() => log.truncateAfter(3), /boundary/);
  log.truncateAfter(4);
  t.equal(log.lastIndex(), 4);
  log.reset(100, 7);
  t.same([log.firstIndex(), log.lastIndex(), log.termAt(100), log.termAt(99)], [101, 100, 7, undefined]);
  t.throws(() => log.entries(50, 10), { code: 'OFFSET_OUT_OF_RANGE' });
});

t.test('MemoryLog: a crash keeps what was synced plus a random prefix of the rest', async (t) => {
  const rng = new Rng(7);
  const outcomes = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const log = new MemoryLog();
    log.append([entry(1, 1, 1), entry(2, 1, 1)]);
    log.sync();
    log.append([entry(3, 2, 1), entry(5, 1, 1)]);
    log.truncateAfter(4);
    log.append([entry(5, 1, 2)]);
    t.equal(log.pendingOps(), 3);
    const { log: after } = log.crash(rng.next);
    t.ok(after.lastIndex() >= 2, 'the synced entries survive');
    t.equal(after.termAt(2), 1);
    outcomes.add(`${after.lastIndex()}/${after.termAt(after.lastIndex())}`);
    log.sync();
    t.equal(log.crash(rng.next).log.lastIndex(), 5, 'after sync, nothing is lost');
  }
  t.same([...outcomes].sort(), ['2/1', '4/1', '5/1', '5/2'], 'every prefix, torn writes included');
});
