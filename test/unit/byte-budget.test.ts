import t from 'tap';
import { ByteBudget, ResponseHolding } from '../../broker/server/byte-budget.js';

t.test('a byte budget grants in order, and a holding larger than the budget once nothing else is held', async (t) => {
  const budget = new ByteBudget(100);
  const granted: string[] = [];
  await budget.acquire(60);
  const big = budget.acquire(500).then(() => granted.push('big'));
  const small = budget.acquire(10).then(() => granted.push('small'));
  await Promise.resolve();
  t.same(granted, [], 'the larger-than-budget request waits while others hold bytes; the one behind it waits its turn');
  t.ok(budget.exhausted);
  budget.release(60);
  await big;
  t.same(granted, ['big'], 'granted once nothing else is held');
  budget.release(500);
  await small;
  t.same(granted, ['big', 'small']);
  budget.resize(10, 0);
  t.equal(budget.held, 0);
  t.notOk(budget.exhausted);
});

t.test('requests of a closed connection never get their bytes: a waiting take fails and holds nothing', async (t) => {
  const connection = new ByteBudget(100);
  const broker = new ByteBudget(1000);
  const first = new ResponseHolding(connection, broker, () => undefined);
  await first.take(100);
  const queued = new ResponseHolding(connection, broker, () => undefined);
  const waiting = queued.take(100);
  // The connection closes: every holding is released, the one waiting included.
  queued.release();
  first.release();
  await t.rejects(waiting, /connection closed/, 'the queued request does not run');
  await t.rejects(queued.take(0), /connection closed/, 'nor does a later one');
  t.equal(connection.held, 0, 'nothing is held of the connection');
  t.equal(broker.held, 0, 'nor of the broker');
});
