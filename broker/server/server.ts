/**
 * Client connections (type byte 0x01): decode each request frame, dispatch it, answer with
 * the same correlation id. Many requests may be in flight per connection and answers go
 * out as they finish. A frame that does not decode gets INVALID_REQUEST (when its
 * correlation id is readable) and the connection is closed; a connection with too many
 * requests in flight stops being read until some finish (backpressure, not buffering).
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { FlotillaError, toFlotillaError } from '../../protocol/errors.js';
import {
  CLIENT_API_VERSION,
  decodeRequest,
  encodeResponse,
  toErrorInfo,
  type Init,
  type client,
} from '../../protocol/codec.js';
import { FrameWriter, readFrames, type FrameDecoder } from '../../protocol/frame.js';
import { ByteBudget, ResponseHolding } from './byte-budget.js';
import { sameMembers } from '../controller/state.js';
import { DEFAULT_TOPIC_CONFIG, validatePartitionCount, validateTopicConfig, validateTopicName, type TopicConfig } from '../../protocol/topics.js';
import { parseHostPort, type BrokerConfig } from '../config.js';
import type { Controller } from '../controller/controller.js';
import type { GroupCoordinator } from '../groups/coordinator.js';
import type { Acks as PartitionAcks } from '../partition/partition.js';
import type { HostedReplicas } from '../partition/hosted.js';

type Request = client.Request;
type Response = Init<client.Response>;

const MAX_IN_FLIGHT_PER_CONNECTION = 1024;
const DEFAULT_CONTROLLER_TIMEOUT_MS = 30_000;
const ACKS: Record<number, PartitionAcks> = { 0: 'all', 1: 'leader', 2: 'none' };

/** Any failure as a FlotillaError; one the broker did not expect is INTERNAL. */
function asFlotillaError(error: unknown): FlotillaError {
  return toFlotillaError(error, 'internal error');
}

/**
 * What the client server needs of the broker it serves. Declared here, implemented by
 * Broker, so that the server does not depend on the broker that owns it.
 */
export interface ServedBroker {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly clusterId: string;
  readonly controller: Controller;
  readonly groups: GroupCoordinator;
  readonly transport: { isConnected(id: number): boolean };
  readonly replicas: HostedReplicas;
  /** Hands partitions led here back to their preferred leaders; the number of transfers. */
  balanceLeaders(): number;
}

export class ClientServer {
  private readonly connections = new Set<Socket>();
  /** Response bytes held by all connections (--max-pending-response-bytes). */
  private readonly responses: ByteBudget;

  constructor(private readonly broker: ServedBroker) {
    this.responses = new ByteBudget(broker.config.maxPendingResponseBytes);
  }

