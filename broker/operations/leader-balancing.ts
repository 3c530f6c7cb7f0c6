/**
 * When a broker hands the partitions it leads back to their preferred replicas: the
 * schedule around LeaderBalancer, which decides what one pass starts.
 */
import type { Logger } from 'pino';
import { Periodic } from '../periodic.js';
import type { HostedReplicas } from '../partition/hosted.js';
import { LeaderBalancer, type BalancingStats } from './leader-balancer.js';

/** How often a broker looks for partitions it leads that belong to another broker's leadership. */
const LEADER_BALANCE_MS = 10_000;
/** How often finished transfers free their slots and, while partitions wait for one, the next start. */
const LEADER_BALANCE_STEP_MS = 250;
/**
 * Leadership transfers a broker runs at once. A transfer costs each replica of its group a
 * vote round, a durable term and the new leader's first entry, and its partition refuses
 * writes until it ends; the bound caps that burst (thousands of partitions after a broker
 * returns) without making a full hand-back slow: one transfer takes about one round trip
 * and one fsync, so 3,333 partitions go back in about 50 windows.
 */
export const LEADER_TRANSFERS_IN_FLIGHT = 64;

export class LeaderBalancing {
  /** Hands partitions led here back to their preferred replicas, a bounded number at a time. */
  private readonly balancer: LeaderBalancer;
  private readonly steps = new Periodic(LEADER_BALANCE_STEP_MS, () => this.step());
  private lastPass = 0;

  constructor(replicas: HostedReplicas, logger: Logger) {
    this.balancer = new LeaderBalancer({
      maxInFlight: LEADER_TRANSFERS_IN_FLIGHT,
      replicas: () => replicas.ledHere(),
      log: (fields, message) => logger.info(fields, message),
    });
  }

  /**
   * Placement spreads preferred leaders evenly; elections do not. Moving leadership back
   * also rebalances after a broker returns.
   */
  start(): void {
    this.lastPass = Date.now();
    this.steps.start();
  }

  stop(): void {
    this.steps.stop();
  }

  /**
   * Starts transfers to the preferred leader of partitions led here by another, as many as
   * free slots allow (LEADER_TRANSFERS_IN_FLIGHT); returns how many started. The rest
   * follow as earlier transfers finish.
   */
  balanceNow(): number {
    this.lastPass = Date.now();
    return this.balancer.pass();
  }

  stats(): BalancingStats {
    return this.balancer.stats();
  }

  /** Frees the slots of finished transfers; a pass when partitions wait for a slot, when the last transfer ended, or every LEADER_BALANCE_MS. */
  private step(): void {
    const inFlight = this.balancer.transfersInFlight;
    this.balancer.reap();
    const drained = inFlight > 0 && this.balancer.transfersInFlight === 0;
    if (this.balancer.pending || drained || Date.now() - this.lastPass >= LEADER_BALANCE_MS) this.balanceNow();
  }
}
