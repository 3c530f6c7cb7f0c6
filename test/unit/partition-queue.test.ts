/**
 * The producer's per-partition queue lets go of the records it hands out: a record taken
 * into a batch must be reachable only through that batch. Before, the queue's array kept
 * every taken record (its value, its promise's callbacks) until it compacted, up to a
 * thousand sends later, so at a steady rate every record outlived two young collections,
 * reached V8's old generation, and an application on the default heap ran a full
 * collection about once a second. Checked with a real collection: a WeakRef to the taken
 * record's value must be cleared by `gc()`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { PartitionQueue, type PendingRecord } from '../../client/producer/accumulator.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function pending(value: Uint8Array): PendingRecord {
  return { record: { value }, bytes: value.length, appendedAt: Date.now(), resolve: () => undefined, reject: () => undefined };
}

/** Pushes `count` records of 100 bytes; returns WeakRefs to their values. */
function fill(queue: PartitionQueue, count: number): Array<WeakRef<Uint8Array>> {
  const refs: Array<WeakRef<Uint8Array>> = [];
  for (let i = 0; i < count; i++) {
    const value = new Uint8Array(100);
    refs.push(new WeakRef(value));
    queue.push(pending(value));
  }
  return refs;
}

/** Collects after the current job, which keeps every WeakRef target it touched alive. */
async function collect(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}

t.test('a record taken from the middle of the queue is no longer held by it', async (t) => {
  const queue = new PartitionQueue('topic', 0);
  const refs = fill(queue, 5);
  t.equal(queue.take(250).length, 2, 'two records fit in 250 bytes');
  await collect();
  t.same(refs.map((r) => r.deref() !== undefined), [false, false, true, true, true], 'the taken ones are collected, the queued ones kept');
  t.equal(queue.length, 3);
  t.equal(queue.take(1000).length, 3, 'the rest are still there, in order');
});

t.test('a queue drained by take() holds none of its records', async (t) => {
  const queue = new PartitionQueue('topic', 0);
  const refs = fill(queue, 3);
  t.equal(queue.take(1000).length, 3);
  await collect();
  t.same(refs.map((r) => r.deref() !== undefined), [false, false, false], 'every taken record is collected');
  t.equal(queue.length, 0);
  t.equal(queue.oldestQueuedAt, Infinity, 'and the queue reads as empty');
});

t.test('records taken, put back and taken again come out in their order', async (t) => {
  const queue = new PartitionQueue('topic', 0);
  const values = [1, 2, 3, 4].map((n) => new Uint8Array(100).fill(n));
  for (const value of values) queue.push(pending(value));
  t.equal(queue.take(250).length, 2);
  queue.putBack(queue.take(150));
  t.same(queue.take(1000).map((p) => p.record.value), values.slice(2), 'the two left, in order');
});
