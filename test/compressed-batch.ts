/**
 * Compressed batches as Kafka's producers write them (the records after the 61-byte header
 * as one compressed stream, the codec in the attributes' low three bits), for the tests of
 * what the native consumer decodes.
 */
import { gzipSync } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { ATTR_COMPRESSION, buildBatch, CRC_START, Field, HEADER_SIZE, LOG_OVERHEAD, type BatchOptions, type RecordInput } from '../protocol/batch.js';

/** A gzip batch of `records`, as kafkajs's CompressionTypes.GZIP writes one. */
export function buildGzipBatch(records: readonly RecordInput[], options: BatchOptions = {}): Buffer {
  const plain = buildBatch(records, options);
  const batch = Buffer.concat([plain.subarray(0, HEADER_SIZE), gzipSync(plain.subarray(HEADER_SIZE))]);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, Field.batchLength);
  return withCodecBits(batch, 1);
}

/**
 * A copy of `batch` whose attributes name another codec (2 snappy, 3 lz4, 4 zstd), CRC
 * resealed: a well-formed batch whose records no reader without that codec can decode.
 */
export function withCodecBits(batch: Buffer, codec: number): Buffer {
  const copy = Buffer.from(batch);
  copy.writeInt16BE((copy.readInt16BE(Field.attributes) & ~ATTR_COMPRESSION) | codec, Field.attributes);
  copy.writeUInt32BE(crc32c(copy.subarray(CRC_START)), Field.crc);
  return copy;
}
