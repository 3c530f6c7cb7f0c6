/**
 * Flotilla's error codes as Kafka error codes (Kafka's `Errors` enum), so that Kafka
 * clients retry what Flotilla calls retriable: every retriable code maps to a code Kafka's
 * clients retry (test/unit/kafka-errors.test.ts checks it against kafkajs's table).
 */
import type { Init, client } from '../../protocol/codec.js';
import { errorFromWire, toFlotillaError, type ErrorCode } from '../../protocol/errors.js';

/** The Kafka codes this listener uses, by Kafka's names. */
export const KafkaError = {
  NONE: 0,
  UNKNOWN_SERVER_ERROR: -1,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  REPLICA_NOT_AVAILABLE: 9,
  MESSAGE_TOO_LARGE: 10,
  NOT_ENOUGH_REPLICAS: 19,
  INVALID_REQUIRED_ACKS: 21,
  REBALANCE_IN_PROGRESS: 27,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REPLICA_ASSIGNMENT: 39,
  INVALID_CONFIG: 40,
  NOT_CONTROLLER: 41,
  INVALID_REQUEST: 42,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  KAFKA_STORAGE_ERROR: 56,
  SASL_AUTHENTICATION_FAILED: 58,
  UNKNOWN_PRODUCER_ID: 59,
  GROUP_ID_NOT_FOUND: 69,
  INVALID_RECORD: 87,
} as const;

/**
 * One row per Flotilla code. Where Kafka has no exact twin the choice keeps the client's
 * reaction right: SHUTTING_DOWN is NOT_LEADER_OR_FOLLOWER (refresh metadata, go to the
 * new leader); BROKER_BUSY and DISK_FULL are KAFKA_STORAGE_ERROR (retriable, and the
 * client refreshes metadata as the leadership moves).
 */
export const KAFKA_ERROR_OF: Record<ErrorCode, number> = {
  NOT_LEADER: KafkaError.NOT_LEADER_OR_FOLLOWER,
  LEADER_NOT_AVAILABLE: KafkaError.LEADER_NOT_AVAILABLE,
  NOT_CONTROLLER: KafkaError.NOT_CONTROLLER,
  UNKNOWN_TOPIC: KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
  TOPIC_EXISTS: KafkaError.TOPIC_ALREADY_EXISTS,
  UNKNOWN_PARTITION: KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
  OFFSET_OUT_OF_RANGE: KafkaError.OFFSET_OUT_OF_RANGE,
  INVALID_REQUEST: KafkaError.INVALID_REQUEST,
  INVALID_CONFIG: KafkaError.INVALID_CONFIG,
  FRAME_TOO_LARGE: KafkaError.MESSAGE_TOO_LARGE,
  RECORD_TOO_LARGE: KafkaError.MESSAGE_TOO_LARGE,
  CORRUPT_BATCH: KafkaError.CORRUPT_MESSAGE,
  NOT_ENOUGH_REPLICAS: KafkaError.NOT_ENOUGH_REPLICAS,
  TIMEOUT: KafkaError.REQUEST_TIMED_OUT,
  OUT_OF_ORDER_SEQUENCE: KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
  UNKNOWN_PRODUCER: KafkaError.UNKNOWN_PRODUCER_ID,
  BROKER_NOT_AVAILABLE: KafkaError.NOT_LEADER_OR_FOLLOWER,
  SHUTTING_DOWN: KafkaError.NOT_LEADER_OR_FOLLOWER,
  UNKNOWN_GROUP: KafkaError.GROUP_ID_NOT_FOUND,
  REBALANCE_IN_PROGRESS: KafkaError.REBALANCE_IN_PROGRESS,
  UNSUPPORTED_VERSION: KafkaError.UNSUPPORTED_VERSION,
  INTERNAL: KafkaError.UNKNOWN_SERVER_ERROR,
  BROKER_BUSY: KafkaError.KAFKA_STORAGE_ERROR,
  REPLICA_NOT_AVAILABLE: KafkaError.REPLICA_NOT_AVAILABLE,
  DISK_FULL: KafkaError.KAFKA_STORAGE_ERROR,
  AUTHENTICATION_FAILED: KafkaError.SASL_AUTHENTICATION_FAILED,
  NOT_AUTHORIZED: KafkaError.TOPIC_AUTHORIZATION_FAILED,
  USER_EXISTS: KafkaError.INVALID_REQUEST,
  UNKNOWN_USER: KafkaError.INVALID_REQUEST,
};

/** Kafka's refusal by the resource an ACL check refused (the native NOT_AUTHORIZED names it). */
const AUTHORIZATION_FAILED_ON: Record<string, number> = {
  topic: KafkaError.TOPIC_AUTHORIZATION_FAILED,
  group: KafkaError.GROUP_AUTHORIZATION_FAILED,
  cluster: KafkaError.CLUSTER_AUTHORIZATION_FAILED,
};

/**
 * The Kafka code of any failure (one Flotilla did not expect is UNKNOWN_SERVER_ERROR);
 * NOT_AUTHORIZED becomes TOPIC_, GROUP_ or CLUSTER_AUTHORIZATION_FAILED by the resource it names.
 */
export function kafkaErrorOf(error: unknown): number {
  const e = toFlotillaError(error, 'internal error');
  if (e.code === 'NOT_AUTHORIZED') return AUTHORIZATION_FAILED_ON[String(e.details.resourceType)] ?? KafkaError.TOPIC_AUTHORIZATION_FAILED;
  return KAFKA_ERROR_OF[e.code];
}

/** The Kafka code of an error the native protocol carried as its wire number (0: none). */
export function kafkaErrorOfInfo(info: Init<client.ErrorInfo> | null | undefined): number {
  if (!info?.code) return KafkaError.NONE;
  return KAFKA_ERROR_OF[errorFromWire(info.code).code];
}
