/**
 * The Kafka codec against two independent Kafka clients, in both directions:
 * - @platformatic/kafka covers every (api, version) of the table. Its own Connection
 *   talks to a real TCP server on 127.0.0.1 that decodes each request with our codec and
 *   answers with our encoder; platformatic writes the request header (v1 or v2) and
 *   parses the response header (v0 or v1) and body with its own code.
 * - kafkajs 2.2.4 (no flexible versions, no response tagged fields) covers again the
 *   versions it has, for the apis listed in KAFKAJS_CASES: its request encoder's bytes
 *   go through our decoder, our response bytes through its decoder.
 * No (api, version) of the table is left to round trips alone; kafka-codec.test.ts adds
 * hand-checked bytes for the flexible encodings anyway.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import net from 'node:net';
import { createRequire } from 'node:module';
import * as platformatic from '@platformatic/kafka';
import {
  decodeRequest,
  encodeResponse,
  KAFKA_APIS,
  KafkaFrameReader,
  type KafkaApiName,
  type KafkaRequest,
  type RequestInput,
  type ResponseInput,
} from '../../protocol/kafka/index.js';
import { inRange, type AnyField, type KafkaType, type StructType } from '../../protocol/kafka/schema.js';

// ---------------------------------------------------------------------------------------
// What a version of a message looks like, from the table's field ranges (not the codec).

type Json = Record<string, unknown>;

function defaultOf(f: AnyField): unknown {
  return typeof f.defaultValue === 'function' ? f.defaultValue() : f.defaultValue;
}

/** The value as decoded at `version`: fields the version lacks hold their default. */
function asDecoded(type: StructType<unknown, unknown>, version: number, value: Json): Json {
  const out: Json = {};
  for (const f of type.fields) {
    out[f.name] = inRange(f.versions, version) && value[f.name] !== undefined ? projectValue(f.type, version, value[f.name], asDecoded) : defaultOf(f);
  }
  return out;
}

/** Only the fields the version has (what an oracle's parser returns). */
function asSent(type: StructType<unknown, unknown>, version: number, value: Json): Json {
  const out: Json = {};
  for (const f of type.fields) {
    if (!inRange(f.versions, version)) continue;
    out[f.name] = value[f.name] === undefined ? defaultOf(f) : projectValue(f.type, version, value[f.name], asSent);
  }
  return out;
}

function projectValue(type: KafkaType, version: number, value: unknown, project: typeof asSent): unknown {
  if (value === null) return null;
  if (type.kind === 'struct') return project(type, version, value as Json);
  if (type.kind === 'array') return (value as unknown[]).map((v) => projectValue(type.of, version, v, project));
  return value;
}

