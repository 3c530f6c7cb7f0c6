/**
 * The requests the client sends and the answers it expects, as plain objects, one
 * partition or topic per request except produce, which carries the batches of every
 * partition the broker leads that are ready to go. The connection carries them through an
 * EnvelopeCodec; `wire.ts` maps them onto the protobuf envelopes of
 * protocol/client.proto (and turns per-topic and per-partition errors into a rejected
 * request, except for produce, whose partitions succeed or fail one by one). Everything
 * above the network layer speaks only these types.
 */

import type { AclBinding, AclFilter } from '../../protocol/acls.js';
import type { FlotillaError } from '../../protocol/errors.js';
import type { ScramCredential, ScramMechanism } from '../../protocol/scram.js';
import type { TopicConfig } from '../../protocol/topics.js';

export type Acks = 'all' | 'leader' | 'none';

/** Topic settings to set; absent ones keep their default (or current value). */
export type TopicConfigInput = Partial<TopicConfig>;

export interface BrokerAddress {
  id: number;
  address: string;
}

export interface PartitionMetadata {
  partition: number;
  /** null: no leader right now (election in progress). */
  leader: number | null;
  leaderTerm: number;
  replicas: number[];
  inSync: number[];
}

export interface TopicMetadata {
  topic: string;
  partitions: PartitionMetadata[];
}

export interface MetadataResult {
  controller: number | null;
  brokers: BrokerAddress[];
  topics: TopicMetadata[];
}

export interface PartitionDescription {
  partition: number;
  leader: number | null;
  replicas: number[];
  inSync: number[];
  highWatermark: number;
  logStartOffset: number;
  /** While the partition moves: the replicas it moves from (`replicas` are the target). Absent otherwise. */
  movingFrom?: number[];
}

export interface TopicDescription {
  topic: string;
  partitions: PartitionDescription[];
  config: TopicConfigInput;
}

export interface ClusterDescription {
  controller: number | null;
  brokers: Array<{ id: number; address: string; alive: boolean; leaders: number }>;
}

export interface GroupListing {
  groupId: string;
  state: string;
  members: number;
}

export interface GroupDescription {
  groupId: string;
  state: string;
  generation: number;
  members: Array<{ memberId: string; clientId: string; clientAddress: string; assignment: Array<{ topic: string; partitions: number[] }> }>;
  offsets: Array<{ topic: string; partition: number; offset: number }>;
}

/** Where to start: the log start, the high watermark, or the first record at or after a time (ms since the epoch). */
export type OffsetTarget = 'earliest' | 'latest' | { timestamp: number };

export interface TopicPartitionList {
  topic: string;
  partitions: number[];
}

export interface CommittedOffset {
  topic: string;
  partition: number;
  /** Next offset to read; -1: none committed. */
  offset: number;
}

/** A member's view of its group after join or heartbeat. */
export interface GroupAssignment {
  memberId: string;
  generation: number;
  assignment: TopicPartitionList[];
}

