/**
 * The schema table: request and response of every api the codec speaks, written from
 * Apache Kafka's message definitions (`clients/src/main/resources/common/message/*.json`),
 * field by field with the versions in which each exists. Names are Kafka's in camelCase.
 *
 * Each api is covered from its oldest version a Flotilla listener could serve up to its
 * first flexible version, so the compact encodings and tagged fields are exercised by
 * every api that has them. SPEC section 11 lists what a listener advertises at least (a
 * subset). Adding a version: widen `versions` and add the fields that version brings
 * (their `versions` ranges from the JSON file); nothing else changes.
 */
import { array, bool, bytes, field, int16, int32, int64, int8, records, string, struct, versionRange, type StructType, type VersionRange } from './schema.js';

export interface KafkaApi<N extends string = string, Req extends StructType<any, any> = StructType<any, any>, Res extends StructType<any, any> = StructType<any, any>> {
  readonly key: number;
  readonly name: N;
  /** Versions this codec encodes and decodes. */
  readonly versions: VersionRange;
  /** Versions using compact encodings, tagged fields, request header v2 and response header v1. */
  readonly flexibleVersions: VersionRange;
  readonly request: Req;
  readonly response: Res;
}

function api<const N extends string, Req extends StructType<any, any>, Res extends StructType<any, any>>(definition: {
  key: number;
  name: N;
  versions: string;
  flexible: string;
  request: Req;
  response: Res;
}): KafkaApi<N, Req, Res> {
  const { key, name, request, response } = definition;
  return { key, name, versions: versionRange(definition.versions), flexibleVersions: versionRange(definition.flexible), request, response };
}

const throttleTimeMs = (versions: string) => field('throttleTimeMs', int32, versions);
const errorCode = field('errorCode', int16, '0+');

