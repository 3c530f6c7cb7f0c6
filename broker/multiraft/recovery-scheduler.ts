/**
 * Recovery permits: how many of this broker's groups may catch one follower broker up at
 * once (Redpanda #5958, "coordinated recovery": a broker that returns after an outage is
 * otherwise hit by every group's backlog at the same moment, and drowns in reads, writes
 * and fsyncs it cannot finish before the senders time out).
 *
 * A group asks for a permit through its RecoveryGate when it has more to send a follower
 * than one message carries (see RaftNode). At most `limitPerPeer` groups hold a permit per
 * follower broker; the others wait in line, first come first served, and are resumed when a
 * permit frees. A permit goes back when the group's send reaches the end of its log, when
 * the group stops leading or is removed, or when its follower made no progress for a while
 * (so that a follower that stopped answering cannot hold the line forever; the group asks
 * again on its next heartbeat). Pure bookkeeping: the caller does the resuming.
 */
import type { RecoveryGate } from '../raft/raft.js';

interface Holder {
  /** The follower's match when last seen moving. */
  match: number;
  /** Ticks since the match last moved. */
  idleTicks: number;
}

interface PeerLine {
  holders: Map<number, Holder>;
  /** Group ids waiting for a permit, in arrival order (a Set keeps insertion order). */
  waiting: Set<number>;
}

export interface RecoveryStats {
  /** Permits held now, over all follower brokers. */
  active: number;
  /** Groups waiting for a permit now. */
  waiting: number;
  /** The most permits held at once for one follower broker since start. */
  peakPerPeer: number;
  /** The most groups waiting at once for one follower broker since start. */
  peakWaiting: number;
  /** Permits granted since start. */
  granted: number;
}

export class RecoveryScheduler {
  private readonly lines = new Map<number, PeerLine>();
  private peakPerPeer = 0;
  private peakWaiting = 0;
  private granted = 0;

  /**
   * @param limitPerPeer permits per follower broker (>= 1)
   * @param resume called when a waiting group is granted its permit: it should send now
   * @param reclaimAfterTicks a holder whose follower's match did not move for this many ticks loses its permit
   */
  constructor(
    private readonly limitPerPeer: number,
    private readonly resume: (groupId: number, peer: number) => void,
    private readonly reclaimAfterTicks: number,
  ) {
    if (!(Number.isInteger(limitPerPeer) && limitPerPeer >= 1)) throw new RangeError(`limitPerPeer must be a positive integer, got ${limitPerPeer}`);
  }

  /** The gate one group's RaftNode asks. */
  gateFor(groupId: number): RecoveryGate {
    return {
      acquire: (peer) => this.acquire(groupId, peer),
      release: (peer) => this.release(groupId, peer),
    };
  }

  acquire(groupId: number, peer: number): boolean {
    const line = this.line(peer);
    if (line.holders.has(groupId)) return true;
    // Nobody jumps the line: a free permit goes to a newcomer only when no one waits.
    if (line.holders.size < this.limitPerPeer && line.waiting.size === 0) {
      this.grant(line, groupId);
      return true;
    }
    line.waiting.add(groupId);
    if (line.waiting.size > this.peakWaiting) this.peakWaiting = line.waiting.size;
    return false;
  }

  release(groupId: number, peer: number): void {
    const line = this.lines.get(peer);
    if (!line) return;
    line.waiting.delete(groupId);
    if (!line.holders.delete(groupId)) return;
    this.grantWaiting(peer, line);
  }

  /** The group is gone (removed, or no longer led here): give back all it holds and leave every line. */
  forgetGroup(groupId: number): void {
    for (const peer of [...this.lines.keys()]) this.release(groupId, peer);
  }

  /**
   * Once per tick. `matchOf` answers the follower's match for a holder, or undefined when
   * the group no longer needs the permit (not leading, follower removed).
   */
  tick(matchOf: (groupId: number, peer: number) => number | undefined): void {
    for (const [peer, line] of this.lines) {
      for (const [groupId, holder] of [...line.holders]) {
        const match = matchOf(groupId, peer);
        if (match === undefined) {
          this.release(groupId, peer);
        } else if (match > holder.match) {
          holder.match = match;
          holder.idleTicks = 0;
        } else if (++holder.idleTicks >= this.reclaimAfterTicks) {
          this.release(groupId, peer);
        }
      }
    }
  }

  stats(): RecoveryStats {
    let active = 0;
    let waiting = 0;
    for (const line of this.lines.values()) {
      active += line.holders.size;
      waiting += line.waiting.size;
    }
    return { active, waiting, peakPerPeer: this.peakPerPeer, peakWaiting: this.peakWaiting, granted: this.granted };
  }

  private line(peer: number): PeerLine {
    let line = this.lines.get(peer);
    if (!line) {
      line = { holders: new Map(), waiting: new Set() };
      this.lines.set(peer, line);
    }
    return line;
  }

  private grant(line: PeerLine, groupId: number): void {
    line.waiting.delete(groupId);
    line.holders.set(groupId, { match: -Infinity, idleTicks: 0 });
    this.granted++;
    if (line.holders.size > this.peakPerPeer) this.peakPerPeer = line.holders.size;
  }

  private grantWaiting(peer: number, line: PeerLine): void {
    while (line.holders.size < this.limitPerPeer && line.waiting.size > 0) {
      const groupId = line.waiting.values().next().value as number;
      this.grant(line, groupId);
      this.resume(groupId, peer);
    }
  }
}
