/**
 * kafkajs 2.2.4 under faults, on real broker processes (3 brokers, replication 3): an
 * idempotent producer writes 100,000 keyed records while partition leaders are killed with
 * SIGKILL and restarted; the native SDK reads every partition back (each acknowledged
 * record exactly once, at its acknowledged offset, in send order per key; an unacknowledged
 * one at most once). Then a 3-member kafkajs consumer group reads them all while one member
 * leaves and another joins, and a group restarted afterwards resumes from its commits.
 * Kills, the leave and the join follow counted progress, never the clock.
 */
import t from 'tap';
import { Kafka, logLevel, Partitioners, type Consumer } from 'kafkajs';
import { Client } from '../../client/index.js';
import { killLeaderAndRestart, ProcessCluster, waitFor } from './cluster.js';
import { readPartition } from './read-back.js';

const TOPIC = 'churn';
const PARTITIONS = 6;
const KEYS = 1_000;
const RECORDS = 100_000;
const PER_SEND = 200;
const KILLS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();

const cluster = await new ProcessCluster({ brokers: 3, kafka: true, fsync: 'batch' }).start();
const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000 });
const kafka = new Kafka({ clientId: 'kafka-churn-test', brokers: cluster.kafkaBootstrap, logLevel: logLevel.NOTHING });
const admin = kafka.admin({ retry: { retries: 30, initialRetryTime: 100 } });
t.teardown(async () => {
  await admin.disconnect();
  await client.close();
  await cluster.close();
});
await waitFor('a controller', async () => (await client.admin().describeCluster()).controller, 30_000);
await admin.connect();
await waitFor('every broker in the Kafka metadata', async () => (await admin.describeCluster()).brokers.length === 3, 30_000);

/** A stored record as the native SDK reads it back. */
interface Stored {
  partition: number;
  offset: number;
  value: string;
}
const stored: Stored[] = [];

