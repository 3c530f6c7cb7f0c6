/**
 * The replica set on real storage, with the metadata as a test sets it.
 * - A partition moved away from a broker and straight back: the new replica must not open
 *   the directory while the old replica's deletion runs (held here by a flush whose
 *   fdatasync waits at a gate, as on a slow disk), and must start once it is done; nor on
 *   what a failed deletion left (an immutable segment here), until a retry deletes it.
 * - Replicas the metadata no longer places here (learned from a snapshot, which replays no
 *   deletion): deleted, but never before the metadata is current.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import type { Controller } from '../../broker/controller/controller.js';
import type { PartitionAssignment, TopicMeta } from '../../broker/controller/state.js';
import { MultiRaft } from '../../broker/multiraft/multiraft.js';
import type { PeerSender } from '../../broker/multiraft/seams.js';
import { hasReplicaFile, logNameOf, readReplicaFile } from '../../broker/replicas/replica-file.js';
import { ReplicaSet } from '../../broker/replicas/replica-set.js';
import { HardStateJournal } from '../../broker/storage/hard-state-journal.js';
import { LogManager } from '../../broker/storage/log-manager.js';
import { buildBatch } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import { waitFor } from '../../bench/process-cluster.js';
import { DEFAULT_TOPIC_CONFIG } from '../../protocol/topics.js';

const SELF = 1;
const OTHER = 2;
const TOPIC = 'moves';
/** A record the replica held before it moved away: found in a file, that file is the old log's. */
const OLD_RECORD = 'written-before-the-partition-moved-away';

/** Peers that never answer: the moving replica waits as a learner nobody adds. */
const silentPeers: PeerSender = { send: () => undefined, keepAlive: () => undefined, isConnected: (id) => id === SELF, lastHeardFrom: () => 0 };

/**
 * A broker's storage, Multi-Raft and replica set on `dataDir` (a new one by default), with
 * the metadata as the test sets it; `metadataLastIndex` is where its metadata log ends.
 */
async function brokerOnDisk(t: { teardown(fn: () => unknown): void }, options: { dataDir?: string; metadataLastIndex?: number } = {}) {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-replicas-'));
  if (!options.dataDir) t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const logs = new LogManager({ dataDir, durability: 'always', maxOpenFiles: 64 });
  const hardStates = new HardStateJournal(dataDir, logs.files);
  const logger = pino({ level: 'silent' });
  const raft = new MultiRaft({
    id: SELF, logs, hardStates, transport: silentPeers, logger, fsync: 'always', tickMs: 10, electionTicks: 10, heartbeatTicks: 2,
    recoveryConcurrency: 0, onFatal: (error) => t.teardown(() => { throw error; }), onCorruption: () => undefined,
  });
  const topics = new Map<string, TopicMeta>();
  const controller = {
    state: { topics, nextGroupId: 1 },
    metadataCurrent: true,
    group: { log: { lastIndex: () => options.metadataLastIndex ?? 100 } },
    addressOf: () => undefined,
    notCurrent: () => new FlotillaError('BROKER_NOT_AVAILABLE', 'not current'),
  };
  const replicas = new ReplicaSet({ config: { id: SELF, dataDir }, raft, controller: controller as unknown as Controller, logs, logger, onFatal: (error) => { throw error; } });
  raft.start();
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= (async () => {
    replicas.closeAll(new FlotillaError('SHUTTING_DOWN', 'test over'));
    raft.stop();
    await logs.close();
    hardStates.close();
  })());
  t.teardown(close);
  const publish = (assignment: PartitionAssignment, name = TOPIC): TopicMeta => {
    const topic = { name, config: DEFAULT_TOPIC_CONFIG, partitions: [assignment] };
    topics.set(name, topic);
    controller.state.nextGroupId = Math.max(controller.state.nextGroupId, assignment.groupId + 1);
    return topic;
  };
  return { dataDir, logs, raft, replicas, publish, topics, controller, close };
}

/** Partition 0 of TOPIC created here alone (group `groupId`), leading, with `value` durable in its log. */
async function leaderHolding(broker: Awaited<ReturnType<typeof brokerOnDisk>>, groupId: number, value: string) {
  const here: PartitionAssignment = { partition: 0, groupId, replicas: [SELF] };
  broker.replicas.onControllerEvent({ type: 'topicCreated', topic: broker.publish(here) });
  const first = broker.replicas.replica(TOPIC, 0)!;
  await waitFor('the first replica leads', () => first.group.node.currentRole === 'leader', 10_000, 10);
  const { index } = broker.raft.propose(first.group, buildBatch([{ value }]));
  await waitFor('the record is durable', () => first.group.log.durableIndex() >= index, 10_000, 10);
  return { logName: logNameOf(TOPIC, here), first };
}

