/**
 * The group coordinator against a fake controller: cooperative moves (a partition changes
 * hands only after its owner confirmed the release), session expiry, commits and resets,
 * and no committed offsets read from a new controller that has not caught up yet.
 */
import t from 'tap';
import { FlotillaError } from '../../protocol/errors.js';
import { ControllerState, type ControllerCommand } from '../../broker/controller/state.js';
import { GroupCoordinator } from '../../broker/groups/coordinator.js';
import { GroupError, KafkaGroups } from '../../broker/kafka/groups.js';
import { KafkaError } from '../../broker/kafka/errors.js';

function setup(partitions = 6) {
  let now = 1_000;
  const state = new ControllerState();
  state.apply({ type: 'createTopic', name: 't', config: { retentionMs: -1, retentionBytes: -1, segmentBytes: 1 << 20 }, partitions: Array.from({ length: partitions }, (_, p) => ({ partition: p, groupId: p + 1, replicas: [1] })) });
  const controller = {
    isLeader: true,
    leaderCaughtUp: true,
    term: 1,
    stillCatchingUp: () => new FlotillaError('LEADER_NOT_AVAILABLE', 'catching up'),
    state,
    notController: () => new FlotillaError('NOT_CONTROLLER', 'not the controller'),
    propose: async (command: ControllerCommand) => void state.apply(command),
  };
  const coordinator = new GroupCoordinator({ controller, now: () => now });
  const join = (memberId = '', owned: Array<{ topic: string; partitions: number[] }> = []) =>
    coordinator.join({ groupId: 'g', memberId, topics: ['t'], sessionTimeoutMs: 1000, owned }, 'c', 'addr');
  const hb = (memberId: string, generation: number) => coordinator.heartbeat({ groupId: 'g', memberId, generation });
  const parts = (r: { assignment?: Array<{ partitions?: number[] | null } | null> | null }) => (r.assignment ?? []).flatMap((a) => a?.partitions ?? []);
  return { coordinator, controller, state, join, hb, parts, advance: (ms: number) => (now += ms) };
}

t.test('a partition moves only after its owner confirms the release', async (t) => {
  const { join, hb, parts } = setup(6);
  const a = join();
  t.same(parts(a), [0, 1, 2, 3, 4, 5], 'the first member gets everything');
  const b = join();
  t.same(parts(b), [], 'the newcomer waits: everything is still held by a');
  const aBeat = hb(a.memberId!, a.generation!);
  t.equal(parts(aBeat).length, 3, 'a is told to keep 3');
  t.same(parts(hb(b.memberId!, 0)), [], 'b still waits while a has not confirmed');
  hb(a.memberId!, aBeat.generation!); // a applied the new generation: released the rest
  const bBeat = hb(b.memberId!, 0);
  t.equal(parts(bBeat).length, 3, 'b gets the released partitions');
  t.same([...parts(hb(a.memberId!, aBeat.generation!)), ...parts(bBeat)].sort(), [0, 1, 2, 3, 4, 5]);
});

t.test('an expired member loses its partitions at once; unknown members must rejoin', async (t) => {
  const { coordinator, join, hb, parts, advance } = setup(4);
  const a = join();
  const b = join();
  let aa = hb(a.memberId!, a.generation!);
  aa = hb(a.memberId!, aa.generation!);
  const bb = hb(b.memberId!, 0);
  t.equal(parts(bb).length, 2);
  advance(600);
  hb(b.memberId!, bb.generation!);
  advance(600); // a silent for 1200 ms > 1000 ms
  coordinator.tick();
  t.same(parts(hb(b.memberId!, bb.generation!)), [0, 1, 2, 3], 'b owns everything after a expired');
  t.throws(() => hb(a.memberId!, aa.generation!), { code: 'UNKNOWN_GROUP' });
  t.equal(coordinator.describeGroup({ groupId: 'g' }).members!.length, 1);
});

