/**
 * The contract between the Raft core and the log it drives.
 *
 * An entry is one record batch (protocol/batch.ts) and its index is the batch's LAST
 * offset: a batch of n records occupies offsets [index - n + 1, index]. Indexes therefore
 * increase but are not contiguous. The partition's Raft log is its data log: the storage
 * engine (broker/storage) implements this interface on segment files, and the simulator
 * has an in-memory twin with the same contract, including losing un-synced writes on a
 * crash.
 *
 * All methods are synchronous and called only from the event-loop thread. Durability is
 * separate: the driver (multiraft, or the simulator) makes appended entries durable with
 * the implementation's own flush/sync before it tells the core so (`RaftNode.advance`).
 */

export interface Entry {
  /** Last offset of the batch. */
  index: number;
  term: number;
  /** The whole batch, header already patched with base offset and term. */
  data: Buffer;
}

export interface RaftLog {
  /** First offset still stored (the log start). Entries below it are gone (retention, snapshot). */
  firstIndex(): number;
  /** Last offset stored; firstIndex() - 1 when the log is empty. */
  lastIndex(): number;
  /**
   * Term of the entry that holds `index` (any offset inside a batch answers for the batch).
   * For `firstIndex() - 1` it is the term of the entry just before the log start (the
   * snapshot boundary; 0 for a brand new log). Undefined outside [firstIndex() - 1, lastIndex()].
   */
  termAt(index: number): number | undefined;
  /**
   * Entries starting with the one that holds `from`, in order, up to about `maxBytes`
   * of batch bytes but always at least one when `from` <= lastIndex(). Empty when
   * `from` > lastIndex(). Throws OFFSET_OUT_OF_RANGE when `from` < firstIndex().
   */
  entries(from: number, maxBytes: number): Entry[];
  /** Appends entries that follow lastIndex() in order. Not durable until synced. */
  append(entries: readonly Entry[]): void;
  /** Drops every entry after `index`, which must be lastIndex() or an entry's last offset. */
  truncateAfter(index: number): void;
  /**
   * Drops the whole log and restarts it empty after `index`, whose term is `term`
   * (installing a snapshot, or a follower reset to the leader's log start):
   * afterwards firstIndex() = index + 1, lastIndex() = index, termAt(index) = term.
   */
  reset(index: number, term: number): void;
}

/** Term and vote, persisted atomically before any message that depends on them is sent. */
export interface HardState {
  term: number;
  /** Broker id voted for in `term`, 0 for none. */
  vote: number;
  /**
   * Recovering: the log lost entries it had acknowledged (storage cut a corrupt tail) and
   * held them up to this index before the loss. Absent or -1: not recovering. While
   * recovering the replica neither votes nor campaigns (README, "Lost entries").
   */
  recoverTo?: number;
  /** Recovering: the term when the entries were lost (the last term they may have been acknowledged in). */
  recoverTerm?: number;
}

/** True when `h` says the replica is recovering lost entries. */
export function isRecovering(h: HardState): boolean {
  return h.recoverTo !== undefined && h.recoverTo >= 0;
}

/**
 * The hard state to persist after storage cut a log that ended at `lastIndexBefore` (a
 * corrupt batch found at open or by a repair), before the group's RaftNode is (re)created
 * from it. A replica already recovering keeps the higher bound; the term is the current one
 * (entries may have been acknowledged up to it).
 */
export function lostEntriesHardState(h: HardState, lastIndexBefore: number): HardState {
  const upTo = Math.max(lastIndexBefore, isRecovering(h) ? h.recoverTo! : -1);
  if (upTo < 0) return { term: h.term, vote: h.vote };
  return { term: h.term, vote: h.vote, recoverTo: upTo, recoverTerm: h.term };
}
