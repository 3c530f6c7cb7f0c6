/**
 * The consumer: `assign()` the partitions to read, then `for await` the messages.
 *
 * One fetcher per assigned partition runs a loop: pick a replica (readFrom), long-poll
 * it for records at the fetch position, keep the result, and fetch again while the
 * application works through what it has: at most PREFETCH_CHUNKS fetch results wait per
 * partition, so memory stays at about PREFETCH_CHUNKS * maxBytes per partition.
 *
 * Positions only move forward: the fetch position advances past every whole batch seen
 * (control batches too), and records below it are skipped whatever a replica returns.
 * The iterator hands out messages round-robin over partitions that have some.
 *
 * Breaking out of `for await` leaves the consumer open (iterate again to go on);
 * close() stops the fetchers and ends any running iteration.
 */
import { FlotillaError } from '../../protocol/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import { asFlotillaError, backoffFor, sleep } from '../cluster/retry.js';
import { resolveConsumerOptions, type Assignment, type ConsumerOptions, type ResolvedConsumerOptions } from './options.js';
import { messagesFrom, type Message } from './messages.js';
import { validateTopicName } from '../../protocol/topics.js';
import { GroupMembership, type GroupMember } from './group.js';

export type { Message } from './messages.js';
export type { Assignment } from './options.js';

/** Fetch results that may wait per partition: the one being handed out and one prefetched. */
const PREFETCH_CHUNKS = 2;

function needsGroup(what: string): FlotillaError {
  return new FlotillaError('INVALID_REQUEST', `${what} needs a consumer group: create the consumer with client.consumer({ groupId }) and subscribe() to topics`);
}