/** bigint to number, Uint8Array to Buffer, undefined properties dropped: one vocabulary. */
function normalize(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

function versionsOf(name: KafkaApiName): number[] {
  const { min, max } = KAFKA_APIS[name].versions;
  return Array.from({ length: max - min + 1 }, (_, i) => min + i);
}

// ---------------------------------------------------------------------------------------
// A broker side built from our codec alone, on a real socket.

interface Exchange {
  requests: KafkaRequest[];
  answer: (request: KafkaRequest) => Buffer[];
}

async function startCodecServer(t: Test): Promise<{ port: number; exchange: Exchange }> {
  const exchange: Exchange = { requests: [], answer: () => [] };
  const server = net.createServer((socket) => {
    const frames = new KafkaFrameReader();
    socket.on('data', (chunk) => {
      for (const frame of frames.push(chunk)) {
        const request = decodeRequest(frame);
        exchange.requests.push(request);
        socket.write(Buffer.concat(exchange.answer(request)));
      }
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as net.AddressInfo).port, exchange };
}

/**
 * The oracle's parse against what we sent. Oracles fill fields a version lacks with their
 * own idea of a default and add fields of their own, so the comparison walks our schema
 * and the fields the version has: each must be in the oracle's parse, and equal.
 */
function compareWithOracle(type: StructType<unknown, unknown>, version: number, oracle: Json, ours: Json, path: string, missing: string[]): [Json, Json] {
  const picked: Json = {};
  const expected: Json = {};
  for (const f of type.fields) {
    if (!inRange(f.versions, version)) continue;
    if (!(f.name in oracle)) {
      missing.push(`${path}${f.name}`);
      continue;
    }
    [picked[f.name], expected[f.name]] = comparePair(f.type, version, oracle[f.name], ours[f.name], `${path}${f.name}`, missing);
  }
  return [picked, expected];
}

function comparePair(type: KafkaType, version: number, oracle: unknown, ours: unknown, path: string, missing: string[]): [unknown, unknown] {
  if (oracle === null || ours === null || oracle === undefined) return [oracle, ours];
  if (type.kind === 'struct') return compareWithOracle(type, version, oracle as Json, ours as Json, `${path}.`, missing);
  if (type.kind === 'array' && Array.isArray(oracle) && Array.isArray(ours) && type.of.kind === 'struct') {
    const pairs = oracle.map((o, i) => comparePair(type.of, version, o, ours[i], `${path}[${i}]`, missing));
    return [pairs.map((p) => p[0]), ours.length === oracle.length ? pairs.map((p) => p[1]) : ours];
  }
  return [oracle, ours];
}

// ---------------------------------------------------------------------------------------
// Record batches: compared by what they hold, through platformatic's own batch reader.

const BATCH_MESSAGES = [
  { topic: 'orders', partition: 0, key: Buffer.from('k1'), value: Buffer.from('v1'), timestamp: 1_700_000_000_000n },
  { topic: 'orders', partition: 0, key: Buffer.from('k2'), value: Buffer.from('v2'), timestamp: 1_700_000_000_001n },
];
const BATCH = Buffer.from(platformatic.createRecordsBatch(BATCH_MESSAGES, {}).buffer);
const BATCH_CONTENT = ['k1=v1', 'k2=v2'];

function batchContent(records: unknown): unknown {
  if (records === null || records === undefined) return records;
  if (Array.isArray(records) && records.every((r) => typeof r === 'string')) return records; // already content
  const batches = Buffer.isBuffer(records) ? readBatches(records) : (records as { records: { key: Buffer; value: Buffer }[] }[]);
  return batches.flatMap((b) => b.records.map((r) => `${Buffer.from(r.key)}=${Buffer.from(r.value)}`));
}

function readBatches(data: Buffer): { records: { key: Buffer; value: Buffer }[] }[] {
  const reader = platformatic.Reader.from(data);
  const batches = [];
  while (reader.position < data.length) batches.push(platformatic.readRecordsBatch(reader));
  return batches as unknown as { records: { key: Buffer; value: Buffer }[] }[];
}

/** Replaces every `records` property by the batch content, on either side. */
function withBatchContent(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withBatchContent);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'records' ? batchContent(v) : withBatchContent(v)]));
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// The cases: one request and one response per api, with every field of every version
// set to something other than its default, and platformatic's arguments for the request.

interface OracleCase<N extends KafkaApiName> {
  api: N;
  /** What the oracle's request carries, in our vocabulary (at its newest version). */
  request: RequestInput<N>;
  platformaticArgs: (version: number) => unknown[];
  response: ResponseInput<N>;
  /** Platformatic's parse reshaped into our vocabulary, where its shape differs. */
  fromPlatformatic?: (parsed: Json, version: number) => Json;
  /** Response fields platformatic's parser drops (covered by hand-checked bytes instead). */
  platformaticDrops?: (version: number) => string[];
}

function oracleCase<N extends KafkaApiName>(c: OracleCase<N>): OracleCase<N> {
  return c;
}

