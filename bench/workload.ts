/**
 * The load drivers every benchmark shares (npm run bench, flotilla bench, OMB workloads):
 * a producer at full speed with a bounded window of unacknowledged records, a producer at
 * a fixed rate that records publish latency, and consumers that count what they receive
 * and the end-to-end latency of each record.
 *
 * Vocabulary follows the OpenMessaging Benchmark: "publish" is producing with the ack
 * awaited, "publish latency" is send → ack, "end-to-end latency" is send → a consumer
 * handed the record. Latencies are measured from each record's *intended* send time on
 * the fixed-rate schedule, so a stall delays every record scheduled during it (no
 * coordinated omission), as the OMB rate limiter does.
 */
import { FlotillaError, type Client, type Consumer, type CreateTopicOptions, type Producer, type ProducerOptions } from '../client/index.js';

/** The first 8 bytes of every payload: the intended send time, performance.now() ms as float64. */
export const TIMESTAMP_BYTES = 8;

export function payloadOf(size: number): Buffer {
  const value = Buffer.alloc(Math.max(size, TIMESTAMP_BYTES));
  for (let i = TIMESTAMP_BYTES; i < value.length; i++) value[i] = (i * 31 + 7) & 0xff;
  return value;
}

function stamped(template: Buffer, at: number): Buffer {
  const value = Buffer.from(template);
  value.writeDoubleLE(at, 0);
  return value;
}

const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ThroughputResult {
  records: number;
  bytes: number;
  seconds: number;
  recordsPerSecond: number;
  /** Payload MB/s (10^6 bytes). */
  mbPerSecond: number;
  errors: number;
}

function throughputOf(records: number, recordBytes: number, seconds: number, errors: number): ThroughputResult {
  const bytes = records * recordBytes;
  return { records, bytes, seconds, recordsPerSecond: records / seconds, mbPerSecond: bytes / 1e6 / seconds, errors };
}

/** Counts a reporter reads while a run goes on (the OMB's periodic rate lines). */
export interface LiveCounter {
  records: number;
}

export interface ProduceOptions {
  topic: string;
  recordBytes: number;
  /** Stop after this many records... */
  records?: number;
  /** ...or after this long, whichever comes first. */
  durationMs?: number;
  /** Most records sent and not yet acknowledged (the publisher's window). */
  window?: number;
  /** Spread records over partitions 0..partitions-1 in turn; sticky partitioner when absent. */
  partitions?: number;
  onProgress?: (acked: number) => void;
  /** Stamp each payload with its send time and record publish latency (after warmupMs). */
  stamped?: boolean;
  warmupMs?: number;
  counter?: LiveCounter;
  signal?: AbortSignal;
}

export interface FullSpeedResult extends ThroughputResult {
  /** With `stamped`: publish latencies (ms) of records sent after the warm-up. */
  publishLatencyMs: Float64Array;
  startedAt: number;
}

/**
 * Sends as fast as the window allows; time runs from the first send to the last ack.
 * Every record's ack is awaited, so the figure is acknowledged records per second.
 */
export async function produceAtFullSpeed(producer: Producer, options: ProduceOptions): Promise<FullSpeedResult> {
  const window = options.window ?? 8192;
  const limit = options.records ?? Infinity;
  const value = payloadOf(options.recordBytes);
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let firstError: unknown = null;
  let slotFreed: (() => void) | null = null;
  const settle = () => {
    const wake = slotFreed;
    slotFreed = null;
    wake?.();
  };
  const counter = options.counter;
  const latencies: number[] = [];
  const onAck = () => {
    acked++;
    if (counter) counter.records++;
    settle();
  };
  const onError = (err: unknown) => {
    errors++;
    firstError ??= err;
    settle();
  };
  const start = performance.now();
  const deadline = options.durationMs !== undefined ? start + options.durationMs : Infinity;
  let nextProgress = start + 1000;
  const measureFrom = start + (options.warmupMs ?? 0);
  while (sent < limit && performance.now() < deadline && errors === 0 && !options.signal?.aborted) {
    while (sent - acked - errors >= window) await new Promise<void>((resolve) => (slotFreed = resolve));
    let payload = value;
    let ack = onAck;
    if (options.stamped) {
      const sentAt = performance.now();
      payload = stamped(value, sentAt);
      if (sentAt >= measureFrom) {
        ack = () => {
          latencies.push(performance.now() - sentAt);
          onAck();
        };
      }
    }
    const record = options.partitions ? { topic: options.topic, value: payload, partition: sent % options.partitions } : { topic: options.topic, value: payload };
    producer.send(record).then(ack, onError);
    sent++;
    // Let responses in now and then: a synchronous burst of sends would starve the socket.
    if ((sent & 255) === 0) {
      await yieldToIo();
      if (options.onProgress && performance.now() >= nextProgress) {
        options.onProgress(acked);
        nextProgress += 1000;
      }
    }
  }
  await producer.flush();
  while (acked + errors < sent) await new Promise<void>((resolve) => (slotFreed = resolve));
  const seconds = (performance.now() - start) / 1000;
  if (errors > 0) throw new Error(`${errors} of ${sent} sends failed; first: ${String(firstError)}`);
  return { ...throughputOf(acked, options.recordBytes, seconds, errors), publishLatencyMs: Float64Array.from(latencies), startedAt: start };
}