t.test('a rejoin after a coordinator change keeps what the member still reads', async (t) => {
  const { join, parts } = setup(4);
  const a = join('member-a', [{ topic: 't', partitions: [2, 3] }]);
  t.same(parts(a), [0, 1, 2, 3]);
  const b = join('member-b', [{ topic: 't', partitions: [0, 1] }]);
  t.same(parts(b), [], 'partitions held by a are not handed out twice');
});

t.test('commits: only owned partitions; reset only without members', async (t) => {
  const { coordinator, state, join } = setup(2);
  const a = join();
  const r = await coordinator.commitOffsets({ groupId: 'g', memberId: a.memberId!, generation: a.generation!, offsets: [{ topic: 't', partition: 0, offset: 7, error: null }] });
  t.notOk(r.offsets![0]!.error);
  t.equal(state.groupOffsets.get('g')!.get('t/0'), 7);
  t.same(coordinator.fetchOffsets({ groupId: 'g', partitions: [{ topic: 't', partitions: [0, 1] }] }).offsets, [{ topic: 't', partition: 0, offset: 7 }, { topic: 't', partition: 1, offset: -1 }]);
  await t.rejects(coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [], spec: 3, value: 0, offsets: [] }), { message: /active member/ });
  coordinator.leave({ groupId: 'g', memberId: a.memberId! });
  await coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [], spec: 3, value: 0, offsets: [] });
  t.same([...state.groupOffsets.get('g')!], [['t/0', 0], ['t/1', 0]]);
  await t.rejects(coordinator.commitOffsets({ groupId: 'g', memberId: a.memberId!, generation: 1, offsets: [] }), { code: 'UNKNOWN_GROUP' });
  t.same(coordinator.listGroups().groups, [{ groupId: 'g', state: 'empty', members: 0 }]);
  // Snapshots keep committed offsets.
  t.same([...ControllerState.fromJSON(JSON.parse(JSON.stringify(state.toJSON()))).groupOffsets.get('g')!], [['t/0', 0], ['t/1', 0]]);
});

t.test('not the controller: NOT_CONTROLLER, and membership is dropped', async (t) => {
  const { coordinator, controller, join } = setup(2);
  join();
  controller.isLeader = false;
  t.throws(() => join(), { code: 'NOT_CONTROLLER' });
  coordinator.tick();
  controller.isLeader = true;
  t.same(coordinator.listGroups().groups, []);
});

t.test('a new controller answers committed offsets only once it has applied what its predecessor committed', async (t) => {
  const { coordinator, controller, state } = setup(2);
  state.apply({ type: 'commitOffsets', group: 'g', offsets: [{ topic: 't', partition: 0, offset: 40 }] });
  controller.leaderCaughtUp = false;
  t.throws(() => coordinator.fetchOffsets({ groupId: 'g', partitions: [] }), { code: 'LEADER_NOT_AVAILABLE' }, 'retriable, not an offset that may be stale');
  controller.leaderCaughtUp = true;
  t.match(coordinator.fetchOffsets({ groupId: 'g', partitions: [] }).offsets, [{ topic: 't', partition: 0, offset: 40 }]);
});

t.test("Kafka's coordinator says COORDINATOR_LOAD_IN_PROGRESS until then, and reads no offsets", async (t) => {
  const { controller, state } = setup(2);
  state.apply({ type: 'commitOffsets', group: 'k', offsets: [{ topic: 't', partition: 0, offset: 40 }] });
  const kafka = new KafkaGroups({ controller, nativeGroupActive: () => false });
  controller.leaderCaughtUp = false;
  t.equal(kafka.refusal(), GroupError.COORDINATOR_LOAD_IN_PROGRESS);
  controller.isLeader = false;
  t.equal(kafka.refusal(), GroupError.NOT_COORDINATOR);
  controller.isLeader = true;
  controller.leaderCaughtUp = true;
  t.equal(kafka.refusal(), 0);
});

