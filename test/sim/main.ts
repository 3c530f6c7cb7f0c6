/**
 * `npm run sim -- --seeds N [--seed S] [--from F] [--verbose] [--multi]`
 *
 * Runs the regression seeds and N seeds from F (default 1), prints one line per failing
 * seed with the seed to replay and the last events before the failure, then a summary;
 * `--stop-at-first` stops at the first failure, `--no-regressions` skips the fixed seeds;
 * exits non-zero on any failure. `--seed S` replays one seed and prints what it chose.
 * `--mutate-recovery` is the mutation check of the lost-entries rule: replicas recovering
 * lost entries vote and campaign anyway, and only seeds with that fault run (some must fail).
 *
 * `--multi` runs the multi-group simulator instead (real MultiRaft instances, multi.ts);
 * `--multi --mutate-quiescence` is its mutation check: leaders quiesce while a follower
 * lacks entries (some seeds must fail); `--multi --mutate-group-commit`: the cycle
 * acknowledges entries it did not sync.
 */
import { chooseOptions, Simulation, type SimResult } from './cluster.js';
import { chooseMultiOptions, MultiSimulation, type MultiSimResult, type MultiSimStats } from './multi.js';
import { MULTI_REGRESSION_SEEDS, REGRESSION_SEEDS } from './regressions.js';

interface Args {
  seeds: number;
  seed?: number;
  from: number;
  verbose: boolean;
  /** Stop at the first failing seed (mutation checks: how many seeds until caught). */
  stopAtFirst: boolean;
  regressions: boolean;
  /** Mutation check: recovering replicas vote anyway; only seeds with the lost-entries fault run. */
  mutateRecovery: boolean;
  /** The multi-group simulator (real MultiRaft instances). */
  multi: boolean;
  /** Its mutation checks: leaders quiesce while a follower lacks entries; acks without syncs. */
  mutateQuiescence: boolean;
  mutateGroupCommit: boolean;
}

const USAGE = `npm run sim -- [options]   (the Raft simulator; npm run build first when run as node dist/test/sim/main.js)

  --seeds N              the regression seeds, then N random seeds (default 100)
  --from F               the random seeds start at F (default 1)
  --seed S               replay seed S alone and print the options it chose
  --multi                the multi-group simulator: real MultiRaft instances on 3-5 brokers
  --stop-at-first        stop at the first failing seed
  --no-regressions       skip the seeds that failed once
  --mutate-recovery      mutation check: replicas recovering lost entries vote anyway
  --mutate-quiescence    mutation check (multi): leaders quiesce while a follower lacks entries
  --mutate-group-commit  mutation check (multi): acknowledgements leave before the syncs
  -v, --verbose          a line for every passing seed too
  -h, --help             this text`;

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const out: Args = { seeds: 100, from: 1, verbose: false, stopAtFirst: false, regressions: true, mutateRecovery: false, multi: false, mutateQuiescence: false, mutateGroupCommit: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new UsageError(`${a} needs a non-negative integer, got ${argv[i]}`);
      return v;
    };
    if (a === '--seeds') out.seeds = num();
    else if (a === '--seed') out.seed = num();
    else if (a === '--from') out.from = num();
    else if (a === '--verbose' || a === '-v') out.verbose = true;
    else if (a === '--stop-at-first') out.stopAtFirst = true;
    else if (a === '--no-regressions') out.regressions = false;
    else if (a === '--mutate-recovery') out.mutateRecovery = true;
    else if (a === '--multi') out.multi = true;
    else if (a === '--mutate-quiescence') out.mutateQuiescence = out.multi = true;
    else if (a === '--mutate-group-commit') out.mutateGroupCommit = out.multi = true;
    else throw new UsageError(`unknown option ${a}`);
  }
  return out;
}

function report(r: SimResult | MultiSimResult, elapsedMs?: number, flags = ''): void {
  console.log(`FAIL seed ${r.seed} (replay: npm run sim --${flags} --seed ${r.seed}): ${r.error}`);
  for (const line of r.trace) console.log(line);
  if (elapsedMs !== undefined) console.log(`  (${elapsedMs} ms)`);
}

