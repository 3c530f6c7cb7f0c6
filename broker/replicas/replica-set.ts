/**
 * The partition replicas this broker hosts: started from their replica files at start-up
 * and as the controller places partitions here, stopped (and their data deleted) when a
 * topic is deleted or a partition moves away.
 *
 * A new topic's replicas open a slice at a time (OPEN_SLICE_MS per event-loop turn), in
 * partition order on every broker: opening one costs a few fsyncs, and 10,000 of them in one
 * turn would silence the broker for minutes — no ticks, no heartbeats, its controller
 * leadership lost. Other events about a topic wait for its openings in order.
 */
import type { Logger } from 'pino';
import { FlotillaError } from '../../protocol/errors.js';
import type { BrokerConfig } from '../config.js';
import type { Controller } from '../controller/controller.js';
import type { ControllerEvent, PartitionAssignment, TopicMeta } from '../controller/state.js';
import type { MultiRaft } from '../multiraft/multiraft.js';
import type { HostedReplicas } from '../partition/hosted.js';
import { PartitionReplica, type ProduceObserver } from '../partition/partition.js';
import { isRefusal } from '../storage/files.js';
import type { LogManager } from '../storage/index.js';
import { hasReplicaFile, logNameOf, readReplicaFile, setAsideReplicaFile, votersDiffer, writeReplicaFile, type ReplicaFile } from './replica-file.js';

/** How long a partition moving here waits to delete again what a failed deletion left. */
const DELETION_RETRY_MS = 5000;

export interface ReplicaSetOptions {
  config: Pick<BrokerConfig, 'id' | 'dataDir'>;
  raft: MultiRaft;
  controller: Controller;
  logs: LogManager;
  logger: Logger;
  /** A replica could not be opened for a reason other than a refusal: the broker must stop. */
  onFatal(error: unknown): void;
  /** Hears the writes the replicas take as leaders (metrics). */
  produceObserver?: ProduceObserver;
}

export class ReplicaSet implements HostedReplicas {
  /** By topic, then partition. */
  private readonly byTopic = new Map<string, Map<number, PartitionReplica>>();
  /** Replicas of created topics still to open, in order. */
  private toOpen: Array<{ topic: TopicMeta; assignment: PartitionAssignment }> = [];
  private openingTurn: NodeJS.Immediate | NodeJS.Timeout | undefined;
  /** Replicas opened for a created topic whose group has no leader yet (see openSlice). */
  private unled: PartitionReplica[] = [];
  /** Groups of replicas started from their files with no metadata on disk (see removeOrphans). */
  private readonly placementUnknown = new Set<number>();
  /** Set by `closeAll`: the broker is stopping, no replica starts any more. */
  private closed = false;

  constructor(private readonly options: ReplicaSetOptions) {}

  replica(topic: string, partition: number): PartitionReplica | undefined {
    return this.byTopic.get(topic)?.get(partition);
  }

  *all(): Iterable<PartitionReplica> {
    for (const byPartition of this.byTopic.values()) yield* byPartition.values();
  }

  *ledHere(): Iterable<PartitionReplica> {
    for (const group of this.options.raft.ledHere()) if (group.stateMachine instanceof PartitionReplica) yield group.stateMachine;
  }

  /**
   * The error for a partition not hosted here: UNKNOWN_TOPIC, UNKNOWN_PARTITION, or
   * NOT_LEADER pointing at a broker that holds a replica.
   */
  notHostedError(topic: string, partition: number): FlotillaError {
    const { controller, config } = this.options;
    if (!controller.metadataCurrent) return controller.notCurrent(config.id);
    const meta = controller.state.topics.get(topic);
    if (!meta) return new FlotillaError('UNKNOWN_TOPIC', `topic "${topic}" does not exist`);
    const assignment = meta.partitions[partition];
    if (!assignment) return new FlotillaError('UNKNOWN_PARTITION', `topic "${topic}" has no partition ${partition} (it has ${meta.partitions.length})`);
    const other = assignment.replicas[0]!;
    return new FlotillaError('NOT_LEADER', `broker ${config.id} holds no replica of ${topic}/${partition}`, { leaderId: other, leaderAddress: controller.addressOf(other) ?? '' });
  }

