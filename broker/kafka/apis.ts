/**
 * What each Kafka api does, as requests to the broker's one Dispatcher: a Kafka request
 * becomes the client protocol's request (produce, fetch, metadata, ...), runs through the
 * same hooks and handlers as a native one, and its answer becomes the Kafka response, with
 * errors mapped by `errors.ts`. Only what the native protocol cannot ask is read here
 * directly from the hosted replica: whether this broker leads a partition, which follower a
 * client should fetch from (its rack) and the end offset of a leader epoch (the term runs).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { asMagic2Batches, batchBounds } from '../../protocol/batch.js';
import type { client } from '../../protocol/codec.js';
import { OffsetSpec } from '../../protocol/client.schema.js';
import { errorFromWire, FlotillaError } from '../../protocol/errors.js';
import {
  encodeResponse,
  type KafkaApiName,
  type KafkaCodecError,
  type KafkaRequest,
  type RequestBody,
  type ResponseInput,
} from '../../protocol/kafka/index.js';
import { DEFAULT_TOPIC_CONFIG, validatePartitionCount, validateTopicConfig, validateTopicName, type TopicConfig } from '../../protocol/topics.js';
import { controllerRequest, type InterBrokerAccess } from '../cluster-request.js';
import { parseHostPort } from '../config.js';
import type { HostedReplicas } from '../partition/hosted.js';
import type { PartitionReplica } from '../partition/partition.js';
import type { Dispatcher, RequestContext, RequestOf, RequestType, ResponseOf } from '../requests/dispatcher.js';
import { asFlotillaError } from '../requests/dispatcher.js';
import type { Authorizer } from '../security/authorizer.js';
import { groupRefusal, requestRefusal, topicRefusal } from '../security/request-acls.js';
import type { KafkaSasl, SaslAnswer } from './authentication.js';
import { KafkaError, kafkaErrorOf, kafkaErrorOfInfo } from './errors.js';
import { GroupError, type KafkaGroups } from './groups.js';
import { AnswerThenClose, type KafkaRequestHandler } from './server.js';

/** Apis and versions this listener serves and advertises (SPEC section 11). */
export const ADVERTISED_VERSIONS: Partial<Record<KafkaApiName, { min: number; max: number }>> = {
  Produce: { min: 3, max: 8 },
  Fetch: { min: 4, max: 11 },
  ListOffsets: { min: 1, max: 7 },
  Metadata: { min: 0, max: 8 },
  ApiVersions: { min: 0, max: 3 },
  CreateTopics: { min: 2, max: 4 },
  DeleteTopics: { min: 1, max: 3 },
  InitProducerId: { min: 0, max: 1 },
  OffsetForLeaderEpoch: { min: 2, max: 3 },
  DescribeConfigs: { min: 0, max: 2 },
  FindCoordinator: { min: 0, max: 2 },
  JoinGroup: { min: 0, max: 5 },
  SyncGroup: { min: 0, max: 3 },
  Heartbeat: { min: 0, max: 3 },
  LeaveGroup: { min: 0, max: 3 },
  OffsetCommit: { min: 2, max: 7 },
  OffsetFetch: { min: 1, max: 5 },
  ListGroups: { min: 0, max: 2 },
  DescribeGroups: { min: 0, max: 3 },
  SaslHandshake: { min: 0, max: 1 },
  SaslAuthenticate: { min: 0, max: 1 },
};

const API_KEYS: Record<string, number> = {
  Produce: 0, Fetch: 1, ListOffsets: 2, Metadata: 3, ApiVersions: 18, CreateTopics: 19, DeleteTopics: 20, InitProducerId: 22, OffsetForLeaderEpoch: 23, DescribeConfigs: 32,
  OffsetCommit: 8, OffsetFetch: 9, FindCoordinator: 10, JoinGroup: 11, Heartbeat: 12, LeaveGroup: 13, SyncGroup: 14, DescribeGroups: 15, ListGroups: 16,
  SaslHandshake: 17, SaslAuthenticate: 36,
};

/** Kafka's topic settings that Flotilla has, by Kafka's names. */
const TOPIC_SETTINGS: ReadonlyArray<[string, keyof TopicConfig]> = [
  ['retention.ms', 'retentionMs'],
  ['retention.bytes', 'retentionBytes'],
  ['segment.bytes', 'segmentBytes'],
];
/** ListOffsets' special timestamps as the native offset specs; any other timestamp looks offsets up by it. */
const KAFKA_OFFSET_SPECS: Record<number, OffsetSpec> = {
  [-1]: OffsetSpec.OFFSET_LATEST,
  [-2]: OffsetSpec.OFFSET_EARLIEST,
  [-3]: OffsetSpec.OFFSET_MAX_TIMESTAMP,
};
const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
const CONFIG_SOURCE_TOPIC = 1;
const CONFIG_SOURCE_DEFAULT = 5;
const CONTROLLER_FORWARD_TIMEOUT_MS = 10_000;
/** How long Metadata of every topic waits on a broker still catching up (see everyTopic). */
const EVERY_TOPIC_WAIT_MS = 5_000;
const EVERY_TOPIC_RETRY_MS = 100;

