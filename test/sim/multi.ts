/**
 * The multi-group simulator: 3–5 brokers, each running a real MultiRaft (the broker's own
 * multiplexer: one tick timer, one processing cycle with group commit, quiescence and
 * waking, coalesced heartbeats, recovery permits) over 2–6 groups of 3 (or 5) replicas,
 * through the in-memory seams of sim-seams.ts, on simulated time and a simulated network,
 * all driven by one seeded generator.
 *
 * Faults: frames dropped, duplicated, delayed and reordered; symmetric, asymmetric and
 * one-broker-in/out partitions with healing; broker crashes (often of a leader) that keep
 * each log's and the hard-state journal's durable image plus a random prefix of the rest,
 * then restarts; slow syncs (the cycle waits, ticks fall behind); pauses (a broker starved
 * of CPU or stopped: its timers, syncs and reads wait, then run late, a late tick before the
 * frames that queued for it). Workload: each group
 * alternates busy spans (proposals of real batches, leadership transfers) with idle ones,
 * so that groups go quiet and wake again; retention moves log starts (snapshots).
 *
 * After every event the per-group invariants of invariants.ts are checked on the replicas
 * it touched (a frame's groups; every replica of the broker after its tick, cycle or
 * sync). After the fault phase: heal,
 * restart everyone, and require within a bound that every group has a leader, every
 * proposal is resolved, every replica holds and has committed the leader's log, and every
 * group has gone quiet again (quiescence strands no replica and leaves no group awake).
 *
 * MultiRaft's cycle is asynchronous (it awaits the syncs), so the run is too: after an event
 * that resolved a sync or ran a cycle, the run lets the promise continuations finish
 * (one setImmediate) before the next event. Promise order is deterministic, so a seed
 * replays exactly.
 */
import pino from 'pino';
import { buildBatch } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { Entry, HardState } from '../../broker/raft/log.js';
import { MemoryLog } from '../../broker/raft/memory-log.js';
import type { Status } from '../../broker/raft/raft.js';
import type { Message, Snapshot } from '../../broker/raft/types.js';
import { MultiRaft, type GroupEvent, type MultiRaftOptions, type StateMachine } from '../../broker/multiraft/multiraft.js';
import { decisionLine } from './harness.js';
import { GroupInvariants, LOG_START, SimFailure, fail, freshLife, type CheckedReplica } from './invariants.js';
import { cutLinks, PARTITION_KINDS } from './partitions.js';
import { Rng } from './prng.js';
import { SimClock, SimHardStates, SimLogStore, SimPeers, type FrameItem, type SimLog, type SimWorld } from './sim-seams.js';
import { Timeline } from './timeline.js';
import { describe } from './cluster.js';

/** Milliseconds of simulated time per tick. */
const TICK = 10;
/** Chance per tick, in the fault phase, that a connection between two live brokers resets. */
const RESET_RATE = 0.01;
/** Chance per tick, in the fault phase, that a live broker pauses, and its longest pause in ticks. */
const PAUSE_RATE = 0.004;
const MAX_PAUSE_TICKS = 30;

export interface MultiSimOptions {
  seed: number;
  brokers: number;
  groups: number;
  /** Replicas per group (3, or 5 with 5 brokers). */
  replication: number;
  electionTicks: number;
  heartbeatTicks: number;
  faultTicks: number;
  dropRate: number;
  dupRate: number;
  /** Frame delay upper bound (ms; a tick is 10). */
  maxDelay: number;
  /** Chance that a frame takes a long way round (overtaken by later ones). */
  reorderRate: number;
  /** Per tick: chance to start a partition (when none is active). */
  partitionRate: number;
  crashRate: number;
  /** Share of crashes and partitions aimed at a broker that leads something. */
  leaderFaults: number;
  /** Chance that a sync takes a while, and how long at most (ms). */
  slowSyncRate: number;
  maxSyncDelay: number;
  /** Per tick, per busy group: expected proposals. */
  proposalRate: number;
  /** Busy and idle spans of each group, in ticks (upper bounds). */
  maxBusyTicks: number;
  maxIdleTicks: number;
  transferRate: number;
  compactionRate: number;
  tickSkew: boolean;
  /** Recovery permits per follower broker (0: no limit). */
  recoveryConcurrency: number;
  /** Mutation check: a leader quiesces while a follower lacks entries (the match rule off). */
  mutateQuiescence?: boolean;
  /** Mutation check: the cycle acknowledges without syncing the logs (as `--fsync never` does). */
  mutateGroupCommit?: boolean;
  /**
   * Each group's preferred (first) replica opens it this many ticks after the others, as a
   * broker busy creating thousands of partitions does (first life only: use without crashes).
   */
  preferredOpensLateTicks?: number;
  /** Mutation check: the other replicas do not leave a new group's first election to the preferred one. */
  mutateFirstElectionHold?: boolean;
  /**
   * One pause at a chosen moment: at `atTick` the broker leading group 1 (`of: 'leader'`) or
   * one of its followers stops for `ticks`; with `midCycle` (of the leader), just after it
   * began a cycle (a proposal to another group it leads; slow syncs make the pause end with
   * the cycle still running). Counted from then: `electionsAfterPause`, `followerWakesAfterPause`.
   */
  pause?: { atTick: number; ticks: number; of: 'leader' | 'follower'; midCycle?: boolean };
  /** No random connection resets, or no random pauses (they are not among the options drawn from the seed). */
  noRandomResets?: boolean;
  noRandomPauses?: boolean;
  /** Mutation check: a broker judges its peers silent even on a tick that came late. */
  mutateLateTickSilence?: boolean;
  /** Mutation check: a broker back from a pause leaves the groups it leads quiet. */
  mutateWakeAfterPause?: boolean;
}

