/**
 * The record batch: the unit that producers build, the broker stores, Raft replicates and
 * consumers read. The client builds the bytes once; the broker checks the header and CRC,
 * patches base offset and term in place (both outside the CRC) and from then on stores,
 * replicates and serves those same bytes. The format is Kafka's RecordBatch v2 (KIP-98),
 * byte for byte: a Kafka client's batch can be stored as it is, and Kafka clients read ours.
 *
 * Layout (big-endian, offsets in bytes from the start of the batch):
 *
 *   0  int64   baseOffset       patched by the partition leader      ┐ not covered
 *   8  int32   batchLength      bytes that follow this field         │ by the CRC
 *  12  uint32  term             Raft term of the entry, patched by   │
 *                               the leader (Kafka's partitionLeaderEpoch)
 *  16  int8    magic            = 2 (1: this format before 0.2, read only)
 *  17  uint32  crc              CRC32C of bytes [21, end)            ┘
 *  21  int16   attributes       bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4,
 *                               4 zstd), 3 timestamp type (1: log append time), 4
 *                               transactional, 5 control, 6 delete horizon set
 *  23  int32   lastOffsetDelta  = recordCount - 1
 *  27  int64   baseTimestamp    ms since the epoch
 *  35  int64   maxTimestamp
 *  43  int64   producerId       -1 when not idempotent
 *  51  int16   producerEpoch    -1 when not idempotent
 *  53  int32   baseSequence     -1 when not idempotent
 *  57  int32   recordCount
 *  61  records
 *
 * Each record (varints are zigzag, as in Kafka):
 *   varint length (of the rest of the record), int8 attributes, varint timestampDelta,
 *   varint offsetDelta, varint keyLength (-1 = null), key, varint valueLength (-1 = null),
 *   value, varint headerCount, then per header: varint keyLength, key (UTF-8),
 *   varint valueLength, value.
 *
 * A batch occupies offsets [baseOffset, baseOffset + lastOffsetDelta]; as a Raft entry its
 * index is its last offset. Control batches (Raft no-ops, configuration changes) hold one
 * record whose key is Kafka's control key, int16 version (0) and int16 type (`ControlType`);
 * consumers skip them. Magic 1 differs only there: its control key is one byte (0 no-op,
 * 1 configuration).
 */
import { gunzipSync } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { FlotillaError } from './errors.js';

/** The magic this version writes: Kafka's RecordBatch v2. */
export const MAGIC = 2;
/** Flotilla 0.1's magic: the same layout with a 1-byte control key. Read, never written. */
export const MAGIC_V1 = 1;
export const HEADER_SIZE = 61;
/** Bytes before the batchLength field's count begins (baseOffset + batchLength). */
export const LOG_OVERHEAD = 12;
export const CRC_START = 21;

export const Field = {
  baseOffset: 0,
  batchLength: 8,
  term: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
} as const;

/** Attribute bits, as Kafka defines them. */
export const ATTR_COMPRESSION = 0x07;
export const ATTR_LOG_APPEND_TIME = 0x08;
export const ATTR_TRANSACTIONAL = 0x10;
export const ATTR_CONTROL = 0x20;
export const ATTR_DELETE_HORIZON = 0x40;

/** Kafka's compression codecs, by the value of the attributes' low three bits. */
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type CompressionCodec = (typeof CODECS)[number];
/** The codecs `records` decodes (node:zlib has gzip; the others would need packages of their own). */
const READABLE_CODECS: ReadonlySet<CompressionCodec> = new Set(['none', 'gzip']);
/**
 * Most bytes a compressed batch may inflate to: a batch arrives in one frame (16 MiB by
 * default), and Kafka's producers compress text about 4-10x, so this is far above any real
 * batch while a gzip bomb stops here instead of taking the process's memory.
 */
const MAX_INFLATED_BYTES = 256 * 1024 * 1024;

