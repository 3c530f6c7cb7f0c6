/**
 * All Raft groups of this broker, driven together.
 *
 * - One timer ticks every group (no timer per group).
 * - A processing cycle serves every group that has work and is not in another cycle, in
 *   the four steps of the core's contract (broker/raft/README.md): send the leaders'
 *   messages at once; persist installed snapshots and hard states and sync every touched
 *   log together (group commit: one fdatasync per log per cycle, all in parallel); send the
 *   messages that needed durability; apply committed entries; advance. Committed entries
 *   this broker already holds durably are applied before the fsyncs, so an ack never waits
 *   for writes it does not depend on. A group's work that arrives during its cycle waits
 *   for that cycle to end; other groups' work starts a cycle of its own at once, so one
 *   group's fsync never holds another's (a broker leads some partitions and follows others:
 *   with one cycle at a time its cycles ran back to back, each waiting for the last).
 * - Idle groups go quiet (quiescence, as in CockroachDB): a leader whose followers hold
 *   and know everything committed stops heartbeating after a last "quiesce" heartbeat, and
 *   its followers stop their election clocks. Any message for the group, a proposal, or the
 *   leader's broker going silent (no frame for an election timeout; brokers exchange one
 *   small keep-alive frame per tick whatever the number of groups) wakes it. Only ticking
 *   stops, so safety is untouched; an idle broker's cost no longer grows with partitions.
 *   A broker that was itself stopped or starved for a while wakes the groups it leads (its
 *   peers may have woken theirs) and does not judge its peers silent on its first, late tick.
 * - Storage, hard state, peers and the clock are seams (./seams.ts): contracts with real
 *   implementations in the broker and in-memory twins in the deterministic simulator.
 * - A storage failure in a cycle is fatal: the broker must not speak as if it stored what
 *   it did not, and a core with an un-advanced Ready cannot go on. `onFatal` stops the process.
 *   Not so an open refused for lack of descriptors (BROKER_BUSY) or a write refused for lack
 *   of space (DISK_FULL): nothing was written or synced, so the cycle waits and persists
 *   again, and a message that could not be handled is dropped (the sender repeats it). A
 *   leader whose disk is full hands the group to a follower that has the whole log.
 *   A failed fsync stays fatal (the kernel may have dropped pages it had accepted).
 */
import type { Logger } from 'pino';
import { isRecovering, lostEntriesHardState, type Entry, type HardState } from '../raft/log.js';
import { RaftNode, type RaftEvent, type Ready, type SoftState, type SnapshotSource, type Status } from '../raft/raft.js';
import type { Message, Snapshot, SnapshotMeta } from '../raft/types.js';
import type { PartitionLog, PartitionLogOptions } from '../storage/index.js';
import { isLogCorruption, type LogCorruption } from '../storage/corruption.js';
import type { FsyncMode } from '../config.js';
import { RecoveryScheduler, type RecoveryStats } from './recovery-scheduler.js';
import { isDiskFull, isRefusal } from '../storage/files.js';
import { systemClock, type Clock, type GroupHardStates, type GroupLog, type GroupLogStore, type PeerSender } from './seams.js';
import { settleAll } from '../settle.js';

/** What a group's state machine does with the log. Called only from the processing cycle. */
export interface StateMachine {
  /** Committed entries, in order, each exactly once per process life (after restore, from there on). */
  apply(entries: Entry[]): void;
  /** This replica's log was reset to a snapshot from the leader. */
  restore(snapshot: Snapshot): void;
  /** Role, leader or term changed. */
  onSoftState(state: SoftState): void;
  /**
   * A snapshot from the leader that `restore` will get: called before the log reset it
   * came with is synced, so that a crash never leaves a reset log without its state.
   */
  persistSnapshot?(snapshot: Snapshot): void;
  /** Leader: the image to send a follower that needs entries below the log start. */
  snapshot?(): SnapshotSource | undefined;
}

export interface GroupSpec {
  groupId: number;
  /** Directory name of the group's log under the data dir. */
  logName: string;
  voters: number[];
  learners?: number[];
  logOptions?: Partial<PartitionLogOptions>;
  stateMachine: StateMachine;
  /** Catches followers up without waiting for a recovery permit (the small metadata group). */
  skipRecoveryLine?: boolean;
  /**
   * For a state machine that needs every entry after its state (the controller): the
   * snapshot its state was loaded from, or index -1 for the empty initial state. Entries
   * up to the index count as applied, the membership is the snapshot's, and the log
   * starts right after it. A log that does not continue the state (its start is past it:
   * a crash between a snapshot's log reset and the write of its state; or a different
   * entry at the index) is reset to it, and the leader sends what is missing.
   */
  snapshot?: SnapshotMeta;
  /**
   * The replica meant to lead (a partition's first replica). A brand-new group (term 0,
   * empty log) arranges its first election so that it leads from birth, and leadership is
   * balanced the moment a topic is created.
   */
  preferredLeader?: number;
}

