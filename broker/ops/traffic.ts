/**
 * Produce and fetch traffic over the last minutes, for the web console's rates: records and
 * bytes per topic, counted where the metrics count them (the dispatcher's hook), and cut
 * into one sample per interval kept in a bounded ring. One timer per broker, whatever the
 * number of partitions; memory is at most RING_SAMPLES samples of the topics that moved.
 *
 * Samples are aligned to the wall clock (slot = time / interval), so the samples of
 * different brokers for the same seconds can be added up.
 */
import { ATTR_CONTROL, Field, HEADER_SIZE, batchSizeAt } from '../../protocol/batch.js';

export const SAMPLE_INTERVAL_MS = 2000;
/** 150 samples of 2 s: the last 5 minutes. */
export const RING_SAMPLES = 150;

/** Counts of one topic in one interval: records and bytes produced, records and bytes fetched. */
export type TrafficCounts = [producedRecords: number, producedBytes: number, fetchedRecords: number, fetchedBytes: number];

export interface TrafficSample {
  /** The interval [slot * SAMPLE_INTERVAL_MS, (slot + 1) * SAMPLE_INTERVAL_MS) of wall-clock time. */
  slot: number;
  /** Topics with traffic in the interval; a topic without any is absent. */
  topics: Record<string, TrafficCounts>;
}

/** Data records in a run of record batches (control batches, Raft's own, are not records). */
export function recordsIn(batches: Uint8Array): number {
  const buf = Buffer.isBuffer(batches) ? batches : Buffer.from(batches.buffer, batches.byteOffset, batches.byteLength);
  let records = 0;
  // Counted before or without the leader's checks (acks none): read only what fits, never loop.
  for (let at = 0, size = 0; at + HEADER_SIZE <= buf.length; at += size) {
    size = batchSizeAt(buf, at);
    if (size < HEADER_SIZE) break;
    if ((buf.readInt16BE(at + Field.attributes) & ATTR_CONTROL) === 0) records += Math.max(0, buf.readInt32BE(at + Field.recordCount));
  }
  return records;
}

export class TrafficHistory {
  /** What moved since the last sample. */
  private current = new Map<string, TrafficCounts>();
  private readonly ring: TrafficSample[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  produced(topic: string, records: number, bytes: number): void {
    const counts = this.countsOf(topic);
    counts[0] += records;
    counts[1] += bytes;
  }

  fetched(topic: string, records: number, bytes: number): void {
    const counts = this.countsOf(topic);
    counts[2] += records;
    counts[3] += bytes;
  }

  /** Closes the interval that ends now: what moved in it becomes a sample (the oldest drops off). */
  sample(): void {
    const slot = Math.round(this.now() / SAMPLE_INTERVAL_MS) - 1;
    const topics = topicRecord(this.current);
    this.current = new Map();
    const last = this.ring.at(-1);
    if (last && last.slot >= slot) {
      // A late timer: fold into the last sample rather than go back in time.
      for (const [topic, counts] of Object.entries(topics)) last.topics[topic] = addCounts(last.topics[topic], counts);
      return;
    }
    this.ring.push({ slot, topics });
    if (this.ring.length > RING_SAMPLES) this.ring.shift();
  }

  /** The samples, oldest first. */
  samples(): readonly TrafficSample[] {
    return this.ring;
  }

  /** Samples at each interval boundary of the wall clock until stopped. */
  start(): void {
    if (this.timer) return;
    const next = () => {
      this.timer = setTimeout(() => {
        this.sample();
        next();
      }, SAMPLE_INTERVAL_MS - (this.now() % SAMPLE_INTERVAL_MS));
      this.timer.unref();
    };
    next();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private countsOf(topic: string): TrafficCounts {
    let counts = this.current.get(topic);
    if (!counts) this.current.set(topic, (counts = [0, 0, 0, 0]));
    return counts;
  }
}

/** Topic names are user input ("__proto__" is a legal one): a record without a prototype. */
export function topicRecord<T>(entries: Iterable<[string, T]>): Record<string, T> {
  const record = Object.create(null) as Record<string, T>;
  for (const [topic, value] of entries) record[topic] = value;
  return record;
}

export function addCounts(a: TrafficCounts | undefined, b: TrafficCounts): TrafficCounts {
  return a ? [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]] : [...b];
}
