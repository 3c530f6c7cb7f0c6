/**
 * A tiny deterministic harness for scenario tests: a few RaftNodes on MemoryLogs, a
 * message queue delivered in FIFO order, and link filters for partitions. Every Ready is
 * handled in full (persist, sync, send, apply, advance) unless a node is "stalled".
 * Meant to read like a script: `h.elect(1)`, `h.propose(1, 'x')`, `h.isolate(3)`.
 */
import { buildBatch, isControlBatch, records } from '../../protocol/batch.js';
import type { Entry, HardState } from '../../broker/raft/log.js';
import type { Message, Snapshot } from '../../broker/raft/types.js';
import { MemoryLog } from '../../broker/raft/memory-log.js';
import { RaftNode, type RaftEvent, type RaftOptions, type Ready } from '../../broker/raft/raft.js';
import { Rng } from './prng.js';

export interface HarnessNode {
  id: number;
  raft: RaftNode;
  log: MemoryLog;
  hard: HardState;
  applied: Entry[];
  snapshots: Snapshot[];
  /** Ready handling paused (a stalled disk): nothing is persisted, sent after sync or applied. */
  stalled: boolean;
  pending?: Ready;
}

export class Harness {
  readonly nodes = new Map<number, HarnessNode>();
  queue: Message[] = [];
  /** Directed links that drop everything: "from->to". */
  private cut = new Set<string>();
  private rng: Rng;
  /** Every message delivered, for assertions ("did 3 ever send a vote?"). */
  readonly delivered: Message[] = [];
  /** Drops the messages it returns true for (on top of cut links). */
  drop: ((m: Message) => boolean) | undefined;
  /** Every node's Raft decisions in order, one line each ("2: vote-refused ..."), for snapshots. */
  readonly decisions: string[] = [];

  constructor(
    voters: number[],
    opts: { learners?: number[]; seed?: number; extra?: Partial<RaftOptions> } = {},
  ) {
    this.rng = new Rng(opts.seed ?? 1);
    for (const id of [...voters, ...(opts.learners ?? [])]) this.add(id, voters, opts.learners ?? [], opts.extra);
  }

  add(id: number, voters: number[], learners: number[], extra: Partial<RaftOptions> = {}): HarnessNode {
    return this.start(id, new MemoryLog(), { term: 0, vote: 0 }, voters, learners, extra);
  }

  /**
   * Restarts `id` on what its log and hard state hold durably (un-synced writes are lost),
   * with `prepare` run on the durable log and hard state first (a storage repair).
   */
  restart(id: number, voters: number[], prepare?: (log: MemoryLog, hard: HardState) => HardState, extra: Partial<RaftOptions> = {}): HarnessNode {
    const old = this.node(id);
    const log = old.log.crash(() => 0).log;
    const hard = prepare ? prepare(log, old.hard) : old.hard;
    return this.start(id, log, hard, voters, [], extra);
  }

  private start(id: number, log: MemoryLog, hard: HardState, voters: number[], learners: number[], extra: Partial<RaftOptions>): HarnessNode {
    const node: HarnessNode = { id, raft: undefined as unknown as RaftNode, log, hard, applied: [], snapshots: [], stalled: false };
    node.raft = new RaftNode({
      id,
      log,
      hardState: hard,
      voters,
      learners,
      random: this.rng.fork().next,
      snapshot: () => ({ index: node.raft.status().applied, data: Buffer.from(`state@${node.raft.status().applied}`) }),
      trace: (event) => this.decisions.push(decisionLine(id, event)),
      ...extra,
    });
    this.nodes.set(id, node);
    return node;
  }