  /**
   * Memory per connection is bounded twice over: by requests in flight, and by response
   * bytes held (read for a fetch, or written and not yet taken by the kernel, which is the
   * socket's writableLength: a client that does not read its socket keeps them). Past
   * either limit the connection is not read until its responses drain; a request waits
   * for room before its data is read.
   */
  accept(socket: Socket): void {
    const { config, logger } = this.broker;
    if (this.connections.size >= config.maxConnections) {
      logger.debug({ remote: socket.remoteAddress, limit: config.maxConnections }, 'refused a client connection: --max-connections reached');
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.setNoDelay(true);
    const writer = new FrameWriter(socket, { maxFrameBytes: config.maxFrameBytes });
    const pending = new ByteBudget(config.maxConnectionPendingBytes);
    const holdings = new Set<ResponseHolding>();
    let inFlight = 0;
    let decoder: FrameDecoder | null = null;
    const updateReading = (): void => {
      if (inFlight >= MAX_IN_FLIGHT_PER_CONNECTION || pending.exhausted) decoder?.pause();
      else if (inFlight < MAX_IN_FLIGHT_PER_CONNECTION / 2) decoder?.resume();
    };
    const respond = (response: Response, holding: ResponseHolding): void => {
      if (socket.destroyed) return holding.release();
      let body = encodeResponse(response);
      if (body.length > config.maxFrameBytes) {
        // A response over the frame limit (a fetch the client asked too much of).
        const error = new FlotillaError('FRAME_TOO_LARGE', `the response of ${body.length} bytes exceeds --max-frame-bytes ${config.maxFrameBytes}`);
        body = encodeResponse({ correlationId: response.correlationId, error: toErrorInfo(error) });
      }
      holding.resize(body.length); // held until the socket handed it to the kernel
      writer.write(body, () => {
        holding.release();
        holdings.delete(holding);
      });
    };
    decoder = readFrames(socket, {
      onFrame: (frame) => {
        let request: Request;
        try {
          request = decodeRequest(frame);
        } catch (error) {
          const e = asFlotillaError(error);
          const correlationId = e.details.correlationId as number | undefined;
          if (correlationId !== undefined) respond({ correlationId, error: toErrorInfo(e) }, new ResponseHolding(pending, this.responses, updateReading));
          writer.flush();
          socket.end();
          throw e;
        }
        inFlight++;
        const holding = new ResponseHolding(pending, this.responses, updateReading);
        holdings.add(holding);
        // Nothing runs while either budget is exhausted (a fetch then waits for its share).
        holding
          .take(0)
          .then(() => this.handle(request, holding, `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`))
          .then((body) => (body ? respond({ correlationId: request.correlationId, ...body }, holding) : holding.release()))
          .catch((error) => respond({ correlationId: request.correlationId, error: toErrorInfo(asFlotillaError(error)) }, holding))
          .finally(() => {
            inFlight--;
            updateReading();
          });
        updateReading();
      },
      onClose: (error) => {
        this.connections.delete(socket);
        for (const holding of holdings) holding.release();
        holdings.clear();
        if (error) logger.debug({ remote: socket.remoteAddress, err: error.message }, 'client connection closed');
      },
    }, { maxFrameBytes: config.maxFrameBytes, frameTimeoutMs: config.frameTimeoutMs, idleTimeoutMs: config.idleTimeoutMs });
    socket.on('error', () => undefined);
  }

  close(): void {
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
  }

  /** Returns the response body, or null for requests that get no answer (acks=none). */
  private async handle(request: Request, holding: ResponseHolding, remote = ''): Promise<Omit<Response, 'correlationId'> | null> {
    if (request.apiVersion !== CLIENT_API_VERSION) {
      throw new FlotillaError('UNSUPPORTED_VERSION', `API version ${request.apiVersion} is not supported; this broker speaks version ${CLIENT_API_VERSION}`);
    }
    switch (request.body) {
      case 'produce': {
        const r = request.produce!;
        const acks = ACKS[r.acks] ?? 'all';
        const timeoutMs = r.timeoutMs || DEFAULT_CONTROLLER_TIMEOUT_MS;
        // Every partition proposes now, so their appends share this broker's next cycle
        // (one fsync per log, all logs together); each is answered on its own.
        const results = r.partitions.map((p) => this.producePartition(p, acks, timeoutMs));
        if (acks === 'none') return null;
        return { produce: { partitions: await Promise.all(results) } };
      }
      case 'fetch':
        return { fetch: await this.fetch(request.fetch!, holding) };
      case 'metadata':
        return { metadata: this.metadata(request.metadata!.topics) };
      case 'listOffsets':
        return { listOffsets: this.listOffsets(request.listOffsets!) };
      case 'createTopics':
        return { createTopics: await this.createTopics(request.createTopics!) };
      case 'deleteTopics':
        return { deleteTopics: await this.deleteTopics(request.deleteTopics!) };
      case 'alterTopicConfig':
        await this.alterTopic(request.alterTopicConfig!);
        return { alterTopicConfig: {} };
      case 'describeTopic':
        return { describeTopic: this.describeTopic(request.describeTopic!.topic) };
      case 'describeCluster':
        return { describeCluster: this.describeCluster() };
      // Consumer groups: the coordinator is the controller leader (NOT_CONTROLLER elsewhere).
      case 'joinGroup':
        return { joinGroup: this.broker.groups.join(request.joinGroup!, request.clientId, remote) };
      case 'heartbeat':
        return { heartbeat: this.broker.groups.heartbeat(request.heartbeat!) };
      case 'leaveGroup':
        this.broker.groups.leave(request.leaveGroup!);
        return { leaveGroup: {} };
      case 'commitOffsets':
        return { commitOffsets: await this.broker.groups.commitOffsets(request.commitOffsets!) };
      case 'fetchOffsets':
        return { fetchOffsets: this.broker.groups.fetchOffsets(request.fetchOffsets!) };
      case 'listGroups':
        return { listGroups: this.broker.groups.listGroups() };
      case 'describeGroup':
        return { describeGroup: this.broker.groups.describeGroup(request.describeGroup!) };
      case 'resetOffsets':
        return { resetOffsets: await this.broker.groups.resetOffsets(request.resetOffsets!) };
      case 'transferLeader': {
        const r = request.transferLeader!;
        const replica = this.broker.replicas.replica(r.topic, r.partition);
        if (!replica) throw this.broker.replicas.notHostedError(r.topic, r.partition);
        await replica.transferLeadership(r.to, 5000);
        return { transferLeader: {} };
      }
      case 'balanceLeaders':
        return { balanceLeaders: { transfers: this.broker.balanceLeaders() } };
      case 'registerBroker':
        return { registerBroker: await this.registerBroker(request.registerBroker!) };
      case 'movePartition':
        await this.movePartition(request.movePartition!);
        return { movePartition: {} };
      case 'removeBroker':
        await this.removeBroker(request.removeBroker!.brokerId);
        return { removeBroker: {} };
      case 'initProducerId':
        return { initProducerId: await this.initProducerId(request.initProducerId!) };
      case undefined:
        throw new FlotillaError('INVALID_REQUEST', 'the request has no body');
      default:
        throw new FlotillaError('INVALID_REQUEST', `request type "${request.body}" is not available on this broker yet`);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Fetch

  /** Reads with room for `budget` bytes held (given back while a long poll waits). */
  private async fetch(request: client.FetchRequest, holding: ResponseHolding): Promise<Init<client.FetchResponse>> {
    const maxWaitMs = Math.min(request.maxWaitMs, this.broker.config.maxFetchWaitMs);
    const budget = Math.min(request.maxBytes || this.broker.config.maxFrameBytes, this.broker.config.maxFrameBytes - 64 * 1024);
    const readAll = async () => {
      await holding.take(budget);
      let remaining = budget;
      const out: Array<Init<client.FetchedPartition>> = [];
      for (const p of request.partitions) {
        const base = { topic: p.topic, partition: p.partition };
        const replica = this.broker.replicas.replica(p.topic, p.partition);
        if (!replica) {
          const error = this.broker.replicas.notHostedError(p.topic, p.partition);
          out.push({ ...base, error: toErrorInfo(error.code === 'NOT_LEADER' ? new FlotillaError('UNKNOWN_PARTITION', `broker ${this.broker.config.id} holds no replica of ${p.topic}/${p.partition}`) : error) });
          continue;
        }
        try {
          const maxBytes = Math.max(1, Math.min(p.maxBytes || remaining, remaining));
          const result = await replica.fetch(p.offset, maxBytes, 0);
          remaining -= result.records.length;
          out.push({ ...base, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset, records: result.records });
        } catch (error) {
          out.push({ ...base, error: toErrorInfo(asFlotillaError(error)), highWatermark: replica.highWatermark, logStartOffset: replica.logStartOffset });
        }
      }
      return { out, bytes: budget - remaining };
    };
    let first = await readAll();
    const minBytes = Math.max(1, request.minBytes);
    if (first.bytes >= minBytes || maxWaitMs <= 0 || first.out.some((p) => p.error)) return { partitions: first.out };
    // Long-poll: wait for a commit on any of the partitions, then read again.
    holding.resize(0);
    const abort = new AbortController();
    const replicas = request.partitions.map((p) => this.broker.replicas.replica(p.topic, p.partition)).filter((r) => r !== undefined);
    await Promise.race(replicas.map((r) => r.waitForCommit(maxWaitMs, abort.signal)));
    abort.abort();
    first = await readAll();
    return { partitions: first.out };
  }

  // ---------------------------------------------------------------------------------------
  // Metadata and admin

  private leaderOf(topic: string, partition: number): { leader: number; term: number } {
    const replica = this.broker.replicas.replica(topic, partition);
    if (!replica) return { leader: 0, term: 0 };
    const status = replica.group.node.status();
    return { leader: status.leaderId, term: status.term };
  }

  /**
   * Voters the leader heard from recently that hold everything committed (all replicas
   * when the leader is elsewhere). During a move these are the group's actual voters, so
   * the set equals the new replicas only once the move is done.
   */
  private inSyncOf(topic: string, partition: number, replicas: number[]): number[] {
    const replica = this.broker.replicas.replica(topic, partition);
    if (!replica || !replica.isLeader) return replicas;
    const status = replica.group.node.status();
    return status.membership.voters.filter((id) => id === this.broker.config.id || (status.progress[id]?.recentActive && status.progress[id]!.match >= status.commit));
  }

  private metadata(topics: string[]): Init<client.MetadataResponse> {
    if (!this.broker.controller.metadataCurrent) throw this.broker.controller.notCurrent(this.broker.config.id);
    const state = this.broker.controller.state;
    const names = topics.length > 0 ? topics : [...state.topics.keys()].sort();
    return {
      brokers: [...state.brokers.values()].map((b) => ({ id: b.id, address: b.address })),
      controllerId: this.broker.controller.leaderId,
      topics: names.map((name) => {
        const meta = state.topics.get(name);
        if (!meta) return { topic: name, error: toErrorInfo(new FlotillaError('UNKNOWN_TOPIC', `topic "${name}" does not exist`)) };
        return {
          topic: name,
          partitions: meta.partitions.map((p) => {
            const { leader, term } = this.leaderOf(name, p.partition);
            return { partition: p.partition, leader, leaderTerm: term, replicas: p.replicas, inSync: this.inSyncOf(name, p.partition, p.replicas) };
          }),
        };
      }),
    };
  }

  private listOffsets(request: client.ListOffsetsRequest): Init<client.ListOffsetsResponse> {
    return {
      offsets: request.partitions.map((p) => {
        const base = { topic: p.topic, partition: p.partition };
        const replica = this.broker.replicas.replica(p.topic, p.partition);
        if (!replica) return { ...base, error: toErrorInfo(this.broker.replicas.notHostedError(p.topic, p.partition)) };
        if (p.spec === 1) return { ...base, offset: replica.logStartOffset, timestamp: -1 };
        if (p.spec === 0) {
          try {
            if (replica.isLeader) replica.requireCommittedInTerm();
          } catch (error) {
            return { ...base, error: toErrorInfo(asFlotillaError(error)) };
          }
          return { ...base, offset: replica.highWatermark, timestamp: -1 };
        }
        return { ...base, error: toErrorInfo(new FlotillaError('INVALID_REQUEST', 'offsets by timestamp are not supported yet')) };
      }),
    };
  }

  private requireController(): void {
    if (!this.broker.controller.isLeader) throw this.broker.controller.notController();
  }

  private topicConfigOf(config: client.TopicConfig | null, base?: TopicConfig): TopicConfig {
    const partial: Partial<TopicConfig> = {};
    if (config?.retentionMs != null) partial.retentionMs = Number(config.retentionMs);
    if (config?.retentionBytes != null) partial.retentionBytes = Number(config.retentionBytes);
    if (config?.segmentBytes != null) partial.segmentBytes = Number(config.segmentBytes);
    return { ...(base ?? DEFAULT_TOPIC_CONFIG), ...validateTopicConfig(partial) };
  }

  private async createTopics(request: client.CreateTopicsRequest): Promise<Init<client.CreateTopicsResponse>> {
    this.requireController();
    const controller = this.broker.controller;
    const results: Array<Init<client.TopicResult>> = [];
    for (const t of request.topics) {
      try {
        validateTopicName(t.topic);
        const partitions = validatePartitionCount(t.partitions || 1);
        const config = this.topicConfigOf(t.config);
        const replication = t.replication || Math.min(3, controller.state.brokers.size);
        if (!controller.state.createdAlready(t.topic, partitions, replication, config)) {
          const assignments = controller.state.place(partitions, replication);
          await controller.propose({ type: 'createTopic', name: t.topic, config, partitions: assignments }, request.timeoutMs || DEFAULT_CONTROLLER_TIMEOUT_MS);
          // Of two creates racing (a retry and its first attempt still committing, say),
          // the first to commit wins: ours succeeded if the topic is as we asked for it.
          controller.state.createdAlready(t.topic, partitions, replication, config);
        }
        results.push({ topic: t.topic });
      } catch (error) {
        results.push({ topic: t.topic, error: toErrorInfo(asFlotillaError(error)) });
      }
    }
    return { results };
  }

  private async deleteTopics(request: client.DeleteTopicsRequest): Promise<Init<client.DeleteTopicsResponse>> {
    this.requireController();
    const results: Array<Init<client.TopicResult>> = [];
    for (const topic of request.topics) {
      try {
        if (!this.broker.controller.state.topics.has(topic)) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${topic}" does not exist`);
        await this.broker.controller.propose({ type: 'deleteTopic', name: topic }, DEFAULT_CONTROLLER_TIMEOUT_MS);
        results.push({ topic });
      } catch (error) {
        results.push({ topic, error: toErrorInfo(asFlotillaError(error)) });
      }
    }
    return { results };
  }

  private async alterTopic(request: client.AlterTopicConfigRequest): Promise<void> {
    this.requireController();
    const meta = this.broker.controller.state.topics.get(request.topic);
    if (!meta) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${request.topic}" does not exist`);
    const config = this.topicConfigOf(request.config, meta.config);
    await this.broker.controller.propose({ type: 'alterTopic', name: request.topic, config }, DEFAULT_CONTROLLER_TIMEOUT_MS);
  }

  /** One partition of a produce request: its result or its error, never a rejection. */
  private async producePartition(p: client.ProducePartition, acks: PartitionAcks, timeoutMs: number): Promise<Init<client.ProducePartitionResult>> {
    const base = { topic: p.topic, partition: p.partition };
    try {
      const replica = this.broker.replicas.replica(p.topic, p.partition);
      if (!replica) throw this.broker.replicas.notHostedError(p.topic, p.partition);
      return { ...base, ...(await replica.produce(p.batch, acks, timeoutMs)) };
    } catch (error) {
      return { ...base, error: toErrorInfo(asFlotillaError(error)) };
    }
  }

  /** A new producer id (epoch 0), or the next epoch of an existing one. */
  private async initProducerId(request: client.InitProducerIdRequest): Promise<Init<client.InitProducerIdResponse>> {
    if (request.producerId != null && request.producerId >= 0) {
      return { producerId: request.producerId, producerEpoch: request.producerEpoch + 1 };
    }
    return { producerId: await this.broker.controller.allocateProducerId(DEFAULT_CONTROLLER_TIMEOUT_MS), producerEpoch: 0 };
  }

  /**
   * `broker start --join`: records the broker in the metadata and adds it to the metadata
   * group as a learner, so that it follows the controller like every broker.
   */
  private async registerBroker(request: client.RegisterBrokerRequest): Promise<Init<client.RegisterBrokerResponse>> {
    this.requireController();
    const controller = this.broker.controller;
    const { brokerId: id, address } = request;
    if (!(id > 0)) throw new FlotillaError('INVALID_REQUEST', `broker id must be a positive integer, got ${id}`);
    parseHostPort(address, 'the joining broker\'s address');
    const existing = controller.state.brokers.get(id);
    if (existing && existing.address !== address) {
      throw new FlotillaError('INVALID_REQUEST', `broker id ${id} is already registered at ${existing.address}; pick another --id`);
    }
    if (!existing) await controller.propose({ type: 'registerBroker', id, address }, DEFAULT_CONTROLLER_TIMEOUT_MS);
    await controller.changeMembership({ type: 'addLearner', id }, (m) => m.voters.includes(id) || m.learners.includes(id), DEFAULT_CONTROLLER_TIMEOUT_MS);
    return {
      clusterId: this.broker.clusterId,
      controllerId: controller.leaderId,
      brokers: [...controller.state.brokers.values()].map((b) => ({ id: b.id, address: b.address })),
      controllerVoters: controller.group.node.members.voters,
    };
  }

  /** Starts a move (users), or records that one finished (the partition's leader). */
  private async movePartition(request: client.MovePartitionRequest): Promise<void> {
    this.requireController();
    const state = this.broker.controller.state;
    const meta = state.topics.get(request.topic);
    if (!meta) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${request.topic}" does not exist`);
    const assignment = meta.partitions[request.partition];
    if (!assignment) throw new FlotillaError('UNKNOWN_PARTITION', `topic "${request.topic}" has no partition ${request.partition}`);
    const replicas = [...request.replicas];
    const command = { name: request.topic, partition: request.partition, replicas };
    if (request.completed) {
      await this.broker.controller.propose({ type: 'moveCompleted', ...command }, DEFAULT_CONTROLLER_TIMEOUT_MS);
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
    await this.broker.controller.propose({ type: 'movePartition', ...command }, DEFAULT_CONTROLLER_TIMEOUT_MS);
  }

  /**
   * Moves every replica off the broker (one move per partition, to the least loaded
   * other brokers), waits for the moves, then takes it out of the metadata group and the
   * metadata. Running it again resumes where a timeout left it.
   */
  private async removeBroker(id: number): Promise<void> {
    this.requireController();
    const controller = this.broker.controller;
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

  private describeTopic(topic: string): Init<client.DescribeTopicResponse> {
    const meta = this.broker.controller.state.topics.get(topic);
    if (!meta) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${topic}" does not exist`);
    return {
      topic,
      config: meta.config,
      partitions: meta.partitions.map((p) => {
        const replica = this.broker.replicas.replica(topic, p.partition);
        return {
          partition: p.partition,
          leader: this.leaderOf(topic, p.partition).leader,
          replicas: p.replicas,
          inSync: this.inSyncOf(topic, p.partition, p.replicas),
          highWatermark: replica?.highWatermark ?? -1,
          logStartOffset: replica?.logStartOffset ?? -1,
        };
      }),
    };
  }

  private describeCluster(): Init<client.DescribeClusterResponse> {
    const leaders = new Map<number, number>();
    for (const replica of this.broker.replicas.all()) {
      const id = replica.group.node.status().leaderId;
      if (id) leaders.set(id, (leaders.get(id) ?? 0) + 1);
    }
    return {
      controllerId: this.broker.controller.leaderId,
      brokers: [...this.broker.controller.state.brokers.values()]
        .sort((a, b) => a.id - b.id)
        .map((b) => ({ id: b.id, address: b.address, alive: this.broker.transport.isConnected(b.id), leaders: leaders.get(b.id) ?? 0 })),
    };
  }
}