class PartitionFetcher {
  /** Next offset to fetch; null until 'earliest'/'latest' is resolved. */
  fetchOffset: number | null;
  /**
   * The furthest position a replica's answer took this fetcher to: everything below it was
   * committed (replicas serve only below their high watermark), so no leader can truly end
   * before it.
   */
  private served = -1;
  readonly chunks: Message[][] = [];
  stopped = false;
  private replicaCursor = Math.floor(Math.random() * 1000);
  private readonly setAside = new Map<number, number>();
  private wakeSpace: (() => void) | null = null;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly start: number | 'earliest' | 'latest',
    private readonly consumer: Consumer,
  ) {
    this.fetchOffset = typeof start === 'number' ? start : null;
  }

  private get cluster(): Cluster {
    return this.consumer.cluster;
  }

  private get options(): ResolvedConsumerOptions {
    return this.consumer.options;
  }

  stop(): void {
    this.stopped = true;
    this.wakeSpace?.();
  }

  /** The iterator took a chunk: room to prefetch again. */
  spaceFreed(): void {
    this.wakeSpace?.();
  }

  async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      if (this.chunks.length >= PREFETCH_CHUNKS) {
        await new Promise<void>((resolve) => (this.wakeSpace = resolve));
        this.wakeSpace = null;
        continue;
      }
      try {
        if (this.fetchOffset === null) this.fetchOffset = await this.resolveStart(this.start === 'latest' ? 'latest' : 'earliest');
        await this.fetchOnce();
        attempt = 0;
      } catch (err) {
        const error = asFlotillaError(err);
        if (this.stopped) return;
        if (!error.retriable) {
          this.consumer.fail(error);
          return;
        }
        this.cluster.noteFailure(this.topic, this.partition, error);
        this.cluster.logger.debug({ topic: this.topic, partition: this.partition, code: error.code }, 'fetch retry');
        await sleep(backoffFor(this.cluster.retryPolicy, attempt++));
      }
    }
  }

  private async fetchOnce(): Promise<void> {
    const replica = await this.chooseReplica();
    const offset = this.fetchOffset!;
    const timeoutMs = this.options.maxWaitMs + this.cluster.options.requestTimeoutMs;
    let result;
    try {
      ({ result } = await this.cluster.send(
        replica.address,
        { type: 'fetch', topic: this.topic, partition: this.partition, offset, maxBytes: this.options.maxBytes, maxWaitMs: this.options.maxWaitMs },
        { timeoutMs },
      ));
    } catch (err) {
      const error = asFlotillaError(err);
      if (error.code === 'OFFSET_OUT_OF_RANGE') return this.outOfRange(replica.id, offset);
      if (this.options.readFrom === 'any' && (error.retriable || error.code === 'UNKNOWN_PARTITION')) {
        // Slow, unreachable, repairing or no longer a replica: read another one for a while.
        this.setAside.set(replica.id, Date.now() + this.options.replicaSetAsideMs);
        if (error.code === 'UNKNOWN_PARTITION') this.cluster.invalidateTopic(this.topic);
        if (error.code === 'TIMEOUT' || error.code === 'BROKER_NOT_AVAILABLE' || error.code === 'UNKNOWN_PARTITION' || error.code === 'REPLICA_NOT_AVAILABLE') return;
      }
      throw error;
    }
    if (this.stopped || this.fetchOffset !== offset) return;
    const { messages, nextOffset } = messagesFrom(result.records, this.topic, this.partition, offset);
    this.fetchOffset = nextOffset;
    this.served = Math.max(this.served, nextOffset);
    if (messages.length > 0) {
      this.chunks.push(messages);
      this.consumer.dataArrived();
    }
  }

  /**
   * The position is outside what the replica holds. A follower that is merely behind
   * is set aside; otherwise the leader's bounds decide: reset per offsetReset, or fail.
   */
  private async outOfRange(replicaId: number, offset: number): Promise<void> {
    const bounds = await this.offsets();
    if (offset >= bounds.logStartOffset && offset <= bounds.highWatermark) {
      this.setAside.set(replicaId, Date.now() + this.options.replicaSetAsideMs);
      return;
    }
    if (offset > bounds.highWatermark && offset <= this.served) {
      // A replica already served up to here, so the leader that answered trails: one just
      // elected (its high watermark catches up with its first commit) or a stale one
      // behind a partition. Resetting would go backward over records already handed out.
      throw new FlotillaError('LEADER_NOT_AVAILABLE', `the leader of ${this.topic}/${this.partition} reports a high watermark of ${bounds.highWatermark}, below offset ${offset} already served; retrying`);
    }
    if (this.options.offsetReset === 'none') {
      throw new FlotillaError('OFFSET_OUT_OF_RANGE', `offset ${offset} of ${this.topic}/${this.partition} is outside the log [${bounds.logStartOffset}, ${bounds.highWatermark}); assign a valid offset or set offsetReset to 'earliest' or 'latest'`);
    }
    const reset = this.options.offsetReset === 'earliest' ? bounds.logStartOffset : bounds.highWatermark;
    this.cluster.logger.warn({ topic: this.topic, partition: this.partition, from: offset, to: reset }, 'offset out of range, reset');
    // Never backward past what was already handed out: only reset below when the log itself moved.
    this.fetchOffset = reset;
  }

  /** The log's bounds, asked of the leader (the replica whose high watermark is the newest). */
  private async offsets(): Promise<{ logStartOffset: number; highWatermark: number }> {
    const ask = (target: 'earliest' | 'latest') => this.cluster.leaderRequest({ type: 'listOffsets', topic: this.topic, partition: this.partition, target });
    const [earliest, latest] = await Promise.all([ask('earliest'), ask('latest')]);
    return { logStartOffset: earliest.result.offset, highWatermark: latest.result.offset };
  }

  private async resolveStart(target: 'earliest' | 'latest'): Promise<number> {
    const { result } = await this.cluster.leaderRequest({ type: 'listOffsets', topic: this.topic, partition: this.partition, target });
    return result.offset;
  }

  private async chooseReplica(): Promise<{ id: number; address: string }> {
    const readFrom = this.options.readFrom;
    if (readFrom === 'leader') return this.cluster.leaderAddress(this.topic, this.partition);
    let info = await this.cluster.partition(this.topic, this.partition);
    if (typeof readFrom === 'number') {
      if (!info.replicas.includes(readFrom) || this.cluster.brokerAddress(readFrom) === undefined) {
        // The cache may predate a partition move or a broker joining: look again once.
        this.cluster.invalidateTopic(this.topic);
        info = await this.cluster.partition(this.topic, this.partition);
      }
      const address = this.cluster.brokerAddress(readFrom);
      if (!info.replicas.includes(readFrom) || address === undefined) {
        throw new FlotillaError('UNKNOWN_PARTITION', `broker ${readFrom} holds no replica of ${this.topic}/${this.partition} (replicas: ${info.replicas.join(', ')}); choose one of them with readFrom`);
      }
      return { id: readFrom, address };
    }
    const now = Date.now();
    const candidates = info.replicas.filter((id) => this.cluster.brokerAddress(id) !== undefined && (this.setAside.get(id) ?? 0) <= now);
    if (candidates.length === 0) {
      // Everything is set aside or down: fall back to the leader rather than stall.
      this.setAside.clear();
      return this.cluster.leaderAddress(this.topic, this.partition);
    }
    const id = candidates[this.replicaCursor++ % candidates.length]!;
    return { id, address: this.cluster.brokerAddress(id)! };
  }
}