/**
 * The types of Flotilla's control records (the int16 type of Kafka's control key). Kafka
 * gives 0 (ABORT) and 1 (COMMIT) to transaction markers, which read_committed consumers
 * interpret, and 2-6 to KRaft's own records (leader change, snapshot header and footer,
 * kraft.version, voters), whose values Kafka's tools decode with Kafka's schemas. Ours
 * carry Flotilla's payloads, so they take numbers far from Kafka's: Kafka clients treat an
 * unknown type as nothing to act on (the Java client parses it as UNKNOWN, librdkafka logs
 * and skips it, kafkajs never reads the key) and step over the batch's offset.
 */
export const ControlType = {
  /** A new leader's first entry (Raft's no-op); no payload. */
  NOOP: 0x4600,
  /** A group membership change; payload: the new membership as JSON. */
  CONFIG: 0x4601,
} as const;
export type ControlType = (typeof ControlType)[keyof typeof ControlType];

/** Kafka's control key: int16 version (0), int16 type. */
const CONTROL_KEY_SIZE = 4;
const CONTROL_KEY_VERSION = 0;
/** Magic 1's 1-byte control keys. */
const V1_CONTROL_TYPES: readonly ControlType[] = [ControlType.NOOP, ControlType.CONFIG];

/** Smallest possible encoded record: length, attributes, 2 deltas, null key, null value, 0 headers. */
const MIN_RECORD_SIZE = 7;

export type Bytes = Buffer | Uint8Array | string;

export interface RecordInput {
  key?: Bytes | null;
  value: Bytes | null;
  headers?: Record<string, Bytes>;
  timestamp?: number;
}

export interface BatchOptions {
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  control?: boolean;
  /** Defaults to Date.now() when a record has no timestamp of its own. */
  now?: number;
}

export interface BatchHeader {
  baseOffset: number;
  batchLength: number;
  term: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface RecordView {
  offset: number;
  timestamp: number;
  /** Views into the batch bytes; copy them to keep them past the batch's life. */
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer]>;
}

// ---------------------------------------------------------------------------------------
// int64 as JavaScript numbers (safe integers), and zigzag varints

export function writeInt64(buf: Buffer, at: number, value: number): void {
  buf.writeInt32BE(Math.floor(value / 0x1_0000_0000), at);
  buf.writeUInt32BE(value >>> 0, at + 4);
}

export function readInt64(buf: Buffer, at: number): number {
  return buf.readInt32BE(at) * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
}

function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function varintSize(value: number): number {
  let v = zigzag(value);
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    size++;
  }
  return size;
}

export function writeVarint(buf: Buffer, at: number, value: number): number {
  let v = zigzag(value);
  while (v >= 0x80) {
    buf[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at++] = v;
  return at;
}

/** Reads a zigzag varint at `cursor.at`, advancing it; throws CORRUPT_BATCH past `end`. */
function readVarint(buf: Buffer, cursor: { at: number }, end: number): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (cursor.at >= end) throw corrupt('record runs past the end of the batch');
    const byte = buf[cursor.at++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    scale *= 0x80;
  }
  throw corrupt('varint longer than 8 bytes');
}

function corrupt(why: string): FlotillaError {
  return new FlotillaError('CORRUPT_BATCH', `corrupt record batch: ${why}`);
}

// ---------------------------------------------------------------------------------------
// Building

function toBuffer(bytes: Bytes): Buffer {
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  if (Buffer.isBuffer(bytes)) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface EncodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[Buffer, Buffer]>;
  timestampDelta: number;
  bodySize: number;
}

/**
 * Idempotent producers: how many of a producer's latest batches each partition remembers
 * to recognise a retry, and so the most batches of one partition a producer may have on
 * the wire at once (a retry of the oldest must still be recognised).
 */
export const IDEMPOTENCE_WINDOW = 5;

/**
 * Builds one batch from records, with baseOffset 0 and term 0 (the leader patches both).
 * The bytes are computed once and written into a single allocation.
 */