/** One group of this broker; `L` is the log type (PartitionLog in the broker, an in-memory twin in the simulator). */
export interface Group<L extends GroupLog = PartitionLog> {
  /** Not ticking: the leader's id (ourselves when we lead it), or undefined when awake. */
  quiescedUnder?: number;
  /** Leader: consecutive ticks the group has been idle. */
  idleTicks: number;
  /** A brand-new group's first election, left to its preferred replica (holdFirstElection). */
  firstElection?: { preferred: number; ticksLeft: number };
  /** Leader, quiet: the members it went quiet without (their brokers were unreachable). */
  quietWithout?: number[];
  /** A running cycle is serving the group's Ready: no other cycle takes it. */
  inCycle: boolean;
  readonly groupId: number;
  readonly logName: string;
  readonly node: RaftNode;
  readonly log: L;
  readonly stateMachine: StateMachine;
}

function addToSetOf<K, V>(sets: Map<K, Set<V>>, key: K, value: V): void {
  let set = sets.get(key);
  if (!set) sets.set(key, (set = new Set()));
  set.add(value);
}

/** The seams (broker/multiraft/seams.ts) carry the contracts of `logs`, `hardStates`, `transport` and `clock`. */
export interface MultiRaftOptions<L extends GroupLog = PartitionLog> {
  id: number;
  logs: GroupLogStore<L>;
  /** Term and vote of every group, made durable together once per cycle. */
  hardStates: GroupHardStates;
  transport: PeerSender;
  /** Ticks, deferrals and the time; the system clock by default. */
  clock?: Clock;
  logger: Logger;
  fsync: FsyncMode;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Entry bytes per append (Raft's maxBytesPerMsg): an append must fit in one peer frame. 1 MiB by default. */
  maxBytesPerMsg?: number;
  onFatal(error: unknown): void;
  /** A read of a group's log found a corrupt batch: the owner repairs the replica (see `quarantine`). */
  onCorruption(groupId: number, error: LogCorruption): void;
  /** Groups that may catch up one follower broker at once (0: no limit). */
  recoveryConcurrency: number;
  /** Randomness for election timeouts; Math.random in production. */
  random?: () => number;
  /** Each group's Raft decisions, and its going quiet and waking (must not throw). */
  trace?: (groupId: number, event: GroupEvent) => void;
}

/**
 * Elections of this broker's groups since it started: campaigns begun here (pre-vote, vote
 * after a pre-vote won, and a transfer's vote) and elections won here. An idle or merely
 * busy cluster should start none; each one is a moment a partition refuses writes.
 */
export interface ElectionStats {
  preVotes: number;
  votes: number;
  transfers: number;
  won: number;
}

/** A Raft decision of one group, or a change of its quiescence (decided here, not in the core). */
export type GroupEvent = RaftEvent | { event: 'quiesce' } | { event: 'wake' };

export class MultiRaft<L extends GroupLog = PartitionLog> {
  private readonly groups = new Map<number, Group<L>>();
  /** Groups reported corrupt and not yet created again. */
  private readonly corrupt = new Set<number>();

  private readonly dirty = new Set<Group<L>>();
  /** Start times of the running cycles. */
  private readonly runningCycles = new Set<{ startedAt: number }>();
  private cycleScheduled = false;
  private tickDeferred = false;
  /** When the last tick ran, and whether it skipped judging silence for coming late. */
  private lastTickAt: number | undefined;
  private lateTickSkipped = false;
  /** When this broker last sent its peers a keep-alive. */
  private lastKeepAliveAt: number | undefined;
  private stopTicking: (() => void) | undefined;
  private readonly clock: Clock;
  private stopped = false;
  private readonly recovery: RecoveryScheduler | undefined;
  private readonly elections: ElectionStats = { preVotes: 0, votes: 0, transfers: 0, won: 0 };
  /** Groups whose clocks run (not quiesced): the only ones a tick visits, so idle costs O(awake). */
  private readonly awake = new Set<Group<L>>();
  /** Quiet groups led here: with `awake`, every group a leader could be in, so counts cost O(awake). */
  private readonly quietLedHere = new Set<Group<L>>();
  /** Quiet followers by the broker they are quiet under: woken together when it goes silent. */
  private readonly quietUnder = new Map<number, Set<Group<L>>>();
  /** Quiet groups led here by the member broker they left out: woken together when it is back. */
  private readonly quietWithout = new Map<number, Set<Group<L>>>();
  /** Groups granted a recovery permit while they waited: resumed at the start of the next cycle. */
  private resumes: Array<{ groupId: number; peer: number }> = [];

  constructor(private readonly options: MultiRaftOptions<L>) {
    this.clock = options.clock ?? systemClock;
    if (options.recoveryConcurrency > 0) {
      // A holder whose follower made no progress for two election timeouts gives its permit up.
      this.recovery = new RecoveryScheduler(options.recoveryConcurrency, (groupId, peer) => this.queueResume(groupId, peer), 2 * options.electionTicks);
    }
  }

  start(): void {
    this.stopTicking = this.clock.every(this.options.tickMs, () => this.tickAll());
  }

  get(groupId: number): Group<L> | undefined {
    return this.groups.get(groupId);
  }

  all(): IterableIterator<Group<L>> {
    return this.groups.values();
  }

  /** The groups led here, found among the awake and the quiet-led ones only (an idle broker's walk is short). */
  *ledHere(): Iterable<Group<L>> {
    for (const group of this.awake) if (group.node.currentRole === 'leader') yield group;
    for (const group of this.quietLedHere) if (group.node.currentRole === 'leader') yield group;
  }

