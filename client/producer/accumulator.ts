/**
 * Per-partition queues of records waiting to be sent. A queue becomes ready when it holds
 * batchBytes, when its oldest record has waited lingerMs, or when the producer flushes —
 * and at once (after the current burst of sends) when its partition has nothing on the
 * wire: lingering gathers records while earlier batches replicate, and there is nothing to
 * wait for when none do (as Nagle's algorithm does for TCP segments). A producer that
 * keeps a window of sends outstanding would otherwise add lingerMs to every round trip.
 * The producer drains a ready queue into one batch (at most batchBytes, at least one
 * record) and sends it; on a retriable failure the records go back to the front of
 * their queue, so a partition's records keep their call order. Without idempotence a
 * partition has one batch on the wire at a time: that is what keeps the order.
 *
 * An idempotent producer instead seals each batch (records, bytes, epoch, sequence) on its
 * queue when it builds it, and may have several on the wire at once (the broker's sequence
 * check keeps them in order); a sealed batch is resent byte for byte until it settles, and
 * unsent or resealed batches go before every queued record (see producer.ts).
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
  /** Its place among the batches this partition sealed (PartitionQueue.sealedCount). */
  ordinal: number;
  /** On the wire (else waiting to be sent again). */
  inFlight: boolean;
  /**
   * Certainly not appended under its epoch, and never to be: it must be sealed again under
   * a newer epoch (an earlier batch of its epoch failed for good, or the broker lost the
   * producer's state).
   */
  reseal: boolean;
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
  /**
   * Records from `head` on are queued; the slots before it are emptied as they are taken
   * and the array compacted as it drains.
   */
  private items: Array<PendingRecord | undefined> = [];
  private head = 0;
  bytes = 0;
  /** Batches of this partition on the wire (without idempotence at most one). */
  inFlight = 0;
  /** The broker they went to: the partition sends nowhere else until they settle. */
  inFlightTo: string | null = null;
  /** A batch failed and will be resent: nothing more is sent until the ones on the wire settle. */
  settling = false;
  /** The leader is being looked up: nothing is sent meanwhile. */
  lookingUp = false;
  /** Retry backoff: not ready before this time (ms since the epoch). */
  notBefore = 0;
  /** Consecutive failed rounds of this partition, for the backoff. */
  attempts = 0;
  /** Idempotent producer: built batches not yet settled, in sequence order. */
  sealed: SealedBatch[] = [];
  /** Idempotent producer: batches sealed so far (each seal, and each seal again, counts). */
  sealedCount = 0;
  /** Idempotent producer: the producer id and epoch of the sequence below (-1: none yet). */
  sequenceProducerId = -1;
  sequenceEpoch = -1;
  /** Idempotent producer: sequence of the next batch's first record under sequenceEpoch. */
  nextSequence = 0;
  /**
   * Idempotent producer: a batch of this partition failed for good under this epoch, so
   * its next batches are sealed under a newer one.
   */
  resetAfterEpoch: number | null = null;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Queued records or sealed batches: something still to send or settle. */
  get hasWork(): boolean {
    return this.length > 0 || this.sealed.length > 0;
  }

  /** Nothing of this partition on the wire or waiting to be sent again: its records need not linger. */
  get idle(): boolean {
    return this.inFlight === 0 && this.sealed.length === 0;
  }

  /** The first sealed batch not on the wire: the next to send (before any queued record). */
  get nextUnsent(): SealedBatch | undefined {
    return this.sealed.find((b) => !b.inFlight);
  }

  /**
   * Whether this partition may put another batch on the wire now (backoff aside): fewer
   * than `limit` there, none of them awaiting a resend behind them, the leader known.
   */
  canSend(limit: number): boolean {
    if (this.lookingUp || this.inFlight >= limit) return false;
    return !(this.settling && this.inFlight > 0);
  }

  /**
   * Idempotent producer: whether another batch may be sealed. Brokers recognise a retry
   * among a producer's last `window` batches of a partition, so no batch is sealed that
   * many batches after the oldest unsettled one — however many between them settled — or
   * a late retry of that one would no longer be recognised.
   */
  canSeal(window: number): boolean {
    const oldest = this.sealed[0];
    return !oldest || this.sealedCount - oldest.ordinal < window;
  }

  /** When the oldest queued record (not yet in a batch) was appended; Infinity when none is. */
  get oldestQueuedAt(): number {
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
    const taken = this.items.slice(this.head, end) as PendingRecord[];
    this.bytes -= bytes;
    // A taken slot would keep its record (value, promise callbacks) reachable until the next
    // compaction, up to a thousand sends later: past two young collections, so every record
    // reached the old generation and, at a steady 2,000 sends a second, forced a full
    // collection about once a second (V8's default heap).
    if (end === this.items.length) {
      this.items.length = 0;
      this.head = 0;
      return taken;
    }
    this.items.fill(undefined, this.head, end);
    this.head = end;
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

  /** Takes the queued records appended at or before `time` (they sit at the front: appends are in time order). */
  takeAppendedBefore(time: number): PendingRecord[] {
    let end = this.head;
    while (end < this.items.length && this.items[end]!.appendedAt <= time) end++;
    const taken = this.items.slice(this.head, end) as PendingRecord[];
    for (const r of taken) this.bytes -= r.bytes;
    this.items = this.items.slice(end);
    this.head = 0;
    return taken;
  }

  /** Removes and returns every queued record (to fail them). */
  takeAll(): PendingRecord[] {
    const all = this.items.slice(this.head) as PendingRecord[];
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    return all;
  }
}