const METADATA_BYTES = Buffer.from([0, 1, 0, 0, 0, 1, 0, 6, 111, 114, 100, 101, 114, 115]);
const ASSIGNMENT_BYTES = Buffer.from([0, 1, 0, 0, 0, 1, 0, 6, 111, 114, 100, 101, 114, 115, 0, 0, 0, 1, 0, 0, 0, 2]);

const CASES = [
  oracleCase({
    api: 'ApiVersions',
    request: { clientSoftwareName: 'flotilla-oracle', clientSoftwareVersion: '1.2.3' },
    platformaticArgs: () => ['flotilla-oracle', '1.2.3'],
    response: {
      errorCode: 0,
      apiKeys: [
        { apiKey: 0, minVersion: 3, maxVersion: 9 },
        { apiKey: 18, minVersion: 0, maxVersion: 3 },
      ],
      throttleTimeMs: 7,
      supportedFeatures: [{ name: 'metadata.version', minVersion: 1, maxVersion: 20 }],
      finalizedFeaturesEpoch: 42,
      finalizedFeatures: [{ name: 'metadata.version', maxVersionLevel: 20, minVersionLevel: 1 }],
      zkMigrationReady: true,
    },
  }),
  oracleCase({
    api: 'Metadata',
    request: {
      topics: [{ name: 'orders' }, { name: 'payments' }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: true,
      includeTopicAuthorizedOperations: true,
    },
    platformaticArgs: () => [['orders', 'payments'], false, true, true],
    response: {
      throttleTimeMs: 5,
      brokers: [
        { nodeId: 1, host: '127.0.0.1', port: 9092, rack: 'rack-a' },
        { nodeId: 2, host: '127.0.0.2', port: 9093, rack: null },
      ],
      clusterId: 'cluster-1',
      controllerId: 2,
      topics: [
        {
          errorCode: 0,
          name: 'orders',
          isInternal: true,
          partitions: [
            { errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 7, replicaNodes: [1, 2], isrNodes: [1], offlineReplicas: [2] },
            { errorCode: 9, partitionIndex: 1, leaderId: -1, leaderEpoch: 3, replicaNodes: [2], isrNodes: [], offlineReplicas: [] },
          ],
          topicAuthorizedOperations: 123,
        },
      ],
      clusterAuthorizedOperations: 456,
    },
  }),
  oracleCase({
    api: 'Produce',
    // platformatic builds the batch itself; compared by content (k1=v1, k2=v2).
    request: {
      transactionalId: 'tx-1',
      acks: -1,
      timeoutMs: 1500,
      topicData: [{ name: 'orders', partitionData: [{ index: 0, records: BATCH_CONTENT as unknown as Buffer }] }],
    },
    platformaticArgs: () => [-1, 1500, BATCH_MESSAGES.map((m) => ({ ...m })), { transactionalId: 'tx-1' }],
    response: {
      responses: [
        {
          name: 'orders',
          partitionResponses: [
            {
              index: 0,
              errorCode: 0,
              baseOffset: 100,
              logAppendTimeMs: 1_700_000_000_123,
              logStartOffset: 5,
              recordErrors: [{ batchIndex: 1, batchIndexErrorMessage: 'bad record' }],
              errorMessage: 'some records failed',
            },
          ],
        },
      ],
      throttleTimeMs: 3,
    },
  }),
  oracleCase({
    api: 'Fetch',
    request: {
      replicaId: -1,
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 1_048_576,
      isolationLevel: 1,
      sessionId: 11,
      sessionEpoch: 2,
      topics: [
        {
          topic: 'orders',
          partitions: [{ partition: 0, currentLeaderEpoch: 3, fetchOffset: 10, lastFetchedEpoch: 2, logStartOffset: -1, partitionMaxBytes: 65_536 }],
        },
      ],
      forgottenTopicsData: [{ topic: 'old', partitions: [1, 2] }],
      rackId: 'rack-a',
    },
    platformaticArgs: () => [
      500,
      1,
      1_048_576,
      1,
      11,
      2,
      [{ topicId: 'orders', partitions: [{ partition: 0, currentLeaderEpoch: 3, fetchOffset: 10n, lastFetchedEpoch: 2, partitionMaxBytes: 65_536 }] }],
      [{ topic: 'old', partitions: [1, 2] }],
      'rack-a',
    ],
    response: {
      throttleTimeMs: 4,
      errorCode: 0,
      sessionId: 11,
      responses: [
        {
          topic: 'orders',
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 0,
              highWatermark: 12,
              lastStableOffset: 11,
              logStartOffset: 1,
              divergingEpoch: { epoch: 2, endOffset: 9 },
              currentLeader: { leaderId: 1, leaderEpoch: 3 },
              abortedTransactions: [{ producerId: 77, firstOffset: 5 }],
              preferredReadReplica: 2,
              records: BATCH,
            },
          ],
        },
      ],
    },
    // platformatic keeps the topic name in a field it calls topicId.
    fromPlatformatic: (parsed) => ({
      ...parsed,
      responses: (parsed.responses as Json[]).map(({ topicId, ...rest }) => ({ ...rest, topic: topicId })),
    }),
  }),
  oracleCase({
    api: 'ListOffsets',
    request: { replicaId: -1, isolationLevel: 1, topics: [{ name: 'orders', partitions: [{ partitionIndex: 1, currentLeaderEpoch: 4, timestamp: -2 }] }] },
    platformaticArgs: () => [-1, 1, [{ name: 'orders', partitions: [{ partitionIndex: 1, currentLeaderEpoch: 4, timestamp: -2n }] }]],
    response: {
      throttleTimeMs: 1,
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 1, errorCode: 0, oldStyleOffsets: [42], timestamp: 1_700_000_000_000, offset: 42, leaderEpoch: 4 }] }],
    },
    // At v0 platformatic returns the first of the old-style offsets as `offset`.
    fromPlatformatic: (parsed, version) =>
      version > 0
        ? parsed
        : {
            ...parsed,
            topics: (parsed.topics as Json[]).map((topic) => ({
              ...topic,
              partitions: (topic.partitions as Json[]).map((p) => ({ ...p, oldStyleOffsets: [p.offset] })),
            })),
          },
  }),
  oracleCase({
    api: 'OffsetForLeaderEpoch',
    request: { replicaId: -1, topics: [{ topic: 'orders', partitions: [{ partition: 2, currentLeaderEpoch: 5, leaderEpoch: 4 }] }] },
    platformaticArgs: () => [-1, [{ name: 'orders', partitions: [{ partitionIndex: 2, currentLeaderEpoch: 5, leaderEpoch: 4 }] }]],
    response: { throttleTimeMs: 2, topics: [{ topic: 'orders', partitions: [{ errorCode: 0, partition: 2, leaderEpoch: 4, endOffset: 99 }] }] },
  }),
  oracleCase({
    api: 'InitProducerId',
    request: { transactionalId: 'tx-1', transactionTimeoutMs: 60_000 },
    platformaticArgs: () => ['tx-1', 60_000],
    response: { throttleTimeMs: 3, errorCode: 0, producerId: 1234, producerEpoch: 2 },
  }),
  oracleCase({
    api: 'FindCoordinator',
    request: { key: 'group-a', keyType: 1 },
    platformaticArgs: () => [1, ['group-a']],
    response: { throttleTimeMs: 4, errorCode: 0, errorMessage: 'none', nodeId: 2, host: '127.0.0.1', port: 9093 },
    // platformatic answers in the v4+ shape: one coordinator per key.
    fromPlatformatic: (parsed) => ({ throttleTimeMs: parsed.throttleTimeMs, ...(parsed.coordinators as Json[])[0] }),
  }),
  oracleCase({
    api: 'JoinGroup',
    request: {
      groupId: 'group-a',
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: 60_000,
      memberId: 'member-1',
      groupInstanceId: 'instance-1',
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: METADATA_BYTES }],
    },
    platformaticArgs: () => ['group-a', 30_000, 60_000, 'member-1', 'instance-1', 'consumer', [{ name: 'range', metadata: METADATA_BYTES }]],
    response: {
      throttleTimeMs: 1,
      errorCode: 0,
      generationId: 3,
      protocolName: 'range',
      leader: 'member-1',
      memberId: 'member-2',
      members: [{ memberId: 'member-1', groupInstanceId: 'instance-1', metadata: METADATA_BYTES }],
    },
  }),
  oracleCase({
    api: 'Heartbeat',
    request: { groupId: 'group-a', generationId: 3, memberId: 'member-1', groupInstanceId: 'instance-1' },
    platformaticArgs: () => ['group-a', 3, 'member-1', 'instance-1'],
    response: { throttleTimeMs: 2, errorCode: 27 },
  }),
  oracleCase({
    api: 'LeaveGroup',
    request: { groupId: 'group-a', memberId: 'member-1', members: [{ memberId: 'member-1', groupInstanceId: 'instance-1' }] },
    platformaticArgs: () => ['group-a', [{ memberId: 'member-1', groupInstanceId: 'instance-1' }]],
    response: { throttleTimeMs: 1, errorCode: 0, members: [{ memberId: 'member-1', groupInstanceId: 'instance-1', errorCode: 0 }] },
  }),
  oracleCase({
    api: 'SyncGroup',
    request: { groupId: 'group-a', generationId: 3, memberId: 'member-1', groupInstanceId: 'instance-1', assignments: [{ memberId: 'member-1', assignment: ASSIGNMENT_BYTES }] },
    platformaticArgs: () => ['group-a', 3, 'member-1', 'instance-1', null, null, [{ memberId: 'member-1', assignment: ASSIGNMENT_BYTES }]],
    response: { throttleTimeMs: 1, errorCode: 0, assignment: ASSIGNMENT_BYTES },
  }),
  oracleCase({
    api: 'OffsetCommit',
    request: {
      groupId: 'group-a',
      generationIdOrMemberEpoch: 3,
      memberId: 'member-1',
      groupInstanceId: 'instance-1',
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 4, committedMetadata: 'meta' }] }],
    },
    platformaticArgs: () => [
      'group-a',
      3,
      'member-1',
      'instance-1',
      [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 4, committedMetadata: 'meta' }] }],
    ],
    response: { throttleTimeMs: 1, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] },
  }),
  oracleCase({
    api: 'OffsetFetch',
    request: { groupId: 'group-a', topics: [{ name: 'orders', partitionIndexes: [0, 1] }] },
    platformaticArgs: () => [[{ groupId: 'group-a', topics: [{ name: 'orders', partitionIndexes: [0, 1] }] }], false],
    response: {
      throttleTimeMs: 1,
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 4, metadata: 'meta', errorCode: 0 }] }],
      errorCode: 0,
    },
  }),
  oracleCase({
    api: 'ListGroups',
    request: {},
    platformaticArgs: () => [[], []],
    response: { throttleTimeMs: 1, errorCode: 0, groups: [{ groupId: 'group-a', protocolType: 'consumer' }] },
  }),
  oracleCase({
    api: 'DescribeGroups',
    request: { groups: ['group-a', 'group-b'], includeAuthorizedOperations: true },
    platformaticArgs: () => [['group-a', 'group-b'], true],
    response: {
      throttleTimeMs: 1,
      groups: [
        {
          errorCode: 0,
          groupId: 'group-a',
          groupState: 'Stable',
          protocolType: 'consumer',
          protocolData: 'range',
          members: [
            { memberId: 'member-1', groupInstanceId: 'instance-1', clientId: 'client-1', clientHost: '/127.0.0.1', memberMetadata: METADATA_BYTES, memberAssignment: ASSIGNMENT_BYTES },
          ],
          authorizedOperations: 8,
        },
      ],
    },
  }),
  oracleCase({
    api: 'CreateTopics',
    request: {
      topics: [{ name: 'orders', numPartitions: 3, replicationFactor: 2, assignments: [], configs: [{ name: 'retention.ms', value: '1000' }] }],
      timeoutMs: 30_000,
      validateOnly: true,
    },
    platformaticArgs: () => [[{ name: 'orders', numPartitions: 3, replicationFactor: 2, assignments: [], configs: [{ name: 'retention.ms', value: '1000' }] }], 30_000, true],
    response: {
      throttleTimeMs: 1,
      topics: [
        {
          name: 'orders',
          errorCode: 0,
          errorMessage: 'created',
          topicConfigErrorCode: 41,
          numPartitions: 3,
          replicationFactor: 2,
          configs: [{ name: 'retention.ms', value: '1000', readOnly: false, configSource: 1, isSensitive: true }],
        },
      ],
    },
    // platformatic skips this tagged field (so it still proves the tagged section's framing).
    platformaticDrops: (version) => (version >= 5 ? ['topics[0].topicConfigErrorCode'] : []),
  }),
  oracleCase({
    api: 'DeleteTopics',
    request: { topicNames: ['orders'], timeoutMs: 30_000 },
    platformaticArgs: () => [[{ name: 'orders' }], 30_000],
    response: { throttleTimeMs: 1, responses: [{ name: 'orders', errorCode: 0 }] },
  }),
  oracleCase({
    api: 'DescribeConfigs',
    request: { resources: [{ resourceType: 2, resourceName: 'orders', configurationKeys: ['retention.ms'] }], includeSynonyms: true, includeDocumentation: true },
    platformaticArgs: () => [[{ resourceType: 2, resourceName: 'orders', configurationKeys: ['retention.ms'] }], true, true],
    response: {
      throttleTimeMs: 1,
      results: [
        {
          errorCode: 0,
          errorMessage: null,
          resourceType: 2,
          resourceName: 'orders',
          configs: [
            {
              name: 'retention.ms',
              value: '1000',
              readOnly: false,
              isDefault: true,
              configSource: 1,
              isSensitive: false,
              synonyms: [{ name: 'log.retention.ms', value: '1000', source: 5 }],
              configType: 5,
              documentation: 'how long records are kept',
            },
          ],
        },
      ],
    },
    // platformatic reads v0's isDefault and drops it (its position is checked by the fields after it).
    platformaticDrops: (version) => (version === 0 ? ['results[0].configs[0].isDefault'] : []),
  }),
  oracleCase({
    api: 'SaslHandshake',
    request: { mechanism: 'SCRAM-SHA-256' },
    platformaticArgs: () => ['SCRAM-SHA-256'],
    response: { errorCode: 0, mechanisms: ['SCRAM-SHA-256', 'PLAIN'] },
  }),
  oracleCase({
    api: 'SaslAuthenticate',
    request: { authBytes: Buffer.from('n,,n=user,r=nonce') },
    platformaticArgs: () => [Buffer.from('n,,n=user,r=nonce')],
    response: { errorCode: 0, errorMessage: null, authBytes: Buffer.from('r=nonce2,s=salt,i=4096'), sessionLifetimeMs: 3_600_000 },
  }),
] as OracleCase<KafkaApiName>[];

