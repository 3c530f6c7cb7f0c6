/**
 * In-memory twins of MultiRaft's seams (broker/multiraft/seams.ts) on simulated time: a log
 * and a hard-state journal whose syncs complete when the simulated disk says so and whose
 * crash keeps the durable image plus a random prefix of the rest, peers that queue each
 * turn's messages into frames (heartbeats coalesced, as PeerTransport does) handed to the
 * simulated network, and a clock whose timers are events of the simulation.
 */
import type { Entry, HardState } from '../../broker/raft/log.js';
import type { Message } from '../../broker/raft/types.js';
import type { MemoryLog } from '../../broker/raft/memory-log.js';
import type { Clock, GroupHardStates, GroupLog, GroupLogStore, PeerSender } from '../../broker/multiraft/seams.js';
import type { LogCorruption } from '../../broker/storage/corruption.js';
import { coalesceHeartbeats, expandHeartbeatResponses, expandHeartbeats } from '../../broker/transport/raft-messages.js';
import type { HeartbeatResponses, Heartbeats } from '../../protocol/peer.schema.js';

/** What the simulation provides to one broker's life: time, events, the disk and the network. */
export interface SimWorld {
  now(): number;
  /** Runs `fn` at `at` (ms of simulated time) unless the life it belongs to ended. */
  at(at: number, fn: () => void): void;
  /** How long the next sync takes (0: at once). */
  syncDelay(): number;
  /** A frame of messages from one broker to another, into the simulated network. */
  sendFrame(from: number, to: number, items: FrameItem[]): void;
  /** Whether `from` currently reaches `to` (up, and the link is not cut). */
  reaches(from: number, to: number): boolean;
  /** Each broker ticks on its own period (skew), its first tick `phase` ms from now. */
  tickPeriod(ms: number): { period: number; phase: number };
  /** Called when a promise was resolved: the simulation lets the continuations run before the next event. */
  settled(): void;
}

export interface FrameItem {
  group: number;
  message: Message;
  quiesce?: boolean;
}

/** A group's log: a MemoryLog (with crash semantics and the checker's rolling hash) behind the GroupLog seam. */
export class SimLog implements GroupLog {
  lostEntries: { lastIndexBefore: number } | undefined;
  onCorruption: ((error: LogCorruption) => void) | undefined;

  constructor(
    readonly memory: MemoryLog<unknown>,
    private readonly world: SimWorld,
  ) {}

  firstIndex(): number {
    return this.memory.firstIndex();
  }
  lastIndex(): number {
    return this.memory.lastIndex();
  }
  termAt(index: number): number | undefined {
    return this.memory.termAt(index);
  }
  entries(from: number, maxBytes: number): Entry[] {
    return this.memory.entries(from, maxBytes);
  }
  append(entries: readonly Entry[]): void {
    this.memory.append(entries);
  }
  truncateAfter(index: number): void {
    this.memory.truncateAfter(index);
  }
  reset(index: number, term: number): void {
    this.memory.reset(index, term);
  }

  /** The simulated disk syncs when its delay is over: everything written by then becomes durable. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.world.at(this.world.now() + this.world.syncDelay(), () => {
        this.memory.sync();
        resolve();
        this.world.settled();
      });
    });
  }

  deleteBefore(offset: number): void {
    if (offset > this.memory.firstIndex()) throw new Error('sim log: deleteBefore is only used for state machines loaded from a snapshot, which the simulator has none of');
  }

  /** Memory holds no corrupt batch: nothing to cut. */
  cutCorrupt(): undefined {
    return undefined;
  }

  clearLoss(): void {
    this.lostEntries = undefined;
  }
}

/** Every log of one broker; a crash replaces each by what its disk kept. */
export class SimLogStore implements GroupLogStore<SimLog> {
  private readonly logs = new Map<string, SimLog>();

  constructor(
    private readonly world: SimWorld,
    private readonly create: (name: string) => MemoryLog<unknown>,
    durable?: Map<string, MemoryLog<unknown>>,
  ) {
    for (const [name, memory] of durable ?? []) this.logs.set(name, new SimLog(memory, world));
  }

  open(name: string): SimLog {
    let log = this.logs.get(name);
    if (!log) this.logs.set(name, (log = new SimLog(this.create(name), this.world)));
    return log;
  }

  get(name: string): SimLog | undefined {
    return this.logs.get(name);
  }

  hardState(): { load(): HardState } {
    return { load: () => ({ term: 0, vote: 0 }) };
  }

  async deleteLog(name: string): Promise<void> {
    this.logs.delete(name);
  }

  /** What a restarted process finds: each log's durable image plus a random prefix of the rest. */
  crash(random: () => number): Map<string, MemoryLog<unknown>> {
    const out = new Map<string, MemoryLog<unknown>>();
    for (const [name, log] of this.logs) out.set(name, log.memory.crash(random).log);
    return out;
  }
}

/**
 * The hard-state journal: `set` appends a record, `sync` makes the records written so far
 * durable when the simulated disk is done. `onDurable` sees every record as it becomes
 * durable (the checker compares it with the one before).
 */
