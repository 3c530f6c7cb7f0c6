import t from 'tap';
import { chooseMultiOptions, MultiSimulation, type MultiSimStats } from './multi.js';
import { MULTI_REGRESSION_SEEDS } from './regressions.js';

// Real MultiRaft instances (several groups per broker) under the deterministic simulator.
// All seeds in one file: tap costs ~2 s per file. `npm run sim -- --multi --seeds 20000`
// runs many more.
const SEEDS = 500;

t.test('the multi-group regression seeds stay green', async (t) => {
  for (const { seed, caught } of MULTI_REGRESSION_SEEDS) {
    const r = await new MultiSimulation(chooseMultiOptions(seed)).run();
    t.ok(r.ok, `seed ${seed} (${caught})${r.ok ? '' : `: ${r.error}\n${r.trace.join('\n')}`}`);
  }
});

t.test(`${SEEDS} random seeds keep every invariant, then settle and go quiet after healing`, async (t) => {
  const totals: Partial<MultiSimStats> = {};
  const seen = { fiveBrokers: 0, sixGroups: 0, fiveReplicas: 0, drop: 0, reorder: 0, partition: 0, crash: 0, slowSync: 0, transfer: 0, compaction: 0, permitLimit: 0 };
  let failures = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const o = chooseMultiOptions(seed);
    if (o.brokers === 5) seen.fiveBrokers++;
    if (o.groups === 6) seen.sixGroups++;
    if (o.replication === 5) seen.fiveReplicas++;
    if (o.dropRate > 0) seen.drop++;
    if (o.reorderRate > 0) seen.reorder++;
    if (o.partitionRate > 0) seen.partition++;
    if (o.crashRate > 0) seen.crash++;
    if (o.slowSyncRate > 0) seen.slowSync++;
    if (o.transferRate > 0) seen.transfer++;
    if (o.compactionRate > 0) seen.compaction++;
    if (o.recoveryConcurrency > 0) seen.permitLimit++;
    const r = await new MultiSimulation(o).run();
    for (const [k, v] of Object.entries(r.stats) as Array<[keyof MultiSimStats, number]>) totals[k] = (totals[k] ?? 0) + v;
    if (!r.ok) {
      failures++;
      t.fail(`seed ${seed}: ${r.error} (replay: npm run sim -- --multi --seed ${seed})\n${r.trace.join('\n')}`);
    }
  }
  t.equal(failures, 0, 'no seed failed');
  for (const [kind, count] of Object.entries(seen)) t.ok(count > 0, `some seeds choose ${kind} (${count})`);
  // What the runs went through, counted (not timed): each mechanism must have been exercised.
  for (const kind of ['quiesces', 'wakes', 'crashes', 'pauses', 'elections', 'acked', 'snapshots', 'permitsGranted', 'coalescedHeartbeats'] as const) {
    t.ok((totals[kind] ?? 0) > 0, `the runs saw ${kind} (${totals[kind]})`);
  }
});

// Mutation check of the quiescence rule: a leader may go quiet only once every follower
// holds its whole log, because the quiesce heartbeat carries the leader's commit index
// uncapped by the follower's match. With the rule broken (the test-only subclass in
// multi.ts), a follower holding a stale tail from an older term commits it, and the
// simulator must find a seed where State Machine Safety fails.
t.test('a leader that quiesces while a follower lacks entries is caught', async (t) => {
  const bound = 300;
  let caughtAt: number | undefined;
  let error = '';
  for (let seed = 1; seed <= bound && caughtAt === undefined; seed++) {
    const r = await new MultiSimulation({ ...chooseMultiOptions(seed), mutateQuiescence: true }).run();
    if (!r.ok) {
      caughtAt = seed;
      error = r.error ?? '';
    }
  }
  t.ok(caughtAt !== undefined, `caught within ${bound} seeds${caughtAt === undefined ? '' : ` (at seed ${caughtAt}: ${error})`}`);
  t.match(error, /State Machine Safety|Leader Completeness|inside its entry|not settled/, 'by a safety or settling check');
});

// Mutation check of group commit: votes and acknowledgements leave only after the cycle's
// syncs. With the logs never synced (what `--fsync never` trades away), a leader commits
// entries no majority holds durably, which the commit check must report.
t.test('a cycle that acknowledges entries it did not sync is caught', async (t) => {
  const bound = 20;
  let caughtAt: number | undefined;
  let error = '';
  for (let seed = 1; seed <= bound && caughtAt === undefined; seed++) {
    const r = await new MultiSimulation({ ...chooseMultiOptions(seed), mutateGroupCommit: true }).run();
    if (!r.ok) {
      caughtAt = seed;
      error = r.error ?? '';
    }
  }
  t.ok(caughtAt !== undefined, `caught within ${bound} seeds${caughtAt === undefined ? '' : ` (at seed ${caughtAt}: ${error})`}`);
  t.match(error, /voters hold it durably/, 'by the durable-majority check');
});

