/**
 * What MultiRaft needs from the world, as small contracts (in the spirit of hashicorp/raft's
 * LogStore, StableStore and Transport): the logs, the term and vote of every group, the
 * peers, and the clock. The broker passes the real ones (LogManager and PartitionLog,
 * HardStateJournal, PeerTransport, `systemClock`); the deterministic simulator (test/sim)
 * passes in-memory twins on simulated time, so the same MultiRaft runs in both.
 *
 * Threading: every call is made from the event-loop thread, never concurrently with
 * another call on the same object. Only the methods that return a promise may take time
 * (a disk); everything else returns at once. A rejected promise or a throw from a storage
 * call is a storage failure (fatal for the broker), except a refusal (`isRefusal` in
 * broker/storage/files.ts: no descriptor, no space), which means nothing was stored.
 */
import type { HardState, RaftLog } from '../raft/log.js';
import type { Message } from '../raft/types.js';
import type { PartitionLogOptions } from '../storage/partition-log.js';
import type { LogCorruption } from '../storage/corruption.js';

/** One group's log: the Raft log (appends, truncations, resets are not durable until `flush`), plus repair. */
export interface GroupLog extends RaftLog {
  /**
   * Resolves once everything appended, truncated or reset before the call is durable (it
   * may make later writes durable too). Calls may overlap; each resolves only when its own
   * writes are durable. A crash before it resolves may keep any prefix of those writes.
   */
  flush(): Promise<void>;
  /**
   * Moves the log start up to `offset` (a state machine loaded from a snapshot at
   * `offset - 1`); `termAt(offset - 1)` keeps answering. Durable when it returns.
   */
  deleteBefore(offset: number): void;
  /**
   * Cuts the log before a corrupt batch found at `offset`, durably; undefined when the batch
   * there checks clean after all. Returns the last offset before and after the cut.
   */
  cutCorrupt(offset: number): { lastIndexBefore: number; lastIndexAfter: number } | undefined;
  /** Set while the replica lacks entries it may have acknowledged (a corrupt tail was cut). */
  readonly lostEntries: { lastIndexBefore: number } | undefined;
  /** Opening made the log's directory just now: nothing else can be in it yet. */
  readonly createdNow?: boolean;
  /** The replica holds again what it lost: forget the loss, durably. */
  clearLoss(): void;
  /** Told of a corrupt batch met by a read (synchronously, from inside the read). */
  onCorruption: ((error: LogCorruption) => void) | undefined;
}

/** Where the groups' logs live (LogManager). */
export interface GroupLogStore<L extends GroupLog> {
  /** Opens the named log, creating it empty (start offset 0) if new. Synchronous. */
  open(name: string, overrides?: Partial<PartitionLogOptions>): L;
  /** The per-log hard-state file of data directories written before the journal (term 0, vote 0 if none). */
  hardState(name: string): { load(): HardState };
  /** Closes and removes the named log and everything beside it. */
  deleteLog(name: string): Promise<void>;
}

/** The term, vote and recovery state of every group (HardStateJournal): one durable write for all. */
export interface GroupHardStates {
  /** The last state `set` for the group (durable or not), or undefined if none ever was. */
  get(groupId: number): HardState | undefined;
  /** Records a state; not durable until a later `sync()` resolves. */
  set(groupId: number, state: HardState): void;
  /** The group is gone: its state may be dropped. */
  forget(groupId: number): void;
  /**
   * Resolves once every state `set` before the call is durable. A crash before it resolves
   * may keep any prefix of the states set since the last sync.
   */
  sync(): Promise<void>;
}

/** The peers (PeerTransport). Raft tolerates loss, so sending never blocks and may drop. */
export interface PeerSender {
  /**
   * Queues a message of `group` for broker `to`; it may be lost or delayed (and, across a
   * reconnection, overtaken). `quiesce` marks a leader's last heartbeat before its group
   * goes quiet.
   */
  send(to: number, group: number, message: Message, quiesce?: boolean): void;
  /** One small frame to every peer (called once per tick): proof of life for quiet groups. */
  keepAlive(): void;
  /** Whether a connection to `peer` is up now (always true for this broker's own id). */
  isConnected(peer: number): boolean;
  /** When anything last arrived from `peer`, on the MultiRaft clock (0: never). */
  lastHeardFrom(peer: number): number;
}

/** Time and deferral: the only way MultiRaft reads the time or waits. */
export interface Clock {
  /** Milliseconds (wall time in production; only differences matter). */
  now(): number;
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Calls `fn` once, after `ms`. */
  after(ms: number, fn: () => void): void;
  /** Calls `fn` once, as soon as the current work (and what it set in motion) is done. */
  soon(fn: () => void): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  every: (ms, fn) => {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
  after: (ms, fn) => void setTimeout(fn, ms),
  soon: (fn) => void setImmediate(fn),
};
