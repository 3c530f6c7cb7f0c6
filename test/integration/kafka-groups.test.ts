/**
 * Kafka consumer groups (the classic protocol) on real broker processes, with kafkajs
 * 2.2.4's consumer: a group of one reads a 3-partition topic and commits; a second member
 * joining rebalances the partitions and together they read every later record exactly
 * once; a restarted group resumes from its commits; a group id is native or Kafka, not both.
 */
import t from 'tap';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
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