  /**
   * Groups, quiesced, led here, and followers lagging behind commit in groups led here,
   * without walking every group: a quiet leader's followers are all caught up (it quiesced
   * so), except the unreachable ones it went quiet without.
   */
  summary(): { groups: number; quiesced: number; leaders: number; laggingFollowers: number } {
    let leaders = 0;
    let laggingFollowers = 0;
    for (const group of this.ledHere()) {
      leaders++;
      if (group.quiescedUnder === undefined || group.quietWithout) laggingFollowers += group.node.laggingFollowers();
    }
    return { groups: this.groups.size, quiesced: this.groups.size - this.awake.size, leaders, laggingFollowers };
  }

  /**
   * Opens the group's log (creating it if new) and starts its Raft node. The node's start
   * reads the whole log (configuration entries); a corrupt batch it meets is cut off
   * (storage remembers the loss) and the node started again on what is left.
   */
  create(spec: GroupSpec): Group<L> {
    const existing = this.groups.get(spec.groupId);
    if (existing) return existing;
    const log = this.options.logs.open(spec.logName, spec.logOptions);
    log.onCorruption = (error) => this.reportCorruption(spec.groupId, error);
    const snap = spec.snapshot;
    let node: RaftNode | undefined;
    for (let cleanScans = 0; !node; ) {
      if (snap) this.continueFromSnapshot(spec.groupId, log, snap);
      try {
        node = new RaftNode({
          id: this.options.id,
          log,
          hardState: this.startingHardState(spec, log),
          voters: snap ? snap.voters : spec.voters,
          learners: snap ? snap.learners : (spec.learners ?? []),
          applied: snap?.index,
          electionTicks: this.options.electionTicks,
          heartbeatTicks: this.options.heartbeatTicks,
          ...(this.options.maxBytesPerMsg ? { maxBytesPerMsg: this.options.maxBytesPerMsg } : {}),
          random: this.options.random ?? Math.random,
          snapshot: spec.stateMachine.snapshot ? () => spec.stateMachine.snapshot!() : undefined,
          recovery: spec.skipRecoveryLine ? undefined : this.recovery?.gateFor(spec.groupId),
          trace: (event) => this.emit(spec.groupId, event),
        });
      } catch (err) {
        if (!isLogCorruption(err)) throw err;
        const cut = log.cutCorrupt(err.offset);
        this.options.logger.warn({ group: spec.groupId, log: spec.logName, offset: err.offset, reason: err.reason, cut }, 'corrupt batch in the log at start-up; cut it off, catching up from the leader');
        // A clean segment means a bad index entry misled the read (now rebuilt); once more at most.
        if (!cut && ++cleanScans > 1) throw err;
      }
    }
    const group: Group<L> = { groupId: spec.groupId, logName: spec.logName, node, log, stateMachine: spec.stateMachine, idleTicks: 0, inCycle: false };
    if (spec.preferredLeader !== undefined && node.currentTerm === 0 && log.lastIndex() < log.firstIndex()) {
      const preferred = spec.preferredLeader === this.options.id;
      node.arrangeFirstElection(preferred);
      if (!preferred) group.firstElection = { preferred: spec.preferredLeader, ticksLeft: Math.ceil(MultiRaft.FIRST_ELECTION_HOLD_MS / this.options.tickMs) };
    }
    this.groups.set(spec.groupId, group);
    this.awake.add(group);
    this.corrupt.delete(spec.groupId);
    this.markDirty(group);
    return group;
  }

  /**
   * The term and vote saved for the group. If storage cut entries this replica may have
   * acknowledged (corrupt batches), it starts recovering: no vote until it holds them again
   * (broker/raft README, "Lost entries"). The `lost-entries` file beside the log keeps that
   * fact across a crash until the journal has it and the group has caught up.
   */
  private startingHardState(spec: GroupSpec, log: L): HardState {
    // Data directories written before the journal kept a file per group (not a new one).
    const saved = this.options.hardStates.get(spec.groupId) ?? (log.createdNow ? { term: 0, vote: 0 } : this.options.logs.hardState(spec.logName).load());
    if (!log.lostEntries) return saved;
    const recovering = lostEntriesHardState(saved, log.lostEntries.lastIndexBefore);
    this.options.hardStates.set(spec.groupId, recovering);
    this.options.logger.warn({ group: spec.groupId, log: spec.logName, recoverTo: recovering.recoverTo, lastIndex: log.lastIndex() }, 'this replica lost entries it may have acknowledged; it will not vote until it holds them again');
    return recovering;
  }

  /**
   * For a state machine loaded from a snapshot: a log that does not continue it (its start
   * is past it, a different entry at its index, or a repair cut below it) is reset to it.
   */
  private continueFromSnapshot(groupId: number, log: L, snap: SnapshotMeta): void {
    const continues =
      snap.index < 0
        ? log.firstIndex() === 0
        : log.firstIndex() - 1 <= snap.index && snap.index <= log.lastIndex() && log.termAt(snap.index) === snap.term;
    if (!continues) {
      this.options.logger.warn({ group: groupId, snapshot: snap.index, logStart: log.firstIndex(), logEnd: log.lastIndex() }, 'the log does not continue the saved state; resetting it to the state and catching up from the leader');
      log.reset(snap.index, snap.term);
    } else if (snap.index >= 0) {
      log.deleteBefore(snap.index + 1);
    }
  }