export interface KafkaBroker {
  readonly dispatcher: Dispatcher;
  /** SASL on this listener (broker/kafka/authentication.ts). */
  readonly sasl: KafkaSasl;
  /**
   * The dispatcher's authorizer, or null when authorization is off: Kafka apis that are no
   * native request (groups, leader-only reads) check SPEC section 9's table here, by the
   * native request type whose needs they share.
   */
  readonly authorizer: Authorizer | null;
  readonly replicas: HostedReplicas;
  readonly clusterId: string;
  readonly groups: KafkaGroups;
  /** The controller leader's Kafka address (the group coordinator), if known. */
  coordinator(): { nodeId: number; kafkaAddress: string } | null;
  /** A broker's --rack as the metadata records it, if any. */
  rackOf(brokerId: number): string | undefined;
  /**
   * The brokers this broker knows with a Kafka address, itself always among them, whether
   * or not its metadata is current: what Metadata lists when it cannot answer yet.
   */
  knownBrokers(): Array<{ id: number; kafkaAddress: string; rack?: string }>;
  /** Hears how the partitions of each Kafka fetch were served: read here as leader or follower, or redirected to a preferred read replica. */
  countFetches(served: KafkaFetchesServed): void;
  /** How this broker reaches the controller leader (TLS, the inter-broker SCRAM user). */
  readonly access: InterBrokerAccess;
  /** Whether the metadata as applied here has a topic of this name. */
  topicExists(name: string): boolean;
  /** The brokers of the cluster as the metadata applied here has them (with or without a Kafka address). */
  brokerCount(): number;
  /** --max-frame-bytes: a Produce request over it is answered MESSAGE_TOO_LARGE (see server.ts). */
  readonly maxFrameBytes: number;
  /** Whether this broker is connected to that one (itself always): Metadata lists only those, as Kafka lists only live brokers. */
  reachable(brokerId: number): boolean;
}

export interface KafkaFetchesServed {
  leader: number;
  follower: number;
  redirected: number;
}

type Body<N extends KafkaApiName> = RequestBody<N>;
type Answer<N extends KafkaApiName> = ResponseInput<N>;

export class KafkaApis implements KafkaRequestHandler {
  constructor(private readonly broker: KafkaBroker) {}

  async handle(request: KafkaRequest, context: RequestContext, overLimitBytes?: number): Promise<Buffer[] | null> {
    const { apiVersion: version, correlationId } = request.header;
    const advertised = ADVERTISED_VERSIONS[request.api];
    if (!advertised || version < advertised.min || version > advertised.max) {
      throw new FlotillaError('UNSUPPORTED_VERSION', `${request.api} v${version} is not served by this listener`);
    }
    if (!this.broker.sasl.admits(request.api, context.session)) {
      throw new FlotillaError('AUTHENTICATION_FAILED', `${request.api} before authentication: only ApiVersions, SaslHandshake and SaslAuthenticate are served until then`);
    }
    const reply = <N extends KafkaApiName>(api: N, body: Answer<N>): Buffer[] => encodeResponse(api, version, correlationId, body);
    /** A SASL answer, and the end of the connection when the exchange failed. */
    const replySasl = <N extends 'SaslHandshake' | 'SaslAuthenticate'>(api: N, answer: SaslAnswer<Answer<N>>): Buffer[] => {
      const chunks = reply(api, answer.body);
      if (answer.closeWhy !== undefined) throw new AnswerThenClose(chunks, answer.closeWhy);
      return chunks;
    };
    const groups = this.broker.groups;
    switch (request.api) {
      case 'ApiVersions':
        return reply('ApiVersions', apiVersions(KafkaError.NONE));
      case 'SaslHandshake':
        return replySasl('SaslHandshake', await this.broker.sasl.handshake(request.body.mechanism, version, context));
      case 'SaslAuthenticate':
        return replySasl('SaslAuthenticate', await this.broker.sasl.authenticate(request.body.authBytes, context));
      case 'Metadata':
        return reply('Metadata', await this.metadata(request.body, version, context));
      case 'Produce': {
        const answer = await this.produce(request.body, context, overLimitBytes);
        return answer && reply('Produce', answer);
      }
      case 'Fetch':
        return reply('Fetch', await this.fetch(request.body, version, context));
      case 'ListOffsets':
        return reply('ListOffsets', await this.listOffsets(request.body, context));
      case 'OffsetForLeaderEpoch':
        return reply('OffsetForLeaderEpoch', this.offsetForLeaderEpoch(request.body, context));
      case 'InitProducerId':
        return reply('InitProducerId', await this.initProducerId(request.body, context));
      case 'CreateTopics':
        return reply('CreateTopics', await this.createTopics(request.body, context));
      case 'DeleteTopics':
        return reply('DeleteTopics', await this.deleteTopics(request.body, context));
      case 'DescribeConfigs':
        return reply('DescribeConfigs', await this.describeConfigs(request.body, context));
      case 'FindCoordinator':
        return reply('FindCoordinator', this.findCoordinator(request.body, context));
      case 'JoinGroup':
        return reply('JoinGroup', await this.joinGroup(request.body, context));
      case 'SyncGroup': {
        const b = request.body;
        // Kafka's rule: read on the group, as for joining.
        const refused = this.refusedRequest(context, 'joinGroup', b.groupId);
        return reply('SyncGroup', refused ? { errorCode: refused, assignment: Buffer.alloc(0) } : await groups.sync(b.groupId, b.generationId, b.memberId, b.assignments, b.groupInstanceId));
      }
      case 'Heartbeat': {
        const b = request.body;
        return reply('Heartbeat', { errorCode: this.refusedRequest(context, 'heartbeat', b.groupId) || groups.heartbeat(b.groupId, b.generationId, b.memberId, b.groupInstanceId) });
      }
      case 'LeaveGroup':
        return reply('LeaveGroup', this.leaveGroup(request.body, version, context));
      case 'OffsetCommit':
        return reply('OffsetCommit', await this.offsetCommit(request.body, context));
      case 'OffsetFetch':
        return reply('OffsetFetch', this.offsetFetch(request.body, context));
      case 'ListGroups': {
        // Each broker lists the groups it coordinates (clients ask them all): others have none.
        const listed = groups.refusal() === KafkaError.NONE ? groups.list() : [];
        return reply('ListGroups', { errorCode: 0, groups: listed.filter((g) => !this.refusedGroup(context, 'listGroups', g.groupId)) });
      }
      case 'DescribeGroups':
        return reply('DescribeGroups', this.describeGroups(request.body, context));
      default:
        throw new FlotillaError('UNSUPPORTED_VERSION', `${(request as KafkaRequest).api} is not served by this listener`);
    }
  }

  /** ApiVersions of a version we do not speak gets a v0 answer listing what we do (as Kafka does); anything else closes. */
  unsupported(error: KafkaCodecError): Buffer[] | null {
    if (error.api !== 'ApiVersions' || error.correlationId === undefined) return null;
    return encodeResponse('ApiVersions', 0, error.correlationId, apiVersions(KafkaError.UNSUPPORTED_VERSION));
  }