  /** Starts, updates or removes replicas as the metadata places partitions. */
  onControllerEvent(event: ControllerEvent): void {
    const self = this.options.config.id;
    if (event.type === 'topicDeleted') this.toOpen = this.toOpen.filter((p) => p.topic.name !== event.topic.name);
    else if (event.type !== 'topicCreated' && 'topic' in event) this.openNow(event.topic.name);
    switch (event.type) {
      case 'partitionMoving': {
        const hosted = this.replica(event.topic.name, event.assignment.partition);
        if (hosted) hosted.replicas = event.assignment.replicas;
        else if (event.assignment.replicas.includes(self)) this.startMovingReplica(event.topic.name, event.assignment.partition, event.assignment.groupId);
        return;
      }
      case 'partitionMoved': {
        const hosted = this.replica(event.topic.name, event.assignment.partition);
        if (!hosted) return;
        if (event.assignment.replicas.includes(self)) {
          hosted.replicas = event.assignment.replicas;
          writeReplicaFile(this.options.logs.files, this.options.config.dataDir, event.topic, event.assignment, event.assignment.replicas, true);
        } else {
          void this.remove(hosted, new FlotillaError('NOT_LEADER', `${hosted.topic}/${hosted.partition} moved away from broker ${self}`));
        }
        return;
      }
      case 'topicCreated':
        for (const assignment of event.topic.partitions) {
          if (!assignment.replicas.includes(self)) continue;
          // A metadata snapshot announces topics whose partitions may be moving here.
          if (assignment.previous) this.startMovingReplica(event.topic.name, assignment.partition, assignment.groupId);
          else this.toOpen.push({ topic: event.topic, assignment });
        }
        if (this.openingTurn === undefined) this.openSlice();
        return;
      case 'topicDeleted':
        void this.removeTopic(event.topic);
        return;
      case 'topicAltered':
        for (const replica of this.byTopic.get(event.topic.name)?.values() ?? []) this.followConfig(replica, event.topic);
        return;
      default:
        return;
    }
  }

  /**
   * Opens queued replicas for one slice of this turn, and the rest in later turns, while
   * fewer than MAX_OPENED_WITHOUT_LEADER of those opened still wait for their first leader.
   * An open refused for lack of descriptors or space is tried again a second later; any
   * other failure stops the broker, as it did when replicas opened with the metadata entry.
   */
  private openSlice(): void {
    this.openingTurn = undefined;
    this.unled = this.unled.filter((r) => r.group.node.currentLeader === 0 && this.replica(r.topic, r.partition) === r);
    if (this.unled.length >= ReplicaSet.MAX_OPENED_WITHOUT_LEADER) {
      this.openingTurn = setTimeout(() => this.openSlice(), ReplicaSet.UNLED_RECHECK_MS);
      return;
    }
    const until = performance.now() + ReplicaSet.OPEN_SLICE_MS;
    let opened = 0;
    try {
      while (opened < this.toOpen.length && performance.now() < until && this.unled.length < ReplicaSet.MAX_OPENED_WITHOUT_LEADER) {
        const { topic, assignment } = this.toOpen[opened]!;
        this.unled.push(this.ensure(topic, assignment));
        opened++;
      }
    } catch (error) {
      this.toOpen.splice(0, opened);
      if (!isRefusal(error)) {
        this.options.logger.fatal({ err: error }, 'could not open a partition replica; stopping the broker');
        this.options.onFatal(error);
        return;
      }
      const { topic, assignment } = this.toOpen[0]!;
      this.options.logger.warn({ topic: topic.name, partition: assignment.partition, err: (error as Error).message, waiting: this.toOpen.length }, 'could not open a partition replica now; trying again in a second');
      this.openingTurn = setTimeout(() => this.openSlice(), 1000);
      return;
    }
    this.toOpen.splice(0, opened);
    if (this.toOpen.length > 0) this.openingTurn = setImmediate(() => this.openSlice());
  }