  /**
   * A read of the group's log met a corrupt batch. The owner is told once (asynchronously:
   * reads happen inside the cycle and inside fetches) and repairs the replica: hand
   * leadership away, `quarantine`, cut the log, `create` it again.
   */
  private reportCorruption(groupId: number, error: LogCorruption): void {
    if (this.corrupt.has(groupId) || this.stopped) return;
    this.corrupt.add(groupId);
    this.options.logger.error({ group: groupId, offset: error.offset, file: error.file, position: error.position, reason: error.reason }, 'corrupt batch found; this replica stops serving it and repairs itself');
    this.clock.soon(() => this.options.onCorruption(groupId, error));
  }

  /**
   * Catches a corrupt read that surfaced inside the Raft core (a leader sending entries,
   * committed entries to apply): the core may have stopped half-way through a step, so the
   * group is taken out at once, as if its process had crashed, and reported for repair.
   * Returns false for any other error.
   */
  private quarantineOnCorruption(group: Group<L>, error: unknown): boolean {
    if (!isLogCorruption(error)) return false;
    if (this.groups.get(group.groupId) === group) this.takeOut(group);
    this.reportCorruption(group.groupId, error);
    return true;
  }

  private takeOut(group: Group<L>): void {
    this.groups.delete(group.groupId);
    this.setQuiet(group, undefined);
    this.awake.delete(group);
    this.dirty.delete(group);
    this.recovery?.forgetGroup(group.groupId);
  }

  /**
   * Stops the group for a repair, keeping its term and vote: resolves once no processing
   * cycle uses it and its log has nothing in flight. The owner then cuts the log and calls
   * `create` again with a fresh state machine.
   */
  async quarantine(group: Group<L>): Promise<void> {
    if (this.groups.get(group.groupId) === group) this.takeOut(group);
    while (group.inCycle) await new Promise<void>((resolve) => this.clock.after(1, resolve));
    await group.log.flush().catch(() => undefined);
  }

  /** Stops the group; with `deleteData` also removes its log directory (topic deletion). */
  async remove(groupId: number, deleteData: boolean): Promise<void> {
    const group = this.groups.get(groupId);
    if (!group) return;
    this.takeOut(group);
    this.options.hardStates.forget(groupId);
    if (deleteData) await this.options.logs.deleteLog(group.logName);
  }

  /** Raft messages from a peer, for any of our groups (unknown groups are ignored). */
  deliver(messages: ReadonlyArray<{ group: number; message: Message; quiesce?: boolean }>): void {
    for (const { group: groupId, message, quiesce } of messages) {
      const group = this.groups.get(groupId);
      if (!group) continue;
      if (this.wakes(group, message)) this.wake(group);
      try {
        group.node.step(message);
      } catch (error) {
        if (this.quarantineOnCorruption(group, error)) continue;
        // No descriptor to read or write the log, or no room on the disk for the entries: the
        // message was not handled (or its entries only in part, which the core keeps), as if
        // it was lost; no acknowledgement goes out and the sender repeats it (Raft tolerates
        // lost messages). A follower with a full disk thus simply stops acknowledging.
        if (!isRefusal(error)) throw error;
        if (isDiskFull(error)) this.warnDiskFull(groupId, error);
      }
      if (quiesce) this.quiesceFollower(group, message);
      this.markDirty(group);
    }
  }

  /** Appends a batch at the group's leader; throws NOT_LEADER elsewhere. Patches the batch in place. */
  propose(group: Group<L>, batch: Buffer): { index: number; term: number } {
    this.wake(group);
    try {
      return group.node.propose(batch);
    } catch (err) {
      this.quarantineOnCorruption(group, err);
      if (isDiskFull(err)) {
        this.warnDiskFull(group.groupId, err);
        this.handOffFromFullDisk(group);
      }
      throw err;
    } finally {
      this.markDirty(group);
    }
  }

  /**
   * This leader has no room for new entries, but a majority may: it hands the group to a
   * voter that holds its whole log (so the transfer completes at once), and producers that
   * got DISK_FULL retry at the new leader. The full broker then follows without
   * acknowledging until space returns; it is not caught up, so leader balancing does not
   * hand the group back before then.
   */
  private handOffFromFullDisk(group: Group<L>): void {
    const status = group.node.status();
    if (status.role !== 'leader' || status.transferee !== 0) return;
    const candidates = status.membership.voters
      .filter((id) => id !== this.options.id && status.progress[id]?.recentActive)
      .sort((a, b) => status.progress[b]!.match - status.progress[a]!.match);
    for (const to of candidates) {
      try {
        group.node.transferLeadership(to);
        this.options.logger.warn({ group: group.groupId, to }, 'disk full: handing leadership to a replica that can write');
        return;
      } catch {
        // Not caught up: try the next one; the next refused write tries again.
      }
    }
  }

  private lastDiskFullWarning = 0;

  /** At most one warning per 10 s: a full disk refuses every write until space returns. */
  private warnDiskFull(groupId: number | undefined, error: unknown): void {
    const now = this.clock.now();
    if (now - this.lastDiskFullWarning < 10_000) return;
    this.lastDiskFullWarning = now;
    this.options.logger.warn({ group: groupId, err: error }, 'disk full: this broker stores and acknowledges nothing new until space is freed; it keeps serving reads');
  }

