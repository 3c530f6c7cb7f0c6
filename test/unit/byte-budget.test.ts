import t from 'tap';
import { ByteBudget } from '../../broker/server/byte-budget.js';

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