  /** Opens the queued replicas of `topic` at once, so that an event about it finds them. */
  private openNow(topic: string): void {
    if (!this.toOpen.some((p) => p.topic.name === topic)) return;
    for (const { topic: meta, assignment } of this.toOpen) if (meta.name === topic) this.ensure(meta, assignment);
    this.toOpen = this.toOpen.filter((p) => p.topic.name !== topic);
  }

  /** Milliseconds of replica opening per event-loop turn. */
  private static readonly OPEN_SLICE_MS = 20;
  /**
   * New replicas whose first election is still to come, at most. Each election makes a vote
   * and a first entry durable on every replica; opening 50,000 partitions as fast as the
   * files allowed left tens of thousands of groups electing at once, persistence cycles
   * long enough to delay heartbeats past election timeouts, and elections that fed
   * themselves (a broker won 42,000 elections for its 16,667 partitions). Paced by
   * elections, opening slows to what the disks and peers keep up with.
   */
  private static readonly MAX_OPENED_WITHOUT_LEADER = 1000;
  private static readonly UNLED_RECHECK_MS = 20;

  /**
   * Restarts every replica whose directory holds a replica file (no controller needed). A
   * damaged one (a crash soon after the topic was created) is set aside: the metadata
   * starts that replica once it is current.
   */
  openOnDisk(): void {
    const { dataDir } = this.options.config;
    const metadataLost = this.options.controller.group.log.lastIndex() < 0;
    for (const name of this.options.logs.listOnDisk()) {
      if (!hasReplicaFile(dataDir, name)) continue;
      const meta = readReplicaFile(dataDir, name);
      if (meta) {
        this.start(meta);
        if (metadataLost) this.placementUnknown.add(meta.groupId);
        continue;
      }
      this.options.logger.warn({ log: name }, 'damaged replica file set aside; the metadata will start this replica');
      setAsideReplicaFile(dataDir, name);
    }
  }

  /** Starts the replica of log `logName` again, as its replica file describes it. */
  reopen(logName: string): PartitionReplica {
    const meta = readReplicaFile(this.options.config.dataDir, logName);
    if (!meta) throw new FlotillaError('INTERNAL', `the replica file of ${logName} is damaged`);
    return this.start(meta);
  }

  private start(meta: ReplicaFile): PartitionReplica {
    return this.ensure({ name: meta.topic, config: meta.config, partitions: [] }, { partition: meta.partition, groupId: meta.groupId, replicas: meta.replicas }, meta.voters ?? meta.replicas);
  }

  private ensure(topic: TopicMeta, assignment: PartitionAssignment, voters = assignment.replicas): PartitionReplica {
    const { config, raft, controller, logger } = this.options;
    const existing = this.replica(topic.name, assignment.partition);
    if (existing && existing.group.groupId === assignment.groupId) {
      // Started from its replica file, or announced again by a metadata snapshot: the
      // topic's settings may have changed in entries this broker never applied.
      this.followConfig(existing, topic);
      return existing;
    }
    const logName = logNameOf(topic.name, assignment);
    const replica = new PartitionReplica(topic.name, assignment.partition, assignment.replicas, raft, (id) => controller.addressOf(id), this.options.produceObserver);
    const group = raft.create({
      groupId: assignment.groupId,
      logName,
      // Configuration entries in the log, if any, take precedence over these.
      voters,
      logOptions: { retentionMs: topic.config.retentionMs, retentionBytes: topic.config.retentionBytes, segmentBytes: topic.config.segmentBytes },
      stateMachine: replica,
      preferredLeader: assignment.replicas[0],
    });
    replica.attach(group);
    // Durable only where the metadata could not restore it as it is: a moving replica's voters.
    const durable = votersDiffer(voters, assignment.replicas);
    if (!hasReplicaFile(config.dataDir, logName)) writeReplicaFile(this.options.logs.files, config.dataDir, topic, assignment, voters, durable);
    let byPartition = this.byTopic.get(topic.name);
    if (!byPartition) this.byTopic.set(topic.name, (byPartition = new Map()));
    byPartition.set(assignment.partition, replica);
    logger.info({ topic: topic.name, partition: assignment.partition, group: assignment.groupId, replicas: assignment.replicas }, 'partition replica started');
    return replica;
  }