  /** One native request through the dispatcher (hooks included); its response body. */
  private async ask<T extends RequestType>(type: T, body: RequestOf<T>, context: RequestContext): Promise<ResponseOf<T> | null> {
    const response = await this.broker.dispatcher.dispatch({ body: type, [type]: body } as Pick<client.Request, 'body'>, context);
    return response === null ? null : (response[type] as ResponseOf<T>);
  }

  /**
   * The Kafka code refusing what a request of native `type` needs as a whole (cluster, the
   * group it names), or NONE: for Kafka apis that do not pass the dispatcher. By Kafka's
   * codes: TOPIC_, GROUP_ or CLUSTER_AUTHORIZATION_FAILED.
   */
  private refusedRequest(context: RequestContext, type: RequestType, group = ''): number {
    const { authorizer } = this.broker;
    const principal = context.session.principal;
    if (!authorizer) return KafkaError.NONE;
    if (principal === undefined) return KafkaError.SASL_AUTHENTICATION_FAILED;
    const refusal = requestRefusal(authorizer, principal, type, group);
    return refusal ? kafkaErrorOf(refusal) : KafkaError.NONE;
  }

  /** The same for one topic a request of `type` names (refused whether or not it exists). */
  private refusedTopic(context: RequestContext, type: RequestType, topic: string): number {
    const { authorizer } = this.broker;
    const principal = context.session.principal;
    if (!authorizer) return KafkaError.NONE;
    if (principal === undefined) return KafkaError.SASL_AUTHENTICATION_FAILED;
    return topicRefusal(authorizer, principal, type, topic) ? KafkaError.TOPIC_AUTHORIZATION_FAILED : KafkaError.NONE;
  }

  /** The same for one group a request of `type` names or lists. */
  private refusedGroup(context: RequestContext, type: RequestType, group: string): number {
    const { authorizer } = this.broker;
    const principal = context.session.principal;
    if (!authorizer) return KafkaError.NONE;
    if (principal === undefined) return KafkaError.SASL_AUTHENTICATION_FAILED;
    return groupRefusal(authorizer, principal, type, group) ? KafkaError.GROUP_AUTHORIZATION_FAILED : KafkaError.NONE;
  }

  /** The first request of a connection whose client certificate was refused: ApiVersions learns why. */
  refused(request: KafkaRequest, refusal: FlotillaError): Buffer[] | null {
    if (request.api !== 'ApiVersions') return null;
    return encodeResponse('ApiVersions', request.header.apiVersion, request.header.correlationId, { errorCode: kafkaErrorOf(refusal), apiKeys: [] });
  }

  awaitsRawToken(session: RequestContext['session']): boolean {
    return this.broker.sasl.awaitsRawToken(session);
  }

  admits(api: KafkaApiName, session: RequestContext['session']): boolean {
    return this.broker.sasl.admits(api, session);
  }

  rawToken(token: Buffer, context: RequestContext): Promise<Buffer[]> {
    return this.broker.sasl.rawToken(token, context);
  }

  // ---------------------------------------------------------------------------------------
  // Metadata

  /**
   * Metadata of every topic. A broker still catching up with the metadata cannot list them,
   * and a list without topics would tell a client there are none (an admin's listTopics, a
   * consumer's pattern subscription): such a request waits for the metadata, up to
   * EVERY_TOPIC_WAIT_MS, and then the connection closes unanswered, which Kafka clients
   * retry, on another broker where they can.
   */
  private async everyTopic(context: RequestContext): Promise<ResponseOf<'metadata'>> {
    const deadline = performance.now() + EVERY_TOPIC_WAIT_MS;
    for (;;) {
      try {
        return (await this.ask('metadata', { topics: [] }, context))!;
      } catch (error) {
        if (!asFlotillaError(error).retriable) throw error;
        if (performance.now() >= deadline) {
          throw new FlotillaError('BROKER_NOT_AVAILABLE', `Metadata of every topic: the metadata did not become current within ${EVERY_TOPIC_WAIT_MS} ms (${asFlotillaError(error).message})`);
        }
        await sleep(EVERY_TOPIC_RETRY_MS);
      }
    }
  }

  private async metadata(body: Body<'Metadata'>, version: number, context: RequestContext): Promise<Answer<'Metadata'>> {
    // v0: an empty list asks for every topic; v1+: null does, and an empty list for none.
    const every = body.topics === null || (version === 0 && body.topics.length === 0);
    const names = every ? [] : body.topics!.map((t) => t.name ?? '');
    let native: ResponseOf<'metadata'>;
    try {
      native = every ? await this.everyTopic(context) : (await this.ask('metadata', { topics: names }, context))!;
    } catch (error) {
      const retriable = asFlotillaError(error).retriable;
      if (every && retriable) throw error; // closes the connection unanswered (see everyTopic)
      // Not answerable here yet (a broker just started and still catching up with the
      // metadata): the brokers it knows, so that a client keeps its connections (kafkajs
      // drops every broker a Metadata answer leaves out), and LEADER_NOT_AVAILABLE for
      // each topic asked about, which every Kafka client retries.
      const errorCode = retriable ? KafkaError.LEADER_NOT_AVAILABLE : kafkaErrorOf(error);
      return { brokers: kafkaBrokersOf(this.broker.knownBrokers()), controllerId: -1, clusterId: this.broker.clusterId, topics: names.map((name) => ({ name, errorCode })) };
    }
    // A broker that is down is left out, and its replicas are offline: clients stop dialling
    // it (kafkajs gave up on a consumer after retrying a killed broker for ~18 s).
    const live = (native.brokers ?? []).filter((b) => b?.kafkaAddress && b.id && this.broker.reachable(b.id));
    const brokers = kafkaBrokersOf(live.map((b) => ({ id: b!.id!, kafkaAddress: b!.kafkaAddress!, rack: b!.rack ?? undefined })));
    const kafkaBrokers = new Set(brokers.map((b) => b.nodeId));
    const wanted = every || names.length > 0 ? native.topics ?? [] : [];
    return {
      brokers,
      clusterId: this.broker.clusterId,
      controllerId: native.controllerId && kafkaBrokers.has(native.controllerId) ? native.controllerId : -1,
      topics: wanted.map((t) => ({
        name: t?.topic ?? '',
        errorCode: kafkaErrorOfInfo(t?.error),
        isInternal: false,
        partitions: (t?.partitions ?? []).map((p) => {
          const leader = p?.leader && kafkaBrokers.has(p.leader) ? p.leader : -1;
          return {
            errorCode: leader === -1 ? KafkaError.LEADER_NOT_AVAILABLE : KafkaError.NONE,
            partitionIndex: p?.partition ?? 0,
            leaderId: leader,
            leaderEpoch: p?.leaderTerm ?? -1,
            replicaNodes: (p?.replicas ?? []) as number[],
            isrNodes: (p?.inSync ?? []) as number[],
            offlineReplicas: ((p?.replicas ?? []) as number[]).filter((id) => !kafkaBrokers.has(id)),
          };
        }),
      })),
    };
  }

