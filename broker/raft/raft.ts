/**
 * One Raft group as a pure, deterministic state machine (the shape of etcd's raft.go).
 *
 * Inputs: `tick()` (one unit of logical time), `step(message)`, `propose(batch)`,
 * `proposeConfigChange(change)` and `transferLeadership(to)`. Output: a `Ready`, taken with
 * `ready()` and acknowledged with `advance(ready)`. The core appends to and truncates the
 * RaftLog itself (those are cheap, buffered operations); it never syncs, never sends and
 * never reads a clock: the driver persists, sends and applies, in the order that the
 * README's four-step loop prescribes. Randomness (election timeouts) comes from the
 * injected `random` function.
 *
 * Offsets. An entry is a record batch and its index is the batch's LAST offset: a batch of
 * n records occupies [index - n + 1, index]. Indexes, commit, match and next are offsets.
 * The leader always sends whole entries: from `next` (a base offset) with
 * prevIndex = next - 1 (the previous entry's last offset). Two logs that hold an entry of
 * the same term at an offset hold the same batch there (only one leader per term assigned
 * offsets), so entry boundaries agree wherever terms agree (Log Matching).
 *
 * The references in comments ("thesis 3.6") are to Ongaro's dissertation, Consensus:
 * Bridging Theory and Practice (2014).
 */
import { FlotillaError } from '../../protocol/errors.js';
import { ControlType, buildControlBatch, isControlBatch, patchBatch, readControl, recordCountOf } from '../../protocol/batch.js';
import { isRecovering, type Entry, type HardState, type RaftLog } from './log.js';
import type { Message, MessageType, Snapshot } from './types.js';
import { Progress, type ProgressState } from './progress.js';
import { committedIndex, hasQuorum, voteResult } from './quorum.js';
import {
  applyChange,
  checkMembership,
  decodeMembership,
  encodeMembership,
  type ConfigChange,
  type Membership,
} from './membership.js';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** State that is not persisted: who leads, and in which role this node is. */
export interface SoftState {
  role: Role;
  leaderId: number;
  term: number;
}

/**
 * What the driver must do, in this order (see README.md, "The driver loop"):
 *  1. persist `hardState` (if present) and, if `mustSync`, sync the log (and persist
 *     `snapshot` with the log reset it came with);
 *  2. send `messagesAfterSync`;
 *  3. install `snapshot` (if present) into the state machine, then apply `committed`;
 *  4. call `advance(ready)`.
 * `messages` may be sent as soon as `ready()` returns, before step 1: they are a leader's
 * appends and heartbeats, which depend on nothing that is not already durable (thesis
 * 10.2.1: the leader writes its log in parallel with replicating it).
 */
export interface Ready {
  /** Present when role, leader or term changed since the previous Ready. */
  softState?: SoftState;
  /** Present when term, vote or recovery changed: persist atomically before step 2. */
  hardState?: HardState;
  /** The log was appended to, truncated or reset since the previous Ready: sync it before step 2. */
  mustSync: boolean;
  /** May be sent at once (leader traffic whose term and vote are already durable). */
  messages: Message[];
  /** May be sent only after hardState is persisted and the log synced ("persist before you speak"). */
  messagesAfterSync: Message[];
  /** Committed entries to apply, in order, after `snapshot` if any. */
  committed: Entry[];
  /** A snapshot this follower installed: the log was reset to its index; load `data` into the state machine. */
  snapshot?: Snapshot;
  /** The log's last index when this Ready was made: durable once the driver synced and calls advance. */
  readonly lastIndex: number;
}

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
  inflight: number;
}

export interface Status extends SoftState {
  id: number;
  vote: number;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  /** Highest index the driver confirmed durable in this node's log. */
  stableIndex: number;
  membership: Membership;
  /** Leader only: the target of a leadership transfer in progress, 0 for none. */
  transferee: number;
  /** Recovering lost entries up to this index (no vote, no campaign); -1 when not. */
  recoverTo: number;
  /** Leader only: per-follower progress (the leader itself is not listed). */
  progress: Record<number, ProgressStatus>;
}

/** What the leader's state machine hands over when a follower needs entries below the log start. */
export interface SnapshotSource {
  /** A committed, applied index (an entry boundary >= firstIndex() - 1) and the state-machine image at it. */
  index: number;
  data: Buffer;
}

/** Why a leader stopped leading. */
export type StepDownReason = 'a higher term' | 'lost its quorum' | 'its disk stalled' | 'no room for its no-op' | 'removed from the voters';

/** A decision of the core, reported through `RaftOptions.trace`. */
export type RaftEvent =
  | { event: 'campaign'; term: number; kind: 'pre-vote' | 'vote' | 'transfer' }
  | { event: 'elected'; term: number }
  | { event: 'lost'; term: number; kind: 'pre-vote' | 'vote'; refusedBy: number[] }
  | { event: 'vote-refused'; term: number; candidate: number; kind: 'pre-vote' | 'vote'; why: string }
  | { event: 'step-down'; term: number; why: StepDownReason }
  | { event: 'follow'; term: number; leader: number }
  | { event: 'truncated'; after: number; lastIndexBefore: number }
  | { event: 'membership'; index: number; voters: number[]; learners: number[]; undone?: true }
  | { event: 'recovered'; term: number; lastIndex: number }
  | { event: 'leader-lost'; term: number; leader: number };

export interface RaftOptions {
  id: number;
  log: RaftLog;
  /** As last persisted ({term: 0, vote: 0} for a brand new replica). */
  hardState: HardState;
  /**
   * Membership at the log start (firstIndex() - 1): the initial configuration, or the one
   * recorded with the last snapshot / log-start move. Configuration entries in the log override it.
   */
  voters: number[];
  learners?: number[];
  /** Ticks without hearing from a leader before a follower campaigns; randomized in [e, 2e). */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats. Must be well below electionTicks. */
  heartbeatTicks?: number;
  /** Seeded generator in [0, 1): the only source of randomness. */
  random: () => number;
  /** Append messages in flight per follower in replicate state. */
  maxInflightMsgs?: number;
  /** Bytes of batches in flight per follower (0 = no byte cap). */
  maxInflightBytes?: number;
  /** Upper bound on the batch bytes of one append message (at least one entry is always sent). */
  maxBytesPerMsg?: number;
  /**
   * Leader backpressure: proposals are refused (NOT_ENOUGH_REPLICAS, retriable) while the
   * batches it appended in its term and not yet committed exceed this many bytes. Bounds the
   * backlog a slow quorum can build (etcd's MaxUncommittedEntriesSize). 0 = no limit.
   */
  maxUncommittedBytes?: number;
  /** Upper bound on the entry bytes handed out in one Ready's `committed`. */
  maxCommittedBytesPerReady?: number;
  /** Index of the last entry the state machine applied (>= firstIndex() - 1); entries after it are re-applied. */
  applied?: number;
  /** Leader: builds a snapshot for a follower that needs entries below the log start. */
  snapshot?: () => SnapshotSource | undefined;
  /** Leader: permits for catching up followers that are far behind (none: no limit). */
  recovery?: RecoveryGate;
  /**
   * Decisions as they happen (elections, refused votes, step-downs, truncations,
   * membership changes, the end of a recovery), for logs and scenario tests. Must not throw.
   */
  trace?: (event: RaftEvent) => void;
  /**
   * Test only, never set in the broker: a replica recovering lost entries votes and
   * campaigns anyway (the simulator's mutation check shows committed entries get lost).
   */
  testOnlyVoteWhileRecovering?: boolean;
}