  node(id: number): HarnessNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: number): RaftNode {
    return this.node(id).raft;
  }

  // Links ------------------------------------------------------------------------------

  isolate(id: number): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other, true);
  }

  cutLink(a: number, b: number, both = true): void {
    this.cut.add(`${a}->${b}`);
    if (both) this.cut.add(`${b}->${a}`);
  }

  /** Splits the nodes into groups that cannot talk to each other. */
  partition(...groups: number[][]): void {
    for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const b of h) this.cut.add(`${a}->${b}`);
  }

  heal(): void {
    this.cut.clear();
  }

  // Driving ----------------------------------------------------------------------------

  /** Handles every node's Ready in full (the four-step loop). */
  flushReady(): void {
    for (const n of this.nodes.values()) this.handleReady(n);
  }

  handleReady(n: HarnessNode): void {
    if (n.stalled) {
      // A stalled disk: the leader's immediate messages still leave, nothing else does.
      if (!n.pending && n.raft.hasReady()) {
        n.pending = n.raft.ready();
        this.queue.push(...n.pending.messages);
      }
      return;
    }
    if (n.pending) {
      this.finish(n, n.pending);
      n.pending = undefined;
    }
    while (n.raft.hasReady()) {
      const rd = n.raft.ready();
      this.queue.push(...rd.messages);
      this.finish(n, rd);
    }
  }

  private finish(n: HarnessNode, rd: Ready): void {
    if (rd.hardState) n.hard = rd.hardState;
    if (rd.mustSync) n.log.sync();
    this.queue.push(...rd.messagesAfterSync);
    if (rd.snapshot) n.snapshots.push(rd.snapshot);
    n.applied.push(...rd.committed);
    n.raft.advance(rd);
  }

  /** Delivers queued messages (and what they cause) until nothing is left. */
  stabilize(maxMessages = 100_000): void {
    this.flushReady();
    let count = 0;
    while (this.queue.length > 0) {
      if (++count > maxMessages) throw new Error('harness: no quiescence');
      const m = this.queue.shift()!;
      if (this.cut.has(`${m.from}->${m.to}`) || this.drop?.(m)) continue;
      const to = this.nodes.get(m.to);
      if (!to) continue;
      this.delivered.push(m);
      to.raft.step(m);
      this.handleReady(to);
    }
  }

  tick(ids: Iterable<number> = this.nodes.keys(), times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of ids) this.raft(id).tick();
      this.stabilize();
    }
  }

  /** Ticks node `id` (alone), delivering everything each tick, until it leads or three election timeouts pass. */
  campaign(id: number): void {
    const r = this.raft(id);
    for (let i = 0; i < 60 && r.currentRole !== 'leader'; i++) {
      r.tick();
      this.stabilize();
    }
  }

  /**
   * Makes the nodes that still follow a leader forget it: ten ticks (one minimum election
   * timeout) without hearing from it, after which they no longer refuse votes on its behalf
   * (the check-quorum lease). With random() = 0.99 timeouts are 19 ticks: nobody campaigns.
   */
  forgetLeader(ids: number[]): void {
    const following = ids.filter((id) => this.raft(id).currentRole === 'follower' && this.raft(id).currentLeader !== 0);
    for (let i = 0; i < 10; i++) for (const id of following) this.raft(id).tick();
    for (const id of following) if (this.raft(id).currentRole !== 'follower') throw new Error(`harness: ${id} campaigned while forgetting its leader`);
    this.stabilize();
  }

  /** Elects `id` and lets it commit its no-op. */
  elect(id: number): void {
    this.campaign(id);
    if (this.raft(id).currentRole !== 'leader') throw new Error(`harness: ${id} did not win (${this.raft(id).currentRole})`);
    this.stabilize();
  }

  propose(id: number, value: string): { index: number; term: number } {
    const r = this.raft(id).propose(buildBatch([{ value, timestamp: 0 }], { now: 0 }));
    this.stabilize();
    return r;
  }

  /** Values of the user (non-control) entries a node applied, in order. */
  appliedValues(id: number): string[] {
    const out: string[] = [];
    for (const e of this.node(id).applied) {
      if (isControlBatch(e.data)) continue;
      for (const r of records(e.data)) out.push(r.value ? r.value.toString() : '');
    }
    return out;
  }
}

/** One decision as a stable line: the node, the event, then its fields in a fixed order. */
export function decisionLine(node: number, event: RaftEvent): string {
  const { event: what, ...fields } = event;
  const details = Object.entries(fields).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`);
  return [`${node}: ${what}`, ...details].join(' ');
}