export function buildBatch(records: readonly RecordInput[], options: BatchOptions = {}): Buffer {
  if (records.length === 0) throw new FlotillaError('INVALID_REQUEST', 'a batch needs at least one record');
  const now = options.now ?? Date.now();
  let baseTimestamp = Infinity;
  let maxTimestamp = -Infinity;
  for (const r of records) {
    const ts = r.timestamp ?? now;
    if (ts < baseTimestamp) baseTimestamp = ts;
    if (ts > maxTimestamp) maxTimestamp = ts;
  }
  const encoded: EncodedRecord[] = new Array(records.length);
  let total = HEADER_SIZE;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const key = r.key == null ? null : toBuffer(r.key);
    const value = r.value == null ? null : toBuffer(r.value);
    const headers: Array<[Buffer, Buffer]> = [];
    if (r.headers) for (const name of Object.keys(r.headers)) headers.push([Buffer.from(name, 'utf8'), toBuffer(r.headers[name]!)]);
    const timestampDelta = (r.timestamp ?? now) - baseTimestamp;
    let body = 1 + varintSize(timestampDelta) + varintSize(i);
    body += key ? varintSize(key.length) + key.length : 1;
    body += value ? varintSize(value.length) + value.length : 1;
    body += varintSize(headers.length);
    for (const [hk, hv] of headers) body += varintSize(hk.length) + hk.length + varintSize(hv.length) + hv.length;
    encoded[i] = { key, value, headers, timestampDelta, bodySize: body };
    total += varintSize(body) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  writeInt64(buf, Field.baseOffset, 0);
  buf.writeInt32BE(total - LOG_OVERHEAD, Field.batchLength);
  buf.writeUInt32BE(0, Field.term);
  buf.writeInt8(MAGIC, Field.magic);
  buf.writeInt16BE(options.control ? ATTR_CONTROL : 0, Field.attributes);
  buf.writeInt32BE(records.length - 1, Field.lastOffsetDelta);
  writeInt64(buf, Field.baseTimestamp, baseTimestamp);
  writeInt64(buf, Field.maxTimestamp, maxTimestamp);
  writeInt64(buf, Field.producerId, options.producerId ?? -1);
  buf.writeInt16BE(options.producerEpoch ?? -1, Field.producerEpoch);
  buf.writeInt32BE(options.baseSequence ?? -1, Field.baseSequence);
  buf.writeInt32BE(records.length, Field.recordCount);
  let at = HEADER_SIZE;
  for (let i = 0; i < encoded.length; i++) {
    const r = encoded[i]!;
    at = writeVarint(buf, at, r.bodySize);
    buf[at++] = 0;
    at = writeVarint(buf, at, r.timestampDelta);
    at = writeVarint(buf, at, i);
    at = writeBytes(buf, at, r.key);
    at = writeBytes(buf, at, r.value);
    at = writeVarint(buf, at, r.headers.length);
    for (const [hk, hv] of r.headers) {
      at = writeBytes(buf, at, hk);
      at = writeBytes(buf, at, hv);
    }
  }
  buf.writeUInt32BE(crc32c(buf.subarray(CRC_START)), Field.crc);
  return buf;
}

function writeBytes(buf: Buffer, at: number, bytes: Buffer | null): number {
  if (bytes === null) return writeVarint(buf, at, -1);
  at = writeVarint(buf, at, bytes.length);
  bytes.copy(buf, at);
  return at + bytes.length;
}

/** A control batch (Raft no-op or configuration change) of one record, one offset. */
export function buildControlBatch(type: ControlType, payload: Buffer | null, now = 0): Buffer {
  const key = Buffer.alloc(CONTROL_KEY_SIZE);
  key.writeInt16BE(CONTROL_KEY_VERSION, 0);
  key.writeInt16BE(type, 2);
  return buildBatch([{ key, value: payload, timestamp: now }], { control: true, now });
}

// ---------------------------------------------------------------------------------------
// Reading and checking