  /**
   * A replica moving here starts outside the group, with the voters of the moment; the
   * leader adds it as a learner and its log brings the configuration changes. It starts
   * from the metadata as it is when it can start: when this broker's earlier replica of
   * the partition (moved away just before) is still being deleted, once that is done; when
   * that deletion failed, once it is done again (tried every few seconds); and after an
   * open refused for lack of descriptors or space, a second later; each time only if the
   * metadata still moves the partition here.
   */
  private startMovingReplica(topicName: string, partition: number, groupId: number): void {
    const { controller, config, logs, logger } = this.options;
    if (this.closed || this.replica(topicName, partition)?.group.groupId === groupId) return;
    const topic = controller.state.topics.get(topicName);
    const assignment = topic?.partitions[partition];
    if (!topic || assignment?.groupId !== groupId || !assignment.previous || !assignment.replicas.includes(config.id)) return;
    const where = { topic: topicName, partition, log: logNameOf(topicName, assignment) };
    const running = logs.deletion(where.log);
    if (running) logger.info(where, "partition moving here: waiting for the deletion of this broker's earlier replica to finish");
    // Nothing starts on what a failed deletion left (any part of the old log): delete it again.
    const deletion = running ?? (logs.deletionFailed(where.log) ? logs.deleteLog(where.log) : undefined);
    if (deletion) {
      const retry = () => this.startMovingReplica(topicName, partition, groupId);
      void deletion.then(retry, (error) => {
        logger.warn({ ...where, err: (error as Error).message }, `could not delete this broker's earlier replica of the partition moving here; trying again in ${DELETION_RETRY_MS / 1000} s`);
        setTimeout(retry, DELETION_RETRY_MS);
      });
      return;
    }
    try {
      this.ensure(topic, assignment, assignment.previous);
    } catch (error) {
      if (!isRefusal(error)) {
        logger.fatal({ ...where, err: error }, 'could not open a partition replica; stopping the broker');
        this.options.onFatal(error);
        return;
      }
      logger.warn({ ...where, err: (error as Error).message }, 'could not open the partition replica moving here now; trying again in a second');
      setTimeout(() => this.startMovingReplica(topicName, partition, groupId), 1000);
    }
  }

  /**
   * Gives the replica the topic's retention and segment size (its log reads them from its
   * options at every check and append) and its replica file the topic's settings, so that a
   * restart before the metadata is current (no quorum to learn it from, say) does not apply
   * settings the topic no longer has.
   */
  private followConfig(replica: PartitionReplica, topic: TopicMeta): void {
    const options = replica.group.log.options;
    const { retentionMs, retentionBytes, segmentBytes } = topic.config;
    if (options.retentionMs === retentionMs && options.retentionBytes === retentionBytes && options.segmentBytes === segmentBytes) return;
    Object.assign(options, { retentionMs, retentionBytes, segmentBytes });
    const { dataDir } = this.options.config;
    const file = readReplicaFile(dataDir, replica.group.logName);
    if (!file) return; // damaged: set aside at the next start, and written again from the metadata
    const voters = file.voters ?? file.replicas;
    writeReplicaFile(this.options.logs.files, dataDir, topic, { partition: file.partition, groupId: file.groupId, replicas: file.replicas }, voters, votersDiffer(voters, file.replicas));
  }

  /** Takes a replica out of service, keeping its data; false when it is no longer the one hosted. */
  detach(replica: PartitionReplica, reason: FlotillaError): boolean {
    const byPartition = this.byTopic.get(replica.topic);
    if (byPartition?.get(replica.partition) !== replica) return false;
    byPartition.delete(replica.partition);
    if (byPartition.size === 0) this.byTopic.delete(replica.topic);
    replica.close(reason);
    return true;
  }

