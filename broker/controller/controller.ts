/**
 * The controller: Raft group 0, whose state machine is the cluster metadata
 * (ControllerState). Every broker replicates it; its leader accepts metadata commands.
 * Applying a command tells the broker what changed (start or remove partition groups).
 *
 * Compaction: every `snapshotEntries` applied offsets each broker writes the state to its
 * snapshot file and moves its log's start up to it (maybeCompact); a restart loads the
 * file and replays only what follows, and a follower that needs entries below the
 * leader's log start gets the state itself (persisted before its log reset is synced).
 *
 * Repair (broker/replicas/repair.ts): when its log is cut at a corrupt batch, the state
 * keeps what it applied — every applied entry was committed, so the log fetched again
 * holds the same ones — and the group restarts from that state as from a snapshot taken
 * at the applied index (restartFromApplied). Nothing is applied twice or undone.
 */
import { buildBatch, isControlBatch, records } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { Entry } from '../raft/log.js';
import type { SnapshotSource, SoftState } from '../raft/raft.js';
import type { ConfigChange, Membership } from '../raft/membership.js';
import type { Snapshot, SnapshotMeta } from '../raft/types.js';
import { CommitWaiter } from '../multiraft/commit-waiter.js';
import type { Group, MultiRaft, StateMachine } from '../multiraft/multiraft.js';
import type { PartitionLogOptions } from '../storage/index.js';
import { ControllerState, type ControllerCommand, type ControllerEvent } from './state.js';
import type { ControllerSnapshotFile } from './snapshot-file.js';

export const CONTROLLER_GROUP = 0;
export const CONTROLLER_LOG = '__controller';

export class Controller implements StateMachine {
  state: ControllerState;
  group!: Group;
  leaderId = 0;
  private applied = -1;
  /** Term of the entry (or snapshot) at `applied`. */
  private appliedTerm = 0;
  /** Set while the group is out for a repair: no leader duties, no compaction. */
  private repairing = false;
  /** Index of the snapshot on disk (-1: none); compaction starts after it. */
  private snapshotIndex = -1;
  private readonly commits = new CommitWaiter();
  /** Leader: next producer id to hand out, ahead of the applied state while allocations commit. */
  private nextProducerId = 0;
  private placements: Promise<void> = Promise.resolve();

  constructor(
    private readonly raft: MultiRaft,
    initial: ControllerState,
    private readonly onEvent: (event: ControllerEvent) => void,
    readonly snapshotFile: ControllerSnapshotFile,
    /** Size of the metadata log's segments: small enough that compaction frees them and the scrubber checks them. */
    segmentBytes: number,
    /**
     * The largest command proposed (its JSON): an entry must fit, with its envelope, in one
     * peer frame, or sending it would fail on every attempt (--max-frame-bytes less 64 KiB,
     * or half of it when it is that small).
     */
    private readonly maxCommandBytes: number,
  ) {
    this.state = initial;
    this.logOptions = { retentionMs: -1, retentionBytes: -1, segmentBytes };
  }

  /** How the metadata log is opened: cut by compaction (MetadataCompaction), never by retention. */
  readonly logOptions: Partial<PartitionLogOptions>;

  /** At start-up, before the group exists: the state as of the snapshot on disk. Returns it. */
  loadSnapshot(): Snapshot | undefined {
    const snapshot = this.snapshotFile.load();
    if (!snapshot) return undefined;
    this.adopt(snapshot);
    this.snapshotIndex = snapshot.index;
    return snapshot;
  }

  /** The state as of `snapshot`, applied up to its index. */
  private adopt(snapshot: Snapshot): void {
    this.state = ControllerState.fromJSON(JSON.parse(snapshot.data.toString('utf8')));
    this.applied = snapshot.index;
    this.appliedTerm = snapshot.term;
  }

  /**
   * Starts the metadata group (Raft group 0) from the state as of `snapshot` (index -1:
   * the empty initial state); at start-up and again after a repair.
   */
  createGroup(snapshot: SnapshotMeta): Group {
    this.group = this.raft.create({
      groupId: CONTROLLER_GROUP,
      logName: CONTROLLER_LOG,
      voters: snapshot.voters,
      learners: snapshot.learners,
      logOptions: this.logOptions,
      stateMachine: this,
      // A returning broker needs the metadata before any partition's data.
      skipRecoveryLine: true,
      // The metadata is built by every entry after its snapshot (or from the start).
      snapshot,
    });
    return this.group;
  }

  /**
   * The group is about to be taken out for a repair: from now on proposals are refused,
   * the coordinators stand down and compaction waits, until `restartFromApplied`.
   */
  beginRepair(): void {
    this.repairing = true;
  }

