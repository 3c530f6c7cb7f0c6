/**
 * Which partition a record goes to.
 *
 * - An explicit `partition` wins.
 * - A key picks `murmur2(keyBytes) & 0x7fffffff % partitionCount`, the same function as
 *   Kafka's default partitioner (murmur2, seed 0x9747b28c, sign bit cleared), so the same
 *   key always maps to the same partition while the partition count stays the same, and
 *   Kafka users get the spread they know. String keys hash their UTF-8 bytes.
 * - No key: "sticky" — records stick to one partition until the producer sends a batch
 *   for it, then move on round-robin. Full batches instead of one tiny batch per
 *   partition; over time the load spreads evenly.
 */
import type { Bytes } from '../../protocol/batch.js';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** Kafka's murmur2 over bytes, as a signed 32-bit integer. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const fours = length >>> 2;
  for (let i = 0; i < fours; i++) {
    const at = i * 4;
    let k = (data[at]! & 0xff) | ((data[at + 1]! & 0xff) << 8) | ((data[at + 2]! & 0xff) << 16) | ((data[at + 3]! & 0xff) << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = fours * 4;
  const rest = length & 3;
  if (rest === 3) h ^= (data[tail + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[tail + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[tail]! & 0xff;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

export function keyBytes(key: Bytes): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

export function partitionForKey(key: Bytes, partitionCount: number): number {
  return (murmur2(keyBytes(key)) & 0x7fffffff) % partitionCount;
}

export class StickyPartitioner {
  private readonly current = new Map<string, number>();
  private nextStart = Math.floor(Math.random() * 1024);

  /** The partition for a record without key or explicit partition. */
  partitionFor(topic: string, partitionCount: number): number {
    let partition = this.current.get(topic);
    if (partition === undefined || partition >= partitionCount) {
      partition = this.nextStart++ % partitionCount;
      this.current.set(topic, partition);
    }
    return partition;
  }

  /** A batch for (topic, partition) left: keyless records move to the next partition. */
  batchSent(topic: string, partition: number, partitionCount: number): void {
    if (this.current.get(topic) === partition && partitionCount > 1) {
      this.current.set(topic, (partition + 1) % partitionCount);
    }
  }
}