  /** Runs `action` on the node (transfer, config change) and schedules the work it makes. */
  withNode<T>(group: Group<L>, action: (node: RaftNode) => T): T {
    this.wake(group);
    try {
      return action(group.node);
    } catch (err) {
      this.quarantineOnCorruption(group, err);
      throw err;
    } finally {
      this.markDirty(group);
    }
  }

  /**
   * The connection on which broker `peer` talked to us closed (a killed broker's sockets
   * are reset by the kernel at once). Each group following it stops vouching for it
   * (RaftNode.leaderLost: it grants pre-votes now) and, after a random delay of up to
   * LEADER_LOST_CAMPAIGN_TICKS ticks (so that followers told together seldom campaign at
   * the same instant and split the vote), runs its election timer out — unless it heard
   * from a leader or saw a new term meanwhile — instead of waiting an election timeout
   * (1-2 s). Quiet groups wake first: their clocks had stopped.
   * Timing only: a leader that is in fact alive keeps its group, as pre-vote fails while a
   * majority still hears from it.
   */
  peerLost(peer: number): void {
    if (this.stopped) return;
    const random = this.options.random ?? Math.random;
    const spreadMs = MultiRaft.LEADER_LOST_CAMPAIGN_TICKS * this.options.tickMs;
    for (const group of this.groups.values()) {
      if (!group.node.leaderLost(peer)) continue;
      this.wake(group);
      const term = group.node.currentTerm;
      this.clock.after(Math.floor(random() * spreadMs), () => {
        if (this.stopped || this.groups.get(group.groupId) !== group || group.node.currentTerm !== term) return;
        try {
          group.node.expireElectionTimer();
        } catch (err) {
          if (this.quarantineOnCorruption(group, err)) return;
          // A single-voter group that won its election but had no room for its no-op.
          if (!isRefusal(err)) throw err;
        }
        this.markDirty(group);
      });
    }
  }

  /** The longest a follower whose leader's connection closed waits before it campaigns, in ticks. */
  private static readonly LEADER_LOST_CAMPAIGN_TICKS = 2;

  /** Whether the peer stream layer is connected to broker `id` (ourselves always). */
  reaches(id: number): boolean {
    return this.options.transport.isConnected(id);
  }

  /** Campaigns started and elections won here since the start. */
  electionStats(): ElectionStats {
    return { ...this.elections };
  }

  /** Recovery permits: held, waiting, peak per follower broker, granted (undefined: no limit). */
  recoveryStats(): RecoveryStats | undefined {
    return this.recovery?.stats();
  }

  /** `afterCycle`: the tick that waited for a cycle, run as that cycle ends. */
  private tickAll(afterCycle = false): void {
    const now = this.clock.now();
    // Before this tick's keep-alive ends the silence (a pause often ends mid-cycle).
    this.wakeLedGroupsAfterSilence(now);
    // A tick that falls during a cycle waits for one to end: when this broker's own disk is
    // slow, its logical time slows too (at most one tick per cycle), instead of every group
    // timing out while its votes and acknowledgements are still being made durable. A
    // leader whose disk stalls stops heartbeating and is replaced.
    if (!afterCycle && this.runningCycles.size > 0) {
      this.tickDeferred = true;
      // A slow cycle is a busy broker, not a lost one: its peers keep the groups that are
      // quiet under it asleep, as long as no cycle has run for a stall's length.
      if (now - this.oldestCycleStart() < this.stallMs) this.sendKeepAlive(now);
      return;
    }
    this.sendKeepAlive(now);
    this.recovery?.tick((groupId, peer) => this.recoveringMatch(groupId, peer));
    const silent = new Map<number, boolean>();
    const isSilent = (peer: number) => {
      let answer = silent.get(peer);
      if (answer === undefined) {
        answer = !this.options.transport.isConnected(peer) || now - this.options.transport.lastHeardFrom(peer) > this.silenceMs;
        silent.set(peer, answer);
      }
      return answer;
    };
    if (this.judgesSilence(now)) {
      for (const [peer, quiet] of this.quietUnder) {
        if (isSilent(peer)) for (const group of [...quiet]) this.wake(group);
      }
    }
    for (const [peer, quiet] of this.quietWithout) {
      if (quiet.size > 0 && this.options.transport.isConnected(peer)) for (const group of [...quiet]) this.wake(group);
    }
    for (const group of this.awake) {
      if (group.firstElection) this.holdFirstElection(group, isSilent);
      try {
        group.node.tick();
      } catch (err) {
        if (this.quarantineOnCorruption(group, err)) continue;
        // A single-voter group that won its election but had no room for its no-op.
        if (!isRefusal(err)) throw err;
      }
      this.dirty.add(group);
      if (group.node.currentRole === 'leader') this.maybeQuiesceLeader(group);
    }
    this.schedule();
  }

  /** How long a connected peer may send nothing before the groups quiet under it wake: an election timeout. */
  private get silenceMs(): number {
    return this.options.electionTicks * this.options.tickMs;
  }

  private sendKeepAlive(now: number): void {
    this.options.transport.keepAlive();
    this.lastKeepAliveAt = now;
  }