  /**
   * After the repair cut the quarantined group's log: writes the state as it stands — a
   * snapshot at the applied index, every entry up to which was committed — and starts the
   * group again from it. The snapshot is durable before the group's start resets a log
   * that no longer reaches it; storage's record of the cut makes the new node recover
   * (no vote) until it holds again what the log held past the snapshot. Returns the
   * snapshot's index.
   */
  restartFromApplied(): number {
    const index = this.applied;
    const membership = this.group.node.membershipAt(index);
    if (!membership) throw new FlotillaError('INTERNAL', `no membership known at the applied index ${index} of the metadata`);
    const snapshot = { index, term: this.appliedTerm, voters: membership.voters, learners: membership.learners };
    if (index >= 0) this.persistSnapshot({ ...snapshot, data: this.stateImage() });
    // Entries cut at or below the applied index were committed and live on in the snapshot:
    // only a cut tail past it is a loss that keeps the replica from voting.
    const lost = this.group.log.lostEntries;
    if (lost && lost.lastIndexBefore <= index) this.group.log.clearLoss();
    this.createGroup(snapshot);
    this.leaderId = 0; // the new node has heard of no leader yet
    this.repairing = false;
    return index;
  }

  /**
   * After a snapshot was loaded or installed: tells the broker so, then every topic, as
   * replaying the log from the start would have (what a replay would have deleted or
   * moved away, ReplicaSet.removeOrphans finds).
   */
  announceSnapshot(): void {
    this.onEvent({ type: 'snapshotAdopted', index: this.snapshotIndex });
    for (const topic of this.state.topics.values()) this.onEvent({ type: 'topicCreated', topic, fromSnapshot: true });
  }

  /**
   * Once `everyEntries` offsets were applied since the last snapshot: writes the state as
   * of the applied index and drops the log before it, but for a trail of half that many
   * entries, so that a follower a little behind still gets entries, not the whole state
   * (etcd keeps such a trail too). Applied entries are committed and durable here.
   */
  maybeCompact(everyEntries: number, force = false): boolean {
    if (this.repairing || (!force && this.applied - this.snapshotIndex < everyEntries)) return false;
    const index = this.applied;
    if (index < 0) return false;
    const term = this.group.log.termAt(index);
    const membership = this.group.node.membershipAt(index);
    if (term === undefined || !membership) return false;
    this.snapshotFile.save({ index, term, voters: membership.voters, learners: membership.learners, data: this.stateImage() });
    this.snapshotIndex = index;
    const trail = Math.floor(everyEntries / 2);
    this.group.log.deleteBefore(Math.max(this.group.log.firstIndex(), index + 1 - trail));
    return true;
  }

  get isLeader(): boolean {
    return !this.repairing && this.group.node.currentRole === 'leader';
  }

  /**
   * The leader has applied an entry of its own term, so its state holds everything
   * committed before it (Raft's no-op): what a new leader must wait for before it answers
   * from the state what its predecessor may have changed (producer ids, committed offsets).
   */
  get leaderCaughtUp(): boolean {
    return this.isLeader && this.appliedTerm === this.group.node.currentTerm;
  }

  /** The metadata group's current term: a leader whose term changed lost its leadership in between. */
  get term(): number {
    return this.group.node.currentTerm;
  }

  /** The retriable refusal of a leader that is not caught up yet. */
  stillCatchingUp(): FlotillaError {
    return new FlotillaError('LEADER_NOT_AVAILABLE', 'the new controller is still applying the metadata its predecessor committed; retry shortly');
  }

  apply(entries: Entry[]): void {
    for (const entry of entries) {
      if (!isControlBatch(entry.data)) {
        for (const record of records(entry.data)) {
          if (!record.value) continue;
          const command = JSON.parse(record.value.toString('utf8')) as ControllerCommand;
          this.onEvent(this.state.apply(command));
        }
      }
      this.applied = entry.index;
      this.appliedTerm = entry.term;
    }
    this.commits.onApplied(entries);
  }

  /** A snapshot from the leader, before the log reset it came with is synced. */
  persistSnapshot(snapshot: Snapshot): void {
    this.snapshotFile.save(snapshot);
    this.snapshotIndex = snapshot.index;
  }

  restore(snapshot: Snapshot): void {
    this.adopt(snapshot);
    this.commits.onSkipped(snapshot.index);
    this.announceSnapshot();
  }

  /**
   * Leader: the metadata to send a follower that needs entries below the log start. An
   * image at any applied index the log still continues will do (the follower takes the
   * entries after it from the log), so one is built per compaction, not per send: the
   * build blocks the event loop (about 20 ms per MiB of metadata), and a follower that has
   * not answered is sent the snapshot again every election timeout.
   */
  snapshot(): SnapshotSource {
    const image = this.imageForFollowers;
    if (image && image.index >= this.group.log.firstIndex() - 1) return image;
    this.imageForFollowers = { index: this.applied, data: this.stateImage() };
    return this.imageForFollowers;
  }

  /** The state as applied, as a snapshot's data. */
  private stateImage(): Buffer {
    return Buffer.from(JSON.stringify(this.state.toJSON()));
  }

