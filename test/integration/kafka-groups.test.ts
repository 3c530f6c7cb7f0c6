/**
 * Kafka consumer groups (the classic protocol) on real broker processes, with kafkajs
 * 2.2.4's consumer: a group of one reads a 3-partition topic and commits; a second member
 * joining rebalances the partitions and together they read every later record exactly
 * once; a restarted group resumes from its commits; a group id is native or Kafka, not both;
 * and, on the wire, the coordinator's answers and the metadata committed beside an offset.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import t from 'tap';
import { runKcat } from './kcat.js';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { decodeResponse, encodeRequest, KafkaFrameReader, type KafkaApiName, type RequestInput, type ResponseBody } from '../../protocol/kafka/index.js';
import { startCluster, waitFor } from './cluster.js';

const { cluster, client } = await startCluster(t, { brokers: 3, kafka: true });
const kafka = new Kafka({ clientId: 'kafka-groups-test', brokers: cluster.kafkaBootstrap, logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100 } });
const admin = kafka.admin();
await admin.connect();
t.teardown(() => admin.disconnect());
await waitFor('every broker in the Kafka metadata', async () => (await admin.describeCluster()).brokers.length === 3, 30_000);

const TOPIC = 'g-orders';
await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await producer.connect();
t.teardown(() => producer.disconnect());

/** Writes `count` records named `prefix-i`, spread over the three partitions. */
async function produce(prefix: string, count: number): Promise<string[]> {
  const values = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  await producer.send({ topic: TOPIC, acks: -1, messages: values.map((value, i) => ({ value, partition: i % 3 })) });
  return values;
}

/** Every record a consumer saw, by value, with the next offset to read per partition. */
interface Seen {
  values: string[];
  next: Map<number, number>;
}

async function startConsumer(groupId: string, seen: Seen): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      seen.values.push(message.value!.toString());
      seen.next.set(partition, Number(message.offset) + 1);
    },
  });
  return consumer;
}

/** Committed offsets cover everything `seen` read (kafkajs commits after each batch). */
async function committedCovers(groupId: string, ...seen: Seen[]): Promise<boolean> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [TOPIC] });
  return [0, 1, 2].every((p) => {
    const read = Math.max(0, ...seen.map((s) => s.next.get(p) ?? 0));
    return Number(committed!.partitions.find((c) => c.partition === p)?.offset ?? -1) >= read;
  });
}

function counts(values: string[]): Map<string, number> {
  const byValue = new Map<string, number>();
  for (const v of values) byValue.set(v, (byValue.get(v) ?? 0) + 1);
  return byValue;
}

t.test('a group of one reads every record of three partitions and commits; a second member rebalances; a restart resumes', async (t) => {
  const first = await produce('a', 150);
  const one: Seen = { values: [], next: new Map() };
  const consumerOne = await startConsumer('g-shared', one);
  await waitFor('the group of one read every record', async () => new Set(one.values).size >= first.length, 120_000);
  t.same([...counts(one.values).keys()].sort(), [...first].sort(), 'every record of the three partitions, once');
  await waitFor('its offsets committed', () => committedCovers('g-shared', one), 60_000);

  const two: Seen = { values: [], next: new Map() };
  const consumerTwo = await startConsumer('g-shared', two);
  await waitFor('both members hold partitions', async () => {
    const { groups } = await admin.describeGroups(['g-shared']);
    const group = groups[0]!;
    return group.state === 'Stable' && group.members.length === 2 && group.members.every((m) => m.memberAssignment.length > 0);
  }, 120_000);
  const [described] = (await admin.describeGroups(['g-shared'])).groups;
  t.equal(described!.protocolType, 'consumer', 'described as a Kafka consumer group');
  const oneBefore = one.values.length;

  const second = await produce('b', 150);
  await waitFor('the two members read the new records', async () => new Set([...one.values, ...two.values].filter((v) => v.startsWith('b-'))).size >= second.length, 120_000);
  const later = [...one.values.slice(oneBefore), ...two.values];
  const laterCounts = counts(later);
  t.same([...laterCounts.keys()].sort(), [...second].sort(), 'after the rebalance, only the new records are read');
  t.ok([...laterCounts.values()].every((n) => n === 1), 'each exactly once between the two members');
  t.ok(one.values.length > oneBefore && two.values.length > 0, `both members read some (${one.values.length - oneBefore} and ${two.values.length})`);
  await waitFor('their offsets committed', () => committedCovers('g-shared', one, two), 60_000);

  await consumerTwo.disconnect();
  await consumerOne.disconnect();
  await waitFor('the group empty once both left', async () => (await admin.describeGroups(['g-shared'])).groups[0]!.members.length === 0, 60_000);

  const third = await produce('c', 30);
  const restarted: Seen = { values: [], next: new Map() };
  const consumerThree = await startConsumer('g-shared', restarted);
  await waitFor('the restarted group read the newest records', async () => restarted.values.filter((v) => v.startsWith('c-')).length >= third.length, 120_000);
  await consumerThree.disconnect();
  t.same([...counts(restarted.values).keys()].sort(), [...third].sort(), 'it resumed from its commits: nothing read before is read again');
  t.ok((await admin.listGroups()).groups.some((g) => g.groupId === 'g-shared'), 'ListGroups lists the group');
});

