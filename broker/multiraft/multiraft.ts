/**
 * All Raft groups of this broker, driven together.
 *
 * - One timer ticks every group (no timer per group).
 * - One processing cycle at a time serves every group that has work, in the four steps of
 *   the core's contract (broker/raft/README.md): send the leaders' messages at once;
 *   persist hard states and sync every touched log together (group commit: one fdatasync
 *   per log per cycle, all in parallel); send the messages that needed durability; apply
 *   committed entries; advance. Work that arrives during a cycle waits for the next one,
 *   which starts as soon as this one ends.
 * - A storage failure in a cycle is fatal: the broker must not speak as if it stored what
 *   it did not, and a core with an un-advanced Ready cannot go on. `onFatal` stops the process.
 */
import type { Logger } from 'pino';
import type { Entry } from '../raft/log.js';
import { RaftNode, type Ready, type SoftState, type SnapshotSource } from '../raft/raft.js';
import type { Message, Snapshot } from '../raft/types.js';
import type { LogManager, PartitionLog, PartitionLogOptions } from '../storage/index.js';
import type { HardStateStore } from '../storage/index.js';
import type { PeerTransport } from '../transport/peers.js';
import type { FsyncMode } from '../config.js';

/** What a group's state machine does with the log. Called only from the processing cycle. */
export interface StateMachine {
  /** Committed entries, in order, each exactly once per process life (after restore, from there on). */
  apply(entries: Entry[]): void;
  /** This replica's log was reset to a snapshot from the leader. */
  restore(snapshot: Snapshot): void;
  /** Role, leader or term changed. */
  onSoftState(state: SoftState): void;
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
}

export interface Group {
  readonly groupId: number;
  readonly logName: string;
  readonly node: RaftNode;
  readonly log: PartitionLog;
  readonly stateMachine: StateMachine;
  readonly hardState: HardStateStore;
}

export interface MultiRaftOptions {
  id: number;
  logs: LogManager;
  transport: PeerTransport;
  logger: Logger;
  fsync: FsyncMode;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  onFatal(error: unknown): void;
  /** Randomness for election timeouts; Math.random in production. */
  random?: () => number;
}

export class MultiRaft {
  private readonly groups = new Map<number, Group>();
  private readonly dirty = new Set<Group>();
  private cycleRunning = false;
  private cycleScheduled = false;
  private tickTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: MultiRaftOptions) {}

  start(): void {
    this.tickTimer = setInterval(() => this.tickAll(), this.options.tickMs);
  }

  get(groupId: number): Group | undefined {
    return this.groups.get(groupId);
  }

  all(): IterableIterator<Group> {
    return this.groups.values();
  }

  /** Opens the group's log (creating it if new) and starts its Raft node. */
  create(spec: GroupSpec): Group {
    const existing = this.groups.get(spec.groupId);
    if (existing) return existing;
    const log = this.options.logs.open(spec.logName, spec.logOptions);
    const hardState = this.options.logs.hardState(spec.logName);
    const node = new RaftNode({
      id: this.options.id,
      log,
      hardState: hardState.load(),
      voters: spec.voters,
      learners: spec.learners ?? [],
      electionTicks: this.options.electionTicks,
      heartbeatTicks: this.options.heartbeatTicks,
      random: this.options.random ?? Math.random,
      snapshot: spec.stateMachine.snapshot ? () => spec.stateMachine.snapshot!() : undefined,
    });
    const group: Group = { groupId: spec.groupId, logName: spec.logName, node, log, stateMachine: spec.stateMachine, hardState };
    this.groups.set(spec.groupId, group);
    this.markDirty(group);
    return group;
  }

  /** Stops the group; with `deleteData` also removes its log directory (topic deletion). */
  async remove(groupId: number, deleteData: boolean): Promise<void> {
    const group = this.groups.get(groupId);
    if (!group) return;
    this.groups.delete(groupId);
    this.dirty.delete(group);
    if (deleteData) await this.options.logs.deleteLog(group.logName);
  }

  /** Raft messages from a peer, for any of our groups (unknown groups are ignored). */
  deliver(messages: ReadonlyArray<{ group: number; message: Message }>): void {
    for (const { group: groupId, message } of messages) {
      const group = this.groups.get(groupId);
      if (!group) continue;
      group.node.step(message);
      this.markDirty(group);
    }
  }

  /** Appends a batch at the group's leader; throws NOT_LEADER elsewhere. Patches the batch in place. */
  propose(group: Group, batch: Buffer): { index: number; term: number } {
    const result = group.node.propose(batch);
    this.markDirty(group);
    return result;
  }

  /** Runs `action` on the node (transfer, config change) and schedules the work it makes. */
  withNode<T>(group: Group, action: (node: RaftNode) => T): T {
    try {
      return action(group.node);
    } finally {
      this.markDirty(group);
    }
  }

  private tickAll(): void {
    for (const group of this.groups.values()) {
      group.node.tick();
      this.dirty.add(group);
    }
    this.schedule();
  }

  private markDirty(group: Group): void {
    this.dirty.add(group);
    this.schedule();
  }

  private schedule(): void {
    if (this.cycleScheduled || this.cycleRunning || this.stopped) return;
    this.cycleScheduled = true;
    setImmediate(() => {
      this.cycleScheduled = false;
      void this.cycle();
    });
  }

  private async cycle(): Promise<void> {
    if (this.cycleRunning || this.stopped) return;
    this.cycleRunning = true;
    try {
      const work: Array<{ group: Group; rd: Ready }> = [];
      for (const group of this.dirty) {
        if (this.groups.get(group.groupId) !== group) continue;
        if (group.node.hasReady()) work.push({ group, rd: group.node.ready() });
      }
      this.dirty.clear();
      if (work.length === 0) return;

      // 1. The leaders' appends and heartbeats go out before our own fsync (thesis 10.2.1).
      for (const { group, rd } of work) this.send(group, rd.messages);

      // 2. Persist term/vote and sync the logs, all groups together.
      const durable: Array<Promise<void>> = [];
      for (const { group, rd } of work) {
        if (rd.hardState) durable.push(group.hardState.save(rd.hardState));
        if (rd.mustSync && this.options.fsync === 'always') durable.push(group.log.flush());
      }
      if (durable.length > 0) await Promise.all(durable);

      for (const { group, rd } of work) {
        // 3. Votes and append responses only now: "persist before you speak".
        this.send(group, rd.messagesAfterSync);
        // 4. Apply, then hand the Ready back.
        if (rd.softState) group.stateMachine.onSoftState(rd.softState);
        if (rd.snapshot) group.stateMachine.restore(rd.snapshot);
        if (rd.committed.length > 0) group.stateMachine.apply(rd.committed);
        group.node.advance(rd);
        this.dirty.add(group);
      }
    } catch (error) {
      this.stopped = true;
      this.options.logger.fatal({ err: error }, 'storage failure in the Raft cycle; stopping the broker');
      this.options.onFatal(error);
      return;
    } finally {
      this.cycleRunning = false;
    }
    this.schedule();
  }

  private send(group: Group, messages: Message[]): void {
    for (const m of messages) this.options.transport.send(m.to, group.groupId, m);
  }

  /** Stops ticking and processing; in-flight storage work finishes on its own. */
  stop(): void {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
  }
}
