/**
 * Preferred-leader balancing in bounded batches: never more transfers pending than the
 * bound (counted on the partitions' side, as Raft would see them), every misplaced leader
 * handed back in the end despite refusals, aborted transfers and replicas that catch up
 * late, and one log line per pass rather than per partition. Steps, not time: nothing here
 * depends on the machine's speed.
 */
import t from 'tap';
import { LeaderBalancer, type Balanceable } from '../../broker/operations/leader-balancer.js';

/** A partition led by this broker while its preferred replica is another one. */
class FakePartition implements Balanceable {
  leadsHere = true;
  pending = false;
  caughtUp = true;
  refusals = 0;
  constructor(private readonly world: World) {}
  get misplacedLeader(): boolean {
    return this.leadsHere;
  }
  get handingOver(): boolean {
    return this.leadsHere && this.pending;
  }
  shouldHandToPreferred(): boolean {
    return this.leadsHere && this.caughtUp;
  }
  handToPreferred(): void {
    if (this.refusals > 0) {
      this.refusals--;
      throw new Error('NOT_ENOUGH_REPLICAS');
    }
    if (this.pending) throw new Error('a transfer is already pending');
    this.pending = true;
    this.world.pending++;
    this.world.peak = Math.max(this.world.peak, this.world.pending);
  }
}

/** The partitions and a seeded random outcome for each pending transfer at every step. */
class World {
  readonly partitions: FakePartition[] = [];
  pending = 0;
  peak = 0;
  private seed: number;
  constructor(count: number, seed: number) {
    this.seed = seed;
    for (let i = 0; i < count; i++) {
      const p = new FakePartition(this);
      if (this.random() < 0.1) p.caughtUp = false;
      if (this.random() < 0.1) p.refusals = 1 + Math.floor(this.random() * 3);
      this.partitions.push(p);
    }
  }

  random(): number {
    // mulberry32
    this.seed = (this.seed + 0x6d2b79f5) | 0;
    let x = Math.imul(this.seed ^ (this.seed >>> 15), 1 | this.seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }

  /** One step of the cluster: pending transfers complete, abort, or wait; laggards catch up. */
  step(): void {
    for (const p of this.partitions) {
      if (!p.caughtUp && this.random() < 0.02) p.caughtUp = true;
      if (!p.pending) continue;
      const r = this.random();
      if (r < 0.25) {
        p.leadsHere = false; // the preferred replica took over
        p.pending = false;
        this.pending--;
      } else if (r < 0.3) {
        p.pending = false; // Raft aborted the transfer after an election timeout
        this.pending--;
      }
    }
  }
}

for (const [count, bound, seed] of [[2000, 16, 1], [3333, 64, 2], [500, 1, 3], [10, 64, 4]] as const) {
  t.test(`${count} misplaced leaders, at most ${bound} transfers at a time (seed ${seed})`, async (t) => {
    const world = new World(count, seed);
    const lines: Array<{ fields: Record<string, number>; message: string }> = [];
    const balancer = new LeaderBalancer({ maxInFlight: bound, replicas: () => world.partitions, log: (fields, message) => lines.push({ fields, message }) });
    t.equal(balancer.stats().misplacedLeaders, count, 'every partition starts misplaced');
    let passes = 0;
    let overBound = 0;
    for (let step = 0; step < 100_000 && balancer.stats().misplacedLeaders > 0; step++) {
      // The broker reaps every step and passes when slots wait to be filled or periodically.
      if (balancer.pending || step % 20 === 0) {
        balancer.pass();
        passes++;
      } else {
        balancer.reap();
      }
      if (world.pending > bound || balancer.transfersInFlight > bound) overBound++;
      world.step();
    }
    balancer.pass();
    passes++;
    const stats = balancer.stats();
    t.equal(overBound, 0, 'never more transfers pending than the bound');
    t.ok(world.peak <= bound, `peak of ${world.peak} pending transfers`);
    if (count > 4 * bound) t.equal(world.peak, bound, 'the bound is used in full');
    t.equal(stats.misplacedLeaders, 0, 'balancing finished: no misplaced leader left');
    t.equal(stats.transfersInFlight, 0, 'nothing left in flight');
    t.equal(stats.transfersCompleted, count, 'one completed transfer per partition');
    t.equal(stats.transfersStarted, stats.transfersCompleted + stats.transfersFailed, 'every started transfer completed or failed');
    t.ok(lines.length <= passes, `${lines.length} log lines for ${passes} passes and ${count} partitions`);
    t.match(lines.at(-1), { message: /leader balancing finished/, fields: { completed: count } }, 'the last line says balancing finished');
  });
}

t.test('a transfer someone else started is left to end; a refused one is retried later', async (t) => {
  const world = new World(3, 7);
  for (const p of world.partitions) {
    p.caughtUp = true;
    p.refusals = 0;
  }
  const [mine, theirs, refusing] = world.partitions as [FakePartition, FakePartition, FakePartition];
  theirs.pending = true; // an operator's transfer-leader, say
  refusing.refusals = 1;
  const balancer = new LeaderBalancer({ maxInFlight: 8, replicas: () => world.partitions });
  t.equal(balancer.pass(), 1, 'only the free, accepting partition starts');
  t.ok(mine.pending);
  t.equal(balancer.stats().transfersInFlight, 1);
  theirs.pending = false;
  t.equal(balancer.pass(), 2, 'the next pass takes the other two');
  t.equal(balancer.stats().transfersInFlight, 3);
  mine.pending = false; // aborted
  balancer.reap();
  t.match(balancer.stats(), { transfersInFlight: 2, transfersFailed: 1, misplacedLeaders: 3 });
});

t.test('nothing misplaced: a pass starts nothing and logs nothing', async (t) => {
  const world = new World(100, 9);
  for (const p of world.partitions) p.leadsHere = false;
  const lines: string[] = [];
  const balancer = new LeaderBalancer({ maxInFlight: 4, replicas: () => world.partitions, log: (_f, m) => lines.push(m) });
  t.equal(balancer.pass(), 0);
  t.same(lines, []);
  t.same(balancer.stats(), { misplacedLeaders: 0, transfersInFlight: 0, transfersStarted: 0, transfersCompleted: 0, transfersFailed: 0 });
});