async function mainMulti(args: Args): Promise<number> {
  const options = (seed: number) => ({ ...chooseMultiOptions(seed), mutateQuiescence: args.mutateQuiescence, mutateGroupCommit: args.mutateGroupCommit });
  const mutated = args.mutateQuiescence || args.mutateGroupCommit;
  const flags = ` --multi${args.mutateQuiescence ? ' --mutate-quiescence' : ''}${args.mutateGroupCommit ? ' --mutate-group-commit' : ''}`;
  if (args.mutateQuiescence) console.log('mutation: leaders quiesce while a follower lacks entries');
  if (args.mutateGroupCommit) console.log('mutation: the cycle acknowledges entries without syncing the logs');
  if (args.seed !== undefined) {
    const opts = options(args.seed);
    console.log(`seed ${args.seed} options: ${JSON.stringify(opts)}`);
    const t0 = performance.now();
    const r = await new MultiSimulation(opts).run();
    const ms = Math.round(performance.now() - t0);
    if (!r.ok) {
      report(r, ms, flags);
      return 1;
    }
    console.log(`ok seed ${args.seed} in ${ms} ms: ${JSON.stringify(r.stats)}`);
    return 0;
  }
  const regressions = args.regressions && !mutated ? MULTI_REGRESSION_SEEDS.map((s) => s.seed) : [];
  const seeds = [...regressions];
  for (let s = args.from; s < args.from + args.seeds; s++) seeds.push(s);
  const t0 = performance.now();
  let failed = 0;
  let ran = 0;
  const totals: Partial<MultiSimStats> = {};
  for (const seed of seeds) {
    const r = await new MultiSimulation(options(seed)).run();
    for (const [k, v] of Object.entries(r.stats) as Array<[keyof MultiSimStats, number]>) totals[k] = (totals[k] ?? 0) + v;
    ran++;
    if (!r.ok) {
      failed++;
      report(r, undefined, flags);
      if (args.stopAtFirst) break;
    } else if (args.verbose) console.log(`ok seed ${seed}: ${JSON.stringify(r.stats)}`);
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  const figures = Object.entries(totals).map(([k, v]) => `${v} ${k}`).join(', ');
  console.log(`${failed === 0 ? 'PASS' : 'FAIL'}: ${ran - failed}/${ran} multi-group seeds passed (${regressions.length} regression) in ${secs} s; ${figures}`);
  return failed === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (args.multi) return mainMulti(args);
  if (args.mutateRecovery) console.log('mutation: replicas recovering lost entries vote anyway; only seeds with that fault run');
  if (args.seed !== undefined) {
    const opts = chooseOptions(args.seed);
    if (args.mutateRecovery) opts.mutateRecovery = true;
    console.log(`seed ${args.seed} options: ${JSON.stringify(opts)}`);
    const t0 = performance.now();
    const r = new Simulation(opts).run();
    const ms = Math.round(performance.now() - t0);
    if (!r.ok) {
      report(r, ms);
      return 1;
    }
    console.log(`ok seed ${args.seed} in ${ms} ms: ${JSON.stringify(r.stats)}`);
    return 0;
  }
  const seeds = args.regressions && !args.mutateRecovery ? REGRESSION_SEEDS.map((s) => s.seed) : [];
  for (let s = args.from; s < args.from + args.seeds; s++) seeds.push(s);
  const t0 = performance.now();
  let failed = 0;
  let ran = 0;
  const totals = { committed: 0, acked: 0, lost: 0, elections: 0, crashes: 0, snapshots: 0, messages: 0, ticks: 0, diskLosses: 0, recovered: 0 };
  for (const seed of seeds) {
    const opts = chooseOptions(seed);
    if (args.mutateRecovery) {
      if (opts.diskLossRate === undefined) continue;
      opts.mutateRecovery = true;
    }
    const r = new Simulation(opts).run();
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += r.stats[k];
    ran++;
    if (!r.ok) {
      failed++;
      report(r);
      if (args.stopAtFirst) break;
    } else if (args.verbose) console.log(`ok seed ${seed}: ${JSON.stringify(r.stats)}`);
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `${failed === 0 ? 'PASS' : 'FAIL'}: ${ran - failed}/${ran} seeds passed (${args.regressions && !args.mutateRecovery ? REGRESSION_SEEDS.length : 0} regression) in ${secs} s; ` +
      `${totals.ticks} ticks, ${totals.messages} messages, ${totals.elections} elections, ${totals.crashes} crashes, ` +
      `${totals.snapshots} snapshots, ${totals.committed} entries committed, ${totals.acked} acked, ${totals.lost} lost, ${totals.diskLosses} disk losses, ${totals.recovered} recovered`,
  );
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