  private async removeTopic(topic: TopicMeta): Promise<void> {
    for (const replica of [...(this.byTopic.get(topic.name)?.values() ?? [])]) {
      if (!topic.partitions.some((p) => p.groupId === replica.group.groupId)) continue;
      await this.remove(replica, new FlotillaError('UNKNOWN_TOPIC', `topic "${topic.name}" was deleted`));
    }
  }

  /** Stops a replica hosted here and deletes its data (topic deleted, or moved away). */
  private async remove(replica: PartitionReplica, reason: FlotillaError): Promise<void> {
    if (!this.detach(replica, reason)) return;
    await this.deleteReplica(replica);
  }

  private async deleteReplica(replica: PartitionReplica): Promise<void> {
    const where = { topic: replica.topic, partition: replica.partition, group: replica.group.groupId };
    try {
      await this.options.raft.remove(replica.group.groupId, true);
      this.options.logger.info(where, 'partition replica deleted');
    } catch (error) {
      // The replica is stopped either way; its files stay until someone removes them.
      this.options.logger.error({ ...where, log: replica.group.logName, err: error }, 'could not delete the data of a removed partition replica');
    }
  }

  /**
   * Deletes the replicas the metadata no longer places here: their topic was deleted, or
   * their partition moved away, while this broker was down or behind, and it learned the
   * metadata from a snapshot, which (unlike the log it stands for) replays no deletion and
   * no move. Deleting a replica's data wrongly is the one mistake that can lose what it
   * acknowledged, so each case needs proof, not an absence:
   * - deleted: the metadata lists no partition with the replica's group, yet has handed out
   *   group ids past it (ids are never reused): it saw the group made and ended;
   * - moved away: the metadata lists the group without this broker, neither as a replica
   *   nor (while the move runs) among the previous ones. The metadata is then at least as
   *   new as the replica's placement here, since every replica started in this run came
   *   from the metadata applied so far, and one started from its file at start-up came
   *   from an entry the metadata log then held (applied again before the metadata is
   *   current). Not for those started from files while that log was empty (its directory
   *   lost): they wait for the next start.
   */
  removeOrphans(): void {
    const { controller, raft, config, logger } = this.options;
    if (this.closed || !controller.metadataCurrent) return;
    const { state } = controller;
    for (const group of [...raft.all()]) {
      const replica = group.stateMachine;
      if (!(replica instanceof PartitionReplica)) continue;
      const assignment = state.topics.get(replica.topic)?.partitions[replica.partition];
      const listed = assignment?.groupId === group.groupId;
      const deleted = !listed && group.groupId < state.nextGroupId;
      const movedAway = listed && !assignment.replicas.includes(config.id) && !assignment.previous?.includes(config.id) && !this.placementUnknown.has(group.groupId);
      if (!deleted && !movedAway) continue;
      logger.warn(
        { topic: replica.topic, partition: replica.partition, group: group.groupId, log: group.logName, ...(movedAway ? { replicas: assignment.replicas } : {}) },
        deleted
          ? 'the topic of this partition replica was deleted while this broker was away; deleting the replica'
          : 'this partition replica moved away while this broker was away; deleting it',
      );
      const reason = this.notHostedError(replica.topic, replica.partition);
      if (!this.detach(replica, reason)) replica.close(reason); // a replica of the topic's earlier incarnation
      void this.deleteReplica(replica);
    }
  }

  /** Fails every waiting request of every replica (the broker is stopping). */
  closeAll(reason: FlotillaError): void {
    this.closed = true;
    clearImmediate(this.openingTurn as NodeJS.Immediate);
    clearTimeout(this.openingTurn as NodeJS.Timeout);
    this.toOpen = [];
    this.unled = [];
    for (const replica of this.all()) replica.close(reason);
  }
}
