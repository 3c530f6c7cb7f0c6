import t from 'tap';
import { Harness } from '../sim/harness.js';

t.test('three nodes elect a leader and commit proposals everywhere', async (t) => {
  const h = new Harness([1, 2, 3]);
  h.elect(1);
  h.propose(1, 'a');
  h.propose(1, 'b');
  h.tick([1], 2);
  for (const id of [1, 2, 3]) t.same(h.appliedValues(id), ['a', 'b'], `node ${id}`);
  t.equal(h.raft(2).currentLeader, 1);
});