function platformaticModule(name: KafkaApiName, version: number): { api: { async: (...args: unknown[]) => Promise<unknown> } } {
  const key = `${name[0]!.toLowerCase()}${name.slice(1)}V${version}`;
  const module = (platformatic as unknown as Record<string, { api: { async: (...args: unknown[]) => Promise<unknown> } }>)[key];
  if (!module) throw new Error(`@platformatic/kafka has no ${key}`);
  return module;
}

t.test('@platformatic/kafka: its requests decode with our codec, our responses parse with its decoder, at every version', async (t) => {
  const { port, exchange } = await startCodecServer(t);
  const connection = new platformatic.Connection('flotilla-oracle');
  // Callbacks, not platformatic's promises: those need Promise.withResolvers (Node 22).
  await new Promise<void>((resolve, reject) => connection.connect('127.0.0.1', port, (error: unknown) => (error ? reject(error) : resolve())));
  t.teardown(() => new Promise<void>((resolve) => connection.close(() => resolve())));
  for (const c of CASES) {
    const api = KAFKA_APIS[c.api];
    for (const version of versionsOf(c.api)) {
      exchange.requests.length = 0;
      exchange.answer = (request) => encodeResponse(c.api, version, request.header.correlationId, c.response as ResponseInput<typeof c.api>);
      let parsed: unknown;
      try {
        parsed = await platformaticModule(c.api, version).api.async(connection, ...c.platformaticArgs(version));
      } catch (error) {
        // Non-zero error codes make platformatic throw, with the parsed response attached.
        const response = (error as { response?: unknown }).response;
        if (!response) throw error;
        parsed = response;
      }
      const [request] = exchange.requests;
      t.same(
        { api: request?.api, version: request?.header.apiVersion, clientId: request?.header.clientId },
        { api: c.api, version, clientId: 'flotilla-oracle' },
        `${c.api} v${version}: our codec decoded platformatic's request header`,
      );
      t.same(withBatchContent(request?.body), withBatchContent(asDecoded(api.request, version, c.request as Json)), `${c.api} v${version}: request fields`);

      let oracle = normalize(parsed) as Json;
      if (c.fromPlatformatic) oracle = c.fromPlatformatic(oracle, version);
      const missing: string[] = [];
      const [picked, expected] = compareWithOracle(api.response, version, withBatchContent(oracle) as Json, withBatchContent(asDecoded(api.response, version, c.response as Json)) as Json, '', missing);
      t.same(picked, expected, `${c.api} v${version}: platformatic parsed our response`);
      t.same(missing, c.platformaticDrops?.(version) ?? [], `${c.api} v${version}: platformatic returned every field of the version`);
    }
  }
});