t.test("Kafka's session timeouts up to Kafka's default maximum (30 minutes) are taken", async (t) => {
  const { controller } = setup(2);
  const kafka = new KafkaGroups({ controller, nativeGroupActive: () => false });
  t.teardown(() => kafka.stop());
  const join = (sessionTimeoutMs: number) =>
    kafka.join({ groupId: `s${sessionTimeoutMs}`, memberId: '', sessionTimeoutMs, rebalanceTimeoutMs: 0, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }], clientId: 'c', clientHost: 'h' });
  const code = async (ms: number) => (await join(ms)).errorCode;
  t.not(await code(600_000), GroupError.INVALID_SESSION_TIMEOUT, '10 minutes');
  t.not(await code(1_800_000), GroupError.INVALID_SESSION_TIMEOUT, '30 minutes');
  t.equal(await code(1_800_001), GroupError.INVALID_SESSION_TIMEOUT, 'more');
});

/** Two Kafka members at generation 2, the first the leader, synced through `kafka`. */
async function stableKafkaGroup(kafka: KafkaGroups) {
  const protocols = [{ name: 'range', metadata: Buffer.from('subscription') }];
  const join = (memberId: string) => kafka.join({ groupId: 'k', memberId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, protocolType: 'consumer', protocols, clientId: 'c', clientHost: 'h' });
  const first = await join('');
  const secondJoined = join('');
  const rejoined = await join(first.memberId);
  const second = await secondJoined;
  const leaderSync = kafka.sync('k', rejoined.generationId, first.memberId, [
    { memberId: first.memberId, assignment: Buffer.from('p0') },
    { memberId: second.memberId, assignment: Buffer.from('p1') },
  ]);
  const followerSync = kafka.sync('k', rejoined.generationId, second.memberId, []);
  return { first: first.memberId, second: second.memberId, generation: rejoined.generationId, leaderSync, followerSync };
}

t.test("a Kafka group's members carry on at a new coordinator: their generation, assignments and commits", async (t) => {
  const { controller, state } = setup(2);
  const before = new KafkaGroups({ controller, nativeGroupActive: () => false });
  const { first, second, generation, leaderSync, followerSync } = await stableKafkaGroup(before);
  t.same((await leaderSync).assignment, Buffer.from('p0'));
  t.same((await followerSync).assignment, Buffer.from('p1'));
  t.equal(state.kafkaGroups.get('k')?.generation, generation, 'the Stable generation is in the metadata');
  before.stop();

  // The new controller holds the same metadata (here: through a snapshot).
  const adopted = ControllerState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())));
  const after = new KafkaGroups({ controller: { ...controller, state: adopted }, nativeGroupActive: () => false });
  t.equal(after.heartbeat('k', generation, first), 0, "the leader's heartbeat is taken");
  t.equal(after.heartbeat('k', generation, second), 0, 'and the other member’s');
  t.same(await after.commit({ groupId: 'k', generationId: generation, memberId: second, offsets: [{ topic: 't', partition: 1, offset: 7, metadata: null }] }), [0], 'a commit at that generation is taken');
  t.same((await after.sync('k', generation, second, [])).assignment, Buffer.from('p1'), 'a retried sync gets the same assignment');
  const described = after.describe('k');
  t.equal(described.groupState, 'Stable');
  t.same(described.members.map((m) => m.memberAssignment.toString()).sort(), ['p0', 'p1']);
  t.ok(after.isActive('k'), 'the id stays Kafka’s: a native member is refused it');
  t.equal(after.heartbeat('k', generation - 1, first), GroupError.ILLEGAL_GENERATION, 'an older generation is still refused');
});

