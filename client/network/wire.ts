/**
 * The client's EnvelopeCodec for protocol/client.proto: maps ClientRequest objects onto
 * Request envelopes and Response envelopes back onto ClientResponse objects.
 *
 * The client sends one topic or partition per request (produce aside), so a per-topic or
 * per-partition ErrorInfo in a response (CreateTopics results, FetchedPartition.error, ...)
 * becomes the request's error, exactly like Response.error. Produce results keep theirs:
 * each partition of a produce request succeeds or fails on its own. Fetched record bytes are views into the
 * frame, and the connection gives every frame its own buffer, so a kept message pins one
 * response, never a whole socket chunk.
 */
import { CLIENT_API_VERSION, decodeResponse, encodeRequestChunks, fromErrorInfo, type Init } from '../../protocol/codec.js';
import type * as wire from '../../protocol/client.schema.js';
import { Acks as WireAcks, OffsetSpec } from '../../protocol/client.schema.js';
import { validateAclBinding, type AclBinding } from '../../protocol/acls.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { ScramMechanism } from '../../protocol/scram.js';
import type { EnvelopeCodec } from './connection.js';
import type { ClientRequest, ClientResponse, OffsetTarget, TopicConfigInput } from './api.js';

const ACKS = { all: WireAcks.ACKS_ALL, leader: WireAcks.ACKS_LEADER, none: WireAcks.ACKS_NONE } as const;

function offsetSpec(target: OffsetTarget): { spec: OffsetSpec; value: number } {
  if (target === 'earliest') return { spec: OffsetSpec.OFFSET_EARLIEST, value: 0 };
  if (target === 'latest') return { spec: OffsetSpec.OFFSET_LATEST, value: 0 };
  return { spec: OffsetSpec.OFFSET_BY_TIMESTAMP, value: target.timestamp };
}

function wireConfig(config: TopicConfigInput): Init<wire.TopicConfig> {
  const out: Init<wire.TopicConfig> = {};
  if (config.retentionMs !== undefined) out.retentionMs = config.retentionMs;
  if (config.retentionBytes !== undefined) out.retentionBytes = config.retentionBytes;
  if (config.segmentBytes !== undefined) out.segmentBytes = config.segmentBytes;
  return out;
}

function configFromWire(config: wire.TopicConfig | null): TopicConfigInput {
  const out: TopicConfigInput = {};
  if (config?.retentionMs != null) out.retentionMs = config.retentionMs;
  if (config?.retentionBytes != null) out.retentionBytes = config.retentionBytes;
  if (config?.segmentBytes != null) out.segmentBytes = config.segmentBytes;
  return out;
}

const idOrNull = (id: number): number | null => (id > 0 ? id : null);

function aclFromWire(acl: wire.AclBinding): AclBinding {
  return validateAclBinding({ ...acl });
}

