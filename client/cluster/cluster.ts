/**
 * The client's view of the cluster: a connection pool keyed by broker address, and a
 * metadata cache (brokers, controller, partition leaders and replicas) that answers
 * "where do I send this" for the producer, consumer and admin.
 *
 * The cache is refreshed lazily: when it is older than metadataMaxAgeMs, when a topic is
 * missing from it, and after NOT_LEADER, LEADER_NOT_AVAILABLE, NOT_CONTROLLER and
 * BROKER_NOT_AVAILABLE. Concurrent refreshes share one request. A NOT_LEADER that names
 * the new leader updates the cache at once, so the retry goes straight there.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { Connection, type EnvelopeCodec, type RequestOptions } from '../network/connection.js';
import type { BrokerAddress, ClientRequest, ClientResponse, MetadataResult, OffsetTarget, PartitionMetadata, ResponseOf, TopicMetadata } from '../network/api.js';
import type { ResolvedClientOptions } from '../options.js';
import { silentLogger, type ClientLogger } from '../logger.js';
import { asFlotillaError, retryUntil, type RetryPolicy } from './retry.js';
import { saslAuthenticator } from '../network/sasl.js';

export class Cluster {
  readonly logger: ClientLogger;
  readonly retryPolicy: RetryPolicy;
  private readonly connections = new Map<string, Connection<ClientRequest, ClientResponse>>();
  private brokers = new Map<number, BrokerAddress>();
  private controller: number | null = null;
  private readonly topics = new Map<string, { info: TopicMetadata; fetchedAt: number }>();
  private refreshing: Promise<MetadataResult> | null = null;
  private nextBootstrap = 0;
  private closed = false;

  constructor(
    readonly options: ResolvedClientOptions,
    private readonly codec: EnvelopeCodec<ClientRequest, ClientResponse>,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.retryPolicy = { initialBackoffMs: options.retryBackoffMs, maxBackoffMs: options.maxRetryBackoffMs };
  }

  // ----------------------------------------------------------------------------- network

  connection(address: string): Connection<ClientRequest, ClientResponse> {
    // A usage error, not a retriable one: retrying cannot reopen a closed client.
    if (this.closed) throw new FlotillaError('INVALID_REQUEST', 'the client is closed; create a new Client');
    let connection = this.connections.get(address);
    if (!connection) {
      connection = new Connection(this.codec, {
        address,
        requestTimeoutMs: this.options.requestTimeoutMs,
        connectTimeoutMs: this.options.connectTimeoutMs,
        maxFrameBytes: this.options.maxFrameBytes,
        logger: this.logger,
        ...(this.options.sasl ? { authenticate: saslAuthenticator(this.options.sasl) } : {}),
        ...(this.options.tls ? { tls: this.options.tls } : {}),
      });
      this.connections.set(address, connection);
    }
    return connection;
  }

  /** One request to one broker, no retry; the answer's type is checked against the request's. */
  async send<R extends ClientRequest>(address: string, request: R, options?: RequestOptions): Promise<ResponseOf<R['type']>> {
    const response = await this.connection(address).request(request, options);
    if (response === undefined && options?.expectResponse === false) return undefined as never;
    if (!response || response.type !== request.type) {
      throw new FlotillaError('INTERNAL', `broker ${address} answered a ${request.type} request with ${response ? response.type : 'nothing'}`);
    }
    return response as ResponseOf<R['type']>;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.connections.clear();
  }

  // ---------------------------------------------------------------------------- metadata

  brokerAddress(id: number): string | undefined {
    return this.brokers.get(id)?.address;
  }

  knownBrokers(): BrokerAddress[] {
    return [...this.brokers.values()];
  }

  get controllerId(): number | null {
    return this.controller;
  }

  /** Metadata for every topic, fresh from a broker. */
  async refreshMetadata(deadline = Date.now() + this.options.requestTimeoutMs): Promise<MetadataResult> {
    if (!this.refreshing) {
      this.refreshing = this.fetchMetadata(deadline).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  /** The cached partitions of a topic, however old, without asking a broker. */
  cachedTopic(topic: string): TopicMetadata | undefined {
    return this.topics.get(topic)?.info;
  }

  /** The cached leader's address of a partition, without asking a broker; undefined when not known. */
  cachedLeaderAddress(topic: string, partition: number): string | undefined {
    const info = this.topics.get(topic)?.info;
    const leader = info ? partitionOf(info, partition)?.leader : null;
    return leader == null ? undefined : this.brokerAddress(leader);
  }

  /** Forgets a topic so the next lookup asks a broker (after NOT_LEADER and the like). */
  invalidateTopic(topic: string): void {
    this.topics.delete(topic);
  }

  /**
   * The topic's partitions from the cache, refreshed when stale or missing. When a fresh
   * listing leaves the topic out, the broker is asked about it by name: a topic the user
   * may not see is left out of listings, and only the named answer tells NOT_AUTHORIZED
   * from UNKNOWN_TOPIC.
   */
  async topic(topic: string, deadline = Date.now() + this.options.requestTimeoutMs): Promise<TopicMetadata> {
    const cached = this.topics.get(topic);
    if (cached && Date.now() - cached.fetchedAt < this.options.metadataMaxAgeMs) return cached.info;
    await this.refreshMetadata(deadline);
    const fresh = this.topics.get(topic);
    if (fresh) return fresh.info;
    await this.anyBrokerRequest({ type: 'describeTopic', topic }, deadline); // throws NOT_AUTHORIZED or UNKNOWN_TOPIC
    throw new FlotillaError('UNKNOWN_TOPIC', `topic "${topic}" does not exist; create it first with \`flotilla topic create ${topic}\` (topics are never created implicitly)`);
  }

  async partition(topic: string, partition: number, deadline?: number): Promise<PartitionMetadata> {
    const info = await this.topic(topic, deadline);
    const found = partitionOf(info, partition);
    if (!found) {
      throw new FlotillaError('UNKNOWN_PARTITION', `topic "${topic}" has partitions 0-${info.partitions.length - 1}; there is no partition ${partition}`);
    }
    return found;
  }

  /**
   * Address of the partition's leader; LEADER_NOT_AVAILABLE (retriable) when there is
   * none. A partition whose leader was forgotten (after a failure) refreshes the metadata
   * first. A broker reports leaders only for partitions it holds a replica of, so when the
   * broker that answered did not know, the partition's replicas are asked before giving up.
   */
  async leaderAddress(topic: string, partition: number, deadline?: number): Promise<{ id: number; address: string }> {
    let info = await this.partition(topic, partition, deadline);
    if (info.leader === null) {
      // One metadata request serves every partition asking at once (after a broker died,
      // thousands may); only partitions still without a leader ask their replicas.
      await this.refreshMetadata(deadline);
      info = await this.partition(topic, partition, deadline);
    }
    if (info.leader === null) await this.askReplicasForLeader(topic, info);
    const address = info.leader === null ? undefined : this.brokerAddress(info.leader);
    if (info.leader === null || address === undefined) {
      info.leader = null; // asked again at the next attempt
      throw new FlotillaError('LEADER_NOT_AVAILABLE', `partition ${topic}/${partition} has no leader right now (an election is in progress or too few of its replicas are up)`);
    }
    return { id: info.leader, address };
  }

  /** Asks the partition's replicas for the topic's metadata and keeps the leader with the newest term. */
  private async askReplicasForLeader(topic: string, info: PartitionMetadata): Promise<void> {
    const answers = await Promise.allSettled(
      info.replicas
        .map((id) => this.brokerAddress(id))
        .filter((address): address is string => address !== undefined)
        // The topic alone: the whole listing of a cluster with 50,000 partitions is megabytes.
        .map((address) => this.send(address, { type: 'metadata', topics: [topic] })),
    );
    for (const answer of answers) {
      if (answer.status !== 'fulfilled') continue;
      const seen = answer.value.result.topics.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === info.partition);
      if (seen && seen.leader !== null && (info.leader === null || seen.leaderTerm > info.leaderTerm)) {
        info.leader = seen.leader;
        info.leaderTerm = seen.leaderTerm;
      }
    }
  }

  /**
   * Reacts to a failed partition request: NOT_LEADER with a named leader updates the
   * cache in place; any other retriable error forgets the partition's leader; UNKNOWN_*
   * drops the topic.
   */
  noteFailure(topic: string, partition: number, error: FlotillaError): void {
    const topicInfo = this.topics.get(topic)?.info;
    const info = topicInfo ? partitionOf(topicInfo, partition) : undefined;
    if (error.code === 'NOT_LEADER' && typeof error.details.leaderId === 'number' && error.details.leaderId > 0) {
      const leaderId = error.details.leaderId;
      if (typeof error.details.leaderAddress === 'string' && error.details.leaderAddress) {
        this.brokers.set(leaderId, { id: leaderId, address: error.details.leaderAddress });
      }
      if (info && this.brokers.has(leaderId)) {
        info.leader = leaderId;
        return;
      }
    }
    // After UNKNOWN_*: a topic deleted and created again must not keep old leaders.
    if (error.code === 'UNKNOWN_TOPIC' || error.code === 'UNKNOWN_PARTITION') {
      this.invalidateTopic(topic);
    } else if (error.retriable) {
      // Forget only this partition's leader, and look it up again when it is next needed
      // (at the retry). Dropping the whole topic let the next send() refetch it at once,
      // while the dead leader was still everyone's answer, and cache that for the retry.
      if (info) info.leader = null;
      else this.invalidateTopic(topic);
    }
  }

  /**
   * A request for the controller (create/delete/alter topic): sent to the controller
   * leader, retried on NOT_CONTROLLER and other retriable errors until `deadline`.
   * `onRetriable` hears each failure that is retried.
   */
  async controllerRequest<R extends ClientRequest>(request: R, deadline: number, onRetriable?: (error: FlotillaError) => void): Promise<ResponseOf<R['type']>> {
    return retryUntil(
      this.retryPolicy,
      deadline,
      async () => {
        const address = await this.controllerAddress(deadline);
        return this.send(address, request);
      },
      (error) => {
        onRetriable?.(error);
        if (error.code === 'NOT_CONTROLLER' && typeof error.details.leaderId === 'number' && error.details.leaderId > 0) {
          this.controller = error.details.leaderId;
          if (typeof error.details.leaderAddress === 'string' && error.details.leaderAddress) {
            this.brokers.set(this.controller, { id: this.controller, address: error.details.leaderAddress });
          }
        } else {
          this.controller = null;
        }
      },
    );
  }

  /** A request for a partition's leader, retried (following NOT_LEADER) until `deadline`. */
  async leaderRequest<R extends ClientRequest & { topic: string; partition: number }>(request: R, deadline = Date.now() + this.options.requestTimeoutMs): Promise<ResponseOf<R['type']>> {
    return retryUntil(
      this.retryPolicy,
      deadline,
      async () => {
        const leader = await this.leaderAddress(request.topic, request.partition, deadline);
        return this.send(leader.address, request);
      },
      (error) => this.noteFailure(request.topic, request.partition, error),
    );
  }

  /**
   * Where `target` is in a partition, as its leader says: the log start, the high
   * watermark, or the first record at or after a timestamp — the high watermark when no
   * record is that late (what a reader starting there sees next), as Kafka's tools do.
   */
  async offsetFor(topic: string, partition: number, target: OffsetTarget, deadline?: number): Promise<number> {
    const { result } = await this.leaderRequest({ type: 'listOffsets', topic, partition, target }, deadline);
    if (typeof target === 'object' && result.offset < 0) return this.offsetFor(topic, partition, 'latest', deadline);
    return result.offset;
  }

  /**
   * A request any broker can answer (describe, or forwarded to the controller by the
   * broker itself): tried at the known brokers in turn, retriable errors retried until
   * `deadline`.
   */
  async anyBrokerRequest<R extends ClientRequest>(request: R, deadline: number): Promise<ResponseOf<R['type']>> {
    return retryUntil(this.retryPolicy, deadline, () => this.askAnyBroker(request, deadline));
  }

  /**
   * One pass over the brokers: known brokers first, then the bootstrap list, rotated so
   * that one dead broker does not take every first try. Moves to the next broker only when
   * one is unreachable; any other answer, error or not, is the answer.
   */
  private async askAnyBroker<R extends ClientRequest>(request: R, deadline: number): Promise<ResponseOf<R['type']>> {
    const candidates = this.metadataCandidates();
    let lastError: FlotillaError | null = null;
    for (const address of candidates) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      try {
        return await this.send(address, request, { timeoutMs: Math.min(remaining, this.options.requestTimeoutMs) });
      } catch (err) {
        lastError = asFlotillaError(err);
        this.logger.debug({ broker: address, request: request.type, code: lastError.code }, 'request failed');
        if (lastError.code !== 'BROKER_NOT_AVAILABLE' && lastError.code !== 'TIMEOUT' && lastError.code !== 'SHUTTING_DOWN') throw lastError;
      }
    }
    throw new FlotillaError(
      'BROKER_NOT_AVAILABLE',
      `no broker answered (tried ${candidates.join(', ')}); check that the brokers are running and --brokers is right${lastError ? ` (last error: ${lastError.code}: ${lastError.message})` : ''}`,
      {},
      { cause: lastError },
    );
  }

  private async controllerAddress(deadline: number): Promise<string> {
    if (this.controller === null || !this.brokers.has(this.controller)) await this.refreshMetadata(deadline);
    const address = this.controller === null ? undefined : this.brokerAddress(this.controller);
    if (address === undefined) {
      throw new FlotillaError('NOT_CONTROLLER', 'the cluster has no controller leader right now (election in progress); retrying');
    }
    return address;
  }

  /** Metadata from any broker, retried until `deadline` while no broker answers. */
  private async fetchMetadata(deadline: number): Promise<MetadataResult> {
    const { result } = await this.anyBrokerRequest({ type: 'metadata' }, deadline);
    this.applyMetadata(result);
    return result;
  }

  private metadataCandidates(): string[] {
    const bootstrap = this.options.brokers;
    const start = this.nextBootstrap++ % bootstrap.length;
    const rotated = [...bootstrap.slice(start), ...bootstrap.slice(0, start)];
    const known = [...this.brokers.values()].map((b) => b.address);
    const knownStart = known.length > 0 ? start % known.length : 0;
    return [...new Set([...known.slice(knownStart), ...known.slice(0, knownStart), ...rotated])];
  }

  /**
   * Replaces the cache with a broker's answer, except that a partition whose cached
   * leader term is newer keeps its cached leader: brokers learn about elections at
   * different times, and a lagging broker must not send us back to an old leader.
   */
  private applyMetadata(result: MetadataResult): void {
    const now = Date.now();
    const previous = new Map<string, PartitionMetadata>();
    for (const { info } of this.topics.values()) for (const p of info.partitions) previous.set(`${p.partition}\u0000${info.topic}`, p);
    this.brokers = new Map(result.brokers.map((b) => [b.id, b]));
    this.controller = result.controller;
    this.topics.clear();
    for (const topic of result.topics) {
      for (const p of topic.partitions) {
        const cached = previous.get(`${p.partition}\u0000${topic.topic}`);
        if (cached && cached.leaderTerm > p.leaderTerm && cached.leader !== null) {
          p.leader = cached.leader;
          p.leaderTerm = cached.leaderTerm;
        }
      }
      this.topics.set(topic.topic, { info: topic, fetchedAt: now });
    }
  }
}

/** A partition's metadata: partitions are listed in order, so usually at its own index. */
function partitionOf(info: TopicMetadata, partition: number): PartitionMetadata | undefined {
  const at = info.partitions[partition];
  return at?.partition === partition ? at : info.partitions.find((p) => p.partition === partition);
}
