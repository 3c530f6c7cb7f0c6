/**
 * The producer: send() picks a partition and appends the record to that partition's
 * queue synchronously, so records to one partition keep call order even when nobody
 * awaits send(). The sender half (`pump`) turns ready queues into batches, one per
 * partition, and sends the batches of all ready partitions that a broker leads in one
 * request; at most one batch in flight per partition (order) and at most maxInFlight
 * requests per broker (backpressure); it retries retriable failures with
 * backoff and a metadata refresh until the records' deliveryTimeoutMs runs out.
 *
 * Idempotent (`idempotent: true`, acks 'all'): before its first batch the producer gets a
 * producer id (epoch 0) from the controller. Each partition numbers its records: a batch
 * carries producerId, epoch and baseSequence, and the sequence advances by the batch's
 * record count when the batch is built. The built bytes are sealed on the partition's
 * queue and a retriable failure resends exactly those bytes (same sequence), so the
 * leader recognises a retry of a batch it already has and answers with the original
 * offsets instead of appending it again; with one batch in flight per partition a retry
 * always precedes the next batch, so the partition keeps send order.
 *
 * When a batch fails for good (OUT_OF_ORDER_SEQUENCE, any non-retriable error, or its
 * deliveryTimeoutMs ran out, whose outcome at the broker is unknown), its records are
 * rejected and the partition cannot continue its sequence: the next sequence would leave
 * a gap if the batch was not appended, or be fine if it was, and we cannot tell which.
 * So the producer bumps its epoch (InitProducerId with its current id: same id, next
 * epoch) and that partition starts again at sequence 0 under the new epoch, which the
 * broker accepts as a fresh start and which fences any late copy of the failed batch.
 * Other partitions keep their sequences (a newer epoch may continue anywhere), so one
 * partition's failure costs the others nothing. One bump serves every partition that
 * failed under the same epoch.
 *
 * close(): refuses new sends, sends everything queued, and resolves when every record
 * is acknowledged or failed. Calling it again returns the same promise (a no-op).
 */
import { buildBatch, type Bytes, type RecordInput } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import { asFlotillaError, backoffFor } from '../cluster/retry.js';
import { estimateRecordBytes, RecordAccumulator, type PartitionQueue, type PendingRecord, type SealedBatch } from './accumulator.js';
import { resolveProducerOptions, type ProducerOptions, type ResolvedProducerOptions } from './options.js';
import { partitionForKey, StickyPartitioner } from './partitioner.js';

export interface ProducerRecord {
  topic: string;
  key?: Bytes | null;
  value: Bytes | null;
  headers?: Record<string, Bytes>;
  /** Explicit partition; otherwise chosen from the key (murmur2) or sticky for null keys. */
  partition?: number;
  /** ms since the epoch; defaults to the time of the batch. */
  timestamp?: number;
}

export interface RecordAck {
  topic: string;
  partition: number;
  /** The record's offset; -1 with acks 'none' (the broker does not answer). */
  offset: number;
}

/** Records whose topic has no metadata yet wait here, in call order, for the partition count. */
interface TopicGate {
  waiting: Array<{ record: ProducerRecord; resolve(ack: RecordAck): void; reject(error: Error): void; appendedAt: number }>;
}

/** Slack on top of the broker-side produce timeout so that the broker's own TIMEOUT answer arrives first. */
const RESPONSE_GRACE_MS = 1000;

/** Batches of several partitions share a request up to this size (the broker's default frame limit is 16 MiB). */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

function estimatedBatchBytes(queue: PartitionQueue, batchBytes: number): number {
  return queue.sealed ? queue.sealed.bytes.length : Math.min(queue.bytes, batchBytes);
}

/** The epoch is an int16 on the wire; past this a producer takes a new id instead. */
const MAX_EPOCH = 32_767;

interface ProducerIdentity {
  producerId: number;
  producerEpoch: number;
}

export class Producer {
  private readonly options: ResolvedProducerOptions;
  private readonly accumulator: RecordAccumulator;
  private readonly partitioner = new StickyPartitioner();
  private readonly gates = new Map<string, TopicGate>();
  private readonly inFlightByBroker = new Map<string, number>();
  private inFlightBatches = 0;
  private flushing = 0;
  private closing: Promise<void> | null = null;
  private idleWaiters: Array<() => void> = [];
  private writableWaiters: Array<() => void> = [];
  /** Idempotent: the producer id and epoch (null until the first batch asks for them). */
  private identity: ProducerIdentity | null = null;
  private identityRequest: Promise<void> | null = null;

