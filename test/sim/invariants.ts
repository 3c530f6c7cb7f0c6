/**
 * The safety invariants of one Raft group (RAFT-NOTES.md), checked by both simulators: the
 * single-group one (cluster.ts, bare RaftNodes) and the multi-group one (multi.ts, real
 * MultiRaft instances). Every replica of the group is checked after every event that
 * touched it; the registries below span every replica and every life of the group.
 *
 * - Election Safety: one leader per term; one vote per node per term (across restarts).
 * - Leader Append-Only, Log Matching (a registry of (index, term) → rolling hash of the
 *   whole prefix, fed by every log's hasher), Leader Completeness (on every election).
 * - State Machine Safety: committed and applied entries never differ between replicas.
 * - A commit index never goes back within a life; a leader's commit is held durably by a
 *   majority of its voters (a voter recovering lost entries counts up to `recoverTo`).
 * - Durable term never decreases and a durable vote never changes within a term.
 * - Acknowledged proposals are in the committed log (ongoing and at the end).
 */
import { isRecovering, type Entry, type HardState } from '../../broker/raft/log.js';
import type { Message, Snapshot } from '../../broker/raft/types.js';
import { mix, type LogHasher, type MemoryLog } from '../../broker/raft/memory-log.js';
import type { RaftNode } from '../../broker/raft/raft.js';

/** Index before the first entry: logs start empty at offset 0, as partition logs on disk do. */
export const LOG_START = -1;

export class SimFailure extends Error {}

export function fail(msg: string): never {
  throw new SimFailure(msg);
}

/** One replica of the group as the checker sees it, with the checker's bookkeeping for its current life. */
export interface CheckedReplica {
  readonly id: number;
  readonly up: boolean;
  readonly raft: RaftNode;
  readonly log: MemoryLog<unknown>;
  /** The hard state as durably persisted (what a crash keeps). */
  readonly hard: HardState;
  /** This life's highest commit seen, and the state machine's applied index. */
  lastCommit: number;
  appliedIndex: number;
  /** Leader Append-Only bookkeeping: the term it leads in and its last entry then. */
  ledTerm: number;
  ledLast: number;
  ledHash: number;
}

/** The checker's bookkeeping for a replica starting a life on `log` (applied up to its start). */
export function freshLife(log: MemoryLog<unknown>): Pick<CheckedReplica, 'lastCommit' | 'appliedIndex' | 'ledTerm' | 'ledLast' | 'ledHash'> {
  const start = log.firstIndex() - 1;
  return { lastCommit: start, appliedIndex: start, ledTerm: 0, ledLast: LOG_START, ledHash: 0 };
}

export interface InvariantHooks {
  /** Any replica by id (undefined: never existed). */
  replica(id: number): CheckedReplica | undefined;
  /** A replica became leader of a term (after the checks); the simulator may churn it. */
  onNewLeader?(r: CheckedReplica, term: number): void;
  /** A leader's commit advanced (after the checks and the proposals it resolved). */
  onLeaderCommit?(r: CheckedReplica): void;
  /** A line for the failure trace. */
  record?(node: number, what: string): void;
}

interface Pending {
  index: number;
  term: number;
}

export class GroupInvariants {
  /** (index, term) → rolling hash of the log up to that entry, over all logs ever. */
  private readonly hashes = new Map<number, Map<number, number>>();
  private readonly leaderOfTerm = new Map<number, number>();
  /** Committed entries by index: term and hash. */
  private readonly committed = new Map<number, { term: number; hash: number }>();
  /** Per term, the highest index known committed by then (Leader Completeness checks). */
  private readonly commitByTerm: Array<{ term: number; index: number }> = [];
  private readonly appliedAt = new Map<number, number>();
  /** node * 2^32 + term → candidate it granted a vote to. */
  private readonly grants = new Map<number, number>();
  /** Proposals not yet known committed or lost. */
  readonly pending: Pending[] = [];
  private readonly acked = new Map<number, number>();
  readonly stats = { committed: 0, acked: 0, lost: 0, elections: 0 };
  /** Give every log of the group this hasher: it feeds the Log Matching registry. */
  readonly hasher: LogHasher;

  constructor(private readonly hooks: InvariantHooks) {
    this.hasher = {
      base: (index, term) => {
        if (index === LOG_START) return 0x811c9dc5;
        const h = this.hashes.get(index)?.get(term);
        if (h === undefined) fail(`snapshot boundary ${index}/${term} is not an entry of any log`);
        return h;
      },
      chain: (prev, e) => {
        const h = mix(mix(mix(prev, e.index), e.term), e.data.readUInt32BE(17));
        let byTerm = this.hashes.get(e.index);
        if (!byTerm) this.hashes.set(e.index, (byTerm = new Map()));
        const seen = byTerm.get(e.term);
        if (seen === undefined) byTerm.set(e.term, h);
        else if (seen !== h) fail(`Log Matching: two logs hold entry ${e.index}/${e.term} after different histories`);
        return h;
      },
    };
  }