  // ---------------------------------------------------------------------------------------
  // Produce

  /**
   * acks 0 gets no answer (a failure closes the connection); 1 and -1 both answer once a
   * majority holds the batch (Flotilla acknowledges nothing less). Each partition carries
   * exactly one batch, stored as it is.
   */
  private async produce(body: Body<'Produce'>, context: RequestContext, overLimitBytes?: number): Promise<Answer<'Produce'> | null> {
    type PartitionAnswer = { index: number; errorCode: number; baseOffset: number; logStartOffset: number; errorMessage: string | null };
    const answers: PartitionAnswer[][] = body.topicData.map((t) => t.partitionData.map((p) => ({ index: p.index, errorCode: 0, baseOffset: -1, logStartOffset: -1, errorMessage: null })));
    const fail = (answer: PartitionAnswer, code: number, message: string) => Object.assign(answer, { errorCode: code, errorMessage: message });
    const sent: Array<{ answer: PartitionAnswer }> = [];
    const partitions: client.ProducePartition[] = [];
    const validAcks = body.acks === 0 || body.acks === 1 || body.acks === -1;
    body.topicData.forEach((t, ti) =>
      t.partitionData.forEach((p, pi) => {
        const answer = answers[ti]![pi]!;
        if (!validAcks) return fail(answer, KafkaError.INVALID_REQUIRED_ACKS, `acks must be 0, 1 or -1, got ${body.acks}`);
        if (overLimitBytes !== undefined) {
          const limit = this.broker.maxFrameBytes;
          return fail(answer, KafkaError.MESSAGE_TOO_LARGE, `the request was ${overLimitBytes} bytes, over the broker's --max-frame-bytes ${limit}: nothing in it was stored; send smaller batches`);
        }
        if (body.transactionalId !== null) return fail(answer, KafkaError.INVALID_REQUEST, 'transactions are not supported');
        if (!p.records || !isOneBatch(p.records)) return fail(answer, KafkaError.INVALID_RECORD, 'a produce request carries exactly one record batch per partition');
        sent.push({ answer });
        partitions.push({ topic: t.name, partition: p.index, batch: p.records });
      }),
    );
    if (partitions.length > 0) {
      // acks 0 is asked as the native "leader" (answered once appended at the leader, which
      // is at once) to learn of failures: the answer is dropped, but as in Kafka a failure
      // closes the connection, so that the client looks up the leaders again.
      const acks = body.acks === 0 ? 1 : 0; // ACKS_LEADER, ACKS_ALL
      try {
        const native = await this.ask('produce', { acks, timeoutMs: Math.max(1, body.timeoutMs), partitions }, context);
        (native?.partitions ?? []).forEach((result, i) => {
          const answer = sent[i]!.answer;
          const errorCode = kafkaErrorOfInfo(result?.error);
          if (errorCode !== KafkaError.NONE) fail(answer, errorCode, result?.error?.message ?? '');
          else Object.assign(answer, { baseOffset: result?.baseOffset ?? -1, logStartOffset: result?.logStartOffset ?? -1 });
        });
      } catch (error) {
        for (const { answer } of sent) fail(answer, kafkaErrorOf(error), asFlotillaError(error).message);
      }
    }
    if (body.acks === 0) {
      const failed = answers.flat().find((a) => a.errorCode !== KafkaError.NONE);
      if (failed) throw new AnswerThenClose([], `a produce with acks 0 failed (${failed.errorMessage}); closing the connection as Kafka does`);
      return null;
    }
    return {
      responses: body.topicData.map((t, ti) => ({
        name: t.name,
        partitionResponses: answers[ti]!.map((a) => ({ ...a, logAppendTimeMs: -1, recordErrors: [] })),
      })),
    };
  }

  // ---------------------------------------------------------------------------------------
  // Fetch

