/**
 * kafkajs as an oracle for the batch format: its RecordBatch decoder reads the batches
 * Flotilla builds (control batches included, which its consumer steps over), and Flotilla
 * reads, byte for byte, the batches kafkajs's encoder builds. Batch bytes only; no broker.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import {
  batchBounds, buildBatch, buildControlBatch, ControlType, patchBatch, records, verifyBatch, type RecordInput,
} from '../../protocol/batch.js';
import { messagesFrom } from '../../client/consumer/messages.js';

// kafkajs's codec modules are CommonJS and untyped: loaded by path, used as `any`.
const require = createRequire(import.meta.url);
const Decoder: any = require('kafkajs/src/protocol/decoder');
const decodeRecordBatch: (decoder: any) => Promise<any> = require('kafkajs/src/protocol/recordBatch/v0/decoder');
const { RecordBatch }: { RecordBatch: (options: any) => Promise<any> } = require('kafkajs/src/protocol/recordBatch/v0');
const encodeRecord: (record: any) => any = require('kafkajs/src/protocol/recordBatch/record/v0');
const decodeFetchedMessages: (decoder: any) => Promise<any[]> = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages');
const Batch: any = require('kafkajs/src/consumer/batch');
const Long: any = require('kafkajs/src/utils/long');

const TERM = 7;

const userRecords: RecordInput[] = [
  { key: 'customer-42', value: 'paid', headers: { trace: 'abc', 'content-type': 'text/plain' }, timestamp: 1_700_000_000_000 },
  { key: null, value: Buffer.from([0, 1, 2, 255]), timestamp: 1_700_000_000_250 },
  { key: 'k', value: null, headers: { empty: '' }, timestamp: 1_699_999_999_900 },
];

/** Flotilla's batch for `userRecords` at `base`, as the leader stores it. */
function flotillaBatch(base: number, options: Parameters<typeof buildBatch>[1] = {}): Buffer {
  const batch = buildBatch(userRecords, options);
  patchBatch(batch, base, TERM);
  return batch;
}

function asString(bytes: Buffer | null | undefined): string | null {
  return bytes == null ? null : bytes.toString('latin1');
}

t.test('kafkajs decodes a Flotilla batch: offsets, timestamps, keys, values, headers, leader epoch', async (t) => {
  const batch = flotillaBatch(100, { producerId: 9, producerEpoch: 2, baseSequence: 30 });
  const decoded = await decodeRecordBatch(new Decoder(batch));
  t.equal(decoded.partitionLeaderEpoch, TERM, 'partitionLeaderEpoch is the Raft term');
  t.equal(decoded.isControlBatch, false);
  t.equal(decoded.inTransaction, false);
  t.equal(decoded.firstOffset, '100');
  t.equal(decoded.lastOffsetDelta, 2);
  t.equal(decoded.firstTimestamp, '1699999999900');
  t.equal(decoded.maxTimestamp, '1700000000250');
  t.equal(decoded.producerId, '9');
  t.equal(decoded.producerEpoch, 2);
  t.equal(decoded.firstSequence, 30);
  t.same(
    decoded.records.map((r: any) => ({
      magic: r.magicByte,
      offset: r.offset,
      timestamp: r.timestamp,
      key: asString(r.key),
      value: asString(r.value),
      headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, asString(v as Buffer)])),
    })),
    userRecords.map((r, i) => ({
      magic: 2,
      offset: String(100 + i),
      timestamp: String(r.timestamp),
      key: r.key == null ? null : String(r.key),
      value: r.value == null ? null : Buffer.from(r.value as string | Buffer).toString('latin1'),
      headers: r.headers ?? {},
    })),
  );
});