t.test('a group id in use by Kafka members is refused to a native member', async (t) => {
  const seen: Seen = { values: [], next: new Map() };
  const consumer = await startConsumer('g-exclusive', seen);
  await waitFor('the Kafka group formed', async () => (await admin.describeGroups(['g-exclusive'])).groups[0]!.state === 'Stable', 120_000);
  const native = client.consumer({ groupId: 'g-exclusive', maxWaitMs: 100 });
  await t.rejects((async () => {
    await native.subscribe({ topic: TOPIC, fromBeginning: true });
    for await (const _ of native) break;
  })(), /never both/, 'the native join is refused');
  await native.close();
  await consumer.disconnect();
});

/** One request on a connection of its own to HOST:PORT; the decoded answer. */
async function ask<N extends KafkaApiName>(address: string, api: N, apiVersion: number, body: RequestInput<N>): Promise<ResponseBody<N>> {
  const [host, port] = address.split(':');
  const socket = connect({ host: host!, port: Number(port) });
  try {
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const reader = new KafkaFrameReader();
    const answer = new Promise<Buffer>((resolve, reject) => {
      socket.on('data', (chunk) => {
        const [frame] = reader.push(chunk);
        if (frame) resolve(frame);
      });
      socket.once('close', () => reject(new Error(`${api} v${apiVersion}: the connection closed`)));
    });
    for (const chunk of encodeRequest(api, { apiVersion, correlationId: 1, clientId: 'raw' }, body)) socket.write(chunk);
    return decodeResponse(api, apiVersion, await answer).body;
  } finally {
    socket.destroy();
  }
}