t.test("a Kafka group's syncs wait for the store; a failed one refuses them and the group rebalances", async (t) => {
  const { controller, state } = setup(2);
  let storing: (() => void) | null = null;
  let failStores = false;
  const kafka = new KafkaGroups({
    controller: {
      ...controller,
      propose: async (command: ControllerCommand) => {
        if (command.type === 'storeKafkaGroup') {
          await new Promise<void>((resolve) => (storing = resolve));
          if (failStores) throw new FlotillaError('TIMEOUT', 'not committed in time');
        }
        state.apply(command);
      },
    },
    nativeGroupActive: () => false,
  });
  t.teardown(() => kafka.stop());
  const settled = (p: unknown) => Promise.race([Promise.resolve(p).then(() => true), new Promise((r) => setImmediate(() => r(false)))]);
  // Generation 1 (one member) stores once; let it through.
  const lone = await kafka.join({ groupId: 'k', memberId: '', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }], clientId: 'c', clientHost: 'h' });
  const loneSync = kafka.sync('k', lone.generationId, lone.memberId, [{ memberId: lone.memberId, assignment: Buffer.from('all') }]);
  t.notOk(await settled(loneSync), 'the sync waits while the store has not committed');
  t.equal(state.kafkaGroups.size, 0);
  storing!();
  t.same((await loneSync).assignment, Buffer.from('all'), 'answered once stored');
  t.equal(state.kafkaGroups.get('k')?.generation, lone.generationId);

  failStores = true;
  t.equal(kafka.leave('k', [{ memberId: lone.memberId }]).errorCode, 0);
  const again = await kafka.join({ groupId: 'k', memberId: '', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }], clientId: 'c', clientHost: 'h' });
  const failedSync = kafka.sync('k', again.generationId, again.memberId, [{ memberId: again.memberId, assignment: Buffer.from('all') }]);
  storing!();
  t.equal((await failedSync).errorCode, GroupError.COORDINATOR_NOT_AVAILABLE, 'the sync is refused');
  t.equal(kafka.heartbeat('k', again.generationId, again.memberId), KafkaError.REBALANCE_IN_PROGRESS, 'the member is told to rejoin');
});

t.test('a Kafka group left without members is dropped from the metadata; members that never return expire at a new coordinator', async (t) => {
  const { controller, state } = setup(2);
  const before = new KafkaGroups({ controller, nativeGroupActive: () => false });
  const { first, second, leaderSync, followerSync } = await stableKafkaGroup(before);
  await Promise.all([leaderSync, followerSync]);
  before.stop();
  const record = state.kafkaGroups.get('k')!;
  for (const m of record.members) m.sessionTimeoutMs = 100;
  const after = new KafkaGroups({ controller, nativeGroupActive: () => false });
  t.teardown(() => after.stop());
  t.equal(after.refusal(), 0, 'the new coordinator takes the group over');
  await new Promise((r) => setTimeout(r, 150));
  after.tick();
  t.notOk(after.isActive('k'), 'both sessions expired there');
  await new Promise(setImmediate);
  t.notOk(state.kafkaGroups.has('k'), 'and the record is dropped');
  t.same(after.leave('k', [{ memberId: first }, { memberId: second }]).members, [GroupError.UNKNOWN_MEMBER_ID, GroupError.UNKNOWN_MEMBER_ID], 'they are gone');
});

/** A controller whose proposals commit when `commit()` is called, in the order proposed (as Raft's log). */
function orderedController() {
  const { controller, state } = setup(1);
  const log: Array<{ command: ControllerCommand; resolve: () => void }> = [];
  const ordered = { ...controller, propose: (command: ControllerCommand) => new Promise<void>((resolve) => log.push({ command, resolve })) };
  const commit = async () => {
    for (const { command, resolve } of log.splice(0)) {
      state.apply(command);
      resolve();
    }
    await new Promise(setImmediate);
  };
  return { controller: ordered, state, log, commit };
}
const kafkaJoin = (memberId = '', protocols = [{ name: 'range', metadata: Buffer.from('subscription') }]) => ({ groupId: 'k', memberId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, protocolType: 'consumer', protocols, clientId: 'c', clientHost: 'h' });