  private record(node: number, what: string): void {
    this.hooks.record?.(node, what);
  }

  /** Every message sent: a node grants at most one vote per term, across restarts. */
  noteSent(m: Message): void {
    if (m.type !== 'voteResp' || m.reject) return;
    const key = m.from * 0x1_0000_0000 + m.term;
    const prev = this.grants.get(key);
    if (prev !== undefined && prev !== m.to) fail(`node ${m.from} voted for ${prev} and ${m.to} in term ${m.term}`);
    this.grants.set(key, m.to);
  }

  /** A hard state about to become durable, replacing `before`. */
  notePersisted(id: number, before: HardState, h: HardState): void {
    if (h.term < before.term) fail(`node ${id} persists term ${h.term} below its durable term ${before.term}`);
    if (h.term === before.term && before.vote !== 0 && h.vote !== before.vote) {
      fail(`node ${id} changes its durable vote in term ${h.term} from ${before.vote} to ${h.vote}`);
    }
  }

  /** A snapshot installed on a replica: it must name the committed entry at its index. */
  noteSnapshot(r: CheckedReplica, s: Snapshot): void {
    const c = this.committed.get(s.index);
    if (c && c.term !== s.term) fail(`node ${r.id} installs snapshot ${s.index}/${s.term} but ${s.index} committed in term ${c.term}`);
    if (s.index > r.appliedIndex) r.appliedIndex = s.index;
  }

  /** A committed entry applied by a replica's state machine. */
  apply(r: CheckedReplica, e: Entry): void {
    if (e.index <= r.appliedIndex) fail(`node ${r.id} applies ${e.index} after ${r.appliedIndex}`);
    // By (index, term) from the registry: the log may have been reset (snapshot) since this
    // Ready was made, and Log Matching makes (index, term) name one history.
    const h = this.hashes.get(e.index)?.get(e.term);
    const prev = this.appliedAt.get(e.index);
    if (prev === undefined) this.appliedAt.set(e.index, h!);
    else if (prev !== h) fail(`State Machine Safety: node ${r.id} applies a different entry at ${e.index}`);
    const c = this.committed.get(e.index);
    if (!c || c.term !== e.term) fail(`node ${r.id} applies ${e.index}/${e.term}, which is not the committed entry there`);
    r.appliedIndex = e.index;
  }

  /** A proposal accepted by a leader: it must end up committed or provably lost. */
  noteProposed(index: number, term: number): void {
    this.pending.push({ index, term });
  }

  /** After any input to `r`: the per-replica invariants. */
  check(r: CheckedReplica): void {
    if (!r.up) return;
    const raft = r.raft;
    const log = r.log;
    const term = raft.currentTerm;
    if (raft.currentRole === 'leader') {
      const other = this.leaderOfTerm.get(term);
      if (other === undefined) {
        this.leaderOfTerm.set(term, r.id);
        this.stats.elections++;
      } else if (other !== r.id) fail(`Election Safety: ${other} and ${r.id} both lead term ${term}`);
      if (r.ledTerm !== term) {
        // Leader Completeness: every entry committed in an earlier term is in this log. The
        // rolling hash makes checking the highest such entry enough.
        let best = LOG_START;
        for (const c of this.commitByTerm) if (c.term < term && c.index > best) best = c.index;
        if (best >= log.firstIndex()) {
          const c = this.committed.get(best)!;
          if (log.hashAt(best) !== c.hash) fail(`Leader Completeness: leader ${r.id} of term ${term} lacks committed entry ${best}/${c.term}`);
        }
        r.ledTerm = term;
        r.ledLast = log.lastIndex();
        r.ledHash = log.hashAt(r.ledLast)!;
        this.record(r.id, `becomes leader of term ${term}, log [${log.firstIndex()}, ${log.lastIndex()}]`);
        this.hooks.onNewLeader?.(r, term);
      } else {
        // Leader Append-Only.
        if (r.ledLast >= log.firstIndex() - 1 && log.hashAt(r.ledLast) !== r.ledHash) {
          fail(`Leader Append-Only: leader ${r.id} of term ${term} lost or changed entry ${r.ledLast}`);
        }
        r.ledLast = log.lastIndex();
        r.ledHash = log.hashAt(r.ledLast)!;
      }
    } else {
      r.ledTerm = 0;
    }

    const c = raft.commitIndex;
    if (c < r.lastCommit) fail(`node ${r.id}'s commit index went back from ${r.lastCommit} to ${c}`);
    if (c > r.lastCommit) {
      this.noteCommitted(r, r.lastCommit, c);
      r.lastCommit = c;
      if (raft.currentRole === 'leader') this.leaderCommitted(r, c);
    }
  }