  /**
   * Whether this tick may judge peers silent. A tick that comes late (this broker was not
   * running: stopped, starved of CPU, its event loop blocked) runs before the frames that
   * queued for it meanwhile are read, so every peer would look silent, every group quiet
   * under them would wake, and with their leaders quiet they would elect each other. Such a
   * tick leaves the judgement to the next one; at most one in a row, so that a broker that
   * stays starved still wakes its groups, a tick later. Timing only, like quiescence.
   * Protected only so that the simulator's mutation check can break it.
   */
  protected judgesSilence(now: number): boolean {
    const late = this.lastTickAt !== undefined && now - this.lastTickAt > 2 * this.options.tickMs;
    this.lastTickAt = now;
    this.lateTickSkipped = late && !this.lateTickSkipped;
    return !this.lateTickSkipped;
  }

  /**
   * After this broker sent no keep-alive for half an election timeout (it was stopped,
   * starved, or in a stalled cycle), its peers may have judged it silent and woken the
   * groups quiet under it, whose election clocks now run while their quiet leader here sends
   * nothing. The groups led here wake too, so that they heartbeat again (and go quiet again
   * once idle): a broker that was only slow keeps its leaderships.
   * Protected only so that the simulator's mutation check can break it.
   */
  protected wakeLedGroupsAfterSilence(now: number): void {
    if (this.lastKeepAliveAt === undefined || now - this.lastKeepAliveAt <= this.silenceMs / 2) return;
    for (const group of [...this.quietLedHere]) this.wake(group);
  }

  /** The match of `peer` in a group this broker leads while it still lags; undefined otherwise. */
  private recoveringMatch(groupId: number, peer: number): number | undefined {
    const group = this.groups.get(groupId);
    if (!group || group.node.currentRole !== 'leader') return undefined;
    const status = group.node.status();
    const match = status.progress[peer]?.match;
    return match !== undefined && match < status.lastIndex ? match : undefined;
  }

  private queueResume(groupId: number, peer: number): void {
    this.resumes.push({ groupId, peer });
    this.schedule();
  }

  /**
   * How long at most the other replicas of a new group wait for its preferred replica to
   * win. Creating 10,000 partitions under `ulimit -n` 4,096 on a busy machine, brokers
   * opened them minutes apart: with 60 s, the others won where the preferred broker lagged
   * and the balancer moved thousands back during creation (567 s); with 5 minutes, every
   * first election went to the preferred replica (208 s). The price: a partition whose
   * preferred broker is up but cannot open it waits this long for a leader.
   */
  private static readonly FIRST_ELECTION_HOLD_MS = 300_000;

  /**
   * The other replicas of a brand-new group leave its first election to the preferred
   * replica for as long as that broker is up, even when it opens the group late: creating
   * thousands of partitions, one broker can fall many election timeouts behind the others,
   * and without this they elect each other and leadership starts lopsided. The hold ends
   * once the group has seen any election or a leader, or after FIRST_ELECTION_HOLD_MS; while
   * the preferred broker is silent the election timer runs as usual. Timing only: which
   * replica campaigns first never affects safety.
   */
  protected holdFirstElection(group: Group<L>, isSilent: (peer: number) => boolean): void {
    const { node } = group;
    const hold = group.firstElection!;
    if (node.currentTerm !== 0 || node.currentLeader !== 0 || hold.ticksLeft-- <= 0) {
      group.firstElection = undefined;
      return;
    }
    if (!isSilent(hold.preferred)) node.arrangeFirstElection(false);
  }

  /**
   * How long a cycle may run (its fsyncs still pending) before this broker stops telling
   * its peers it is here: three election timeouts (3 s by default). Creating 50,000
   * partitions, cycles grew long (thousands of new logs' first fsyncs at once); when
   * keep-alives stopped with them, the peers woke every group quiet under the busy broker
   * at once, and the elections that followed made the cycles longer still. A disk that
   * stalls outright still silences the broker, this much later, and its partitions move.
   */
  private static readonly STALL_ELECTION_TIMEOUTS = 3;

  private get stallMs(): number {
    return MultiRaft.STALL_ELECTION_TIMEOUTS * this.options.electionTicks * this.options.tickMs;
  }

  /** Ticks of idleness before a leader quiesces: a few heartbeats' worth. */
  private static readonly QUIESCE_AFTER_TICKS = 3;

  /**
   * A leader quiesces its group once every member it can reach holds and has been told
   * everything committed, nothing is in flight, unsynced or unapplied, and no transfer is
   * running — provided it reaches a majority of the voters. Members whose brokers are
   * unreachable (no connection) are left out and the group wakes when one is back (tickAll):
   * with a broker down, every group it was a member of stayed awake and heartbeating, and
   * at 50,000 partitions that load stalled the survivors' failover for minutes. Timing only:
   * quiet changes no Raft state.
   */
  private maybeQuiesceLeader(group: Group<L>): void {
    const status = group.node.status();
    const members = [...status.membership.voters, ...status.membership.learners].filter((id) => id !== this.options.id);
    const reachable = members.filter((id) => this.options.transport.isConnected(id));
    // isConnected is true of this broker itself, a voter (it leads).
    const reachableVoters = status.membership.voters.filter((id) => this.options.transport.isConnected(id)).length;
    const idle =
      status.transferee === 0 &&
      status.commit === status.lastIndex &&
      status.applied === status.commit &&
      status.stableIndex === status.lastIndex &&
      reachableVoters * 2 > status.membership.voters.length &&
      reachable.every((id) => this.memberCaughtUp(status, id));
    group.idleTicks = idle ? group.idleTicks + 1 : 0;
    if (group.idleTicks < MultiRaft.QUIESCE_AFTER_TICKS) return;
    this.setQuiet(group, this.options.id);
    const without = members.filter((id) => !reachable.includes(id));
    if (without.length > 0) {
      group.quietWithout = without;
      for (const id of without) addToSetOf(this.quietWithout, id, group);
    }
    this.emit(group, { event: 'quiesce' });
    for (const id of reachable) {
      this.options.transport.send(id, group.groupId, { type: 'heartbeat', from: this.options.id, to: id, term: status.term, commit: status.commit }, true);
    }
  }