t.test('on the wire: every broker names the controller leader; others answer NOT_COORDINATOR; offsets keep their metadata', async (t) => {
  const addresses = [...cluster.brokers.values()].map((b) => b.kafkaAddress!);
  const found = await Promise.all(addresses.map((a) => ask(a, 'FindCoordinator', 2, { key: 'g-wire', keyType: 0 })));
  t.ok(found.every((f) => f.errorCode === 0 && f.nodeId === found[0]!.nodeId), 'one coordinator, named by every broker');
  const coordinator = `${found[0]!.host}:${found[0]!.port}`;
  const other = addresses.find((a) => a !== coordinator)!;
  const elsewhere = await ask(other, 'OffsetFetch', 5, { groupId: 'g-wire', topics: null });
  t.equal(elsewhere.errorCode, 16, 'NOT_COORDINATOR at another broker');

  const committed = await ask(coordinator, 'OffsetCommit', 2, {
    groupId: 'g-wire',
    generationIdOrMemberEpoch: -1,
    memberId: '',
    retentionTimeMs: -1,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex: 1, committedOffset: 7, committedMetadata: 'resume-here' }, { partitionIndex: 9, committedOffset: 1, committedMetadata: null }] }],
  });
  t.same(committed.topics[0]!.partitions.map((p) => p.errorCode), [0, 3], 'committed from outside the group; an unknown partition is UNKNOWN_TOPIC_OR_PARTITION');
  const fetched = await ask(coordinator, 'OffsetFetch', 5, { groupId: 'g-wire', topics: [{ name: TOPIC, partitionIndexes: [0, 1] }] });
  t.same(
    fetched.topics[0]!.partitions.map((p) => [p.partitionIndex, p.committedOffset, p.metadata, p.errorCode]),
    [[0, -1, '', 0], [1, 7, 'resume-here', 0]],
    'the offset and its metadata round-trip through the controller',
  );
  // kafkajs's admin.resetOffsets commits Kafka's logical offsets; they are kept as given.
  const reset = await ask(coordinator, 'OffsetCommit', 2, {
    groupId: 'g-wire',
    generationIdOrMemberEpoch: -1,
    memberId: '',
    retentionTimeMs: -1,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, committedOffset: -2, committedMetadata: null }, { partitionIndex: 1, committedOffset: -3, committedMetadata: null }] }],
  });
  t.same(reset.topics[0]!.partitions.map((p) => p.errorCode), [0, 1], 'earliest (-2) taken; -3 is OFFSET_OUT_OF_RANGE');
  const logical = await ask(coordinator, 'OffsetFetch', 5, { groupId: 'g-wire', topics: [{ name: TOPIC, partitionIndexes: [0] }] });
  t.equal(logical.topics[0]!.partitions[0]!.committedOffset, -2, 'and read back as committed');

  const heartbeat = await ask(coordinator, 'Heartbeat', 3, { groupId: 'g-wire', generationId: 1, memberId: 'nobody', groupInstanceId: null });
  t.equal(heartbeat.errorCode, 25, 'UNKNOWN_MEMBER_ID for a member the group does not have');
  const join = await ask(coordinator, 'JoinGroup', 5, { groupId: 'g-wire', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.from('m') }] });
  t.equal(join.errorCode, 0);
  t.equal(join.leader, join.memberId, 'a member alone leads');
  t.same(join.members.map((m) => [m.memberId, m.metadata.toString()]), [[join.memberId, 'm']], 'the leader gets every member\'s metadata');
  const stale = await ask(coordinator, 'SyncGroup', 3, { groupId: 'g-wire', generationId: join.generationId - 1, memberId: join.memberId, groupInstanceId: null, assignments: [] });
  t.equal(stale.errorCode, 22, 'ILLEGAL_GENERATION for an earlier generation');
  const synced = await ask(coordinator, 'SyncGroup', 3, { groupId: 'g-wire', generationId: join.generationId, memberId: join.memberId, groupInstanceId: null, assignments: [{ memberId: join.memberId, assignment: Buffer.from('all of it') }] });
  t.same([synced.errorCode, synced.assignment.toString()], [0, 'all of it'], "the leader's assignment bytes come back");
  const left = await ask(coordinator, 'LeaveGroup', 3, { groupId: 'g-wire', memberId: '', members: [{ memberId: join.memberId, groupInstanceId: null }] });
  t.same([left.errorCode, left.members.map((m) => m.errorCode)], [0, [0]]);
});