/**
 * Bounds how many groups catch a follower up at once (Redpanda #5958: a returning broker
 * stampeded by every group's catch-up). A follower is recovering while it lacks entries
 * that committed without it, or more than one message's worth. Sending those needs a
 * permit; without one the leader sends it nothing but heartbeats until the driver calls
 * `resumeReplication`. The permit is given back with the first send that needs none (the
 * follower is down to fresh entries). Withholding a permit only delays messages, so safety
 * is untouched; the driver reclaims permits of groups that no longer use them (step-down,
 * removal, a follower caught up or no longer answering).
 */
export interface RecoveryGate {
  /** True when this group may send a backlog to `peer` now (idempotent while held). */
  acquire(peer: number): boolean;
  /** The group no longer needs its permit for `peer` (a no-op when it holds none). */
  release(peer: number): void;
}

export function defaultRaftOptions() {
  return {
    learners: [] as number[],
    electionTicks: 10,
    heartbeatTicks: 1,
    maxInflightMsgs: 256,
    maxInflightBytes: 0,
    maxBytesPerMsg: 1 << 20,
    maxCommittedBytesPerReady: 4 << 20,
    maxUncommittedBytes: 64 << 20,
  };
}

function invalidOption(message: string): FlotillaError {
  return new FlotillaError('INVALID_CONFIG', `raft: ${message}`);
}

/** Immediate vs after-sync: which queue a message goes to (see `send`). */
const LEADER_TRAFFIC: ReadonlySet<MessageType> = new Set<MessageType>(['append', 'heartbeat', 'snapshot', 'timeoutNow']);

/** Below every offset: what a follower we know nothing about matches. */
const NO_MATCH = -1;

function baseOf(e: Entry): number {
  return e.index - recordCountOf(e.data) + 1;
}

export class RaftNode {
  /** Committed entries a follower may lack and still get them without a recovery permit. */
  static readonly FEW_MISSED_ENTRIES = 3;
  readonly id: number;
  private readonly log: RaftLog;
  private readonly random: () => number;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;
  private readonly maxBytesPerMsg: number;
  private readonly maxCommittedBytes: number;
  private readonly maxUncommittedBytes: number;
  private readonly snapshotSource: (() => SnapshotSource | undefined) | undefined;
  private readonly recovery: RecoveryGate | undefined;
  /** Set once construction is over: replaying the log's configurations is not news. */
  private trace: ((event: RaftEvent) => void) | undefined;

  // Persistent state (HardState), written by the driver from Ready.hardState.
  private term: number;
  private vote: number;
  /**
   * Lost entries (HardState.recoverTo, recoverTerm): the log held entries up to recoverTo
   * before storage cut it, possibly acknowledged in terms up to recoverTerm. -1: none.
   * While recovering the node neither votes nor campaigns; see `noteCaughtUp`.
   */
  private recoverTo: number;
  private recoverTerm: number;
  /** Recovering: recovery ends once the log is durable up to here (Infinity: not caught up yet). */
  private caughtUpAt = Infinity;
  private readonly voteWhileRecovering: boolean;

  private role: Role = 'follower';
  private leaderId = 0;

  /** Highest index known committed (an entry boundary). Never decreases within a life. */
  private commit: number;
  /** Highest index the driver confirmed applied (advance). */
  private applied: number;
  /** Highest index handed out in a Ready's `committed` (or covered by a handed-out snapshot). */
  private applying: number;

  /**
   * Highest index the driver confirmed durable in this log (advance after a sync).
   * The leader counts itself toward a quorum only up to here: it sends entries before its
   * own fsync, but it must not count un-synced entries as replicated on itself.
   */
  private stableIndex: number;
  /** Lowest truncation/reset point since the outstanding Ready was made (Infinity: none). */
  private truncatedSinceReady = Infinity;

  /** Membership in effect: the latest configuration entry in the log (appended, not necessarily committed). */
  private membership: Membership;
  /** Every configuration known since the log start, by index, oldest first (for truncation and snapshots). */
  private configs: Array<{ index: number; membership: Membership }>;

  /** Ticks since the last election-timer reset (follower/candidate) or check-quorum round (leader). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** In [electionTicks, 2 * electionTicks): re-drawn on every role change. */
  private randomizedElectionTimeout = 0;

  private votes = new Map<number, boolean>();
  /** Leader only: progress of every member but itself. */
  private prs = new Map<number, Progress>();
  /** Leader only: index of the latest configuration entry it appended (pending until committed). */
  private pendingConfIndex = 0;
  /** Leader only: target of a leadership transfer in progress, 0 for none. */
  private leadTransferee = 0;
  /** Leader: entries were proposed since the last Ready; one broadcast covers them all. */
  private pendingBcast = false;
  /** Leader: the commit index last broadcast (a higher commit warrants even an empty append). */
  private bcastCommit = 0;
  /** Leader: its own uncommitted proposals (last index, bytes), oldest first, and their total bytes. */
  private uncommitted: Array<{ index: number; bytes: number }> = [];
  private uncommittedBytes = 0;
  /** Leader: stableIndex at the last check-quorum round (to detect a stalled disk). */
  private stableAtCheck = 0;

  private msgs: Message[] = [];
  private msgsAfterSync: Message[] = [];
  private logChanged = false;
  private pendingSnapshot: Snapshot | undefined;

  /** Hard state as the driver last persisted it, and as last handed out in a Ready. */
  private persistedHard: HardState;
  private readyHard: HardState;
  private readySoft: SoftState;
  private outstanding: Ready | undefined;

