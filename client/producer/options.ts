/**
 * Producer options: one defaults object, validated once in `client.producer()`.
 */
import type { Acks } from '../network/api.js';
import { defined, invalid, rejectUnknown, requireBoolean, requireInteger, requireOneOf } from '../validate.js';

export interface ProducerOptions {
  /** 'all' (majority durable, the default), 'leader' (leader appended), 'none' (written to the socket). */
  acks?: Acks;
  /**
   * Retries never create duplicates: each partition keeps this producer's records in send
   * order, exactly once (producer id, epoch and per-partition sequences), and may have
   * several batches on the wire at once. Needs acks 'all'; on by default with acks 'all'
   * (as in Kafka 3), off otherwise.
   */
  idempotent?: boolean;
  /**
   * How long a partition's first queued record waits for company before its batch is sent,
   * while earlier batches of the partition are on the wire; with none there, records leave
   * as soon as the current burst of sends is queued.
   */
  lingerMs?: number;
  /**
   * A batch is sent once it holds this many (estimated) bytes; also the cap per batch.
   * Under load the next batch grows while earlier ones replicate: a large cap keeps
   * throughput up (1 KiB records, 3 partitions, one batch on the wire per partition: 1 MiB
   * gave 2.4-3x the records/s of 64 KiB), and lingerMs still bounds latency at low load.
   */
  batchBytes?: number;
  /**
   * Most requests in flight per broker connection. An idempotent producer keeps up to this
   * many (at most 5) batches of a partition on the wire; otherwise a partition has one.
   */
  maxInFlight?: number;
  /** A record that is not acknowledged this long after send() fails with its last error. */
  deliveryTimeoutMs?: number;
  /** Bytes queued in the producer above which `whenWritable()` waits. */
  maxBufferedBytes?: number;
}

export const PRODUCER_DEFAULTS = {
  acks: 'all' as Acks,
  /** Resolved: true with acks 'all' unless asked otherwise, false with the other acks. */
  idempotent: true,
  lingerMs: 2,
  batchBytes: 1024 * 1024,
  maxInFlight: 5,
  deliveryTimeoutMs: 120_000,
  maxBufferedBytes: 32 * 1024 * 1024,
};

export type ResolvedProducerOptions = typeof PRODUCER_DEFAULTS;

export function resolveProducerOptions(options: ProducerOptions = {}): ResolvedProducerOptions {
  if (options === null || typeof options !== 'object') throw invalid('client.producer(options) takes an options object or nothing');
  rejectUnknown('producer', options, PRODUCER_DEFAULTS);
  const resolved = { ...PRODUCER_DEFAULTS, ...defined(options) };
  requireOneOf('producer', 'acks', resolved.acks, ['all', 'leader', 'none'] as const);
  if (options.idempotent === undefined) resolved.idempotent = resolved.acks === 'all';
  requireBoolean('producer', 'idempotent', resolved.idempotent);
  if (resolved.idempotent && resolved.acks !== 'all') {
    throw invalid(`producer option idempotent: true needs acks: 'all' (got acks: '${resolved.acks}'); use acks: 'all' or idempotent: false`);
  }
  requireInteger('producer', 'lingerMs', resolved.lingerMs, 0, 60_000);
  requireInteger('producer', 'batchBytes', resolved.batchBytes, 1, 16 * 1024 * 1024 - 1024);
  requireInteger('producer', 'maxInFlight', resolved.maxInFlight, 1, 1000);
  requireInteger('producer', 'deliveryTimeoutMs', resolved.deliveryTimeoutMs, 1);
  requireInteger('producer', 'maxBufferedBytes', resolved.maxBufferedBytes, resolved.batchBytes);
  return resolved;
}
