/**
 * Preferred-leader balancing: a broker hands the partitions it leads back to their
 * preferred (first) replicas, a bounded number of transfers at a time.
 *
 * Placement spreads preferred leaders evenly and a new partition's preferred replica leads
 * from birth, but elections after a broker restarts or a leader steps down do not follow
 * the placement. Handing thousands of partitions back at once would start thousands of
 * elections at once (each a vote round, a durable term and a new leader's first entry on
 * every replica) and leave each of those partitions refusing writes until its transfer
 * ends; so at most `maxInFlight` transfers run at a time, and the next start as earlier
 * ones finish or time out. Transfers are Raft's own (thesis 3.10), and so is their timeout
 * (an election timeout, after which the leader aborts the transfer and keeps leading; a
 * group with a transfer pending never goes quiet, so its clock runs): a slot is freed only
 * when Raft says the transfer ended, which keeps the bound exact. Only when transfers
 * start is decided here.
 */

/** What the balancer needs of a partition replica (PartitionReplica in the broker). */
export interface Balanceable {
  /** Leads here while its preferred replica, another broker, votes in the group. */
  readonly misplacedLeader: boolean;
  /** Leads here with a leadership transfer pending. */
  readonly handingOver: boolean;
  /** Misplaced, and the preferred replica can take over now (recently active, caught up). */
  shouldHandToPreferred(): boolean;
  /** Starts the transfer to the preferred replica; throws when Raft refuses it. */
  handToPreferred(): void;
}

export interface BalancerOptions {
  /** Transfers in flight at most. */
  maxInFlight: number;
  /** The partition replicas led here (others are never misplaced leaders; a superset does no harm). */
  replicas: () => Iterable<Balanceable>;
  now?: () => number;
  /** One line per pass that started transfers, and one when a round of balancing finishes. */
  log?: (fields: Record<string, number>, message: string) => void;
}

export interface BalancingStats {
  /** Partitions led here whose preferred replica is another broker (a voter). */
  misplacedLeaders: number;
  transfersInFlight: number;
  /** Since the broker started. */
  transfersStarted: number;
  transfersCompleted: number;
  /** Transfers Raft aborted (the target did not take over within an election timeout) with leadership still here. */
  transfersFailed: number;
}

export class LeaderBalancer {
  private readonly inFlight = new Set<Balanceable>();
  private readonly now: () => number;
  private started = 0;
  private completed = 0;
  private failed = 0;
  /** The last scan left ready partitions waiting for a free slot. */
  private backlog = false;
  /** The current round: from the pass that first found misplaced leaders until none remain. */
  private round: { since: number; started: number; completed: number; failed: number } | null = null;
  /** The most transfers ever in flight at once. */
  peakInFlight = 0;

  constructor(private readonly options: BalancerOptions) {
    if (!Number.isSafeInteger(options.maxInFlight) || options.maxInFlight < 1) throw new RangeError(`maxInFlight must be a positive integer, got ${options.maxInFlight}`);
    this.now = options.now ?? Date.now;
  }

  /** Whether a pass now would start something: free slots and ready partitions left over from the last scan. */
  get pending(): boolean {
    return this.backlog && this.inFlight.size < this.options.maxInFlight;
  }

  get transfersInFlight(): number {
    return this.inFlight.size;
  }

  /**
   * Frees the slots of transfers that ended: leadership left this broker (or the partition
   * is no longer misplaced here: completed), or Raft aborted the transfer (failed).
   */
  reap(): void {
    for (const replica of this.inFlight) {
      if (!replica.misplacedLeader) {
        this.inFlight.delete(replica);
        this.completed++;
        if (this.round) this.round.completed++;
      } else if (!replica.handingOver) {
        this.inFlight.delete(replica);
        this.failed++;
        if (this.round) this.round.failed++;
      }
    }
  }

  /**
   * Reaps, then starts transfers for ready misplaced partitions while slots are free;
   * returns how many started. Scans every replica (no allocation for those led by their
   * preferred replica).
   */
  pass(): number {
    this.reap();
    let started = 0;
    let misplaced = 0;
    this.backlog = false;
    for (const replica of this.options.replicas()) {
      if (!replica.misplacedLeader) continue;
      misplaced++;
      // Ours, or another's (an operator's transfer, a disk-full hand-off): let it end first.
      if (this.inFlight.has(replica) || replica.handingOver) continue;
      if (this.inFlight.size >= this.options.maxInFlight) {
        // Not worth checking readiness (it allocates): a later pass will.
        this.backlog = true;
        continue;
      }
      if (!replica.shouldHandToPreferred()) continue;
      try {
        replica.handToPreferred();
      } catch {
        // Refused (not caught up after all, or no longer leading): a later pass tries again.
        continue;
      }
      this.inFlight.add(replica);
      started++;
    }
    this.started += started;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight.size);
    if (misplaced > 0 && !this.round) this.round = { since: this.now(), started: 0, completed: 0, failed: 0 };
    if (this.round) this.round.started += started;
    if (started > 0) {
      this.options.log?.({ started, inFlight: this.inFlight.size, remaining: misplaced - this.inFlight.size, completed: this.round!.completed, failed: this.round!.failed }, 'handing leadership to preferred replicas');
    }
    if (misplaced === 0 && this.inFlight.size === 0 && this.round) {
      const { since, ...round } = this.round;
      this.options.log?.({ ...round, ms: this.now() - since }, 'leader balancing finished: every partition led here is led by its preferred replica');
      this.round = null;
    }
    return started;
  }

  /** Counts misplaced leaders now (does not allocate). */
  stats(): BalancingStats {
    let misplacedLeaders = 0;
    for (const replica of this.options.replicas()) if (replica.misplacedLeader) misplacedLeaders++;
    return {
      misplacedLeaders,
      transfersInFlight: this.inFlight.size,
      transfersStarted: this.started,
      transfersCompleted: this.completed,
      transfersFailed: this.failed,
    };
  }

  /** Forgets transfers in flight (the broker is stopping). */
  clear(): void {
    this.inFlight.clear();
    this.backlog = false;
  }
}