export function readBatchHeader(buf: Buffer, at = 0): BatchHeader {
  if (buf.length - at < HEADER_SIZE) throw corrupt(`${buf.length - at} bytes is shorter than a batch header`);
  return {
    baseOffset: readInt64(buf, at + Field.baseOffset),
    batchLength: buf.readInt32BE(at + Field.batchLength),
    term: buf.readUInt32BE(at + Field.term),
    magic: buf.readInt8(at + Field.magic),
    crc: buf.readUInt32BE(at + Field.crc),
    attributes: buf.readInt16BE(at + Field.attributes),
    lastOffsetDelta: buf.readInt32BE(at + Field.lastOffsetDelta),
    baseTimestamp: readInt64(buf, at + Field.baseTimestamp),
    maxTimestamp: readInt64(buf, at + Field.maxTimestamp),
    producerId: readInt64(buf, at + Field.producerId),
    producerEpoch: buf.readInt16BE(at + Field.producerEpoch),
    baseSequence: buf.readInt32BE(at + Field.baseSequence),
    recordCount: buf.readInt32BE(at + Field.recordCount),
  };
}

/** Total size of the batch that starts at `at`, from its length field (not yet trusted). */
export function batchSizeAt(buf: Buffer, at = 0): number {
  return buf.readInt32BE(at + Field.batchLength) + LOG_OVERHEAD;
}

/**
 * Checks that `buf` holds exactly one well-formed batch: length, magic, record count
 * against the bytes available, offset delta, and CRC. Throws CORRUPT_BATCH otherwise.
 * Records themselves are bounds-checked lazily by `records()`.
 */
export function verifyBatch(buf: Buffer): BatchHeader {
  const header = readBatchHeader(buf);
  if (header.batchLength + LOG_OVERHEAD !== buf.length) {
    throw corrupt(`length field says ${header.batchLength + LOG_OVERHEAD} bytes, frame holds ${buf.length}`);
  }
  if (!isKnownMagic(header.magic)) throw corrupt(`unknown magic ${header.magic}`);
  if (header.recordCount < 1 || header.recordCount > (buf.length - HEADER_SIZE) / MIN_RECORD_SIZE) {
    throw corrupt(`record count ${header.recordCount} does not fit in ${buf.length - HEADER_SIZE} bytes`);
  }
  if (header.lastOffsetDelta !== header.recordCount - 1) {
    throw corrupt(`last offset delta ${header.lastOffsetDelta} disagrees with record count ${header.recordCount}`);
  }
  const actual = crc32c(buf.subarray(CRC_START));
  if (actual !== header.crc) throw corrupt(`CRC32C mismatch (stored ${header.crc}, computed ${actual})`);
  return header;
}

/** Magic 2, or magic 1 (written by earlier versions). */
export function isKnownMagic(magic: number): boolean {
  return magic === MAGIC || magic === MAGIC_V1;
}

/** True when the batch's CRC matches; cheap check used by storage recovery. */
export function crcMatches(buf: Buffer, at: number, size: number): boolean {
  return crc32c(buf.subarray(at + CRC_START, at + size)) === buf.readUInt32BE(at + Field.crc);
}

/** Writes the leader's base offset and term into the batch (both outside the CRC). */
export function patchBatch(buf: Buffer, baseOffset: number, term: number, at = 0): void {
  writeInt64(buf, at + Field.baseOffset, baseOffset);
  buf.writeUInt32BE(term, at + Field.term);
}

export function isControlBatch(buf: Buffer, at = 0): boolean {
  return (buf.readInt16BE(at + Field.attributes) & ATTR_CONTROL) !== 0;
}

export function recordCountOf(buf: Buffer, at = 0): number {
  return buf.readInt32BE(at + Field.recordCount);
}

export function baseOffsetOf(buf: Buffer, at = 0): number {
  return readInt64(buf, at + Field.baseOffset);
}

