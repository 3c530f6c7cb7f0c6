/**
 * The deterministic simulator: one Raft group of 3 or 5 nodes (sometimes with a learner)
 * on simulated time and a simulated network, driven by one seeded generator. It injects
 * drops, duplicates, delays and reordering, symmetric and asymmetric partitions, crashes
 * that lose un-synced writes (a random prefix, the last possibly torn), restarts, pauses and
 * slow syncs, while clients propose batches, the operator transfers leadership and changes
 * membership one server at a time, and retention moves log starts (forcing snapshots).
 *
 * After every event it checks the invariants of RAFT-NOTES.md; after the fault phase it
 * heals everything and requires a leader and every proposal resolved within a bound.
 *
 * Time: one tick is TICK units; messages take 1..maxDelay units; each node ticks on its own
 * period (skew) so that timers drift apart.
 */
import { buildBatch } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import { isRecovering, lostEntriesHardState, type Entry, type HardState } from '../../broker/raft/log.js';
import type { Message } from '../../broker/raft/types.js';
import { MemoryLog, mix, type LogHasher } from '../../broker/raft/memory-log.js';
import type { Membership } from '../../broker/raft/membership.js';
import { RaftNode, type Ready, type RecoveryGate } from '../../broker/raft/raft.js';
import { Rng } from './prng.js';

/** Index before the first entry: logs start empty at offset 0, as partition logs on disk do. */
const LOG_START = -1;

export const TICK = 10;

export interface SimOptions {
  seed: number;
  nodes: number;
  learner: boolean;
  electionTicks: number;
  heartbeatTicks: number;
  faultTicks: number;
  dropRate: number;
  dupRate: number;
  /** Message delay upper bound, in units (a tick is 10). */
  maxDelay: number;
  /** Per tick: chance to start a partition (when none is active). */
  partitionRate: number;
  crashRate: number;
  pauseRate: number;
  /** Chance that one Ready's sync takes a while, and how long at most (units). */
  slowSyncRate: number;
  maxSyncDelay: number;
  /** Chance of a crash right after a sync, before the messages that waited for it leave. */
  crashAfterSyncRate: number;
  /** Per tick: expected proposals. */
  proposalRate: number;
  transferRate: number;
  membershipRate: number;
  compactionRate: number;
  tickSkew: boolean;
  maxInflightMsgs: number;
  maxBytesPerMsg: number;
  maxUncommittedBytes: number;
  /**
   * Links deliver in send order (a TCP connection: drops still leave gaps). Otherwise any
   * message may overtake another, which etcd-style flow control tolerates only slowly (each
   * overtaking append is refused and the follower is probed again), so those seeds send
   * at least ~10 entries per message.
   */
  fifo: boolean;
  /** Share of crashes and partitions aimed at the current leader (leader churn mid-replication: Figure 8). */
  leaderFaults: number;
  /**
   * Leader churn (Figure 8): the chance that a newly elected leader is cut off from the
   * network (alone, or with one peer it still reaches) or crashed, either a few message
   * delays after its election (its no-op and first entries still in flight) or the moment
   * its commit index first moves (before followers learn of it); often the node cut off
   * before it comes back at that moment (the partition moves). Terms then leave divergent
   * tails on minorities, an earlier leader returns and re-replicates entries of its old
   * term under a new one, dies, and a node with a conflicting later-term tail wins: the
   * interleaving of the paper's Figure 8, which random faults alone almost never produce.
   */
  leaderChurn: number;
  /**
   * Recovery permits (undefined: no gate). A leader sending a backlog to a follower asks
   * for a permit, which is granted at once with this chance; refused ones are granted on
   * later ticks, and held ones are now and then taken back (as the broker reclaims idle
   * permits).
   */
  recoveryGrantRate?: number;
  /**
   * Per tick: chance that the disk loses acknowledged entries. The victim (often the
   * follower whose acknowledgement the leader just counted, the leader then churned) is
   * crashed, and at its restart storage cuts a suffix of its durable log; it comes back
   * recovering up to its old last index. Only one replica recovers at a time, so a majority
   * of the others is always intact (Raft survives the loss on a minority that knows of it,
   * not on a majority).
   */
  diskLossRate?: number;
  /** Mutation check: recovering replicas vote and campaign anyway (the rule is off). */
  mutateRecovery?: boolean;
}

/** Everything a seed chooses, from the seed alone (printed on replay). */
export function chooseOptions(seed: number): SimOptions {
  const o = pickOptions(seed);
  if (!o.fifo && o.maxBytesPerMsg < 1024) o.maxBytesPerMsg = 1024;
  // One entry per message: keep the backlog small enough to drain within the liveness bound.
  if (o.maxBytesPerMsg < 1024) {
    o.maxUncommittedBytes = 8 << 10;
    o.maxInflightMsgs = Math.max(o.maxInflightMsgs, 8);
  }
  return o;
}

