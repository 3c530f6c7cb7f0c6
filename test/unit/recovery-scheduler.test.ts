/**
 * The recovery scheduler's bookkeeping: a limit per follower broker, first come first
 * served, permits given back on release, removal, step-down or a stalled follower.
 */
import t from 'tap';
import { RecoveryScheduler } from '../../broker/multiraft/recovery-scheduler.js';

function scheduler(limit: number, reclaimAfterTicks = 3) {
  const resumed: Array<[number, number]> = [];
  const s = new RecoveryScheduler(limit, (group, peer) => resumed.push([group, peer]), reclaimAfterTicks);
  return { s, resumed };
}

t.test('at most `limit` groups hold a permit per follower broker; the rest wait in arrival order', async (t) => {
  const { s, resumed } = scheduler(2);
  t.ok(s.acquire(10, 3));
  t.ok(s.acquire(11, 3));
  t.ok(s.acquire(10, 3), 'asking again while holding is granted');
  t.notOk(s.acquire(12, 3));
  t.notOk(s.acquire(13, 3));
  t.ok(s.acquire(12, 2), 'another follower broker has its own permits');
  t.same(s.stats(), { active: 3, waiting: 2, peakPerPeer: 2, peakWaiting: 2, granted: 3 });

  s.release(11, 3);
  t.same(resumed, [[12, 3]], 'the first in line is granted and resumed');
  t.ok(s.acquire(12, 3), 'and now holds the permit');
  t.notOk(s.acquire(14, 3), 'a newcomer does not jump the line');
  s.release(10, 3);
  t.same(resumed, [[12, 3], [13, 3]]);
  t.same(s.stats().peakPerPeer, 2, 'never more than the limit');
});

t.test('a release without a permit only leaves the line; forgetGroup gives back everything', async (t) => {
  const { s, resumed } = scheduler(1);
  s.acquire(1, 3);
  s.acquire(2, 3);
  s.acquire(3, 3);
  s.release(2, 3); // 2 caught up some other way: it leaves the line
  s.forgetGroup(1);
  t.same(resumed, [[3, 3]], '3 is next, 2 is no longer waiting');
  t.same(s.stats(), { active: 1, waiting: 0, peakPerPeer: 1, peakWaiting: 2, granted: 2 });
});

t.test('tick reclaims permits of groups that no longer need them or whose follower stalled', async (t) => {
  const { s, resumed } = scheduler(1, 3);
  s.acquire(1, 3);
  s.acquire(2, 3);
  let match = 0;
  // Group 1's follower keeps moving: it keeps the permit.
  for (let i = 0; i < 5; i++) s.tick((group) => (group === 1 ? ++match : 0));
  t.same(resumed, []);
  // Then it stops answering: after 3 ticks without progress the permit goes to group 2.
  for (let i = 0; i < 3; i++) s.tick((group) => (group === 1 ? match : 0));
  t.same(resumed, [[2, 3]]);
  // Group 2 stops leading: its permit is reclaimed on the next tick.
  s.tick(() => undefined);
  t.same(s.stats().active, 0);
  t.ok(s.acquire(1, 3), 'group 1 may ask again and, with no one waiting, is granted');
});

t.test('the limit must be a positive integer', async (t) => {
  t.throws(() => new RecoveryScheduler(0, () => {}, 1), RangeError);
});