export function lastOffsetOf(buf: Buffer, at = 0): number {
  return readInt64(buf, at + Field.baseOffset) + buf.readInt32BE(at + Field.lastOffsetDelta);
}

export function termOf(buf: Buffer, at = 0): number {
  return buf.readUInt32BE(at + Field.term);
}

/** The control type and payload of a control batch (of either magic). */
export function readControl(buf: Buffer): { type: number; payload: Buffer | null } {
  const magic = buf.readInt8(Field.magic);
  for (const record of records(buf)) return { type: controlType(record.key, magic), payload: record.value };
  throw corrupt('control batch without a record');
}

function controlType(key: Buffer | null, magic: number): number {
  if (magic === MAGIC_V1) {
    const type = key?.length === 1 ? V1_CONTROL_TYPES[key[0]!] : undefined;
    if (type === undefined) throw corrupt('magic 1 control record without a 1-byte type key of 0 or 1');
    return type;
  }
  if (!key || key.length !== CONTROL_KEY_SIZE) throw corrupt(`control record key of ${key?.length ?? 'no'} bytes, not ${CONTROL_KEY_SIZE} (int16 version, int16 type)`);
  const version = key.readInt16BE(0);
  if (version !== CONTROL_KEY_VERSION) throw corrupt(`control record key version ${version}`);
  return key.readInt16BE(2);
}

/** The compression codec of the batch at `at`; CORRUPT_BATCH when the bits name none. */
export function compressionOf(buf: Buffer, at = 0): CompressionCodec {
  const bits = buf.readInt16BE(at + Field.attributes) & ATTR_COMPRESSION;
  const codec = CODECS[bits];
  if (codec === undefined) throw corrupt(`unknown compression codec ${bits} in the attributes`);
  return codec;
}

/** Whether `records` can decode the batch at `at` (uncompressed or gzip). */
export function recordsReadable(buf: Buffer, at = 0): boolean {
  return READABLE_CODECS.has(compressionOf(buf, at));
}

/**
 * Iterates the records of one batch without copying keys or values (they are views into
 * `buf`, or into the inflated records of a gzip batch). Throws CORRUPT_BATCH on a record
 * that runs past its bounds or gzip data that does not inflate, and UNSUPPORTED_VERSION
 * naming the codec on a snappy, lz4 or zstd batch (its records would be garbage read as
 * they are). With the log-append-time bit set every record's timestamp is the batch's
 * maxTimestamp, as in Kafka.
 */
export function* records(buf: Buffer, at = 0): Generator<RecordView> {
  const header = readBatchHeader(buf, at);
  let end = at + header.batchLength + LOG_OVERHEAD;
  if (end > buf.length) throw corrupt('batch runs past the end of the buffer');
  const codec = compressionOf(buf, at);
  const cursor = { at: at + HEADER_SIZE };
  if (codec === 'gzip') {
    // Kafka compresses the records only (everything after the header), as one gzip stream.
    buf = inflateGzip(buf.subarray(cursor.at, end), header.baseOffset);
    cursor.at = 0;
    end = buf.length;
  } else if (codec !== 'none') {
    throw new FlotillaError('UNSUPPORTED_VERSION', `record batch at offset ${header.baseOffset} is compressed with ${codec}; this client reads uncompressed and gzip batches only (produce with gzip or without compression)`, { codec });
  }
  const logAppendTime = (header.attributes & ATTR_LOG_APPEND_TIME) !== 0;
  for (let i = 0; i < header.recordCount; i++) {
    const length = readVarint(buf, cursor, end);
    const recordEnd = cursor.at + length;
    if (length < 0 || recordEnd > end) throw corrupt(`record ${i} claims ${length} bytes past the batch end`);
    cursor.at++; // attributes
    const timestampDelta = readVarint(buf, cursor, recordEnd);
    const offsetDelta = readVarint(buf, cursor, recordEnd);
    const key = readBytes(buf, cursor, recordEnd);
    const value = readBytes(buf, cursor, recordEnd);
    const headerCount = readVarint(buf, cursor, recordEnd);
    if (headerCount < 0 || headerCount > length) throw corrupt(`record ${i} claims ${headerCount} headers`);
    const headers: Array<[string, Buffer]> = [];
    for (let h = 0; h < headerCount; h++) {
      const name = readBytes(buf, cursor, recordEnd);
      const hv = readBytes(buf, cursor, recordEnd);
      headers.push([name ? name.toString('utf8') : '', hv ?? Buffer.alloc(0)]);
    }
    if (cursor.at !== recordEnd) throw corrupt(`record ${i} length disagrees with its fields`);
    const timestamp = logAppendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta;
    yield { offset: header.baseOffset + offsetDelta, timestamp, key, value, headers };
  }
  if (cursor.at !== end) throw corrupt('bytes left over after the last record');
}

