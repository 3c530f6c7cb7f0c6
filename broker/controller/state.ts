/**
 * The controller's state machine: the cluster metadata that Raft group 0 replicates.
 * Commands are JSON in the value of each record of a group-0 batch; every broker applies
 * the same committed commands in the same order and so holds the same metadata. Decisions
 * that need a choice (placement, group ids) are made by the proposer and carried in the
 * command, so applying stays deterministic.
 */
import { aclMatchesFilter, sameAcl, type AclBinding, type AclFilter } from '../../protocol/acls.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { ScramCredential, ScramMechanism } from '../../protocol/scram.js';
import { DEFAULT_TOPIC_CONFIG, type TopicConfig } from '../../protocol/topics.js';

export interface PartitionAssignment {
  partition: number;
  /** Raft group id of this partition, unique in the cluster (0 is the controller). */
  groupId: number;
  /** Broker ids; the first is the preferred leader. While moving: the target. */
  replicas: number[];
  /** While a move is in progress: the replicas before it (the group's voters when it began). */
  previous?: number[];
}

export interface TopicMeta {
  name: string;
  config: TopicConfig;
  partitions: PartitionAssignment[];
}

export interface BrokerMeta {
  id: number;
  address: string;
  /** The Kafka listener's advertised HOST:PORT, once the broker registered one. */
  kafkaAddress?: string;
  /** Its --rack, once it registered one (metadata written before racks has none). */
  rack?: string;
}

/** A consumer group's committed position in one partition: the next offset to read. */
export interface GroupOffset {
  topic: string;
  partition: number;
  offset: number;
  /** The client's string beside the offset (Kafka's OffsetCommit metadata); none when absent or empty. */
  metadata?: string;
}

/**
 * A Kafka consumer group at its last Stable generation, as its coordinator stored it: what
 * a new coordinator needs for the members to carry on (heartbeats, commits) after a
 * controller failover. Byte fields are base64 (commands are JSON).
 */
export interface KafkaGroupRecord {
  id: string;
  generation: number;
  protocolType: string;
  protocolName: string;
  leader: string;
  members: Array<{
    id: string;
    /** A static member's group.instance.id. */
    instanceId?: string;
    clientId: string;
    clientHost: string;
    sessionTimeoutMs: number;
    rebalanceTimeoutMs: number;
    protocols: Array<{ name: string; metadata: string }>;
    assignment: string;
  }>;
}

/** A user as `user list` shows it: no salt, no keys. */
export interface UserListing {
  name: string;
  mechanism: ScramMechanism;
  iterations: number;
}

export type ControllerCommand =
  // Consumer groups: committed offsets (membership is soft state at the coordinator).
  | { type: 'commitOffsets'; group: string; offsets: GroupOffset[] }
  | { type: 'resetOffsets'; group: string; offsets: GroupOffset[] }
  // Kafka groups: membership at each Stable generation, dropped when the group empties.
  | { type: 'storeKafkaGroup'; group: KafkaGroupRecord }
  | { type: 'dropKafkaGroup'; group: string }
  | { type: 'registerBroker'; id: number; address: string; kafkaAddress?: string; rack?: string }
  | { type: 'createTopic'; name: string; config: TopicConfig; partitions: PartitionAssignment[] }
  | { type: 'deleteTopic'; name: string }
  | { type: 'alterTopic'; name: string; config: TopicConfig }
  | { type: 'allocateProducerId'; producerId: number }
  | { type: 'movePartition'; name: string; partition: number; replicas: number[] }
  | { type: 'moveCompleted'; name: string; partition: number; replicas: number[] }
  | { type: 'removeBroker'; id: number }
  // Security: SCRAM credentials (derived by the client; never a password) and ACLs.
  | ({ type: 'upsertUser'; name: string } & ScramCredential)
  | { type: 'deleteUser'; name: string }
  // FLOTILLA_BOOTSTRAP_USER: creates the user only the first time the cluster sees one.
  | ({ type: 'bootstrapUser'; name: string } & ScramCredential)
  | { type: 'createAcl'; acl: AclBinding }
  | { type: 'deleteAcls'; filter: AclFilter };

/** What applying a command changed, for the broker to act on (start or stop groups). */
export type ControllerEvent =
  /** `fromSnapshot`: announced again by a snapshot's adoption (the topic may be long known). */
  | { type: 'topicCreated'; topic: TopicMeta; fromSnapshot?: true }
  | { type: 'topicDeleted'; topic: TopicMeta }
  | { type: 'topicAltered'; topic: TopicMeta }
  | { type: 'brokerRegistered'; broker: BrokerMeta }
  | { type: 'brokerRemoved'; id: number }
  /**
   * The metadata jumped to a snapshot's state (loaded at start, or sent by the leader):
   * what the entries it stands for changed was never announced one by one — brokers that
   * joined or left, users deleted or given a new credential. (Its topics follow, each as
   * topicCreated.) `index`: the last metadata entry it stands for.
   */
  | { type: 'snapshotAdopted'; index: number }
  | { type: 'partitionMoving'; topic: TopicMeta; assignment: PartitionAssignment }
  | { type: 'partitionMoved'; topic: TopicMeta; assignment: PartitionAssignment }
  /** A user was deleted or its credential replaced: its authenticated connections must close. */
  | { type: 'credentialsRevoked'; name: string }
  | { type: 'none' };