t.test('a Kafka group emptied while its first store commits leaves no record behind', async (t) => {
  const { controller, state, commit } = orderedController();
  const kafka = new KafkaGroups({ controller, nativeGroupActive: () => false });
  t.teardown(() => kafka.stop());
  const joined = await kafka.join(kafkaJoin());
  const synced = kafka.sync('k', joined.generationId, joined.memberId, [{ memberId: joined.memberId, assignment: Buffer.from('all') }]);
  t.equal(kafka.leave('k', [{ memberId: joined.memberId }]).errorCode, 0, 'the member leaves before the store committed');
  t.equal((await synced).errorCode, GroupError.UNKNOWN_MEMBER_ID);
  await commit();
  t.notOk(state.kafkaGroups.has('k'), 'the drop was appended after the store');
  const next = new KafkaGroups({ controller, nativeGroupActive: () => false });
  t.teardown(() => next.stop());
  t.notOk(next.isActive('k'), 'a new coordinator finds no member that left');
});

t.test('a native member cannot take a stored Kafka group id from a controller still catching up', async (t) => {
  const { controller, state } = orderedController();
  state.apply({ type: 'storeKafkaGroup', group: { id: 'k', generation: 4, protocolType: 'consumer', protocolName: 'range', leader: 'm1', members: [{ id: 'm1', clientId: 'c', clientHost: 'h', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, protocols: [{ name: 'range', metadata: '' }], assignment: '' }] } });
  const catchingUp = { ...controller, leaderCaughtUp: false };
  let native: GroupCoordinator | undefined;
  const kafka = new KafkaGroups({ controller: catchingUp, nativeGroupActive: (id) => native?.hasMembers(id) ?? false });
  native = new GroupCoordinator({ controller: catchingUp, claimedElsewhere: (id) => kafka.isActive(id) });
  t.teardown(() => (kafka.stop(), native!.stop()));
  t.throws(() => native!.join({ groupId: 'k', memberId: '', topics: ['t'], sessionTimeoutMs: 10_000, owned: [] }, 'native', 'addr'), { code: 'LEADER_NOT_AVAILABLE' }, 'retriable until caught up');
  catchingUp.leaderCaughtUp = true;
  t.throws(() => native!.join({ groupId: 'k', memberId: '', topics: ['t'], sessionTimeoutMs: 10_000, owned: [] }, 'native', 'addr'), { code: 'INVALID_REQUEST' }, 'then the id is the stored Kafka group\'s');
});

t.test('leadership lost and won back between two ticks: the group stored meanwhile wins over what was in memory', async (t) => {
  const { controller, state, commit } = orderedController();
  const kafka = new KafkaGroups({ controller, nativeGroupActive: () => false });
  t.teardown(() => kafka.stop());
  const joined = await kafka.join(kafkaJoin());
  const synced = kafka.sync('k', joined.generationId, joined.memberId, [{ memberId: joined.memberId, assignment: Buffer.from('all') }]);
  await commit();
  t.equal((await synced).errorCode, 0);
  // Another controller led for a while (a term) and stored a later generation with another member.
  const stored = state.kafkaGroups.get('k')!;
  state.apply({ type: 'storeKafkaGroup', group: { ...stored, generation: stored.generation + 1, leader: 'other', members: [{ ...stored.members[0]!, id: 'other' }] } });
  controller.term = 3;
  t.equal(kafka.heartbeat('k', stored.generation + 1, 'other'), 0, 'the member stored meanwhile is known');
  t.equal(kafka.heartbeat('k', stored.generation, joined.memberId), GroupError.UNKNOWN_MEMBER_ID, 'the one only memory had is not');
});

