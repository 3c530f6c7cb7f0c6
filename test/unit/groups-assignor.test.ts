/**
 * The consumer-group assignor: balance, stickiness, joins and leaves, several topics.
 */
import t, { type Test } from 'tap';
import { assign, partitionKey, type AssignorMember } from '../../broker/groups/assignor.js';

const counts = (entries: Record<string, number>) => new Map(Object.entries(entries));
const member = (id: string, topics: string[], current: string[] = []): AssignorMember => ({ id, topics, current });
const keys = (topic: string, ...partitions: number[]) => partitions.map((p) => partitionKey(topic, p));

function check(t: Test, result: Map<string, string[]>, expectedTotal: number, balanced = true): void {
  const all = [...result.values()].flat();
  t.equal(all.length, expectedTotal, 'every partition assigned');
  t.equal(new Set(all).size, all.length, 'no partition assigned twice');
  if (balanced) {
    const sizes = [...result.values()].map((l) => l.length);
    t.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced: ${sizes.join(',')}`);
  }
}

t.test('table: balance over same subscriptions', async (t) => {
  const table: Array<{ name: string; members: number; partitions: Record<string, number> }> = [
    { name: '12 partitions over 3', members: 3, partitions: { a: 12 } },
    { name: '12 partitions over 5', members: 5, partitions: { a: 12 } },
    { name: 'more members than partitions', members: 5, partitions: { a: 3 } },
    { name: 'two topics, different counts', members: 3, partitions: { a: 7, b: 2 } },
    { name: 'one member', members: 1, partitions: { a: 4, b: 4 } },
    { name: 'no partitions', members: 2, partitions: {} },
  ];
  for (const row of table) {
    const topics = Object.keys(row.partitions);
    const members = Array.from({ length: row.members }, (_, i) => member(`m${i}`, topics));
    const total = Object.values(row.partitions).reduce((a, b) => a + b, 0);
    check(t, assign(members, counts(row.partitions)), total);
  }
});

t.test('sticky: a member keeps what it has when the group does not change', async (t) => {
  const first = assign([member('a', ['t']), member('b', ['t']), member('c', ['t'])], counts({ t: 12 }));
  const again = assign(
    [...first].map(([id, current]) => member(id, ['t'], current)),
    counts({ t: 12 }),
  );
  t.same(again, first);
});

t.test('a member joins: only the newcomer share moves, from the others', async (t) => {
  const before = new Map([
    ['a', keys('t', 0, 1, 2, 3, 4, 5)],
    ['b', keys('t', 6, 7, 8, 9, 10, 11)],
  ]);
  const after = assign([member('a', ['t'], before.get('a')), member('b', ['t'], before.get('b')), member('c', ['t'])], counts({ t: 12 }));
  check(t, after, 12);
  for (const id of ['a', 'b']) {
    t.equal(after.get(id)!.length, 4);
    t.ok(after.get(id)!.every((k) => before.get(id)!.includes(k)), `${id} only loses partitions`);
  }
  t.equal(after.get('c')!.length, 4);
});

t.test('a member leaves: its partitions spread over the rest, nobody else loses any', async (t) => {
  const before = new Map([
    ['a', keys('t', 0, 1, 2, 3)],
    ['b', keys('t', 4, 5, 6, 7)],
    ['c', keys('t', 8, 9, 10, 11)],
  ]);
  const after = assign([member('a', ['t'], before.get('a')), member('b', ['t'], before.get('b'))], counts({ t: 12 }));
  check(t, after, 12);
  for (const id of ['a', 'b']) t.ok(before.get(id)!.every((k) => after.get(id)!.includes(k)), `${id} keeps its partitions`);
});

t.test('uneven holdings are evened out with the fewest moves', async (t) => {
  const after = assign([member('a', ['t'], keys('t', 0, 1, 2, 3, 4, 5, 6, 7, 8)), member('b', ['t'], keys('t', 9)), member('c', ['t'], keys('t', 10, 11))], counts({ t: 12 }));
  check(t, after, 12);
  t.ok(after.get('a')!.every((k) => keys('t', 0, 1, 2, 3, 4, 5, 6, 7, 8).includes(k)));
  t.ok(keys('t', 9).every((k) => after.get('b')!.includes(k)));
  t.ok(keys('t', 10, 11).every((k) => after.get('c')!.includes(k)));
});

t.test('partitions of topics that no longer exist, or that the member dropped, are not kept', async (t) => {
  const after = assign([member('a', ['t'], [...keys('t', 0), ...keys('gone', 0), ...keys('u', 0)])], counts({ t: 2, u: 1 }));
  t.same(after.get('a'), keys('t', 0, 1));
});

t.test('different subscriptions: a partition goes only to a subscriber', async (t) => {
  const after = assign([member('a', ['x']), member('b', ['x', 'y']), member('c', ['y'])], counts({ x: 4, y: 4 }));
  check(t, after, 8, false);
  t.ok(after.get('a')!.every((k) => k.startsWith('x/')));
  t.ok(after.get('c')!.every((k) => k.startsWith('y/')));
  const sizes = [...after.values()].map((l) => l.length);
  t.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced as far as subscriptions allow: ${sizes.join(',')}`);
});

t.test('no members: empty; subscribed topic missing: nothing for it', async (t) => {
  t.same(assign([], counts({ t: 3 })), new Map());
  t.same(assign([member('a', ['missing'])], counts({ t: 3 })), new Map([['a', []]]));
});
