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

/** The Kafka code of any failure (one Flotilla did not expect is UNKNOWN_SERVER_ERROR). */
export function kafkaErrorOf(error: unknown): number {
  return KAFKA_ERROR_OF[toFlotillaError(error, 'internal error').code];
}

/** The Kafka code of an error the native protocol carried as its wire number (0: none). */
export function kafkaErrorOfInfo(info: Init<client.ErrorInfo> | null | undefined): number {
  if (!info?.code) return KafkaError.NONE;
  return KAFKA_ERROR_OF[errorFromWire(info.code).code];
}
