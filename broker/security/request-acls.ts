/**
 * What each client request needs (SPEC section 9), as data for the dispatcher, and the
 * checks that read it: the whole request's (cluster, group, "any topic") before it runs,
 * and each topic's or listed group's as the request reaches it. A record over every
 * request type, so that a new request type does not compile until it is classified here.
 */
import type { Operation } from '../../protocol/acls.js';
import type { client } from '../../protocol/codec.js';
import { FlotillaError } from '../../protocol/errors.js';
import { CLUSTER, groupResource, notAuthorized, topicResource, type Authorizer } from './authorizer.js';

export type RequestType = NonNullable<client.Request['body']>;

export interface RequestAcl {
  /** On each topic the request names: each topic is answered, or refused, on its own. */
  topic?: Operation;
  /** The same operation on the cluster also grants `topic`, for every topic (creating topics). */
  orCluster?: true;
  /** On the group the request names, for the whole request. */
  group?: Operation;
  /** On the cluster, for the whole request. */
  cluster?: Operation;
  /** On at least one topic, for the whole request (an idempotent producer's id). */
  anyTopic?: Operation;
  /**
   * When the request names no topics (or groups) it asks for all of them: those whose
   * `topic` (or `group`) check fails are left out of the answer instead of refusing it.
   */
  lists?: 'topics' | 'groups';
}

const READ_GROUP: RequestAcl = { group: 'read' };
const READ_GROUP_AND_TOPICS: RequestAcl = { group: 'read', topic: 'read' };
const ALTER_CLUSTER: RequestAcl = { cluster: 'alter' };

export const REQUEST_ACLS: Readonly<Record<RequestType, RequestAcl>> = {
  metadata: { topic: 'describe', lists: 'topics' },
  describeTopic: { topic: 'describe' },
  listOffsets: { topic: 'describe' },
  produce: { topic: 'write' },
  fetch: { topic: 'read' },
  initProducerId: { anyTopic: 'write' },
  createTopics: { topic: 'create', orCluster: true },
  deleteTopics: { topic: 'delete' },
  alterTopicConfig: { topic: 'alter' },
  // The coordinator assigns the partitions of the topics named, so naming one is describing it.
  joinGroup: { group: 'read', topic: 'describe' },
  heartbeat: READ_GROUP,
  leaveGroup: READ_GROUP,
  commitOffsets: READ_GROUP_AND_TOPICS,
  // Without partitions: every partition the group committed, less the topics it may not read.
  fetchOffsets: { ...READ_GROUP_AND_TOPICS, lists: 'topics' },
  resetOffsets: READ_GROUP_AND_TOPICS,
  // Offsets and assignments of topics the principal may not describe are left out.
  describeGroup: { group: 'describe', topic: 'describe', lists: 'topics' },
  listGroups: { group: 'describe', lists: 'groups' },
  // SPEC section 9 does not name it: the brokers' liveness and leader counts are an
  // operator's view, so Kafka's rule for DescribeCluster.
  describeCluster: { cluster: 'describe' },
  // Sent by brokers for the operations console: the same operator's view, one broker's part.
  describeBroker: { cluster: 'describe' },
  // Sent by brokers, not users (a joining broker; a partition leader reporting a finished
  // move): the brokers' own principal needs alter on the cluster, or to be a superuser.
  registerBroker: ALTER_CLUSTER,
  movePartition: ALTER_CLUSTER,
  transferLeader: ALTER_CLUSTER,
  balanceLeaders: ALTER_CLUSTER,
  removeBroker: ALTER_CLUSTER,
  // Authentication comes before authorization: these need nothing (broker/security/sasl.ts).
  saslHandshake: {},
  saslAuthenticate: {},
  createUser: ALTER_CLUSTER,
  alterUser: ALTER_CLUSTER,
  deleteUser: ALTER_CLUSTER,
  listUsers: ALTER_CLUSTER,
  createAcls: ALTER_CLUSTER,
  listAcls: ALTER_CLUSTER,
  deleteAcls: ALTER_CLUSTER,
};

/**
 * The whole-request checks of `type` (cluster, group, any topic), before it runs: the
 * refusal naming what was missing, or undefined when allowed. `group` is the group the
 * request names (listings check each group with groupRefusal instead).
 */
export function requestRefusal(authorizer: Authorizer, principal: string, type: RequestType, group = ''): FlotillaError | undefined {
  const needs = REQUEST_ACLS[type];
  if (needs.cluster && !authorizer.authorize(principal, needs.cluster, CLUSTER)) return notAuthorized(principal, needs.cluster, CLUSTER);
  if (needs.group && needs.lists !== 'groups') {
    const refusal = groupRefusal(authorizer, principal, type, group);
    if (refusal) return refusal;
  }
  if (needs.anyTopic && !authorizer.authorizeAny(principal, needs.anyTopic, 'topic')) {
    return new FlotillaError('NOT_AUTHORIZED', `${principal} may not ${needs.anyTopic} any topic: ${type} needs ${needs.anyTopic} on at least one`, {
      principal,
      operation: needs.anyTopic,
      resourceType: 'topic',
    });
  }
  return undefined;
}

/**
 * The check of one topic a request of `type` names (or would list): its refusal, or
 * undefined when allowed or when the request needs nothing on topics. A topic the
 * principal may not use is refused whether or not it exists.
 */
export function topicRefusal(authorizer: Authorizer, principal: string, type: RequestType, topic: string): FlotillaError | undefined {
  const { topic: operation, orCluster } = REQUEST_ACLS[type];
  if (!operation) return undefined;
  const resource = topicResource(topic);
  if (authorizer.authorize(principal, operation, resource)) return undefined;
  if (orCluster && authorizer.authorize(principal, operation, CLUSTER)) return undefined;
  return notAuthorized(principal, operation, resource);
}

/** The same for one group a request of `type` names (or would list). */
export function groupRefusal(authorizer: Authorizer, principal: string, type: RequestType, group: string): FlotillaError | undefined {
  const operation = REQUEST_ACLS[type].group;
  if (!operation) return undefined;
  const resource = groupResource(group);
  return authorizer.authorize(principal, operation, resource) ? undefined : notAuthorized(principal, operation, resource);
}
