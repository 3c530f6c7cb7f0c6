/**
 * The data plane's requests: produce, fetch (with its long poll), and list offsets, each
 * answered per partition by the replica hosted here.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { toErrorInfo, type Init, type client } from '../../protocol/codec.js';
import { OffsetSpec } from '../../protocol/client.schema.js';
import { maxEntryBytes, type BrokerConfig } from '../config.js';
import { asFlotillaError, topicRefusal, type Handlers, type RequestContext } from '../requests/dispatcher.js';
import type { HostedReplicas } from './hosted.js';
import type { Acks as PartitionAcks } from './partition.js';

const DEFAULT_PRODUCE_TIMEOUT_MS = 30_000;
const ACKS: Record<number, PartitionAcks> = { 0: 'all', 1: 'leader', 2: 'none' };

export interface DataPlane {
  readonly config: Pick<BrokerConfig, 'id' | 'maxFetchWaitMs' | 'maxFrameBytes'>;
  readonly replicas: HostedReplicas;
}

export function dataHandlers(broker: DataPlane): Pick<Handlers, 'produce' | 'fetch' | 'listOffsets'> {
  return {
    produce: async (request, context) => {
      const acks = ACKS[request.acks] ?? 'all';
      const timeoutMs = request.timeoutMs || DEFAULT_PRODUCE_TIMEOUT_MS;
      // Every partition proposes now, so their appends share this broker's next cycle
      // (one fsync per log, all logs together); each is answered on its own.
      const results = request.partitions.map((p) => producePartition(broker, p, acks, timeoutMs, context));
      if (acks === 'none') return null;
      return { partitions: await Promise.all(results) };
    },
    fetch: async (request, context) => fetch(broker, request, context),
    listOffsets: async (request, context) => listOffsets(broker, request, context),
  };
}

/** One partition of a produce request: its result or its error, never a rejection. */
async function producePartition(broker: DataPlane, p: client.ProducePartition, acks: PartitionAcks, timeoutMs: number, context: RequestContext): Promise<Init<client.ProducePartitionResult>> {
  const base = { topic: p.topic, partition: p.partition };
  try {
    const refusal = topicRefusal(context, p.topic);
    if (refusal) throw refusal;
    const replica = broker.replicas.replica(p.topic, p.partition);
    if (!replica) throw broker.replicas.notHostedError(p.topic, p.partition);
    const limit = maxEntryBytes(broker.config);
    if (p.batch.length > limit) {
      // A batch that fits in a request but not, with an append's envelope, in a peer frame would never reach a follower.
      throw new FlotillaError('RECORD_TOO_LARGE', `the batch is ${p.batch.length} bytes, over the ${limit} a partition takes (--max-frame-bytes less 64 KiB); send smaller batches`);
    }
    return { ...base, ...(await replica.produce(p.batch, acks, timeoutMs)) };
  } catch (error) {
    return { ...base, error: toErrorInfo(asFlotillaError(error)) };
  }
}

const NO_RECORDS = Buffer.alloc(0);

/** Reads with room for `budget` bytes held (given back while a long poll waits). */
async function fetch(broker: DataPlane, request: client.FetchRequest, context: RequestContext): Promise<Init<client.FetchResponse>> {
  const { config, replicas: hosted } = broker;
  const memory = context.memory;
  const maxWaitMs = Math.min(request.maxWaitMs, config.maxFetchWaitMs);
  const budget = Math.min(request.maxBytes || config.maxFrameBytes, config.maxFrameBytes - 64 * 1024);
  const readAll = async () => {
    await memory.take(budget);
    let remaining = budget;
    const out: Array<Init<client.FetchedPartition>> = [];
    for (const p of request.partitions) {
      const base = { topic: p.topic, partition: p.partition };
      const refusal = topicRefusal(context, p.topic);
      if (refusal) {
        out.push({ ...base, error: toErrorInfo(refusal) });
        continue;
      }
      const replica = hosted.replica(p.topic, p.partition);
      if (!replica) {
        const error = hosted.notHostedError(p.topic, p.partition);
        out.push({ ...base, error: toErrorInfo(error.code === 'NOT_LEADER' ? new FlotillaError('UNKNOWN_PARTITION', `broker ${config.id} holds no replica of ${p.topic}/${p.partition}`) : error) });
        continue;
      }
      // As in Kafka (KIP-74): only the first partition with records may overrun the limits,
      // by its first batch, so that a consumer always makes progress; once records are in
      // the answer, a partition whose next batch does not fit gets none.
      const holding = remaining < budget;
      if (holding && remaining <= 0) {
        out.push({ ...base, highWatermark: replica.highWatermark, logStartOffset: replica.logStartOffset, records: NO_RECORDS });
        continue;
      }
      try {
        const maxBytes = Math.max(1, Math.min(p.maxBytes || remaining, remaining));
        const result = await replica.fetch(p.offset, maxBytes, 0);
        const records = holding && result.records.length > maxBytes ? NO_RECORDS : result.records;
        remaining -= records.length;
        out.push({ ...base, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset, records });
      } catch (error) {
        out.push({ ...base, error: toErrorInfo(asFlotillaError(error)), highWatermark: replica.highWatermark, logStartOffset: replica.logStartOffset });
      }
    }
    return { out, bytes: budget - remaining };
  };
  let first = await readAll();
  const minBytes = Math.max(1, request.minBytes);
  if (first.bytes >= minBytes || maxWaitMs <= 0 || first.out.some((p) => p.error)) return { partitions: first.out };
  // Long-poll: wait for a commit on any of the partitions, then read again.
  memory.resize(0);
  const abort = new AbortController();
  const replicas = request.partitions.map((p) => hosted.replica(p.topic, p.partition)).filter((r) => r !== undefined);
  await Promise.race(replicas.map((r) => r.waitForCommit(maxWaitMs, abort.signal)));
  abort.abort();
  first = await readAll();
  return { partitions: first.out };
}

/** Earliest from any replica; latest, by timestamp and max timestamp from the leader (committed records only). */
async function listOffsets(broker: DataPlane, request: client.ListOffsetsRequest, context: RequestContext): Promise<Init<client.ListOffsetsResponse>> {
  return {
    offsets: await Promise.all(
      request.partitions.map(async (p) => {
        const base = { topic: p.topic, partition: p.partition };
        try {
          const refusal = topicRefusal(context, p.topic);
          if (refusal) throw refusal;
          const replica = broker.replicas.replica(p.topic, p.partition);
          if (!replica) throw broker.replicas.notHostedError(p.topic, p.partition);
          if (p.spec === OffsetSpec.OFFSET_EARLIEST) return { ...base, offset: replica.logStartOffset, timestamp: -1 };
          if (p.spec === OffsetSpec.OFFSET_LATEST) {
            if (replica.isLeader) replica.requireCommittedInTerm();
            return { ...base, offset: replica.highWatermark, timestamp: -1 };
          }
          if (p.spec === OffsetSpec.OFFSET_BY_TIMESTAMP) return { ...base, ...(await replica.offsetForTimestamp(p.value)) };
          if (p.spec === OffsetSpec.OFFSET_MAX_TIMESTAMP) return { ...base, ...(await replica.offsetOfMaxTimestamp()) };
          throw new FlotillaError('INVALID_REQUEST', `listOffsets: spec ${p.spec} is not earliest, latest, by timestamp or max timestamp`);
        } catch (error) {
          return { ...base, error: toErrorInfo(asFlotillaError(error)) };
        }
      }),
    ),
  };
}