export function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}

/** Where an existing topic's settings differ from a create's, e.g. "partitions 6 (requested 8)". */
export function sameCredential(a: ScramCredential, b: ScramCredential): boolean {
  return a.mechanism === b.mechanism && a.salt === b.salt && a.iterations === b.iterations && a.storedKey === b.storedKey && a.serverKey === b.serverKey;
}

function settingsDifferences(topic: TopicMeta, partitions: number, replication: number, config: TopicConfig): string[] {
  const differences: string[] = [];
  if (topic.partitions.length !== partitions) differences.push(`partitions ${topic.partitions.length} (requested ${partitions})`);
  // Moves may have changed some partitions' replica counts: list every count there is.
  const factors = [...new Set(topic.partitions.map((p) => p.replicas.length))];
  if (factors.length !== 1 || factors[0] !== replication) differences.push(`replication ${factors.join(' or ')} (requested ${replication})`);
  for (const key of Object.keys(DEFAULT_TOPIC_CONFIG) as Array<keyof TopicConfig>) {
    if (topic.config[key] !== config[key]) differences.push(`${key} ${topic.config[key]} (requested ${config[key]})`);
  }
  return differences;
}

export class ControllerState {
  readonly brokers = new Map<number, BrokerMeta>();
  readonly topics = new Map<string, TopicMeta>();
  /** Next Raft group id to hand out; 0 is the controller's own group. */
  nextGroupId = 1;
  nextProducerId = 1;
  /** Consumer groups' committed offsets: group -> "topic/partition" -> next offset to read. */
  readonly groupOffsets = new Map<string, Map<string, number>>();
  /** The metadata committed with an offset, where it is not empty: group -> "topic/partition" -> string. */
  readonly groupOffsetMetadata = new Map<string, Map<string, string>>();
  /** Kafka groups with members, at their last Stable generation, by group id. */
  readonly kafkaGroups = new Map<string, KafkaGroupRecord>();
  /** SCRAM credentials by user name. */
  readonly users = new Map<string, ScramCredential>();
  /**
   * The ACL bindings, each once. Replaced on every change, never changed in place, so that
   * an authorizer can tell a new set by its identity and index it once.
   */
  acls: readonly AclBinding[] = [];
  /** Whether a bootstrap user was ever created: later ones (another broker's env) are ignored. */
  bootstrapped = false;
  /**
   * Counts changes of where partitions live (topics created or deleted, moves begun or
   * completed), so that a reader can keep what it derives from placement until it changes.
   */
  placementChanges = 0;

