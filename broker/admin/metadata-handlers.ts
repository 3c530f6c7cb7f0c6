/**
 * Metadata requests: topics, partitions and brokers as this broker's copy of the metadata
 * knows them, with leaders and in-sync replicas as its own replicas see them.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { toErrorInfo, type Init, type client } from '../../protocol/codec.js';
import type { BrokerConfig } from '../config.js';
import type { Controller } from '../controller/controller.js';
import type { HostedReplicas } from '../partition/hosted.js';
import { brokerLiveness } from '../ops/cluster-view.js';
import { topicRefusal, type Handlers, type RequestContext } from '../requests/dispatcher.js';

export interface MetadataBroker {
  readonly config: Pick<BrokerConfig, 'id'>;
  readonly controller: Controller;
  readonly replicas: HostedReplicas;
  readonly transport: { isConnected(id: number): boolean };
}

export function metadataHandlers(broker: MetadataBroker): Pick<Handlers, 'metadata' | 'describeTopic' | 'describeCluster'> {
  return {
    metadata: async (request, context) => metadata(broker, request.topics, context),
    describeTopic: async (request) => describeTopic(broker, request.topic),
    describeCluster: async () => describeCluster(broker),
  };
}

function leaderOf(broker: MetadataBroker, topic: string, partition: number): { leader: number; term: number } {
  const replica = broker.replicas.replica(topic, partition);
  if (!replica) return { leader: 0, term: 0 };
  // The cheap accessors: status() allocates, and a listing asks this of every partition.
  const { node } = replica.group;
  return { leader: node.currentLeader, term: node.currentTerm };
}

/**
 * Voters the leader heard from recently that hold everything committed (all replicas
 * when the leader is elsewhere). During a move these are the group's actual voters, so
 * the set equals the new replicas only once the move is done.
 */
function inSyncOf(broker: MetadataBroker, topic: string, partition: number, replicas: number[]): number[] {
  const replica = broker.replicas.replica(topic, partition);
  return replica?.isLeader ? replica.inSyncVoters() : replicas;
}

/** Named topics the principal may not describe are refused, existing or not; a listing leaves them out. */
function metadata(broker: MetadataBroker, topics: string[], context: RequestContext): Init<client.MetadataResponse> {
  const controller = broker.controller;
  if (!controller.metadataCurrent) throw controller.notCurrent(broker.config.id);
  const state = controller.state;
  const names = topics.length > 0 ? topics : [...state.topics.keys()].sort().filter((name) => !topicRefusal(context, name));
  return {
    brokers: [...state.brokers.values()].map((b) => ({ id: b.id, address: b.address, kafkaAddress: b.kafkaAddress ?? '', rack: b.rack ?? '' })),
    controllerId: controller.leaderId,
    topics: names.map((name) => {
      const refusal = topicRefusal(context, name);
      if (refusal) return { topic: name, error: toErrorInfo(refusal) };
      const meta = state.topics.get(name);
      if (!meta) return { topic: name, error: toErrorInfo(new FlotillaError('UNKNOWN_TOPIC', `topic "${name}" does not exist`)) };
      return {
        topic: name,
        partitions: meta.partitions.map((p) => {
          const { leader, term } = leaderOf(broker, name, p.partition);
          return { partition: p.partition, leader, leaderTerm: term, replicas: p.replicas, inSync: inSyncOf(broker, name, p.partition, p.replicas) };
        }),
      };
    }),
  };
}

function describeTopic(broker: MetadataBroker, topic: string): Init<client.DescribeTopicResponse> {
  const meta = broker.controller.state.topics.get(topic);
  if (!meta) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${topic}" does not exist`);
  return {
    topic,
    config: meta.config,
    partitions: meta.partitions.map((p) => {
      const replica = broker.replicas.replica(topic, p.partition);
      return {
        partition: p.partition,
        leader: leaderOf(broker, topic, p.partition).leader,
        replicas: p.replicas,
        inSync: inSyncOf(broker, topic, p.partition, p.replicas),
        highWatermark: replica?.highWatermark ?? -1,
        logStartOffset: replica?.logStartOffset ?? -1,
        movingFrom: p.previous ?? [],
      };
    }),
  };
}

function describeCluster(broker: MetadataBroker): Init<client.DescribeClusterResponse> {
  const leaders = new Map<number, number>();
  for (const replica of broker.replicas.all()) {
    const id = replica.group.node.currentLeader;
    if (id) leaders.set(id, (leaders.get(id) ?? 0) + 1);
  }
  return {
    controllerId: broker.controller.leaderId,
    brokers: brokerLiveness(broker).map((b) => ({ ...b, leaders: leaders.get(b.id) ?? 0 })),
  };
}
