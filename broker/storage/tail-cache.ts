/**
 * The newest batches of every log, kept in memory after their write: Raft reads each entry
 * back soon after appending it (to send it to followers, then to apply it once committed),
 * and consumers at the end of a partition read what was just written. Served from here,
 * those reads cost neither a read syscall, nor a fresh buffer for the garbage collector,
 * nor a second CRC pass: the bytes are the ones written, checked when they entered the
 * broker (a producer's batch at produce, a peer's entry on receipt).
 *
 * Each log keeps a contiguous suffix of itself (`LogTail`): appends add at the end, a
 * truncation cuts the end, retention and the shared byte budget drop from the front. The
 * budget is the broker's (`TailCache`): once the cached batches of all logs exceed it, the
 * batches appended longest ago go first, whichever log holds them. A read that starts
 * before a log's cached suffix goes to disk as before.
 */
import { baseOffsetOf } from '../../protocol/batch.js';
import type { Entry } from '../raft/log.js';

/** Bytes of cached batches across a broker's logs (64 MiB). */
export const DEFAULT_TAIL_CACHE_BYTES = 64 * 1024 * 1024;
/**
 * Appends remembered for eviction. Also a bound of its own: notes of batches that left
 * otherwise (truncated, retention) are only skipped when reached, so a broker whose cache
 * never fills would otherwise remember every append forever.
 */
const MAX_NOTES = 65_536;

/** An append, in the order appends happened: eviction drops a log's batches up to `upTo`. */
interface AppendNote {
  tail: LogTail;
  upTo: number;
}

export class TailCache {
  private bytes = 0;
  /** Appends oldest first, from `head` on (a queue without per-shift copying). */
  private notes: AppendNote[] = [];
  private head = 0;

  constructor(readonly maxBytes = DEFAULT_TAIL_CACHE_BYTES) {
    if (!(Number.isInteger(maxBytes) && maxBytes >= 0)) throw new RangeError(`the tail cache's size must be an integer >= 0, got ${maxBytes}`);
  }

  /** Bytes of batches cached now, across every log. */
  get cachedBytes(): number {
    return this.bytes;
  }

  /** A log's suffix, registered against this budget. */
  tailFor(): LogTail {
    return new LogTail(this);
  }

  /** @internal LogTail reports what it added or dropped. */
  changed(delta: number): void {
    this.bytes += delta;
  }

  /** @internal LogTail notes each append, then the budget is enforced. */
  appended(tail: LogTail, upTo: number): void {
    this.notes.push({ tail, upTo });
    while ((this.bytes > this.maxBytes || this.notes.length - this.head > MAX_NOTES) && this.head < this.notes.length) {
      const note = this.notes[this.head]!;
      this.notes[this.head++] = undefined as unknown as AppendNote;
      note.tail.dropThrough(note.upTo);
    }
    // Notes of batches already gone (truncated, dropped) are skipped above; compact now and
    // then so the queue stays proportional to what is cached.
    if (this.head > 1024 && this.head * 2 > this.notes.length) {
      this.notes = this.notes.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.notes.length) {
      this.notes = [];
      this.head = 0;
    }
  }
}

/**
 * One log's cached suffix: entries in index order, each the whole batch. Whatever it holds
 * ends at the log's last index (the log clears it on any change it cannot follow).
 */
export class LogTail {
  private entries: Entry[] = [];
  /** First live entry in `entries` (dropping from the front moves it, compaction resets it). */
  private first = 0;
  private bytes = 0;

  constructor(private readonly cache: TailCache) {}

  /** Entries just written to the end of the log. */
  add(entries: readonly Entry[]): void {
    if (entries.length === 0 || this.cache.maxBytes === 0) return;
    let added = 0;
    for (const entry of entries) {
      this.entries.push(entry);
      added += entry.data.length;
    }
    this.bytes += added;
    this.cache.changed(added);
    this.cache.appended(this, entries[entries.length - 1]!.index);
  }

  /**
   * Cached entries from the one holding `from`, while they fit in `maxBytes` (always at
   * least one) and end at or below `maxIndex`; undefined when `from` is not cached.
   */
  read(from: number, maxBytes: number, maxIndex = Infinity): Entry[] | undefined {
    const at = this.indexHolding(from);
    if (at === undefined) return undefined;
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = at; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (entry.index > maxIndex) break;
      if (out.length > 0 && bytes + entry.data.length > maxBytes) break;
      out.push(entry);
      bytes += entry.data.length;
    }
    return out;
  }

  /** Drops entries above `index` (the log was truncated after it). */
  truncateAfter(index: number): void {
    let freed = 0;
    while (this.entries.length > this.first && this.entries[this.entries.length - 1]!.index > index) freed += this.entries.pop()!.data.length;
    this.release(freed);
  }

  /** Drops entries whose last offset is at or below `index` (retention, or the budget). */
  dropThrough(index: number): void {
    let freed = 0;
    while (this.first < this.entries.length && this.entries[this.first]!.index <= index) {
      freed += this.entries[this.first]!.data.length;
      this.entries[this.first++] = undefined as unknown as Entry;
    }
    this.release(freed);
    if (this.first === this.entries.length) {
      this.entries = [];
      this.first = 0;
    } else if (this.first > 64 && this.first * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.first);
      this.first = 0;
    }
  }

  /** Drops everything (a reset, a repair, a failed write, the log closing). */
  clear(): void {
    this.release(this.bytes);
    this.entries = [];
    this.first = 0;
  }

  private release(freed: number): void {
    if (freed === 0) return;
    this.bytes -= freed;
    this.cache.changed(-freed);
  }

  /** Position of the cached entry holding offset `from` (base <= from <= index), if any. */
  private indexHolding(from: number): number | undefined {
    let lo = this.first;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.index < from) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.entries.length) return undefined;
    const entry = this.entries[lo]!;
    // The batch's base offset: it must hold `from`, and the suffix must reach back to it.
    return baseOffsetOf(entry.data) <= from ? lo : undefined;
  }
}
