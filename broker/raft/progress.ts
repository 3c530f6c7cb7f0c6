/**
 * What a leader knows about one follower's log (etcd's tracker/progress.go).
 *
 * Indexes are offsets (an entry's index is its batch's last offset). `match` is always an
 * entry boundary (the last offset of an entry both logs hold, durably on the follower), and
 * `next - 1` is always a boundary too: the leader sends from `next`, the entry whose base
 * offset is `next`, with prevIndex = next - 1.
 *
 * Invariant: -1 <= match < next (-1: nothing known to match; offsets begin at 0).
 *
 * States:
 * - probe: the leader does not know where the logs diverge; at most one append is in flight
 *   (probeSent) until a response or a heartbeat response arrives.
 * - replicate: the follower is known to match up to `match`; appends are pipelined, `next`
 *   advances optimistically on send, and the inflight window bounds what is outstanding.
 * - snapshot: the follower needs entries below the leader's log start; nothing is sent until
 *   it acknowledges the snapshot (match >= pendingSnapshot) or the attempt times out.
 */
import { Inflights } from './inflights.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** probe: an append is in flight; cleared by its response or a heartbeat response. */
  probeSent = false;
  /** snapshot: the snapshot's index; the follower is done once match >= it. */
  pendingSnapshot = 0;
  /** snapshot: ticks since the snapshot was sent (it is re-sent after an election timeout). */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round (any message counts). */
  recentActive = true;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMsgs: number, maxInflightBytes = 0) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the snapshot: probe right after it.
    this.next = this.state === 'snapshot' ? Math.max(this.match, this.pendingSnapshot) + 1 : this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /**
   * The follower shows that it holds no more than `last` < match (a heartbeat answered with
   * a shorter log, or an append refused at or below match): it lost acknowledged entries
   * (storage cut a corrupt tail). Counting it up to match would commit entries it no longer
   * holds. The only place match goes down; back to probing from there. On a stale refusal
   * (a duplicated or overtaken answer) this costs one probe, never safety.
   */
  lostEntriesAfter(last: number): void {
    this.match = Math.min(this.match, last);
    this.state = 'probe';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /**
   * An acknowledgement that the follower holds everything up to `index` (a boundary).
   * Returns false for a stale acknowledgement (nothing new).
   */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      this.probeSent = false;
      updated = true;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * A rejection of the append whose prevIndex was `rejected`. `newPrev` is the boundary the
   * leader chose to probe next (from the follower's hint; newPrev < rejected). Returns false
   * when the rejection is stale: in replicate, one at or below match (an old message); in
   * probe or snapshot, one that is not for the append last sent (next - 1).
   */
  maybeDecrTo(rejected: number, newPrev: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = Math.max(Math.min(newPrev, rejected - 1), this.match) + 1;
      this.state = 'probe';
      this.probeSent = false;
      this.inflights.reset();
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(newPrev, rejected - 1), this.match) + 1;
    this.probeSent = false;
    return true;
  }

  /** Records an append sent from `next` whose last entry is `lastIndex` (0 entries: lastIndex = next - 1). */
  sentEntries(lastIndex: number, bytes: number, entries: number): void {
    if (this.state === 'replicate') {
      if (entries > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** True when the leader should not send appends to this follower now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
