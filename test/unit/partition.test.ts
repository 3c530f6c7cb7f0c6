import t from 'tap';
import { buildBatch, patchBatch, readBatchHeader } from '../../protocol/batch.js';
import { PRODUCER_EXPIRY_MS, ProducerStateTable } from '../../broker/partition/producer-state.js';
import { CommitWaiter } from '../../broker/multiraft/commit-waiter.js';

/** A batch of `count` records from producer 7 epoch 0 starting at `seq`, stored at `base`. */
function batch(seq: number, count: number, base: number, producerId = 7) {
  const data = buildBatch(Array.from({ length: count }, (_, i) => ({ value: `r${seq + i}` })), { producerId, producerEpoch: 0, baseSequence: seq });
  patchBatch(data, base, 1);
  return { header: readBatchHeader(data), last: base + count - 1 };
}

t.test('idempotent producer state dedups retries and refuses gaps', async (t) => {
  const table = new ProducerStateTable();
  const first = batch(0, 3, 10);
  t.same(table.check(first.header), { kind: 'new' }, 'a producer without state may start');
  table.applyCommitted(first.header, first.last);
  t.same(table.check(first.header), { kind: 'duplicate', batch: { baseSequence: 0, lastSequence: 2, baseOffset: 10, lastOffset: 12 } }, 'a retry of a committed batch returns its offsets');

  const second = batch(3, 2, 13);
  t.same(table.check(second.header), { kind: 'new' }, 'the next sequence is accepted');
  table.addPending(second.header, second.last);
  t.equal(table.check(second.header).kind, 'duplicate', 'a retry of a pending batch is a duplicate too');
  t.throws(() => table.check(batch(9, 1, 20).header), { code: 'OUT_OF_ORDER_SEQUENCE' }, 'a gap is refused');
  t.throws(() => table.check(batch(3, 5, 20).header), { code: 'OUT_OF_ORDER_SEQUENCE' }, 'a reused sequence with another size is refused');

  table.clearPending();
  t.same(table.check(second.header), { kind: 'new' }, 'after losing leadership the pending batch is forgotten (the next leader decides)');
  table.applyCommitted(second.header, second.last);
  t.equal(table.check(second.header).kind, 'duplicate', 'once applied it is known from the log');
  t.same(table.check(batch(0, 1, 30, 8).header), { kind: 'new' }, 'producers are independent');
  t.throws(() => table.check(batch(4, 1, 30, 9).header), { code: 'UNKNOWN_PRODUCER' }, 'a producer without state starts at sequence 0: a later one follows a batch that is not here');
});

t.test('a producer idle for a day is forgotten; an active one is not', async (t) => {
  let clock = 0;
  const table = new ProducerStateTable(() => clock);
  const idle = batch(0, 1, 0, 7);
  const active = batch(0, 1, 1, 8);
  table.applyCommitted(idle.header, idle.last);
  table.applyCommitted(active.header, active.last);
  clock = PRODUCER_EXPIRY_MS - 1;
  const next = batch(1, 1, 2, 8);
  table.applyCommitted(next.header, next.last);
  t.equal(table.producerCount, 2, 'nothing is idle for a day yet');
  clock = PRODUCER_EXPIRY_MS + 60_000;
  const later = batch(2, 1, 3, 8);
  table.applyCommitted(later.header, later.last);
  t.equal(table.producerCount, 1, 'the idle producer is gone');
  t.throws(() => table.check(batch(1, 1, 9, 7).header), { code: 'UNKNOWN_PRODUCER' }, 'it must start again at 0 (a new epoch)');
  t.equal(table.check(batch(3, 1, 9, 8).header).kind, 'new', 'the active one continues its sequence');
});

t.test('a new epoch starts afresh even while a batch of the old epoch is pending, and fences it', async (t) => {
  const table = new ProducerStateTable();
  const at = (epoch: number, seq: number, count: number, base: number) => {
    const data = buildBatch(Array.from({ length: count }, (_, i) => ({ value: `e${epoch}r${seq + i}` })), { producerId: 7, producerEpoch: epoch, baseSequence: seq });
    patchBatch(data, base, 1);
    return { header: readBatchHeader(data), last: base + count - 1 };
  };
  // Epoch 0's first batch is pending (its producer gave up on it: timeout); epoch 1 restarts at 0.
  const old = at(0, 0, 3, 10);
  table.addPending(old.header, old.last);
  const fresh = at(1, 0, 2, 13);
  t.same(table.check(fresh.header), { kind: 'new' }, 'not mistaken for a retry of the pending epoch-0 batch with the same sequence');
  table.addPending(fresh.header, fresh.last);
  t.throws(() => table.check(at(0, 3, 1, 20).header), { code: 'INVALID_REQUEST' }, 'a late epoch-0 batch is fenced by the pending epoch-1 one');
  table.applyCommitted(old.header, old.last);
  table.applyCommitted(fresh.header, fresh.last);
  t.equal(table.check(fresh.header).kind, 'duplicate', 'the epoch-1 batch is known once applied');
  t.same(table.check(at(1, 2, 1, 20).header), { kind: 'new' }, 'epoch 1 continues its own sequence');
});

t.test('commit waiters settle by the entry applied at their index, in any order of waiting', async (t) => {
  const waiter = new CommitWaiter();
  const later = waiter.wait(20, 2, 0);
  const earlier = waiter.wait(10, 2, 0);
  const overwritten = waiter.wait(30, 2, 0);
  waiter.onApplied([{ index: 10, term: 2, data: Buffer.alloc(0) }, { index: 20, term: 2, data: Buffer.alloc(0) }]);
  await t.resolves(earlier);
  await t.resolves(later);
  waiter.onApplied([{ index: 30, term: 3, data: Buffer.alloc(0) }]);
  await t.rejects(overwritten, { code: 'LEADER_NOT_AVAILABLE' }, 'another term at the index means the write was overwritten');
  t.equal(waiter.size, 0);
});

t.test('a write cut from a log that stays shorter is decided by the next term, not by its timeout', async (t) => {
  const waiter = new CommitWaiter();
  // Leader of term 2 appended up to 40; the next leader (term 3) had only up to 24.
  const survived = waiter.wait(24, 2, 60_000);
  const cut = waiter.wait(40, 2, 60_000);
  const sameTerm = waiter.wait(50, 3, 60_000);
  waiter.onApplied([{ index: 24, term: 2, data: Buffer.alloc(0) }, { index: 25, term: 3, data: Buffer.alloc(0) }]);
  await t.resolves(survived, 'an entry the next leader had commits');
  await t.rejects(cut, { code: 'LEADER_NOT_AVAILABLE' }, 'an entry of term 3 at 25 means nothing of term 2 can commit after it');
  t.equal(waiter.size, 1, 'a proposal of the new term still waits');
  waiter.onApplied([{ index: 50, term: 3, data: Buffer.alloc(0) }]);
  await t.resolves(sameTerm);
});
