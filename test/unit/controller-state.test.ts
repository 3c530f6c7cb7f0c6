// The controller's state machine: what a retried admin command finds there, and the users
// and ACLs it keeps.
import t from 'tap';
import { ControllerState, type ControllerCommand } from '../../broker/controller/state.js';
import { ControllerSnapshotFile } from '../../broker/controller/snapshot-file.js';
import type { AclBinding } from '../../protocol/acls.js';
import { DEFAULT_TOPIC_CONFIG, type TopicConfig } from '../../protocol/topics.js';
import { FlotillaError } from '../../protocol/errors.js';
import { deriveScramCredential } from '../../protocol/scram.js';

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

t.test('a create planned before an earlier one applied is refused as it applies, and planned again gets new groups', async (t) => {
  const state = stateWithBrokers(3);
  // Two creates planned on the same applied state, as two requests racing at a controller.
  const first = state.place(4, 3);
  const stale = state.place(2, 3);
  t.same(state.apply({ type: 'createTopic', name: 'first', config: DEFAULT_TOPIC_CONFIG, partitions: first }), { type: 'topicCreated', topic: { name: 'first', config: DEFAULT_TOPIC_CONFIG, partitions: first } });
  const before = JSON.stringify(state.toJSON());
  t.same(state.apply({ type: 'createTopic', name: 'second', config: DEFAULT_TOPIC_CONFIG, partitions: stale }), { type: 'none' }, 'its group ids are taken');
  t.equal(JSON.stringify(state.toJSON()), before, 'state unchanged');
  t.equal(state.createdAlready('second', 2, 3, DEFAULT_TOPIC_CONFIG), false, 'the proposer sees no topic and plans again');
  t.equal(create(state, 'second', 2, 3).type, 'topicCreated');
  const groups = [...state.topics.values()].flatMap((topic) => topic.partitions.map((p) => p.groupId));
  t.equal(new Set(groups).size, 6, 'six partitions, six groups');
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

// ---------------------------------------------------------------------------------------
// Users and ACLs

const alice = deriveScramCredential('alice-password');
const consumeOrders: AclBinding = { principal: 'User:alice', permission: 'allow', operation: 'read', resourceType: 'topic', resourceName: 'orders', patternType: 'literal' };
const denyBobPrefix: AclBinding = { principal: 'User:bob', permission: 'deny', operation: 'all', resourceType: 'topic', resourceName: 'payroll.', patternType: 'prefixed' };
const alterCluster: AclBinding = { principal: 'User:ops', permission: 'allow', operation: 'alter', resourceType: 'cluster', resourceName: '', patternType: 'literal' };

/** Users and ACLs as a cluster would build them, with every kind of change. */
const securityCommands: ControllerCommand[] = [
  { type: 'upsertUser', name: 'alice', ...alice },
  { type: 'upsertUser', name: 'bob', ...deriveScramCredential('bob-password', 'scram-sha-512', 8192) },
  { type: 'upsertUser', name: 'carol', ...deriveScramCredential('carol-password') },
  { type: 'deleteUser', name: 'carol' },
  { type: 'createAcl', acl: consumeOrders },
  { type: 'createAcl', acl: { ...consumeOrders, principal: 'User:carol' } },
  { type: 'createAcl', acl: denyBobPrefix },
  { type: 'createAcl', acl: alterCluster },
  { type: 'deleteAcls', filter: { principal: 'User:carol' } },
];

t.test('users: a replaced or deleted credential is revoked; creating one is not', async (t) => {
  const state = new ControllerState();
  t.same(state.apply({ type: 'upsertUser', name: 'alice', ...alice }), { type: 'none' });
  t.same(state.users.get('alice'), alice, 'only the credential is stored');
  t.same(state.apply({ type: 'upsertUser', name: 'alice', ...alice }), { type: 'none' }, 'the same credential again changes nothing');
  const renewed = deriveScramCredential('new-password');
  t.same(state.apply({ type: 'upsertUser', name: 'alice', ...renewed }), { type: 'credentialsRevoked', name: 'alice' }, 'a new password revokes the old one');
  t.same(state.apply({ type: 'deleteUser', name: 'alice' }), { type: 'credentialsRevoked', name: 'alice' });
  t.same(state.apply({ type: 'deleteUser', name: 'alice' }), { type: 'none' }, 'deleting a user that is gone changes nothing');
  t.equal(state.users.size, 0);
});

t.test('users: a retried create succeeds, another create gets USER_EXISTS, unknown users UNKNOWN_USER', async (t) => {
  const state = new ControllerState();
  t.equal(state.userCreatedAlready('alice', alice), false);
  state.apply({ type: 'upsertUser', name: 'alice', ...alice });
  t.equal(state.userCreatedAlready('alice', { ...alice }), true);
  t.throws(() => state.userCreatedAlready('alice', deriveScramCredential('other')), { code: 'USER_EXISTS', message: /user "alice" already exists; use `flotilla user set-password alice`/ });
  t.doesNotThrow(() => state.requireUser('alice'));
  t.throws(() => state.requireUser('zed'), { code: 'UNKNOWN_USER', message: /no user "zed"/ });
});

t.test('users: the listing names user, mechanism and iterations, and no salt or key', async (t) => {
  const state = new ControllerState();
  for (const command of securityCommands) state.apply(command);
  t.same(state.listUsers(), [
    { name: 'alice', mechanism: 'scram-sha-256', iterations: 4096 },
    { name: 'bob', mechanism: 'scram-sha-512', iterations: 8192 },
  ]);
});

t.test('ACLs: each binding is held once; a filter deletes exactly what it selects', async (t) => {
  const state = new ControllerState();
  state.apply({ type: 'createAcl', acl: consumeOrders });
  const once = state.acls;
  state.apply({ type: 'createAcl', acl: { ...consumeOrders } });
  t.equal(state.acls, once, 'a duplicate leaves the very same set');
  state.apply({ type: 'createAcl', acl: { ...consumeOrders, operation: 'describe' } });
  state.apply({ type: 'createAcl', acl: denyBobPrefix });
  state.apply({ type: 'createAcl', acl: alterCluster });
  t.not(state.acls, once, 'a change replaces the set, so that an authorizer sees it is new');
  t.same(once, [consumeOrders], 'and leaves the old one as it was');
  t.same(state.matchingAcls({ resourceType: 'topic', resourceName: 'orders' }), [consumeOrders, { ...consumeOrders, operation: 'describe' }]);
  t.same(state.matchingAcls({}), state.acls, 'an empty filter selects everything');

  const before = state.acls;
  state.apply({ type: 'deleteAcls', filter: { principal: 'User:nobody' } });
  t.equal(state.acls, before, 'deleting nothing keeps the set');
  state.apply({ type: 'deleteAcls', filter: { principal: 'User:alice', resourceName: 'orders' } });
  t.same(state.acls, [denyBobPrefix, alterCluster]);
  state.apply({ type: 'deleteAcls', filter: { resourceType: 'cluster', operation: 'alter', permission: 'allow' } });
  t.same(state.acls, [denyBobPrefix]);
});

t.test('users and ACLs survive a restart (the log replayed) and a snapshot written to disk and loaded', async (t) => {
  const dir = t.testdir();
  const state = stateWithBrokers(3);
  create(state, 'orders', 2, 3);
  const commands = [...securityCommands, { type: 'commitOffsets', group: 'g', offsets: [{ topic: 'orders', partition: 0, offset: 7 }] } as ControllerCommand];
  // Commands travel as JSON in the metadata log.
  for (const command of commands) state.apply(JSON.parse(JSON.stringify(command)) as ControllerCommand);
  t.same([...state.users.keys()], ['alice', 'bob']);
  t.same(state.acls, [consumeOrders, denyBobPrefix, alterCluster]);

  // Restart without a snapshot: every broker replays the same log and holds the same state.
  const replayed = stateWithBrokers(3);
  create(replayed, 'orders', 2, 3);
  for (const command of commands) replayed.apply(JSON.parse(JSON.stringify(command)) as ControllerCommand);
  t.equal(JSON.stringify(replayed.toJSON()), JSON.stringify(state.toJSON()), 'replaying the log gives the same metadata');

  // Restart from the snapshot file, as Controller.loadSnapshot reads it.
  new ControllerSnapshotFile(dir).save({ index: 41, term: 3, voters: [1, 2, 3], learners: [], data: Buffer.from(JSON.stringify(state.toJSON())) });
  const loaded = new ControllerSnapshotFile(dir).load()!;
  t.equal(loaded.index, 41);
  const restored = ControllerState.fromJSON(JSON.parse(loaded.data.toString('utf8')));
  t.same(restored.users.get('alice'), alice);
  t.same(restored.listUsers(), state.listUsers());
  t.same(restored.acls, state.acls);
  t.equal(JSON.stringify(restored.toJSON()), JSON.stringify(state.toJSON()), 'the whole metadata comes back as it was');

  // The restored state goes on applying the log's tail.
  t.same(restored.apply({ type: 'deleteUser', name: 'bob' }), { type: 'credentialsRevoked', name: 'bob' });
  restored.apply({ type: 'createAcl', acl: consumeOrders });
  t.same(restored.acls, state.acls, 'a binding the snapshot holds is not added twice');
});

t.test('a snapshot written before users and ACLs existed loads with none', async (t) => {
  const state = stateWithBrokers(1);
  const { users: _users, acls: _acls, ...older } = state.toJSON() as Record<string, unknown>;
  const restored = ControllerState.fromJSON(older as Parameters<typeof ControllerState.fromJSON>[0]);
  t.equal(restored.users.size, 0);
  t.same(restored.acls, []);
  t.same([...restored.brokers.keys()], [1]);
});

t.test('a stored Kafka group survives a snapshot and is dropped by its command; older snapshots and later commands load as nothing', async (t) => {
  const state = stateWithBrokers(1);
  const group = { id: 'k', generation: 3, protocolType: 'consumer', protocolName: 'range', leader: 'm1', members: [{ id: 'm1', clientId: 'c', clientHost: 'h', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, protocols: [{ name: 'range', metadata: 'AQI=' }], assignment: 'AwQ=' }] };
  state.apply({ type: 'storeKafkaGroup', group });
  const restored = ControllerState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())));
  t.same(restored.kafkaGroups.get('k'), group);
  restored.apply({ type: 'dropKafkaGroup', group: 'k' });
  t.equal(restored.kafkaGroups.size, 0);
  const { kafkaGroups: _kafkaGroups, ...older } = state.toJSON() as Record<string, unknown>;
  t.equal(ControllerState.fromJSON(older as Parameters<typeof ControllerState.fromJSON>[0]).kafkaGroups.size, 0, 'a snapshot from before stored groups');
  t.same(state.apply(JSON.parse('{"type":"aCommandOfALaterVersion"}') as ControllerCommand), { type: 'none' }, 'a command this version does not know changes nothing');
});

