/**
 * The consumer's machinery, shared by `Consumer` (the public face) and its group
 * membership, and exported by neither: the fetchers of the assigned partitions, the
 * messages they fetched, and the positions handed to the application.
 *
 * One fetcher per assigned partition runs a loop: pick a replica (readFrom), long-poll
 * it for records at the fetch position, keep the result, and fetch again while the
 * application works through what it has: at most PREFETCH_CHUNKS fetch results wait per
 * partition, so memory stays at about PREFETCH_CHUNKS * maxBytes per partition.
 *
 * Positions only move forward: the fetch position advances past every whole batch seen
 * (control batches too), and records below it are skipped whatever a replica returns.
 * take() hands out messages round-robin over partitions that have some. Partitions are
 * keyed "topic/partition".
 */
import { FlotillaError } from '../../protocol/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import { asFlotillaError, backoffFor, sleep } from '../cluster/retry.js';
import type { Assignment, ResolvedConsumerOptions } from './options.js';
import { messagesFrom, type Message } from './messages.js';

/** Fetch results that may wait per partition: the one being handed out and one prefetched. */
const PREFETCH_CHUNKS = 2;

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
    private readonly start: Assignment['offset'],
    private readonly reader: Reader,
  ) {
    this.fetchOffset = typeof start === 'number' ? start : null;
  }

  private get cluster(): Cluster {
    return this.reader.cluster;
  }

  private get options(): ResolvedConsumerOptions {
    return this.reader.options;
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
        if (this.fetchOffset === null) this.fetchOffset = await this.cluster.offsetFor(this.topic, this.partition, typeof this.start === 'number' ? 'earliest' : this.start);
        await this.fetchOnce();
        attempt = 0;
      } catch (err) {
        const error = asFlotillaError(err);
        if (this.stopped) return;
        if (!error.retriable) {
          this.reader.fail(error);
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
      // A replica's metadata can lag the cluster's: one that has not yet applied the topic's
      // creation (or a partition move) answers UNKNOWN_TOPIC or UNKNOWN_PARTITION. Fresh
      // metadata decides: the next choice looks it up again, and fails if the topic is gone.
      const unknownHere = error.code === 'UNKNOWN_TOPIC' || error.code === 'UNKNOWN_PARTITION';
      if (this.options.readFrom === 'any' && (error.retriable || unknownHere)) {
        // Slow, unreachable, repairing, behind or no longer a replica: read another one for a while.
        this.setAside.set(replica.id, Date.now() + this.options.replicaSetAsideMs);
        if (unknownHere) this.cluster.invalidateTopic(this.topic);
        if (error.code === 'TIMEOUT' || error.code === 'BROKER_NOT_AVAILABLE' || unknownHere || error.code === 'REPLICA_NOT_AVAILABLE') return;
      }
      throw error;
    }
    if (this.stopped || this.fetchOffset !== offset) return;
    const { messages, nextOffset } = messagesFrom(result.records, this.topic, this.partition, offset);
    this.fetchOffset = nextOffset;
    this.served = Math.max(this.served, nextOffset);
    if (messages.length > 0) {
      this.chunks.push(messages);
      this.reader.dataArrived();
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

export class Reader {
  private fetchers: PartitionFetcher[] = [];
  private started = false;
  private stopped = false;
  private failure: FlotillaError | null = null;
  private wakeTaker: (() => void) | null = null;
  private nextFetcher = 0;
  /** The chunk being handed out: kept here, so a `for await` broken off and begun again goes on where it stopped. */
  private current: { messages: Message[]; next: number } | null = null;
  /** Per partition: the offset after the last record handed out (kept only for a group's commits). */
  private readonly positions = new Map<string, number>();

  constructor(
    readonly cluster: Cluster,
    readonly options: ResolvedConsumerOptions,
  ) {}

  get isEmpty(): boolean {
    return this.fetchers.length === 0;
  }

  /** Replaces every partition read; a fetcher's earlier failure is forgotten with it. */
  replace(assignments: Assignment[]): void {
    for (const f of this.fetchers) f.stop();
    this.fetchers = [];
    this.nextFetcher = 0;
    this.current = null;
    this.failure = null;
    this.add(assignments);
  }

  /** Starts reading these partitions too (once start() was called). */
  add(assignments: Assignment[]): void {
    if (this.stopped) return;
    const fetchers = assignments.map((a) => new PartitionFetcher(a.topic, a.partition, a.offset, this));
    this.fetchers.push(...fetchers);
    if (this.started) for (const f of fetchers) void f.run();
    this.dataArrived();
  }

  /** Stops reading these partitions; nothing more of them is handed out. */
  remove(keys: string[]): void {
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

  /** Fetching begins with the first iteration, not at assign(). */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const f of this.fetchers) void f.run();
  }

  /** Stops every fetcher and wakes a waiting taker, for good. */
  stop(): void {
    this.stopped = true;
    for (const f of this.fetchers) f.stop();
    this.dataArrived();
  }

  /** The partitions read right now. */
  assignment(): Array<{ topic: string; partition: number }> {
    return this.fetchers.map((f) => ({ topic: f.topic, partition: f.partition }));
  }

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

  /**
   * The next message to hand out, or null when none has arrived (await whenData()).
   * Throws, once, the error a fetcher could not retry.
   */
  take(): Message | null {
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
    if (!this.current || this.current.next >= this.current.messages.length) {
      const messages = this.takeChunk();
      if (!messages) {
        this.current = null;
        return null;
      }
      this.current = { messages, next: 0 };
    }
    const message = this.current.messages[this.current.next++]!;
    if (this.options.groupId !== undefined) this.positions.set(`${message.topic}/${message.partition}`, message.offset + 1);
    return message;
  }

  /** Resolves when a fetcher has data, fails, or the partitions read change. */
  whenData(): Promise<void> {
    return new Promise<void>((resolve) => (this.wakeTaker = resolve));
  }

  /** The offset after the last record of the partition handed out, if any. */
  positionOf(key: string): number | undefined {
    return this.positions.get(key);
  }

  forgetPosition(key: string): void {
    this.positions.delete(key);
  }

  dataArrived(): void {
    const wake = this.wakeTaker;
    this.wakeTaker = null;
    wake?.();
  }

  /** A fetcher hit an error it cannot retry: take() throws it. */
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
