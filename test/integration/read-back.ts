/**
 * Reading acknowledged records back through one chosen replica, for the fault tests: every
 * record acknowledged must come back at its offset with exactly the acknowledged bytes.
 * And reading a whole partition, for the checks that need every record (duplicates).
 */
import type { Test } from 'tap';
import type { Client } from '../../client/index.js';
import { waitFor } from './cluster.js';

/**
 * Reads every partition through broker `readFrom` until it has served every acknowledged
 * record (`acked`: value by "partition@offset"). Corrupt or misplaced data surfaces as a
 * client error or a wrong value, and fails the test.
 */
export async function readsBack(t: Pick<Test, 'equal'>, client: Client, topic: string, readFrom: number | 'leader', acked: Map<string, string>, timeoutMs = 60_000): Promise<void> {
  const wanted = new Map<number, number>();
  for (const key of acked.keys()) {
    const [p, o] = key.split('@').map(Number) as [number, number];
    wanted.set(p, Math.max(wanted.get(p) ?? -1, o));
  }
  for (const [partition, last] of [...wanted].sort(([a], [b]) => a - b)) {
    const seen = await waitFor(`broker ${readFrom} serves ${topic}/${partition} up to ${last}`, async () => {
      const consumer = client.consumer({ readFrom, maxWaitMs: 100 });
      let count = 0;
      try {
        consumer.assign([{ topic, partition, offset: 0 }]);
        for await (const m of consumer) {
          const expected = acked.get(`${partition}@${m.offset}`);
          if (expected !== undefined) {
            if (m.value?.toString() !== expected) throw new Error(`offset ${m.offset} of partition ${partition} holds other bytes than acknowledged`);
            count++;
          }
          if (m.offset >= last) return count;
        }
      } finally {
        await consumer.close();
      }
      return undefined;
    }, timeoutMs, 250);
    const expectedCount = [...acked.keys()].filter((k) => k.startsWith(`${partition}@`)).length;
    t.equal(seen, expectedCount, `broker ${readFrom}, partition ${partition}: all ${expectedCount} acknowledged records, byte for byte`);
  }
}

/**
 * Every record of `topic`/`partition` below offset `end`, as `readFrom` serves them, read
 * from offset 0 until the consumer's position reaches `end` (bounded by `timeoutMs`);
 * `complete` says whether it did.
 */
export async function readPartition(client: Client, topic: string, partition: number, readFrom: number | 'leader', end: number, timeoutMs = 60_000): Promise<{ records: Array<[number, string]>; complete: boolean }> {
  const consumer = client.consumer({ readFrom, maxWaitMs: 100 });
  consumer.assign([{ topic, partition, offset: 0 }]);
  const records: Array<[number, string]> = [];
  const reading = (async () => {
    for await (const m of consumer) if (m.offset < end) records.push([m.offset, m.value?.toString() ?? '']);
  })().catch(() => undefined);
  const complete = await waitFor(`broker ${readFrom} serves ${topic}/${partition} up to ${end}`, () => {
    const [progress] = consumer.progress();
    return progress !== undefined && (progress.fetchOffset ?? 0) >= end && progress.buffered === 0;
  }, timeoutMs, 50).then(() => true, () => false);
  await consumer.close();
  await reading;
  return { records, complete };
}
