/**
 * Every seed that ever failed, with what it caught. They run on every `npm run sim` and in
 * sim.test.ts, before the random seeds. (Option choices have changed since some were
 * found, so a seed may no longer replay the original run; it stays as an extra seed.)
 */
export const REGRESSION_SEEDS: ReadonlyArray<{ seed: number; caught: string }> = [
  { seed: 17, caught: 'sim: leader commit advanced inside advance() was applied before being recorded' },
  { seed: 198, caught: 'sim: committed entries of a slow-sync Ready applied after a snapshot reset the log' },
  { seed: 211, caught: 'sim: same as 198, on a learner' },
  { seed: 314, caught: 'liveness: unbounded leader backlog with a 1-message window (led to maxUncommittedBytes)' },
  { seed: 549, caught: 'liveness: same as 314, restarted leader with commit 0' },
  { seed: 570, caught: 'liveness: same as 314' },
  { seed: 758, caught: 'liveness: same as 314' },
  { seed: 861, caught: 'liveness: same as 314' },
  { seed: 984, caught: 'liveness: same as 314' },
  { seed: 128, caught: 'liveness: one entry per message under heavy reordering (led to FIFO links)' },
  { seed: 382, caught: 'liveness: same as 128' },
  { seed: 685, caught: 'liveness: same as 128' },
  { seed: 11830, caught: 'sim: a stale leader accepted a proposal after the new leader\'s last commit; it was never resolved' },
  { seed: 1960, caught: 'liveness: one entry per message, window 2, 64 KiB backlog (led to capping it)' },
  { seed: 17, caught: 'safety: a new leader assumed every follower holds offset 0 (match 0) and committed its no-op alone' },
  { seed: 198, caught: 'safety: same as 17' },
  { seed: 211, caught: 'safety: same as 17' },
  { seed: 297, caught: 'safety: follower match set to the leader\'s log start let a heartbeat commit a stale entry' },
  { seed: 3, caught: 'safety: same as 297' },
  { seed: 18454, caught: 'sim: the final checks took a leader of term 3, cut off until the heal, for the final leader; term 4 had committed more' },
  { seed: 2369, caught: 'liveness: a voter recovering lost entries, and the old leader that removed itself (the removal only in its log) never campaigned (thesis 4.2.2)' },
  { seed: 3812, caught: 'liveness: same as 2369' },
  { seed: 4273, caught: 'liveness: same as 2369' },
  { seed: 4899, caught: 'liveness: same as 2369' },
  { seed: 5273, caught: 'liveness: same as 2369' },
  { seed: 10233, caught: 'liveness: same as 2369' },
  { seed: 17931, caught: 'liveness: same as 2369' },
  { seed: 19036, caught: 'liveness: same as 2369' },
];

/** The same ledger for the multi-group simulator (multi.ts): `npm run sim -- --multi`, multi.test.ts. */
export const MULTI_REGRESSION_SEEDS: ReadonlyArray<{ seed: number; caught: string }> = [];