function pickOptions(seed: number): SimOptions {
  const r = new Rng(seed ^ 0x5eed);
  const calm = r.chance(0.15);
  const o: SimOptions = {
    seed,
    nodes: r.chance(0.5) ? 3 : 5,
    learner: r.chance(0.3),
    electionTicks: 10,
    heartbeatTicks: r.chance(0.7) ? 1 : 2,
    faultTicks: r.range(200, 500),
    dropRate: calm ? 0 : r.pick([0, 0.01, 0.05, 0.15]),
    dupRate: r.pick([0, 0.02, 0.1]),
    maxDelay: r.pick([2, 10, 30]),
    partitionRate: calm ? 0 : r.pick([0, 0.01, 0.03]),
    crashRate: calm ? 0 : r.pick([0, 0.005, 0.02]),
    pauseRate: calm ? 0 : r.pick([0, 0.005, 0.02]),
    slowSyncRate: r.pick([0, 0.1, 0.5]),
    maxSyncDelay: r.pick([5, 20, 60]),
    crashAfterSyncRate: calm ? 0 : r.pick([0, 0.002]),
    proposalRate: r.pick([0.2, 1, 3]),
    transferRate: r.pick([0, 0, 0.005, 0.02]),
    membershipRate: r.pick([0, 0.01, 0.03]),
    compactionRate: r.pick([0, 0.01, 0.05]),
    tickSkew: r.chance(0.5),
    maxInflightMsgs: r.pick([2, 8, 64]),
    fifo: r.chance(0.6),
    maxBytesPerMsg: r.pick([1, 1024, 8192, 1 << 20]),
    leaderFaults: calm ? 0 : r.pick([0, 0.5, 0.9]),
    maxUncommittedBytes: r.pick([8 << 10, 64 << 10]),
    // Drawn last so that seeds without churn keep every earlier choice.
    leaderChurn: !calm && r.chance(0.4) ? r.pick([0.8, 1]) : 0,
  };
  // Churn seeds: mostly small messages, so that a returning leader re-replicates its old
  // tail over several messages (the span in which it may die having counted part of it).
  if (o.leaderChurn > 0 && r.chance(0.7)) o.maxBytesPerMsg = r.pick([1, 1024]);
  // Drawn after everything else, so that seeds without the gate keep their earlier choices.
  if (r.chance(0.3)) o.recoveryGrantRate = r.pick([0, 0.2, 0.7]);
  // Drawn after everything else, so that seeds without lost entries keep their earlier runs.
  if (!calm && r.chance(0.25)) o.diskLossRate = r.pick([0.005, 0.02]);
  return o;
}

export class SimFailure extends Error {}

/**
 * A stingy recovery gate: refuses permits at random and grants them on later ticks, the
 * way the broker's scheduler makes groups wait their turn. Safety must not notice; liveness
 * must survive (every refused group is eventually granted).
 */
class SimRecoveryGate implements RecoveryGate {
  private readonly held = new Set<number>();
  private readonly waiting = new Set<number>();

  constructor(
    private readonly rng: Rng,
    private readonly grantRate: number,
  ) {}

  acquire(peer: number): boolean {
    if (this.held.has(peer)) return true;
    if (this.rng.chance(this.grantRate)) {
      this.held.add(peer);
      this.waiting.delete(peer);
      return true;
    }
    this.waiting.add(peer);
    return false;
  }

  release(peer: number): void {
    this.held.delete(peer);
  }

  /** Once per tick: grant some waiting peers (resuming their replication), reclaim some held permits. */
  tick(raft: RaftNode): void {
    for (const peer of [...this.waiting]) {
      if (!this.rng.chance(0.3)) continue;
      this.waiting.delete(peer);
      this.held.add(peer);
      raft.resumeReplication(peer);
    }
    for (const peer of [...this.held]) if (this.rng.chance(0.02)) this.held.delete(peer);
  }
}

interface StartMeta {
  membership: Membership;
}

interface SimNode {
  id: number;
  up: boolean;
  raft: RaftNode;
  log: MemoryLog<StartMeta>;
  /** Hard state as persisted by the driver (survives crashes). */
  hard: HardState;
  life: number;
  tickPeriod: number;
  nextTickAt: number;
  restartAt: number;
  pausedUntil: number;
  syncing?: { rd: Ready; doneAt: number };
  /** This life's highest commit seen, and the state machine's applied index. */
  lastCommit: number;
  appliedIndex: number;
  /** Leader Append-Only bookkeeping: the term it leads in and its last entry then. */
  ledTerm: number;
  ledLast: number;
  ledHash: number;
  /** This life's recovery gate, when the seed uses one. */
  gate?: SimRecoveryGate;
  /** Crashed by the lost-entries fault: storage cuts its durable log when it restarts. */
  loseOnRestart?: boolean;
}

interface Pending {
  index: number;
  term: number;
}

interface TraceEvent {
  t: number;
  node: number;
  what: string;
  m?: Message;
}

function describe(m: Message): string {
  const base = `${m.type} ${m.from}→${m.to} t${m.term}`;
  switch (m.type) {
    case 'append':
      return `${base} prev ${m.prevIndex}/${m.prevTerm} ents ${m.entries?.length ? `[${m.entries[0]!.index}..${m.entries[m.entries.length - 1]!.index}]` : '[]'} commit ${m.commit}`;
    case 'appendResp':
      return `${base} ${m.reject ? `REJECT ${m.index} hint ${m.rejectHint}/${m.conflictTerm}` : `ok ${m.index ?? ''}`}`;
    case 'vote':
    case 'preVote':
      return `${base} last ${m.lastIndex}/${m.lastTerm}${m.transfer ? ' transfer' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${base} ${m.reject ? 'reject' : 'grant'}`;
    case 'heartbeat':
      return `${base} commit ${m.commit}`;
    case 'snapshot':
      return `${base} @${m.snapshot?.index}/${m.snapshot?.term}`;
    default:
      return base;
  }
}

export interface SimResult {
  ok: boolean;
  seed: number;
  error?: string;
  trace: string[];
  stats: { ticks: number; committed: number; acked: number; lost: number; elections: number; crashes: number; snapshots: number; messages: number; diskLosses: number; recovered: number };
}

/** A min-heap of messages by delivery time (ties by send order). */
class MessageQueue {
  private at: number[] = [];
  private seq: number[] = [];
  private msgs: Message[] = [];
  private n = 0;
  private counter = 0;