t.test('metadata committed beside an offset survives a snapshot; an empty one clears it; a deleted topic takes it away', async (t) => {
  const state = stateWithBrokers(3);
  create(state, 'orders', 2, 3);
  const commit = (offsets: Array<{ partition: number; offset: number; metadata?: string }>) =>
    state.apply(JSON.parse(JSON.stringify({ type: 'commitOffsets', group: 'g', offsets: offsets.map((o) => ({ topic: 'orders', ...o })) })) as ControllerCommand);
  commit([{ partition: 0, offset: 7, metadata: 'resume-here' }, { partition: 1, offset: 3, metadata: 'other' }]);
  commit([{ partition: 1, offset: 4 }]);
  t.same([...state.groupOffsetMetadata.get('g')!], [['orders/0', 'resume-here']], 'a commit without metadata clears the earlier one');
  const restored = ControllerState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())));
  t.same([...restored.groupOffsetMetadata.get('g')!], [['orders/0', 'resume-here']]);
  t.same(ControllerState.fromJSON(JSON.parse(JSON.stringify({ ...state.toJSON(), groupOffsetMetadata: undefined }))).groupOffsetMetadata.size, 0, 'a snapshot from before metadata loads without it');
  restored.apply({ type: 'deleteTopic', name: 'orders' });
  t.same([...restored.groupOffsetMetadata.get('g')!], []);
});

t.test('a broker\'s rack is recorded by registering again, kept in a snapshot, and absent from metadata written before racks', async (t) => {
  const state = stateWithBrokers(2);
  state.apply({ type: 'registerBroker', id: 2, address: '127.0.0.1:7402', kafkaAddress: '127.0.0.1:9093', rack: 'zone-b' });
  t.same(state.brokers.get(2), { id: 2, address: '127.0.0.1:7402', kafkaAddress: '127.0.0.1:9093', rack: 'zone-b' });
  t.equal(state.brokers.get(1)!.rack, undefined, 'a broker without --rack has none');
  const restored = ControllerState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())));
  t.equal(restored.brokers.get(2)!.rack, 'zone-b', 'kept through a snapshot');
  // A snapshot of an earlier version: brokers with neither a Kafka address nor a rack.
  const old = ControllerState.fromJSON({ brokers: [{ id: 1, address: '127.0.0.1:7401' }], topics: [], nextGroupId: 1, nextProducerId: 1 });
  t.same(old.brokers.get(1), { id: 1, address: '127.0.0.1:7401' }, 'loads without racks');
});