  /**
   * Whether member `id` holds the leader's whole log (so the quiesce heartbeat's commit,
   * which is not capped by its match, names entries it holds), nothing is in flight to it,
   * and it is reachable. Protected only so that the simulator's mutation check can break it.
   */
  protected memberCaughtUp(status: Status, id: number): boolean {
    const pr = status.progress[id];
    return pr !== undefined && pr.match === status.lastIndex && pr.inflight === 0 && pr.recentActive && this.options.transport.isConnected(id);
  }

  /** The leader told us it went quiet: stop our election clock while it stays reachable. */
  private quiesceFollower(group: Group<L>, message: Message): void {
    const node = group.node;
    if (node.currentRole === 'follower' && node.currentLeader === message.from && node.currentTerm === message.term && group.quiescedUnder !== message.from) {
      this.setQuiet(group, message.from);
      this.emit(group, { event: 'quiesce' });
    }
  }

  /**
   * Whether a message ends a group's quiet: anything but heartbeats from the leader it is
   * quiet under (one may trail the quiesce heartbeat) and plain answers to heartbeats.
   */
  private wakes(group: Group<L>, message: Message): boolean {
    if (group.quiescedUnder === undefined) return false;
    if (message.type === 'heartbeatResp') return message.reject === true;
    return !(message.type === 'heartbeat' && message.from === group.quiescedUnder);
  }

  private wake(group: Group<L>): void {
    if (group.quiescedUnder !== undefined) this.emit(group, { event: 'wake' });
    this.setQuiet(group, undefined);
    group.idleTicks = 0;
  }

  /** Sets `quiescedUnder` (undefined: awake) and keeps `awake` and `quietUnder` in step with it. */
  private setQuiet(group: Group<L>, under: number | undefined): void {
    const before = group.quiescedUnder;
    if (before === under) return;
    if (before === undefined) this.awake.delete(group);
    else if (before === this.options.id) this.quietLedHere.delete(group);
    else this.quietUnder.get(before)?.delete(group);
    if (group.quietWithout) {
      for (const id of group.quietWithout) this.quietWithout.get(id)?.delete(group);
      group.quietWithout = undefined;
    }
    group.quiescedUnder = under;
    if (under === undefined) {
      if (this.groups.get(group.groupId) === group) this.awake.add(group);
      return;
    }
    // A leader's own quiet groups are woken by proposals and messages only, never by a tick.
    if (under === this.options.id) {
      if (this.groups.get(group.groupId) === group) this.quietLedHere.add(group);
      return;
    }
    addToSetOf(this.quietUnder, under, group);
  }

  private emit(group: Group<L> | number, event: GroupEvent): void {
    if (event.event === 'campaign') {
      if (event.kind === 'pre-vote') this.elections.preVotes++;
      else if (event.kind === 'vote') this.elections.votes++;
      else this.elections.transfers++;
    } else if (event.event === 'elected') {
      this.elections.won++;
    }
    try {
      this.options.trace?.(typeof group === 'number' ? group : group.groupId, event);
    } catch {
      // An observer only.
    }
  }

  private markDirty(group: Group<L>): void {
    this.dirty.add(group);
    // A group in a running cycle is served by the cycle its end schedules: a cycle now
    // would find nothing else to do (about half of all cycles at 2,000 records/s).
    if (!group.inCycle) this.schedule();
  }

  private schedule(): void {
    if (this.cycleScheduled || this.stopped) return;
    this.cycleScheduled = true;
    this.clock.soon(() => {
      this.cycleScheduled = false;
      void this.cycle();
    });
  }

  private oldestCycleStart(): number {
    let oldest = Infinity;
    for (const { startedAt } of this.runningCycles) oldest = Math.min(oldest, startedAt);
    return oldest;
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    const running = { startedAt: this.clock.now() };
    this.runningCycles.add(running);
    let worked = false;
    try {
      worked = await this.processReadies();
    } catch (error) {
      this.stopped = true;
      this.options.logger.fatal({ err: error }, 'storage failure in the Raft cycle; stopping the broker');
      this.options.onFatal(error);
      return;
    } finally {
      this.runningCycles.delete(running);
    }
    if (this.tickDeferred) {
      this.tickDeferred = false;
      this.tickAll(true);
    } else if (worked) {
      this.schedule();
    }
  }