  /**
   * Served by the partition's leader, and from v11 by any replica (Kafka's follower
   * fetching, KIP-392): a follower serves what it knows is committed. A leader asked by a
   * client of another rack, where an in-sync follower stands in the client's rack, answers
   * with that follower as the preferred read replica and no records, and the client fetches
   * from it. Below v11 others answer NOT_LEADER_OR_FOLLOWER, so the client refreshes its
   * metadata. Batches as stored, control batches included, magic 1 ones rewritten as
   * magic 2. No fetch sessions: session id 0 asks for full fetches.
   */
  private async fetch(body: Body<'Fetch'>, version: number, context: RequestContext): Promise<Answer<'Fetch'>> {
    type PartitionAnswer = { partitionIndex: number; errorCode: number; highWatermark: number; lastStableOffset: number; logStartOffset: number; preferredReadReplica: number; records: Buffer };
    const empty = Buffer.alloc(0);
    const answers: PartitionAnswer[][] = [];
    const sent: PartitionAnswer[] = [];
    const partitions: client.FetchPartition[] = [];
    const served = { leader: 0, follower: 0, redirected: 0 };
    for (const t of body.topics) {
      answers.push(
        t.partitions.map((p) => {
          const answer = { partitionIndex: p.partition, errorCode: 0, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, preferredReadReplica: -1, records: empty };
          // Authorization first: a topic the principal may not read is refused whether or not it is here.
          const refused = this.refusedTopic(context, 'fetch', t.topic);
          if (refused !== KafkaError.NONE) return { ...answer, errorCode: refused };
          const reader = this.reader(t.topic, p.partition, p.fetchOffset, version >= 11 ? body.rackId : null);
          if (typeof reader === 'number') return { ...answer, errorCode: reader };
          if ('preferred' in reader) {
            served.redirected++;
            const { replica } = reader;
            return { ...answer, preferredReadReplica: reader.preferred, highWatermark: replica.highWatermark, lastStableOffset: replica.highWatermark, logStartOffset: replica.logStartOffset };
          }
          served[reader.replica.isLeader ? 'leader' : 'follower']++;
          sent.push(answer);
          partitions.push({ topic: t.topic, partition: p.partition, offset: p.fetchOffset, maxBytes: Math.max(1, p.partitionMaxBytes) });
          return answer;
        }),
      );
    }
    this.broker.countFetches(served);
    const answeredHere = sent.length < answers.reduce((n, a) => n + a.length, 0);
    if (partitions.length > 0) {
      try {
        // A partition refused or sent elsewhere is news for the client: answer without a long
        // poll; so is a fetch with minBytes 0 (Kafka answers it at once, records or not).
        const maxWaitMs = answeredHere || body.minBytes <= 0 ? 0 : Math.max(0, body.maxWaitMs);
        const native = await this.ask('fetch', { partitions, maxWaitMs, minBytes: Math.max(0, body.minBytes), maxBytes: Math.max(1, body.maxBytes) }, context);
        (native?.partitions ?? []).forEach((result, i) => {
          const answer = sent[i]!;
          answer.errorCode = kafkaErrorOfInfo(result?.error);
          answer.highWatermark = answer.lastStableOffset = result?.highWatermark ?? -1;
          answer.logStartOffset = result?.logStartOffset ?? -1;
          if (result?.records && result.records.length > 0) answer.records = asMagic2Batches(asBuffer(result.records));
        });
      } catch (error) {
        for (const answer of sent) answer.errorCode = kafkaErrorOf(error);
      }
    } else if (!answeredHere && body.maxWaitMs > 0) {
      // Nothing asked: Kafka answers after the wait.
      await new Promise((resolve) => setTimeout(resolve, Math.min(body.maxWaitMs, 30_000)));
    }
    return {
      errorCode: 0,
      sessionId: 0,
      responses: body.topics.map((t, ti) => ({
        topic: t.topic,
        partitions: answers[ti]!.map((a) => ({ ...a, abortedTransactions: [] })),
      })),
    };
  }

  /**
   * Who serves a fetch of `offset`: this replica, another one the client should read from
   * (`preferred`, only from the leader and only for a client that named its rack), or the
   * Kafka error that sends the client elsewhere. `rack` is null below Fetch v11, where only
   * the leader serves.
   */
  private reader(topic: string, partition: number, offset: number, rack: string | null): { replica: PartitionReplica } | { replica: PartitionReplica; preferred: number } | number {
    const replica = this.broker.replicas.replica(topic, partition);
    if (!replica) return kafkaErrorOf(this.broker.replicas.notHostedError(topic, partition));
    if (replica.isLeader) {
      const preferred = rack ? this.preferredReadReplica(replica, rack, offset) : undefined;
      return preferred === undefined ? { replica } : { replica, preferred };
    }
    if (rack === null) return kafkaErrorOf(replica.notLeader());
    // Kafka's rule at a follower: past its log end is out of range (the client then asks
    // the leader again); between its high watermark and its log end the answer is empty.
    if (offset > replica.group.log.lastIndex() + 1) return KafkaError.OFFSET_OUT_OF_RANGE;
    return { replica };
  }

  /**
   * Kafka's RackAwareReplicaSelector: when the leader stands in another rack than the
   * client, the furthest caught up in-sync follower in the client's rack whose log reaches
   * the offset; undefined when the leader itself should serve.
   */
  private preferredReadReplica(leader: PartitionReplica, rack: string, offset: number): number | undefined {
    if (this.broker.rackOf(leader.group.node.id) === rack) return undefined;
    return leader.inSyncFollowersReaching(offset).find((id) => this.broker.rackOf(id) === rack);
  }

  /** NONE when this broker leads the partition, else the Kafka error that sends the client elsewhere. */
  private leaderRefusal(topic: string, partition: number): number {
    const replica = this.broker.replicas.replica(topic, partition);
    if (!replica) return kafkaErrorOf(this.broker.replicas.notHostedError(topic, partition));
    return replica.isLeader ? KafkaError.NONE : kafkaErrorOf(replica.notLeader());
  }

  private leader(topic: string, partition: number): PartitionReplica | number {
    const refusal = this.leaderRefusal(topic, partition);
    return refusal === KafkaError.NONE ? this.broker.replicas.replica(topic, partition)! : refusal;
  }

  // ---------------------------------------------------------------------------------------
  // Offsets

  /** Earliest (-2), latest (-1), max timestamp (-3, v7) and by timestamp (>= 0), each asked of the native handler at the leader. */
  private async listOffsets(body: Body<'ListOffsets'>, context: RequestContext): Promise<Answer<'ListOffsets'>> {
    return {
      topics: await Promise.all(
        body.topics.map(async (t) => ({
          name: t.name,
          partitions: await Promise.all(
            t.partitions.map(async (p) => {
              const base = { partitionIndex: p.partitionIndex, timestamp: -1, offset: -1, leaderEpoch: -1 };
              const refused = this.refusedTopic(context, 'listOffsets', t.name);
              if (refused) return { ...base, errorCode: refused };
              const replica = this.leader(t.name, p.partitionIndex);
              if (typeof replica === 'number') return { ...base, errorCode: replica };
              const spec = KAFKA_OFFSET_SPECS[p.timestamp] ?? OffsetSpec.OFFSET_BY_TIMESTAMP;
              try {
                const native = await this.ask('listOffsets', { partitions: [{ topic: t.name, partition: p.partitionIndex, spec, value: p.timestamp }] }, context);
                const listed = native?.offsets?.[0];
                const errorCode = kafkaErrorOfInfo(listed?.error);
                if (errorCode !== KafkaError.NONE) return { ...base, errorCode };
                return { ...base, errorCode, offset: listed?.offset ?? -1, timestamp: listed?.timestamp ?? -1, leaderEpoch: replica.group.node.currentTerm };
              } catch (error) {
                return { ...base, errorCode: kafkaErrorOf(error) };
              }
            }),
          ),
        })),
      ),
    };
  }

