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
import { isRecovering, lostEntriesHardState, type HardState } from '../../broker/raft/log.js';
import type { Message } from '../../broker/raft/types.js';
import { MemoryLog } from '../../broker/raft/memory-log.js';
import type { Membership } from '../../broker/raft/membership.js';
import { RaftNode, type Ready, type RecoveryGate } from '../../broker/raft/raft.js';
import { cutLinks, PARTITION_KINDS } from './partitions.js';
import { Rng } from './prng.js';
import { Timeline } from './timeline.js';
import { GroupInvariants, LOG_START, SimFailure, freshLife, type CheckedReplica } from './invariants.js';

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

interface SimNode extends CheckedReplica {
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
  /** This life's recovery gate, when the seed uses one. */
  gate?: SimRecoveryGate;
  /** Crashed by the lost-entries fault: storage cuts its durable log when it restarts. */
  loseOnRestart?: boolean;
}

interface TraceEvent {
  t: number;
  node: number;
  what: string;
  m?: Message;
}

export function describe(m: Message): string {
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

export class Simulation {
  readonly opts: SimOptions;
  private readonly rng: Rng;
  private now = 0;
  private readonly nodes = new Map<number, SimNode>();
  private readonly queue = new Timeline<Message>();
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

  private readonly inv: GroupInvariants;
  private readonly trace: TraceEvent[] = [];
  private stats = { ticks: 0, crashes: 0, snapshots: 0, messages: 0, diskLosses: 0, recovered: 0 };
  /** The follower whose acknowledgement a leader counted last, and when (the lost-entries fault aims at it). */
  private lastAck = { id: 0, at: -Infinity };
  private membershipGoal: 'addLearner' | 'promote' | 'remove' = 'addLearner';

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.rng = new Rng(opts.seed);
    const voters = Array.from({ length: opts.nodes }, (_, i) => i + 1);
    const learners = opts.learner ? [opts.nodes + 1] : [];
    this.initial = { voters, learners };
    this.nextId = opts.nodes + (opts.learner ? 2 : 1);
    this.inv = new GroupInvariants({
      replica: (id) => this.nodes.get(id),
      record: (node, what) => this.record(node, what),
      onNewLeader: (n, term) => {
        if (this.faults && this.rng.chance(this.opts.leaderChurn)) {
          // Either within a few message delays (before or while its first entries replicate),
          // or the moment its commit index first moves (before followers learn of it).
          const at = this.rng.chance(0.7) ? Infinity : this.now + (this.rng.chance(0.3) ? 0 : this.rng.range(1, 6 * this.opts.maxDelay));
          this.churn.push({ id: n.id, term, at });
        }
      },
      onLeaderCommit: (n) => {
        for (const ch of this.churn) {
          if (ch.at === Infinity && ch.id === n.id && ch.term === n.raft.currentTerm) ch.at = this.now + (this.rng.chance(0.5) ? 0 : this.rng.int(this.opts.maxDelay));
        }
      },
    });
    for (const id of [...voters, ...learners]) this.spawn(id, this.initial);
  }

  // ---------------------------------------------------------------------------------------
  // Nodes

  private spawn(id: number, membership: Membership): SimNode {
    // Logs start empty at offset 0, as partition logs on disk do (the first entry is offset 0).
    const log = new MemoryLog<StartMeta>(this.inv.hasher, { index: LOG_START, term: 0, meta: { membership } });
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
      ...freshLife(log),
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
    this.inv.noteSent(m);
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
      this.inv.notePersisted(n.id, n.hard, h);
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
      this.inv.noteSnapshot(n, s);
      this.record(n.id, `install snapshot @${s.index}/${s.term}`);
    }
    for (const e of rd.committed) this.inv.apply(n, e);
    n.raft.advance(rd);
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
    this.inv.check(n);
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
        this.inv.noteProposed(index, term);
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
      const kind = this.rng.pick(PARTITION_KINDS);
      const a = ids.filter(() => this.rng.chance(0.5));
      const b = ids.filter((id) => !a.includes(id));
      const leader = this.leader();
      const victim = leader && this.rng.chance(o.leaderFaults) ? leader.id : this.rng.pick(ids);
      for (const [x, y] of cutLinks(kind, ids, a, victim)) this.blocked.add(this.linkKey(x, y));
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
        if (l && l.log.termAt(l.raft.commitIndex) === l.raft.currentTerm) this.inv.resolvePending(l, l.raft.commitIndex);
        if (this.inv.pending.length === 0 && this.currentLeader()) break;
      }
      const final = this.currentLeader();
      if (!final) this.fail(`no leader within 300 ticks after healing`);
      const pending = this.inv.pending;
      if (pending.length > 0) {
        const p = pending[0]!;
        this.fail(`${pending.length} proposals unresolved 300 ticks after healing (e.g. ${p.index}/${p.term}; leader ${final.id} commit ${final.raft.commitIndex})`);
      }
      this.inv.finalChecks(this.currentLeader());
      return { ok: true, seed: this.opts.seed, trace: [], stats: this.allStats() };
    } catch (err) {
      const error = err instanceof SimFailure ? err.message : `crash: ${(err as Error).stack ?? String(err)}`;
      return { ok: false, seed: this.opts.seed, error, trace: this.formatTrace(50), stats: this.allStats() };
    }
  }

  private allStats(): SimResult['stats'] {
    return { ...this.stats, ...this.inv.stats };
  }

  formatTrace(last: number): string[] {
    return this.trace.slice(-last).map((e) => `  t=${(e.t / TICK).toFixed(1).padStart(6)} ${e.node ? `n${e.node}` : '  '} ${e.m ? describe(e.m) : e.what}`);
  }
}

export function runSeed(seed: number): SimResult {
  return new Simulation(chooseOptions(seed)).run();
}