t.test(`a kafkajs idempotent producer writes ${RECORDS.toLocaleString('en')} keyed records while partition leaders are killed: exactly once, in order per key`, async (t) => {
  t.ok(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3 }], waitForLeaders: true }), 'kafkajs admin created the topic');

  // kafkajs allows idempotence with one request in flight per broker; its retries are
  // unlimited for an idempotent producer.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  // Record i is the `seq`-th record of its key: value "key/seq/i". Each partition's records
  // (by kafkajs's own partitioner) go out in i's order from a lane of their own, one send
  // at a time; the lanes run side by side.
  //
  // One partition per send: kafkajs 2.2.4 keeps each broker's answer across the retries of
  // a send (sendMessages.js, responsePerBroker), so when a send spans several brokers and a
  // partition's leader dies and moves to a broker that already answered, that partition's
  // records are never sent again and send() resolves without an answer for it (seen here
  // with sends across all partitions); and a broker whose first request is still in flight
  // when the retry starts gets its partitions again under new sequence numbers. A send to
  // one partition reaches one broker at a time, which neither can touch.
  const choose = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [], isr: [] }));
  const lanes = Array.from({ length: PARTITIONS }, () => [] as Array<{ i: number; key: string; value: string }>);
  const nextSeq = new Map<string, number>();
  for (let i = 0; i < RECORDS; i++) {
    const key = `k${i % KEYS}`;
    const seq = nextSeq.get(key) ?? 0;
    nextSeq.set(key, seq + 1);
    lanes[choose({ topic: TOPIC, partitionMetadata, message: { key, value: null } })]!.push({ i, key, value: `${key}/${seq}/${i}` });
  }

  const acks: Array<{ partition: number; offset: number } | undefined> = [];
  const failures: string[] = [];
  let acked = 0;

  const kills: Array<{ broker: number; partition: number; atAcked: number; atMs: number }> = [];
  const armed = Array.from({ length: KILLS }, () => {
    let resolve!: () => void;
    return { promise: new Promise<void>((r) => (resolve = r)), resolve };
  });
  // Kill r once (r + 1) stretches of records are acknowledged.
  const STRETCH = RECORDS / (KILLS + 1);
  const TRICKLE = 5;
  const killMark = (r: number) => (r + 1) * STRETCH;
  const chaos = (async () => {
    for (let round = 0; round < KILLS; round++) {
      await armed[round]!.promise;
      await killLeaderAndRestart(cluster, client, TOPIC, round % PARTITIONS, {
        onKilled: (broker) => kills.push({ broker, partition: round % PARTITIONS, atAcked: acked, atMs: Date.now() - started }),
      });
    }
  })();
  let chaosError: unknown = null;
  chaos.catch((error: unknown) => (chaosError = error));

  const produceStarted = Date.now();
  await Promise.all(
    lanes.map(async (lane, partition) => {
      for (let first = 0; first < lane.length; ) {
        if (chaosError) throw chaosError;
        // Half a stretch past a kill's mark and that kill not yet done (the one before is
        // still restarting, say): send a trickle, so that the kill still finds records in
        // flight and records left to send.
        const killDue = kills.length < KILLS && acked >= killMark(kills.length) + STRETCH / 2;
        const records = lane.slice(first, first + (killDue ? TRICKLE : PER_SEND));
        first += records.length;
        if (killDue) await sleep(50);
        try {
          const answers = await producer.send({ topic: TOPIC, acks: -1, messages: records.map(({ key, value }) => ({ key, value })) });
          if (answers.length !== 1 || answers[0]!.partition !== partition) throw new Error(`answers for partition ${partition}: ${JSON.stringify(answers)}`);
          // One batch: its records take consecutive offsets from its baseOffset.
          const base = Number(answers[0]!.baseOffset);
          for (const [n, r] of records.entries()) acks[r.i] = { partition, offset: base + n };
          acked += records.length;
        } catch (error) {
          failures.push(String(error));
        }
        for (let r = 0; r < KILLS; r++) if (acked >= killMark(r)) armed[r]!.resolve();
      }
    }),
  );
  for (const a of armed) a.resolve();
  await chaos;
  await producer.disconnect();
  const produceMs = Date.now() - produceStarted;

  // Read every partition back with the native SDK, from its leader to its high watermark,
  // once that covers every acknowledged offset (a leader elected moments ago learns the
  // commit index with its first entry of the term).
  const ackedAt = new Map<string, number>(); // "partition@offset" -> i
  for (const [i, a] of acks.entries()) if (a) ackedAt.set(`${a.partition}@${a.offset}`, i);
  const found = new Map<number, number>(); // i -> times stored
  let misplaced = 0;
  let outOfOrder = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const maxAcked = Math.max(-1, ...acks.filter((a) => a?.partition === p).map((a) => a!.offset));
    const end = await waitFor(`the leader of ${TOPIC}/${p} past offset ${maxAcked}`, async () => {
      const hw = (await client.admin().describeTopic(TOPIC)).partitions[p]!.highWatermark;
      return hw > maxAcked && hw;
    }, 60_000);
    const { records, complete } = await readPartition(client, TOPIC, p, 'leader', end);
    t.ok(complete, `partition ${p} read to its high watermark ${end}`);
    const lastSeq = new Map<string, number>();
    for (const [offset, value] of records) {
      const [key, seq, i] = value.split('/') as [string, string, string];
      found.set(Number(i), (found.get(Number(i)) ?? 0) + 1);
      const expectedAt = ackedAt.get(`${p}@${offset}`);
      if (expectedAt !== undefined && expectedAt !== Number(i)) misplaced++;
      if ((lastSeq.get(key) ?? -1) >= Number(seq)) outOfOrder++;
      lastSeq.set(key, Number(seq));
      stored.push({ partition: p, offset, value });
    }
  }
  const missing = acks.filter((a, i) => a && found.get(i) !== 1).length;
  const twice = [...found.values()].filter((n) => n > 1).length;
  const unackedStored = [...found.keys()].filter((i) => !acks[i]).length;
  t.comment(JSON.stringify({ produceMs, acked, failures, kills, stored: stored.length, unackedStored, missing, twice, misplaced, outOfOrder }));
  t.equal(kills.length, KILLS, `${KILLS} partition leaders were killed during the run`);
  t.same(failures, [], 'kafkajs acknowledged every send (it retries through the kills)');
  t.equal(acked, RECORDS, `all ${RECORDS} records acknowledged`);
  t.equal(missing, 0, 'every acknowledged record is stored exactly once');
  t.equal(twice, 0, 'no record, acknowledged or not, is stored twice');
  t.equal(misplaced, 0, 'each acknowledged record is at the offset kafkajs was told');
  t.equal(outOfOrder, 0, 'per key, records are stored in send order');
});