/** The body of a Request envelope for one ClientRequest. */
export function requestBody(request: ClientRequest): Init<wire.Request> {
  switch (request.type) {
    case 'metadata':
      return { metadata: { topics: request.topics ?? [] } };
    case 'createTopic':
      return {
        createTopics: {
          topics: [{ topic: request.topic, partitions: request.partitions, replication: request.replicationFactor, config: wireConfig(request.config) }],
          timeoutMs: request.timeoutMs,
        },
      };
    case 'deleteTopic':
      return { deleteTopics: { topics: [request.topic] } };
    case 'alterTopic':
      return { alterTopicConfig: { topic: request.topic, config: wireConfig(request.config) } };
    case 'describeTopic':
      return { describeTopic: { topic: request.topic } };
    case 'describeCluster':
      return { describeCluster: {} };
    case 'initProducerId':
      return { initProducerId: request.producerId !== undefined ? { producerId: request.producerId, producerEpoch: request.producerEpoch ?? 0 } : {} };
    case 'produce':
      return { produce: { acks: ACKS[request.acks], timeoutMs: request.timeoutMs, partitions: request.partitions } };
    case 'fetch':
      return {
        fetch: {
          partitions: [{ topic: request.topic, partition: request.partition, offset: request.offset, maxBytes: request.maxBytes }],
          maxWaitMs: request.maxWaitMs,
          minBytes: 1,
          maxBytes: request.maxBytes,
        },
      };
    case 'listOffsets':
      return {
        listOffsets: {
          partitions: [{ topic: request.topic, partition: request.partition, ...offsetSpec(request.target) }],
        },
      };
    case 'movePartition':
      return { movePartition: { topic: request.topic, partition: request.partition, replicas: request.replicas } };
    case 'transferLeader':
      return { transferLeader: { topic: request.topic, partition: request.partition, to: request.to } };
    case 'balanceLeaders':
      return { balanceLeaders: {} };
    case 'removeBroker':
      return { removeBroker: { brokerId: request.brokerId } };
    case 'listGroups':
      return { listGroups: {} };
    case 'describeGroup':
      return { describeGroup: { groupId: request.groupId } };
    case 'resetOffsets': {
      const target = request.target;
      return {
        resetOffsets: {
          groupId: request.groupId,
          topic: request.topic,
          partitions: [],
          ...(typeof target === 'number' ? { spec: OffsetSpec.OFFSET_EXACT, value: target } : offsetSpec(target)),
          offsets: (request.offsets ?? []).map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })),
        },
      };
    }
    case 'joinGroup':
      return { joinGroup: { groupId: request.groupId, memberId: request.memberId, topics: request.topics, sessionTimeoutMs: request.sessionTimeoutMs, owned: request.owned } };
    case 'heartbeat':
      return { heartbeat: { groupId: request.groupId, memberId: request.memberId, generation: request.generation } };
    case 'leaveGroup':
      return { leaveGroup: { groupId: request.groupId, memberId: request.memberId } };
    case 'commitOffsets':
      return { commitOffsets: { groupId: request.groupId, memberId: request.memberId, generation: request.generation, offsets: request.offsets } };
    case 'fetchOffsets':
      return { fetchOffsets: { groupId: request.groupId, partitions: request.partitions } };
    case 'saslHandshake':
      return { saslHandshake: { mechanism: request.mechanism } };
    case 'saslAuthenticate':
      return { saslAuthenticate: { authBytes: request.bytes } };
    case 'createUser':
      return { createUser: { name: request.name, credential: request.credential } };
    case 'alterUser':
      return { alterUser: { name: request.name, credential: request.credential } };
    case 'deleteUser':
      return { deleteUser: { name: request.name } };
    case 'listUsers':
      return { listUsers: {} };
    case 'createAcls':
      return { createAcls: { acls: request.acls } };
    case 'listAcls':
      return { listAcls: { filter: request.filter } };
    case 'deleteAcls':
      return { deleteAcls: { filter: request.filter } };
  }
}

function missing(what: string): FlotillaError {
  return new FlotillaError('INTERNAL', `the broker's response has no ${what}`);
}