export class Consumer implements AsyncIterable<Message>, GroupMember {
  readonly options: ResolvedConsumerOptions;
  private fetchers: PartitionFetcher[] = [];
  private started = false;
  private closed = false;
  private failure: FlotillaError | null = null;
  private wakeIterator: (() => void) | null = null;
  private nextFetcher = 0;
  private current: { messages: Message[]; next: number } | null = null;
  /** Per "topic/partition": the offset after the last record handed to the application. */
  private readonly positions = new Map<string, number>();
  private readonly group: GroupMembership | null;

  constructor(
    readonly cluster: Cluster,
    options: ConsumerOptions = {},
  ) {
    this.options = resolveConsumerOptions(options);
    this.group = this.options.groupId === undefined ? null : new GroupMembership(this, this.options.groupId);
  }

  /** Replaces the assignment. Synchronous; fetching starts when iteration does. */
  assign(assignments: Assignment[]): void {
    if (this.closed) throw new FlotillaError('INVALID_REQUEST', 'assign() after consumer.close(); create a new consumer');
    if (!Array.isArray(assignments)) throw new FlotillaError('INVALID_REQUEST', 'assign() takes an array of { topic, partition, offset }');
    if (this.group?.subscribed) throw new FlotillaError('INVALID_REQUEST', 'assign() on a consumer that subscribed to a group: the group assigns its partitions');
    const seen = new Set<string>();
    for (const a of assignments) {
      validateTopicName(a?.topic);
      if (!Number.isSafeInteger(a.partition) || a.partition < 0) throw new FlotillaError('INVALID_REQUEST', `assign(): partition must be a partition number, got ${JSON.stringify(a.partition)}`);
      if (!(a.offset === 'earliest' || a.offset === 'latest' || (Number.isSafeInteger(a.offset) && a.offset >= 0))) {
        throw new FlotillaError('INVALID_REQUEST', `assign(): offset must be a number >= 0, 'earliest' or 'latest', got ${JSON.stringify(a.offset)}`);
      }
      const key = `${a.topic}/${a.partition}`;
      if (seen.has(key)) throw new FlotillaError('INVALID_REQUEST', `assign(): ${key} is listed twice`);
      seen.add(key);
    }
    for (const f of this.fetchers) f.stop();
    this.fetchers = assignments.map((a) => new PartitionFetcher(a.topic, a.partition, a.offset, this));
    this.nextFetcher = 0;
    this.current = null;
    this.failure = null;
    if (this.started) for (const f of this.fetchers) void f.run();
    this.dataArrived();
  }

  /** The partitions this consumer reads right now. */
  assignment(): Array<{ topic: string; partition: number }> {
    return this.fetchers.map((f) => ({ topic: f.topic, partition: f.partition }));
  }

  /**
   * Per assigned partition: the next offset to fetch (null until 'earliest'/'latest' is
   * resolved) and how many fetched messages still wait to be handed out. Lets a caller
   * tell "caught up with the log" apart from "waiting for data".
   */
  progress(): Array<{ topic: string; partition: number; fetchOffset: number | null; buffered: number }> {
    return this.fetchers.map((f) => {
      let buffered = f.chunks.reduce((n, c) => n + c.length, 0);
      const current = this.current;
      if (current && current.next < current.messages.length) {
        const head = current.messages[0]!;
        if (head.topic === f.topic && head.partition === f.partition) buffered += current.messages.length - current.next;
      }
      return { topic: f.topic, partition: f.partition, fetchOffset: f.fetchOffset, buffered };
    });
  }