function inflateGzip(compressed: Buffer, baseOffset: number): Buffer {
  try {
    return gunzipSync(compressed, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (error) {
    throw corrupt(`the gzip records of the batch at offset ${baseOffset} do not inflate: ${(error as Error).message}`);
  }
}

function readBytes(buf: Buffer, cursor: { at: number }, end: number): Buffer | null {
  const length = readVarint(buf, cursor, end);
  if (length === -1) return null;
  if (length < -1 || cursor.at + length > end) throw corrupt(`field of ${length} bytes runs past the record end`);
  const view = buf.subarray(cursor.at, cursor.at + length);
  cursor.at += length;
  return view;
}

/**
 * Walks concatenated batches (as stored in a segment or carried in a fetch response),
 * yielding each one's start and end. Stops at a partial batch at the end of `buf`.
 */
export function* batchBounds(buf: Buffer): Generator<{ start: number; end: number }> {
  let at = 0;
  while (buf.length - at >= HEADER_SIZE) {
    const size = batchSizeAt(buf, at);
    if (size < HEADER_SIZE) throw corrupt(`batch at byte ${at} claims ${size} bytes`);
    if (at + size > buf.length) return;
    yield { start: at, end: at + size };
    at += size;
  }
}

/**
 * Concatenated batches as a Kafka client must see them: magic 1 batches (earlier
 * Flotilla versions) rewritten as magic 2, the rest passed on untouched (the same buffer
 * when there is no magic 1 batch, the common case). A data batch differs only in its magic
 * byte, which lies outside the CRC; a control batch is rebuilt with Kafka's 4-byte control
 * key, at the same offset, term and timestamp. A partial batch at the end is kept as it is
 * when magic 2 (Kafka clients ignore it) and dropped when magic 1.
 */
export function asMagic2Batches(buf: Buffer): Buffer {
  let hasV1 = false;
  for (const { start } of batchBounds(buf)) if (buf.readInt8(start + Field.magic) === MAGIC_V1) hasV1 = true;
  if (!hasV1) return buf;
  const parts: Buffer[] = [];
  let end = 0;
  for (const { start, end: batchEnd } of batchBounds(buf)) {
    end = batchEnd;
    const batch = buf.subarray(start, batchEnd);
    if (batch.readInt8(Field.magic) !== MAGIC_V1) {
      parts.push(batch);
    } else if (isControlBatch(batch)) {
      const { type, payload } = readControl(batch);
      const rebuilt = buildControlBatch(type as ControlType, payload, readInt64(batch, Field.baseTimestamp));
      patchBatch(rebuilt, baseOffsetOf(batch), termOf(batch));
      parts.push(rebuilt);
    } else {
      const copy = Buffer.from(batch);
      copy.writeInt8(MAGIC, Field.magic);
      parts.push(copy);
    }
  }
  const tail = buf.subarray(end);
  if (tail.length > Field.magic ? tail.readInt8(Field.magic) !== MAGIC_V1 : tail.length > 0) parts.push(tail);
  return Buffer.concat(parts);
}
