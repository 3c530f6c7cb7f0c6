/**
 * Per-partition queues of records waiting to be sent. A queue becomes ready when it holds
 * batchBytes, when its oldest record has waited lingerMs, or when the producer flushes.
 * The producer drains a ready queue into one batch (at most batchBytes, at least one
 * record) and sends it; on a retriable failure the records go back to the front of
 * their queue, so a partition's records keep their call order.
 *
 * An idempotent producer instead seals the batch (records, bytes, sequence) on its queue
 * when it is built and resends exactly those bytes until the batch settles: a sealed
 * batch makes its queue ready (after any backoff) and comes before every queued record.
 *
 * Memory: `bufferedBytes` counts the estimated encoded size of every queued record; the
 * producer compares it with maxBufferedBytes to push back on callers.
 */
import type { RecordInput } from '../../protocol/batch.js';

/** An idempotent producer's built batch: resent byte for byte until it settles. */
export interface SealedBatch {
  records: PendingRecord[];
  bytes: Buffer;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

export interface PendingRecord {
  record: RecordInput;
  /** Estimated encoded size. */
  bytes: number;
  /** ms since the epoch; the record fails once it is older than deliveryTimeoutMs. */
  appendedAt: number;
  resolve(offset: number): void;
  reject(error: Error): void;
}

/** Per-record overhead in a batch: length, attributes, deltas, key/value lengths, header count. */
const RECORD_OVERHEAD = 16;

function byteLength(bytes: RecordInput['value'] | undefined): number {
  if (bytes == null) return 0;
  return typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
}

export function estimateRecordBytes(record: RecordInput): number {
  let size = RECORD_OVERHEAD + byteLength(record.key) + byteLength(record.value);
  if (record.headers) for (const name of Object.keys(record.headers)) size += 4 + Buffer.byteLength(name) + byteLength(record.headers[name]);
  return size;
}

export class PartitionQueue {
  /** Records from `head` on are queued; the array is compacted as it drains. */
  private items: PendingRecord[] = [];
  private head = 0;
  bytes = 0;
  /** A batch of this partition is on the wire (invariant: at most one, to keep order). */
  inFlight = false;
  /** Retry backoff: not ready before this time (ms since the epoch). */
  notBefore = 0;
  /** Consecutive failed attempts of the batch at the front, for the backoff. */
  attempts = 0;
  lingerTimer: NodeJS.Timeout | null = null;
  /** Idempotent producer: the built batch awaiting an answer (sent, or in a retry backoff). */
  sealed: SealedBatch | null = null;
  /** Idempotent producer: sequence of the next batch's first record. */
  nextSequence = 0;
  /**
   * Idempotent producer: a batch of this partition failed, so its outcome at the broker
   * may be unknown; the next batch starts at sequence 0 under an epoch newer than this one.
   */
  resetAfterEpoch: number | null = null;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Queued records or a sealed batch: something still to send. */
  get hasWork(): boolean {
    return this.length > 0 || this.sealed !== null;
  }

  get oldestAppendedAt(): number {
    if (this.sealed) return this.sealed.records[0]!.appendedAt;
    return this.length > 0 ? this.items[this.head]!.appendedAt : Infinity;
  }

  push(pending: PendingRecord): void {
    this.items.push(pending);
    this.bytes += pending.bytes;
  }

  /** Takes records from the front up to `maxBytes` (always at least one). */
  take(maxBytes: number): PendingRecord[] {
    let end = this.head;
    let bytes = 0;
    while (end < this.items.length && (end === this.head || bytes + this.items[end]!.bytes <= maxBytes)) {
      bytes += this.items[end]!.bytes;
      end++;
    }
    const taken = this.items.slice(this.head, end);
    this.head = end;
    this.bytes -= bytes;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return taken;
  }

  /** Puts records back in front, in their order (after a retriable failure). */
  putBack(records: PendingRecord[]): void {
    this.items = [...records, ...this.items.slice(this.head)];
    this.head = 0;
    for (const r of records) this.bytes += r.bytes;
  }

