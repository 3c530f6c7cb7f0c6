import t from 'tap';
import { chooseOptions, Simulation } from './cluster.js';
import { REGRESSION_SEEDS } from './regressions.js';

// All seeds in one file: tap costs ~2 s per file. Seeds are chosen to mix 3 and 5 nodes,
// learners and every fault kind (chooseOptions draws them from the seed).
const SEEDS = 1500;

t.test('the regression seeds stay green', async (t) => {
  for (const { seed, caught } of REGRESSION_SEEDS) {
    const r = new Simulation(chooseOptions(seed)).run();
    t.ok(r.ok, `seed ${seed} (${caught})${r.ok ? '' : `: ${r.error}\n${r.trace.join('\n')}`}`);
  }
});

t.test(`${SEEDS} random seeds keep every invariant and recover after healing`, async (t) => {
  const seen = { three: 0, five: 0, learner: 0, drop: 0, dup: 0, partition: 0, crash: 0, pause: 0, slowSync: 0, transfer: 0, membership: 0, compaction: 0, leaderChurn: 0 };
  let failures = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const o = chooseOptions(seed);
    if (o.nodes === 3) seen.three++;
    else seen.five++;
    if (o.learner) seen.learner++;
    if (o.dropRate > 0) seen.drop++;
    if (o.dupRate > 0) seen.dup++;
    if (o.partitionRate > 0) seen.partition++;
    if (o.crashRate > 0) seen.crash++;
    if (o.pauseRate > 0) seen.pause++;
    if (o.slowSyncRate > 0) seen.slowSync++;
    if (o.transferRate > 0) seen.transfer++;
    if (o.membershipRate > 0) seen.membership++;
    if (o.compactionRate > 0) seen.compaction++;
    if (o.leaderChurn > 0) seen.leaderChurn++;
    const r = new Simulation(o).run();
    if (!r.ok) {
      failures++;
      t.fail(`seed ${seed}: ${r.error} (replay: npm run sim -- --seed ${seed})\n${r.trace.join('\n')}`);
    }
  }
  t.equal(failures, 0, 'no seed failed');
  for (const [kind, count] of Object.entries(seen)) t.ok(count > 0, `some seeds exercise ${kind} (${count})`);
});