  /** Joins the group (groupId) for the topic; may be called for several topics. */
  async subscribe(subscription: { topic: string; fromBeginning?: boolean }): Promise<void> {
    if (!this.group) throw needsGroup('subscribe()');
    if (this.closed) throw new FlotillaError('INVALID_REQUEST', 'subscribe() after consumer.close(); create a new consumer');
    validateTopicName(subscription?.topic);
    await this.group.subscribe(subscription.topic, subscription.fromBeginning === true);
  }

  /** Commits, for each owned partition, the offset after the last record handed out. */
  async commit(): Promise<void> {
    if (!this.group?.subscribed) throw needsGroup('commit()');
    await this.group.commit();
  }

  async close(): Promise<void> {
    const wasClosed = this.closed;
    this.closed = true;
    for (const f of this.fetchers) f.stop();
    this.dataArrived();
    if (!wasClosed) await this.group?.close();
  }

  /** @internal Group: start fetching these partitions (at iteration start if not started). */
  addAssigned(assignments: Assignment[]): void {
    if (this.closed) return;
    const fetchers = assignments.map((a) => new PartitionFetcher(a.topic, a.partition, a.offset, this));
    this.fetchers.push(...fetchers);
    if (this.started) for (const f of fetchers) void f.run();
    this.dataArrived();
  }

  /** @internal Group: stop fetching these "topic/partition"s; nothing more of them is handed out. */
  removeAssigned(keys: string[]): void {
    const gone = new Set(keys);
    const keep: PartitionFetcher[] = [];
    for (const f of this.fetchers) {
      if (gone.has(`${f.topic}/${f.partition}`)) f.stop();
      else keep.push(f);
    }
    this.fetchers = keep;
    this.nextFetcher = 0;
    const head = this.current?.messages[0];
    if (head && gone.has(`${head.topic}/${head.partition}`)) this.current = null;
  }

  /** @internal The offset after the last record of "topic/partition" handed out, if any. */
  positionOf(key: string): number | undefined {
    return this.positions.get(key);
  }

  /** @internal */
  forgetPosition(key: string): void {
    this.positions.delete(key);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    if (this.fetchers.length === 0 && !this.group?.subscribed) {
      throw new FlotillaError(
        'INVALID_REQUEST',
        this.group
          ? 'the consumer has not subscribed to any topic: call subscribe({ topic }) before iterating'
          : 'the consumer has no partitions: call assign([{ topic, partition, offset }]) (or give a groupId and subscribe) before iterating',
      );
    }
    if (!this.started) {
      this.started = true;
      for (const f of this.fetchers) void f.run();
    }
    while (!this.closed) {
      if (this.failure) {
        const failure = this.failure;
        this.failure = null;
        throw failure;
      }
      // The chunk being handed out lives on the consumer, not in this generator, so
      // breaking out of the loop and iterating again continues where it stopped.
      if (!this.current || this.current.next >= this.current.messages.length) {
        const messages = this.takeChunk();
        if (!messages) {
          this.current = null;
          await new Promise<void>((resolve) => (this.wakeIterator = resolve));
          this.wakeIterator = null;
          continue;
        }
        this.current = { messages, next: 0 };
      }
      const message = this.current.messages[this.current.next++]!;
      if (this.group) this.positions.set(`${message.topic}/${message.partition}`, message.offset + 1);
      yield message;
    }
  }

  /** @internal A fetcher has data (or the assignment changed): wake a waiting iterator. */
  dataArrived(): void {
    this.wakeIterator?.();
  }

  /** @internal A fetcher hit an error it cannot retry: the iteration throws it. */
  fail(error: FlotillaError): void {
    this.failure = error;
    this.dataArrived();
  }

  private takeChunk(): Message[] | null {
    const n = this.fetchers.length;
    for (let i = 0; i < n; i++) {
      const fetcher = this.fetchers[(this.nextFetcher + i) % n]!;
      const messages = fetcher.chunks.shift();
      if (messages) {
        this.nextFetcher = (this.nextFetcher + i + 1) % n;
        fetcher.spaceFreed();
        return messages;
      }
    }
    return null;
  }
}