  apply(command: ControllerCommand): ControllerEvent {
    switch (command.type) {
      case 'commitOffsets':
      case 'resetOffsets': {
        let offsets = this.groupOffsets.get(command.group);
        if (!offsets) this.groupOffsets.set(command.group, (offsets = new Map()));
        let metadata = this.groupOffsetMetadata.get(command.group);
        for (const o of command.offsets) {
          if (!this.topics.has(o.topic)) continue;
          const key = `${o.topic}/${o.partition}`;
          offsets.set(key, o.offset);
          if (o.metadata) {
            if (!metadata) this.groupOffsetMetadata.set(command.group, (metadata = new Map()));
            metadata.set(key, o.metadata);
          } else {
            metadata?.delete(key);
          }
        }
        return { type: 'none' };
      }
      case 'storeKafkaGroup':
        this.kafkaGroups.set(command.group.id, command.group);
        return { type: 'none' };
      case 'dropKafkaGroup':
        this.kafkaGroups.delete(command.group);
        return { type: 'none' };
      case 'registerBroker': {
        const broker: BrokerMeta = { id: command.id, address: command.address };
        if (command.kafkaAddress) broker.kafkaAddress = command.kafkaAddress;
        if (command.rack) broker.rack = command.rack;
        this.brokers.set(command.id, broker);
        return { type: 'brokerRegistered', broker };
      }
      case 'createTopic': {
        // A duplicate can commit when two creates race; the first one wins.
        if (this.topics.has(command.name)) return { type: 'none' };
        // A plan made before an earlier create applied (by a controller leader that had not
        // applied it yet) reuses its group ids: two partitions must never share a group.
        if (command.partitions.some((p) => p.groupId < this.nextGroupId)) return { type: 'none' };
        const topic: TopicMeta = { name: command.name, config: command.config, partitions: command.partitions };
        this.topics.set(topic.name, topic);
        for (const p of topic.partitions) this.nextGroupId = Math.max(this.nextGroupId, p.groupId + 1);
        this.placementChanges++;
        return { type: 'topicCreated', topic };
      }
      case 'deleteTopic': {
        const topic = this.topics.get(command.name);
        if (!topic) return { type: 'none' };
        this.topics.delete(command.name);
        // A topic created again under the same name starts without committed offsets.
        for (const offsets of [...this.groupOffsets.values(), ...this.groupOffsetMetadata.values()]) {
          for (const key of offsets.keys()) if (key.slice(0, key.lastIndexOf('/')) === command.name) offsets.delete(key);
        }
        this.placementChanges++;
        return { type: 'topicDeleted', topic };
      }
      case 'alterTopic': {
        const topic = this.topics.get(command.name);
        if (!topic) return { type: 'none' };
        topic.config = command.config;
        return { type: 'topicAltered', topic };
      }
      case 'allocateProducerId':
        this.nextProducerId = Math.max(this.nextProducerId, command.producerId + 1);
        return { type: 'none' };
      case 'movePartition': {
        const topic = this.topics.get(command.name);
        const assignment = topic?.partitions[command.partition];
        if (!topic || !assignment || assignment.previous) return { type: 'none' };
        assignment.previous = assignment.replicas;
        assignment.replicas = command.replicas;
        this.placementChanges++;
        return { type: 'partitionMoving', topic, assignment };
      }
      case 'moveCompleted': {
        const topic = this.topics.get(command.name);
        const assignment = topic?.partitions[command.partition];
        if (!topic || !assignment || !assignment.previous || !sameMembers(assignment.replicas, command.replicas)) return { type: 'none' };
        delete assignment.previous;
        this.placementChanges++;
        return { type: 'partitionMoved', topic, assignment };
      }
      case 'removeBroker':
        this.brokers.delete(command.id);
        return { type: 'brokerRemoved', id: command.id };
      case 'upsertUser': {
        const { name, mechanism, salt, iterations, storedKey, serverKey } = command;
        const credential: ScramCredential = { mechanism, salt, iterations, storedKey, serverKey };
        const previous = this.users.get(name);
        this.users.set(name, credential);
        return previous && !sameCredential(previous, credential) ? { type: 'credentialsRevoked', name } : { type: 'none' };
      }
      case 'bootstrapUser': {
        if (this.bootstrapped) return { type: 'none' };
        this.bootstrapped = true;
        const { name, mechanism, salt, iterations, storedKey, serverKey } = command;
        if (!this.users.has(name)) this.users.set(name, { mechanism, salt, iterations, storedKey, serverKey });
        return { type: 'none' };
      }
      case 'deleteUser':
        return this.users.delete(command.name) ? { type: 'credentialsRevoked', name: command.name } : { type: 'none' };
      case 'createAcl':
        if (!this.acls.some((acl) => sameAcl(acl, command.acl))) this.acls = [...this.acls, command.acl];
        return { type: 'none' };
      case 'deleteAcls': {
        const kept = this.acls.filter((acl) => !aclMatchesFilter(acl, command.filter));
        if (kept.length !== this.acls.length) this.acls = kept;
        return { type: 'none' };
      }
      default:
        // A command of a later version (during an upgrade): nothing this version keeps.
        return { type: 'none' };
    }
  }

  /**
   * Whether a create of `name` with these settings has already happened: false when there
   * is no such topic; true when it exists with exactly these settings, so that a retried
   * create (its first attempt's answer lost to a client timeout, say) succeeds; otherwise
   * TOPIC_EXISTS naming what differs.
   */
  createdAlready(name: string, partitions: number, replication: number, config: TopicConfig): boolean {
    const topic = this.topics.get(name);
    if (!topic) return false;
    const differences = settingsDifferences(topic, partitions, replication, config);
    if (differences.length > 0) {
      throw new FlotillaError('TOPIC_EXISTS', `topic "${name}" already exists with other settings: ${differences.join(', ')}`);
    }
    return true;
  }

  /**
   * Whether `user create NAME` has already happened: false when there is no such user; true
   * when it holds exactly this credential (a retried create); otherwise USER_EXISTS.
   */
  userCreatedAlready(name: string, credential: ScramCredential): boolean {
    const existing = this.users.get(name);
    if (!existing) return false;
    if (!sameCredential(existing, credential)) throw new FlotillaError('USER_EXISTS', `user "${name}" already exists; use \`flotilla user set-password ${name}\` to change its password`);
    return true;
  }