export interface FixedRateOptions {
  topic: string;
  recordBytes: number;
  /** Records per second, spread evenly. */
  rate: number;
  durationMs: number;
  /** Samples from the first warmupMs are dropped. */
  warmupMs?: number;
  partitions?: number;
  onProgress?: (acked: number) => void;
  /** Stop early (the caller's Ctrl-C, a failover test) without waiting for the duration. */
  signal?: AbortSignal;
  counter?: LiveCounter;
}

export interface FixedRateResult extends ThroughputResult {
  /** Publish (send() → ack) latencies in ms of records after the warm-up. */
  publishLatencyMs: Float64Array;
  /**
   * How late each measured send() was against its schedule (ms): the load generator's own
   * timer granularity and pauses, kept apart from the broker's latency (as OpenMessaging
   * Benchmark reports "publish delay"). A producer that blocks send() shows up here.
   */
  sendDelayMs: Float64Array;
  /** When the schedule started (performance.now() ms). */
  startedAt: number;
  /** Records whose send was due but had not been made when the schedule ended: the producer fell behind. */
  behind: number;
}

/**
 * Sends `rate` records per second on a fixed schedule for `durationMs`, stamping each
 * payload with the time of its send() call; resolves when every record is acknowledged.
 * Latency runs from the send() call, not from the schedule: timers fire up to a
 * millisecond late, which is the generator's delay, not the broker's (reported apart).
 */
export async function produceAtFixedRate(producer: Producer, options: FixedRateOptions): Promise<FixedRateResult> {
  const template = payloadOf(options.recordBytes);
  const intervalMs = 1000 / options.rate;
  const total = Math.floor((options.durationMs / 1000) * options.rate);
  const warmupMs = options.warmupMs ?? 0;
  const latencies = new Float64Array(total);
  const sendDelays = new Float64Array(total);
  let measured = 0;
  let acked = 0;
  let errors = 0;
  let firstError: unknown = null;
  // Counted, not kept: holding every send's promise until the end made the load generator's
  // young-generation collections copy tens of thousands of them, pauses that landed in
  // the latencies measured.
  let unsettled = 0;
  let allSettled: (() => void) | null = null;
  const settled = () => {
    if (--unsettled === 0) allSettled?.();
  };
  const start = performance.now() + 1;
  let sent = 0;
  let nextProgress = start + 1000;
  while (sent < total && !options.signal?.aborted) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - start) / intervalMs) + 1);
    for (; sent < due; sent++) {
      const intended = start + sent * intervalMs;
      const sentAt = performance.now();
      const record = options.partitions
        ? { topic: options.topic, value: stamped(template, sentAt), partition: sent % options.partitions }
        : { topic: options.topic, value: stamped(template, sentAt) };
      unsettled++;
      producer.send(record).then(
        () => {
          acked++;
          if (options.counter) options.counter.records++;
          if (intended - start >= warmupMs) {
            sendDelays[measured] = sentAt - intended;
            latencies[measured++] = performance.now() - sentAt;
          }
          settled();
        },
        (err: unknown) => {
          errors++;
          firstError ??= err;
          settled();
        },
      );
    }
    if (options.onProgress && now >= nextProgress) {
      options.onProgress(acked);
      nextProgress += 1000;
    }
    // Sleep until the next record is due (timers have ~1 ms resolution).
    const nextDue = start + sent * intervalMs;
    await sleep(Math.max(0, Math.floor(nextDue - performance.now())));
  }
  await producer.flush();
  if (unsettled > 0) await new Promise<void>((resolve) => (allSettled = resolve));
  const seconds = (performance.now() - start) / 1000;
  if (errors > 0 && !options.signal) throw new Error(`${errors} of ${sent} sends failed; first: ${String(firstError)}`);
  return {
    ...throughputOf(acked, options.recordBytes, seconds, errors),
    publishLatencyMs: latencies.subarray(0, measured),
    sendDelayMs: sendDelays.subarray(0, measured),
    startedAt: start,
    behind: total - sent,
  };
}

export interface ConsumeResult extends ThroughputResult {
  /** With `stamped`: each record's end-to-end latency (ms) and its send stamp, in arrival order. */
  endToEndLatencyMs: Float64Array;
  stamps: Float64Array;
  /** Records at or below an offset already received on their partition (SPEC: never happens). */
  repeated: number;
}