  get size(): number {
    return this.n;
  }
  peekAt(): number {
    return this.n > 0 ? this.at[0]! : Infinity;
  }
  push(at: number, m: Message): void {
    let i = this.n++;
    const s = this.counter++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.at[p]! < at || (this.at[p] === at && this.seq[p]! < s)) break;
      this.at[i] = this.at[p]!;
      this.seq[i] = this.seq[p]!;
      this.msgs[i] = this.msgs[p]!;
      i = p;
    }
    this.at[i] = at;
    this.seq[i] = s;
    this.msgs[i] = m;
  }
  pop(): Message {
    const top = this.msgs[0]!;
    const n = --this.n;
    const at = this.at[n]!;
    const s = this.seq[n]!;
    const m = this.msgs[n]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (this.at[r]! < this.at[l]! || (this.at[r] === this.at[l] && this.seq[r]! < this.seq[l]!)) ? r : l;
      if (at < this.at[c]! || (at === this.at[c] && s < this.seq[c]!)) break;
      this.at[i] = this.at[c]!;
      this.seq[i] = this.seq[c]!;
      this.msgs[i] = this.msgs[c]!;
      i = c;
    }
    this.at[i] = at;
    this.seq[i] = s;
    this.msgs[i] = m;
    this.msgs.length = n;
    this.at.length = n;
    this.seq.length = n;
    return top;
  }
}

export class Simulation {
  readonly opts: SimOptions;
  private readonly rng: Rng;
  private now = 0;
  private readonly nodes = new Map<number, SimNode>();
  private readonly queue = new MessageQueue();
  private readonly blocked = new Set<number>();
  /** FIFO links: the latest delivery time scheduled per link. */
  private readonly linkClock = new Map<number, number>();
  private partitionUntil = 0;
  /** Nodes cut off by leader churn: every link to or from them drops, except to `peer`. */
  private readonly cutOff = new Map<number, { until: number; peer: number }>();
  private readonly churn: Array<{ id: number; term: number; at: number }> = [];
  private nextId: number;
  private initial: Membership;
  private faults = true;