// ---------------------------------------------------------------------------------------
// kafkajs 2.2.4: a second, independent encoder and decoder for the versions it has.

const requireKafkajs = createRequire(import.meta.url);
const kafkajsRequestFrame = requireKafkajs('kafkajs/src/protocol/request') as (r: object) => Promise<{ buffer: Buffer }>;

interface KafkajsCase {
  api: KafkaApiName;
  /** kafkajs's folder under src/protocol/requests. */
  folder: string;
  versions: number[];
  args: Json;
  /** kafkajs's names for our fields, where they differ. */
  renames: Record<string, string>;
}

/** kafkajs reports the broker's throttle time as clientSideThrottleTime from some versions on. */
function fromKafkajs(decoded: Json, renames: Record<string, string>): Json {
  const { throttleTime, clientSideThrottleTime, ...rest } = decoded;
  const withThrottle = throttleTime === undefined ? rest : { ...rest, throttleTime: clientSideThrottleTime ?? throttleTime };
  return rename(normalizeKafkajs(withThrottle), renames) as Json;
}

function normalizeKafkajs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalizeKafkajs);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalizeKafkajs(v)]));
  }
  return typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value; // int64 come back as strings
}

function rename(value: unknown, renames: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rename(v, renames));
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [renames[k] ?? k, rename(v, renames)]));
  }
  return value;
}