/** Holds every fdatasync of `logs` at a gate until `open()`; `reached` resolves at the first. */
function holdSyncs(logs: LogManager): { reached: Promise<void>; open(): void } {
  const real = logs.files.fdatasync.bind(logs.files);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let arrived!: () => void;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  logs.files.fdatasync = async (fd) => {
    arrived();
    await gate;
    return real(fd);
  };
  return { reached, open: () => { logs.files.fdatasync = real; release(); } };
}

for (const metadataThen of ['still moving here', 'moved elsewhere'] as const) {
  t.test(`moved away and straight back while the old data is being deleted (metadata then ${metadataThen})`, async (t) => {
    const broker = await brokerOnDisk(t);
    const { dataDir, logs, raft, replicas, publish } = broker;
    const { logName, first } = await leaderHolding(broker, 7, 'old');
    const oldLast = first.group.log.lastIndex();

    // A flush in flight on a slow disk when the partition moves away.
    const syncs = holdSyncs(logs);
    raft.propose(first.group, buildBatch([{ value: 'in flight' }]));
    await syncs.reached;
    const away: PartitionAssignment = { partition: 0, groupId: 7, replicas: [OTHER] };
    replicas.onControllerEvent({ type: 'partitionMoved', topic: publish(away), assignment: away });
    t.ok(fs.existsSync(path.join(dataDir, logName)), "the old replica's deletion waits for the flush");

    // ... and straight back.
    const back: PartitionAssignment = { partition: 0, groupId: 7, replicas: [SELF], previous: [OTHER] };
    replicas.onControllerEvent({ type: 'partitionMoving', topic: publish(back), assignment: back });
    t.equal(replicas.replica(TOPIC, 0), undefined, 'no replica starts on the files being deleted');
    if (metadataThen === 'moved elsewhere') {
      const elsewhere: PartitionAssignment = { partition: 0, groupId: 7, replicas: [OTHER] };
      publish(elsewhere);
    }
    syncs.open();
    if (metadataThen === 'moved elsewhere') {
      await waitFor('the old directory is gone', () => !fs.existsSync(path.join(dataDir, logName)), 10_000, 10);
      await new Promise((resolve) => setTimeout(resolve, 50));
      t.equal(replicas.replica(TOPIC, 0), undefined, 'the metadata no longer places it here: nothing starts');
      t.notOk(fs.existsSync(path.join(dataDir, logName)), 'and no directory is made');
      return;
    }
    await waitFor('the new replica starts once the deletion is done', () => replicas.replica(TOPIC, 0), 10_000, 10);
    const second = replicas.replica(TOPIC, 0);
    t.not(second, first);
    t.ok(second!.group.log.lastIndex() < second!.group.log.firstIndex(), `its log starts empty (the old one ended at ${oldLast})`);
    t.ok(hasReplicaFile(dataDir, logName), 'its replica file is on disk');
    await second!.group.log.flush();
    t.ok(fs.readdirSync(path.join(dataDir, logName)).some((f) => f.endsWith('.log')), 'its directory holds its segment');
  });
}

t.test("a partition moving back onto a broker whose deletion of its old replica failed starts on nothing the failure left", async (t) => {
  const broker = await brokerOnDisk(t);
  const { dataDir, logs, replicas, publish } = broker;
  const { logName } = await leaderHolding(broker, 8, OLD_RECORD);

  // An immutable segment: the kernel refuses its unlink (EPERM, even to root), as a failing disk would refuse it.
  const segment = path.join(dataDir, logName, fs.readdirSync(path.join(dataDir, logName)).find((f) => f.endsWith('.log'))!);
  const chattr = (flag: string) => execFileSync('chattr', [flag, segment]);
  t.ok(fs.readFileSync(segment).includes(OLD_RECORD), 'the old segment holds the record');
  chattr('+i');
  t.teardown(() => fs.existsSync(segment) && chattr('-i'));
  const away: PartitionAssignment = { partition: 0, groupId: 8, replicas: [OTHER] };
  replicas.onControllerEvent({ type: 'partitionMoved', topic: publish(away), assignment: away });
  await waitFor('the deletion to fail', () => logs.deletionFailed(logName), 10_000, 10);
  t.throws(() => logs.open(logName), /deletion of log .* failed/, 'the log manager opens nothing the failure left');

  const back: PartitionAssignment = { partition: 0, groupId: 8, replicas: [SELF], previous: [OTHER] };
  replicas.onControllerEvent({ type: 'partitionMoving', topic: publish(back), assignment: back });
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(replicas.replica(TOPIC, 0), undefined, 'no replica starts while the old files cannot be deleted');
  t.ok(fs.existsSync(segment), 'the old segment is still there');

  chattr('-i');
  await waitFor('the deletion to be tried again and the new replica to start', () => replicas.replica(TOPIC, 0), 15_000, 10);
  const second = replicas.replica(TOPIC, 0)!;
  t.ok(second.group.log.lastIndex() < second.group.log.firstIndex(), 'its log starts empty');
  // A new segment may take the old one's name (and inode): what it holds tells them apart.
  t.ok(!fs.existsSync(segment) || !fs.readFileSync(segment).includes(OLD_RECORD), 'the old segment was deleted first');
  t.notOk(logs.deletionFailed(logName), 'the failure is forgotten once the deletion succeeds');
});