export const Produce = api({
  key: 0,
  name: 'Produce',
  versions: '3-9',
  flexible: '9+',
  request: struct(
    field('transactionalId', string, '3+', { nullable: '3+', default: null }),
    field('acks', int16, '0+'),
    field('timeoutMs', int32, '0+'),
    field('topicData', array(struct(
      field('name', string, '0+'),
      field('partitionData', array(struct(
        field('index', int32, '0+'),
        field('records', records, '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
  ),
  response: struct(
    field('responses', array(struct(
      field('name', string, '0+'),
      field('partitionResponses', array(struct(
        field('index', int32, '0+'),
        errorCode,
        field('baseOffset', int64, '0+'),
        field('logAppendTimeMs', int64, '2+', { default: -1 }),
        field('logStartOffset', int64, '5+', { default: -1 }),
        field('recordErrors', array(struct(
          field('batchIndex', int32, '8+'),
          field('batchIndexErrorMessage', string, '8+', { nullable: '8+', default: null }),
        )), '8+'),
        field('errorMessage', string, '8+', { nullable: '8+', default: null }),
      )), '0+'),
    )), '0+'),
    throttleTimeMs('1+'),
  ),
});

export const Fetch = api({
  key: 1,
  name: 'Fetch',
  versions: '4-12',
  flexible: '12+',
  request: struct(
    field('clusterId', string, '12+', { nullable: '12+', default: null, tag: 0, tagged: '12+' }),
    field('replicaId', int32, '0-14', { default: -1 }),
    field('maxWaitMs', int32, '0+'),
    field('minBytes', int32, '0+'),
    field('maxBytes', int32, '3+', { default: 0x7fffffff }),
    field('isolationLevel', int8, '4+'),
    field('sessionId', int32, '7+'),
    field('sessionEpoch', int32, '7+', { default: -1 }),
    field('topics', array(struct(
      field('topic', string, '0-12'),
      field('partitions', array(struct(
        field('partition', int32, '0+'),
        field('currentLeaderEpoch', int32, '9+', { default: -1 }),
        field('fetchOffset', int64, '0+'),
        field('lastFetchedEpoch', int32, '12+', { default: -1 }),
        field('logStartOffset', int64, '5+', { default: -1 }),
        field('partitionMaxBytes', int32, '0+'),
      )), '0+'),
    )), '0+'),
    field('forgottenTopicsData', array(struct(
      field('topic', string, '7-12'),
      field('partitions', array(int32), '7+'),
    )), '7+'),
    field('rackId', string, '11+'),
  ),
  response: struct(
    throttleTimeMs('1+'),
    field('errorCode', int16, '7+'),
    field('sessionId', int32, '7+'),
    field('responses', array(struct(
      field('topic', string, '0-12'),
      field('partitions', array(struct(
        field('partitionIndex', int32, '0+'),
        errorCode,
        field('highWatermark', int64, '0+'),
        field('lastStableOffset', int64, '4+', { default: -1 }),
        field('logStartOffset', int64, '5+', { default: -1 }),
        field('divergingEpoch', struct(
          field('epoch', int32, '12+', { default: -1 }),
          field('endOffset', int64, '12+', { default: -1 }),
        ), '12+', { tag: 0, tagged: '12+' }),
        field('currentLeader', struct(
          field('leaderId', int32, '12+', { default: -1 }),
          field('leaderEpoch', int32, '12+', { default: -1 }),
        ), '12+', { tag: 1, tagged: '12+' }),
        field('snapshotId', struct(
          field('endOffset', int64, '0+', { default: -1 }),
          field('epoch', int32, '0+', { default: -1 }),
        ), '12+', { tag: 2, tagged: '12+' }),
        field('abortedTransactions', array(struct(
          field('producerId', int64, '4+'),
          field('firstOffset', int64, '4+'),
        )), '4+', { nullable: '4+' }),
        field('preferredReadReplica', int32, '11+', { default: -1 }),
        field('records', records, '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
  ),
});

export const ListOffsets = api({
  key: 2,
  name: 'ListOffsets',
  // v7 has v6's fields; it tells the broker the client may ask max-timestamp (-3).
  versions: '0-7',
  flexible: '6+',
  request: struct(
    field('replicaId', int32, '0+'),
    field('isolationLevel', int8, '2+'),
    field('topics', array(struct(
      field('name', string, '0+'),
      field('partitions', array(struct(
        field('partitionIndex', int32, '0+'),
        field('currentLeaderEpoch', int32, '4+', { default: -1 }),
        field('timestamp', int64, '0+'),
        field('maxNumOffsets', int32, '0', { default: 1 }),
      )), '0+'),
    )), '0+'),
  ),
  response: struct(
    throttleTimeMs('2+'),
    field('topics', array(struct(
      field('name', string, '0+'),
      field('partitions', array(struct(
        field('partitionIndex', int32, '0+'),
        errorCode,
        field('oldStyleOffsets', array(int64), '0'),
        field('timestamp', int64, '1+', { default: -1 }),
        field('offset', int64, '1+', { default: -1 }),
        field('leaderEpoch', int32, '4+', { default: -1 }),
      )), '0+'),
    )), '0+'),
  ),
});

export const Metadata = api({
  key: 3,
  name: 'Metadata',
  versions: '0-9',
  flexible: '9+',
  request: struct(
    // null (v1+) asks for every topic; in v0 an empty array does.
    field('topics', array(struct(
      field('name', string, '0+', { nullable: '10+' }),
    )), '0+', { nullable: '1+' }),
    field('allowAutoTopicCreation', bool, '4+', { default: true }),
    field('includeClusterAuthorizedOperations', bool, '8-10'),
    field('includeTopicAuthorizedOperations', bool, '8+'),
  ),
  response: struct(
    throttleTimeMs('3+'),
    field('brokers', array(struct(
      field('nodeId', int32, '0+'),
      field('host', string, '0+'),
      field('port', int32, '0+'),
      field('rack', string, '1+', { nullable: '1+', default: null }),
    )), '0+'),
    field('clusterId', string, '2+', { nullable: '2+', default: null }),
    field('controllerId', int32, '1+', { default: -1 }),
    field('topics', array(struct(
      errorCode,
      field('name', string, '0+', { nullable: '12+' }),
      field('isInternal', bool, '1+'),
      field('partitions', array(struct(
        errorCode,
        field('partitionIndex', int32, '0+'),
        field('leaderId', int32, '0+'),
        field('leaderEpoch', int32, '7+', { default: -1 }),
        field('replicaNodes', array(int32), '0+'),
        field('isrNodes', array(int32), '0+'),
        field('offlineReplicas', array(int32), '5+'),
      )), '0+'),
      field('topicAuthorizedOperations', int32, '8+', { default: -2147483648 }),
    )), '0+'),
    field('clusterAuthorizedOperations', int32, '8-10', { default: -2147483648 }),
  ),
});

export const OffsetCommit = api({
  key: 8,
  name: 'OffsetCommit',
  versions: '0-8',
  flexible: '8+',
  request: struct(
    field('groupId', string, '0+'),
    field('generationIdOrMemberEpoch', int32, '1+', { default: -1 }),
    field('memberId', string, '1+'),
    field('groupInstanceId', string, '7+', { nullable: '7+', default: null }),
    field('retentionTimeMs', int64, '2-4', { default: -1 }),
    field('topics', array(struct(
      field('name', string, '0+'),
      field('partitions', array(struct(
        field('partitionIndex', int32, '0+'),
        field('committedOffset', int64, '0+'),
        field('committedLeaderEpoch', int32, '6+', { default: -1 }),
        field('commitTimestamp', int64, '1', { default: -1 }),
        field('committedMetadata', string, '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
  ),
  response: struct(
    throttleTimeMs('3+'),
    field('topics', array(struct(
      field('name', string, '0+'),
      field('partitions', array(struct(
        field('partitionIndex', int32, '0+'),
        errorCode,
      )), '0+'),
    )), '0+'),
  ),
});

export const OffsetFetch = api({
  key: 9,
  name: 'OffsetFetch',
  versions: '0-6',
  flexible: '6+',
  request: struct(
    field('groupId', string, '0-7'),
    // null (v2+) asks for every partition the group committed.
    field('topics', array(struct(
      field('name', string, '0-7'),
      field('partitionIndexes', array(int32), '0-7'),
    )), '0-7', { nullable: '2-7' }),
  ),
  response: struct(
    throttleTimeMs('3+'),
    field('topics', array(struct(
      field('name', string, '0-7'),
      field('partitions', array(struct(
        field('partitionIndex', int32, '0-7'),
        field('committedOffset', int64, '0-7'),
        field('committedLeaderEpoch', int32, '5-7', { default: -1 }),
        field('metadata', string, '0-7', { nullable: '0-7' }),
        field('errorCode', int16, '0-7'),
      )), '0-7'),
    )), '0-7'),
    field('errorCode', int16, '2-7'),
  ),
});

export const FindCoordinator = api({
  key: 10,
  name: 'FindCoordinator',
  versions: '0-3',
  flexible: '3+',
  request: struct(
    field('key', string, '0-3'),
    field('keyType', int8, '1+'),
  ),
  response: struct(
    throttleTimeMs('1+'),
    field('errorCode', int16, '0-3'),
    field('errorMessage', string, '1-3', { nullable: '1-3' }),
    field('nodeId', int32, '0-3'),
    field('host', string, '0-3'),
    field('port', int32, '0-3'),
  ),
});

export const JoinGroup = api({
  key: 11,
  name: 'JoinGroup',
  versions: '0-6',
  flexible: '6+',
  request: struct(
    field('groupId', string, '0+'),
    field('sessionTimeoutMs', int32, '0+'),
    field('rebalanceTimeoutMs', int32, '1+', { default: -1 }),
    field('memberId', string, '0+'),
    field('groupInstanceId', string, '5+', { nullable: '5+', default: null }),
    field('protocolType', string, '0+'),
    field('protocols', array(struct(
      field('name', string, '0+'),
      field('metadata', bytes, '0+'),
    )), '0+'),
  ),
  response: struct(
    throttleTimeMs('2+'),
    errorCode,
    field('generationId', int32, '0+', { default: -1 }),
    field('protocolName', string, '0+', { nullable: '7+' }),
    field('leader', string, '0+'),
    field('memberId', string, '0+'),
    field('members', array(struct(
      field('memberId', string, '0+'),
      field('groupInstanceId', string, '5+', { nullable: '5+', default: null }),
      field('metadata', bytes, '0+'),
    )), '0+'),
  ),
});

export const Heartbeat = api({
  key: 12,
  name: 'Heartbeat',
  versions: '0-4',
  flexible: '4+',
  request: struct(
    field('groupId', string, '0+'),
    field('generationId', int32, '0+'),
    field('memberId', string, '0+'),
    field('groupInstanceId', string, '3+', { nullable: '3+', default: null }),
  ),
  response: struct(throttleTimeMs('1+'), errorCode),
});

export const LeaveGroup = api({
  key: 13,
  name: 'LeaveGroup',
  versions: '0-4',
  flexible: '4+',
  request: struct(
    field('groupId', string, '0+'),
    field('memberId', string, '0-2'),
    field('members', array(struct(
      field('memberId', string, '3+'),
      field('groupInstanceId', string, '3+', { nullable: '3+', default: null }),
    )), '3+'),
  ),
  response: struct(
    throttleTimeMs('1+'),
    errorCode,
    field('members', array(struct(
      field('memberId', string, '3+'),
      field('groupInstanceId', string, '3+', { nullable: '3+' }),
      field('errorCode', int16, '3+'),
    )), '3+'),
  ),
});

export const SyncGroup = api({
  key: 14,
  name: 'SyncGroup',
  versions: '0-4',
  flexible: '4+',
  request: struct(
    field('groupId', string, '0+'),
    field('generationId', int32, '0+'),
    field('memberId', string, '0+'),
    field('groupInstanceId', string, '3+', { nullable: '3+', default: null }),
    field('assignments', array(struct(
      field('memberId', string, '0+'),
      field('assignment', bytes, '0+'),
    )), '0+'),
  ),
  response: struct(
    throttleTimeMs('1+'),
    errorCode,
    field('assignment', bytes, '0+'),
  ),
});

export const DescribeGroups = api({
  key: 15,
  name: 'DescribeGroups',
  versions: '0-5',
  flexible: '5+',
  request: struct(
    field('groups', array(string), '0+'),
    field('includeAuthorizedOperations', bool, '3+'),
  ),
  response: struct(
    throttleTimeMs('1+'),
    field('groups', array(struct(
      errorCode,
      field('groupId', string, '0+'),
      field('groupState', string, '0+'),
      field('protocolType', string, '0+'),
      field('protocolData', string, '0+'),
      field('members', array(struct(
        field('memberId', string, '0+'),
        field('groupInstanceId', string, '4+', { nullable: '4+', default: null }),
        field('clientId', string, '0+'),
        field('clientHost', string, '0+'),
        field('memberMetadata', bytes, '0+'),
        field('memberAssignment', bytes, '0+'),
      )), '0+'),
      field('authorizedOperations', int32, '3+', { default: -2147483648 }),
    )), '0+'),
  ),
});

export const ListGroups = api({
  key: 16,
  name: 'ListGroups',
  versions: '0-3',
  flexible: '3+',
  request: struct(),
  response: struct(
    throttleTimeMs('1+'),
    errorCode,
    field('groups', array(struct(
      field('groupId', string, '0+'),
      field('protocolType', string, '0+'),
    )), '0+'),
  ),
});

export const SaslHandshake = api({
  key: 17,
  name: 'SaslHandshake',
  versions: '0-1',
  flexible: 'none',
  request: struct(field('mechanism', string, '0+')),
  response: struct(errorCode, field('mechanisms', array(string), '0+')),
});

export const ApiVersions = api({
  key: 18,
  name: 'ApiVersions',
  versions: '0-3',
  flexible: '3+',
  request: struct(
    field('clientSoftwareName', string, '3+'),
    field('clientSoftwareVersion', string, '3+'),
  ),
  response: struct(
    errorCode,
    field('apiKeys', array(struct(
      field('apiKey', int16, '0+'),
      field('minVersion', int16, '0+'),
      field('maxVersion', int16, '0+'),
    )), '0+'),
    throttleTimeMs('1+'),
    field('supportedFeatures', array(struct(
      field('name', string, '3+'),
      field('minVersion', int16, '3+'),
      field('maxVersion', int16, '3+'),
    )), '3+', { tag: 0, tagged: '3+' }),
    field('finalizedFeaturesEpoch', int64, '3+', { default: -1, tag: 1, tagged: '3+' }),
    field('finalizedFeatures', array(struct(
      field('name', string, '3+'),
      field('maxVersionLevel', int16, '3+'),
      field('minVersionLevel', int16, '3+'),
    )), '3+', { tag: 2, tagged: '3+' }),
    field('zkMigrationReady', bool, '3+', { tag: 3, tagged: '3+' }),
  ),
});

export const CreateTopics = api({
  key: 19,
  name: 'CreateTopics',
  versions: '0-5',
  flexible: '5+',
  request: struct(
    field('topics', array(struct(
      field('name', string, '0+'),
      field('numPartitions', int32, '0+'),
      field('replicationFactor', int16, '0+'),
      field('assignments', array(struct(
        field('partitionIndex', int32, '0+'),
        field('brokerIds', array(int32), '0+'),
      )), '0+'),
      field('configs', array(struct(
        field('name', string, '0+'),
        field('value', string, '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
    field('timeoutMs', int32, '0+', { default: 60000 }),
    field('validateOnly', bool, '1+'),
  ),
  response: struct(
    throttleTimeMs('2+'),
    field('topics', array(struct(
      field('name', string, '0+'),
      errorCode,
      field('errorMessage', string, '1+', { nullable: '0+' }),
      field('topicConfigErrorCode', int16, '5+', { tag: 0, tagged: '5+' }),
      field('numPartitions', int32, '5+', { default: -1 }),
      field('replicationFactor', int16, '5+', { default: -1 }),
      field('configs', array(struct(
        field('name', string, '5+'),
        field('value', string, '5+', { nullable: '5+' }),
        field('readOnly', bool, '5+'),
        field('configSource', int8, '5+', { default: -1 }),
        field('isSensitive', bool, '5+'),
      )), '5+', { nullable: '5+' }),
    )), '0+'),
  ),
});

export const DeleteTopics = api({
  key: 20,
  name: 'DeleteTopics',
  versions: '0-4',
  flexible: '4+',
  request: struct(
    field('topicNames', array(string), '0-5'),
    field('timeoutMs', int32, '0+'),
  ),
  response: struct(
    throttleTimeMs('1+'),
    field('responses', array(struct(
      field('name', string, '0+', { nullable: '6+' }),
      errorCode,
    )), '0+'),
  ),
});

export const InitProducerId = api({
  key: 22,
  name: 'InitProducerId',
  versions: '0-2',
  flexible: '2+',
  request: struct(
    field('transactionalId', string, '0+', { nullable: '0+' }),
    field('transactionTimeoutMs', int32, '0+'),
  ),
  response: struct(
    throttleTimeMs('0+'),
    errorCode,
    field('producerId', int64, '0+', { default: -1 }),
    field('producerEpoch', int16, '0+'),
  ),
});

export const OffsetForLeaderEpoch = api({
  key: 23,
  name: 'OffsetForLeaderEpoch',
  versions: '0-4',
  flexible: '4+',
  request: struct(
    field('replicaId', int32, '3+', { default: -2 }),
    field('topics', array(struct(
      field('topic', string, '0+'),
      field('partitions', array(struct(
        field('partition', int32, '0+'),
        field('currentLeaderEpoch', int32, '2+', { default: -1 }),
        field('leaderEpoch', int32, '0+'),
      )), '0+'),
    )), '0+'),
  ),
  response: struct(
    throttleTimeMs('2+'),
    field('topics', array(struct(
      field('topic', string, '0+'),
      field('partitions', array(struct(
        errorCode,
        field('partition', int32, '0+'),
        field('leaderEpoch', int32, '1+', { default: -1 }),
        field('endOffset', int64, '0+', { default: -1 }),
      )), '0+'),
    )), '0+'),
  ),
});

export const DescribeConfigs = api({
  key: 32,
  name: 'DescribeConfigs',
  versions: '0-4',
  flexible: '4+',
  request: struct(
    field('resources', array(struct(
      field('resourceType', int8, '0+'),
      field('resourceName', string, '0+'),
      // null asks for every key of the resource.
      field('configurationKeys', array(string), '0+', { nullable: '0+' }),
    )), '0+'),
    field('includeSynonyms', bool, '1+'),
    field('includeDocumentation', bool, '3+'),
  ),
  response: struct(
    throttleTimeMs('0+'),
    field('results', array(struct(
      errorCode,
      field('errorMessage', string, '0+', { nullable: '0+' }),
      field('resourceType', int8, '0+'),
      field('resourceName', string, '0+'),
      field('configs', array(struct(
        field('name', string, '0+'),
        field('value', string, '0+', { nullable: '0+' }),
        field('readOnly', bool, '0+'),
        field('isDefault', bool, '0'),
        field('configSource', int8, '1+', { default: -1 }),
        field('isSensitive', bool, '0+'),
        field('synonyms', array(struct(
          field('name', string, '1+'),
          field('value', string, '1+', { nullable: '0+' }),
          field('source', int8, '1+'),
        )), '1+'),
        field('configType', int8, '3+'),
        field('documentation', string, '3+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
  ),
});

export const SaslAuthenticate = api({
  key: 36,
  name: 'SaslAuthenticate',
  versions: '0-2',
  flexible: '2+',
  request: struct(field('authBytes', bytes, '0+')),
  response: struct(
    errorCode,
    field('errorMessage', string, '0+', { nullable: '0+' }),
    field('authBytes', bytes, '0+'),
    field('sessionLifetimeMs', int64, '1+'),
  ),
});

/** Every api of the table, by name. */
export const KAFKA_APIS = {
  Produce,
  Fetch,
  ListOffsets,
  Metadata,
  OffsetCommit,
  OffsetFetch,
  FindCoordinator,
  JoinGroup,
  Heartbeat,
  LeaveGroup,
  SyncGroup,
  DescribeGroups,
  ListGroups,
  SaslHandshake,
  ApiVersions,
  CreateTopics,
  DeleteTopics,
  InitProducerId,
  OffsetForLeaderEpoch,
  DescribeConfigs,
  SaslAuthenticate,
} as const;

export type KafkaApiName = keyof typeof KAFKA_APIS;

export const KAFKA_APIS_BY_KEY: ReadonlyMap<number, KafkaApi> = new Map(Object.values(KAFKA_APIS).map((a) => [a.key, a as KafkaApi]));