const KAFKAJS_CASES: KafkajsCase[] = [
  { api: 'ApiVersions', folder: 'apiVersions', versions: [0, 1, 2], args: {}, renames: { apiVersions: 'apiKeys', throttleTime: 'throttleTimeMs' } },
  {
    api: 'Metadata',
    folder: 'metadata',
    versions: [0, 1, 2, 3, 4, 5, 6],
    args: { topics: ['orders', 'payments'], allowAutoTopicCreation: false },
    renames: {
      throttleTime: 'throttleTimeMs',
      topicMetadata: 'topics',
      topicErrorCode: 'errorCode',
      topic: 'name',
      partitionMetadata: 'partitions',
      partitionErrorCode: 'errorCode',
      partitionId: 'partitionIndex',
      leader: 'leaderId',
      replicas: 'replicaNodes',
      isr: 'isrNodes',
    },
  },
  {
    api: 'Heartbeat',
    folder: 'heartbeat',
    versions: [0, 1, 2, 3],
    args: { groupId: 'group-a', groupGenerationId: 3, memberId: 'member-1', groupInstanceId: 'instance-1' },
    renames: { throttleTime: 'throttleTimeMs' },
  },
  {
    api: 'SyncGroup',
    folder: 'syncGroup',
    versions: [0, 1, 2, 3],
    args: { groupId: 'group-a', generationId: 3, memberId: 'member-1', groupInstanceId: 'instance-1', groupAssignment: [{ memberId: 'member-1', memberAssignment: ASSIGNMENT_BYTES }] },
    renames: { throttleTime: 'throttleTimeMs', memberAssignment: 'assignment' },
  },
  {
    api: 'InitProducerId',
    folder: 'initProducerId',
    versions: [0, 1],
    args: { transactionalId: 'tx-1', transactionTimeout: 60_000 },
    renames: { throttleTime: 'throttleTimeMs' },
  },
  { api: 'SaslHandshake', folder: 'saslHandshake', versions: [0, 1], args: { mechanism: 'SCRAM-SHA-256' }, renames: { enabledMechanisms: 'mechanisms' } },
];

