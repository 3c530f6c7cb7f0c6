/**
 * One replica of one topic partition: the state machine of its Raft group, plus produce
 * (at the leader) and fetch (at any replica).
 *
 * The Raft log is the data log: produce proposes the client's batch bytes as they are
 * (the core patches base offset and term), and fetch serves the same bytes from the log
 * files, never above this replica's high watermark (one past its last applied = committed
 * offset). A fetch at the high watermark long-polls until more commits or its wait ends.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { isControlBatch, readBatchHeader, verifyBatch, type BatchHeader } from '../../protocol/batch.js';
import { keepBytes } from '../../protocol/codec.js';
import type { Entry } from '../raft/log.js';
import type { SoftState } from '../raft/raft.js';
import type { Snapshot } from '../raft/types.js';
import { CommitWaiter } from '../multiraft/commit-waiter.js';
import type { Group, MultiRaft, StateMachine } from '../multiraft/multiraft.js';
import { ProducerStateTable } from './producer-state.js';

export type Acks = 'all' | 'leader' | 'none';

export interface ProduceResult {
  baseOffset: number;
  lastOffset: number;
  logStartOffset: number;
}

export interface FetchResult {
  highWatermark: number;
  logStartOffset: number;
  records: Buffer;
}

/** Hears the writes a leader takes (the broker's metrics). */
export interface ProduceObserver {
  /** A producer's batch appended here as leader (not a duplicate of one already taken). */
  appended(topic: string, partition: number, batch: Uint8Array): void;
  /** For each acks=all write led here, the seconds from its append to its commit. */
  committed(seconds: number): void;
}