  /** One cycle over every group with work that no other cycle serves; false when there was none. */
  private async processReadies(): Promise<boolean> {
    // Granted permits first (never from inside another group's send: no re-entry); a group
    // in a running cycle gets its permit when that cycle is over.
    const resumes = this.resumes;
    if (resumes.length > 0) this.resumes = [];
    for (const resume of resumes) {
      const group = this.groups.get(resume.groupId);
      if (group?.inCycle) {
        this.resumes.push(resume);
      } else if (group?.node.currentRole === 'leader') {
        group.node.resumeReplication(resume.peer);
        this.dirty.add(group);
      } else {
        this.recovery?.release(resume.groupId, resume.peer);
      }
    }
    const work: Array<{ group: Group<L>; rd: Ready; appliedEarly: number }> = [];
    for (const group of this.dirty) {
      if (group.inCycle) continue; // stays dirty: its cycle's end schedules another
      this.dirty.delete(group);
      if (this.groups.get(group.groupId) !== group) continue;
      try {
        if (group.node.hasReady()) work.push({ group, rd: group.node.ready(), appliedEarly: 0 });
      } catch (err) {
        if (!this.quarantineOnCorruption(group, err)) throw err;
      }
    }
    if (work.length === 0) return false;
    for (const { group } of work) group.inCycle = true;
    try {
      await this.serve(work);
    } finally {
      for (const { group } of work) group.inCycle = false;
    }
    return true;
  }

  /** The four steps for the groups of one cycle. */
  private async serve(work: Array<{ group: Group<L>; rd: Ready; appliedEarly: number }>): Promise<void> {
    // 1. The leaders' appends and heartbeats go out before our own fsync (thesis 10.2.1).
    for (const { group, rd } of work) this.send(group, rd.messages);
    // Committed entries this replica already holds durably do not wait for the fsyncs below.
    for (const item of work) item.appliedEarly = this.applyDurableCommitted(item.group, item.rd);

    // 2. Persist term/vote and sync the logs, all groups together. An open refused for
    //    lack of descriptors means that file's sync did not happen: wait and redo the step
    //    (each part is idempotent), as a slow disk would make us wait; nothing is sent first.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.persist(work);
        break;
      } catch (error) {
        if (!isRefusal(error) || this.stopped) throw error;
        if (isDiskFull(error)) this.warnDiskFull(undefined, error);
        await new Promise<void>((resolve) => this.clock.after(Math.min(1000, 10 * 2 ** attempt), resolve));
      }
    }

    for (const { group, rd, appliedEarly } of work) {
      // 3. Votes and append responses only now: "persist before you speak".
      this.send(group, rd.messagesAfterSync);
      // 4. Apply, then hand the Ready back.
      if (rd.softState) group.stateMachine.onSoftState(rd.softState);
      if (rd.snapshot) group.stateMachine.restore(rd.snapshot);
      if (rd.committed.length > appliedEarly) group.stateMachine.apply(appliedEarly === 0 ? rd.committed : rd.committed.slice(appliedEarly));
      group.node.advance(rd);
      this.dirty.add(group);
    }
  }

  /**
   * Applies the committed entries of `rd` that this replica already holds durably (up to
   * the core's durable index), before the cycle's fsyncs: a commit is acknowledged as soon
   * as a majority holds it, not after this broker's unrelated writes are synced (a leader
   * counts itself only up to its durable index, so its commits qualify unless followers
   * alone made the majority).
   * Only in a Ready without a snapshot, term or role change, whose order (persist, then
   * install or announce, then apply) stays as it was. Returns how many were applied.
   */
  private applyDurableCommitted(group: Group<L>, rd: Ready): number {
    if (rd.committed.length === 0 || rd.snapshot || rd.softState || rd.hardState) return 0;
    const durable = group.node.durableIndex;
    let count = 0;
    while (count < rd.committed.length && rd.committed[count]!.index <= durable) count++;
    if (count > 0) group.stateMachine.apply(count === rd.committed.length ? rd.committed : rd.committed.slice(0, count));
    return count;
  }

  private async persist(work: ReadonlyArray<{ group: Group<L>; rd: Ready }>): Promise<void> {
    const durable: Array<Promise<void>> = [];
    for (const { group, rd } of work) {
      if (rd.snapshot) group.stateMachine.persistSnapshot?.(rd.snapshot);
      if (rd.hardState) this.options.hardStates.set(group.groupId, rd.hardState);
      if (rd.mustSync && this.options.fsync === 'always') durable.push(group.log.flush());
    }
    durable.push(this.options.hardStates.sync()); // after every set() of this cycle
    // Every part settles before a retry starts, so two attempts never overlap.
    const failures = await settleAll(durable);
    if (failures.length > 0) throw failures[0];
    // A group that caught up on what it had lost has that on disk now: forget the loss.
    for (const { group, rd } of work) {
      if (rd.hardState && !isRecovering(rd.hardState) && group.log.lostEntries) {
        group.log.clearLoss();
        this.options.logger.info({ group: group.groupId, log: group.logName }, 'this replica holds again what it had lost; it votes again');
      }
    }
  }

  private send(group: Group<L>, messages: Message[]): void {
    for (const m of messages) this.options.transport.send(m.to, group.groupId, m);
  }

  /** Stops ticking and processing; in-flight storage work finishes on its own. */
  stop(): void {
    this.stopped = true;
    this.stopTicking?.();
  }
}
