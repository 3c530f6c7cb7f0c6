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

function setup(partitions = 6) {
  let now = 1_000;
  const state = new ControllerState();
  state.apply({ type: 'createTopic', name: 't', config: { retentionMs: -1, retentionBytes: -1, segmentBytes: 1 << 20 }, partitions: Array.from({ length: partitions }, (_, p) => ({ partition: p, groupId: p + 1, replicas: [1] })) });
  const controller = {
    isLeader: true,
    leaderCaughtUp: true,
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
