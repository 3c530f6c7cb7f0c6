/**
 * Consumer options: one defaults object, validated once in `client.consumer()`.
 */
import { defined, invalid, rejectUnknown, requireInteger, requireOneOf } from '../validate.js';

export type ReadFrom = 'any' | 'leader' | number;
export type OffsetReset = 'earliest' | 'latest' | 'none';

/** A partition to read and where to start: what `consumer.assign()` takes. */
export interface Assignment {
  topic: string;
  partition: number;
  /** An offset, the log start, the end, or the first record whose timestamp (ms) is at or after `timestamp` (the end when none is). */
  offset: number | 'earliest' | 'latest' | { timestamp: number };
}

export interface ConsumerOptions {
  /** The consumer group to join with subscribe(): partitions are shared among its members. */
  groupId?: string;
  /** 'any' spreads fetches over the replicas, 'leader' reads the leader, a broker id pins one replica. */
  readFrom?: ReadFrom;
  /** Long-poll: how long a broker may hold a fetch that has nothing to return yet. */
  maxWaitMs?: number;
  /** Upper bound of one fetch response per partition. */
  maxBytes?: number;
  /** Where to go when the position is outside the log (records deleted by retention, say). */
  offsetReset?: OffsetReset;
  /** How long a replica that timed out or was unreachable is skipped by readFrom 'any'. */
  replicaSetAsideMs?: number;
  /** A group member silent this long loses its partitions to the others. */
  sessionTimeoutMs?: number;
  /** Group heartbeats run on their own timer at this interval, whatever the application does. */
  heartbeatIntervalMs?: number;
  /** Groups: commit positions every autoCommitIntervalMs, on rebalance and on close(). */
  autoCommit?: boolean;
  autoCommitIntervalMs?: number;
}

export const CONSUMER_DEFAULTS = {
  groupId: undefined as string | undefined,
  readFrom: 'any' as ReadFrom,
  maxWaitMs: 500,
  maxBytes: 1024 * 1024,
  offsetReset: 'earliest' as OffsetReset,
  replicaSetAsideMs: 30_000,
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  autoCommit: true,
  autoCommitIntervalMs: 5_000,
};

export type ResolvedConsumerOptions = typeof CONSUMER_DEFAULTS;

export function resolveConsumerOptions(options: ConsumerOptions = {}): ResolvedConsumerOptions {
  if (options === null || typeof options !== 'object') throw invalid('client.consumer(options) takes an options object or nothing');
  rejectUnknown('consumer', options, CONSUMER_DEFAULTS);
  const resolved = { ...CONSUMER_DEFAULTS, ...defined(options) };
  if (typeof resolved.readFrom === 'number') {
    requireInteger('consumer', 'readFrom', resolved.readFrom, 1);
  } else {
    requireOneOf('consumer', 'readFrom', resolved.readFrom, ['any', 'leader'] as const);
  }
  if (resolved.groupId !== undefined && (typeof resolved.groupId !== 'string' || resolved.groupId === '')) {
    throw invalid('consumer option groupId must be a non-empty string when given');
  }
  requireInteger('consumer', 'maxWaitMs', resolved.maxWaitMs, 0, 30_000);
  requireInteger('consumer', 'maxBytes', resolved.maxBytes, 1024, 16 * 1024 * 1024 - 1024);
  requireOneOf('consumer', 'offsetReset', resolved.offsetReset, ['earliest', 'latest', 'none'] as const);
  requireInteger('consumer', 'replicaSetAsideMs', resolved.replicaSetAsideMs, 0);
  requireInteger('consumer', 'sessionTimeoutMs', resolved.sessionTimeoutMs, 1);
  requireInteger('consumer', 'heartbeatIntervalMs', resolved.heartbeatIntervalMs, 1);
  if (typeof resolved.autoCommit !== 'boolean') throw invalid('consumer option autoCommit must be true or false');
  requireInteger('consumer', 'autoCommitIntervalMs', resolved.autoCommitIntervalMs, 1);
  if (resolved.heartbeatIntervalMs >= resolved.sessionTimeoutMs) {
    throw invalid(`consumer option heartbeatIntervalMs (${resolved.heartbeatIntervalMs}) must be below sessionTimeoutMs (${resolved.sessionTimeoutMs}); a third of it is usual`);
  }
  return resolved;
}