export interface ConsumeOptions {
  topic: string;
  /** A partition count (reads 0..n-1) or the partitions to read. */
  partitions: number | number[];
  /** 'earliest' reads what is stored; 'latest' tails new records. */
  from: 'earliest' | 'latest';
  /** Stop after this many records... */
  records?: number;
  /** ...or once every partition is read up to the high watermark it had at the start... */
  untilCaughtUp?: boolean;
  /** ...or when this is aborted. */
  signal?: AbortSignal;
  /** Payloads carry their send time (produceAtFixedRate): record end-to-end latency. */
  stamped?: boolean;
  maxWaitMs?: number;
  onProgress?: (received: number) => void;
  counter?: LiveCounter;
}

/**
 * Reads the topic's partitions with one consumer, counting records and payload bytes.
 * Time runs from the first fetch to the last record. Resolves `ready` once every
 * partition's start offset is resolved (a tailing consumer misses nothing sent after).
 */
export function consume(client: Client, options: ConsumeOptions): { ready: Promise<void>; done: Promise<ConsumeResult> } {
  const consumer = client.consumer({ maxWaitMs: options.maxWaitMs ?? 100 });
  const partitions = typeof options.partitions === 'number' ? Array.from({ length: options.partitions }, (_, p) => p) : options.partitions;
  const assignments = partitions.map((partition) => ({ topic: options.topic, partition, offset: options.from }));
  consumer.assign(assignments);
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  const done = (async () => {
    const limit = options.records ?? Infinity;
    const latencies: number[] = [];
    const stamps: number[] = [];
    let received = 0;
    let bytes = 0;
    let repeated = 0;
    const lastOffset = new Map<number, number>();
    let targets: number[] | null = null;
    if (options.untilCaughtUp) {
      const description = await client.admin().describeTopic(options.topic);
      targets = description.partitions.map((p) => p.highWatermark);
    }
    const start = performance.now();
    let last = start;
    let nextProgress = start + 1000;
    // Watches for the stop conditions that no arriving record would reveal.
    const watcher = setInterval(() => {
      const progress = consumer.progress();
      if (progress.every((p) => p.fetchOffset !== null)) resolveReady();
      if (options.signal?.aborted) void consumer.close();
      if (targets && progress.every((p) => p.buffered === 0 && p.fetchOffset !== null && p.fetchOffset >= targets![p.partition]!)) void consumer.close();
      if (options.onProgress && performance.now() >= nextProgress) {
        options.onProgress(received);
        nextProgress += 1000;
      }
    }, 5);
    try {
      for await (const message of consumer) {
        const now = performance.now();
        received++;
        bytes += message.value?.length ?? 0;
        if (message.offset <= (lastOffset.get(message.partition) ?? -1)) repeated++;
        else lastOffset.set(message.partition, message.offset);
        if (options.counter) options.counter.records++;
        last = now;
        if (options.stamped && message.value && message.value.length >= TIMESTAMP_BYTES) {
          const stamp = message.value.readDoubleLE(0);
          stamps.push(stamp);
          latencies.push(now - stamp);
        }
        if (received >= limit) break;
      }
    } finally {
      clearInterval(watcher);
      resolveReady();
      await consumer.close();
    }
    const seconds = Math.max(1e-9, (last - start) / 1000);
    return {
      records: received,
      bytes,
      seconds,
      recordsPerSecond: received / seconds,
      mbPerSecond: bytes / 1e6 / seconds,
      errors: 0,
      endToEndLatencyMs: Float64Array.from(latencies),
      stamps: Float64Array.from(stamps),
      repeated,
    };
  })();
  return { ready, done };
}

/** A producer set up as the benchmarks use it: acks all unless told otherwise. */
export function benchProducer(client: Client, options: ProducerOptions = {}): Producer {
  return client.producer({ acks: 'all', ...options });
}

export type { Consumer };

/**
 * createTopic, tolerating one known lag: the topic exists on the controller but the broker
 * asked for metadata does not know it yet and answers UNKNOWN_TOPIC (createTopic and the
 * describeTopic after it can both hit this). Waits until every partition has a leader.
 */
export async function createTopicWhenReady(client: Client, options: CreateTopicOptions, timeoutMs = 30_000): Promise<void> {
  const admin = client.admin();
  try {
    await admin.createTopic(options);
  } catch (err) {
    if (!(err instanceof FlotillaError && err.code === 'UNKNOWN_TOPIC')) throw err;
  }
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const description = await admin.describeTopic(options.topic);
      if (description.partitions.length > 0 && description.partitions.every((p) => p.leader !== null)) return;
    } catch (err) {
      if (!(err instanceof FlotillaError && err.code === 'UNKNOWN_TOPIC') || performance.now() > deadline) throw err;
    }
    if (performance.now() > deadline) throw new FlotillaError('TIMEOUT', `topic ${options.topic} has partitions without a leader after ${timeoutMs} ms`);
    await sleep(100);
  }
}