  // Invariant state ----------------------------------------------------------------------
  /** (index, term) → rolling hash of the log up to that entry, over all logs ever. */
  private readonly hashes = new Map<number, Map<number, number>>();
  private readonly leaderOfTerm = new Map<number, number>();
  /** Committed entries by index: term, hash, and the term in which it was first seen committed. */
  private readonly committed = new Map<number, { term: number; hash: number }>();
  /** Per term, the highest index known committed by then (Leader Completeness checks). */
  private readonly commitByTerm: Array<{ term: number; index: number }> = [];
  private readonly appliedAt = new Map<number, number>();
  /** node * 2^32 + term → candidate it granted a vote to. */
  private readonly grants = new Map<number, number>();
  private readonly pending: Pending[] = [];
  private readonly acked = new Map<number, number>();
  private readonly trace: TraceEvent[] = [];
  private stats = { ticks: 0, committed: 0, acked: 0, lost: 0, elections: 0, crashes: 0, snapshots: 0, messages: 0, diskLosses: 0, recovered: 0 };
  /** The follower whose acknowledgement a leader counted last, and when (the lost-entries fault aims at it). */
  private lastAck = { id: 0, at: -Infinity };
  private membershipGoal: 'addLearner' | 'promote' | 'remove' = 'addLearner';
  private readonly hasher: LogHasher;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.rng = new Rng(opts.seed);
    const voters = Array.from({ length: opts.nodes }, (_, i) => i + 1);
    const learners = opts.learner ? [opts.nodes + 1] : [];
    this.initial = { voters, learners };
    this.nextId = opts.nodes + (opts.learner ? 2 : 1);
    this.hasher = {
      base: (index, term) => {
        if (index === LOG_START) return 0x811c9dc5;
        const h = this.hashes.get(index)?.get(term);
        if (h === undefined) this.fail(`snapshot boundary ${index}/${term} is not an entry of any log`);
        return h!;
      },
      chain: (prev, e) => {
        const h = mix(mix(mix(prev, e.index), e.term), e.data.readUInt32BE(17));
        let byTerm = this.hashes.get(e.index);
        if (!byTerm) this.hashes.set(e.index, (byTerm = new Map()));
        const seen = byTerm.get(e.term);
        if (seen === undefined) byTerm.set(e.term, h);
        else if (seen !== h) this.fail(`Log Matching: two logs hold entry ${e.index}/${e.term} after different histories`);
        return h;
      },
    };
    for (const id of [...voters, ...learners]) this.spawn(id, this.initial);
  }

  // ---------------------------------------------------------------------------------------
  // Nodes

  private spawn(id: number, membership: Membership): SimNode {
    // Logs start empty at offset 0, as partition logs on disk do (the first entry is offset 0).
    const log = new MemoryLog<StartMeta>(this.hasher, { index: LOG_START, term: 0, meta: { membership } });
    const period = this.opts.tickSkew ? this.rng.range(TICK - 2, TICK + 2) : TICK;
    const node = {
      id,
      up: true,
      log,
      hard: { term: 0, vote: 0 },
      life: 0,
      tickPeriod: period,
      nextTickAt: this.now + this.rng.int(period) + 1,
      restartAt: 0,
      pausedUntil: 0,
      lastCommit: LOG_START,
      appliedIndex: LOG_START,
      ledTerm: 0,
      ledLast: LOG_START,
      ledHash: 0,
    } as SimNode;
    node.raft = this.makeRaft(node);
    this.nodes.set(id, node);
    return node;
  }

  private makeRaft(n: SimNode): RaftNode {
    const meta = n.log.startMeta();
    const start = n.log.firstIndex() - 1;
    n.lastCommit = start;
    n.appliedIndex = start;
    n.gate = this.opts.recoveryGrantRate !== undefined ? new SimRecoveryGate(this.rng.fork(), this.opts.recoveryGrantRate) : undefined;
    return new RaftNode({
      id: n.id,
      log: n.log,
      hardState: n.hard,
      voters: meta?.membership.voters ?? [],
      learners: meta?.membership.learners ?? [],
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      maxInflightMsgs: this.opts.maxInflightMsgs,
      maxBytesPerMsg: this.opts.maxBytesPerMsg,
      maxUncommittedBytes: this.opts.maxUncommittedBytes,
      random: this.rng.fork().next,
      applied: start,
      snapshot: () => ({ index: n.appliedIndex, data: Buffer.from(String(n.appliedIndex)) }),
      recovery: n.gate,
      testOnlyVoteWhileRecovering: this.opts.mutateRecovery,
    });
  }

  private crash(n: SimNode, why: string): void {
    const { log, kept, pending, torn } = n.log.crash(this.rng.next);
    this.record(n.id, `CRASH (${why}): kept ${kept}/${pending} un-synced ops${torn ? ', last torn' : ''}; durable term ${n.hard.term} vote ${n.hard.vote}; log [${log.firstIndex()}, ${log.lastIndex()}]`);
    n.up = false;
    n.log = log;
    n.syncing = undefined;
    n.life++;
    n.ledTerm = 0;
    this.stats.crashes++;
  }

  private restart(n: SimNode): void {
    if (n.loseOnRestart) {
      n.loseOnRestart = false;
      if (this.mayLoseEntries(n)) this.loseEntries(n);
    }
    n.up = true;
    n.pausedUntil = 0;
    n.raft = this.makeRaft(n);
    n.nextTickAt = this.now + 1 + this.rng.int(n.tickPeriod);
    this.record(n.id, `restart: term ${n.hard.term} vote ${n.hard.vote} log [${n.log.firstIndex()}, ${n.log.lastIndex()}]`);
  }

  /**
   * One replica recovers at a time: a majority of the others must hold what they
   * acknowledged. And not while the nodes' logs disagree on the voters (a membership change
   * in flight): a recovering voter then counts as down, and with divergent uncommitted
   * configurations a group with one voter down can be left with no electable candidate
   * (seed 19036), as in plain Raft with a voter down for good.
   */
  private mayLoseEntries(n: SimNode): boolean {
    const voters = n.raft.members.voters.join();
    for (const o of this.nodes.values()) {
      if (o !== n && isRecovering(o.hard)) return false;
      if (o.raft.members.voters.join() !== voters) return false;
    }
    return true;
  }

  /**
   * Storage cuts a suffix of the durable log (a corrupt batch found at open): entries the
   * node synced and may have acknowledged. Mostly the last few entries (what it acknowledged
   * last), sometimes anything down to the log start. It restarts recovering up to its old
   * last index, as the broker persists it before recreating the group.
   */
  private loseEntries(n: SimNode): void {
    const log = n.log;
    const last = log.lastIndex();
    if (last < log.firstIndex()) return;
    const ents = log.entries(log.firstIndex(), Number.MAX_SAFE_INTEGER);
    const bounds = [log.firstIndex() - 1, ...ents.map((e) => e.index)];
    const lose = this.rng.chance(0.6) ? this.rng.range(1, 3) : this.rng.range(1, bounds.length - 1);
    const cut = bounds[Math.max(0, bounds.length - 1 - lose)]!;
    log.truncateAfter(cut);
    log.sync();
    n.hard = lostEntriesHardState(n.hard, last);
    this.stats.diskLosses++;
    this.record(n.id, `DISK LOSS: log cut to ${cut} (was ${last}); recovering up to ${last}`);
  }

  /**
   * The lost-entries fault: crash a node (often the follower whose acknowledgement the leader
   * just counted) whose disk will lose entries at its restart, and often churn the leader so
   * that the entries it committed with that acknowledgement are at risk.
   */
  private diskLoss(): void {
    const leader = this.leader();
    const ups = this.upNodes();
    const acked = this.nodes.get(this.lastAck.id);
    const victim = acked && acked.up && this.lastAck.at >= this.now - 3 * TICK && this.rng.chance(0.7) ? acked : ups.length ? this.rng.pick(ups) : undefined;
    if (!victim || !this.mayLoseEntries(victim)) return;
    this.crash(victim, 'its disk will lose entries');
    victim.loseOnRestart = true;
    victim.restartAt = this.now + this.rng.range(1, 30) * TICK;
    if (leader && leader !== victim && leader.up && this.rng.chance(0.7)) {
      if (this.rng.chance(0.5)) {
        this.crash(leader, 'leader churn after a disk loss');
        leader.restartAt = this.now + this.rng.range(5, 60) * TICK;
      } else {
        const until = this.now + this.rng.range(12, 60) * TICK;
        this.cutOff.set(leader.id, { until, peer: 0 });
        this.record(leader.id, `leader churn after a disk loss: cut off until ${(until / TICK).toFixed(1)}`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Network

  private linkKey(from: number, to: number): number {
    return from * 1024 + to;
  }

  private send(m: Message): void {
    if (m.type === 'voteResp' && !m.reject) {
      const key = m.from * 0x1_0000_0000 + m.term;
      const prev = this.grants.get(key);
      if (prev !== undefined && prev !== m.to) this.fail(`node ${m.from} voted for ${prev} and ${m.to} in term ${m.term}`);
      this.grants.set(key, m.to);
    }
    this.stats.messages++;
    if (this.faults && this.rng.chance(this.opts.dropRate)) return;
    const copies = this.faults && this.rng.chance(this.opts.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // Mostly short delays; sometimes a long one, which reorders.
      const delay = this.rng.chance(0.05) ? this.rng.range(1, this.opts.maxDelay * 4) : this.rng.range(1, this.opts.maxDelay);
      let at = this.now + delay;
      if (this.opts.fifo) {
        const key = this.linkKey(m.from, m.to);
        at = Math.max(at, this.linkClock.get(key) ?? 0);
        this.linkClock.set(key, at);
      }
      this.queue.push(at, m);
    }
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (!n || !n.up) return;
    if (this.blocked.has(this.linkKey(m.from, m.to)) || this.isCutOff(m.from, m.to) || this.isCutOff(m.to, m.from)) return;
    if (n.pausedUntil > this.now) {
      this.queue.push(n.pausedUntil, m);
      return;
    }
    this.record(n.id, '', m);
    if (m.type === 'appendResp' && !m.reject && n.raft.currentRole === 'leader') this.lastAck = { id: m.from, at: this.now };
    n.raft.step(m);
    this.after(n);
  }

  // ---------------------------------------------------------------------------------------
  // The driver loop (README: persist, send, apply, advance)

  private pump(n: SimNode): void {
    while (n.up && !n.syncing && n.pausedUntil <= this.now && n.raft.hasReady()) {
      // A leader's commit may have advanced inside advance(): record it before applying.
      this.check(n);
      const rd = n.raft.ready();
      for (const m of rd.messages) this.send(m);
      if (this.faults && rd.mustSync && this.rng.chance(this.opts.slowSyncRate)) {
        n.syncing = { rd, doneAt: this.now + this.rng.range(1, this.opts.maxSyncDelay) };
        return;
      }
      this.finishReady(n, rd);
    }
  }

  private finishReady(n: SimNode, rd: Ready): void {
    if (rd.hardState) {
      const h = rd.hardState;
      if (h.term < n.hard.term) this.fail(`node ${n.id} persists term ${h.term} below its durable term ${n.hard.term}`);
      if (h.term === n.hard.term && n.hard.vote !== 0 && h.vote !== n.hard.vote) {
        this.fail(`node ${n.id} changes its durable vote in term ${h.term} from ${n.hard.vote} to ${h.vote}`);
      }
      if (isRecovering(n.hard) && !isRecovering(h)) {
        this.stats.recovered++;
        this.record(n.id, `recovered (was recovering up to ${n.hard.recoverTo}; log [${n.log.firstIndex()}, ${n.log.lastIndex()}])`);
      }
      n.hard = h;
    }
    if (rd.snapshot) {
      const s = rd.snapshot;
      // The membership at the new log start is recorded atomically with the reset.
      n.log.setStartMeta({ membership: { voters: s.voters, learners: s.learners } });
    }
    if (rd.mustSync) n.log.sync();
    if (this.faults && this.rng.chance(this.opts.crashAfterSyncRate)) {
      this.crash(n, 'after sync, before send');
      n.restartAt = this.now + this.rng.range(1, 50) * TICK;
      return;
    }
    for (const m of rd.messagesAfterSync) this.send(m);
    if (rd.snapshot) {
      const s = rd.snapshot;
      this.stats.snapshots++;
      const c = this.committed.get(s.index);
      if (c && c.term !== s.term) this.fail(`node ${n.id} installs snapshot ${s.index}/${s.term} but ${s.index} committed in term ${c.term}`);
      if (s.index > n.appliedIndex) n.appliedIndex = s.index;
      this.record(n.id, `install snapshot @${s.index}/${s.term}`);
    }
    for (const e of rd.committed) this.apply(n, e);
    n.raft.advance(rd);
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index <= n.appliedIndex) this.fail(`node ${n.id} applies ${e.index} after ${n.appliedIndex}`);
    // By (index, term) from the registry: the log may have been reset (snapshot) since this
    // Ready was made, and Log Matching makes (index, term) name one history.
    const h = this.hashes.get(e.index)?.get(e.term);
    const prev = this.appliedAt.get(e.index);
    if (prev === undefined) this.appliedAt.set(e.index, h!);
    else if (prev !== h) this.fail(`State Machine Safety: node ${n.id} applies a different entry at ${e.index}`);
    const c = this.committed.get(e.index);
    if (!c || c.term !== e.term) this.fail(`node ${n.id} applies ${e.index}/${e.term}, which is not the committed entry there`);
    n.appliedIndex = e.index;
  }

  /** After any input to `n`: check, drive its Ready, check again. */
  private after(n: SimNode): void {
    this.check(n);
    this.pump(n);
    if (n.up) this.check(n);
  }

  // ---------------------------------------------------------------------------------------
  // Invariants

  fail(msg: string): never {
    throw new SimFailure(msg);
  }

  private check(n: SimNode): void {
    if (!n.up) return;
    const r = n.raft;
    const log = n.log;
    const term = r.currentTerm;
    if (r.currentRole === 'leader') {
      const other = this.leaderOfTerm.get(term);
      if (other === undefined) {
        this.leaderOfTerm.set(term, n.id);
        this.stats.elections++;
      } else if (other !== n.id) this.fail(`Election Safety: ${other} and ${n.id} both lead term ${term}`);
      if (n.ledTerm !== term) {
        // Leader Completeness: every entry committed in an earlier term is in this log. The
        // rolling hash makes checking the highest such entry enough.
        let best = LOG_START;
        for (const c of this.commitByTerm) if (c.term < term && c.index > best) best = c.index;
        if (best >= log.firstIndex()) {
          const c = this.committed.get(best)!;
          if (log.hashAt(best) !== c.hash) this.fail(`Leader Completeness: leader ${n.id} of term ${term} lacks committed entry ${best}/${c.term}`);
        }
        n.ledTerm = term;
        n.ledLast = log.lastIndex();
        n.ledHash = log.hashAt(n.ledLast)!;
        this.record(n.id, `becomes leader of term ${term}, log [${log.firstIndex()}, ${log.lastIndex()}]`);
        if (this.faults && this.rng.chance(this.opts.leaderChurn)) {
          // Either within a few message delays (before or while its first entries replicate),
          // or the moment its commit index first moves (before followers learn of it).
          const at = this.rng.chance(0.7) ? Infinity : this.now + (this.rng.chance(0.3) ? 0 : this.rng.range(1, 6 * this.opts.maxDelay));
          this.churn.push({ id: n.id, term, at });
        }
      } else {
        // Leader Append-Only.
        if (n.ledLast >= log.firstIndex() - 1 && log.hashAt(n.ledLast) !== n.ledHash) {
          this.fail(`Leader Append-Only: leader ${n.id} of term ${term} lost or changed entry ${n.ledLast}`);
        }
        n.ledLast = log.lastIndex();
        n.ledHash = log.hashAt(n.ledLast)!;
      }
    } else {
      n.ledTerm = 0;
    }

    const c = r.commitIndex;
    if (c < n.lastCommit) this.fail(`node ${n.id}'s commit index went back from ${n.lastCommit} to ${c}`);
    if (c > n.lastCommit) {
      this.noteCommitted(n, n.lastCommit, c);
      n.lastCommit = c;
      if (r.currentRole === 'leader') this.leaderCommitted(n, c);
    }
  }

  private noteCommitted(n: SimNode, from: number, to: number): void {
    const log = n.log;
    let at = Math.max(from + 1, log.firstIndex());
    while (at <= to) {
      const batch = log.entries(at, 1 << 16);
      if (batch.length === 0) this.fail(`node ${n.id} commits ${to} beyond its last index ${log.lastIndex()}`);
      for (const e of batch) {
        if (e.index > to) break;
        const h = log.hashAt(e.index)!;
        const known = this.committed.get(e.index);
        if (!known) {
          this.committed.set(e.index, { term: e.term, hash: h });
          this.stats.committed++;
        } else if (known.term !== e.term || known.hash !== h) {
          this.fail(`State Machine Safety: node ${n.id} commits ${e.index}/${e.term}, but ${e.index}/${known.term} was committed`);
        }
        at = e.index + 1;
      }
    }
    if (log.termAt(to) === undefined && to >= log.firstIndex()) this.fail(`node ${n.id} commit ${to} is not in its log`);
    const t = n.raft.currentTerm;
    const last = this.commitByTerm[this.commitByTerm.length - 1];
    if (last && last.term === t) last.index = Math.max(last.index, to);
    else this.commitByTerm.push({ term: t, index: to });
  }

  /** A leader's commit advanced to `c`: a quorum must hold it durably; acknowledge proposals. */
  private leaderCommitted(n: SimNode, c: number): void {
    const r = n.raft;
    const term = n.log.termAt(c);
    const voters = r.members.voters;
    let durable = 0;
    for (const v of voters) {
      const other = this.nodes.get(v);
      if (!other) continue;
      const dl = other.log;
      // A replica recovering lost entries up to c or beyond counts: it acknowledged them, and
      // it abstains from elections until it holds them again, which keeps them as safe.
      if (dl.durableTermAt(c) === term || (dl.durableLastIndex() >= c && dl.firstIndex() > c) || (isRecovering(other.hard) && other.hard.recoverTo! >= c)) durable++;
    }
    if (durable < (voters.length >> 1) + 1) {
      this.fail(`leader ${n.id} commits ${c} (term ${term}) but only ${durable} of ${voters.length} voters hold it durably`);
    }
    this.resolvePending(n, c);
    for (const ch of this.churn) {
      if (ch.at === Infinity && ch.id === n.id && ch.term === r.currentTerm) ch.at = this.now + (this.rng.chance(0.5) ? 0 : this.rng.int(this.opts.maxDelay));
    }
  }

  /**
   * Resolves proposals against a leader whose commit `c` is of its own term: acked when its
   * committed log holds them; lost when they are of an earlier term and not in it (every
   * later leader's log extends this committed prefix with entries of terms >= its term).
   */
  private resolvePending(n: SimNode, c: number): void {
    const lt = n.raft.currentTerm;
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i]!;
      if (p.term > lt) continue;
      if (p.index <= c) {
        const t = p.index >= n.log.firstIndex() ? n.log.termAt(p.index) : this.committed.get(p.index)?.term;
        if (t === p.term && (p.index < n.log.firstIndex() || n.log.hashAt(p.index) !== undefined)) {
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

  private finalChecks(): void {
    for (const [index, term] of this.acked) {
      const c = this.committed.get(index);
      if (!c || c.term !== term) this.fail(`acknowledged entry ${index}/${term} is not in the committed log`);
    }
    const leader = this.currentLeader();
    if (!leader) return;
    for (const [index, term] of this.acked) {
      if (index < leader.log.firstIndex()) continue;
      if (leader.log.termAt(index) !== term) this.fail(`acknowledged entry ${index}/${term} is missing from the final leader ${leader.id}`);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Workload and faults

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.up && n.raft.currentRole === 'leader' && (!best || n.raft.currentTerm > best.raft.currentTerm)) best = n;
    }
    return best;
  }

  /**
   * The leader once no voter of its group is in a later term. Right after healing, a leader
   * that was cut off may still believe it leads an earlier term until it hears from the
   * others; it is not the final leader, and may lack what later terms committed.
   */
  private currentLeader(): SimNode | undefined {
    const l = this.leader();
    if (!l) return undefined;
    for (const v of l.raft.members.voters) {
      const o = this.nodes.get(v);
      if (o && o.up && o.raft.currentTerm > l.raft.currentTerm) return undefined;
    }
    return l;
  }

  private upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  private workload(): void {
    const o = this.opts;
    let k = Math.floor(o.proposalRate) + (this.rng.chance(o.proposalRate % 1) ? 1 : 0);
    while (k-- > 0) {
      const ups = this.upNodes();
      const target = this.rng.chance(0.9) ? this.leader() : ups.length ? this.rng.pick(ups) : undefined;
      if (!target || target.pausedUntil > this.now) continue;
      const records = Array.from({ length: this.rng.range(1, 3) }, (_, i) => ({ value: `v${this.now}.${i}`, timestamp: 0 }));
      try {
        const { index, term } = target.raft.propose(buildBatch(records, { now: 0 }));
        this.pending.push({ index, term });
        this.record(target.id, `propose → ${index}/${term}`);
      } catch (err) {
        if (!(err instanceof FlotillaError)) throw err;
      }
      this.after(target);
    }
    const leader = this.leader();
    if (!leader || leader.pausedUntil > this.now) return;
    if (this.rng.chance(o.transferRate)) {
      const to = this.rng.pick(leader.raft.members.voters);
      try {
        leader.raft.transferLeadership(to);
        this.record(leader.id, `transfer leadership to ${to}`);
      } catch (err) {
        if (!(err instanceof FlotillaError)) throw err;
      }
      this.after(leader);
    }
    if (this.rng.chance(o.membershipRate)) this.changeMembership(leader);
  }

  /** One change at a time, cycling: add a learner → promote it → remove a voter (maybe the leader). */
  private changeMembership(leader: SimNode): void {
    const m = leader.raft.members;
    try {
      if (m.learners.length > 0 && this.membershipGoal !== 'addLearner') {
        const id = this.rng.pick(m.learners);
        leader.raft.proposeConfigChange({ type: 'promote', id });
        this.record(leader.id, `propose promote ${id}`);
        this.membershipGoal = 'remove';
      } else if (this.membershipGoal === 'remove' && m.voters.length > this.opts.nodes) {
        const id = this.rng.pick(m.voters);
        leader.raft.proposeConfigChange({ type: 'remove', id });
        this.record(leader.id, `propose remove ${id}`);
        this.membershipGoal = 'addLearner';
      } else if (m.learners.length === 0) {
        const id = this.nextId;
        leader.raft.proposeConfigChange({ type: 'addLearner', id });
        this.nextId++;
        this.spawn(id, { voters: [], learners: [] });
        this.record(leader.id, `propose add learner ${id}`);
        this.membershipGoal = 'promote';
      } else {
        this.membershipGoal = 'promote';
      }
    } catch (err) {
      if (!(err instanceof FlotillaError)) throw err;
    }
    this.after(leader);
  }

  private injectFaults(): void {
    const o = this.opts;
    const ids = [...this.nodes.keys()];
    if (this.blocked.size > 0 && this.now >= this.partitionUntil) {
      this.blocked.clear();
      this.record(0, 'partition healed');
    }
    if (this.blocked.size === 0 && this.rng.chance(o.partitionRate)) {
      const kind = this.rng.pick(['symmetric', 'asymmetric', 'isolate-in', 'isolate-out'] as const);
      const a = ids.filter(() => this.rng.chance(0.5));
      const b = ids.filter((id) => !a.includes(id));
      const leader = this.leader();
      const victim = leader && this.rng.chance(o.leaderFaults) ? leader.id : this.rng.pick(ids);
      for (const x of ids) {
        for (const y of ids) {
          if (x === y) continue;
          const cut =
            kind === 'symmetric' ? a.includes(x) !== a.includes(y) : kind === 'asymmetric' ? a.includes(x) && b.includes(y) : kind === 'isolate-in' ? y === victim : x === victim;
          if (cut) this.blocked.add(this.linkKey(x, y));
        }
      }
      this.partitionUntil = this.now + this.rng.range(10, 150) * TICK;
      this.record(0, `partition ${kind}: ${kind === 'symmetric' || kind === 'asymmetric' ? `[${a}] / [${b}]` : `node ${victim}`}`);
    }
    if (this.rng.chance(o.crashRate)) {
      const ups = this.upNodes();
      if (ups.length > 0) {
        const leader = this.leader();
        const n = leader && this.rng.chance(o.leaderFaults) ? leader : this.rng.pick(ups);
        this.crash(n, n.syncing ? 'during sync' : 'anywhere');
        n.restartAt = this.now + this.rng.range(1, 80) * TICK;
      }
    }
    if (this.rng.chance(o.pauseRate)) {
      const ups = this.upNodes();
      if (ups.length > 0) {
        const n = this.rng.pick(ups);
        n.pausedUntil = this.now + this.rng.range(2, 40) * TICK;
        this.record(n.id, `pause until ${n.pausedUntil}`);
      }
    }
    if (this.rng.chance(o.compactionRate)) {
      const ups = this.upNodes();
      if (ups.length > 0) this.compact(this.rng.pick(ups));
    }
    if (o.diskLossRate !== undefined && this.rng.chance(o.diskLossRate)) this.diskLoss();
  }

  private isCutOff(node: number, other: number): boolean {
    const c = this.cutOff.get(node);
    return c !== undefined && c.until > this.now && c.peer !== other;
  }

  /** Leader churn: cut off (or crash) the leaders whose moment has come, if they still lead that term. */
  private churnLeaders(): void {
    for (let i = this.churn.length - 1; i >= 0; i--) {
      const c = this.churn[i]!;
      if (c.at > this.now) continue;
      this.churn.splice(i, 1);
      const n = this.nodes.get(c.id);
      if (!n || !n.up || n.raft.currentRole !== 'leader' || n.raft.currentTerm !== c.term) continue;
      // Often the partition moves rather than adds up: whoever was cut off comes back as the
      // leader goes (a flapping network), so an earlier leader with a divergent tail returns.
      if (this.cutOff.size > 0 && this.rng.chance(0.6)) {
        this.cutOff.clear();
        this.record(0, 'leader churn: earlier cut-offs heal');
      }
      const kind = this.rng.pick(['crash', 'alone', 'alone', 'with-one'] as const);
      if (kind === 'crash') {
        this.crash(n, 'leader churn');
        n.restartAt = this.now + this.rng.range(5, 40) * TICK;
        continue;
      }
      const others = n.raft.members.voters.filter((v) => v !== n.id);
      const peer = kind === 'with-one' && others.length > 0 ? this.rng.pick(others) : 0;
      const until = this.now + this.rng.range(12, 60) * TICK;
      this.cutOff.set(n.id, { until, peer });
      this.record(n.id, `leader churn: cut off until ${(until / TICK).toFixed(1)}${peer ? `, except to and from ${peer}` : ''}`);
    }
    for (const [id, c] of this.cutOff) if (c.until <= this.now) this.cutOff.delete(id);
  }

  /** Retention: the log start moves up to the applied index (what a snapshot covers). */
  private compact(n: SimNode): void {
    const index = n.appliedIndex;
    if (index < n.log.firstIndex() || index > n.log.lastIndex()) return;
    const membership = n.raft.membershipAt(index);
    if (!membership) return;
    n.log.compact(index, { membership });
    this.record(n.id, `log start moves to ${index + 1}`);
  }

  private heal(): void {
    this.faults = false;
    this.blocked.clear();
    this.cutOff.clear();
    this.churn.length = 0;
    for (const n of this.nodes.values()) {
      if (!n.up) this.restart(n);
      n.pausedUntil = 0;
      if (n.syncing) n.syncing.doneAt = Math.min(n.syncing.doneAt, this.now);
    }
    this.record(0, 'fault phase over: healed, all nodes up');
  }

  // ---------------------------------------------------------------------------------------
  // Main loop

  private record(node: number, what: string, m?: Message): void {
    const ev: TraceEvent = m ? { t: this.now, node, what, m } : { t: this.now, node, what };
    this.trace.push(ev);
    if (this.trace.length > 100) this.trace.splice(0, 50);
  }

  private stepTime(): void {
    const now = this.now;
    if (this.churn.length > 0 || this.cutOff.size > 0) this.churnLeaders();
    while (this.queue.peekAt() <= now) this.deliver(this.queue.pop());
    for (const n of this.nodes.values()) {
      if (!n.up) {
        if (n.restartAt <= now && this.faults) this.restart(n);
        continue;
      }
      if (n.pausedUntil > now) continue;
      if (n.syncing && n.syncing.doneAt <= now) {
        const { rd } = n.syncing;
        n.syncing = undefined;
        this.finishReady(n, rd);
        this.after(n);
      }
      if (!n.up) continue;
      if (now >= n.nextTickAt) {
        n.nextTickAt += n.tickPeriod;
        n.gate?.tick(n.raft);
        n.raft.tick();
        this.after(n);
      } else if (n.raft.hasReady()) {
        this.pump(n);
      }
    }
    if (now % TICK === 0) {
      this.stats.ticks++;
      if (this.faults) {
        this.injectFaults();
        this.workload();
      }
    }
    this.now++;
  }

  run(): SimResult {
    try {
      const faultEnd = this.opts.faultTicks * TICK;
      while (this.now < faultEnd) this.stepTime();
      this.heal();
      // Liveness: a leader within a bound, then every proposal resolved within a bound.
      const deadline = this.now + 300 * TICK;
      while (this.now < deadline) {
        this.stepTime();
        if (this.now % TICK !== 0) continue;
        // A stale leader may have accepted proposals after the new leader's last commit.
        const l = this.leader();
        if (l && l.log.termAt(l.raft.commitIndex) === l.raft.currentTerm) this.resolvePending(l, l.raft.commitIndex);
        if (this.pending.length === 0 && this.currentLeader()) break;
      }
      const final = this.currentLeader();
      if (!final) this.fail(`no leader within 300 ticks after healing`);
      if (this.pending.length > 0) {
        const p = this.pending[0]!;
        this.fail(`${this.pending.length} proposals unresolved 300 ticks after healing (e.g. ${p.index}/${p.term}; leader ${final.id} commit ${final.raft.commitIndex})`);
      }
      this.finalChecks();
      return { ok: true, seed: this.opts.seed, trace: [], stats: this.stats };
    } catch (err) {
      const error = err instanceof SimFailure ? err.message : `crash: ${(err as Error).stack ?? String(err)}`;
      return { ok: false, seed: this.opts.seed, error, trace: this.formatTrace(50), stats: this.stats };
    }
  }

  formatTrace(last: number): string[] {
    return this.trace.slice(-last).map((e) => `  t=${(e.t / TICK).toFixed(1).padStart(6)} ${e.node ? `n${e.node}` : '  '} ${e.m ? describe(e.m) : e.what}`);
  }
}

export function runSeed(seed: number): SimResult {
  return new Simulation(chooseOptions(seed)).run();
}
