import t from 'tap';
import { clusterHealth } from '../../protocol/health.js';

t.test('healthy only with a controller, every broker up, every partition led and in sync', async (t) => {
  const brokers = [{ id: 1, alive: true }, { id: 2, alive: true }, { id: 3, alive: true }];
  const whole = { leader: 1, replicas: [1, 2, 3], inSync: [3, 1, 2] };
  t.same(clusterHealth({ controller: 1, brokers, partitions: [whole] }), { healthy: true, controller: 1, brokersDown: [], leaderlessPartitions: 0, underReplicatedPartitions: 0 });
  t.equal(clusterHealth({ controller: null, brokers, partitions: [whole] }).healthy, false, 'no controller');
  const down = clusterHealth({ controller: 1, brokers: [{ id: 3, alive: false }, ...brokers.slice(0, 2), { id: 4, alive: false }], partitions: [whole, { leader: 2, replicas: [2, 3, 1], inSync: [2, 1] }, { leader: null, replicas: [3, 4], inSync: [] }] });
  t.same(down, { healthy: false, controller: 1, brokersDown: [3, 4], leaderlessPartitions: 1, underReplicatedPartitions: 2 });
});