export class PartitionReplica implements StateMachine {
  group!: Group;
  /** Last offset applied (= committed and known here); -1 before anything. */
  private applied = -1;
  private readonly commits = new CommitWaiter();
  private readonly fetchWaiters = new Set<() => void>();
  /** Idempotent producers' recent batches, rebuilt from the log. */
  readonly producers = new ProducerStateTable();
  leaderId = 0;
  term = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The assignment's replicas (the target during a move); the first is the preferred leader. */
    public replicas: number[],
    private readonly raft: MultiRaft,
    private readonly leaderAddress: (id: number) => string | undefined,
    private readonly observer?: ProduceObserver,
  ) {}

  attach(group: Group): void {
    this.group = group;
    this.applied = group.log.firstIndex() - 1;
  }

  get highWatermark(): number {
    return this.applied + 1;
  }

  get logStartOffset(): number {
    return this.group.log.firstIndex();
  }

  get isLeader(): boolean {
    return this.group.node.currentRole === 'leader';
  }

  // ---------------------------------------------------------------------------------------
  // StateMachine

  apply(entries: Entry[]): void {
    for (const entry of entries) {
      if (!isControlBatch(entry.data)) this.producers.applyCommitted(readBatchHeader(entry.data), entry.index);
    }
    this.applied = entries[entries.length - 1]!.index;
    this.commits.onApplied(entries);
    this.wakeFetchers();
  }

  restore(snapshot: Snapshot): void {
    this.applied = snapshot.index;
    this.commits.onSkipped(snapshot.index);
    this.wakeFetchers();
  }

  onSoftState(state: SoftState): void {
    if (state.role !== 'leader') this.producers.clearPending();
    this.leaderId = state.leaderId;
    this.term = state.term;
  }

  snapshot() {
    // A partition's state is its log: the "snapshot" is just the log start boundary.
    const index = this.group.log.firstIndex() - 1;
    return index <= this.applied ? { index, data: Buffer.alloc(0) } : undefined;
  }

  /**
   * Hands leadership to `to` if it is a caught-up voter, and waits up to `timeoutMs` for it
   * to take over. Throws NOT_LEADER here when another broker leads.
   */
  async transferLeadership(to: number, timeoutMs: number): Promise<void> {
    if (!this.isLeader) throw this.notLeader();
    this.raft.withNode(this.group, (node) => node.transferLeadership(to));
    const deadline = Date.now() + timeoutMs;
    while (this.group.node.status().leaderId !== to) {
      if (Date.now() > deadline) throw new FlotillaError('TIMEOUT', `broker ${to} did not take over ${this.topic}/${this.partition} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Led here while its preferred (first) replica, another broker, votes in the group. Does not allocate. */
  get misplacedLeader(): boolean {
    const preferred = this.replicas[0];
    return this.isLeader && preferred !== undefined && preferred !== this.group.node.id && this.group.node.members.voters.includes(preferred);
  }

  /**
   * Leader only: the voters it reaches and heard from recently that hold everything
   * committed (itself included). During a move these are the group's actual voters.
   * (A quiet group's leader does not tick, so only the connection tells that a follower went away.)
   */
  inSyncVoters(): number[] {
    const status = this.group.node.status();
    return status.membership.voters.filter((id) => id === status.id || (status.progress[id]?.recentActive && status.progress[id]!.match >= status.commit && this.raft.reaches(id)));
  }

  /**
   * Leader only: the in-sync followers whose log reaches `offset` (holds every entry below
   * it), the furthest caught up first. Kafka's leader picks a preferred read replica among these.
   */
  inSyncFollowersReaching(offset: number): number[] {
    const status = this.group.node.status();
    return this.inSyncVoters()
      .filter((id) => id !== status.id && status.progress[id]!.match + 1 >= offset)
      .sort((a, b) => status.progress[b]!.match - status.progress[a]!.match);
  }

  /** Leader only: a replica of the assignment is not in sync (a follower lags or is away, or a move is adding one). */
  get underReplicated(): boolean {
    if (!this.isLeader) return false;
    const inSync = this.inSyncVoters();
    return this.replicas.some((id) => !inSync.includes(id));
  }

  /** Led here with a leadership transfer pending. */
  get handingOver(): boolean {
    return this.isLeader && this.group.node.transferringTo !== 0;
  }

  /** Starts handing leadership to the preferred replica; throws when Raft refuses. */
  handToPreferred(): void {
    this.raft.withNode(this.group, (node) => node.transferLeadership(this.replicas[0]!));
  }

  /** Leader here, preferred elsewhere, and the preferred replica is caught up. */
  shouldHandToPreferred(): boolean {
    const preferred = this.replicas[0];
    if (!this.isLeader || preferred === undefined || preferred === this.group.node.id) return false;
    const status = this.group.node.status();
    const pr = status.progress[preferred];
    return status.membership.voters.includes(preferred) && !!pr?.recentActive && pr.match >= status.commit;
  }

  // ---------------------------------------------------------------------------------------
  // Produce

  notLeader(): FlotillaError {
    const leaderId = this.group.node.status().leaderId;
    const leaderAddress = leaderId ? this.leaderAddress(leaderId) : undefined;
    if (!leaderId) return new FlotillaError('LEADER_NOT_AVAILABLE', `${this.topic}/${this.partition} has no leader right now; retry shortly`);
    return new FlotillaError('NOT_LEADER', `broker does not lead ${this.topic}/${this.partition}; its leader is broker ${leaderId}`, {
      leaderId,
      ...(leaderAddress ? { leaderAddress } : {}),
    });
  }

  /**
   * Appends a client batch. Resolves per `acks`: 'all' once committed (a majority holds it
   * durably), 'leader' once appended here. The batch is checked (length, CRC) first: a
   * failure here means nothing was appended.
   */
  async produce(batch: Uint8Array, acks: Acks, timeoutMs: number): Promise<ProduceResult> {
    if (!this.isLeader) throw this.notLeader();
    // The frame's bytes are a view into a socket chunk or a frame buffer of their own; the log
    // keeps the view when that retains little else (keepBytes says why that is safe), else a copy.
    const data = keepBytes(batch);
    const header = verifyBatch(data);
    if (isControlBatch(data)) throw new FlotillaError('INVALID_REQUEST', 'clients may not produce control batches');
    if (header.producerId >= 0) {
      const duplicate = this.checkIdempotent(header);
      if (duplicate) {
        if (acks === 'all' && duplicate.lastOffset > this.applied) await this.commits.wait(duplicate.lastOffset, this.group.node.currentTerm, timeoutMs);
        return { baseOffset: duplicate.baseOffset, lastOffset: duplicate.lastOffset, logStartOffset: this.logStartOffset };
      }
    }
    let proposal: { index: number; term: number };
    try {
      proposal = this.raft.propose(this.group, data);
    } catch (error) {
      if (error instanceof FlotillaError && error.code === 'NOT_LEADER') throw this.notLeader();
      throw error;
    }
    if (header.producerId >= 0) this.producers.addPending(header, proposal.index);
    this.observer?.appended(this.topic, this.partition, data);
    const result = { baseOffset: proposal.index - header.recordCount + 1, lastOffset: proposal.index, logStartOffset: this.logStartOffset };
    if (acks === 'all') {
      const appended = performance.now();
      await this.commits.wait(proposal.index, proposal.term, timeoutMs);
      this.observer?.committed((performance.now() - appended) / 1000);
    }
    return result;
  }

  /**
   * An idempotent batch: the original offsets when it is a retry of one already appended,
   * undefined when it is new. Only once this leader has applied an entry of its own term
   * is the producer state complete (see producer-state.ts).
   */
  private checkIdempotent(header: BatchHeader): { baseOffset: number; lastOffset: number } | undefined {
    this.requireCommittedInTerm();
    const check = this.producers.check(header);
    return check.kind === 'duplicate' ? check.batch : undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Fetch

  /**
   * Reads committed batches from `offset` (whole batches, starting with the one that holds
   * it), waiting up to `maxWaitMs` when there is nothing yet.
   */
  async fetch(offset: number, maxBytes: number, maxWaitMs: number, signal?: AbortSignal): Promise<FetchResult> {
    const start = this.logStartOffset;
    // Above the high watermark is out of range only past the end of the leader's log: a
    // follower (or a leader that has not applied its commit yet) may simply lag behind what
    // the consumer read elsewhere, and then it waits like at the end of the log.
    const end = this.isLeader ? this.group.log.lastIndex() + 1 : Infinity;
    if (offset < start || offset > end) {
      throw new FlotillaError('OFFSET_OUT_OF_RANGE', `offset ${offset} of ${this.topic}/${this.partition} is outside [${start}, ${this.highWatermark}] on this replica`);
    }
    if (offset >= this.highWatermark && maxWaitMs > 0) await this.waitForCommit(maxWaitMs, signal);
    const highWatermark = this.highWatermark;
    const records = offset < highWatermark ? await this.group.log.read(offset, maxBytes, highWatermark - 1) : Buffer.alloc(0);
    return { highWatermark, logStartOffset: this.logStartOffset, records };
  }

  /**
   * Kafka's ListOffsets by timestamp, answered by the leader: the earliest committed offset
   * whose record's timestamp is at least `timestamp` (ms), or offset -1 and timestamp -1
   * when there is none.
   */
  async offsetForTimestamp(timestamp: number): Promise<{ offset: number; timestamp: number }> {
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new FlotillaError('INVALID_REQUEST', `a timestamp to look offsets up by must be ms since the epoch (>= 0), got ${timestamp}`);
    }
    if (!this.isLeader) throw this.notLeader();
    this.requireCommittedInTerm();
    const found = await this.group.log.offsetForTimestamp(timestamp, this.highWatermark - 1);
    return found ?? { offset: -1, timestamp: -1 };
  }

  /**
   * Kafka's ListOffsets max-timestamp, answered by the leader: the committed record with
   * the largest timestamp (the earliest of them on a tie), or offset -1 and timestamp -1
   * when nothing is committed.
   */
  async offsetOfMaxTimestamp(): Promise<{ offset: number; timestamp: number }> {
    if (!this.isLeader) throw this.notLeader();
    this.requireCommittedInTerm();
    const found = await this.group.log.offsetOfMaxTimestamp(this.highWatermark - 1);
    return found ?? { offset: -1, timestamp: -1 };
  }

  /**
   * A new leader knows what is committed only once an entry of its own term is applied
   * (Raft's no-op); until then its high watermark can lag what was already acknowledged.
   */
  requireCommittedInTerm(): void {
    if (this.group.log.termAt(this.applied) !== this.group.node.currentTerm) {
      throw new FlotillaError('LEADER_NOT_AVAILABLE', `the new leader of ${this.topic}/${this.partition} is still committing its first entry; retry shortly`);
    }
  }

  /** Resolves when something new commits, or after `ms`. */
  waitForCommit(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.fetchWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.fetchWaiters.add(done);
      signal?.addEventListener('abort', done);
    });
  }

  private wakeFetchers(): void {
    for (const wake of [...this.fetchWaiters]) wake();
  }

  /** The replica is going away (topic deleted, broker stopping). */
  close(error: FlotillaError): void {
    this.commits.failAll(error);
    this.wakeFetchers();
  }
}