t.test("a Kafka group is stored with the chosen protocol's metadata alone; one too large to store gets its syncs refused", async (t) => {
  const { controller, state, log, commit } = orderedController();
  const kafka = new KafkaGroups({ controller, nativeGroupActive: () => false });
  t.teardown(() => kafka.stop());
  const large = Buffer.alloc(600 * 1024, 1);
  const joined = await kafka.join(kafkaJoin('', [{ name: 'range', metadata: large }, { name: 'roundrobin', metadata: large }]));
  const synced = kafka.sync('k', joined.generationId, joined.memberId, [{ memberId: joined.memberId, assignment: Buffer.from('all') }]);
  await commit();
  t.equal((await synced).errorCode, 0, 'two protocols of 600 KiB each: stored');
  t.same(state.kafkaGroups.get('k')!.members[0]!.protocols.map((p) => p.name), ['range'], 'with the chosen one alone');
  t.equal(kafka.leave('k', [{ memberId: joined.memberId }]).errorCode, 0);
  await commit();

  const huge = await kafka.join(kafkaJoin('', [{ name: 'range', metadata: Buffer.alloc(900 * 1024, 1) }]));
  const refused = await kafka.sync('k', huge.generationId, huge.memberId, [{ memberId: huge.memberId, assignment: Buffer.alloc(300 * 1024, 2) }]);
  t.equal(refused.errorCode, KafkaError.UNKNOWN_SERVER_ERROR, "over 1 MiB stored (Kafka's limit on a group record): refused, as Kafka does");
  t.equal(log.filter((e) => e.command.type === 'storeKafkaGroup').length, 0, 'and nothing proposed');
  t.equal(kafka.heartbeat('k', huge.generationId, huge.memberId), KafkaError.REBALANCE_IN_PROGRESS, 'the group rebalances');
});

t.test("Kafka commits: metadata over Kafka's 4 KiB is OFFSET_METADATA_TOO_LARGE; a commit too large for the metadata log is INVALID_COMMIT_OFFSET_SIZE", async (t) => {
  const { controller } = setup(2);
  const kafka = new KafkaGroups({
    controller: { ...controller, propose: async () => { throw new FlotillaError('RECORD_TOO_LARGE', 'too large'); } },
    nativeGroupActive: () => false,
  });
  t.teardown(() => kafka.stop());
  const codes = await kafka.commit({ groupId: 'admin', generationId: -1, memberId: '', offsets: [{ topic: 't', partition: 0, offset: 1, metadata: 'x'.repeat(4097) }, { topic: 't', partition: 1, offset: 1, metadata: 'x'.repeat(4096) }] });
  t.same(codes, [GroupError.OFFSET_METADATA_TOO_LARGE, GroupError.INVALID_COMMIT_OFFSET_SIZE]);
});