/** Everything a seed chooses, from the seed alone (printed on replay). */
export function chooseMultiOptions(seed: number): MultiSimOptions {
  const r = new Rng(seed ^ 0x6d61_7274);
  const calm = r.chance(0.15);
  const brokers = r.range(3, 5);
  return {
    seed,
    brokers,
    groups: r.range(2, 6),
    replication: brokers === 5 && r.chance(0.3) ? 5 : 3,
    electionTicks: 10,
    heartbeatTicks: r.chance(0.7) ? 1 : 2,
    faultTicks: r.range(100, 250),
    dropRate: calm ? 0 : r.pick([0, 0.01, 0.05, 0.1]),
    dupRate: r.pick([0, 0.02, 0.1]),
    maxDelay: r.pick([2, 10, 30]),
    reorderRate: r.pick([0, 0.02, 0.1]),
    partitionRate: calm ? 0 : r.pick([0, 0.01, 0.03]),
    crashRate: calm ? 0 : r.pick([0, 0.005, 0.02]),
    leaderFaults: r.pick([0, 0.5, 0.9]),
    slowSyncRate: r.pick([0, 0.1, 0.5]),
    maxSyncDelay: r.pick([5, 20, 60]),
    proposalRate: r.pick([0.2, 1, 2]),
    maxBusyTicks: r.pick([10, 40, 100]),
    maxIdleTicks: r.pick([10, 40, 100]),
    transferRate: r.pick([0, 0.005, 0.02]),
    compactionRate: r.pick([0, 0.005, 0.02]),
    tickSkew: r.chance(0.5),
    recoveryConcurrency: r.pick([0, 1, 2]),
  };
}

export interface MultiSimResult {
  ok: boolean;
  seed: number;
  error?: string;
  trace: string[];
  stats: MultiSimStats;
}

export interface MultiSimStats {
  ticks: number;
  frames: number;
  messages: number;
  coalescedHeartbeats: number;
  elections: number;
  crashes: number;
  committed: number;
  acked: number;
  lost: number;
  snapshots: number;
  quiesces: number;
  wakes: number;
  permitsGranted: number;
  pauses: number;
  /** Elections (new leaders) since the pause of `MultiSimOptions.pause` in the groups quiet when it began; 0 without one. */
  electionsAfterPause: number;
  /** Groups the paused broker of `MultiSimOptions.pause` follows that woke since the pause. */
  followerWakesAfterPause: number;
}

/** The mutation: a late tick judges peers silent like any other. */
class SilenceOnLateTicks extends MultiRaft<SimLog> {
  protected override judgesSilence(): boolean {
    return true;
  }
}

/** The mutation: groups led here stay quiet after this broker went unheard. */
class NoWakeAfterSilence extends MultiRaft<SimLog> {
  protected override wakeLedGroupsAfterSilence(): void {}
}

/** The mutation: a follower counts as holding the whole log whatever its match. */
class NoFirstElectionHold extends MultiRaft<SimLog> {
  protected override holdFirstElection(): void {}
}

class QuiesceWithLaggingFollowers extends MultiRaft<SimLog> {
  protected override memberCaughtUp(status: Status, id: number): boolean {
    const pr = status.progress[id];
    return super.memberCaughtUp(pr ? { ...status, progress: { ...status.progress, [id]: { ...pr, match: status.lastIndex } } } : status, id);
  }
}

interface SimBroker {
  id: number;
  up: boolean;
  life: number;
  restartAt: number;
  /** Until when the broker is paused (its events wait); 0 when running. */
  pausedUntil: number;
  tickPeriod: number;
  logs: SimLogStore;
  hard: SimHardStates;
  peers: SimPeers;
  raft: MultiRaft<SimLog>;
  /** This broker's replica of each group it hosts. */
  replicas: Map<number, SimReplica>;
}