  /** Throws UNKNOWN_USER unless `name` exists (set-password, delete). */
  requireUser(name: string): void {
    if (!this.users.has(name)) throw new FlotillaError('UNKNOWN_USER', `no user "${name}"; \`flotilla user list\` shows the users there are`);
  }

  /** Every user by name, without salts or keys. */
  listUsers(): UserListing[] {
    return [...this.users].map(([name, c]) => ({ name, mechanism: c.mechanism, iterations: c.iterations })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The bindings `filter` selects, in the order they were created. */
  matchingAcls(filter: AclFilter): AclBinding[] {
    return this.acls.filter((acl) => aclMatchesFilter(acl, filter));
  }

  /**
   * Places `partitions` replicas over the registered brokers, spreading replica counts and
   * preferred leaders (first replica) evenly, including what existing topics already hold.
   */
  place(partitions: number, replication: number): PartitionAssignment[] {
    const ids = [...this.brokers.keys()].sort((a, b) => a - b);
    if (replication < 1) throw new FlotillaError('INVALID_CONFIG', 'replication must be at least 1');
    if (replication > ids.length) {
      throw new FlotillaError('INVALID_CONFIG', `replication ${replication} exceeds the ${ids.length} registered brokers`);
    }
    const replicaCount = new Map(ids.map((id) => [id, 0]));
    const leaderCount = new Map(ids.map((id) => [id, 0]));
    for (const topic of this.topics.values()) {
      for (const p of topic.partitions) {
        p.replicas.forEach((id, i) => {
          replicaCount.set(id, (replicaCount.get(id) ?? 0) + 1);
          if (i === 0) leaderCount.set(id, (leaderCount.get(id) ?? 0) + 1);
        });
      }
    }
    const result: PartitionAssignment[] = [];
    let groupId = this.nextGroupId;
    for (let partition = 0; partition < partitions; partition++) {
      const leader = [...ids].sort((a, b) => leaderCount.get(a)! - leaderCount.get(b)! || replicaCount.get(a)! - replicaCount.get(b)! || a - b)[0]!;
      // Followers: least loaded first, ties broken by distance after the leader in id order,
      // so that consecutive partitions with the same leader spread their followers.
      const distance = (id: number) => (ids.indexOf(id) - ids.indexOf(leader) + ids.length) % ids.length;
      const others = ids
        .filter((id) => id !== leader)
        .sort((a, b) => replicaCount.get(a)! - replicaCount.get(b)! || distance(a) - distance(b))
        .slice(0, replication - 1);
      const replicas = [leader, ...others];
      for (const id of replicas) replicaCount.set(id, replicaCount.get(id)! + 1);
      leaderCount.set(leader, leaderCount.get(leader)! + 1);
      result.push({ partition, groupId: groupId++, replicas });
    }
    return result;
  }

  /** Serializes the whole state (controller snapshot). */
  toJSON(): object {
    return {
      brokers: [...this.brokers.values()],
      topics: [...this.topics.values()],
      nextGroupId: this.nextGroupId,
      nextProducerId: this.nextProducerId,
      groupOffsets: [...this.groupOffsets].map(([group, offsets]) => [group, [...offsets]]),
      groupOffsetMetadata: [...this.groupOffsetMetadata].map(([group, metadata]) => [group, [...metadata]]),
      kafkaGroups: [...this.kafkaGroups.values()],
      users: [...this.users].map(([name, credential]) => ({ name, ...credential })),
      acls: this.acls,
      bootstrapped: this.bootstrapped,
    };
  }

  /** Snapshots written before consumer groups, security or stored Kafka groups lack those fields. */
  static fromJSON(json: {
    brokers: BrokerMeta[];
    topics: TopicMeta[];
    nextGroupId: number;
    nextProducerId: number;
    groupOffsets?: Array<[string, Array<[string, number]>]>;
    groupOffsetMetadata?: Array<[string, Array<[string, string]>]>;
    kafkaGroups?: KafkaGroupRecord[];
    users?: Array<{ name: string } & ScramCredential>;
    acls?: AclBinding[];
    bootstrapped?: boolean;
  }): ControllerState {
    const state = new ControllerState();
    for (const b of json.brokers) state.brokers.set(b.id, b);
    for (const t of json.topics) state.topics.set(t.name, t);
    state.nextGroupId = json.nextGroupId;
    state.nextProducerId = json.nextProducerId;
    for (const [group, offsets] of json.groupOffsets ?? []) state.groupOffsets.set(group, new Map(offsets));
    for (const [group, metadata] of json.groupOffsetMetadata ?? []) state.groupOffsetMetadata.set(group, new Map(metadata));
    for (const group of json.kafkaGroups ?? []) state.kafkaGroups.set(group.id, group);
    for (const { name, ...credential } of json.users ?? []) state.users.set(name, credential);
    state.acls = json.acls ?? [];
    state.bootstrapped = json.bootstrapped ?? false;
    return state;
  }
}