  /**
   * The end offset of a leader epoch (Raft term): the first offset of the next term the
   * log holds, or the log end for the latest; with the largest term at or below the one asked.
   */
  private offsetForLeaderEpoch(body: Body<'OffsetForLeaderEpoch'>, context: RequestContext): Answer<'OffsetForLeaderEpoch'> {
    return {
      topics: body.topics.map((t) => ({
        topic: t.topic,
        partitions: t.partitions.map((p) => {
          // Describe on the topic, as a ListOffsets needs (Kafka's rule).
          const refused = this.refusedTopic(context, 'listOffsets', t.topic);
          const replica = refused || this.leader(t.topic, p.partition);
          if (typeof replica === 'number') return { partition: p.partition, errorCode: replica, leaderEpoch: -1, endOffset: -1 };
          return { partition: p.partition, errorCode: 0, ...epochEnd(replica.group.log, p.leaderEpoch) };
        }),
      })),
    };
  }

  // ---------------------------------------------------------------------------------------
  // Consumer groups (broker/kafka/groups.ts): coordinated by the controller leader

  /** Groups (key type 0) are coordinated by the controller leader; transactions have no coordinator here. */
  private findCoordinator(body: Body<'FindCoordinator'>, context: RequestContext): Answer<'FindCoordinator'> {
    const none = (errorCode: number, errorMessage: string) => ({ errorCode, errorMessage, nodeId: -1, host: '', port: -1 });
    if (body.keyType !== 0) return none(KafkaError.INVALID_REQUEST, 'only consumer groups have a coordinator here (no transactions)');
    // Kafka's rule: describe on the group.
    if (this.refusedGroup(context, 'describeGroup', body.key)) return none(KafkaError.GROUP_AUTHORIZATION_FAILED, `${context.session.principal} may not describe group "${body.key}"`);
    const coordinator = this.broker.coordinator();
    if (!coordinator) return none(GroupError.COORDINATOR_NOT_AVAILABLE, 'the controller leader is not known yet');
    const { host, port } = parseHostPort(coordinator.kafkaAddress, 'Kafka address');
    return { errorCode: 0, errorMessage: null, nodeId: coordinator.nodeId, host, port };
  }

  private async joinGroup(body: Body<'JoinGroup'>, context: RequestContext): Promise<Answer<'JoinGroup'>> {
    const refused = this.refusedRequest(context, 'joinGroup', body.groupId);
    if (refused) return { errorCode: refused, generationId: -1, protocolName: '', leader: '', memberId: body.memberId, members: [] };
    return this.broker.groups.join({
      groupId: body.groupId,
      memberId: body.memberId,
      sessionTimeoutMs: body.sessionTimeoutMs,
      rebalanceTimeoutMs: body.rebalanceTimeoutMs,
      protocolType: body.protocolType,
      protocols: body.protocols,
      clientId: context.clientId,
      clientHost: context.remote.slice(0, context.remote.lastIndexOf(':')),
      instanceId: body.groupInstanceId,
    });
  }

  /** v0-2 name one member; v3+ a list, each answered. */
  private leaveGroup(body: Body<'LeaveGroup'>, version: number, context: RequestContext): Answer<'LeaveGroup'> {
    const leaving = version >= 3 ? body.members.map((m) => ({ memberId: m.memberId, instanceId: m.groupInstanceId })) : [{ memberId: body.memberId, instanceId: null }];
    const refused = this.refusedRequest(context, 'leaveGroup', body.groupId);
    if (refused) return { errorCode: refused, members: [] };
    const { errorCode, members } = this.broker.groups.leave(body.groupId, leaving);
    return {
      errorCode: version >= 3 && errorCode !== GroupError.NOT_COORDINATOR ? KafkaError.NONE : errorCode,
      members: leaving.map(({ memberId, instanceId }, i) => ({ memberId, groupInstanceId: instanceId, errorCode: members[i]! })),
    };
  }

  /**
   * Offsets, with their metadata strings, through the controller. Read on the group for
   * the whole request, read on each topic for its partitions (SPEC section 9, as Kafka).
   */
  private async offsetCommit(body: Body<'OffsetCommit'>, context: RequestContext): Promise<Answer<'OffsetCommit'>> {
    const groupRefused = this.refusedRequest(context, 'commitOffsets', body.groupId);
    const codes = body.topics.map((t) => t.partitions.map(() => groupRefused || this.refusedTopic(context, 'commitOffsets', t.name)));
    const allowed = body.topics.flatMap((t, ti) =>
      t.partitions.flatMap((p, pi) => (codes[ti]![pi] ? [] : [{ at: [ti, pi] as const, offset: { topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, metadata: p.committedMetadata } }])),
    );
    if (allowed.length > 0) {
      const committed = await this.broker.groups.commit({ groupId: body.groupId, generationId: body.generationIdOrMemberEpoch, memberId: body.memberId, instanceId: body.groupInstanceId, offsets: allowed.map((a) => a.offset) });
      allowed.forEach(({ at: [ti, pi] }, i) => (codes[ti]![pi] = committed[i]!));
    }
    return { topics: body.topics.map((t, ti) => ({ name: t.name, partitions: t.partitions.map((p, pi) => ({ partitionIndex: p.partitionIndex, errorCode: codes[ti]![pi]! })) })) };
  }

