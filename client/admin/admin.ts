/**
 * Topic and cluster administration. Topic changes go to the controller leader (retried
 * on NOT_CONTROLLER); descriptions and placement requests go to any broker (brokers
 * forward placement to the controller themselves).
 */
import { FlotillaError } from '../../protocol/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import { outcomeUnknown, retryUntil } from '../cluster/retry.js';
import type { ClusterDescription, GroupDescription, GroupListing, TopicConfigInput, TopicDescription, UserListing } from '../network/api.js';
import { validateAclBinding, type AclBinding, type AclFilter } from '../../protocol/acls.js';
import { deriveScramCredential, type ScramMechanism } from '../../protocol/scram.js';

/** A user's password, turned into its SCRAM credential here: the password never leaves this process. */
export interface UserPassword {
  name: string;
  password: string;
  /** Default 'scram-sha-256'. */
  mechanism?: ScramMechanism;
  /** Default 4096 (4,096 to 100,000). */
  iterations?: number;
}
import { DEFAULT_TOPIC_CONFIG, validatePartitionCount, validateTopicConfig, validateTopicName } from '../../protocol/topics.js';
import { invalid, requireInteger, requireStartOffset } from '../validate.js';

export type { ClusterDescription, GroupDescription, GroupListing, TopicConfigInput, TopicDescription } from '../network/api.js';

export interface CreateTopicOptions {
  topic: string;
  /** Default 1. */
  partitions?: number;
  /** Default: 3, or the number of brokers when fewer. */
  replicationFactor?: number;
  config?: TopicConfigInput;
  /** How long to wait for the topic to exist with a leader on every partition (default requestTimeoutMs). */
  timeoutMs?: number;
}

export class Admin {
  constructor(private readonly cluster: Cluster) {}

  private deadline(timeoutMs?: number): number {
    return Date.now() + (timeoutMs ?? this.cluster.options.requestTimeoutMs);
  }

  /**
   * Creates the topic and resolves once every partition has a leader. A topic that exists
   * with the same settings counts as created, so a retry is safe; other settings get
   * TOPIC_EXISTS naming what differs.
   */
  async createTopic(options: CreateTopicOptions): Promise<void> {
    const topic = validateTopicName(options?.topic);
    const partitions = validatePartitionCount(options.partitions ?? 1);
    const config = validateTopicConfig(options.config);
    const timeoutMs = requireInteger('createTopic', 'timeoutMs', options.timeoutMs ?? this.cluster.options.requestTimeoutMs, 1);
    const deadline = Date.now() + timeoutMs;
    let replicationFactor = options.replicationFactor;
    if (replicationFactor === undefined) {
      const { brokers } = await this.cluster.refreshMetadata(deadline);
      replicationFactor = Math.max(1, Math.min(3, brokers.length));
    }
    requireInteger('createTopic', 'replicationFactor', replicationFactor, 1, 100);
    await this.cluster.controllerRequest({ type: 'createTopic', topic, partitions, replicationFactor, config, timeoutMs }, deadline);
    await this.waitForLeaders(topic, partitions, deadline);
  }

  async listTopics(): Promise<string[]> {
    const metadata = await this.cluster.refreshMetadata(this.deadline());
    return metadata.topics.map((t) => t.topic).sort();
  }

  /**
   * `{ topic, partitions: [{ partition, leader, replicas, inSync, highWatermark, logStartOffset }], config }`.
   * A broker describes fully only the partitions it holds a replica of (leader and offsets
   * come from its own replica), so every known broker is asked and, per partition, the
   * leader's own answer wins: it has the committed high watermark and the in-sync set.
   */
  async describeTopic(topic: string): Promise<TopicDescription> {
    validateTopicName(topic);
    const deadline = this.deadline();
    const first = await this.cluster.anyBrokerRequest({ type: 'describeTopic', topic }, deadline);
    if (this.cluster.knownBrokers().length === 0) await this.cluster.refreshMetadata(deadline);
    const others = await Promise.allSettled(
      this.cluster.knownBrokers().map(async (b) => ({ id: b.id, answer: await this.cluster.send(b.address, { type: 'describeTopic', topic }) })),
    );
    // Each broker's answer by partition: a topic may have thousands.
    const byBroker = others.flatMap((o) => (o.status === 'fulfilled' ? [{ id: o.value.id, partitions: new Map(o.value.answer.result.partitions.map((q) => [q.partition, q])) }] : []));
    const partitions = first.result.partitions.map((p) => {
      let best = p;
      for (const { id, partitions: answer } of byBroker) {
        const seen = answer.get(p.partition);
        if (!seen) continue;
        if (seen.leader === id) return seen;
        if (best.leader === null && seen.leader !== null) best = seen;
        else if (seen.leader !== null && seen.highWatermark > best.highWatermark) best = seen;
      }
      return best;
    });
    return { topic: first.result.topic, partitions: partitions.sort((a, b) => a.partition - b.partition), config: first.result.config };
  }

