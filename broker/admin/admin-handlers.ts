/**
 * Administrative requests: topics, brokers, partition moves and producer ids are commands
 * to the controller (its leader answers; others say NOT_CONTROLLER); leadership transfers
 * and balancing act on the partitions led here.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { toErrorInfo, type Init, type client } from '../../protocol/codec.js';
import { DEFAULT_TOPIC_CONFIG, validatePartitionCount, validateTopicConfig, validateTopicName, type TopicConfig } from '../../protocol/topics.js';
import { parseHostPort } from '../config.js';
import type { Controller } from '../controller/controller.js';
import { sameMembers } from '../controller/state.js';
import type { HostedReplicas } from '../partition/hosted.js';
import { asFlotillaError, topicRefusal, type Handlers, type RequestContext } from '../requests/dispatcher.js';

const DEFAULT_CONTROLLER_TIMEOUT_MS = 30_000;

export interface AdminBroker {
  readonly clusterId: string;
  readonly controller: Controller;
  readonly replicas: HostedReplicas;
  /** Hands partitions led here back to their preferred leaders; the number of transfers started. */
  balanceLeaders(): number;
}

type AdminRequests = 'createTopics' | 'deleteTopics' | 'alterTopicConfig' | 'registerBroker' | 'movePartition' | 'removeBroker' | 'initProducerId' | 'transferLeader' | 'balanceLeaders';

export function adminHandlers(broker: AdminBroker): Pick<Handlers, AdminRequests> {
  return {
    createTopics: (request, context) => createTopics(broker.controller, request, context),
    deleteTopics: (request, context) => deleteTopics(broker.controller, request, context),
    alterTopicConfig: async (request) => {
      await alterTopic(broker.controller, request);
      return {};
    },
    registerBroker: (request) => registerBroker(broker, request),
    movePartition: async (request) => {
      await movePartition(broker.controller, request);
      return {};
    },
    removeBroker: async (request) => {
      await removeBroker(broker.controller, request.brokerId);
      return {};
    },
    initProducerId: (request) => initProducerId(broker.controller, request),
    transferLeader: async (request) => {
      const replica = broker.replicas.replica(request.topic, request.partition);
      if (!replica) throw broker.replicas.notHostedError(request.topic, request.partition);
      await replica.transferLeadership(request.to, 5000);
      return {};
    },
    balanceLeaders: async () => ({ transfers: broker.balanceLeaders() }),
  };
}

function requireController(controller: Controller): void {
  if (!controller.isLeader) throw controller.notController();
}

function topicConfigOf(config: client.TopicConfig | null, base?: TopicConfig): TopicConfig {
  const partial: Partial<TopicConfig> = {};
  if (config?.retentionMs != null) partial.retentionMs = Number(config.retentionMs);
  if (config?.retentionBytes != null) partial.retentionBytes = Number(config.retentionBytes);
  if (config?.segmentBytes != null) partial.segmentBytes = Number(config.segmentBytes);
  return { ...(base ?? DEFAULT_TOPIC_CONFIG), ...validateTopicConfig(partial) };
}

async function createTopics(controller: Controller, request: client.CreateTopicsRequest, context: RequestContext): Promise<Init<client.CreateTopicsResponse>> {
  requireController(controller);
  const results: Array<Init<client.TopicResult>> = [];
  for (const t of request.topics) {
    try {
      const refusal = topicRefusal(context, t.topic);
      if (refusal) throw refusal;
      validateTopicName(t.topic);
      const partitions = validatePartitionCount(t.partitions || 1);
      const config = topicConfigOf(t.config);
      const replication = t.replication || Math.min(3, controller.state.brokers.size);
      const deadline = Date.now() + (request.timeoutMs || DEFAULT_CONTROLLER_TIMEOUT_MS);
      await controller.placing(async () => {
        // Of two creates racing (a retry and its first attempt still committing, say), the
        // first to commit wins: ours succeeded if the topic is as we asked for it. A create
        // planned on state that missed an earlier create is refused as it applies: plan again.
        while (!controller.state.createdAlready(t.topic, partitions, replication, config)) {
          if (Date.now() >= deadline) throw new FlotillaError('TIMEOUT', `creating topic "${t.topic}" did not commit in time; retry`);
          const assignments = controller.state.place(partitions, replication);
          await controller.propose({ type: 'createTopic', name: t.topic, config, partitions: assignments }, Math.max(1, deadline - Date.now()));
        }
      });
      results.push({ topic: t.topic });
    } catch (error) {
      results.push({ topic: t.topic, error: toErrorInfo(asFlotillaError(error)) });
    }
  }
  return { results };
}