  /**
   * Committed offsets: read on the group, and on each topic (SPEC section 9); a topic named
   * and refused answers TOPIC_AUTHORIZATION_FAILED, one not named is left out.
   */
  private offsetFetch(body: Body<'OffsetFetch'>, context: RequestContext): Answer<'OffsetFetch'> {
    const errorCode = this.refusedRequest(context, 'fetchOffsets', body.groupId) || this.broker.groups.refusal();
    if (errorCode !== KafkaError.NONE) {
      // v1 has no top-level error: each partition carries it.
      return { errorCode, topics: (body.topics ?? []).map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1, metadata: '', errorCode })) })) };
    }
    const refused = (topic: string) => this.refusedTopic(context, 'fetchOffsets', topic);
    const named = body.topics === null ? null : body.topics.filter((t) => !refused(t.name)).map((t) => ({ topic: t.name, partitions: t.partitionIndexes }));
    const fetched = this.broker.groups.fetchOffsets(body.groupId, named).filter((t) => !refused(t.topic));
    const refusedNamed = (body.topics ?? []).flatMap((t) => {
      const code = refused(t.name);
      return code ? [{ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1, metadata: '', errorCode: code })) }] : [];
    });
    return {
      errorCode: 0,
      topics: [
        ...fetched.map((t) => ({ name: t.topic, partitions: t.partitions.map((p) => ({ partitionIndex: p.partition, committedOffset: p.offset, metadata: p.metadata, errorCode: 0 })) })),
        ...refusedNamed,
      ],
    };
  }

  /** Describe on each group (SPEC section 9); a refused one answers GROUP_AUTHORIZATION_FAILED. */
  private describeGroups(body: Body<'DescribeGroups'>, context: RequestContext): Answer<'DescribeGroups'> {
    const coordinating = this.broker.groups.refusal();
    return {
      groups: body.groups.map((groupId) => {
        const errorCode = this.refusedGroup(context, 'describeGroup', groupId) || coordinating;
        return errorCode === KafkaError.NONE ? this.broker.groups.describe(groupId) : { errorCode, groupId, groupState: '', protocolType: '', protocolData: '', members: [] };
      }),
    };
  }

  // ---------------------------------------------------------------------------------------
  // Producer ids and topics

  /** Idempotent producers get a Flotilla producer id; a broker that is not the controller asks it. */
  private async initProducerId(body: Body<'InitProducerId'>, context: RequestContext): Promise<Answer<'InitProducerId'>> {
    if (body.transactionalId !== null) return { errorCode: KafkaError.INVALID_REQUEST, producerId: -1, producerEpoch: -1 };
    const request = { producerId: null, producerEpoch: 0 };
    try {
      const native = (await this.ask('initProducerId', request, context))!;
      return { errorCode: 0, producerId: native.producerId ?? -1, producerEpoch: native.producerEpoch ?? 0 };
    } catch (error) {
      const e = asFlotillaError(error);
      // Kafka's answer for an idempotent producer without write on any topic.
      if (e.code === 'NOT_AUTHORIZED') return { errorCode: KafkaError.CLUSTER_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
      const controller = e.details.leaderAddress;
      if (e.code !== 'NOT_CONTROLLER' || typeof controller !== 'string' || !controller) return { errorCode: kafkaErrorOf(e), producerId: -1, producerEpoch: -1 };
      try {
        const native = (await controllerRequest([controller], { initProducerId: request }, CONTROLLER_FORWARD_TIMEOUT_MS, this.broker.access)).initProducerId!;
        return { errorCode: 0, producerId: native.producerId, producerEpoch: native.producerEpoch };
      } catch (forwarded) {
        return { errorCode: kafkaErrorOf(forwarded), producerId: -1, producerEpoch: -1 };
      }
    }
  }

  private async createTopics(body: Body<'CreateTopics'>, context: RequestContext): Promise<Answer<'CreateTopics'>> {
    type TopicAnswer = { name: string; errorCode: number; errorMessage: string | null };
    const answers: TopicAnswer[] = body.topics.map((t) => ({ name: t.name, errorCode: 0, errorMessage: null }));
    const topics: client.NewTopic[] = [];
    const sent: TopicAnswer[] = [];
    body.topics.forEach((t, i) => {
      const answer = answers[i]!;
      // Authorization before validation (and before validateOnly), as Kafka.
      const refused = this.refusedTopic(context, 'createTopics', t.name);
      if (refused) return Object.assign(answer, { errorCode: refused, errorMessage: `${context.session.principal} may not create topic "${t.name}"` });
      try {
        if (t.assignments.length > 0) {
          answer.errorCode = KafkaError.INVALID_REPLICA_ASSIGNMENT;
          answer.errorMessage = 'Flotilla places replicas itself; give numPartitions and replicationFactor';
          return;
        }
        const config = topicConfigFrom(t.configs);
        const newTopic = { topic: validateTopicName(t.name), partitions: t.numPartitions < 0 ? 0 : validatePartitionCount(t.numPartitions), replication: Math.max(0, t.replicationFactor), config };
        // Kafka's answer even for the same settings (the native create takes that as done,
        // for its retries): clients and tools tell "made it" from "was there".
        if (this.broker.topicExists(t.name)) return Object.assign(answer, { errorCode: KafkaError.TOPIC_ALREADY_EXISTS, errorMessage: `topic "${t.name}" already exists` });
        if (body.validateOnly) {
          // What the controller would refuse beyond the checks above (it places the replicas).
          const brokers = this.broker.brokerCount();
          if (newTopic.replication > brokers) Object.assign(answer, { errorCode: KafkaError.INVALID_REPLICATION_FACTOR, errorMessage: `replication factor ${newTopic.replication} is more than the ${brokers} brokers` });
          return;
        }
        topics.push(newTopic);
        sent.push(answer);
      } catch (error) {
        Object.assign(answer, { errorCode: kafkaErrorOf(error), errorMessage: asFlotillaError(error).message });
      }
    });
    if (topics.length > 0) {
      try {
        // timeoutMs 0 asks not to wait (librdkafka's operation_timeout 0): the creation still
        // runs its course under the default timeout rather than being given up at once.
        const native = await this.ask('createTopics', { topics, timeoutMs: Math.max(0, body.timeoutMs) }, context);
        (native?.results ?? []).forEach((result, i) => {
          // Too many partitions for one metadata entry: Kafka's answer to a topic it cannot create that large.
          const tooLarge = !!result?.error?.code && errorFromWire(result.error.code).code === 'RECORD_TOO_LARGE';
          const errorCode = tooLarge ? KafkaError.INVALID_PARTITIONS : kafkaErrorOfInfo(result?.error);
          Object.assign(sent[i]!, { errorCode, errorMessage: errorCode ? result?.error?.message ?? null : null });
        });
      } catch (error) {
        for (const answer of sent) Object.assign(answer, { errorCode: kafkaErrorOf(error), errorMessage: asFlotillaError(error).message });
      }
    }
    return { topics: answers };
  }

  private async deleteTopics(body: Body<'DeleteTopics'>, context: RequestContext): Promise<Answer<'DeleteTopics'>> {
    try {
      const native = await this.ask('deleteTopics', { topics: body.topicNames }, context);
      return { responses: body.topicNames.map((name, i) => ({ name, errorCode: kafkaErrorOfInfo(native?.results?.[i]?.error) })) };
    } catch (error) {
      return { responses: body.topicNames.map((name) => ({ name, errorCode: kafkaErrorOf(error) })) };
    }
  }

  /** A topic's settings that Flotilla has (retention.ms, retention.bytes, segment.bytes); a broker has none to show. */
  private async describeConfigs(body: Body<'DescribeConfigs'>, context: RequestContext): Promise<Answer<'DescribeConfigs'>> {
    return {
      results: await Promise.all(
        body.resources.map(async (r) => {
          const base = { resourceType: r.resourceType, resourceName: r.resourceName, errorCode: 0, errorMessage: null, configs: [] };
          // Kafka's rule for a broker's settings: describe on the cluster (there are none to show here).
          if (r.resourceType === RESOURCE_BROKER) return { ...base, errorCode: this.refusedRequest(context, 'describeCluster') };
          if (r.resourceType !== RESOURCE_TOPIC) return { ...base, errorCode: KafkaError.INVALID_REQUEST, errorMessage: `resource type ${r.resourceType} has no settings here` };
          try {
            const native = await this.ask('describeTopic', { topic: r.resourceName }, context);
            const config = { ...DEFAULT_TOPIC_CONFIG, ...(native?.config as Partial<TopicConfig> | undefined) };
            const keys = r.configurationKeys;
            const configs = TOPIC_SETTINGS.filter(([name]) => keys === null || keys.includes(name)).map(([name, key]) => {
              const isDefault = Number(config[key]) === DEFAULT_TOPIC_CONFIG[key];
              return { name, value: String(config[key]), readOnly: false, isDefault, configSource: isDefault ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_TOPIC, isSensitive: false, synonyms: [] };
            });
            return { ...base, configs };
          } catch (error) {
            return { ...base, errorCode: kafkaErrorOf(error), errorMessage: asFlotillaError(error).message };
          }
        }),
      ),
    };
  }
}