export class SimHardStates implements GroupHardStates {
  private readonly latest = new Map<number, HardState>();
  private readonly durable: Map<number, HardState>;
  private pending: Array<{ groupId: number; state: HardState; seq: number }> = [];
  private seq = 0;

  constructor(
    private readonly world: SimWorld,
    private readonly onDurable: (groupId: number, before: HardState, state: HardState) => void,
    durable = new Map<number, HardState>(),
  ) {
    this.durable = durable;
    for (const [groupId, state] of durable) this.latest.set(groupId, state);
  }

  get(groupId: number): HardState | undefined {
    return this.latest.get(groupId);
  }

  set(groupId: number, state: HardState): void {
    this.latest.set(groupId, state);
    this.pending.push({ groupId, state, seq: ++this.seq });
  }

  forget(groupId: number): void {
    this.latest.delete(groupId);
  }

  sync(): Promise<void> {
    const upTo = this.seq;
    return new Promise((resolve) => {
      this.world.at(this.world.now() + this.world.syncDelay(), () => {
        while (this.pending.length > 0 && this.pending[0]!.seq <= upTo) this.makeDurable(this.pending.shift()!);
        resolve();
        this.world.settled();
      });
    });
  }

  /** The durable state of a group (what a crash now keeps for sure). */
  durableOf(groupId: number): HardState {
    return this.durable.get(groupId) ?? { term: 0, vote: 0 };
  }

  /** What a restarted process finds: the durable records plus a random prefix of the written ones. */
  crash(random: () => number): Map<number, HardState> {
    const kept = Math.floor(random() * (this.pending.length + 1));
    for (const record of this.pending.slice(0, kept)) this.makeDurable(record);
    this.pending = [];
    return new Map(this.durable);
  }

  private makeDurable(record: { groupId: number; state: HardState }): void {
    this.onDurable(record.groupId, this.durableOf(record.groupId), record.state);
    this.durable.set(record.groupId, record.state);
  }
}

/**
 * One broker's peers: messages queued in a turn leave together at the end of it, one frame
 * of coalesced heartbeats, one of heartbeat responses and one of the rest per peer.
 */
export class SimPeers implements PeerSender {
  private readonly pending = new Map<number, FrameItem[]>();
  private flushQueued = false;
  private readonly heard = new Map<number, number>();
  /** Heartbeats carried in coalesced frames (for the run's figures). */
  readonly stats = { coalescedHeartbeats: 0 };
  alive = true;

  constructor(
    private readonly id: number,
    private readonly peers: readonly number[],
    private readonly world: SimWorld,
  ) {}

  send(to: number, group: number, message: Message, quiesce = false): void {
    if (!this.alive || to === this.id || !this.peers.includes(to)) return;
    let queue = this.pending.get(to);
    if (!queue) this.pending.set(to, (queue = []));
    queue.push(quiesce ? { group, message, quiesce } : { group, message });
    if (!this.flushQueued) {
      this.flushQueued = true;
      this.world.at(this.world.now(), () => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    for (const [to, items] of this.pending) {
      const { heartbeats, responses, rest } = coalesceHeartbeats(items);
      if (heartbeats) {
        this.stats.coalescedHeartbeats += heartbeats.heartbeats!.length;
        this.frame(to, expandHeartbeats(heartbeats as Heartbeats));
      }
      if (responses) this.frame(to, expandHeartbeatResponses(responses as HeartbeatResponses));
      if (rest.length > 0) this.frame(to, rest);
    }
    this.pending.clear();
  }

  private frame(to: number, items: FrameItem[]): void {
    this.world.sendFrame(this.id, to, items);
  }

  keepAlive(): void {
    if (!this.alive) return;
    for (const to of this.peers) if (to !== this.id && !this.pending.has(to)) this.frame(to, []);
  }

  isConnected(peer: number): boolean {
    return peer === this.id || this.world.reaches(this.id, peer);
  }

  lastHeardFrom(peer: number): number {
    return this.heard.get(peer) ?? 0;
  }

  /** A frame arrived from `from`. */
  noteHeard(from: number): void {
    this.heard.set(from, this.world.now());
  }
}

/** Simulated time: timers are events of the simulation, and end with the broker's life. */
export class SimClock implements Clock {
  constructor(private readonly world: SimWorld) {}

  now(): number {
    return this.world.now();
  }

  every(ms: number, fn: () => void): () => void {
    const { period, phase } = this.world.tickPeriod(ms);
    let stopped = false;
    const next = (at: number): void =>
      this.world.at(at, () => {
        if (stopped) return;
        fn();
        // Like setInterval: a tick that ran late (its broker paused) is not made up for.
        next(Math.max(at, this.world.now()) + period);
      });
    next(this.world.now() + phase);
    return () => {
      stopped = true;
    };
  }

  after(ms: number, fn: () => void): void {
    this.world.at(this.world.now() + ms, fn);
  }

  soon(fn: () => void): void {
    this.world.at(this.world.now(), () => {
      fn();
      this.world.settled();
    });
  }
}
