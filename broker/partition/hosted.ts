import type { FlotillaError } from '../../protocol/errors.js';
import type { PartitionReplica } from './partition.js';

/** The partition replicas a broker hosts, as the request handlers and its background work see them. */
export interface HostedReplicas {
  replica(topic: string, partition: number): PartitionReplica | undefined;
  /** Why this broker cannot serve the partition: NOT_LEADER with a hint, or UNKNOWN_*. */
  notHostedError(topic: string, partition: number): FlotillaError;
  /** Every replica hosted here. */
  all(): Iterable<PartitionReplica>;
  /** The replicas hosted here whose partition this broker leads, found without walking them all. */
  ledHere(): Iterable<PartitionReplica>;
}
