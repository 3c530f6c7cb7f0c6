/**
 * Proposals waiting for their entry to commit, shared by partitions (acks=all) and the
 * controller (metadata commands). A proposal made at (index, term) succeeded exactly when
 * the entry applied at `index` has that `term`; if the applied log passes `index` with a
 * different entry there, the proposal was overwritten by a later leader and is lost.
 * It is lost too as soon as an entry of a later term is applied at or below `index`:
 * every future leader holds that committed entry (Leader Completeness) and terms never
 * decrease along a log, so no future leader's log can hold the proposal after it. Without
 * this, a write cut from a log that then stays shorter waited for its timeout.
 * Losing leadership alone decides nothing: the entry may still commit under the next
 * leader, and then this broker applies it as a follower and the proposal succeeds.
 */
import { FlotillaError } from '../../protocol/errors.js';
import type { Entry } from '../raft/log.js';

interface Waiter {
  index: number;
  term: number;
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | null;
}

export class CommitWaiter {
  /** Ascending by index. */
  private waiters: Waiter[] = [];

  wait(index: number, term: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { index, term, resolve, reject, timer: null };
      if (timeoutMs > 0) {
        waiter.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new FlotillaError('TIMEOUT', `the write at offset ${index} was not committed within ${timeoutMs} ms; it may still commit`));
        }, timeoutMs);
      }
      // Usually appended in order; a retried duplicate may wait on an earlier index.
      let at = this.waiters.length;
      while (at > 0 && this.waiters[at - 1]!.index > index) at--;
      this.waiters.splice(at, 0, waiter);
    });
  }

  get size(): number {
    return this.waiters.length;
  }

  /** Settles the waiters that `entries` (applied in order) decide. */
  onApplied(entries: readonly Entry[]): void {
    if (this.waiters.length === 0 || entries.length === 0) return;
    const last = entries[entries.length - 1]!.index;
    let settled = 0;
    let e = 0;
    for (const waiter of this.waiters) {
      if (waiter.index > last) break;
      while (e < entries.length && entries[e]!.index < waiter.index) e++;
      const entry = entries[e];
      settled++;
      if (waiter.timer) clearTimeout(waiter.timer);
      if (entry && entry.index === waiter.index && entry.term === waiter.term) waiter.resolve();
      else waiter.reject(overwritten(waiter.index));
    }
    if (settled > 0) this.waiters = this.waiters.slice(settled);
    // The rest wait beyond the applied log; a later term applied below them decides them.
    const newestTerm = entries[entries.length - 1]!.term;
    if (this.waiters.length > 0 && this.waiters[0]!.term < newestTerm) {
      this.failWhere((w) => w.term < newestTerm, (w) => overwritten(w.index));
    }
  }

  /** A snapshot jumped the applied index to `index`: waiters at or below it are undecidable. */
  onSkipped(index: number): void {
    this.failWhere((w) => w.index <= index, () => new FlotillaError('TIMEOUT', 'the replica was reset from a snapshot; the outcome of the write is unknown'));
  }

  failAll(error: FlotillaError): void {
    this.failWhere(() => true, () => error);
  }

  private failWhere(match: (w: Waiter) => boolean, error: (w: Waiter) => FlotillaError): void {
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (!match(w)) {
        keep.push(w);
        continue;
      }
      if (w.timer) clearTimeout(w.timer);
      w.reject(error(w));
    }
    this.waiters = keep;
  }
}

function overwritten(index: number): FlotillaError {
  return new FlotillaError('LEADER_NOT_AVAILABLE', `leadership changed and the write at offset ${index} was overwritten; it was not stored`);
}
