// The controller's state machine: what a retried admin command finds there.
import t from 'tap';
import { ControllerState } from '../../broker/controller/state.js';
import { DEFAULT_TOPIC_CONFIG, type TopicConfig } from '../../protocol/topics.js';
import { FlotillaError } from '../../protocol/errors.js';

function stateWithBrokers(count: number): ControllerState {
  const state = new ControllerState();
  for (let id = 1; id <= count; id++) state.apply({ type: 'registerBroker', id, address: `127.0.0.1:${7400 + id}` });
  return state;
}

function create(state: ControllerState, name: string, partitions: number, replication: number, config: TopicConfig = DEFAULT_TOPIC_CONFIG) {
  return state.apply({ type: 'createTopic', name, config, partitions: state.place(partitions, replication) });
}

t.test('a create finds no topic, then the same create finds it done', async (t) => {
  const state = stateWithBrokers(3);
  t.equal(state.createdAlready('wide', 100, 3, DEFAULT_TOPIC_CONFIG), false);
  create(state, 'wide', 100, 3);
  t.equal(state.createdAlready('wide', 100, 3, { ...DEFAULT_TOPIC_CONFIG }), true);
});

t.test('a create with other settings gets TOPIC_EXISTS naming each difference', async (t) => {
  const state = stateWithBrokers(3);
  create(state, 'wide', 10, 3, { ...DEFAULT_TOPIC_CONFIG, retentionMs: 3_600_000 });
  const attempt = (partitions: number, replication: number, config: Partial<TopicConfig>) => () =>
    state.createdAlready('wide', partitions, replication, { ...DEFAULT_TOPIC_CONFIG, retentionMs: 3_600_000, ...config });
  t.throws(attempt(12, 3, {}), { code: 'TOPIC_EXISTS', message: 'topic "wide" already exists with other settings: partitions 10 (requested 12)' });
  t.throws(attempt(10, 2, {}), { code: 'TOPIC_EXISTS', message: 'topic "wide" already exists with other settings: replication 3 (requested 2)' });
  t.throws(attempt(10, 3, { retentionMs: 60_000, segmentBytes: 1 << 20 }), {
    code: 'TOPIC_EXISTS',
    message: 'topic "wide" already exists with other settings: retentionMs 3600000 (requested 60000), segmentBytes 67108864 (requested 1048576)',
  });
  t.throws(attempt(1, 1, {}), /partitions 10 \(requested 1\), replication 3 \(requested 1\)/);
  t.throws(attempt(1, 1, {}), FlotillaError);
});

t.test('after a move changed one partition\'s replica count, a create names the counts there are', async (t) => {
  const state = stateWithBrokers(3);
  create(state, 'narrow', 2, 2);
  state.apply({ type: 'movePartition', name: 'narrow', partition: 1, replicas: [1, 2, 3] });
  t.throws(() => state.createdAlready('narrow', 2, 2, DEFAULT_TOPIC_CONFIG), { code: 'TOPIC_EXISTS', message: /replication 2 or 3 \(requested 2\)/ });
});

t.test('of two creates committed for one name, the first wins and the second is a no-op', async (t) => {
  const state = stateWithBrokers(3);
  create(state, 'raced', 4, 3);
  const before = JSON.stringify(state.toJSON());
  t.same(create(state, 'raced', 8, 1), { type: 'none' });
  t.equal(JSON.stringify(state.toJSON()), before, 'state unchanged');
  t.throws(() => state.createdAlready('raced', 8, 1, DEFAULT_TOPIC_CONFIG), { code: 'TOPIC_EXISTS' });
  t.equal(state.createdAlready('raced', 4, 3, DEFAULT_TOPIC_CONFIG), true);
});

t.test('altering a topic twice with the same values leaves the same state', async (t) => {
  const state = stateWithBrokers(3);
  create(state, 'logs', 2, 3);
  const config = { ...DEFAULT_TOPIC_CONFIG, retentionBytes: 1 << 30 };
  state.apply({ type: 'alterTopic', name: 'logs', config });
  const once = JSON.stringify(state.toJSON());
  t.equal(state.apply({ type: 'alterTopic', name: 'logs', config: { ...config } }).type, 'topicAltered');
  t.equal(JSON.stringify(state.toJSON()), once);
});

t.test('deleting a topic that is already gone changes nothing', async (t) => {
  const state = stateWithBrokers(3);
  create(state, 'gone', 1, 1);
  t.equal(state.apply({ type: 'deleteTopic', name: 'gone' }).type, 'topicDeleted');
  const once = JSON.stringify(state.toJSON());
  t.same(state.apply({ type: 'deleteTopic', name: 'gone' }), { type: 'none' });
  t.equal(JSON.stringify(state.toJSON()), once);
});