  constructor(
    private readonly cluster: Cluster,
    options: ProducerOptions = {},
  ) {
    this.options = resolveProducerOptions(options);
    this.accumulator = new RecordAccumulator({
      lingerMs: this.options.lingerMs,
      batchBytes: this.options.batchBytes,
      deliveryTimeoutMs: this.options.deliveryTimeoutMs,
      onReady: () => this.schedulePump(),
    });
  }

  /** Estimated bytes queued and not yet sent. */
  get bufferedBytes(): number {
    return this.accumulator.bufferedBytes;
  }

  /**
   * Resolves when fewer than maxBufferedBytes are queued: a caller streaming records
   * without awaiting each send awaits this now and then to bound memory.
   */
  whenWritable(): Promise<void> {
    if (this.accumulator.bufferedBytes < this.options.maxBufferedBytes) return Promise.resolve();
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  send(record: ProducerRecord): Promise<RecordAck> {
    if (this.closing) {
      return Promise.reject(new FlotillaError('INVALID_REQUEST', 'send() after producer.close(); create a new producer with client.producer()'));
    }
    try {
      checkRecord(record);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<RecordAck>((resolve, reject) => {
      const appendedAt = Date.now();
      const gate = this.gates.get(record.topic);
      const info = this.cluster.cachedTopic(record.topic);
      if (gate || !info) {
        this.waitForTopic(record.topic).waiting.push({ record, resolve, reject, appendedAt });
        return;
      }
      this.append(record, info.partitions.length, appendedAt, resolve, reject);
    });
  }

  /** Appends every record before awaiting any; acks come back in input order. */
  sendBatch(records: ProducerRecord[]): Promise<RecordAck[]> {
    if (!Array.isArray(records)) return Promise.reject(new FlotillaError('INVALID_REQUEST', 'sendBatch(records) takes an array of records'));
    return Promise.all(records.map((r) => this.send(r)));
  }

  /** Sends everything queued now, without lingering, and resolves when all of it settled. */
  async flush(): Promise<void> {
    this.flushing++;
    try {
      this.pump();
      await this.whenIdle();
    } finally {
      this.flushing--;
    }
  }

  /** Flushes and refuses further sends. A second close() returns the first one's promise. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = this.flush().finally(() => this.accumulator.stop());
    }
    return this.closing;
  }

  // ---------------------------------------------------------------------- partitioning

  private append(record: ProducerRecord, partitionCount: number, appendedAt: number, resolve: (ack: RecordAck) => void, reject: (error: Error) => void): void {
    let partition: number;
    if (record.partition !== undefined) {
      partition = record.partition;
      if (partition >= partitionCount) {
        reject(new FlotillaError('UNKNOWN_PARTITION', `topic "${record.topic}" has partitions 0-${partitionCount - 1}; there is no partition ${partition}`));
        return;
      }
    } else if (record.key != null) {
      partition = partitionForKey(record.key, partitionCount);
    } else {
      partition = this.partitioner.partitionFor(record.topic, partitionCount);
    }
    const input: RecordInput = { key: record.key ?? null, value: record.value };
    if (record.headers) input.headers = record.headers;
    if (record.timestamp !== undefined) input.timestamp = record.timestamp;
    const pending: PendingRecord = {
      record: input,
      bytes: estimateRecordBytes(input),
      appendedAt,
      resolve: (offset) => resolve({ topic: record.topic, partition, offset }),
      reject,
    };
    this.accumulator.append(record.topic, partition, pending);
  }

  private waitForTopic(topic: string): TopicGate {
    let gate = this.gates.get(topic);
    if (gate) return gate;
    const created: TopicGate = { waiting: [] };
    gate = created;
    this.gates.set(topic, created);
    const deadline = Date.now() + Math.min(this.options.deliveryTimeoutMs, this.cluster.options.requestTimeoutMs);
    const open = async (): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          const info = await this.cluster.topic(topic, deadline);
          this.gates.delete(topic);
          for (const w of created.waiting) this.append(w.record, info.partitions.length, w.appendedAt, w.resolve, w.reject);
          return;
        } catch (err) {
          const error = asFlotillaError(err);
          const wait = backoffFor(this.cluster.retryPolicy, attempt);
          if (!error.retriable || Date.now() + wait >= deadline) {
            this.gates.delete(topic);
            for (const w of created.waiting) w.reject(error);
            this.notifyProgress();
            return;
          }
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    };
    void open();
    return gate;
  }

  // ---------------------------------------------------------------------------- sending

  private pumpScheduled = false;

  /**
   * One pump per event-loop turn, however many linger timers and responses asked for it
   * this turn: a pump looks at every partition's queue, so with thousands of partitions a
   * pump per wake-up would cost partitions² per round.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    // Ready queues go to their leader together: one produce request carries a batch of
    // every ready partition the broker leads (up to MAX_REQUEST_BYTES), at most
    // maxInFlight requests per broker. A partition whose leader is not cached looks it up
    // first and is picked up by the next pump.
    const byBroker = new Map<string, PartitionQueue[]>();
    const { ready, expired } = this.accumulator.poll(this.flushing > 0 || this.closing !== null);
    if (expired.length > 0) {
      const error = new FlotillaError('TIMEOUT', `records were not sent within deliveryTimeoutMs (${this.options.deliveryTimeoutMs} ms): their partition's leader could not be reached in time`);
      for (const p of expired) p.reject(error);
    }
    for (const queue of ready) {
      const address = this.cluster.cachedLeaderAddress(queue.topic, queue.partition);
      if (address === undefined) {
        void this.findLeader(queue);
        continue;
      }
      const queues = byBroker.get(address);
      if (queues) queues.push(queue);
      else byBroker.set(address, [queue]);
    }
    for (const [address, queues] of byBroker) {
      let at = 0;
      while (at < queues.length && (this.inFlightByBroker.get(address) ?? 0) < this.options.maxInFlight) {
        const request: PartitionQueue[] = [];
        let bytes = 0;
        while (at < queues.length) {
          const size = estimatedBatchBytes(queues[at]!, this.options.batchBytes);
          if (request.length > 0 && bytes + size > MAX_REQUEST_BYTES) break;
          bytes += size;
          request.push(queues[at++]!);
        }
        void this.sendRequest(address, request);
      }
    }
    this.notifyProgress();
  }

  /** Looks up (and caches) the leader of a queue's partition, then lets the pump send it. */
  private async findLeader(queue: PartitionQueue): Promise<void> {
    queue.inFlight = true;
    try {
      const { address } = await this.cluster.leaderAddress(queue.topic, queue.partition);
      queue.inFlight = false;
      // Normally the cache now knows the leader; if not, send this queue on its own.
      if (this.cluster.cachedLeaderAddress(queue.topic, queue.partition) === undefined) await this.sendRequest(address, [queue]);
    } catch (err) {
      queue.inFlight = false;
      this.failOrRetry(queue, null, asFlotillaError(err));
    }
    this.schedulePump();
  }

  /**
   * One produce request to `address` with the next batch of each queue. Every partition
   * is answered on its own: acknowledged, or retried / failed by failOrRetry.
   */
  private async sendRequest(address: string, queues: PartitionQueue[]): Promise<void> {
    for (const queue of queues) queue.inFlight = true;
    this.inFlightByBroker.set(address, (this.inFlightByBroker.get(address) ?? 0) + 1);
    this.inFlightBatches += queues.length;
    const sending: Array<{ queue: PartitionQueue; records: PendingRecord[]; bytes: Buffer }> = [];
    try {
      for (const queue of queues) {
        let next: { records: PendingRecord[]; bytes: Buffer } | null;
        try {
          next = await this.nextBatch(queue);
        } catch (err) {
          queue.inFlight = false;
          this.failOrRetry(queue, null, asFlotillaError(err));
          continue;
        }
        if (next) sending.push({ queue, ...next });
        else queue.inFlight = false;
      }
      if (sending.length === 0) return;
      for (const { queue } of sending) this.partitioner.batchSent(queue.topic, queue.partition, this.cluster.cachedTopic(queue.topic)?.partitions.length ?? 1);
      this.notifyWritable();
      const timeoutMs = this.cluster.options.requestTimeoutMs;
      const request = {
        type: 'produce' as const,
        acks: this.options.acks,
        timeoutMs,
        partitions: sending.map(({ queue, bytes }) => ({ topic: queue.topic, partition: queue.partition, batch: bytes })),
      };
      if (this.options.acks === 'none') {
        await this.cluster.send(address, request, { expectResponse: false });
        for (const { queue, records } of sending) this.acknowledged(queue, records, -1);
        return;
      }
      const { result } = await this.cluster.send(address, request, { timeoutMs: timeoutMs + RESPONSE_GRACE_MS });
      sending.forEach(({ queue, records }, i) => {
        const answer = result.partitions[i];
        if (answer?.topic !== queue.topic || answer.partition !== queue.partition) {
          queue.inFlight = false;
          this.failOrRetry(queue, records, new FlotillaError('INTERNAL', `the broker's produce response does not answer ${queue.topic}/${queue.partition}`));
        } else if (answer.error) {
          queue.inFlight = false;
          this.failOrRetry(queue, records, answer.error);
        } else {
          this.acknowledged(queue, records, answer.baseOffset);
        }
      });
    } catch (err) {
      // The request as a whole failed (connection, timeout): every partition in it did.
      for (const { queue, records } of sending) {
        queue.inFlight = false;
        this.failOrRetry(queue, records, asFlotillaError(err));
      }
    } finally {
      this.inFlightByBroker.set(address, (this.inFlightByBroker.get(address) ?? 1) - 1);
      this.inFlightBatches -= queues.length;
      this.schedulePump();
    }
  }

  /** The queue's next batch: its sealed batch (idempotent) or records drained from its front; null when empty. */
  private async nextBatch(queue: PartitionQueue): Promise<{ records: PendingRecord[]; bytes: Buffer } | null> {
    if (this.options.idempotent) return this.sealedBatch(queue);
    const records = this.accumulator.drain(queue);
    return records.length === 0 ? null : { records, bytes: buildBatch(records.map((p) => p.record)) };
  }

  /** The batch at `baseOffset` (-1 with acks none): resolves its records, frees the partition. */
  private acknowledged(queue: PartitionQueue, records: PendingRecord[], baseOffset: number): void {
    queue.sealed = null;
    for (let i = 0; i < records.length; i++) records[i]!.resolve(baseOffset < 0 ? -1 : baseOffset + i);
    queue.attempts = 0;
    queue.inFlight = false;
  }

  /**
   * Idempotent: the partition's sealed batch, or a new one built from the front of its
   * queue with the next sequence (null when there is nothing to send). Gets the producer
   * id first, and a newer epoch when the partition's last batch failed.
   */
  private async sealedBatch(queue: PartitionQueue): Promise<SealedBatch | null> {
    if (queue.sealed) return queue.sealed;
    const identity = await this.producerIdentity(queue.resetAfterEpoch ?? -1);
    // Another send of this queue cannot have sealed meanwhile (inFlight), but a failure
    // path may have drained it.
    if (queue.sealed) return queue.sealed;
    if (queue.length === 0) return null;
    if (queue.resetAfterEpoch !== null) {
      queue.nextSequence = 0;
      queue.resetAfterEpoch = null;
    }
    const records = this.accumulator.drain(queue);
    const baseSequence = queue.nextSequence;
    queue.nextSequence += records.length;
    const bytes = buildBatch(
      records.map((p) => p.record),
      { producerId: identity.producerId, producerEpoch: identity.producerEpoch, baseSequence },
    );
    queue.sealed = { records, bytes, producerId: identity.producerId, producerEpoch: identity.producerEpoch, baseSequence };
    return queue.sealed;
  }

  /**
   * The producer id with an epoch above `afterEpoch` (-1: any). The first call asks the
   * controller for a new id; later ones bump the epoch of the current id. Concurrent
   * callers share one request, so partitions that failed under the same epoch cause one
   * bump between them.
   */
  private async producerIdentity(afterEpoch: number): Promise<ProducerIdentity> {
    for (;;) {
      const current = this.identity;
      if (current && current.producerEpoch > afterEpoch) return current;
      if (!this.identityRequest) {
        const request =
          current && current.producerEpoch < MAX_EPOCH
            ? { type: 'initProducerId' as const, producerId: current.producerId, producerEpoch: current.producerEpoch }
            : { type: 'initProducerId' as const };
        const deadline = Date.now() + this.cluster.options.requestTimeoutMs;
        this.identityRequest = this.cluster
          .controllerRequest(request, deadline)
          .then(({ result }) => {
            // A new id restarts at epoch 0; every partition must then restart its sequence.
            if (current && result.producerId !== current.producerId) this.accumulator.forEachQueue((q) => (q.resetAfterEpoch = -1));
            this.identity = { producerId: result.producerId, producerEpoch: result.producerEpoch };
            this.cluster.logger.debug({ producerId: result.producerId, producerEpoch: result.producerEpoch }, 'idempotent producer id');
          })
          .finally(() => {
            this.identityRequest = null;
          });
      }
      await this.identityRequest;
    }
  }

  /**
   * A retriable failure puts the batch back at the front of its queue (order kept) and
   * holds the partition back for a backoff; a non-retriable one, or one past a record's
   * delivery deadline, fails the records. `batch` is null when nothing was drained yet.
   * An idempotent producer keeps its sealed batch for the retry instead (same bytes,
   * same sequence), and after a final failure restarts the partition's sequence under a
   * newer epoch (see the top of this file).
   */
  private failOrRetry(queue: PartitionQueue, batch: PendingRecord[] | null, error: FlotillaError): void {
    this.cluster.noteFailure(queue.topic, queue.partition, error);
    const now = Date.now();
    const wait = backoffFor(this.cluster.retryPolicy, queue.attempts);
    const sealed = queue.sealed;
    if (sealed) batch = sealed.records;
    const oldest = batch ? batch[0]!.appendedAt : queue.oldestAppendedAt;
    if (error.retriable && now + wait < oldest + this.options.deliveryTimeoutMs) {
      // NOT_LEADER naming the new leader goes straight there; anything else waits a backoff.
      const immediate = error.code === 'NOT_LEADER' && typeof error.details.leaderId === 'number' && queue.attempts === 0;
      queue.attempts++;
      queue.notBefore = immediate ? now : now + wait;
      if (batch && !sealed) this.accumulator.putBack(queue, batch);
      this.cluster.logger.debug({ topic: queue.topic, partition: queue.partition, code: error.code, attempt: queue.attempts }, 'produce retry');
      return;
    }
    queue.attempts = 0;
    if (sealed) {
      queue.sealed = null;
      queue.resetAfterEpoch = sealed.producerEpoch;
      this.cluster.logger.warn(
        { topic: queue.topic, partition: queue.partition, code: error.code, producerId: sealed.producerId, producerEpoch: sealed.producerEpoch, baseSequence: sealed.baseSequence },
        'idempotent batch failed; the partition restarts its sequence under a new producer epoch',
      );
    }
    const failed = batch ?? [];
    // Without idempotence, later records of this partition are still sent: each record's
    // outcome is its own, as in Kafka. Records past their deadline fail too.
    if (!batch) failed.push(...this.accumulator.drain(queue));
    for (const p of failed) p.reject(error);
  }

  // ----------------------------------------------------------------------- waiting

  private get isIdle(): boolean {
    return this.inFlightBatches === 0 && this.gates.size === 0 && this.accumulator.isEmpty;
  }

  private whenIdle(): Promise<void> {
    if (this.isIdle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyProgress(): void {
    this.notifyWritable();
    if (this.idleWaiters.length > 0 && this.isIdle) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private notifyWritable(): void {
    if (this.writableWaiters.length > 0 && this.accumulator.bufferedBytes < this.options.maxBufferedBytes) {
      const waiters = this.writableWaiters;
      this.writableWaiters = [];
      for (const w of waiters) w();
    }
  }
}

function isBytes(value: unknown): value is Bytes {
  return typeof value === 'string' || value instanceof Uint8Array;
}

function checkRecord(record: ProducerRecord): void {
  if (record === null || typeof record !== 'object') throw new FlotillaError('INVALID_REQUEST', 'send(record) takes { topic, value, key?, headers?, partition? }');
  if (typeof record.topic !== 'string' || record.topic === '') throw new FlotillaError('INVALID_REQUEST', 'record.topic must be a non-empty string');
  if (record.value !== null && !isBytes(record.value)) throw new FlotillaError('INVALID_REQUEST', 'record.value must be a Buffer, Uint8Array, string or null');
  if (record.key != null && !isBytes(record.key)) throw new FlotillaError('INVALID_REQUEST', 'record.key must be a Buffer, Uint8Array, string, null or absent');
  if (record.partition !== undefined && !(Number.isSafeInteger(record.partition) && record.partition >= 0)) {
    throw new FlotillaError('INVALID_REQUEST', `record.partition must be a partition number (0, 1, ...), got ${JSON.stringify(record.partition)}`);
  }
  if (record.headers !== undefined) {
    if (record.headers === null || typeof record.headers !== 'object') throw new FlotillaError('INVALID_REQUEST', 'record.headers must be an object of name → Buffer or string');
    for (const [name, value] of Object.entries(record.headers)) {
      if (!isBytes(value)) throw new FlotillaError('INVALID_REQUEST', `record header "${name}" must be a Buffer, Uint8Array or string`);
    }
  }
}