t.test('replicas the metadata no longer places here are deleted once it is current, and no others', async (t) => {
  const { dataDir, replicas, publish, topics, controller } = await brokerOnDisk(t);
  const created = {
    deleted: { partition: 0, groupId: 10, replicas: [SELF] },
    movedAway: { partition: 0, groupId: 11, replicas: [SELF, OTHER] },
    movingAway: { partition: 0, groupId: 12, replicas: [SELF, OTHER] },
    kept: { partition: 0, groupId: 13, replicas: [SELF] },
    recreated: { partition: 0, groupId: 14, replicas: [SELF] },
  };
  for (const [name, assignment] of Object.entries(created)) replicas.onControllerEvent({ type: 'topicCreated', topic: publish(assignment, name) });
  const dirOf = (name: string, groupId: number) => path.join(dataDir, logNameOf(name, { partition: 0, groupId, replicas: [] }));
  const old = replicas.replica('recreated', 0)!;

  // The metadata as a snapshot brings it: one topic gone, one partition moved away, one
  // still moving away, one topic deleted and created again (a new group) while away.
  controller.metadataCurrent = false;
  topics.delete('deleted');
  publish({ partition: 0, groupId: 11, replicas: [OTHER] }, 'movedAway');
  publish({ partition: 0, groupId: 12, replicas: [OTHER], previous: [SELF, OTHER] }, 'movingAway');
  replicas.onControllerEvent({ type: 'topicCreated', topic: publish({ partition: 0, groupId: 20, replicas: [SELF] }, 'recreated') });
  replicas.removeOrphans();
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const [name, { groupId }] of Object.entries(created)) t.ok(fs.existsSync(dirOf(name, groupId)), `metadata not current: ${name} stays`);

  // Current, but behind the 'deleted' topic's creation: no proof it ended, it stays.
  controller.metadataCurrent = true;
  const handedOut = controller.state.nextGroupId;
  controller.state.nextGroupId = 10;
  replicas.removeOrphans();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.ok(fs.existsSync(dirOf('deleted', 10)), 'a group the metadata has not handed out yet stays');
  controller.state.nextGroupId = handedOut;

  controller.metadataCurrent = true;
  replicas.removeOrphans();
  const gone = [dirOf('deleted', 10), dirOf('movedAway', 11), dirOf('recreated', 14)];
  await waitFor('the orphans to be deleted', () => gone.every((dir) => !fs.existsSync(dir)), 10_000, 10);
  t.pass('the deleted topic, the partition moved away and the earlier incarnation are deleted');
  t.equal(replicas.replica('deleted', 0), undefined);
  t.equal(replicas.replica('movedAway', 0), undefined);
  t.not(replicas.replica('recreated', 0), old, 'the new incarnation is the one hosted');
  for (const dir of [dirOf('movingAway', 12), dirOf('kept', 13), dirOf('recreated', 20)]) t.ok(fs.existsSync(dir), `${path.basename(dir)} stays`);
  t.ok(replicas.replica('movingAway', 0) && replicas.replica('kept', 0) && replicas.replica('recreated', 0));
});

t.test('a replica started from its file while the metadata log was empty is not deleted as moved away', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-replicas-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const placed: PartitionAssignment = { partition: 0, groupId: 30, replicas: [SELF] };
  const first = await brokerOnDisk(t, { dataDir });
  first.replicas.onControllerEvent({ type: 'topicCreated', topic: first.publish(placed, 'placed') });
  await first.replicas.replica('placed', 0)!.group.log.flush();
  await first.close();
  const logDir = path.join(dataDir, logNameOf('placed', placed));

  // The metadata directory lost: the broker starts with an empty metadata log, catches up
  // from the leader, and passes states older than this replica's placement here.
  const blank = await brokerOnDisk(t, { dataDir, metadataLastIndex: -1 });
  blank.replicas.openOnDisk();
  t.ok(blank.replicas.replica('placed', 0), 'the replica starts from its file');
  blank.publish({ partition: 0, groupId: 30, replicas: [OTHER] }, 'placed');
  blank.replicas.removeOrphans();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.ok(fs.existsSync(logDir) && blank.replicas.replica('placed', 0), 'a metadata state without this broker is no proof: the replica stays');
  await blank.close();

  // Started with its metadata log: the same state is proof (the log held the placement).
  const intact = await brokerOnDisk(t, { dataDir });
  intact.replicas.openOnDisk();
  intact.publish({ partition: 0, groupId: 30, replicas: [OTHER] }, 'placed');
  intact.replicas.removeOrphans();
  await waitFor('the replica moved away to be deleted', () => !fs.existsSync(logDir), 10_000, 10);
  t.equal(intact.replicas.replica('placed', 0), undefined, 'with its metadata log on disk, the broker deletes it');
});

