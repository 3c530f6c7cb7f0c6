/**
 * A partition moved away from a broker and straight back, on real storage: the new replica
 * must not open the directory while the old replica's deletion runs (held here by a flush
 * whose fdatasync waits at a gate, as on a slow disk), and must start once it is done.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import type { Controller } from '../../broker/controller/controller.js';
import type { PartitionAssignment, TopicMeta } from '../../broker/controller/state.js';
import { MultiRaft } from '../../broker/multiraft/multiraft.js';
import type { PeerSender } from '../../broker/multiraft/seams.js';
import { hasReplicaFile, logNameOf } from '../../broker/replicas/replica-file.js';
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

/** Peers that never answer: the moving replica waits as a learner nobody adds. */
const silentPeers: PeerSender = { send: () => undefined, keepAlive: () => undefined, isConnected: (id) => id === SELF, lastHeardFrom: () => 0 };

async function brokerOnDisk(t: { teardown(fn: () => unknown): void }) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-moves-'));
  const logs = new LogManager({ dataDir, durability: 'always', maxOpenFiles: 64 });
  const hardStates = new HardStateJournal(dataDir, logs.files);
  const logger = pino({ level: 'silent' });
  const raft = new MultiRaft({
    id: SELF, logs, hardStates, transport: silentPeers, logger, fsync: 'always', tickMs: 10, electionTicks: 10, heartbeatTicks: 2,
    recoveryConcurrency: 0, onFatal: (error) => t.teardown(() => { throw error; }), onCorruption: () => undefined,
  });
  // The metadata as this broker knows it: what a deferred start checks again.
  const topics = new Map<string, TopicMeta>();
  const controller = { state: { topics }, metadataCurrent: true, addressOf: () => undefined } as unknown as Controller;
  const replicas = new ReplicaSet({ config: { id: SELF, dataDir }, raft, controller, logs, logger, onFatal: (error) => { throw error; } });
  raft.start();
  t.teardown(async () => {
    replicas.closeAll(new FlotillaError('SHUTTING_DOWN', 'test over'));
    raft.stop();
    await logs.close();
    hardStates.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const publish = (assignment: PartitionAssignment): TopicMeta => {
    const topic = { name: TOPIC, config: DEFAULT_TOPIC_CONFIG, partitions: [assignment] };
    topics.set(TOPIC, topic);
    return topic;
  };
  return { dataDir, logs, raft, replicas, publish };
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
    const { dataDir, logs, raft, replicas, publish } = await brokerOnDisk(t);
    const here: PartitionAssignment = { partition: 0, groupId: 7, replicas: [SELF] };
    const logName = logNameOf(TOPIC, here);
    replicas.onControllerEvent({ type: 'topicCreated', topic: publish(here) });
    const first = replicas.replica(TOPIC, 0)!;
    await waitFor('the first replica leads', () => first.group.node.currentRole === 'leader', 10_000, 10);
    const { index } = raft.propose(first.group, buildBatch([{ value: 'old' }]));
    await waitFor('the record is durable', () => first.group.log.durableIndex() >= index, 10_000, 10);
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