function apiVersions(errorCode: number): Answer<'ApiVersions'> {
  return {
    errorCode,
    apiKeys: Object.entries(ADVERTISED_VERSIONS).map(([name, range]) => ({ apiKey: API_KEYS[name]!, minVersion: range!.min, maxVersion: range!.max })),
  };
}

/** Exactly one whole batch (Kafka requires it of Produce v3 and later). */
function isOneBatch(records: Buffer): boolean {
  try {
    const bounds = [...batchBounds(records)];
    return bounds.length === 1 && bounds[0]!.end === records.length;
  } catch {
    return false;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Kafka topic configs → Flotilla's; a setting Flotilla does not have is INVALID_CONFIG. */
function topicConfigFrom(configs: ReadonlyArray<{ name: string; value: string | null }>): client.TopicConfig {
  const partial: Record<string, number> = {};
  for (const { name, value } of configs) {
    const setting = TOPIC_SETTINGS.find(([kafkaName]) => kafkaName === name);
    if (!setting) throw new FlotillaError('INVALID_CONFIG', `topic setting "${name}" is not supported; Flotilla has ${TOPIC_SETTINGS.map(([n]) => n).join(', ')}`);
    if (value !== null) partial[setting[1]] = Number(value);
  }
  const valid = validateTopicConfig(partial);
  return { retentionMs: valid.retentionMs ?? null, retentionBytes: valid.retentionBytes ?? null, segmentBytes: valid.segmentBytes ?? null };
}

interface TermLog {
  firstIndex(): number;
  lastIndex(): number;
  termAt(index: number): number | undefined;
}

/**
 * Kafka's OffsetForLeaderEpoch over a Raft log: the first offset whose term is above
 * `epoch` (the log end when none is), with the term just before it; UNDEFINED (-1, -1)
 * when every entry the log holds is of a later term.
 */
export function epochEnd(log: TermLog, epoch: number): { leaderEpoch: number; endOffset: number } {
  const first = log.firstIndex();
  const end = log.lastIndex() + 1;
  let lo = first;
  let hi = end;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if ((log.termAt(mid) ?? Infinity) > epoch) hi = mid;
    else lo = mid + 1;
  }
  if (lo === first && end > first) return { leaderEpoch: -1, endOffset: -1 };
  return { leaderEpoch: log.termAt(lo - 1) ?? -1, endOffset: lo };
}

/** Metadata's broker list from brokers with a Kafka address. */
function kafkaBrokersOf(brokers: ReadonlyArray<{ id: number; kafkaAddress: string; rack?: string }>): Array<{ nodeId: number; host: string; port: number; rack: string | null }> {
  return brokers.map((b) => {
    const { host, port } = parseHostPort(b.kafkaAddress, 'Kafka address');
    return { nodeId: b.id, host, port, rack: b.rack || null };
  });
}