/** One broker's replica of one group, as the checker sees it. */
class SimReplica implements CheckedReplica {
  lastCommit = LOG_START;
  appliedIndex = LOG_START;
  ledTerm = 0;
  ledLast = LOG_START;
  ledHash = 0;

  constructor(
    readonly broker: SimBroker,
    readonly groupId: number,
  ) {}

  get id(): number {
    return this.broker.id;
  }
  get up(): boolean {
    return this.broker.up;
  }
  get group() {
    return this.broker.raft.get(this.groupId)!;
  }
  get raft() {
    return this.group.node;
  }
  get log(): MemoryLog<unknown> {
    return this.broker.logs.get(logName(this.groupId))!.memory;
  }
  get hard(): HardState {
    return this.broker.hard.durableOf(this.groupId);
  }
}

function logName(groupId: number): string {
  return `g${groupId}`;
}

interface GroupPlan {
  id: number;
  voters: number[];
  inv: GroupInvariants;
  busy: boolean;
  phaseUntil: number;
}

interface TraceEvent {
  t: number;
  node: number;
  group: number;
  what: string | Message;
}

interface SimEvent {
  /** The broker whose life the event belongs to (0: the network's). */
  broker: number;
  life: number;
  fn: () => void;
}

const silentLogger = pino({ level: 'silent' });

function drainPromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class MultiSimulation {
  private readonly rng: Rng;
  private now = 0;
  private readonly events = new Timeline<SimEvent>();
  private readonly brokers = new Map<number, SimBroker>();
  private readonly groups: GroupPlan[] = [];
  private readonly blocked = new Set<number>();
  private partitionUntil = 0;
  /** FIFO links: the latest delivery time scheduled per link. */
  private readonly linkClock = new Map<number, number>();
  private faults = true;
  private needsDrain = false;
  private fatal: unknown;
  /** The last events, formatted only when a seed fails. */
  private readonly trace: TraceEvent[] = [];
  /** The broker that won each group's first election. */
  private readonly firstLeaders = new Map<number, number>();
  private readonly stats = { ticks: 0, messages: 0, crashes: 0, snapshots: 0, quiesces: 0, wakes: 0, permitsGranted: 0, frames: 0, coalescedHeartbeats: 0, pauses: 0 };
  /** Elections counted, by group, in the groups quiet on every replica when the pause of `opts.pause` began; and the broker paused. */
  private electionsAtPause: Map<GroupPlan, number> | undefined;
  private pausedBroker = 0;
  private followerWakesAfterPause = 0;

  /** Connection resets between live brokers, drawn apart so a seed's other faults stay as they were. */
  private readonly resets: Rng;
  /** Pauses, drawn apart for the same reason. */
  private readonly pauses: Rng;

  constructor(readonly opts: MultiSimOptions) {
    this.rng = new Rng(opts.seed);
    this.resets = new Rng((opts.seed ^ 0x5bd1e995) >>> 0);
    this.pauses = new Rng((opts.seed ^ 0x2545f491) >>> 0);
    const ids = Array.from({ length: opts.brokers }, (_, i) => i + 1);
    for (let g = 1; g <= opts.groups; g++) {
      // Replicas spread round the brokers; the first is the preferred leader.
      const voters = Array.from({ length: opts.replication }, (_, i) => ids[(g - 1 + i) % ids.length]!);
      const plan: GroupPlan = { id: g, voters, busy: this.rng.chance(0.5), phaseUntil: 0, inv: undefined as unknown as GroupInvariants };
      plan.inv = new GroupInvariants({
        replica: (id) => this.brokers.get(id)?.replicas.get(g),
        record: (node, what) => this.record(node, what, g),
      });
      this.groups.push(plan);
    }
    for (const id of ids) {
      const broker = { id, up: false, life: 0, restartAt: 0, pausedUntil: 0, replicas: new Map(), tickPeriod: opts.tickSkew ? this.rng.range(TICK - 2, TICK + 2) : TICK } as unknown as SimBroker;
      this.brokers.set(id, broker);
      const world = this.worldFor(broker);
      broker.logs = new SimLogStore(world, (name) => new MemoryLog(this.planOf(name).inv.hasher, { index: LOG_START, term: 0 }));
      broker.hard = new SimHardStates(world, (groupId, before, state) => this.planOf(logName(groupId)).inv.notePersisted(id, before, state));
      for (const plan of this.groups) if (plan.voters.includes(id) && !this.opensLate(plan, id)) broker.replicas.set(plan.id, new SimReplica(broker, plan.id));
    }
    for (const broker of this.brokers.values()) this.start(broker);
  }

  private opensLate(plan: GroupPlan, broker: number): boolean {
    return this.opts.preferredOpensLateTicks !== undefined && plan.voters[0] === broker;
  }

  private planOf(name: string): GroupPlan {
    return this.groups[Number(name.slice(1)) - 1]!;
  }

  // ---------------------------------------------------------------------------------------
  // Brokers

  private worldFor(b: SimBroker): SimWorld {
    const life = b.life;
    return {
      now: () => this.now,
      at: (at, fn) => this.events.push(at, { broker: b.id, life, fn }),
      syncDelay: () => (this.faults && this.rng.chance(this.opts.slowSyncRate) ? this.rng.range(1, this.opts.maxSyncDelay) : 0),
      sendFrame: (from, to, items) => this.sendFrame(from, to, items),
      reaches: (from, to) => this.reaches(from, to),
      tickPeriod: () => ({ period: b.tickPeriod, phase: 1 + this.rng.int(b.tickPeriod) }),
      settled: () => {
        this.needsDrain = true;
      },
    };
  }

  /** Starts a life of `b` on what its logs and journal hold. */
  private start(b: SimBroker): void {
    const world = this.worldFor(b);
    b.up = true;
    b.peers = new SimPeers(b.id, [...this.brokers.keys()], world);
    const options: MultiRaftOptions<SimLog> = {
      id: b.id,
      logs: b.logs,
      hardStates: b.hard,
      transport: b.peers,
      clock: new SimClock(world),
      logger: silentLogger,
      fsync: this.opts.mutateGroupCommit ? 'never' : 'always',
      tickMs: TICK,
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      recoveryConcurrency: this.opts.recoveryConcurrency,
      random: this.rng.fork().next,
      onFatal: (error) => {
        this.fatal ??= error;
      },
      onCorruption: (groupId) => {
        this.fatal ??= new Error(`group ${groupId} reported a corrupt batch, which memory never holds`);
      },
      trace: (groupId, event) => this.noteGroupEvent(b, groupId, event),
    };
    b.raft = new (this.mutantClass() ?? MultiRaft)(options);
    for (const groupId of b.replicas.keys()) this.createGroup(b, groupId);
    b.raft.start();
    if (b.life === 0 && this.opts.preferredOpensLateTicks !== undefined) {
      const late = this.groups.filter((plan) => this.opensLate(plan, b.id));
      world.at(this.now + this.opts.preferredOpensLateTicks * TICK, () => {
        for (const plan of late) {
          b.replicas.set(plan.id, new SimReplica(b, plan.id));
          this.createGroup(b, plan.id);
          this.record(b.id, 'opens the group late', plan.id);
        }
      });
    }
  }

  /** The MultiRaft subclass of the mutation check these options ask for, if any. */
  private mutantClass(): typeof MultiRaft<SimLog> | undefined {
    const o = this.opts;
    if (o.mutateQuiescence) return QuiesceWithLaggingFollowers;
    if (o.mutateFirstElectionHold) return NoFirstElectionHold;
    if (o.mutateLateTickSilence) return SilenceOnLateTicks;
    if (o.mutateWakeAfterPause) return NoWakeAfterSilence;
    return undefined;
  }

  private createGroup(b: SimBroker, groupId: number): void {
    const plan = this.groups[groupId - 1]!;
    const replica = b.replicas.get(groupId)!;
    b.raft.create({ groupId, logName: logName(groupId), voters: plan.voters, stateMachine: this.stateMachine(replica, plan.inv), preferredLeader: plan.voters[0] });
    Object.assign(replica, freshLife(replica.log));
  }

  /** The broker that won each group's first election, by group. */
  firstLeaderOf(groupId: number): number | undefined {
    return this.firstLeaders.get(groupId);
  }

  /** Each group's preferred (first) replica. */
  preferredOf(groupId: number): number {
    return this.groups[groupId - 1]!.voters[0]!;
  }

  private stateMachine(replica: SimReplica, inv: GroupInvariants): StateMachine {
    return {
      apply: (entries: Entry[]) => {
        // The commit that made these entries applicable, before they are applied.
        inv.check(replica);
        for (const e of entries) {
          // MultiRaft applies committed entries before its cycle's fsyncs only when this
          // replica already holds them durably (a crash then cannot take back what was applied).
          const log = replica.log;
          if (log.durableTermAt(e.index) !== e.term && !(log.durableLastIndex() >= e.index && log.firstIndex() > e.index)) {
            fail(`node ${replica.id} applies ${e.index}/${e.term} of group ${replica.groupId} before holding it durably`);
          }
          inv.apply(replica, e);
        }
      },
      restore: (snapshot: Snapshot) => {
        this.stats.snapshots++;
        inv.noteSnapshot(replica, snapshot);
        this.record(replica.id, `install snapshot @${snapshot.index}/${snapshot.term}`, replica.groupId);
      },
      onSoftState: () => undefined,
      snapshot: () => ({ index: replica.appliedIndex, data: Buffer.from(String(replica.appliedIndex)) }),
    };
  }

  private noteGroupEvent(b: SimBroker, groupId: number, event: GroupEvent): void {
    if (event.event === 'elected' && !this.firstLeaders.has(groupId)) this.firstLeaders.set(groupId, b.id);
    if (event.event === 'quiesce') this.stats.quiesces++;
    else if (event.event === 'wake') {
      this.stats.wakes++;
      if (b.id === this.pausedBroker && b.raft.get(groupId)?.node.currentRole !== 'leader') this.followerWakesAfterPause++;
    }
    this.record(0, decisionLine(b.id, event as Parameters<typeof decisionLine>[1]), groupId);
  }

  private crash(b: SimBroker, why: string): void {
    b.raft.stop();
    b.peers.alive = false;
    this.stats.permitsGranted += b.raft.recoveryStats()?.granted ?? 0;
    this.stats.coalescedHeartbeats += b.peers.stats.coalescedHeartbeats;
    b.up = false;
    b.pausedUntil = 0;
    b.life++;
    const world = this.worldFor(b);
    const logs = b.logs.crash(this.rng.next);
    const hard = b.hard.crash(this.rng.next);
    b.logs = new SimLogStore(world, (name) => new MemoryLog(this.planOf(name).inv.hasher, { index: LOG_START, term: 0 }), logs);
    b.hard = new SimHardStates(world, (groupId, before, state) => this.planOf(logName(groupId)).inv.notePersisted(b.id, before, state), hard);
    b.restartAt = this.now + this.rng.range(1, 80) * TICK;
    this.stats.crashes++;
    this.record(b.id, `CRASH (${why})`);
    // The kernel resets a dead process's sockets: every live peer learns at once.
    for (const other of this.brokers.values()) if (other.up) this.connectionClosed(other, b.id);
  }

  /** `at` sees its connection from broker `peer` close (MultiRaft.peerLost), a moment from now. */
  private connectionClosed(at: SimBroker, peer: number): void {
    this.events.push(this.now + 1, {
      broker: at.id,
      life: at.life,
      fn: () => {
        this.record(at.id, `connection from ${peer} closed`);
        at.raft.peerLost(peer);
      },
    });
  }

  private restart(b: SimBroker): void {
    this.start(b);
    this.record(b.id, `restart: ${[...b.replicas.values()].map((r) => `g${r.groupId} term ${r.hard.term} log [${r.log.firstIndex()}, ${r.log.lastIndex()}]`).join('; ')}`);
  }

  // ---------------------------------------------------------------------------------------
  // Network

  private linkKey(from: number, to: number): number {
    return from * 1024 + to;
  }

  private reaches(from: number, to: number): boolean {
    return this.brokers.get(to)!.up && !this.blocked.has(this.linkKey(from, to));
  }

  private sendFrame(from: number, to: number, items: FrameItem[]): void {
    this.stats.frames++;
    for (const { group, message } of items) {
      this.groups[group - 1]?.inv.noteSent(message);
      this.stats.messages++;
    }
    if (this.faults && this.rng.chance(this.opts.dropRate)) return;
    const copies = this.faults && this.rng.chance(this.opts.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let at = this.now + this.rng.range(1, this.opts.maxDelay);
      const key = this.linkKey(from, to);
      if (this.faults && this.rng.chance(this.opts.reorderRate)) {
        at += this.rng.range(1, this.opts.maxDelay * 4);
      } else {
        at = Math.max(at, this.linkClock.get(key) ?? 0);
        this.linkClock.set(key, at);
      }
      this.events.push(at, { broker: 0, life: 0, fn: () => this.deliverFrame(from, to, items) });
    }
  }

  private deliverFrame(from: number, to: number, items: FrameItem[]): void {
    const b = this.brokers.get(to)!;
    if (!b.up || this.blocked.has(this.linkKey(from, to))) return;
    if (b.pausedUntil > this.now) {
      // Read once it runs again, after its first (late) tick: timers come first in a turn.
      this.events.push(b.pausedUntil + 1, { broker: 0, life: 0, fn: () => this.deliverFrame(from, to, items) });
      return;
    }
    b.peers.noteHeard(from);
    if (items.length === 0) return;
    for (const { group, message } of items) this.record(to, message, group);
    b.raft.deliver(items);
    if (this.fatal !== undefined) throw this.fatal;
    for (const { group } of items) {
      const replica = b.replicas.get(group);
      if (replica) this.groups[group - 1]!.inv.check(replica);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Workload and faults

  /** The leader of a group with the highest term among the up replicas. */
  private leaderOf(plan: GroupPlan): SimReplica | undefined {
    let best: SimReplica | undefined;
    for (const id of plan.voters) {
      const r = this.brokers.get(id)!.replicas.get(plan.id);
      if (r?.up && r.raft.currentRole === 'leader' && (!best || r.raft.currentTerm > best.raft.currentTerm)) best = r;
    }
    return best;
  }

  /** The leader once no up voter is in a later term (a leader cut off until the heal is not it). */
  private currentLeaderOf(plan: GroupPlan): SimReplica | undefined {
    const l = this.leaderOf(plan);
    if (!l) return undefined;
    for (const id of plan.voters) {
      const r = this.brokers.get(id)!.replicas.get(plan.id);
      if (r?.up && r.raft.currentTerm > l.raft.currentTerm) return undefined;
    }
    return l;
  }

  private workload(): void {
    const o = this.opts;
    for (const plan of this.groups) {
      if (this.now >= plan.phaseUntil) {
        plan.busy = !plan.busy;
        plan.phaseUntil = this.now + this.rng.range(1, plan.busy ? o.maxBusyTicks : o.maxIdleTicks) * TICK;
      }
      if (!plan.busy) continue;
      let k = Math.floor(o.proposalRate) + (this.rng.chance(o.proposalRate % 1) ? 1 : 0);
      while (k-- > 0) {
        const ups = plan.voters.map((id) => this.brokers.get(id)!).filter((b) => b.up && b.replicas.has(plan.id));
        const leader = this.leaderOf(plan);
        const target = this.rng.chance(0.9) ? leader?.broker : ups.length > 0 ? this.rng.pick(ups) : undefined;
        if (!target) continue;
        const records = Array.from({ length: this.rng.range(1, 3) }, (_, i) => ({ value: `v${this.now}.${i}`, timestamp: 0 }));
        try {
          const { index, term } = target.raft.propose(target.raft.get(plan.id)!, buildBatch(records, { now: 0 }));
          plan.inv.noteProposed(index, term);
          this.record(target.id, `propose → ${index}/${term}`, plan.id);
        } catch (err) {
          if (!(err instanceof FlotillaError)) throw err;
        }
        this.checkBroker(target);
      }
      const leader = this.leaderOf(plan);
      if (leader && this.rng.chance(o.transferRate)) {
        const to = this.rng.pick(plan.voters);
        try {
          leader.broker.raft.withNode(leader.group, (node) => node.transferLeadership(to));
          this.record(leader.id, `transfer leadership to ${to}`, plan.id);
        } catch (err) {
          if (!(err instanceof FlotillaError)) throw err;
        }
      }
    }
  }

  /** A broker to aim a fault at: often one that leads a group. */
  private victim(): SimBroker | undefined {
    const ups = [...this.brokers.values()].filter((b) => b.up);
    if (ups.length === 0) return undefined;
    if (this.rng.chance(this.opts.leaderFaults)) {
      const leaders = this.groups.map((p) => this.leaderOf(p)?.broker).filter((b): b is SimBroker => b !== undefined);
      if (leaders.length > 0) return this.rng.pick(leaders);
    }
    return this.rng.pick(ups);
  }

  private injectFaults(): void {
    const o = this.opts;
    const ids = [...this.brokers.keys()];
    if (this.blocked.size > 0 && this.now >= this.partitionUntil) {
      this.blocked.clear();
      this.record(0, 'partition healed');
    }
    if (this.blocked.size === 0 && this.rng.chance(o.partitionRate)) {
      const kind = this.rng.pick(PARTITION_KINDS);
      const a = ids.filter(() => this.rng.chance(0.5));
      const b = ids.filter((id) => !a.includes(id));
      const victim = this.victim()?.id ?? this.rng.pick(ids);
      for (const [x, y] of cutLinks(kind, ids, a, victim)) this.blocked.add(this.linkKey(x, y));
      this.partitionUntil = this.now + this.rng.range(10, 150) * TICK;
      this.record(0, `partition ${kind}: ${kind === 'symmetric' || kind === 'asymmetric' ? `[${a}] / [${b}]` : `broker ${victim}`}`);
    }
    if (this.rng.chance(o.crashRate)) {
      const b = this.victim();
      if (b) this.crash(b, 'anywhere');
    }
    // A connection between two live brokers resets (the peer lives on and dials again):
    // groups led by the peer must keep their leader wherever a majority still hears it.
    if (!this.opts.noRandomResets && this.resets.chance(RESET_RATE)) {
      const up = [...this.brokers.values()].filter((b) => b.up);
      const at = up[this.resets.int(up.length)];
      const peer = up[this.resets.int(up.length)];
      if (at && peer && at !== peer) this.connectionClosed(at, peer.id);
    }
    if (!this.opts.noRandomPauses && this.pauses.chance(PAUSE_RATE)) {
      const up = [...this.brokers.values()].filter((b) => b.up && b.pausedUntil <= this.now);
      const b = up.length > 0 ? up[this.pauses.int(up.length)] : undefined;
      if (b) this.pauseBroker(b, this.pauses.range(1, MAX_PAUSE_TICKS));
    }
    if (this.opts.pause && this.now === this.opts.pause.atTick * TICK) this.pauseChosen(this.opts.pause);
    if (this.rng.chance(o.compactionRate)) {
      const b = this.victim();
      const replica = b && b.replicas.size > 0 ? this.rng.pick([...b.replicas.values()]) : undefined;
      if (replica) this.compact(replica);
    }
  }

  /** `b` stops (SIGSTOP, or starved of CPU) for `ticks`: its events and the frames sent to it wait. */
  private pauseBroker(b: SimBroker, ticks: number): void {
    b.pausedUntil = this.now + ticks * TICK;
    this.stats.pauses++;
    this.record(b.id, `PAUSE for ${ticks} ticks`);
  }

  private pauseChosen(pause: NonNullable<MultiSimOptions['pause']>): void {
    const plan = this.groups[0]!;
    const leader = this.leaderOf(plan);
    if (!leader) fail(`no leader of group ${plan.id} to pause at tick ${pause.atTick}`);
    const target = pause.of === 'leader' ? leader.broker : this.brokers.get(plan.voters.find((id) => id !== leader.id)!)!;
    const quiet = this.groups.filter((p) => p.voters.every((id) => this.brokers.get(id)!.replicas.get(p.id)?.group.quiescedUnder !== undefined));
    this.electionsAtPause = new Map(quiet.map((p) => [p, p.inv.stats.elections]));
    this.pausedBroker = target.id;
    if (!pause.midCycle) return this.pauseBroker(target, pause.ticks);
    // A proposal to another group the target leads starts a cycle there at once (its next
    // event); the pause begins a moment later, while that cycle waits for its slow syncs.
    const busy = this.groups.find((p) => p !== plan && this.leaderOf(p)?.broker === target);
    if (!busy) fail(`broker ${target.id} leads no group but ${plan.id} to propose to before its pause`);
    const { index, term } = target.raft.propose(target.raft.get(busy.id)!, buildBatch([{ value: 'mid-cycle', timestamp: 0 }], { now: 0 }));
    busy.inv.noteProposed(index, term);
    this.electionsAtPause.delete(busy);
    this.events.push(this.now + 1, { broker: 0, life: 0, fn: () => this.pauseBroker(target, pause.ticks) });
  }

  /** Retention: the log start moves up to the applied index (what a snapshot covers). */
  private compact(r: SimReplica): void {
    const log = r.log;
    const index = r.appliedIndex;
    if (index < log.firstIndex() || index > log.lastIndex() || log.hashAt(index) === undefined) return;
    log.compact(index, undefined);
    this.record(r.id, `log start moves to ${index + 1}`, r.groupId);
  }

  private heal(): void {
    this.faults = false;
    this.blocked.clear();
    for (const b of this.brokers.values()) if (!b.up) this.restart(b);
    this.record(0, 'fault phase over: healed, all brokers up');
  }

  // ---------------------------------------------------------------------------------------
  // Checks

  /** After an event of `b`: every replica it hosts. */
  private checkBroker(b: SimBroker): void {
    if (this.fatal !== undefined) throw this.fatal;
    if (!b.up) return;
    for (const r of b.replicas.values()) this.groups[r.groupId - 1]!.inv.check(r);
    // The summary trusts the quiescence rule (a quiet leader's reachable followers are caught
    // up), which that mutation breaks on purpose: it must be caught by the safety checks.
    if (!this.opts.mutateQuiescence) this.checkSummary(b);
  }

  /** MultiRaft's summary, kept without a walk of every group, agrees with one. */
  private checkSummary(b: SimBroker): void {
    const walked = { groups: 0, quiesced: 0, leaders: 0, laggingFollowers: 0 };
    for (const group of b.raft.all()) {
      walked.groups++;
      if (group.quiescedUnder !== undefined) walked.quiesced++;
      if (group.node.currentRole === 'leader') walked.leaders++;
      walked.laggingFollowers += group.node.laggingFollowers();
    }
    const kept = b.raft.summary();
    for (const key of Object.keys(walked) as Array<keyof typeof walked>) {
      if (kept[key] !== walked[key]) fail(`broker ${b.id}: summary says ${kept[key]} ${key}, a walk of every group ${walked[key]}`);
    }
  }

  /**
   * What a healed, idle cluster must reach: per group a leader, every proposal resolved,
   * every replica in the leader's term holding and having committed its log, and the group
   * quiet on every replica. Returns why not, or undefined once reached.
   */
  private unsettled(): string | undefined {
    for (const plan of this.groups) {
      const leader = this.currentLeaderOf(plan);
      if (!leader) return `group ${plan.id} has no leader`;
      const commit = leader.raft.commitIndex;
      if (leader.log.termAt(commit) === leader.raft.currentTerm) plan.inv.resolvePending(leader, commit);
      if (plan.inv.pending.length > 0) {
        const p = plan.inv.pending[0]!;
        return `group ${plan.id} has ${plan.inv.pending.length} proposals unresolved (e.g. ${p.index}/${p.term}; leader ${leader.id} commit ${commit})`;
      }
      for (const id of plan.voters) {
        const r = this.brokers.get(id)!.replicas.get(plan.id);
        if (!r) return `group ${plan.id}: replica ${id} not open yet`;
        if (r.raft.currentTerm !== leader.raft.currentTerm || r.raft.commitIndex !== commit) {
          return `group ${plan.id}: replica ${id} at term ${r.raft.currentTerm} commit ${r.raft.commitIndex}, leader ${leader.id} at term ${leader.raft.currentTerm} commit ${commit}`;
        }
        if (commit >= r.log.firstIndex() && r.log.hashAt(commit) !== leader.log.hashAt(commit)) {
          return `group ${plan.id}: replica ${id} holds a different log than leader ${leader.id} up to its commit ${commit}`;
        }
        if (r.group.quiescedUnder !== leader.id) return `group ${plan.id}: replica ${id} is not quiet under leader ${leader.id}`;
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Main loop

  private record(node: number, what: string | Message, group = 0): void {
    this.trace.push({ t: this.now, node, group, what });
    if (this.trace.length > 200) this.trace.splice(0, 100);
  }

  private formatTrace(last: number): string[] {
    return this.trace.slice(-last).map((e) => {
      const what = typeof e.what === 'string' ? e.what : describe(e.what);
      return `  t=${(e.t / TICK).toFixed(1).padStart(6)} ${e.node ? `n${e.node}` : '  '} ${e.group ? `g${e.group} ` : ''}${what}`;
    });
  }

  private async stepTime(): Promise<void> {
    while (this.events.peekAt() <= this.now) {
      const ev = this.events.pop();
      if (ev.broker === 0) {
        ev.fn();
        continue;
      }
      const b = this.brokers.get(ev.broker)!;
      if (b.life !== ev.life || !b.up) continue;
      if (b.pausedUntil > this.now) {
        this.events.push(b.pausedUntil, ev);
        continue;
      }
      ev.fn();
      // The continuations of what this event resolved belong to this broker alone.
      if (this.needsDrain) {
        this.needsDrain = false;
        await drainPromises();
      }
      this.checkBroker(b);
    }
    if (this.now % TICK === 0) {
      this.stats.ticks++;
      if (this.faults) {
        for (const b of this.brokers.values()) if (!b.up && this.now >= b.restartAt) this.restart(b);
        this.injectFaults();
        this.workload();
      }
    }
    // On to the next event or tick, whichever comes first.
    this.now = Math.max(this.now + 1, Math.min(this.events.peekAt(), (Math.floor(this.now / TICK) + 1) * TICK));
  }

  async run(): Promise<MultiSimResult> {
    try {
      const faultEnd = this.opts.faultTicks * TICK;
      while (this.now < faultEnd) await this.stepTime();
      this.heal();
      const deadline = this.now + 300 * TICK;
      let why: string | undefined = 'not checked yet';
      while (this.now < deadline) {
        await this.stepTime();
        if (this.now % TICK === 0 && (why = this.unsettled()) === undefined) break;
      }
      if (why !== undefined) fail(`not settled 300 ticks after healing: ${why}`);
      for (const plan of this.groups) plan.inv.finalChecks(this.currentLeaderOf(plan));
      return { ok: true, seed: this.opts.seed, trace: [], stats: this.allStats() };
    } catch (err) {
      const error = err instanceof SimFailure ? err.message : `crash: ${(err as Error).stack ?? String(err)}`;
      return { ok: false, seed: this.opts.seed, error, trace: this.formatTrace(60), stats: this.allStats() };
    } finally {
      for (const b of this.brokers.values()) if (b.up) b.raft.stop();
    }
  }

  private allStats(): MultiSimStats {
    const out: MultiSimStats = { ...this.stats, elections: 0, committed: 0, acked: 0, lost: 0, electionsAfterPause: 0, followerWakesAfterPause: this.followerWakesAfterPause };
    for (const plan of this.groups) {
      out.elections += plan.inv.stats.elections;
      out.committed += plan.inv.stats.committed;
      out.acked += plan.inv.stats.acked;
      out.lost += plan.inv.stats.lost;
    }
    for (const [plan, before] of this.electionsAtPause ?? []) out.electionsAfterPause += plan.inv.stats.elections - before;
    for (const b of this.brokers.values()) {
      if (!b.up) continue;
      out.permitsGranted += b.raft.recoveryStats()?.granted ?? 0;
      out.coalescedHeartbeats += b.peers.stats.coalescedHeartbeats;
    }
    return out;
  }
}