t.test('a replica moving here whose open is refused (disk full) starts a second later, if still due', async (t) => {
  const { logs, replicas, publish } = await brokerOnDisk(t);
  const open = logs.open.bind(logs);
  let refusals = 0;
  logs.open = (name, overrides) => {
    if (refusals++ === 0) throw new FlotillaError('DISK_FULL', 'storage: create refused: ENOSPC (test)');
    return open(name, overrides);
  };
  const moving: PartitionAssignment = { partition: 0, groupId: 9, replicas: [SELF], previous: [OTHER] };
  t.doesNotThrow(() => replicas.onControllerEvent({ type: 'partitionMoving', topic: publish(moving), assignment: moving }), 'the refusal does not reach the metadata');
  t.equal(replicas.replica(TOPIC, 0), undefined, 'not started while refused');
  await waitFor('the replica to start on the retry', () => replicas.replica(TOPIC, 0), 5_000, 10);
  t.equal(refusals, 2, 'one retry');
});

t.test("a topic's retention changed in entries a broker never applied reaches its replica and replica file", async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-replicas-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const assignment: PartitionAssignment = { partition: 0, groupId: 40, replicas: [SELF] };
  const withRetention = (retentionMs: number): TopicMeta => ({ name: 'kept', config: { ...DEFAULT_TOPIC_CONFIG, retentionMs }, partitions: [assignment] });
  const fileConfig = () => readReplicaFile(dataDir, logNameOf('kept', assignment))!.config.retentionMs;

  const first = await brokerOnDisk(t, { dataDir });
  first.replicas.onControllerEvent({ type: 'topicCreated', topic: withRetention(3_600_000) });
  const replica = first.replicas.replica('kept', 0)!;
  t.equal(replica.group.log.options.retentionMs, 3_600_000);
  // A metadata snapshot announces the topic again, its retention altered meanwhile.
  first.replicas.onControllerEvent({ type: 'topicCreated', topic: withRetention(7 * 86_400_000) });
  t.equal(first.replicas.replica('kept', 0), replica, 'the same replica');
  t.equal(replica.group.log.options.retentionMs, 7 * 86_400_000, 'its log retains by the new setting');
  t.equal(fileConfig(), 7 * 86_400_000, 'and its replica file has it');
  first.replicas.onControllerEvent({ type: 'topicAltered', topic: withRetention(2 * 86_400_000) });
  t.equal(fileConfig(), 2 * 86_400_000, 'an alteration applied as an entry reaches the file too');
  const smallerSegments = withRetention(2 * 86_400_000);
  smallerSegments.config = { ...smallerSegments.config, segmentBytes: 64 * 1024 };
  first.replicas.onControllerEvent({ type: 'topicAltered', topic: smallerSegments });
  t.equal(replica.group.log.options.segmentBytes, 64 * 1024, 'so does a new segment size, for the segments to come');
  t.equal(readReplicaFile(dataDir, logNameOf('kept', assignment))!.config.segmentBytes, 64 * 1024);
  await first.close();

  // Restarted with no metadata to learn from yet: the replica file's setting, the latest.
  const again = await brokerOnDisk(t, { dataDir });
  again.replicas.openOnDisk();
  t.equal(again.replicas.replica('kept', 0)!.group.log.options.retentionMs, 2 * 86_400_000, 'a restart keeps the latest retention');
});

t.test('a partition moving here, announced by a metadata snapshot, starts outside the group', async (t) => {
  const { replicas, publish } = await brokerOnDisk(t);
  const moving: PartitionAssignment = { partition: 0, groupId: 50, replicas: [SELF, OTHER], previous: [OTHER] };
  replicas.onControllerEvent({ type: 'topicCreated', topic: publish(moving) });
  const replica = replicas.replica(TOPIC, 0);
  t.ok(replica, 'the replica starts');
  t.same(replica!.group.node.status().membership.voters, [OTHER], 'with the voters of the moment, not the target');
});