t.test('kafkajs: its requests decode with our codec, our responses decode with its decoder', async (t) => {
  for (const k of KAFKAJS_CASES) {
    const c = CASES.find((candidate) => candidate.api === k.api)!;
    const api = KAFKA_APIS[k.api];
    const protocol = requireKafkajs(`kafkajs/src/protocol/requests/${k.folder}`) as { protocol: (o: { version: number }) => (args: Json) => { request: object; response: { decode: (b: Buffer) => Promise<Json> } } };
    for (const version of k.versions) {
      // Heartbeat before v3, say, has no instance id: the canonical request still matches
      // because fields a version lacks decode as their defaults.
      const { request, response } = protocol.protocol({ version })(k.args);
      const frame = (await kafkajsRequestFrame({ correlationId: 77, clientId: 'kafkajs-oracle', request })).buffer;
      const decoded = decodeRequest(frame.subarray(4));
      t.same(
        { api: decoded.api, version: decoded.header.apiVersion, correlationId: decoded.header.correlationId, clientId: decoded.header.clientId },
        { api: k.api, version, correlationId: 77, clientId: 'kafkajs-oracle' },
        `${k.api} v${version}: header of kafkajs's request`,
      );
      t.same(decoded.body, asDecoded(api.request, version, c.request as Json), `${k.api} v${version}: kafkajs's request fields`);

      const responseFrame = Buffer.concat(encodeResponse(k.api, version, 77, c.response as ResponseInput<typeof k.api>));
      t.equal(responseFrame.readInt32BE(4), 77, 'correlation id after the size');
      const oracle = fromKafkajs(await response.decode(responseFrame.subarray(8)), k.renames);
      const missing: string[] = [];
      const [picked, expected] = compareWithOracle(api.response, version, oracle, asDecoded(api.response, version, c.response as Json), '', missing);
      t.same(picked, expected, `${k.api} v${version}: kafkajs decoded our response`);
      t.same(missing, [], `${k.api} v${version}: kafkajs returned every field of the version`);
    }
  }
});