  constructor(options: RaftOptions) {
    const o = { ...defaultRaftOptions(), ...options };
    if (!Number.isInteger(o.id) || o.id <= 0) throw invalidOption(`id must be a positive integer, got ${o.id}`);
    if (!(o.electionTicks >= 2)) throw invalidOption(`electionTicks must be >= 2, got ${o.electionTicks}`);
    if (!(o.heartbeatTicks >= 1 && o.heartbeatTicks < o.electionTicks)) {
      throw invalidOption(`heartbeatTicks must be in [1, electionTicks), got ${o.heartbeatTicks}; use e.g. electionTicks = 10 * heartbeatTicks`);
    }
    if (!(o.maxInflightMsgs >= 1)) throw invalidOption(`maxInflightMsgs must be >= 1, got ${o.maxInflightMsgs}`);
    if (!(o.maxBytesPerMsg >= 1)) throw invalidOption(`maxBytesPerMsg must be >= 1, got ${o.maxBytesPerMsg}`);
    if (typeof o.random !== 'function') throw invalidOption('random must be a seeded generator () => number in [0, 1)');
    this.id = o.id;
    this.log = o.log;
    this.random = o.random;
    this.electionTicks = o.electionTicks;
    this.heartbeatTicks = o.heartbeatTicks;
    this.maxInflightMsgs = o.maxInflightMsgs;
    this.maxInflightBytes = o.maxInflightBytes;
    this.maxBytesPerMsg = o.maxBytesPerMsg;
    this.maxCommittedBytes = o.maxCommittedBytesPerReady;
    this.maxUncommittedBytes = o.maxUncommittedBytes;
    this.snapshotSource = o.snapshot;
    this.recovery = o.recovery;

    this.term = o.hardState.term;
    this.vote = o.hardState.vote;
    this.recoverTo = isRecovering(o.hardState) ? o.hardState.recoverTo! : -1;
    this.recoverTerm = this.recoverTo >= 0 ? (o.hardState.recoverTerm ?? this.term) : 0;
    this.voteWhileRecovering = o.testOnlyVoteWhileRecovering === true;
    this.persistedHard = this.hardState();
    this.readyHard = this.persistedHard;

    const start = this.log.firstIndex() - 1;
    const applied = o.applied ?? start;
    if (applied < start || applied > this.log.lastIndex()) {
      throw invalidOption(`applied ${applied} is outside [log start ${start}, last index ${this.log.lastIndex()}]`);
    }
    // Everything applied was committed; nothing more is known to be (commit is not persisted).
    this.commit = applied;
    this.applied = applied;
    this.applying = applied;
    // Whatever the log holds at start-up was read back from storage: it is durable.
    this.stableIndex = this.log.lastIndex();

    this.membership = checkMembership({ voters: o.voters, learners: o.learners });
    this.configs = [{ index: start, membership: this.membership }];
    // Configuration entries in the log take effect as soon as they are in it (thesis 4.1).
    // A full scan: the storage engine could index control batches to make this cheaper.
    for (let at = start + 1; at <= this.log.lastIndex(); ) {
      const batch = this.log.entries(at, this.maxCommittedBytes);
      for (const e of batch) this.noteConfig(e);
      at = batch[batch.length - 1]!.index + 1;
    }

    this.becomeFollower(this.term, 0);
    this.readySoft = this.softState();
    this.trace = o.trace;
  }

  // ---------------------------------------------------------------------------------------
  // Public API

  /** One unit of logical time. The driver calls it at a fixed interval on every group. */
  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Proposes a record batch (built by a producer). Patches its base offset and term in place. */
  propose(data: Buffer): { index: number; term: number } {
    this.checkCanPropose();
    if (this.maxUncommittedBytes > 0 && this.uncommittedBytes > 0 && this.uncommittedBytes + data.length > this.maxUncommittedBytes) {
      throw new FlotillaError('NOT_ENOUGH_REPLICAS', `${this.uncommittedBytes} bytes are waiting for a quorum (limit ${this.maxUncommittedBytes}); retry once they commit`);
    }
    const e = this.appendBatch(data);
    return { index: e.index, term: e.term };
  }

  /**
   * Proposes a single-server membership change. Refused unless this node leads, has
   * committed an entry of its own term (Ongaro's 2015 correction: otherwise a change could
   * overlap one from a previous term that is still uncommitted), and no other change is
   * uncommitted. The new membership takes effect as soon as the entry is appended.
   */
  proposeConfigChange(change: ConfigChange): { index: number; term: number } {
    this.checkCanPropose();
    if (this.log.termAt(this.commit) !== this.term) {
      throw new FlotillaError('LEADER_NOT_AVAILABLE', 'the new leader has not yet committed an entry of its term; retry the membership change shortly');
    }
    if (this.pendingConfIndex > this.commit) {
      throw new FlotillaError('LEADER_NOT_AVAILABLE', `membership change at ${this.pendingConfIndex} is not yet committed; retry once it is (one change at a time)`);
    }
    const next = applyChange(this.membership, change);
    if (change.type === 'promote') {
      const pr = this.prs.get(change.id);
      if (!pr || pr.match < this.commit) {
        throw new FlotillaError('NOT_ENOUGH_REPLICAS', `learner ${change.id} has not caught up (match ${pr?.match ?? 0} < commit ${this.commit}); promote it once it has`);
      }
    }
    const e = this.appendBatch(buildControlBatch(ControlType.CONFIG, encodeMembership(next)));
    return { index: e.index, term: e.term };
  }

  /**
   * A brand-new group's first election, arranged so that its preferred replica leads from
   * birth: the preferred one campaigns at its next tick, the others wait an extra election
   * timeout before their first campaign. Only timing changes, so safety is untouched; if the
   * preferred replica cannot win (it is down, or its messages arrive before the others
   * created the group), the others take over after their longer wait.
   */
  arrangeFirstElection(preferred: boolean): void {
    if (this.role !== 'follower' || this.leaderId !== 0) return;
    this.electionElapsed = preferred ? this.randomizedElectionTimeout - 1 : -this.electionTicks;
  }

  /**
   * The driver learnt that `leader` went away: the connection to its broker closed (a
   * killed process's sockets are reset by the kernel at once). A follower of it stops
   * vouching for it: its check-quorum lease ends, so it grants pre-votes at once instead of
   * an election timeout later. Returns whether this node followed `leader`. Timing only,
   * so safety is untouched; a leader that is in fact alive is not disturbed: a pre-vote
   * fails while a majority still hears from it (their leases hold), and a message from it
   * restores the lease as usual.
   */
  leaderLost(leader: number): boolean {
    if (this.role !== 'follower' || leader === 0 || this.leaderId !== leader) return false;
    this.electionElapsed = Math.max(this.electionElapsed, this.electionTicks);
    this.emit({ event: 'leader-lost', term: this.term, leader });
    return true;
  }