t.test('kcat -G consumes as a group and commits', async (t) => {
  await admin.createTopics({ topics: [{ topic: 'g-kcat', numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });
  const values = Array.from({ length: 300 }, (_, i) => `line-${i}`);
  await producer.send({ topic: 'g-kcat', acks: -1, messages: values.map((value, i) => ({ value, partition: i % 3 })) });
  const printed = await runKcat(cluster.kafkaBootstrap, ['-G', 'g-kcat-group', '-o', 'beginning', '-c', String(values.length), '-f', '%s\\n', 'g-kcat']);
  t.same(printed.trim().split('\n').sort(), [...values].sort(), 'every line once');
  await waitFor('its offsets committed', async () => {
    const [committed] = await admin.fetchOffsets({ groupId: 'g-kcat-group', topics: ['g-kcat'] });
    return committed!.partitions.filter((p) => Number(p.offset) >= 100).length === 3;
  }, 60_000);
});

t.test('after a controller failover a member carries on at the new coordinator: its heartbeats, commits and sync at its generation', async (t) => {
  const addresses = [...cluster.brokers.values()].map((b) => b.kafkaAddress!);
  const group = 'g-failover';
  const found = await ask(addresses[0]!, 'FindCoordinator', 2, { key: group, keyType: 0 });
  const coordinator = `${found.host}:${found.port}`;
  const join = await ask(coordinator, 'JoinGroup', 5, { groupId: group, sessionTimeoutMs: 60_000, rebalanceTimeoutMs: 60_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.from('m') }] });
  const member = { groupId: group, generationId: join.generationId, memberId: join.memberId, groupInstanceId: null };
  const synced = await ask(coordinator, 'SyncGroup', 3, { ...member, assignments: [{ memberId: join.memberId, assignment: Buffer.from('partitions 0-2') }] });
  t.equal(synced.errorCode, 0);
  /** The coordinator after the failover, once found. */
  let coordinator2: string | undefined;
  const commit = (offset: number) =>
    ask(coordinator2 ?? coordinator, 'OffsetCommit', 2, { groupId: group, generationIdOrMemberEpoch: join.generationId, memberId: join.memberId, retentionTimeMs: -1, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, committedOffset: offset, committedMetadata: null }] }] });
  t.equal((await commit(5)).topics[0]!.partitions[0]!.errorCode, 0);

  await cluster.kill(found.nodeId);
  t.teardown(async () => {
    cluster.restart(found.nodeId);
    await waitFor(`broker ${found.nodeId} back`, async () => (await client.admin().describeCluster()).brokers.find((b) => b.id === found.nodeId)?.alive, 30_000);
  });
  const survivor = addresses.find((a) => a !== coordinator)!;
  // Asked until a new coordinator has caught up (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR or no coordinator before).
  const heartbeat = await waitFor('a new coordinator that answers', async () => {
    const next = await ask(survivor, 'FindCoordinator', 2, { key: group, keyType: 0 }).catch(() => null);
    if (!next || next.errorCode !== 0 || next.nodeId === found.nodeId) return null;
    coordinator2 = `${next.host}:${next.port}`;
    const answer = await ask(coordinator2, 'Heartbeat', 3, member).catch(() => null);
    return answer && ![14, 15, 16].includes(answer.errorCode) ? answer : null;
  }, 30_000);
  t.equal(heartbeat.errorCode, 0, 'the heartbeat is taken there: the same member at the same generation (not UNKNOWN_MEMBER_ID)');
  t.equal((await commit(9)).topics[0]!.partitions[0]!.errorCode, 0, 'and so is a commit');
  const again = await ask(coordinator2!, 'SyncGroup', 3, { ...member, assignments: [] });
  t.same([again.errorCode, again.assignment.toString()], [0, 'partitions 0-2'], 'a sync gets its assignment back');
  const fetched = await ask(coordinator2!, 'OffsetFetch', 5, { groupId: group, topics: [{ name: TOPIC, partitionIndexes: [0] }] });
  t.equal(fetched.topics[0]!.partitions[0]!.committedOffset, 9);
  const described = await ask(coordinator2!, 'DescribeGroups', 3, { groups: [group], includeAuthorizedOperations: false });
  t.same([described.groups[0]!.groupState, described.groups[0]!.members.map((m) => m.memberId)], ['Stable', [join.memberId]], 'DescribeGroups shows it Stable with its member');
});

t.test('a static member (group.instance.id) killed and restarted reads on at once, without waiting out its session', async (t) => {
  const topic = 'g-static';
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });
  /** kcat -G as a static member with a 5-minute session, and the lines it has printed so far. */
  const startStatic = () => {
    const lines: string[] = [];
    const child = spawn('kcat', ['-b', cluster.kafkaBootstrap.join(','), '-G', 'g-static-group', '-u', '-o', 'beginning', '-f', '%s\\n', '-X', 'group.instance.id=static-1', '-X', 'session.timeout.ms=300000', topic], { stdio: ['ignore', 'pipe', 'ignore'] });
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const split = (partial + chunk.toString()).split('\n');
      partial = split.pop()!;
      lines.push(...split);
    });
    t.teardown(() => void child.kill('SIGKILL'));
    return { child, lines };
  };
  const first = startStatic();
  const before = Array.from({ length: 30 }, (_, i) => `before-${i}`);
  await producer.send({ topic, acks: -1, messages: before.map((value, i) => ({ value, partition: i % 3 })) });
  await waitFor('the first instance reads every record', async () => before.every((v) => first.lines.includes(v)), 60_000);
  first.child.kill('SIGKILL'); // no LeaveGroup

  const second = startStatic();
  const after = Array.from({ length: 30 }, (_, i) => `after-${i}`);
  await producer.send({ topic, acks: -1, messages: after.map((value, i) => ({ value, partition: i % 3 })) });
  // Were the restart a new member, the group would wait for the old one to rejoin or expire: 5 minutes.
  await waitFor('the restarted instance reads the new records', async () => after.every((v) => second.lines.includes(v)), 120_000);
  const found = await ask(cluster.kafkaBootstrap[0]!, 'FindCoordinator', 2, { key: 'g-static-group', keyType: 0 });
  const described = await ask(`${found.host}:${found.port}`, 'DescribeGroups', 3, { groups: ['g-static-group'], includeAuthorizedOperations: false });
  t.same([described.groups[0]!.groupState, described.groups[0]!.members.length], ['Stable', 1], 'one member: the restart took the place of the one killed');
});