export interface AccumulatorOptions {
  lingerMs: number;
  batchBytes: number;
  /** Batches of one partition on the wire at once: 1 keeps order without idempotence. */
  inFlightPerPartition: number;
  /** Queued records not yet in a batch fail once they are this old (ms since append). */
  deliveryTimeoutMs: number;
  /** Called when some queue may have become ready (a size trigger, or the wake-up timer). */
  onReady: () => void;
  now?: () => number;
}

/** What `poll` found: queues to send now, and queued records past their delivery deadline. */
export interface PollResult {
  ready: PartitionQueue[];
  expired: PendingRecord[];
}

export class RecordAccumulator {
  private readonly queues = new Map<string, PartitionQueue>();
  private readyScheduled = false;
  private totalBytes = 0;
  private readonly now: () => number;
  /**
   * One wake-up for every queue: `poll` sets it to the earliest time a queue that is not
   * can send becomes ready (linger, retry backoff) or a queued record expires; an append
   * to an empty queue may only bring it forward. A queue whose batches fill the wire is
   * looked at again when an answer arrives, so nothing with work is ever left without a
   * reason to be polled.
   */
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeTimerAt = Infinity;

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

  /** When the wake-up timer will fire (ms since the epoch); Infinity when none is set. */
  get nextWakeAt(): number {
    return this.wakeTimerAt;
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
    // An idle partition (or lingerMs 0) sends once this synchronous burst of sends is
    // queued, not a timer tick later (a timer costs 1-2 ms, more than the rest of an ack on
    // a quiet cluster).
    if (queue.bytes >= this.options.batchBytes || this.options.lingerMs === 0 || queue.idle) this.signalReady();
    else if (wasEmpty) this.wakeAt(pending.appendedAt + this.options.lingerMs);
    return queue;
  }

  /**
   * Takes queued records past their delivery deadline out of every queue, returns the
   * queues that can send now (room on the wire, past any backoff, and holding an unsent
   * sealed batch, or queued records that are full, lingered or flushed with room for
   * another batch), and sets the wake-up for the earliest queue that will become ready.
   * An unsent sealed batch is sent as soon as its backoff allows, whatever its age.
   */
  poll(flushing: boolean): PollResult {
    const now = this.now();
    const ready: PartitionQueue[] = [];
    const expired: PendingRecord[] = [];
    let wake = Infinity;
    for (const q of this.queues.values()) {
      if (!q.hasWork) continue;
      if (q.length > 0 && q.oldestQueuedAt + this.options.deliveryTimeoutMs <= now) {
        for (const r of q.takeAppendedBefore(now - this.options.deliveryTimeoutMs)) {
          this.totalBytes -= r.bytes;
          expired.push(r);
        }
      }
      // Batches to be sealed again were certainly not appended: past the deadline they fail
      // like queued records (the others settle by their own answers).
      while (q.sealed[0]?.reseal && !q.sealed[0].inFlight && q.sealed[0].records[0]!.appendedAt + this.options.deliveryTimeoutMs <= now) {
        expired.push(...q.sealed.shift()!.records);
      }
      if (q.sealed[0]?.reseal && !q.sealed[0].inFlight) wake = Math.min(wake, q.sealed[0].records[0]!.appendedAt + this.options.deliveryTimeoutMs);
      if (q.length > 0) wake = Math.min(wake, q.oldestQueuedAt + this.options.deliveryTimeoutMs);
      const limit = this.options.inFlightPerPartition;
      if (!q.hasWork || !q.canSend(limit)) continue;
      if (q.notBefore > now) {
        wake = Math.min(wake, q.notBefore);
      } else if (q.nextUnsent) {
        ready.push(q);
      } else if (q.length === 0 || !q.canSeal(limit)) {
        // Nothing new to send, or the wire holds all it may: an answer polls again.
      } else if (flushing || q.bytes >= this.options.batchBytes) {
        ready.push(q);
      } else {
        const lingeredAt = q.oldestQueuedAt + this.options.lingerMs;
        if (lingeredAt <= now || q.idle) ready.push(q);
        else wake = Math.min(wake, lingeredAt);
      }
    }
    // The poll saw every queue: its answer replaces whatever wake-up was set before.
    if (wake !== this.wakeTimerAt) {
      this.stop();
      this.wakeAt(wake);
    }
    return { ready, expired };
  }

  /** The next batch of a queue: up to batchBytes (or `maxBytes`) of records from its front. */
  drain(queue: PartitionQueue, maxBytes = this.options.batchBytes): PendingRecord[] {
    const taken = queue.take(maxBytes);
    for (const r of taken) this.totalBytes -= r.bytes;
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
    }
    this.stop();
  }

  /** Cancels the wake-up timer (the producer is closed). */
  stop(): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    this.wakeTimerAt = Infinity;
  }

  /** Makes sure onReady runs at `at` or earlier; one timer serves every queue. */
  private wakeAt(at: number): void {
    if (at === Infinity || (this.wakeTimer && this.wakeTimerAt <= at)) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimerAt = at;
    // +1: a timer may fire within the millisecond it was due, before Date.now() has passed `at`.
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wakeTimerAt = Infinity;
      this.options.onReady();
    }, Math.max(0, at - this.now()) + 1);
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