  /**
   * Runs the election timer out now: a follower that has not heard from a leader for an
   * election timeout (or was told by `leaderLost` that it is gone, and has not heard from
   * it since) does what its timer would do when it fires — pre-campaign (or, recovering
   * lost entries, ask for them). The driver calls it a short random delay after
   * `leaderLost`, so that the followers told together seldom campaign in the same instant.
   */
  expireElectionTimer(): void {
    if (this.role !== 'follower' || this.electionElapsed < this.electionTicks) return;
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - 1);
    this.tickElection();
  }

  /**
   * Hands leadership to `to` (thesis 3.10): the leader stops accepting proposals, brings the
   * target up to date and sends it TimeoutNow, upon which it campaigns at once. Only to a
   * voter that is recently active and holds everything committed (a laggard would block
   * writes while it catches up; Redpanda #2592). Aborted after an election timeout.
   */
  transferLeadership(to: number): void {
    if (this.role !== 'leader') throw this.notLeader();
    if (to === this.id) return;
    if (!this.membership.voters.includes(to)) throw new FlotillaError('INVALID_REQUEST', `cannot transfer leadership to ${to}: it is not a voter`);
    if (this.leadTransferee === to) return;
    const pr = this.prs.get(to)!;
    if (!pr.recentActive || pr.match < this.commit) {
      throw new FlotillaError('NOT_ENOUGH_REPLICAS', `transfer target ${to} is not caught up (match ${pr.match} < commit ${this.commit}); retry when it is`);
    }
    this.leadTransferee = to;
    // The transfer shares the election timer: it is aborted after electionTicks.
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to, term: this.term, from: this.id });
    else this.sendAppend(to, true);
  }

  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === 'preVote' || m.type === 'vote') {
        // Check-quorum lease: a node that heard from a leader within the (minimum) election
        // timeout ignores (pre-)votes, so a partitioned node that comes back cannot unseat a
        // healthy leader. A transfer's vote is sanctioned by the leader and passes.
        if (this.leaderId !== 0 && this.electionElapsed < this.electionTicks && !m.transfer) {
          this.emit({ event: 'vote-refused', term: m.term, candidate: m.from, kind: m.type === 'preVote' ? 'pre-vote' : 'vote', why: `heard from leader ${this.leaderId} within the election timeout` });
          return;
        }
      }
      if (m.type === 'preVote') {
        // A pre-vote does not change our term: the candidate has not started one.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // A granted pre-vote carries the term we would campaign in; counted below.
      } else {
        const lead = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' ? m.from : 0;
        this.becomeFollower(m.term, lead);
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // A stale leader (e.g. back from a partition) learns our term and steps down; without
        // this, pre-vote + check-quorum can leave it unaware forever (etcd #5451).
        this.send({ type: 'appendResp', to: m.from, from: this.id, term: this.term });
      } else if (m.type === 'preVote') {
        // Tell a pre-candidate of a lower term that it is behind, so that it catches up.
        this.send({ type: 'preVoteResp', to: m.from, from: this.id, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === 'preVote' || m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    return (
      this.pendingBcast ||
      this.msgs.length > 0 ||
      this.msgsAfterSync.length > 0 ||
      this.logChanged ||
      this.pendingSnapshot !== undefined ||
      this.commit > this.applying ||
      this.term !== this.readyHard.term ||
      this.vote !== this.readyHard.vote ||
      this.recoverTo !== (this.readyHard.recoverTo ?? -1) ||
      this.role !== this.readySoft.role ||
      this.leaderId !== this.readySoft.leaderId ||
      this.term !== this.readySoft.term
    );
  }

  /**
   * Takes what is ready. At most one Ready is outstanding: call advance() before the next
   * ready(). step(), tick() and propose() may be called in between (their effects go to the
   * next Ready).
   */
  ready(): Ready {
    if (this.outstanding) throw new Error('raft: ready() called again before advance() of the previous Ready');
    if (this.pendingBcast) {
      this.pendingBcast = false;
      if (this.role === 'leader') {
        this.bcastAppend(this.commit > this.bcastCommit);
        this.bcastCommit = this.commit;
      }
    }
    const rd: Ready = {
      mustSync: this.logChanged,
      messages: this.msgs,
      messagesAfterSync: this.msgsAfterSync,
      committed: [],
      lastIndex: this.log.lastIndex(),
    };
    const soft = this.softState();
    if (soft.role !== this.readySoft.role || soft.leaderId !== this.readySoft.leaderId || soft.term !== this.readySoft.term) {
      rd.softState = soft;
      this.readySoft = soft;
    }
    if (this.term !== this.readyHard.term || this.vote !== this.readyHard.vote || this.recoverTo !== (this.readyHard.recoverTo ?? -1)) {
      rd.hardState = this.hardState();
      this.readyHard = rd.hardState;
    }
    if (this.pendingSnapshot) {
      rd.snapshot = this.pendingSnapshot;
      this.pendingSnapshot = undefined;
    }
    if (this.commit > this.applying) {
      let bytes = 0;
      let from = this.applying + 1;
      while (from <= this.commit && bytes < this.maxCommittedBytes) {
        const batch = this.log.entries(from, this.maxCommittedBytes - bytes);
        for (const e of batch) {
          if (e.index > this.commit) break;
          rd.committed.push(e);
          bytes += e.data.length;
          from = e.index + 1;
        }
        if (batch.length === 0 || batch[batch.length - 1]!.index > this.commit) break;
      }
      if (rd.committed.length > 0) this.applying = rd.committed[rd.committed.length - 1]!.index;
    }
    this.msgs = [];
    this.msgsAfterSync = [];
    this.logChanged = false;
    this.truncatedSinceReady = Infinity;
    this.outstanding = rd;
    return rd;
  }

  /** The driver persisted, synced, sent and applied `rd` (steps 1-3). */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error('raft: advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    if (rd.hardState) this.persistedHard = rd.hardState;
    // What the log held when rd was made and was not truncated since is now durable.
    const stable = Math.min(rd.lastIndex, this.truncatedSinceReady);
    if (stable > this.stableIndex) this.stableIndex = Math.min(stable, this.log.lastIndex());
    this.maybeEndRecovery();
    if (rd.snapshot && rd.snapshot.index > this.applied) this.applied = rd.snapshot.index;
    if (rd.committed.length > 0) this.applied = Math.max(this.applied, rd.committed[rd.committed.length - 1]!.index);
    if (this.role === 'leader' && this.maybeCommit()) this.onCommitAdvanced();
  }

  status(): Status {
    const progress: Record<number, ProgressStatus> = {};
    for (const [id, pr] of this.prs) {
      progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, inflight: pr.inflights.count() };
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.leaderId,
      commit: this.commit,
      applied: this.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      stableIndex: this.stableIndex,
      membership: this.membership,
      transferee: this.leadTransferee,
      recoverTo: this.recoverTo,
      progress,
    };
  }

  /** Leader: followers (voters and learners) that lack committed entries; 0 elsewhere. Does not allocate. */
  laggingFollowers(): number {
    if (this.role !== 'leader') return 0;
    let lagging = 0;
    for (const pr of this.prs.values()) if (pr.match < this.commit) lagging++;
    return lagging;
  }

  // Cheap accessors for the hot path (status() allocates).
  get currentRole(): Role {
    return this.role;
  }
  get currentTerm(): number {
    return this.term;
  }
  get currentLeader(): number {
    return this.leaderId;
  }
  get commitIndex(): number {
    return this.commit;
  }
  /** The highest index the driver confirmed durable in this log (Status.stableIndex). */
  get durableIndex(): number {
    return this.stableIndex;
  }
  get members(): Membership {
    return this.membership;
  }
  /** Leader: the voter leadership is being handed to; 0 when no transfer is pending. */
  get transferringTo(): number {
    return this.leadTransferee;
  }
  /** Recovering lost entries up to this index (not voting, not campaigning); -1 when not. */
  get recoveringTo(): number {
    return this.recoverTo;
  }

  /**
   * The membership in effect at `index` (the latest configuration at or below it), for the
   * driver to record when the log start moves (retention) or a snapshot is taken. Undefined
   * below the log start this node was constructed or last reset with.
   */
  membershipAt(index: number): Membership | undefined {
    for (let i = this.configs.length - 1; i >= 0; i--) {
      if (this.configs[i]!.index <= index) return this.configs[i]!.membership;
    }
    return undefined;
  }

  /** A recovery permit for `to` was granted after `acquire` refused one: send what is waiting. */
  resumeReplication(to: number): void {
    if (this.role !== 'leader') return;
    while (this.sendAppend(to, false)) {
      /* fill the window */
    }
  }

  /** The driver could not deliver a snapshot to `to`: probe again (etcd's ReportSnapshot). */
  reportSnapshotFailure(to: number): void {
    const pr = this.prs.get(to);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    pr.pendingSnapshot = 0;
    pr.becomeProbe();
  }

  // ---------------------------------------------------------------------------------------
  // Role transitions

  private softState(): SoftState {
    return { role: this.role, leaderId: this.leaderId, term: this.term };
  }

  private hardState(): HardState {
    if (this.recoverTo < 0) return { term: this.term, vote: this.vote };
    return { term: this.term, vote: this.vote, recoverTo: this.recoverTo, recoverTerm: this.recoverTerm };
  }

  /** Recovering lost entries: no vote, no pre-vote, no campaign (the test-only switch aside). */
  private mayNotVote(): boolean {
    return this.recoverTo >= 0 && !this.voteWhileRecovering;
  }

  /**
   * Lost entries. A replica whose storage cut entries it had acknowledged must not count in
   * any election until it holds them again: the quorum that committed an entry may have
   * been this replica plus others, and an election quorum without the entry could then be
   * formed with its vote (the up-to-date check of thesis 3.6.1 compares logs, and this log
   * no longer shows what it vouched for). Abstaining keeps Leader Completeness (thesis
   * 3.6.3): a commit quorum and an election quorum still meet in an intact replica that
   * holds the entry, as long as a majority of the voters is intact.
   *
   * Recovery ends once the log, matched to a leader's, is durable up to `index` where:
   *  1. index >= recoverTo: we hold a leader's log up to where ours ended. The leader's term
   *     is >= recoverTerm (ours never decreases, and a leader of a lower term is refused),
   *     so by Leader Completeness its log holds, at their indexes, every entry committed in
   *     a term <= recoverTerm (a leader of recoverTerm itself holds what it committed) —
   *     which includes every entry ever committed with our acknowledgement, all at or
   *     below recoverTo.
   *  2. or index is the leader's commit, its entry is of the leader's term, and that term is
   *     > recoverTerm: every entry committed in an earlier term is in the leader's log
   *     (Leader Completeness), below its first entry of its own term, so at or below its
   *     commit. This ends recovery when the lost tail was never committed and the leader's
   *     log stays shorter than recoverTo.
   * Either way, only once durable: the hard state that ends recovery must not be
   * persisted before the entries it vouches for.
   */
  private noteCaughtUp(index: number): void {
    if (this.recoverTo < 0) return;
    if (index < this.caughtUpAt) this.caughtUpAt = index;
    this.maybeEndRecovery();
  }

  private maybeEndRecovery(): void {
    if (this.recoverTo >= 0 && this.stableIndex >= this.caughtUpAt) this.endRecovery();
  }

  /** The next Ready carries the hard state without recovery. */
  private endRecovery(): void {
    this.emit({ event: 'recovered', term: this.term, lastIndex: this.log.lastIndex() });
    this.recoverTo = -1;
    this.recoverTerm = 0;
    this.caughtUpAt = Infinity;
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = 0;
    }
    this.leaderId = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks);
    this.votes.clear();
    this.prs.clear();
    this.leadTransferee = 0;
    this.pendingConfIndex = 0;
    this.pendingBcast = false;
    this.uncommitted = [];
    this.uncommittedBytes = 0;
  }

  private becomeFollower(term: number, lead: number, why: StepDownReason = 'a higher term'): void {
    const wasLeader = this.role === 'leader';
    const leaderBefore = this.leaderId;
    this.reset(term);
    this.role = 'follower';
    this.leaderId = lead;
    if (wasLeader) this.emit({ event: 'step-down', term, why });
    if (lead !== 0 && lead !== leaderBefore) this.emit({ event: 'follow', term, leader: lead });
  }

  private emit(event: RaftEvent): void {
    try {
      this.trace?.(event);
    } catch {
      // A trace is an observer: it must never leave a step half done.
    }
  }

  /**
   * Pre-vote (thesis 9.6): ask whether we could win before disturbing anyone with a new
   * term. Neither term nor vote changes. The leader is forgotten: a node that stepped down
   * through check-quorum must not keep refusing votes on behalf of a leader it lost
   * (etcd PR 8334).
   */
  private becomePreCandidate(): void {
    this.role = 'preCandidate';
    this.leaderId = 0;
    this.votes.clear();
    this.prs.clear();
  }

  private becomeCandidate(): void {
    if (this.role === 'leader') throw new Error('raft: leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leaderId = this.id;
    this.emit({ event: 'elected', term: this.term });
    const next = this.log.lastIndex() + 1;
    for (const id of this.peers()) this.prs.set(id, this.newProgress(next));
    // No membership change until an entry of this term commits: pretend one is pending.
    this.pendingConfIndex = this.log.lastIndex();
    this.stableAtCheck = -1;
    this.bcastCommit = this.commit;
    // The no-op of the new term (thesis 3.6.2 / Figure 8): once it commits, so does
    // everything before it, and the leader learns its commit index.
    try {
      this.appendBatch(buildControlBatch(ControlType.NOOP, null));
    } catch (err) {
      // The log refused the no-op (a full disk): a leader that cannot store an entry of
      // its term can commit nothing, so it steps down at once and another voter wins the
      // next election. The error goes to the driver, which drops the step like a lost message.
      this.becomeFollower(this.term, 0, 'no room for its no-op');
      throw err;
    }
  }

  private promotable(): boolean {
    return this.membership.voters.includes(this.id);
  }

  /**
   * May start elections: a voter of its latest configuration or, thesis 4.2.2, a voter that
   * the latest configuration removes while that entry is not known committed: it may still
   * be needed until it commits (its log may be the only up-to-date one among the old
   * configuration's live voters). It asks the latest configuration's voters and its own
   * vote does not count there; as leader it commits the change and hands over.
   */
  private mayCampaign(): boolean {
    if (this.promotable()) return true;
    const n = this.configs.length;
    return n >= 2 && this.configs[n - 1]!.index > this.commit && this.configs[n - 2]!.membership.voters.includes(this.id);
  }

  private peers(): number[] {
    const out: number[] = [];
    for (const id of this.membership.voters) if (id !== this.id) out.push(id);
    for (const id of this.membership.learners) if (id !== this.id) out.push(id);
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.mayCampaign() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      if (this.mayNotVote()) {
        // Recovering lost entries: we wait for a leader, and remind the voters that we lack
        // entries — a leader that went quiet (multiraft quiescence) or believes we hold
        // everything would otherwise never send them. A group of one has nobody to recover
        // from: what it lost is gone for good, and waiting would block it forever.
        if (this.membership.voters.length > 1) {
          this.askForLostEntries();
          return;
        }
        this.endRecovery();
      }
      this.campaign('preElection');
    }
  }

  /**
   * The answer a follower gives a heartbeat when it lacks entries (`handleHeartbeat`), sent
   * unasked to every voter: the leader among them lowers our match and probes from our last
   * index; the others ignore it.
   */
  private askForLostEntries(): void {
    for (const to of this.membership.voters) {
      if (to !== this.id) this.send({ type: 'heartbeatResp', to, from: this.id, term: this.term, reject: true, index: this.log.lastIndex() });
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      // Check-quorum (thesis 6.2): a leader that has not heard from a majority within an
      // election timeout steps down, so that clients find the real leader.
      if (!this.quorumActive()) {
        this.becomeFollower(this.term, 0, 'lost its quorum');
        return;
      }
      // A leader whose own disk made no progress for a whole election timeout while it had
      // un-synced entries steps down too: followers still hear its heartbeats, so without
      // this nobody would replace it (hashicorp/raft #503).
      const stalled = this.stableIndex < this.log.lastIndex() && this.stableIndex === this.stableAtCheck;
      this.stableAtCheck = this.stableIndex;
      if (stalled) {
        this.becomeFollower(this.term, 0, 'its disk stalled');
        return;
      }
      if (this.leadTransferee !== 0) this.leadTransferee = 0; // transfer timed out
    }
    for (const pr of this.prs.values()) {
      // A snapshot that got no answer within an election timeout is re-sent.
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= this.electionTicks) pr.becomeProbe();
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** True when a majority of voters (the leader counting itself if it is one) was heard from; resets the marks. */
  private quorumActive(): boolean {
    const ok = hasQuorum(this.membership.voters, (id) => id === this.id || this.prs.get(id)?.recentActive === true);
    for (const pr of this.prs.values()) pr.recentActive = false;
    return ok;
  }

  // ---------------------------------------------------------------------------------------
  // Elections

  private campaign(kind: 'preElection' | 'election' | 'transfer'): void {
    let type: 'preVote' | 'vote';
    let term: number;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      type = 'preVote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = 'vote';
      term = this.term;
    }
    this.emit({ event: 'campaign', term, kind: kind === 'preElection' ? 'pre-vote' : kind === 'transfer' ? 'transfer' : 'vote' });
    this.votes.set(this.id, true);
    const res = voteResult(this.membership.voters, this.votes);
    if (res === 'won') {
      // A group of one: no one to ask.
      if (kind === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.termAt(lastIndex)!;
    for (const to of this.membership.voters) {
      if (to === this.id) continue;
      const m: Message = { type, to, from: this.id, term, lastIndex, lastTerm };
      if (kind === 'transfer') m.transfer = true;
      this.send(m);
    }
  }

  /**
   * Election restriction (thesis 3.6.1): grant only to a candidate whose log is at least
   * as up to date as ours. Offsets of equal-term logs are comparable: one leader numbered both.
   */
  private isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myLast = this.log.lastIndex();
    const myTerm = this.log.termAt(myLast)!;
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= myLast);
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === 'preVote';
    const canVote =
      this.vote === m.from ||
      // A node that knows a leader of this term does not vote for someone else in it.
      (this.vote === 0 && this.leaderId === 0) ||
      // A pre-vote for a future term is a question, not a commitment.
      (pre && m.term > this.term);
    const respType = pre ? 'preVoteResp' : 'voteResp';
    // Recovering lost entries: refuse (rather than stay silent, so the candidate need not
    // wait for its election timeout to learn that it lacks our vote).
    if (canVote && !this.mayNotVote() && this.isUpToDate(m.lastIndex ?? 0, m.lastTerm ?? 0)) {
      // Granted responses carry the candidate's term, so that a pre-candidate can tell them
      // from stale answers. A real vote is recorded here and persisted before the response
      // leaves (it is queued after sync).
      this.send({ type: respType, to: m.from, from: this.id, term: m.term, reject: false });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, from: this.id, term: this.term, reject: true });
      const why = !canVote
        ? this.vote !== 0 ? `voted for ${this.vote} in term ${this.term}` : `follows leader ${this.leaderId}`
        : this.mayNotVote()
          ? `recovering entries up to ${this.recoverTo} it lost`
          : `its log (last ${this.log.lastIndex()} of term ${this.log.termAt(this.log.lastIndex())}) is ahead of the candidate's (last ${m.lastIndex ?? 0} of term ${m.lastTerm ?? 0})`;
      this.emit({ event: 'vote-refused', term: m.term, candidate: m.from, kind: pre ? 'pre-vote' : 'vote', why });
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader of our term exists (we lost, or a pre-campaign was moot).
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResp':
      case 'voteResp': {
        if (m.type !== myResp) return;
        // A grant counts only for the term we ask for now: a pre-vote grant carries term + 1,
        // a vote grant our term. Anything else is a stale answer from an earlier campaign.
        const asked = this.role === 'preCandidate' ? this.term + 1 : this.term;
        if (!m.reject && m.term !== asked) return;
        this.votes.set(m.from, !m.reject);
        const res = voteResult(this.membership.voters, this.votes);
        if (res === 'won') {
          if (this.role === 'preCandidate') this.campaign('election');
          else {
            this.becomeLeader();
            this.bcastAppend(true);
          }
        } else if (res === 'lost') {
          const refusedBy = [...this.votes].filter(([, granted]) => !granted).map(([id]) => id);
          this.emit({ event: 'lost', term: asked, kind: this.role === 'preCandidate' ? 'pre-vote' : 'vote', refusedBy });
          this.becomeFollower(this.term, 0);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // The leader hands over: campaign at once, skipping pre-vote (which the others,
        // still hearing from the leader, would refuse). Not while recovering lost entries:
        // the leader's view of our log is stale; the transfer times out.
        if (this.promotable() && !this.mayNotVote()) this.campaign('transfer');
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    const prevIndex = m.prevIndex ?? 0;
    const prevTerm = m.prevTerm ?? 0;
    if (prevIndex < this.commit) {
      // Everything up to our commit matches the leader already (Leader Completeness).
      this.send({ type: 'appendResp', to: m.from, from: this.id, term: this.term, index: this.commit });
      return;
    }
    if (this.log.termAt(prevIndex) === prevTerm) {
      const lastNew = this.maybeAppend(prevIndex, m.entries ?? []);
      // Commit only what is known to match the leader: up to the last entry of this message.
      this.commitTo(Math.min(m.commit ?? 0, lastNew));
      if (this.recoverTo >= 0) {
        // Our log matches this leader's up to lastNew (see noteCaughtUp for both conditions).
        const c = m.commit ?? -1;
        if (lastNew >= this.recoverTo) this.noteCaughtUp(this.recoverTo);
        else if (m.term > this.recoverTerm && c <= lastNew && this.log.termAt(c) === m.term) this.noteCaughtUp(c);
      }
      this.send({ type: 'appendResp', to: m.from, from: this.id, term: this.term, index: lastNew });
      return;
    }
    // Fast back-off (thesis 5.3 / etcd): tell the leader the last index we might match:
    // the highest one at or below prevIndex whose term is <= prevTerm. The leader does the
    // same search on its side with our term and skips a whole term per round trip.
    const hint = this.findConflictByTerm(Math.min(prevIndex, this.log.lastIndex()), prevTerm);
    this.send({
      type: 'appendResp',
      to: m.from,
      from: this.id,
      term: this.term,
      index: prevIndex,
      reject: true,
      rejectHint: hint,
      conflictTerm: this.log.termAt(hint) ?? 0,
    });
  }

  /**
   * Appends `ents` (which follow `prevIndex`, known to match) after removing any
   * conflicting suffix. Entries we already hold (same index and term) are skipped, so that a
   * stale, shorter message never truncates what a newer one appended. Returns the last
   * index known to match the leader.
   */
  private maybeAppend(prevIndex: number, ents: readonly Entry[]): number {
    let prev = prevIndex;
    let i = 0;
    for (; i < ents.length; i++) {
      const e = ents[i]!;
      if (this.log.termAt(e.index) !== e.term) break;
      prev = e.index;
    }
    if (i < ents.length) {
      if (prev < this.commit) throw new Error(`raft: entry ${ents[i]!.index} conflicts with committed entries (commit ${this.commit})`);
      if (this.log.lastIndex() > prev) this.truncateLog(prev);
      const rest = ents.slice(i);
      // The storage may refuse part-way (no descriptor for a new segment): what it stored
      // still counts, so it is synced with the next Ready and its configurations apply.
      this.logChanged = true;
      try {
        this.log.append(rest);
      } finally {
        for (const e of rest) if (e.index <= this.log.lastIndex()) this.noteConfig(e);
      }
    }
    return ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex;
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends min(commit, match): never past what this log is known to match.
    // A commit beyond our last index means we lost entries we once acknowledged (a
    // corrupt tail cut at start-up): say so, so the leader lowers our match and resends.
    const lost = (m.commit ?? 0) > this.log.lastIndex();
    this.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', to: m.from, from: this.id, term: this.term, ...(lost ? { reject: true, index: this.log.lastIndex() } : {}) });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (s.index <= this.commit) {
      this.send({ type: 'appendResp', to: m.from, from: this.id, term: this.term, index: this.commit });
      return;
    }
    if (this.log.termAt(s.index) === s.term && s.index <= this.log.lastIndex()) {
      // We hold the snapshot's last entry: everything up to it matches and is committed.
      this.commitTo(s.index);
      // A leader's committed prefix up to s.index >= recoverTo: condition 1 of noteCaughtUp.
      if (s.index >= this.recoverTo) this.noteCaughtUp(this.recoverTo);
      this.send({ type: 'appendResp', to: m.from, from: this.id, term: this.term, index: this.commit });
      return;
    }
    this.log.reset(s.index, s.term);
    this.logChanged = true;
    this.noteTruncation(s.index);
    this.membership = checkMembership({ voters: s.voters, learners: s.learners });
    this.configs = [{ index: s.index, membership: this.membership }];
    this.commit = s.index;
    this.applying = s.index;
    this.pendingSnapshot = s;
    if (s.index >= this.recoverTo) this.noteCaughtUp(this.recoverTo);
    this.send({ type: 'appendResp', to: m.from, from: this.id, term: this.term, index: s.index });
  }

  /**
   * The highest index <= `index` whose term is <= `term` (or the log start when none is
   * stored). Walks back one entry (not one offset) at a time.
   */
  private findConflictByTerm(index: number, term: number): number {
    let at = index;
    const start = this.log.firstIndex() - 1;
    while (at > start) {
      const t = this.log.termAt(at);
      if (t === undefined || t <= term) return at;
      at = baseOf(this.log.entries(at, 0)[0]!) - 1;
    }
    return at;
  }

  /** The highest entry boundary <= `index` in this log (the log start when below the first entry). */
  private boundaryAtOrBelow(index: number): number {
    if (index >= this.log.lastIndex()) return this.log.lastIndex();
    if (index < this.log.firstIndex()) return index;
    const e = this.log.entries(index, 0)[0]!;
    return e.index === index ? index : baseOf(e) - 1;
  }

  /**
   * Progress of a follower we know nothing about yet: it matches nothing. Offsets begin at
   * 0, so match 0 would claim it holds the first entry, and match = our log start - 1
   * would let a heartbeat commit a lagging follower's stale entries below it.
   */
  private newProgress(next: number): Progress {
    const pr = new Progress(next, this.maxInflightMsgs, this.maxInflightBytes);
    pr.match = NO_MATCH;
    return pr;
  }

  private commitTo(index: number): void {
    if (index > this.commit) this.commit = index;
  }

  // ---------------------------------------------------------------------------------------
  // Leader

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    switch (m.type) {
      case 'appendResp':
        this.handleAppendResp(m, pr);
        return;
      case 'heartbeatResp':
        if (m.reject && m.index !== undefined && m.index < pr.match) {
          // The follower no longer holds what it acknowledged: never count it for entries it
          // lacks, and probe back from what it has.
          pr.lostEntriesAfter(this.boundaryAtOrBelow(m.index));
          this.sendAppend(m.from, true);
          return;
        }
        pr.probeSent = false;
        // A response proves the follower is alive; let one more append through a full window.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        return;
      default:
        return;
    }
  }

  private handleAppendResp(m: Message, pr: Progress): void {
    const index = m.index ?? 0;
    if (m.reject) {
      // The follower does not hold the entry at `index` (the prevIndex we sent). Probe at
      // a boundary no higher than its hint; with conflictTerm, skip our entries of terms
      // above it in one step.
      let hint = m.rejectHint ?? index - 1;
      if ((m.conflictTerm ?? 0) > 0) hint = this.findConflictByTerm(Math.min(hint, this.log.lastIndex()), m.conflictTerm!);
      const newPrev = this.boundaryAtOrBelow(Math.min(hint, index - 1));
      if (index <= pr.match) {
        // It refuses an entry it had acknowledged: in plain Raft a stale (duplicated or
        // overtaken) answer, but it may have lost data (storage cut a corrupt tail), and then
        // counting it up to match would commit entries it no longer holds. Lowering match
        // is safe either way (it only delays commits; a stale answer costs a probe).
        pr.lostEntriesAfter(newPrev);
        this.sendAppend(m.from, true);
        return;
      }
      if (pr.maybeDecrTo(index, newPrev)) this.sendAppend(m.from, true);
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from, true);
      return;
    }
    switch (pr.state) {
      case 'probe':
        pr.becomeReplicate();
        break;
      case 'snapshot':
        if (pr.match >= pr.pendingSnapshot) {
          pr.becomeProbe();
          pr.becomeReplicate();
        }
        break;
      case 'replicate':
        pr.inflights.freeLE(index);
        break;
    }
    if (this.maybeCommit()) this.onCommitAdvanced();
    if (this.role !== 'leader') return;
    // Fill the window: keep sending while there is something to send and room for it.
    while (this.sendAppend(m.from, false)) {
      /* loop */
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from, from: this.id, term: this.term });
    }
  }

  /**
   * Advances the commit index to what a majority of voters holds durably — the leader
   * counting itself only up to stableIndex — provided that entry is of the current term
   * (Figure 8, thesis 3.6.2: an entry of an earlier term is never committed by counting
   * replicas; it commits with the first entry of this term above it).
   */
  private maybeCommit(): boolean {
    const c = committedIndex(this.membership.voters, (id) => (id === this.id ? Math.min(this.stableIndex, this.log.lastIndex()) : (this.prs.get(id)?.match ?? 0)));
    if (c > this.commit && this.log.termAt(c) === this.term) {
      this.commit = c;
      return true;
    }
    return false;
  }

  private onCommitAdvanced(): void {
    while (this.uncommitted.length > 0 && this.uncommitted[0]!.index <= this.commit) {
      this.uncommittedBytes -= this.uncommitted.shift()!.bytes;
    }
    // A leader that is no longer a voter (it proposed its own removal) leads until that
    // configuration commits, then steps down (thesis 4.2.2). It hands over to an
    // up-to-date voter so that the group does not wait for an election timeout.
    if (!this.promotable() && this.commit >= this.pendingConfIndex) {
      this.bcastAppend(true);
      const last = this.log.lastIndex();
      for (const id of this.membership.voters) {
        if (this.prs.get(id)?.match === last) {
          this.send({ type: 'timeoutNow', to: id, from: this.id, term: this.term });
          break;
        }
      }
      this.becomeFollower(this.term, 0, 'removed from the voters');
      return;
    }
    // Tell followers the new commit index with the next appends (one broadcast per Ready).
    this.pendingBcast = true;
  }

  /** Appends a proposed batch at the end of the leader's log (patching offset and term). */
  private appendBatch(data: Buffer): Entry {
    const base = this.log.lastIndex() + 1;
    const count = recordCountOf(data);
    if (!(count >= 1)) throw new FlotillaError('INVALID_REQUEST', `a batch needs at least one record, got ${count}`);
    patchBatch(data, base, this.term);
    const e: Entry = { index: base + count - 1, term: this.term, data };
    this.log.append([e]);
    this.logChanged = true;
    if (this.noteConfig(e)) this.pendingConfIndex = e.index;
    this.pendingBcast = true;
    this.uncommitted.push({ index: e.index, bytes: data.length });
    this.uncommittedBytes += data.length;
    return e;
  }

  private checkCanPropose(): void {
    if (this.role !== 'leader') throw this.notLeader();
    if (this.leadTransferee !== 0) {
      throw new FlotillaError('LEADER_NOT_AVAILABLE', `leadership is moving to ${this.leadTransferee}; retry there shortly`, { leaderId: this.leadTransferee });
    }
  }

  private notLeader(): FlotillaError {
    const details = this.leaderId !== 0 ? { leaderId: this.leaderId } : {};
    return new FlotillaError('NOT_LEADER', undefined, details);
  }

  private bcastAppend(sendIfEmpty: boolean): void {
    for (const id of this.prs.keys()) this.sendAppend(id, sendIfEmpty);
  }

  private bcastHeartbeat(): void {
    for (const [to, pr] of this.prs) {
      // Never tell a follower to commit past what it is known to match.
      this.send({ type: 'heartbeat', to, from: this.id, term: this.term, commit: Math.min(pr.match, this.commit) });
    }
  }

  /**
   * Sends `to` the entries from its `next`, or a snapshot when they are below the log start.
   * Returns true when a message was sent.
   */
  private sendAppend(to: number, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const last = this.log.lastIndex();
    if (pr.next < this.log.firstIndex()) return this.sendSnapshot(to, pr);
    // Recovering: the follower lacks more than a few entries that committed without it
    // (asked before reading them: a waiting group must not read its backlog on every
    // heartbeat), or more than one message's worth. Fresh entries to a follower that keeps
    // up need no permit, nor do a few it missed (a new leader's first entry, typically:
    // a broker back after its partitions failed over lacks one or two in every group, and
    // 32 permits at a time made 16,667 groups catch it up over minutes).
    const committedBacklog = pr.next <= this.commit && last - pr.next + 1 > RaftNode.FEW_MISSED_ENTRIES;
    if (this.recovery && committedBacklog && !this.recovery.acquire(to)) return false;
    const ents = pr.next <= last ? this.log.entries(pr.next, this.maxBytesPerMsg) : [];
    if (this.recovery && !committedBacklog) {
      if (ents.length > 0 && ents[ents.length - 1]!.index < last) {
        if (!this.recovery.acquire(to)) return false;
      } else {
        this.recovery.release(to);
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    const prevIndex = ents.length > 0 ? baseOf(ents[0]!) - 1 : pr.next - 1;
    const prevTerm = this.log.termAt(prevIndex);
    if (prevTerm === undefined) return this.sendSnapshot(to, pr);
    let bytes = 0;
    for (const e of ents) bytes += e.data.length;
    this.send({ type: 'append', to, from: this.id, term: this.term, prevIndex, prevTerm, entries: ents, commit: this.commit });
    pr.sentEntries(ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex, bytes, ents.length);
    return true;
  }

  private sendSnapshot(to: number, pr: Progress): boolean {
    const src = this.snapshotSource?.();
    if (!src) return false;
    const term = this.log.termAt(src.index);
    const membership = this.membershipAt(src.index);
    if (term === undefined || !membership || src.index > this.commit) return false;
    const snapshot: Snapshot = { index: src.index, term, voters: membership.voters, learners: membership.learners, data: src.data };
    this.send({ type: 'snapshot', to, from: this.id, term: this.term, snapshot });
    pr.becomeSnapshot(src.index);
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Log bookkeeping

  /** Drops the log after `index` and every configuration that came with the dropped entries. */
  private truncateLog(index: number): void {
    this.emit({ event: 'truncated', after: index, lastIndexBefore: this.log.lastIndex() });
    this.log.truncateAfter(index);
    this.logChanged = true;
    this.noteTruncation(index);
    let changed = false;
    while (this.configs.length > 1 && this.configs[this.configs.length - 1]!.index > index) {
      this.configs.pop();
      changed = true;
    }
    // A configuration takes effect when appended, and is undone when its entry is removed.
    if (changed) {
      const { index: at, membership } = this.configs[this.configs.length - 1]!;
      this.membership = membership;
      this.emit({ event: 'membership', index: at, voters: [...membership.voters], learners: [...membership.learners], undone: true });
    }
  }

  private noteTruncation(index: number): void {
    if (index < this.stableIndex) this.stableIndex = index;
    if (index < this.truncatedSinceReady) this.truncatedSinceReady = index;
  }

  /** If `e` is a configuration entry, it takes effect now. Returns true if it was one. */
  private noteConfig(e: Entry): boolean {
    if (!isControlBatch(e.data)) return false;
    const { type, payload } = readControl(e.data);
    if (type !== ControlType.CONFIG) return false;
    const m = decodeMembership(payload);
    this.configs.push({ index: e.index, membership: m });
    // Keep the history short: everything at or below commit but the latest is settled.
    // Keep the history short: a configuration is needed while some index at or above the
    // log start (a possible snapshot point) still falls under it.
    while (this.configs.length > 1 && this.configs[1]!.index <= this.log.firstIndex() - 1) this.configs.shift();
    this.membership = m;
    this.emit({ event: 'membership', index: e.index, voters: [...m.voters], learners: [...m.learners] });
    if (this.role === 'leader') {
      const want = new Set(this.peers());
      for (const id of this.prs.keys()) if (!want.has(id)) this.prs.delete(id);
      for (const id of want) {
        if (!this.prs.has(id)) this.prs.set(id, this.newProgress(this.log.lastIndex() + 1));
      }
      if (this.leadTransferee !== 0 && !this.membership.voters.includes(this.leadTransferee)) this.leadTransferee = 0;
    }
    return true;
  }

  /** Queues `m`: leader traffic whose term is durable goes out at once; the rest after the sync. */
  private send(m: Message): void {
    if (
      this.role === 'leader' &&
      LEADER_TRAFFIC.has(m.type) &&
      this.persistedHard.term === this.term &&
      this.persistedHard.vote === this.vote
    ) {
      this.msgs.push(m);
    } else {
      this.msgsAfterSync.push(m);
    }
  }
}