  /** Removes and returns every queued record (to fail them). */
  takeAll(): PendingRecord[] {
    const all = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    return all;
  }
}

export interface AccumulatorOptions {
  lingerMs: number;
  batchBytes: number;
  /** Called (at most once per tick) when some queue may have become ready. */
  onReady: () => void;
  now?: () => number;
}

export class RecordAccumulator {
  private readonly queues = new Map<string, PartitionQueue>();
  private readyScheduled = false;
  private totalBytes = 0;
  private readonly now: () => number;

  constructor(private readonly options: AccumulatorOptions) {
    this.now = options.now ?? Date.now;
  }

  get bufferedBytes(): number {
    return this.totalBytes;
  }

  get isEmpty(): boolean {
    for (const q of this.queues.values()) if (q.hasWork) return false;
    return true;
  }

  queue(topic: string, partition: number): PartitionQueue {
    const key = `${partition}\u0000${topic}`;
    let queue = this.queues.get(key);
    if (!queue) {
      queue = new PartitionQueue(topic, partition);
      this.queues.set(key, queue);
    }
    return queue;
  }

  forEachQueue(fn: (queue: PartitionQueue) => void): void {
    for (const q of this.queues.values()) fn(q);
  }

  append(topic: string, partition: number, pending: PendingRecord): PartitionQueue {
    const queue = this.queue(topic, partition);
    const wasEmpty = queue.length === 0;
    queue.push(pending);
    this.totalBytes += pending.bytes;
    if (queue.bytes >= this.options.batchBytes) {
      this.signalReady();
    } else if (wasEmpty) {
      this.armLinger(queue);
    }
    return queue;
  }

  /** Queues that can send now: not in flight, past any backoff, and full, lingered or flushed. */
  ready(flushing: boolean): PartitionQueue[] {
    const now = this.now();
    const out: PartitionQueue[] = [];
    for (const q of this.queues.values()) {
      if (!q.hasWork || q.inFlight || q.notBefore > now) continue;
      if (q.sealed || flushing || q.bytes >= this.options.batchBytes || now - q.oldestAppendedAt >= this.options.lingerMs) out.push(q);
    }
    return out;
  }

  /** Earliest time a queue held back by a retry backoff may send again; Infinity when none is. */
  nextRetryAt(): number {
    let earliest = Infinity;
    const now = this.now();
    for (const q of this.queues.values()) {
      if (q.hasWork && !q.inFlight && q.notBefore > now && q.notBefore < earliest) earliest = q.notBefore;
    }
    return earliest;
  }

  /** The next batch of a queue: up to batchBytes of records from its front. */
  drain(queue: PartitionQueue): PendingRecord[] {
    const taken = queue.take(this.options.batchBytes);
    for (const r of taken) this.totalBytes -= r.bytes;
    if (queue.length > 0 && !queue.lingerTimer) this.armLinger(queue);
    return taken;
  }

  putBack(queue: PartitionQueue, records: PendingRecord[]): void {
    queue.putBack(records);
    for (const r of records) this.totalBytes += r.bytes;
  }

  failAll(error: Error): void {
    for (const q of this.queues.values()) {
      for (const r of q.takeAll()) {
        this.totalBytes -= r.bytes;
        r.reject(error);
      }
      if (q.lingerTimer) clearTimeout(q.lingerTimer);
      q.lingerTimer = null;
    }
  }

  /** Wakes the producer when the queue's oldest record has lingered long enough. */
  private armLinger(queue: PartitionQueue): void {
    if (queue.lingerTimer) clearTimeout(queue.lingerTimer);
    // +1: a timer may fire within the same millisecond it was due, before the queue counts as lingered.
    const wait = Math.max(0, queue.oldestAppendedAt + this.options.lingerMs - this.now()) + 1;
    queue.lingerTimer = setTimeout(() => {
      queue.lingerTimer = null;
      this.options.onReady();
    }, wait);
  }

  /** Coalesces many size triggers from one synchronous burst of sends into one wake-up. */
  private signalReady(): void {
    if (this.readyScheduled) return;
    this.readyScheduled = true;
    queueMicrotask(() => {
      this.readyScheduled = false;
      this.options.onReady();
    });
  }
}