async function deleteTopics(controller: Controller, request: client.DeleteTopicsRequest, context: RequestContext): Promise<Init<client.DeleteTopicsResponse>> {
  requireController(controller);
  const results: Array<Init<client.TopicResult>> = [];
  for (const topic of request.topics) {
    try {
      const refusal = topicRefusal(context, topic);
      if (refusal) throw refusal;
      if (!controller.state.topics.has(topic)) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${topic}" does not exist`);
      await controller.propose({ type: 'deleteTopic', name: topic }, DEFAULT_CONTROLLER_TIMEOUT_MS);
      results.push({ topic });
    } catch (error) {
      results.push({ topic, error: toErrorInfo(asFlotillaError(error)) });
    }
  }
  return { results };
}

async function alterTopic(controller: Controller, request: client.AlterTopicConfigRequest): Promise<void> {
  requireController(controller);
  const meta = controller.state.topics.get(request.topic);
  if (!meta) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${request.topic}" does not exist`);
  const config = topicConfigOf(request.config, meta.config);
  await controller.propose({ type: 'alterTopic', name: request.topic, config }, DEFAULT_CONTROLLER_TIMEOUT_MS);
}

/** A new producer id (epoch 0), or the next epoch of an existing one. */
async function initProducerId(controller: Controller, request: client.InitProducerIdRequest): Promise<Init<client.InitProducerIdResponse>> {
  if (request.producerId != null && request.producerId >= 0) {
    return { producerId: request.producerId, producerEpoch: request.producerEpoch + 1 };
  }
  return { producerId: await controller.allocateProducerId(DEFAULT_CONTROLLER_TIMEOUT_MS), producerEpoch: 0 };
}

/**
 * `broker start --join`: records the broker in the metadata and adds it to the metadata
 * group as a learner, so that it follows the controller like every broker.
 */
async function registerBroker(broker: AdminBroker, request: client.RegisterBrokerRequest): Promise<Init<client.RegisterBrokerResponse>> {
  const controller = broker.controller;
  requireController(controller);
  const { brokerId: id, address, kafkaAddress, rack } = request;
  if (!(id > 0)) throw new FlotillaError('INVALID_REQUEST', `broker id must be a positive integer, got ${id}`);
  parseHostPort(address, 'the joining broker\'s address');
  if (kafkaAddress) parseHostPort(kafkaAddress, 'the broker\'s Kafka address');
  const existing = controller.state.brokers.get(id);
  if (existing && existing.address !== address) {
    throw new FlotillaError('INVALID_REQUEST', `broker id ${id} is already registered at ${existing.address}; pick another --id`);
  }
  // A registered broker registers again only to record its Kafka listener's address or its rack.
  if (!existing || (existing.kafkaAddress ?? '') !== kafkaAddress || (existing.rack ?? '') !== rack) {
    await controller.propose({ type: 'registerBroker', id, address, ...(kafkaAddress ? { kafkaAddress } : {}), ...(rack ? { rack } : {}) }, DEFAULT_CONTROLLER_TIMEOUT_MS);
  }
  await controller.changeMembership({ type: 'addLearner', id }, (m) => m.voters.includes(id) || m.learners.includes(id), DEFAULT_CONTROLLER_TIMEOUT_MS);
  return {
    clusterId: broker.clusterId,
    controllerId: controller.leaderId,
    brokers: [...controller.state.brokers.values()].map((b) => ({ id: b.id, address: b.address, kafkaAddress: b.kafkaAddress ?? '', rack: b.rack ?? '' })),
    controllerVoters: controller.group.node.members.voters,
  };
}