  onSoftState(state: SoftState): void {
    this.leaderId = state.leaderId;
    if (state.role !== 'leader') this.imageForFollowers = null;
  }

  /** The last image built for a follower (see snapshot()); only a leader keeps one. */
  private imageForFollowers: SnapshotSource | null = null;

  /** The metadata log's end at start-up (see metadataCurrent). */
  private startupLastIndex = -1;
  private current = false;

  /** Called once the metadata group is created, before any message arrives. */
  noteStartup(): void {
    this.startupLastIndex = this.group.node.status().lastIndex;
  }

  /**
   * Whether this broker's metadata names every topic it should. A restarted broker applies
   * its metadata log only as far as the leader tells it the log is committed, so until it
   * has applied what its log held at start-up (or what is left of it once the leader cut an
   * uncommitted tail) topics can be missing, and it must not tell clients they do not exist.
   * A repair that cut entries (recoverTo) shortens the log for another reason: until the
   * group has them again from a leader, what is left says nothing about what is missing.
   */
  get metadataCurrent(): boolean {
    if (!this.current) {
      const { applied, lastIndex, recoverTo } = this.group.node.status();
      this.current = recoverTo < 0 && applied >= Math.min(this.startupLastIndex, lastIndex);
    }
    return this.current;
  }

  /** Retriable: the answer for what a broker whose metadata is not current cannot know. */
  notCurrent(brokerId: number): FlotillaError {
    return new FlotillaError('BROKER_NOT_AVAILABLE', `broker ${brokerId} has just started and is still catching up with the cluster metadata; ask another broker`);
  }

  /** A broker's address as the metadata knows it. */
  addressOf(id: number): string | undefined {
    return this.state.brokers.get(id)?.address;
  }

  notController(): FlotillaError {
    const leader = this.leaderId ? this.state.brokers.get(this.leaderId) : undefined;
    return new FlotillaError(
      'NOT_CONTROLLER',
      leader ? `broker is not the controller; the controller is broker ${leader.id} at ${leader.address}` : 'no controller is elected right now; retry shortly',
      leader ? { leaderId: leader.id, leaderAddress: leader.address } : {},
    );
  }

  /**
   * Runs `plan` after every earlier one has finished: a command planned on the applied state
   * (a topic's group ids and replica placement) must see the commands planned before it.
   */
  placing<T>(plan: () => Promise<T>): Promise<T> {
    const result = this.placements.then(plan);
    this.placements = result.then(() => undefined, () => undefined);
    return result;
  }

  /** Proposes a command at the controller leader and resolves once it is committed and applied here. */
  async propose(command: ControllerCommand, timeoutMs: number): Promise<void> {
    if (!this.isLeader) throw this.notController();
    const value = Buffer.from(JSON.stringify(command));
    if (value.length > this.maxCommandBytes) {
      throw new FlotillaError(
        'RECORD_TOO_LARGE',
        `the ${command.type} command is ${value.length} bytes, over the ${this.maxCommandBytes} a metadata entry may have: make it smaller (fewer partitions or offsets at once) or raise --max-frame-bytes on every broker`,
      );
    }
    let proposal: { index: number; term: number };
    try {
      proposal = this.raft.propose(this.group, buildBatch([{ value }]));
    } catch (error) {
      if (error instanceof FlotillaError && error.code === 'NOT_LEADER') throw this.notController();
      throw error;
    }
    await this.commits.wait(proposal.index, proposal.term, timeoutMs);
  }

  /**
   * Hands out a cluster-unique producer id: taken at the leader (ahead of the applied
   * state, so that concurrent requests differ) and committed before it is returned. Not
   * before the leader has applied an entry of its own term: until then the ids its
   * predecessor handed out may be committed but not yet applied here, and one would be
   * handed out again (two producers with one id: the second one's batches are taken for
   * duplicates of the first's, acknowledged and never stored).
   */
  async allocateProducerId(timeoutMs: number): Promise<number> {
    if (!this.isLeader) throw this.notController();
    if (!this.leaderCaughtUp) throw this.stillCatchingUp();
    const producerId = Math.max(this.nextProducerId, this.state.nextProducerId);
    this.nextProducerId = producerId + 1;
    await this.propose({ type: 'allocateProducerId', producerId }, timeoutMs);
    return producerId;
  }

  /**
   * Applies one membership change to the metadata group and waits for it to commit,
   * retrying while another change is still committing. Returns without proposing when
   * `done` already holds.
   */
  async changeMembership(change: ConfigChange, done: (m: Membership) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.isLeader) throw this.notController();
      if (done(this.group.node.members)) return;
      try {
        const proposal = this.raft.withNode(this.group, (node) => node.proposeConfigChange(change));
        await this.commits.wait(proposal.index, proposal.term, Math.max(1, deadline - Date.now()));
        return;
      } catch (error) {
        if (!(error instanceof FlotillaError) || !error.retriable || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  close(error: FlotillaError): void {
    this.commits.failAll(error);
  }
}
