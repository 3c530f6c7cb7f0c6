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
import { buildBatch, IDEMPOTENCE_WINDOW, type Bytes, type RecordInput } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import type { ProducePartitionResult } from '../network/api.js';
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
  const unsent = queue.nextUnsent;
  return unsent ? unsent.bytes.length : Math.min(queue.bytes, batchBytes);
}

/** A batch on its way: the partition, its records, its bytes, and (idempotent) the sealed batch they came from. */
interface Outgoing {
  queue: PartitionQueue;
  records: PendingRecord[];
  bytes: Buffer;
  sealed: SealedBatch | null;
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
  /** After a failed fetch of the producer id: not again before this time, and the wake-up then. */
  private identityRetryAt = 0;
  private identityAttempts = 0;
  private identityWake: NodeJS.Timeout | null = null;
  /** Batches of one partition on the wire at once (idempotent: up to the brokers' window; else 1). */
  private readonly inFlightPerPartition: number;

  constructor(
    private readonly cluster: Cluster,
    options: ProducerOptions = {},
  ) {
    this.options = resolveProducerOptions(options);
    this.inFlightPerPartition = this.options.idempotent ? Math.min(this.options.maxInFlight, IDEMPOTENCE_WINDOW) : 1;
    this.accumulator = new RecordAccumulator({
      lingerMs: this.options.lingerMs,
      batchBytes: this.options.batchBytes,
      inFlightPerPartition: this.inFlightPerPartition,
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
      this.closing = this.flush().finally(() => {
        this.accumulator.stop();
        if (this.identityWake) clearTimeout(this.identityWake);
      });
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
    // first and is picked up by the next pump; one whose batches on the wire went to
    // another broker waits for them to settle.
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
      if (queue.inFlight > 0 && queue.inFlightTo !== address) continue;
      const queues = byBroker.get(address);
      if (queues) queues.push(queue);
      else byBroker.set(address, [queue]);
    }
    let sent = false;
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
        sent = this.sendRequest(address, request) || sent;
      }
    }
    // A partition may have room for another batch on the wire: look again next turn.
    if (sent) this.schedulePump();
    this.notifyProgress();
  }

  /** Looks up (and caches) the leader of a queue's partition, then lets the pump send it. */
  private async findLeader(queue: PartitionQueue): Promise<void> {
    if (queue.lookingUp) return;
    queue.lookingUp = true;
    try {
      const { address } = await this.cluster.leaderAddress(queue.topic, queue.partition);
      queue.lookingUp = false;
      // Normally the cache now knows the leader; if not, send this queue on its own.
      if (this.cluster.cachedLeaderAddress(queue.topic, queue.partition) === undefined && !(queue.inFlight > 0 && queue.inFlightTo !== address)) {
        this.sendRequest(address, [queue]);
      }
    } catch (err) {
      queue.lookingUp = false;
      this.lookupFailed(queue, asFlotillaError(err));
    }
    this.schedulePump();
  }

  /**
   * One produce request to `address` with the next batch of each queue that has one to
   * send now. Batches are taken synchronously, so the order in which they are written to
   * the connection is the order of their sequences. False when nothing was sent.
   */
  private sendRequest(address: string, queues: PartitionQueue[]): boolean {
    const sending: Outgoing[] = [];
    for (const queue of queues) {
      const batch = this.takeBatch(queue);
      if (!batch) continue;
      queue.inFlight++;
      queue.inFlightTo = address;
      sending.push({ queue, ...batch });
    }
    if (sending.length === 0) return false;
    this.inFlightByBroker.set(address, (this.inFlightByBroker.get(address) ?? 0) + 1);
    this.inFlightBatches += sending.length;
    void this.deliver(address, sending);
    return true;
  }

  /** Sends the batches and settles each partition's answer. */
  private async deliver(address: string, sending: Outgoing[]): Promise<void> {
    try {
      for (const { queue } of sending) this.partitioner.batchSent(queue.topic, queue.partition, this.cluster.cachedTopic(queue.topic)?.partitions.length ?? 1);
      this.notifyWritable();
      const timeoutMs = this.cluster.options.requestTimeoutMs;
      const request = {
        type: 'produce' as const,
        acks: this.options.acks,
        timeoutMs,
        partitions: sending.map(({ queue, bytes }) => ({ topic: queue.topic, partition: queue.partition, batch: bytes })),
      };
      let answers: ProducePartitionResult[] | null = null;
      let failure: FlotillaError | null = null;
      try {
        if (this.options.acks === 'none') await this.cluster.send(address, request, { expectResponse: false });
        else answers = (await this.cluster.send(address, request, { timeoutMs: timeoutMs + RESPONSE_GRACE_MS })).result.partitions;
      } catch (err) {
        // The request as a whole failed (connection, timeout): every partition in it did.
        failure = asFlotillaError(err);
      }
      sending.forEach((outgoing, i) => {
        const { queue } = outgoing;
        queue.inFlight--;
        if (failure) {
          this.failed(outgoing, failure);
        } else if (!answers) {
          this.acknowledged(outgoing, -1);
        } else {
          const answer = answers[i];
          if (answer?.topic !== queue.topic || answer.partition !== queue.partition) this.failed(outgoing, new FlotillaError('INTERNAL', `the broker's produce response does not answer ${queue.topic}/${queue.partition}`));
          else if (answer.error) this.failed(outgoing, answer.error);
          else this.acknowledged(outgoing, answer.baseOffset);
        }
        if (queue.inFlight === 0) {
          queue.inFlightTo = null;
          queue.settling = false;
        }
      });
    } finally {
      this.inFlightByBroker.set(address, (this.inFlightByBroker.get(address) ?? 1) - 1);
      this.inFlightBatches -= sending.length;
      this.schedulePump();
    }
  }

  /**
   * The queue's next batch to put on the wire now, or null. Without idempotence: records
   * drained from its front. Idempotent: its first sealed batch not on the wire (resent
   * byte for byte), else a new batch sealed from its front — see sealNext.
   */
  private takeBatch(queue: PartitionQueue): { records: PendingRecord[]; bytes: Buffer; sealed: SealedBatch | null } | null {
    if (!this.options.idempotent) {
      const records = this.accumulator.drain(queue);
      return records.length === 0 ? null : { records, bytes: buildBatch(records.map((p) => p.record)), sealed: null };
    }
    const unsent = queue.nextUnsent;
    const batch = unsent && !unsent.reseal ? unsent : this.sealNext(queue, unsent);
    if (!batch) return null;
    batch.inFlight = true;
    return { records: batch.records, bytes: batch.bytes, sealed: batch };
  }

  /**
   * Idempotent: seals `reseal` again, or a new batch from the queue's front, with the next
   * sequence under the producer's current id and epoch. Null when there is nothing to seal,
   * when the wire holds all this partition may have there, while a producer id or a newer
   * epoch is being fetched (the pump runs again when it arrives), or while batches of an
   * older epoch are still on the wire: a new epoch starts at sequence 0 and the broker then
   * fences the old one, so those settle first.
   */
  private sealNext(queue: PartitionQueue, reseal: SealedBatch | undefined): SealedBatch | null {
    if (!reseal && (queue.length === 0 || !queue.canSeal(this.inFlightPerPartition))) return null;
    const identity = this.identity;
    const afterEpoch = queue.resetAfterEpoch ?? -1;
    if (!identity || identity.producerEpoch <= afterEpoch) {
      this.requestIdentity(afterEpoch);
      return null;
    }
    if (identity.producerId !== queue.sequenceProducerId || identity.producerEpoch !== queue.sequenceEpoch) {
      if (queue.inFlight > 0) return null;
      queue.sequenceProducerId = identity.producerId;
      queue.sequenceEpoch = identity.producerEpoch;
      queue.nextSequence = 0;
      queue.resetAfterEpoch = null;
    }
    const records = reseal ? reseal.records : this.accumulator.drain(queue);
    const baseSequence = queue.nextSequence;
    queue.nextSequence += records.length;
    const sealed: SealedBatch = {
      records,
      bytes: buildBatch(records.map((p) => p.record), { producerId: identity.producerId, producerEpoch: identity.producerEpoch, baseSequence }),
      producerId: identity.producerId,
      producerEpoch: identity.producerEpoch,
      baseSequence,
      ordinal: queue.sealedCount++,
      inFlight: false,
      reseal: false,
    };
    if (reseal) queue.sealed[queue.sealed.indexOf(reseal)] = sealed;
    else queue.sealed.push(sealed);
    return sealed;
  }

  /** A batch was acknowledged at `baseOffset` (-1 with acks none): resolves its records. */
  private acknowledged({ queue, records, sealed }: Outgoing, baseOffset: number): void {
    if (sealed) queue.sealed.splice(queue.sealed.indexOf(sealed), 1);
    for (let i = 0; i < records.length; i++) records[i]!.resolve(baseOffset < 0 ? -1 : baseOffset + i);
    queue.attempts = 0;
  }

  /**
   * Fetches the producer id, or a newer epoch of it than `afterEpoch` (-1: any), unless a
   * fetch is under way; the pump runs again when it ends. The first fetch asks the
   * controller for a new id, later ones bump the epoch of the current id. Partitions that
   * need a newer epoch at the same time share one bump.
   */
  private requestIdentity(afterEpoch: number): void {
    if (this.identityRequest) return;
    const current = this.identity;
    if (current && current.producerEpoch > afterEpoch) return;
    if (Date.now() < this.identityRetryAt) {
      this.wakeForIdentity();
      return;
    }
    const request =
      current && current.producerEpoch < MAX_EPOCH
        ? { type: 'initProducerId' as const, producerId: current.producerId, producerEpoch: current.producerEpoch }
        : { type: 'initProducerId' as const };
    const deadline = Date.now() + this.cluster.options.requestTimeoutMs;
    this.identityRequest = this.cluster
      .controllerRequest(request, deadline)
      .then(
        ({ result }) => {
          this.identity = { producerId: result.producerId, producerEpoch: result.producerEpoch };
          this.identityAttempts = 0;
          this.cluster.logger.debug({ producerId: result.producerId, producerEpoch: result.producerEpoch }, 'idempotent producer id');
        },
        (err: unknown) => this.identityFailed(asFlotillaError(err)),
      )
      .finally(() => {
        this.identityRequest = null;
        this.schedulePump();
      });
  }

  /**
   * The producer id could not be had: retried after a backoff while the records waiting
   * for it are within their delivery deadline (the pump expires them); a non-retriable
   * error fails every record waiting for a batch (they were never sent).
   */
  private identityFailed(error: FlotillaError): void {
    this.cluster.logger.debug({ code: error.code }, 'could not get an idempotent producer id');
    if (error.retriable) {
      this.identityRetryAt = Date.now() + backoffFor(this.cluster.retryPolicy, this.identityAttempts++);
      this.wakeForIdentity();
      return;
    }
    this.accumulator.forEachQueue((queue) => {
      for (const batch of queue.sealed.filter((b) => b.reseal && !b.inFlight)) {
        queue.sealed.splice(queue.sealed.indexOf(batch), 1);
        for (const p of batch.records) p.reject(error);
      }
      for (const p of this.accumulator.drain(queue, Infinity)) p.reject(error);
    });
  }

  private wakeForIdentity(): void {
    if (this.identityWake) return;
    this.identityWake = setTimeout(() => {
      this.identityWake = null;
      this.schedulePump();
    }, Math.max(0, this.identityRetryAt - Date.now()) + 1);
  }

  /**
   * A batch was not acknowledged. Without idempotence a retriable failure puts its records
   * back at the front of the queue (order kept: it was the partition's only batch on the
   * wire); otherwise, or past a record's delivery deadline, the records fail.
   *
   * Idempotent: the sealed batch stays for a resend, in its place; while other batches of
   * the partition are on the wire nothing more is sent (`settling`), then the unsettled
   * ones go again in sequence order. OUT_OF_ORDER_SEQUENCE or UNKNOWN_PRODUCER behind an
   * unsettled batch just waits for it. A batch that cannot be appended under its epoch any
   * more — one of its epoch before it failed for good, or the broker has no state for the
   * producer — is sealed again under a newer epoch, its records kept. A batch that fails
   * for good fails its records, and its partition moves to a newer epoch; when it was
   * certainly not appended, the later batches of its epoch cannot be either (their
   * sequences follow it) and are sealed again.
   */
  private failed(outgoing: Outgoing, error: FlotillaError): void {
    const { queue, records, sealed } = outgoing;
    this.cluster.noteFailure(queue.topic, queue.partition, error);
    if (!sealed) {
      if (this.retryLater(queue, records, error)) this.accumulator.putBack(queue, records);
      else for (const p of records) p.reject(error);
      return;
    }
    sealed.inFlight = false;
    if (sealed.reseal) return;
    const index = queue.sealed.indexOf(sealed);
    if (error.code === 'OUT_OF_ORDER_SEQUENCE' || error.code === 'UNKNOWN_PRODUCER') {
      if (index > 0) {
        // An earlier batch is unsettled: this one is resent (or sealed again) behind it.
        queue.settling = queue.inFlight > 0;
        return;
      }
      const afterFailure = queue.resetAfterEpoch !== null && queue.resetAfterEpoch >= sealed.producerEpoch;
      if (afterFailure || error.code === 'UNKNOWN_PRODUCER') {
        this.resealEpoch(queue, sealed);
        this.cluster.logger.debug({ topic: queue.topic, partition: queue.partition, code: error.code, producerEpoch: sealed.producerEpoch }, 'idempotent batches sealed again under a newer epoch');
        return;
      }
    } else if (this.retryLater(queue, records, error)) {
      return;
    }
    queue.sealed.splice(index, 1);
    queue.resetAfterEpoch = Math.max(queue.resetAfterEpoch ?? -1, sealed.producerEpoch);
    if (!error.retriable) this.resealEpoch(queue, sealed);
    this.cluster.logger.warn(
      { topic: queue.topic, partition: queue.partition, code: error.code, producerId: sealed.producerId, producerEpoch: sealed.producerEpoch, baseSequence: sealed.baseSequence },
      'idempotent batch failed; the partition continues under a new producer epoch',
    );
    for (const p of records) p.reject(error);
  }

  /**
   * Whether a failed batch is tried again: retriable and within the delivery deadline of
   * its oldest record. Then the partition backs off, once per round of failures (NOT_LEADER
   * naming the new leader goes there at once the first time).
   */
  private retryLater(queue: PartitionQueue, records: PendingRecord[], error: FlotillaError): boolean {
    const now = Date.now();
    const wait = backoffFor(this.cluster.retryPolicy, queue.attempts);
    if (!error.retriable || now + wait >= records[0]!.appendedAt + this.options.deliveryTimeoutMs) return false;
    queue.settling = queue.inFlight > 0;
    if (now >= queue.notBefore) {
      const immediate = error.code === 'NOT_LEADER' && typeof error.details.leaderId === 'number' && queue.attempts === 0;
      queue.attempts++;
      queue.notBefore = immediate ? now : now + wait;
    }
    this.cluster.logger.debug({ topic: queue.topic, partition: queue.partition, code: error.code, attempt: queue.attempts }, 'produce retry');
    return true;
  }

  /**
   * The batches of `failed`'s id and epoch from `failed` on (in the queue) will never be
   * appended under it: mark them to be sealed again, under a newer epoch.
   */
  private resealEpoch(queue: PartitionQueue, failed: SealedBatch): void {
    queue.resetAfterEpoch = Math.max(queue.resetAfterEpoch ?? -1, failed.producerEpoch);
    for (const batch of queue.sealed) {
      if (batch.producerId === failed.producerId && batch.producerEpoch === failed.producerEpoch && batch.baseSequence >= failed.baseSequence) batch.reseal = true;
    }
    queue.settling = queue.inFlight > 0;
  }

  /** The leader of a queue's partition could not be found: its queued records wait a backoff, or fail. */
  private lookupFailed(queue: PartitionQueue, error: FlotillaError): void {
    this.cluster.noteFailure(queue.topic, queue.partition, error);
    const now = Date.now();
    const wait = backoffFor(this.cluster.retryPolicy, queue.attempts);
    if (error.retriable && now + wait < queue.oldestQueuedAt + this.options.deliveryTimeoutMs) {
      queue.attempts++;
      queue.notBefore = now + wait;
      return;
    }
    queue.attempts = 0;
    for (const p of this.accumulator.drain(queue, Infinity)) p.reject(error);
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