/** Starts a move (users), or records that one finished (the partition's leader). */
async function movePartition(controller: Controller, request: client.MovePartitionRequest): Promise<void> {
  requireController(controller);
  const state = controller.state;
  const meta = state.topics.get(request.topic);
  if (!meta) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${request.topic}" does not exist`);
  const assignment = meta.partitions[request.partition];
  if (!assignment) throw new FlotillaError('UNKNOWN_PARTITION', `topic "${request.topic}" has no partition ${request.partition}`);
  const replicas = [...request.replicas];
  const command = { name: request.topic, partition: request.partition, replicas };
  if (request.completed) {
    await controller.propose({ type: 'moveCompleted', ...command }, DEFAULT_CONTROLLER_TIMEOUT_MS);
    return;
  }
  if (replicas.length === 0 || new Set(replicas).size !== replicas.length) {
    throw new FlotillaError('INVALID_REQUEST', `--replicas must list distinct broker ids, got ${replicas.join(',')}`);
  }
  const unknown = replicas.filter((id) => !state.brokers.has(id));
  if (unknown.length > 0) throw new FlotillaError('INVALID_REQUEST', `broker ${unknown.join(', ')} is not registered in the cluster`);
  // Already there, or already moving there (a retry of this very move): nothing to do.
  if (sameMembers(assignment.replicas, replicas) && assignment.replicas[0] === replicas[0]) return;
  if (assignment.previous) throw new FlotillaError('INVALID_REQUEST', `${request.topic}/${request.partition} is already moving to ${assignment.replicas.join(',')}; wait until it finishes`);
  await controller.propose({ type: 'movePartition', ...command }, DEFAULT_CONTROLLER_TIMEOUT_MS);
}

/**
 * Moves every replica off the broker (one move per partition, to the least loaded
 * other brokers), waits for the moves, then takes it out of the metadata group and the
 * metadata. Running it again resumes where a timeout left it.
 */
async function removeBroker(controller: Controller, id: number): Promise<void> {
  requireController(controller);
  const state = controller.state;
  if (!state.brokers.has(id)) throw new FlotillaError('INVALID_REQUEST', `broker ${id} is not registered in the cluster`);
  const others = [...state.brokers.keys()].filter((b) => b !== id);
  const load = new Map(others.map((b) => [b, 0]));
  for (const topic of state.topics.values()) for (const p of topic.partitions) for (const r of p.replicas) if (load.has(r)) load.set(r, load.get(r)! + 1);
  for (const topic of state.topics.values()) {
    for (const p of topic.partitions) {
      if (!p.replicas.includes(id) || p.previous) continue;
      const substitute = others.filter((b) => !p.replicas.includes(b)).sort((a, b) => load.get(a)! - load.get(b)! || a - b)[0];
      if (substitute === undefined) {
        throw new FlotillaError('INVALID_CONFIG', `cannot remove broker ${id}: ${topic.name}/${p.partition} needs ${p.replicas.length} replicas and only ${others.length} other brokers exist`);
      }
      load.set(substitute, load.get(substitute)! + 1);
      const replicas = p.replicas.map((r) => (r === id ? substitute : r));
      await controller.propose({ type: 'movePartition', name: topic.name, partition: p.partition, replicas }, DEFAULT_CONTROLLER_TIMEOUT_MS);
    }
  }
  // Answer within a request's time; the caller asks again to keep waiting.
  const deadline = Date.now() + 20_000;
  const stillThere = () => [...state.topics.values()].some((t) => t.partitions.some((p) => p.replicas.includes(id) || p.previous?.includes(id)));
  while (stillThere()) {
    if (Date.now() > deadline) throw new FlotillaError('TIMEOUT', `replicas of broker ${id} are still moving; run remove-broker again to wait for them`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await controller.changeMembership({ type: 'remove', id }, (m) => !m.voters.includes(id) && !m.learners.includes(id), DEFAULT_CONTROLLER_TIMEOUT_MS);
  await controller.propose({ type: 'removeBroker', id }, DEFAULT_CONTROLLER_TIMEOUT_MS);
}