  /**
   * Deletes the topic. UNKNOWN_TOPIC when there is none, except on a retry after an
   * attempt whose outcome is unknown (a timeout, say): that attempt deleted it, so the
   * delete succeeded.
   */
  async deleteTopic(topic: string, timeoutMs?: number): Promise<void> {
    validateTopicName(topic);
    let earlierMayHaveDeleted = false;
    try {
      await this.cluster.controllerRequest({ type: 'deleteTopic', topic }, this.deadline(timeoutMs), (error) => {
        earlierMayHaveDeleted ||= outcomeUnknown(error);
      });
    } catch (error) {
      if (!(earlierMayHaveDeleted && error instanceof FlotillaError && error.code === 'UNKNOWN_TOPIC')) throw error;
    }
    this.cluster.invalidateTopic(topic);
  }

  /** Changes only the given config values. */
  async alterTopic(topic: string, config: TopicConfigInput, timeoutMs?: number): Promise<void> {
    validateTopicName(topic);
    const checked = validateTopicConfig(config);
    if (Object.keys(checked).length === 0) throw invalid(`alterTopic needs at least one of ${Object.keys(DEFAULT_TOPIC_CONFIG).join(', ')}`);
    await this.cluster.controllerRequest({ type: 'alterTopic', topic, config: checked }, this.deadline(timeoutMs));
  }

  /** `{ controller, brokers: [{ id, address, alive, leaders }] }`, brokers sorted by id. */
  async describeCluster(): Promise<ClusterDescription> {
    const { result } = await this.cluster.anyBrokerRequest({ type: 'describeCluster' }, this.deadline());
    return { controller: result.controller, brokers: [...result.brokers].sort((a, b) => a.id - b.id) };
  }

  /**
   * Moves the partition's replicas to `replicas` (the first becomes the preferred leader).
   * Asking for the replicas it has, or is already moving to, succeeds without a new move.
   */
  async movePartition(topic: string, partition: number, replicas: number[]): Promise<void> {
    validateTopicName(topic);
    requireInteger('movePartition', 'partition', partition, 0);
    if (!Array.isArray(replicas) || replicas.length === 0) throw invalid('movePartition needs a non-empty list of broker ids, for example [1, 2, 4]');
    for (const id of replicas) requireInteger('movePartition', 'replicas', id, 1);
    await this.cluster.controllerRequest({ type: 'movePartition', topic, partition, replicas }, this.deadline());
  }

  async transferLeader(topic: string, partition: number, to: number): Promise<void> {
    validateTopicName(topic);
    requireInteger('transferLeader', 'partition', partition, 0);
    requireInteger('transferLeader', 'to', to, 1);
    await this.cluster.leaderRequest({ type: 'transferLeader', topic, partition, to }, this.deadline());
  }

  /**
   * Starts leadership transfers towards preferred leaders at every broker (each hands over
   * the partitions it leads, at most 64 at a time; the rest follow as those end); resolves
   * with how many started now.
   */
  async balanceLeaders(): Promise<number> {
    const deadline = this.deadline();
    if (this.cluster.knownBrokers().length === 0) await this.cluster.refreshMetadata(deadline);
    const answers = await Promise.all(this.cluster.knownBrokers().map((b) => this.cluster.send(b.address, { type: 'balanceLeaders' })));
    return answers.reduce((sum, { result }) => sum + result.transfers, 0);
  }

  async removeBroker(brokerId: number): Promise<void> {
    requireInteger('removeBroker', 'brokerId', brokerId, 1);
    await this.cluster.controllerRequest({ type: 'removeBroker', brokerId }, this.deadline());
  }

  async listGroups(): Promise<GroupListing[]> {
    // The group coordinator is the controller leader.
    const { result } = await this.cluster.controllerRequest({ type: 'listGroups' }, this.deadline());
    return result;
  }

  async describeGroup(groupId: string): Promise<GroupDescription> {
    if (typeof groupId !== 'string' || groupId === '') throw invalid('describeGroup needs a group id');
    const { result } = await this.cluster.controllerRequest({ type: 'describeGroup', groupId }, this.deadline());
    return result;
  }