/** One record handed to a group member: which member, in which of its generations (joins so far). */
interface Processed {
  member: string;
  joins: number;
  partition: number;
  offset: number;
  value: string;
}

t.test('a 3-member kafkajs group reads every stored record while one member leaves and one joins; restarted, it resumes from its commits', async (t) => {
  t.ok(stored.length >= RECORDS, 'the records of the test before are stored');
  const GROUP = 'churn-readers';
  const LEAVER = 'm1';
  const storedAt = new Map(stored.map((r) => [`${r.partition}@${r.offset}`, r.value]));
  const lastOffset = new Map<number, number>();
  for (const r of stored) lastOffset.set(r.partition, Math.max(lastOffset.get(r.partition) ?? -1, r.offset));

  // The membership changes follow reading progress: the leave starts once a third of the
  // records was read (the leaving member having read some), the join once two thirds were.
  // While the group forms and while each change settles, the members hold their next
  // record and heartbeat (which sends them to rejoin), so each change lands mid-read
  // however fast the members read.
  type Phase = 'forming' | 'reading' | 'leaving' | 'left' | 'joining' | 'joined';
  let phase: Phase = 'forming';
  let phaseError: unknown = null;
  const readAt: Partial<Record<Phase, number>> = {};
  const processed: Processed[] = [];
  const distinct = new Set<string>();
  const members = new Map<string, { consumer: Consumer; joins: number; firstAssignment: number[] | null }>();
  const held = (name: string) => phase === 'forming' || phase === 'joining' || (phase === 'leaving' && name !== LEAVER);
  const readBy = (name: string) => processed.filter((r) => r.member === name).length;

  async function describeGroup() {
    return (await admin.describeGroups([GROUP])).groups[0]!;
  }
  function enter(next: Phase, change: () => Promise<void>, then: Phase): void {
    phase = next;
    readAt[next] = distinct.size;
    change().then(
      () => {
        phase = then;
        advance();
      },
      (error: unknown) => (phaseError = error),
    );
  }
  function advance(): void {
    if (phase === 'reading' && distinct.size >= stored.length / 3 && readBy(LEAVER) > 0) {
      enter('leaving', async () => {
        await members.get(LEAVER)!.consumer.disconnect();
        await waitFor('the group stable with the two members left', async () => {
          const g = await describeGroup();
          return g.state === 'Stable' && g.members.length === 2;
        }, 120_000);
      }, 'left');
    } else if (phase === 'left' && distinct.size >= (2 * stored.length) / 3) {
      enter('joining', async () => {
        await startMember('m4', processed);
        await waitFor('the group stable with the new member', async () => {
          const g = await describeGroup();
          return members.get('m4')!.joins > 0 && g.state === 'Stable' && g.members.length === 3;
        }, 120_000);
      }, 'joined');
    }
  }

  async function startMember(name: string, sink: Processed[]): Promise<void> {
    // Fetches of at most 64 KiB per partition (about 2,000 records here), so that a member
    // reads its partitions in many batches rather than each in one.
    const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200, maxBytesPerPartition: 64 * 1024 });
    const member = { consumer, joins: 0, firstAssignment: null as number[] | null };
    members.set(name, member);
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      member.joins++;
      member.firstAssignment ??= event.payload.memberAssignment[TOPIC] ?? [];
    });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message, heartbeat }) => {
        while (held(name)) {
          await heartbeat();
          await sleep(50);
        }
        sink.push({ member: name, joins: member.joins, partition, offset: Number(message.offset), value: message.value!.toString() });
        distinct.add(`${partition}@${message.offset}`);
        advance();
      },
    });
  }

  const readStarted = Date.now();
  // Reading starts once the three members form the group.
  for (const name of ['m1', 'm2', 'm3']) await startMember(name, processed);
  await waitFor('the group stable with three members', async () => {
    const g = await describeGroup();
    return [...members.values()].every((m) => m.joins > 0) && g.state === 'Stable' && g.members.length === 3;
  }, 120_000);
  phase = 'reading';
  const everyStoredRead = () => [...storedAt.keys()].every((k) => distinct.has(k));
  await waitFor('the group read every stored record', () => {
    if (phaseError) throw phaseError;
    return phase === 'joined' && everyStoredRead();
  }, 300_000, 200);
  const readMs = Date.now() - readStarted;

  const committedOffsets = async () => {
    const [committed] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    return new Map(committed!.partitions.map((p) => [p.partition, Number(p.offset)]));
  };
  await waitFor('offsets committed past every stored record', async () => {
    const committed = await committedOffsets();
    return [...lastOffset].every(([p, last]) => (committed.get(p) ?? -1) > last);
  }, 60_000);
  for (const name of ['m2', 'm3', 'm4']) await members.get(name)!.consumer.disconnect();
  await waitFor('the group empty once every member left', async () => (await describeGroup()).members.length === 0, 60_000);

  const times = new Map<string, number>();
  const firstReader = new Map<string, string>();
  const rereads: Record<string, number> = {}; // "first reader -> later reader" (member#joins): count
  const sameGeneration = new Set<string>();
  let sameGenerationTwice = 0;
  let wrongValue = 0;
  for (const r of processed) {
    const at = `${r.partition}@${r.offset}`;
    times.set(at, (times.get(at) ?? 0) + 1);
    const reader = `${r.member}#${r.joins}`;
    if (firstReader.has(at)) {
      const pair = `${firstReader.get(at)}->${reader}`;
      rereads[pair] = (rereads[pair] ?? 0) + 1;
    } else firstReader.set(at, reader);
    const generation = `${r.member}#${r.joins}@${at}`;
    if (sameGeneration.has(generation)) sameGenerationTwice++;
    sameGeneration.add(generation);
    if (storedAt.has(at) && storedAt.get(at) !== r.value) wrongValue++;
  }
  const duplicates = processed.length - times.size;
  const byMember = Object.fromEntries(['m1', 'm2', 'm3', 'm4'].map((m) => [m, processed.filter((r) => r.member === m).length]));
  t.comment(JSON.stringify({ readMs, processed: processed.length, distinct: times.size, duplicates, rereads, byMember, readAt, joins: Object.fromEntries([...members].map(([m, v]) => [m, v.joins])) }));
  t.ok(everyStoredRead(), `the members together read all ${stored.length} stored records`);
  t.equal(wrongValue, 0, 'each with the value the native SDK read at that offset');
  t.equal(sameGenerationTwice, 0, `a record is read twice only across a rebalance (${duplicates} duplicates in all)`);
  t.ok(readAt.leaving! < stored.length && readAt.joining! < stored.length, 'the leave and the join both came before the end of the records');
  t.ok(byMember.m1! > 0, 'the member that left read records before it left');
  t.ok((members.get('m4')!.firstAssignment ?? []).length > 0, `the member that joined was given partitions (${members.get('m4')!.firstAssignment}) and read ${byMember.m4} records`);

  // Restarted: a new member reads from the commits, so only records written since.
  const committed = await committedOffsets();
  const restarted: Processed[] = [];
  await startMember('r1', restarted);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, value: `after-restart/${p}` })) });
  await producer.disconnect();
  await waitFor('the restarted group read the records written after it', () => restarted.filter((r) => r.value.startsWith('after-restart/')).length >= PARTITIONS, 120_000);
  await members.get('r1')!.consumer.disconnect();
  t.same(restarted.map((r) => r.value).sort(), Array.from({ length: PARTITIONS }, (_, p) => `after-restart/${p}`), 'only the new records: nothing committed was read again');
  t.ok(restarted.every((r) => r.offset >= committed.get(r.partition)!), 'each at or past its partition\'s committed offset');
});