t.test('a static member back under a new member id (a restart) takes its place at once: same generation and assignment, the old id fenced', async (t) => {
  const { controller, state, commit } = orderedController();
  const kafka = new KafkaGroups({ controller, nativeGroupActive: () => false });
  t.teardown(() => kafka.stop());
  const staticJoin = (instanceId: string, memberId = '', metadata = 'subscription') => kafka.join({ ...kafkaJoin(memberId, [{ name: 'range', metadata: Buffer.from(metadata) }]), instanceId });
  const a = await staticJoin('a');
  const bJoined = staticJoin('b');
  const aAgain = await staticJoin('a', a.memberId);
  const b = await bJoined;
  t.equal(aAgain.leader, a.memberId);
  t.same(aAgain.members.map((m) => m.groupInstanceId).sort(), ['a', 'b'], 'the leader is told every member with its instance id');
  const syncs = [kafka.sync('k', b.generationId, a.memberId, [{ memberId: a.memberId, assignment: Buffer.from('p0') }, { memberId: b.memberId, assignment: Buffer.from('p1') }], 'a'), kafka.sync('k', b.generationId, b.memberId, [], 'b')];
  await commit();
  await Promise.all(syncs);
  const generation = b.generationId;

  // b restarts: no LeaveGroup, a JoinGroup without a member id under the same instance id.
  const restarted = kafka.join({ ...kafkaJoin('', [{ name: 'range', metadata: Buffer.from('subscription') }]), instanceId: 'b' });
  await commit();
  const back = await restarted;
  t.equal(back.errorCode, 0);
  t.not(back.memberId, b.memberId, 'a new member id');
  t.equal(back.generationId, generation, 'the same generation: no rebalance');
  t.same((await kafka.sync('k', generation, back.memberId, [], 'b')).assignment, Buffer.from('p1'), 'its assignment back');
  t.equal(kafka.heartbeat('k', generation, a.memberId, 'a'), 0, 'the other member carries on undisturbed');
  t.equal(kafka.heartbeat('k', generation, b.memberId, 'b'), GroupError.FENCED_INSTANCE_ID, 'the old member id is fenced');
  t.same(await kafka.commit({ groupId: 'k', generationId: generation, memberId: b.memberId, instanceId: 'b', offsets: [{ topic: 't', partition: 0, offset: 1, metadata: null }] }), [GroupError.FENCED_INSTANCE_ID]);
  t.same(state.kafkaGroups.get('k')!.members.map((m) => [m.id, m.instanceId]).sort(), [[a.memberId, 'a'], [back.memberId, 'b']].sort(), 'the new member id is stored');

  // The leader restarts: it leads on, and is given every member again.
  const leaderBack = kafka.join({ ...kafkaJoin('', [{ name: 'range', metadata: Buffer.from('subscription') }]), instanceId: 'a' });
  await commit();
  const newLeader = await leaderBack;
  t.same([newLeader.generationId, newLeader.leader, newLeader.members.length], [generation, newLeader.memberId, 2]);
  t.same((await kafka.sync('k', generation, newLeader.memberId, [{ memberId: newLeader.memberId, assignment: Buffer.from('everything') }], 'a')).assignment, Buffer.from('p0'), 'a Stable group keeps its assignment');

  // A different subscription rebalances.
  const changed = kafka.join({ ...kafkaJoin('', [{ name: 'range', metadata: Buffer.from('another topic') }]), instanceId: 'b' });
  t.equal(kafka.heartbeat('k', generation, newLeader.memberId, 'a'), KafkaError.REBALANCE_IN_PROGRESS, 'a changed subscription rebalances');
  void changed;
  t.same(kafka.leave('k', [{ memberId: '', instanceId: 'b' }, { memberId: 'someone else', instanceId: 'a' }]).members, [0, GroupError.FENCED_INSTANCE_ID], 'a static member leaves by its instance id; a wrong member id for it is fenced');
});

t.test('a static member dropped for not rejoining in time frees its instance id: it comes back as a new member', async (t) => {
  const { controller, commit } = orderedController();
  const kafka = new KafkaGroups({ controller, nativeGroupActive: () => false });
  t.teardown(() => kafka.stop());
  const join = (instanceId: string, memberId = '') => kafka.join({ ...kafkaJoin(memberId), rebalanceTimeoutMs: 100, instanceId });
  const a = await join('a');
  const bJoined = join('b'); // a does not rejoin: it is dropped after its 100-ms rebalance timeout
  await new Promise((r) => setTimeout(r, 150));
  const b = await bJoined;
  t.equal(b.errorCode, 0);
  t.equal(kafka.heartbeat('k', b.generationId, a.memberId, 'a'), GroupError.UNKNOWN_MEMBER_ID, 'a is gone');
  const aBack = kafka.join({ ...kafkaJoin(), rebalanceTimeoutMs: 10_000, instanceId: 'a' });
  t.equal(kafka.heartbeat('k', b.generationId, b.memberId, 'b'), KafkaError.REBALANCE_IN_PROGRESS, 'a comes back as a new member: a rebalance');
  void commit();
  void aBack;
});