  /**
   * Sets the group's committed offsets for every partition of the topic (group must be
   * empty): to an offset, the log start, the end, or { timestamp } — per partition the
   * first record at or after that time (ms), the end where none is.
   */
  async resetOffsets(groupId: string, topic: string, to: 'earliest' | 'latest' | number | { timestamp: number }): Promise<Array<{ topic: string; partition: number; offset: number }>> {
    if (typeof groupId !== 'string' || groupId === '') throw invalid('resetOffsets needs a group id');
    validateTopicName(topic);
    requireStartOffset('resetOffsets', to);
    const deadline = this.deadline();
    // Anything but an offset is the partition leaders' to say: resolve it here, send exact offsets.
    let offsets: Array<{ topic: string; partition: number; offset: number }> | undefined;
    if (typeof to !== 'number') {
      const info = await this.cluster.topic(topic, deadline);
      offsets = await Promise.all(info.partitions.map(async (p) => ({ topic, partition: p.partition, offset: await this.cluster.offsetFor(topic, p.partition, to, deadline) })));
    }
    const { result } = await this.cluster.controllerRequest({ type: 'resetOffsets', groupId, topic, target: to, ...(offsets ? { offsets } : {}) }, deadline);
    return result;
  }

  /** The broker answers CreateTopics once partitions have leaders; this checks it in our own metadata too. */
  // ------------------------------------------------------------------ users and ACLs

  /** Creates a user (USER_EXISTS if it exists with another password). */
  async createUser(user: UserPassword): Promise<void> {
    const credential = deriveScramCredential(user.password, user.mechanism, user.iterations);
    await this.cluster.controllerRequest({ type: 'createUser', name: user.name, credential }, this.deadline());
  }

  /** Replaces an existing user's password (UNKNOWN_USER otherwise); its open connections are closed. */
  async setPassword(user: UserPassword): Promise<void> {
    const credential = deriveScramCredential(user.password, user.mechanism, user.iterations);
    await this.cluster.controllerRequest({ type: 'alterUser', name: user.name, credential }, this.deadline());
  }

  /** Deletes a user (UNKNOWN_USER if there is none); its open connections are closed. */
  async deleteUser(name: string): Promise<void> {
    await this.cluster.controllerRequest({ type: 'deleteUser', name }, this.deadline());
  }

  /** Every user, by name, with mechanism and iterations: never salts or keys. */
  async listUsers(): Promise<UserListing[]> {
    return (await this.cluster.controllerRequest({ type: 'listUsers' }, this.deadline())).result;
  }

  async createAcls(acls: AclBinding[]): Promise<void> {
    await this.cluster.controllerRequest({ type: 'createAcls', acls: acls.map((acl) => validateAclBinding(acl)) }, this.deadline());
  }

  /** The bindings matching `filter` (absent fields match anything). */
  async listAcls(filter: AclFilter = {}): Promise<AclBinding[]> {
    return (await this.cluster.controllerRequest({ type: 'listAcls', filter }, this.deadline())).result;
  }

  /** Deletes the bindings matching `filter`; returns them. */
  async deleteAcls(filter: AclFilter): Promise<AclBinding[]> {
    return (await this.cluster.controllerRequest({ type: 'deleteAcls', filter }, this.deadline())).result;
  }

  private async waitForLeaders(topic: string, partitions: number, deadline: number): Promise<void> {
    await retryUntil(this.cluster.retryPolicy, deadline, async () => {
      // A broker whose metadata lags the controller does not know the new topic yet (the
      // lookup of a partition's leader may ask another one than the lookup of the topic).
      const notKnownYet = (error: unknown): never => {
        if (error instanceof FlotillaError && error.code === 'UNKNOWN_TOPIC') {
          throw new FlotillaError('LEADER_NOT_AVAILABLE', `topic "${topic}" was created but this broker does not know it yet`);
        }
        throw error;
      };
      await this.cluster.refreshMetadata(deadline);
      const info = await this.cluster.topic(topic, deadline).catch(notKnownYet);
      if (info.partitions.length < partitions) {
        throw new FlotillaError('LEADER_NOT_AVAILABLE', `topic "${topic}" was created but only ${info.partitions.length} of ${partitions} partitions are known yet`);
      }
      for (const p of info.partitions) await this.cluster.leaderAddress(topic, p.partition, deadline).catch(notKnownYet);
    });
  }
}