t.test('kafkajs reads Flotilla no-op and configuration batches as control batches and steps over them', async (t) => {
  const noop = buildControlBatch(ControlType.NOOP, null, 1_700_000_000_000);
  patchBatch(noop, 0, TERM);
  const data = flotillaBatch(1);
  const config = buildControlBatch(ControlType.CONFIG, Buffer.from('{"voters":[1,2,3],"learners":[]}'), 1_700_000_000_000);
  patchBatch(config, 4, TERM);
  const log = Buffer.concat([noop, data, config]);

  for (const control of [noop, config]) {
    const decoded = await decodeRecordBatch(new Decoder(control));
    t.equal(decoded.isControlBatch, true);
    t.equal(decoded.records.length, 1);
    t.equal(decoded.records[0].isControlRecord, true);
    t.equal(decoded.partitionLeaderEpoch, TERM);
  }

  // A fetch response's record set (int32 size, then the batches), through kafkajs's fetch
  // decoding and its consumer's Batch, with the high watermark just past the last control batch.
  const size = Buffer.alloc(4);
  size.writeInt32BE(log.length);
  const fetched = await decodeFetchedMessages(new Decoder(Buffer.concat([size, log])));
  t.same(fetched.map((m: any) => [m.offset, m.isControlRecord]), [['0', true], ['1', false], ['2', false], ['3', false], ['4', true]]);
  const batch = new Batch('orders', '0', { partition: 0, highWatermark: '5', messages: fetched });
  t.same(batch.messages.map((m: any) => m.offset), ['1', '2', '3'], 'only user records reach the application');
  t.equal(batch.lastOffset(), '4', 'the consumer moves past the control batch at the end: next fetch at the high watermark');
  t.equal(batch.offsetLag(), '0');

  const ours = messagesFrom(log, 'orders', 0, 0);
  t.same(ours.messages.map((m) => m.offset), [1, 2, 3]);
  t.equal(ours.nextOffset, 5, 'Flotilla\'s client agrees');
});

/** kafkajs's encoding of `userRecords` as one batch at `base`. */
async function kafkajsBatch(base: number, attributes: { producerId?: number; producerEpoch?: number; firstSequence?: number } = {}): Promise<Buffer> {
  const timestamps = userRecords.map((r) => r.timestamp!);
  const first = Math.min(...timestamps);
  const encoded = await RecordBatch({
    firstOffset: Long.fromNumber(base),
    partitionLeaderEpoch: TERM,
    firstTimestamp: first,
    maxTimestamp: Math.max(...timestamps),
    lastOffsetDelta: userRecords.length - 1,
    producerId: Long.fromNumber(attributes.producerId ?? -1),
    producerEpoch: attributes.producerEpoch ?? -1,
    firstSequence: attributes.firstSequence ?? -1,
    records: userRecords.map((r, i) =>
      encodeRecord({
        offsetDelta: i,
        timestampDelta: r.timestamp! - first,
        key: r.key == null ? null : Buffer.from(r.key as string),
        value: r.value == null ? null : Buffer.from(r.value as string | Buffer),
        headers: Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, Buffer.from(v as string)])),
      }),
    ),
  });
  return encoded.buffer as Buffer;
}

t.test('Flotilla reads a batch kafkajs encoded, and builds the same bytes', async (t) => {
  const theirs = await kafkajsBatch(50);
  const header = verifyBatch(theirs);
  t.equal(header.magic, 2);
  t.equal(header.term, TERM);
  t.equal(header.baseOffset, 50);
  t.equal(header.recordCount, 3);
  t.same(
    [...records(theirs)].map((r) => ({ offset: r.offset, timestamp: r.timestamp, key: asString(r.key), value: asString(r.value), headers: r.headers.map(([k, v]) => [k, asString(v)]) })),
    userRecords.map((r, i) => ({
      offset: 50 + i,
      timestamp: r.timestamp,
      key: r.key == null ? null : String(r.key),
      value: r.value == null ? null : Buffer.from(r.value as string | Buffer).toString('latin1'),
      headers: Object.entries(r.headers ?? {}),
    })),
  );
  t.same([...batchBounds(Buffer.concat([theirs, theirs]))].length, 2);
  t.ok(flotillaBatch(50).equals(theirs), 'byte for byte the batch Flotilla builds from the same records');

  const idempotent = await kafkajsBatch(60, { producerId: 12, producerEpoch: 3, firstSequence: 400 });
  t.ok(flotillaBatch(60, { producerId: 12, producerEpoch: 3, baseSequence: 400 }).equals(idempotent), 'idempotent batches too');
});