// A broker creating thousands of partitions opens its replicas over minutes, so a new
// group's preferred replica may open it many election timeouts after the others. They
// leave the first election to it while its broker is heard from, so leadership starts
// where placement put it; without that rule (the mutation) they elect each other. (No
// pauses: a preferred broker that goes silent loses its hold, as it should.)
t.test("a new group's first election goes to its preferred replica, even one that opens the group late", async (t) => {
  const seeds = 24;
  const firstLeaders = async (mutateFirstElectionHold: boolean) => {
    let groups = 0;
    let preferred = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const options = { ...chooseMultiOptions(seed), dropRate: 0, partitionRate: 0, crashRate: 0, transferRate: 0, noRandomPauses: true, preferredOpensLateTicks: 50, mutateFirstElectionHold };
      const sim = new MultiSimulation(options);
      const r = await sim.run();
      t.ok(r.ok, `seed ${seed}${r.ok ? '' : `: ${r.error}\n${r.trace.join('\n')}`}`);
      for (let g = 1; g <= options.groups; g++, groups++) if (sim.firstLeaderOf(g) === sim.preferredOf(g)) preferred++;
    }
    return { groups, preferred };
  };
  const held = await firstLeaders(false);
  t.equal(held.preferred, held.groups, `the preferred replica won the first election of every group (${held.preferred} of ${held.groups})`);
  const mutated = await firstLeaders(true);
  t.ok(mutated.preferred < mutated.groups, `without the rule, others win first elections (preferred won ${mutated.preferred} of ${mutated.groups})`);
});

// A broker that stops for longer than the silence window (an election timeout without a
// frame from it) but less than its peers' election timeouts: a machine so busy that a
// broker gets no CPU for a while, or a long pause of its event loop. Its peers wake the
// groups quiet under it; they must not elect while it is only slow. Calm runs (no drops,
// crashes, partitions, resets, transfers or proposals), so that the groups are quiet when
// the pause comes and any election after it in one of them is one nobody asked for.
t.test('a broker paused past the silence window keeps its leaderships, and its groups stay asleep', async (t) => {
  const seeds = 16;
  const afterPause = async (of: 'leader' | 'follower', variant: { mutateWakeAfterPause?: boolean; mutateLateTickSilence?: boolean; midCycle?: boolean }) => {
    let elections = 0;
    let followerWakes = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const options = {
        ...chooseMultiOptions(seed),
        dropRate: 0,
        partitionRate: 0,
        crashRate: 0,
        transferRate: 0,
        proposalRate: 0,
        faultTicks: 200,
        noRandomResets: true,
        noRandomPauses: true,
        pause: { atTick: 100, ticks: 15, of, midCycle: variant.midCycle },
        // Mid-cycle: every sync slow, and two groups led by each of 3 brokers (one to propose to).
        ...(variant.midCycle ? { slowSyncRate: 1, maxSyncDelay: 60, brokers: 3, groups: 6, replication: 3 } : {}),
        mutateWakeAfterPause: variant.mutateWakeAfterPause,
        mutateLateTickSilence: variant.mutateLateTickSilence,
      };
      const r = await new MultiSimulation(options).run();
      t.ok(r.ok, `seed ${seed}, ${of} paused${r.ok ? '' : `: ${r.error}\n${r.trace.join('\n')}`}`);
      elections += r.stats.electionsAfterPause;
      followerWakes += r.stats.followerWakesAfterPause;
    }
    return { elections, followerWakes };
  };
  const leaderPaused = await afterPause('leader', {});
  t.equal(leaderPaused.elections, 0, 'no election after a leader broker was paused');
  // The pause ends with a cycle still waiting for its syncs: the first tick is a deferred one.
  const leaderPausedMidCycle = await afterPause('leader', { midCycle: true });
  t.equal(leaderPausedMidCycle.elections, 0, 'no election in a quiet group after a leader broker was paused mid-cycle');
  const followerPaused = await afterPause('follower', {});
  t.equal(followerPaused.elections, 0, 'no election after a follower broker was paused');
  t.equal(followerPaused.followerWakes, 0, 'the paused follower woke none of the groups it follows');
  const quietAfterPause = await afterPause('leader', { mutateWakeAfterPause: true });
  t.ok(quietAfterPause.elections > 0, `without waking the groups it leads, its followers elect (${quietAfterPause.elections} elections)`);
  const silentOnLateTick = await afterPause('follower', { mutateLateTickSilence: true });
  t.ok(silentOnLateTick.followerWakes > 0, `judging silence on the late tick, the paused follower wakes its groups (${silentOnLateTick.followerWakes})`);
});