/** Maps a decoded Response envelope (without envelope error) to a ClientResponse, or the item's error. */
export function responseFromWire(response: wire.Response): { response?: ClientResponse; error?: FlotillaError } {
  const fail = (info: wire.ErrorInfo | null | undefined): { error: FlotillaError } | null => {
    const error = fromErrorInfo(info);
    return error ? { error } : null;
  };
  if (response.metadata) {
    const m = response.metadata;
    return {
      response: {
        type: 'metadata',
        result: {
          controller: idOrNull(m.controllerId),
          brokers: m.brokers.map((b) => ({ id: b.id, address: b.address })),
          topics: m.topics
            .filter((t) => !fromErrorInfo(t.error))
            .map((t) => ({
              topic: t.topic,
              partitions: t.partitions.map((p) => ({ partition: p.partition, leader: idOrNull(p.leader), leaderTerm: p.leaderTerm, replicas: [...p.replicas], inSync: [...p.inSync] })),
            })),
        },
      },
    };
  }
  if (response.initProducerId) {
    return { response: { type: 'initProducerId', result: { producerId: response.initProducerId.producerId, producerEpoch: response.initProducerId.producerEpoch } } };
  }
  if (response.produce) {
    const partitions = response.produce.partitions.map((p) => {
      const error = fromErrorInfo(p.error);
      return error ? { topic: p.topic, partition: p.partition, error } : { topic: p.topic, partition: p.partition, baseOffset: p.baseOffset };
    });
    return { response: { type: 'produce', result: { partitions } } };
  }
  if (response.fetch) {
    const p = response.fetch.partitions[0];
    if (!p) return { error: missing('fetched partition') };
    return fail(p.error) ?? { response: { type: 'fetch', result: { records: p.records, highWatermark: p.highWatermark, logStartOffset: p.logStartOffset } } };
  }
  if (response.listOffsets) {
    const o = response.listOffsets.offsets[0];
    if (!o) return { error: missing('listed offset') };
    return fail(o.error) ?? { response: { type: 'listOffsets', result: { offset: o.offset, timestamp: o.timestamp } } };
  }
  if (response.createTopics) return fail(response.createTopics.results[0]?.error) ?? { response: { type: 'createTopic' } };
  if (response.deleteTopics) return fail(response.deleteTopics.results[0]?.error) ?? { response: { type: 'deleteTopic' } };
  if (response.alterTopicConfig) return { response: { type: 'alterTopic' } };
  if (response.describeTopic) {
    const d = response.describeTopic;
    return {
      response: {
        type: 'describeTopic',
        result: {
          topic: d.topic,
          partitions: d.partitions.map((p) => ({
            partition: p.partition,
            leader: idOrNull(p.leader),
            replicas: [...p.replicas],
            inSync: [...p.inSync],
            highWatermark: p.highWatermark,
            logStartOffset: p.logStartOffset,
            ...(p.movingFrom.length > 0 ? { movingFrom: [...p.movingFrom] } : {}),
          })),
          config: configFromWire(d.config),
        },
      },
    };
  }
  if (response.describeCluster) {
    const c = response.describeCluster;
    return {
      response: {
        type: 'describeCluster',
        result: { controller: idOrNull(c.controllerId), brokers: c.brokers.map((b) => ({ id: b.id, address: b.address, alive: b.alive, leaders: b.leaders })) },
      },
    };
  }
  if (response.movePartition) return { response: { type: 'movePartition' } };
  if (response.transferLeader) return { response: { type: 'transferLeader' } };
  if (response.balanceLeaders) return { response: { type: 'balanceLeaders', result: { transfers: response.balanceLeaders.transfers } } };
  if (response.removeBroker) return { response: { type: 'removeBroker' } };
  if (response.listGroups) return { response: { type: 'listGroups', result: response.listGroups.groups.map((g) => ({ groupId: g.groupId, state: g.state, members: g.members })) } };
  if (response.describeGroup) {
    const g = response.describeGroup;
    return {
      response: {
        type: 'describeGroup',
        result: {
          groupId: g.groupId,
          state: g.state,
          generation: g.generation,
          members: g.members.map((m) => ({
            memberId: m.memberId,
            clientId: m.clientId,
            clientAddress: m.clientAddress,
            assignment: m.assignment.map((a) => ({ topic: a.topic, partitions: [...a.partitions] })),
          })),
          offsets: g.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })),
        },
      },
    };
  }
  if (response.resetOffsets) {
    const failed = response.resetOffsets.offsets.find((o) => fromErrorInfo(o.error));
    if (failed) return { error: fromErrorInfo(failed.error)! };
    return { response: { type: 'resetOffsets', result: response.resetOffsets.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })) } };
  }
  if (response.joinGroup) {
    const j = response.joinGroup;
    return { response: { type: 'joinGroup', result: { memberId: j.memberId, generation: j.generation, assignment: j.assignment.map((a) => ({ topic: a.topic, partitions: [...a.partitions] })) } } };
  }
  if (response.heartbeat) {
    const h = response.heartbeat;
    return { response: { type: 'heartbeat', result: { memberId: '', generation: h.generation, assignment: h.assignment.map((a) => ({ topic: a.topic, partitions: [...a.partitions] })) } } };
  }
  if (response.leaveGroup) return { response: { type: 'leaveGroup' } };
  if (response.commitOffsets) {
    const failed = response.commitOffsets.offsets.find((o) => fromErrorInfo(o.error));
    if (failed) return { error: fromErrorInfo(failed.error)! };
    return { response: { type: 'commitOffsets' } };
  }
  if (response.fetchOffsets) {
    return { response: { type: 'fetchOffsets', result: response.fetchOffsets.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })) } };
  }
  if (response.saslHandshake) return { response: { type: 'saslHandshake' } };
  if (response.saslAuthenticate) return { response: { type: 'saslAuthenticate', result: response.saslAuthenticate.authBytes } };
  if (response.createUser) return { response: { type: 'createUser' } };
  if (response.alterUser) return { response: { type: 'alterUser' } };
  if (response.deleteUser) return { response: { type: 'deleteUser' } };
  if (response.listUsers) return { response: { type: 'listUsers', result: response.listUsers.users.map((u) => ({ name: u.name, mechanism: u.mechanism as ScramMechanism, iterations: u.iterations })) } };
  if (response.createAcls) return { response: { type: 'createAcls' } };
  if (response.listAcls) return { response: { type: 'listAcls', result: response.listAcls.acls.map(aclFromWire) } };
  if (response.deleteAcls) return { response: { type: 'deleteAcls', result: response.deleteAcls.deleted.map(aclFromWire) } };
  return { error: new FlotillaError('UNSUPPORTED_VERSION', 'the broker answered with a response this client does not know; upgrade the client') };
}

export function createWireCodec(clientId: string): EnvelopeCodec<ClientRequest, ClientResponse> {
  return {
    encodeRequest(correlationId, request) {
      return encodeRequestChunks({ correlationId, apiVersion: CLIENT_API_VERSION, clientId, ...requestBody(request) });
    },
    decodeResponse(frame) {
      const response = decodeResponse(frame);
      const error = fromErrorInfo(response.error);
      if (error) return { correlationId: response.correlationId, error };
      return { correlationId: response.correlationId, ...responseFromWire(response) };
    },
  };
}