  private noteCommitted(r: CheckedReplica, from: number, to: number): void {
    const log = r.log;
    let at = Math.max(from + 1, log.firstIndex());
    while (at <= to) {
      const batch = log.entries(at, 1 << 16);
      if (batch.length === 0) fail(`node ${r.id} commits ${to} beyond its last index ${log.lastIndex()}`);
      for (const e of batch) {
        if (e.index > to) {
          // The loop would never get past this entry: the commit index must be a boundary.
          if (at <= to) fail(`node ${r.id} commits ${to}, inside its entry ending at ${e.index}`);
          break;
        }
        const h = log.hashAt(e.index)!;
        const known = this.committed.get(e.index);
        if (!known) {
          this.committed.set(e.index, { term: e.term, hash: h });
          this.stats.committed++;
        } else if (known.term !== e.term || known.hash !== h) {
          fail(`State Machine Safety: node ${r.id} commits ${e.index}/${e.term}, but ${e.index}/${known.term} was committed`);
        }
        at = e.index + 1;
      }
    }
    if (log.termAt(to) === undefined && to >= log.firstIndex()) fail(`node ${r.id} commit ${to} is not in its log`);
    const t = r.raft.currentTerm;
    const last = this.commitByTerm[this.commitByTerm.length - 1];
    if (last && last.term === t) last.index = Math.max(last.index, to);
    else this.commitByTerm.push({ term: t, index: to });
  }

  /** A leader's commit advanced to `c`: a quorum must hold it durably; acknowledge proposals. */
  private leaderCommitted(r: CheckedReplica, c: number): void {
    const term = r.log.termAt(c);
    const voters = r.raft.members.voters;
    let durable = 0;
    for (const v of voters) {
      const other = this.hooks.replica(v);
      if (!other) continue;
      const dl = other.log;
      // A replica recovering lost entries up to c or beyond counts: it acknowledged them, and
      // it abstains from elections until it holds them again, which keeps them as safe.
      if (dl.durableTermAt(c) === term || (dl.durableLastIndex() >= c && dl.firstIndex() > c) || (isRecovering(other.hard) && other.hard.recoverTo! >= c)) durable++;
    }
    if (durable < (voters.length >> 1) + 1) {
      fail(`leader ${r.id} commits ${c} (term ${term}) but only ${durable} of ${voters.length} voters hold it durably`);
    }
    this.resolvePending(r, c);
    this.hooks.onLeaderCommit?.(r);
  }

  /**
   * Resolves proposals against a leader whose commit `c` is of its own term: acked when its
   * committed log holds them; lost when they are of an earlier term and not in it (every
   * later leader's log extends this committed prefix with entries of terms >= its term).
   */
  resolvePending(r: CheckedReplica, c: number): void {
    const lt = r.raft.currentTerm;
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i]!;
      if (p.term > lt) continue;
      if (p.index <= c) {
        const t = p.index >= r.log.firstIndex() ? r.log.termAt(p.index) : this.committed.get(p.index)?.term;
        if (t === p.term && (p.index < r.log.firstIndex() || r.log.hashAt(p.index) !== undefined)) {
          this.acked.set(p.index, p.term);
          this.stats.acked++;
        } else this.stats.lost++;
        this.pending.splice(i, 1);
      } else if (p.term < lt) {
        this.stats.lost++;
        this.pending.splice(i, 1);
      }
    }
  }

  /** At the end: every acknowledged entry is committed, and in the final leader's log. */
  finalChecks(leader: CheckedReplica | undefined): void {
    for (const [index, term] of this.acked) {
      const c = this.committed.get(index);
      if (!c || c.term !== term) fail(`acknowledged entry ${index}/${term} is not in the committed log`);
    }
    if (!leader) return;
    for (const [index, term] of this.acked) {
      if (index < leader.log.firstIndex()) continue;
      if (leader.log.termAt(index) !== term) fail(`acknowledged entry ${index}/${term} is missing from the final leader ${leader.id}`);
    }
  }

  /** The committed entry at `index` (term and prefix hash), if known. */
  committedAt(index: number): { term: number; hash: number } | undefined {
    return this.committed.get(index);
  }
}