export type ClientRequest =
  | { type: 'metadata'; topics?: string[] }
  | { type: 'createTopic'; topic: string; partitions: number; replicationFactor: number; config: TopicConfigInput; timeoutMs: number }
  | { type: 'deleteTopic'; topic: string }
  | { type: 'alterTopic'; topic: string; config: TopicConfigInput }
  | { type: 'describeTopic'; topic: string }
  | { type: 'describeCluster' }
  /** Without producerId: a new id (epoch 0). With it: the same id, next epoch. */
  | { type: 'initProducerId'; producerId?: number; producerEpoch?: number }
  | { type: 'produce'; acks: Acks; timeoutMs: number; partitions: ProduceInput[] }
  | { type: 'fetch'; topic: string; partition: number; offset: number; maxBytes: number; maxWaitMs: number }
  | { type: 'listOffsets'; topic: string; partition: number; target: OffsetTarget }
  | { type: 'movePartition'; topic: string; partition: number; replicas: number[] }
  | { type: 'transferLeader'; topic: string; partition: number; to: number }
  | { type: 'balanceLeaders' }
  | { type: 'removeBroker'; brokerId: number }
  | { type: 'listGroups' }
  | { type: 'describeGroup'; groupId: string }
  | { type: 'resetOffsets'; groupId: string; topic: string; target: OffsetTarget | number; offsets?: CommittedOffset[] }
  | { type: 'joinGroup'; groupId: string; memberId: string; topics: string[]; sessionTimeoutMs: number; owned: TopicPartitionList[] }
  | { type: 'heartbeat'; groupId: string; memberId: string; generation: number }
  | { type: 'leaveGroup'; groupId: string; memberId: string }
  | { type: 'commitOffsets'; groupId: string; memberId: string; generation: number; offsets: CommittedOffset[] }
  | { type: 'fetchOffsets'; groupId: string; partitions: TopicPartitionList[] }
  | { type: 'saslHandshake'; mechanism: string }
  | { type: 'saslAuthenticate'; bytes: Buffer }
  | { type: 'createUser'; name: string; credential: ScramCredential }
  | { type: 'alterUser'; name: string; credential: ScramCredential }
  | { type: 'deleteUser'; name: string }
  | { type: 'listUsers' }
  | { type: 'createAcls'; acls: AclBinding[] }
  | { type: 'listAcls'; filter: AclFilter }
  | { type: 'deleteAcls'; filter: AclFilter };

/** A user as `user list` shows it: never a salt or a key. */
export interface UserListing {
  name: string;
  mechanism: ScramMechanism;
  iterations: number;
}

export interface ProduceInput {
  topic: string;
  partition: number;
  batch: Buffer;
}

/** One partition of a produce request: appended at `baseOffset`, or failed with `error`. */
export type ProducePartitionResult =
  | { topic: string; partition: number; baseOffset: number; error?: undefined }
  | { topic: string; partition: number; error: FlotillaError };

export interface ProduceResult {
  /** In the request's order. Offset of a batch's i-th record: baseOffset + i. */
  partitions: ProducePartitionResult[];
}

export interface FetchResult {
  /** Whole batches, concatenated, starting at or before the requested offset. */
  records: Buffer;
  highWatermark: number;
  logStartOffset: number;
}

export type ClientResponse =
  | { type: 'metadata'; result: MetadataResult }
  | { type: 'createTopic' }
  | { type: 'deleteTopic' }
  | { type: 'alterTopic' }
  | { type: 'describeTopic'; result: TopicDescription }
  | { type: 'describeCluster'; result: ClusterDescription }
  | { type: 'initProducerId'; result: { producerId: number; producerEpoch: number } }
  | { type: 'produce'; result: ProduceResult }
  | { type: 'fetch'; result: FetchResult }
  /** By timestamp: offset and timestamp of the record found, both -1 when there is none. */
  | { type: 'listOffsets'; result: { offset: number; timestamp: number } }
  | { type: 'movePartition' }
  | { type: 'transferLeader' }
  | { type: 'balanceLeaders'; result: { transfers: number } }
  | { type: 'removeBroker' }
  | { type: 'listGroups'; result: GroupListing[] }
  | { type: 'describeGroup'; result: GroupDescription }
  | { type: 'resetOffsets'; result: Array<{ topic: string; partition: number; offset: number }> }
  | { type: 'joinGroup'; result: GroupAssignment }
  | { type: 'heartbeat'; result: GroupAssignment }
  | { type: 'leaveGroup' }
  | { type: 'commitOffsets' }
  | { type: 'fetchOffsets'; result: CommittedOffset[] }
  | { type: 'saslHandshake' }
  | { type: 'saslAuthenticate'; result: Buffer }
  | { type: 'createUser' }
  | { type: 'alterUser' }
  | { type: 'deleteUser' }
  | { type: 'listUsers'; result: UserListing[] }
  | { type: 'createAcls' }
  | { type: 'listAcls'; result: AclBinding[] }
  | { type: 'deleteAcls'; result: AclBinding[] };

export type ResponseOf<T extends ClientRequest['type']> = Extract<ClientResponse, { type: T }>;
