/**
 * The Raft traps of RAFT-NOTES.md as stories: each test drives a few cores through a tiny
 * deterministic harness (test/sim/harness.ts) and reads top to bottom as the scenario.
 * Every node draws random() = 0.99, so election timeouts are 19 ticks and nobody
 * campaigns unless a test ticks it that long (h.campaign) or hands it leadership.
 */
import t, { type Test } from 'tap';
import { buildBatch } from '../../protocol/batch.js';
import { Harness } from '../sim/harness.js';
import { lostEntriesHardState, type HardState } from '../../broker/raft/log.js';
import { MemoryLog } from '../../broker/raft/memory-log.js';
import { RaftNode, type RaftOptions } from '../../broker/raft/raft.js';
import { FlotillaError } from '../../protocol/errors.js';

const calm = { random: () => 0.99 };

function value(s: string): Buffer {
  return buildBatch([{ value: s, timestamp: 0 }], { now: 0 });
}

t.test('Figure 8: an entry of an earlier term on a majority is not committed by counting', async (t) => {
  const h = new Harness([1, 2, 3, 4, 5], { extra: { ...calm, maxBytesPerMsg: 1 } });
  h.elect(1); // term 1, no-op at offset 1 committed everywhere
  t.equal(h.raft(1).commitIndex, 1);

  // (a) 1 replicates "x" (offset 2, term 1) to 2 only, then loses contact.
  h.partition([1, 2], [3, 4, 5]);
  const x = h.raft(1).propose(value('x'));
  h.stabilize();
  t.same(x, { index: 2, term: 1 });
  h.isolate(1);

  // (b) 5 wins term 2 with votes from 3 and 4, appends its no-op at offset 2, and is cut off
  // before sending it anywhere. 1, alone, steps down (check-quorum).
  h.heal();
  h.isolate(1);
  h.tick([1], 20);
  h.drop = (m) => m.from === 5 && m.type === 'append';
  h.forgetLeader([2, 3, 4]);
  h.campaign(5);
  t.equal(h.raft(5).currentRole, 'leader');
  t.equal(h.raft(5).currentTerm, 2);
  t.equal(h.node(5).log.termAt(2), 2, '5 holds its own no-op at offset 2');
  h.isolate(5);
  h.tick([5], 20);

  // (c) 1 comes back and wins term 3 (its log ends with 2/1, ahead of 3 and 4). Its term-3
  // no-op reaches only 2; 3 and 4 get it only when they will refuse it (so the leader backs
  // off and sends them x). Now 1, 2, 3 and 4 hold x = 2/1, a majority, and 3/3 is on 1 and 2.
  h.heal();
  h.isolate(5);
  h.drop = (m) =>
    m.type === 'append' && m.to !== 2 && (m.entries ?? []).some((e) => e.term === 3) && h.node(m.to).log.termAt(m.prevIndex!) === m.prevTerm;
  h.forgetLeader([2, 3, 4]);
  h.campaign(1);
  t.equal(h.raft(1).currentRole, 'leader');
  t.equal(h.raft(1).currentTerm, 3);
  h.tick([1], 3);
  t.equal(h.node(3).log.termAt(2), 1, '3 holds x = 2/1: a majority has it');
  t.equal(h.raft(1).commitIndex, 1, 'yet 1 does not commit it: it is not of term 3');

  // (d) Had it been committed, this would lose it: 1 goes away, 5 (last term 2) is elected
  // by 3, 4 and itself, and overwrites offset 2 with its own no-op.
  h.drop = undefined;
  h.heal();
  h.isolate(1);
  h.tick([1], 20);
  h.forgetLeader([2, 3, 4]);
  h.campaign(5);
  t.equal(h.raft(5).currentRole, 'leader');
  h.tick([5], 3);
  for (const id of [2, 3, 4, 5]) t.equal(h.node(id).log.termAt(2), 2, `${id} now holds 5's entry at offset 2`);
  for (const id of [1, 2, 3, 4, 5]) t.notOk(h.appliedValues(id).includes('x'), `${id} never applied x`);
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('a partitioned old leader cannot commit, steps down, and loses its uncommitted entry', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  h.isolate(1);
  h.propose(1, 'lost');
  t.equal(h.raft(1).commitIndex, 1, 'alone, 1 commits nothing');

  h.forgetLeader([2, 3]);
  h.campaign(2);
  t.equal(h.raft(2).currentRole, 'leader');
  h.propose(2, 'kept');
  t.ok(h.raft(2).commitIndex > 1);

  // Check-quorum: the isolated leader steps down within two election timeouts (all
  // followers count as active during its first round).
  h.tick([1], 20);
  t.equal(h.raft(1).currentRole, 'follower');
  t.equal(h.raft(1).currentLeader, 0, 'it forgets itself as leader');

  h.heal();
  h.tick([2], 2);
  for (const id of [1, 2, 3]) t.same(h.appliedValues(id), ['kept'], `${id} applied only the new leader's entry`);
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('pre-vote: an isolated node that keeps campaigning does not inflate its term or disrupt on return', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  const term = h.raft(1).currentTerm;
  h.isolate(3);
  h.tick([3], 200); // ten election timeouts of pre-campaigning, alone
  t.equal(h.raft(3).currentTerm, term, 'pre-votes never raised its term');
  t.equal(h.raft(3).currentRole, 'preCandidate');
  h.heal();
  h.tick([1], 1);
  t.equal(h.raft(1).currentRole, 'leader', 'the leader stays');
  t.equal(h.raft(1).currentTerm, term, 'in the same term');
  t.equal(h.raft(3).currentRole, 'follower');
  t.equal(h.raft(3).currentLeader, 1);
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('check-quorum lease: followers that hear their leader ignore a vote request of a higher term', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  const term = h.raft(1).currentTerm;
  // 3 asks for votes directly (as a node without pre-vote would).
  const before = h.delivered.length;
  h.raft(2).step({ type: 'vote', from: 3, to: 2, term: term + 5, lastIndex: 100, lastTerm: term });
  t.equal(h.raft(2).currentTerm, term, 'no term change');
  h.stabilize();
  t.notOk(h.delivered.slice(before).some((m) => m.type === 'voteResp' && m.from === 2), 'no answer at all');
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('leader lost: a follower told that its live leader\'s connection closed pre-votes in vain, and the leader keeps its group', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  const term = h.raft(1).currentTerm;
  // Only 2's connection to 1 closed (a transient reset): 3 still hears from 1.
  t.ok(h.raft(2).leaderLost(1), '2 followed 1');
  t.notOk(h.raft(3).leaderLost(2), 'a broker that does not lead is no one\'s lost leader');
  const before = h.delivered.length;
  h.raft(2).expireElectionTimer();
  h.stabilize();
  t.equal(h.raft(2).currentRole, 'preCandidate', '2 asked for pre-votes at once');
  const since = h.delivered.slice(before);
  t.ok(since.some((m) => m.type === 'preVote' && m.from === 2), 'its pre-votes went out');
  t.notOk(since.some((m) => m.type === 'preVoteResp' && !m.reject), 'nobody granted one: 1 leads and 3 hears from it');
  t.notOk(since.some((m) => m.type === 'vote'), 'so no real election started');
  h.tick([1], 1); // the leader's next heartbeat
  t.equal(h.raft(1).currentRole, 'leader', 'the leader stays');
  t.equal(h.raft(1).currentTerm, term, 'in the same term');
  t.equal(h.raft(2).currentRole, 'follower');
  t.equal(h.raft(2).currentLeader, 1);
  // Heard from the leader again: a late timer expiry does nothing.
  t.ok(h.raft(2).leaderLost(1));
  h.tick([1], 1);
  h.raft(2).expireElectionTimer();
  h.stabilize();
  t.equal(h.raft(2).currentRole, 'follower', 'no campaign after hearing from the leader');
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('leader lost: the followers of a killed leader elect another at once, not an election timeout later', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  const term = h.raft(1).currentTerm;
  h.isolate(1); // killed: its sockets were reset, so both followers are told
  t.ok(h.raft(2).leaderLost(1));
  t.ok(h.raft(3).leaderLost(1));
  h.raft(3).expireElectionTimer(); // 3's random delay ran out first
  h.stabilize();
  t.equal(h.raft(3).currentRole, 'leader', 'elected without a single tick');
  t.equal(h.raft(3).currentTerm, term + 1);
  t.equal(h.raft(2).currentLeader, 3);
  h.raft(2).expireElectionTimer(); // 2's delay runs out later: it follows a leader of a newer term
  h.stabilize();
  t.equal(h.raft(3).currentRole, 'leader', 'still the leader');
  t.equal(h.raft(2).currentRole, 'follower');
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('a leader that loses its quorum steps down (check-quorum)', async (t) => {
  const h = new Harness([1, 2, 3, 4, 5], { extra: calm });
  h.elect(1);
  h.partition([1, 2], [3, 4, 5]);
  // The first round after an election counts every follower as active; the second does not.
  h.tick([1, 2], 19);
  t.equal(h.raft(1).currentRole, 'leader', 'still within two election timeouts');
  h.tick([1, 2], 1);
  t.equal(h.raft(1).currentRole, 'follower', 'stepped down: only 2 of 5 heard from');
  t.throws(() => h.raft(1).propose(value('x')), { code: 'NOT_LEADER' });
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('leadership transfer to a caught-up voter, refused to a laggard, and proposals refused meanwhile', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  h.propose(1, 'a');

  // 3 falls behind: the transfer is refused outright.
  h.isolate(3);
  h.propose(1, 'b');
  t.throws(() => h.raft(1).transferLeadership(3), { code: 'NOT_ENOUGH_REPLICAS' });

  // To 2 (caught up) while its link is slow: proposals are refused until it ends.
  h.cutLink(1, 2);
  h.raft(1).transferLeadership(2);
  t.equal(h.raft(1).status().transferee, 2);
  t.throws(() => h.raft(1).propose(value('c')), { code: 'LEADER_NOT_AVAILABLE' });
  h.tick([1], 10); // an election timeout: the transfer is abandoned
  t.equal(h.raft(1).status().transferee, 0);
  t.equal(h.raft(1).currentRole, 'leader');

  h.heal();
  h.tick([1], 1);
  const term = h.raft(1).currentTerm;
  h.raft(1).transferLeadership(2);
  h.stabilize();
  t.equal(h.raft(2).currentRole, 'leader', '2 leads');
  t.equal(h.raft(2).currentTerm, term + 1);
  t.equal(h.raft(1).currentRole, 'follower');
  h.propose(2, 'd');
  h.tick([2], 1);
  for (const id of [1, 2, 3]) t.same(h.appliedValues(id), ['a', 'b', 'd'], `${id}`);
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('a learner catches up without voting, then is promoted and can lead', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  h.propose(1, 'a');
  h.propose(1, 'b');
  h.add(4, [], [], calm); // a fresh broker: no log, no membership yet

  h.isolate(4);
  h.raft(1).proposeConfigChange({ type: 'addLearner', id: 4 });
  h.stabilize();
  t.same(h.raft(1).members, { voters: [1, 2, 3], learners: [4] }, 'in effect on the leader as soon as appended');
  t.throws(() => h.raft(1).proposeConfigChange({ type: 'promote', id: 4 }), { code: 'NOT_ENOUGH_REPLICAS' }, 'not promoted while behind');

  h.heal();
  h.tick([1], 2);
  t.same(h.appliedValues(4), ['a', 'b'], 'the learner received the log');
  t.same(h.raft(4).members.learners, [4], 'it learned the membership from the log');
  h.tick([4], 100);
  t.equal(h.raft(4).currentRole, 'follower', 'a learner never campaigns');

  h.raft(1).proposeConfigChange({ type: 'promote', id: 4 });
  h.tick([1], 2);
  t.same(h.raft(2).members, { voters: [1, 2, 3, 4], learners: [] });
  h.raft(1).transferLeadership(4);
  h.stabilize();
  t.equal(h.raft(4).currentRole, 'leader', 'the promoted voter can lead');
});

t.test('membership changes: one at a time, none before the new leader commits in its term', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.campaign(1);
  // 1 won but its no-op is not committed yet if nobody answered: cut it off right away.
  t.equal(h.raft(1).currentRole, 'leader');
  const fresh = new Harness([1, 2, 3], { extra: calm });
  fresh.drop = (m) => m.type === 'appendResp';
  fresh.campaign(1);
  t.throws(() => fresh.raft(1).proposeConfigChange({ type: 'addLearner', id: 4 }), { code: 'LEADER_NOT_AVAILABLE' }, 'no change before an own-term commit');

  h.isolate(2);
  h.isolate(3);
  h.raft(1).proposeConfigChange({ type: 'addLearner', id: 4 });
  t.throws(() => h.raft(1).proposeConfigChange({ type: 'addLearner', id: 5 }), { code: 'LEADER_NOT_AVAILABLE' }, 'a second change waits for the first');
});

t.test('a configuration takes effect when appended and reverts when its entry is truncated', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  h.isolate(1);
  h.raft(1).proposeConfigChange({ type: 'addLearner', id: 9 });
  t.same(h.raft(1).members.learners, [9]);

  h.forgetLeader([2, 3]);
  h.campaign(2);
  h.propose(2, 'y');
  h.heal();
  h.tick([2], 2);
  t.same(h.raft(1).members, { voters: [1, 2, 3], learners: [] }, 'the uncommitted change was undone with its entry');
  t.same(h.appliedValues(1), ['y']);
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('removing the leader itself: it leads until the change commits, then hands over', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  h.propose(1, 'a');
  h.raft(1).proposeConfigChange({ type: 'remove', id: 1 });
  h.stabilize();
  t.equal(h.raft(1).currentRole, 'follower', 'stepped down once its removal committed');
  const leader = [2, 3].find((id) => h.raft(id).currentRole === 'leader');
  t.ok(leader, 'a remaining voter took over at once (TimeoutNow)');
  t.same(h.raft(leader!).members, { voters: [2, 3], learners: [] });
  h.propose(leader!, 'b');
  h.tick([leader!], 1);
  for (const id of [2, 3]) t.same(h.appliedValues(id), ['a', 'b']);
  h.tick([1], 100);
  t.equal(h.raft(1).currentRole, 'follower', 'the removed node does not campaign');
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('a follower behind the leader\'s log start gets a snapshot, resets its log, then catches up', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  h.isolate(3);
  for (const v of ['a', 'b', 'c', 'd']) h.propose(1, v);
  const applied = h.raft(1).status().applied;
  h.node(1).log.compact(applied, { membership: h.raft(1).membershipAt(applied) });
  t.equal(h.node(1).log.firstIndex(), applied + 1, 'retention moved the leader\'s log start');

  h.heal();
  h.tick([1], 2);
  const snaps = h.node(3).snapshots;
  t.equal(snaps.length, 1, 'the follower surfaced one snapshot in a Ready');
  t.equal(snaps[0]!.index, applied);
  t.same(snaps[0]!.voters, [1, 2, 3]);
  t.equal(snaps[0]!.data.toString(), `state@${applied}`, 'with the state-machine image from the leader');
  t.equal(h.node(3).log.firstIndex(), applied + 1, 'its log restarts after the snapshot');

  h.propose(1, 'e');
  h.tick([1], 1);
  t.same(h.appliedValues(3), ['e'], 'and it applies what follows');
  t.equal(h.raft(3).status().progress[1], undefined);
  t.equal(h.raft(1).status().progress[3]!.state, 'replicate');
});

t.test('entries are batches: offsets count records and a conflicting suffix is cut at a batch boundary', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1); // no-op at 1
  const r = h.raft(1).propose(buildBatch([{ value: 'a' }, { value: 'b' }, { value: 'c' }], { now: 0 }));
  h.stabilize();
  t.same(r, { index: 4, term: 1 }, 'a 3-record batch takes offsets 2..4');
  t.equal(h.node(2).log.termAt(3), 1, 'any offset inside the batch answers for it');

  h.isolate(1);
  h.raft(1).propose(buildBatch([{ value: 'x' }, { value: 'y' }], { now: 0 })); // 5..6, never replicated
  h.forgetLeader([2, 3]);
  h.campaign(2);
  h.propose(2, 'z'); // 2's no-op at 5, z at 6
  h.heal();
  h.tick([2], 2);
  t.same(h.appliedValues(1), ['a', 'b', 'c', 'z']);
  t.equal(h.node(1).log.lastIndex(), h.node(2).log.lastIndex());
});

t.test('recovery permits: a follower lacking committed entries gets none without a permit, then catches up and gives it back', async (t) => {
  const gate = {
    open: false,
    held: new Set<number>(),
    asked: [] as number[],
    acquire(peer: number) {
      this.asked.push(peer);
      if (this.open) this.held.add(peer);
      return this.open;
    },
    release(peer: number) {
      this.held.delete(peer);
    },
  };
  const h = new Harness([1, 2, 3], { extra: { ...calm, recovery: gate } });
  gate.open = true;
  h.elect(1);
  gate.open = false;
  h.isolate(3);
  for (const v of ['a', 'b', 'c', 'd']) h.propose(1, v);
  t.same(gate.asked, [], '2 gets only fresh entries: no permit needed');

  // 3 returns lacking four committed entries: it hears heartbeats, but no entries come without a permit.
  h.heal();
  const before = h.delivered.length;
  h.tick([1], 3);
  const toThree = h.delivered.slice(before).filter((m) => m.to === 3);
  t.ok(toThree.some((m) => m.type === 'heartbeat'), 'heartbeats still reach 3');
  t.notOk(toThree.some((m) => m.type === 'append' && (m.entries?.length ?? 0) > 0), 'no entries for 3 while the permit is refused');
  t.ok(gate.asked.includes(3), 'the leader asked for a permit for 3');
  t.same(h.appliedValues(3), []);

  // Writes go on meanwhile: 2 is not held up by 3's wait.
  h.propose(1, 'e');
  h.tick([1], 1);
  t.same(h.appliedValues(2), ['a', 'b', 'c', 'd', 'e']);
  t.same(h.appliedValues(3), [], '3 still waits');

  // The permit is granted: the leader resumes at once and 3 catches up; the permit is given back.
  gate.open = true;
  h.raft(1).resumeReplication(3);
  h.stabilize();
  h.tick([1], 1);
  t.same(h.appliedValues(3), ['a', 'b', 'c', 'd', 'e']);
  t.notOk(gate.held.has(3), 'released with the send that reached the end of the log');
});

t.test('recovery permits: a follower lacking only a few committed entries gets them without one', async (t) => {
  const gate = {
    asked: [] as number[],
    acquire(peer: number) {
      this.asked.push(peer);
      return false;
    },
    release() {},
  };
  const h = new Harness([1, 2, 3], { extra: { ...calm, recovery: gate } });
  h.elect(1);
  h.isolate(3);
  const missed = ['a', 'b', 'c'].slice(0, RaftNode.FEW_MISSED_ENTRIES);
  for (const v of missed) h.propose(1, v);
  h.heal();
  h.tick([1], 3);
  h.stabilize();
  t.same(h.appliedValues(3), missed, `3 missed ${missed.length} committed entries and has them`);
  t.same(gate.asked, [], 'no permit was asked for');
});

/** A storage repair on restart: the log is cut before `index`, and the loss is remembered. */
function diskLosesFrom(index: number): (log: MemoryLog, hard: HardState) => HardState {
  return (log, hard) => {
    const before = log.lastIndex();
    log.truncateAfter(index - 1);
    log.sync();
    return lostEntriesHardState(hard, before);
  };
}

/**
 * Issue 11: 1 and 2 commit e while 3 lags; 2's disk loses e (storage cuts its log at a
 * corrupt batch); 1 goes away. 3's log is as up to date as 2's cut log, so without the rule
 * 2 would elect 3 and e would be lost.
 */
function lostEntryStory(t: Test, extra: Partial<RaftOptions>): { h: Harness; e: { index: number; term: number } } {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  h.isolate(3);
  const e = h.propose(1, 'e');
  t.ok(h.raft(1).commitIndex >= e.index, 'e is committed by 1 and 2');
  const n2 = h.restart(2, [1, 2, 3], diskLosesFrom(e.index), { ...calm, ...extra });
  t.equal(n2.log.lastIndex(), e.index - 1, "2's disk lost e");
  t.equal(h.raft(2).recoveringTo, e.index, '2 restarts recovering up to where its log ended');
  h.heal();
  h.isolate(1);
  h.campaign(3);
  return { h, e };
}

t.test('lost entries: a replica that lost acknowledged entries neither votes nor campaigns until it holds them again', async (t) => {
  const { h, e } = lostEntryStory(t, {});
  t.not(h.raft(3).currentRole, 'leader', '3, lacking e, is not elected');
  t.ok(h.delivered.some((m) => m.from === 2 && m.to === 3 && m.type === 'preVoteResp' && m.reject), '2 answers its pre-votes with a refusal');
  h.tick([2], 60);
  t.notOk(h.delivered.some((m) => m.from === 2 && (m.type === 'preVote' || m.type === 'vote')), '2 never campaigns');
  t.equal(h.raft(2).recoveringTo, e.index, 'still recovering');
  // 1 comes back, still leading its term: it resends e to 2, which recovers.
  h.heal();
  h.tick([1], 3);
  t.equal(h.node(2).log.termAt(e.index), e.term, '2 holds e again');
  t.equal(h.raft(2).recoveringTo, -1, 'and stops recovering');
  t.equal(h.node(2).hard.recoverTo, undefined, 'the end of recovery was persisted');
  t.equal(h.raft(1).status().progress[2]!.match >= e.index, true);
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('lost entries: without the rule, the replica elects a leader that lacks a committed entry', async (t) => {
  const { h, e } = lostEntryStory(t, { testOnlyVoteWhileRecovering: true });
  t.equal(h.raft(3).currentRole, 'leader', '2 votes for 3');
  t.not(h.node(3).log.termAt(e.index), e.term, 'and the committed entry e is gone from the new leader');
});

t.test('lost entries: a leader lowers the match of a follower that refuses an entry it acknowledged', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  const a = h.propose(1, 'a');
  t.ok(h.raft(1).status().progress[2]!.match >= a.index);
  h.restart(2, [1, 2, 3], diskLosesFrom(a.index), calm);
  h.isolate(3);
  const b = h.raft(1).propose(value('b'));
  h.flushReady();
  // 2 refuses the append of b (it lacks a): the leader must not count it up to a any more.
  h.stabilize();
  t.equal(h.node(2).log.termAt(b.index), b.term, '2 was sent a again and then b');
  t.ok(h.raft(1).commitIndex >= b.index, 'b commits with 2 holding it');
  t.equal(h.raft(2).recoveringTo, -1, '2 recovered');
});

t.test('lost entries: a recovering replica asks a silent leader for what it lost', async (t) => {
  const h = new Harness([1, 2, 3], { extra: calm });
  h.elect(1);
  const a = h.propose(1, 'a');
  h.stabilize();
  h.restart(2, [1, 2, 3], diskLosesFrom(a.index), calm);
  // The leader is idle and sends nothing (as a quiesced multiraft group would): only 2 ticks.
  h.tick([2], 19);
  t.ok(h.delivered.some((m) => m.from === 2 && m.to === 1 && m.type === 'heartbeatResp' && m.reject), '2 tells the voters it lacks entries');
  t.notOk(h.delivered.some((m) => m.from === 2 && (m.type === 'preVote' || m.type === 'vote')), 'without campaigning');
  h.stabilize();
  t.equal(h.node(2).log.termAt(a.index), a.term, 'the leader probed 2 and sent a again');
  t.equal(h.raft(2).recoveringTo, -1, '2 recovered');
  // Every decision, in order: a change of behaviour shows here in review.
  t.matchSnapshot(h.decisions.join('\n'), 'the decisions');
});

t.test('a node that wins an election with no room for its no-op steps down instead of leading', async (t) => {
  const log = new MemoryLog();
  const raft = new RaftNode({ id: 1, log, hardState: { term: 0, vote: 0 }, voters: [1], random: () => 0.99 });
  const empty = log.lastIndex();
  const append = log.append.bind(log);
  log.append = () => {
    throw new FlotillaError('DISK_FULL', 'no room');
  };
  t.throws(() => {
    for (let i = 0; i < 40; i++) raft.tick();
  }, { code: 'DISK_FULL' }, 'the refused no-op reaches the driver');
  t.equal(raft.currentRole, 'follower', 'it does not lead a group it cannot write to');
  t.equal(log.lastIndex(), empty, 'nothing was appended');
  log.append = append;
  for (let i = 0; i < 40 && raft.currentRole !== 'leader'; i++) raft.tick();
  t.equal(raft.currentRole, 'leader', 'with space again it wins the next election');
  t.ok(log.lastIndex() > empty, 'and stores its no-op');
});
