import t from 'tap';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from '@node-rs/crc32';
import {
  batchBounds, buildBatch, buildControlBatch, ControlType, CRC_START, Field, HEADER_SIZE, lastOffsetOf, MAGIC, patchBatch, readControl,
  records, termOf, verifyBatch, writeVarint,
} from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import { messagesFrom } from '../../client/consumer/messages.js';
import { buildV1Batch, buildV1ControlBatch, V1ControlKey } from '../legacy-batch.js';
import { buildGzipBatch, withCodecBits } from '../compressed-batch.js';

t.test('a built batch verifies, patches and reads back its records', async (t) => {
  const buf = buildBatch([{ key: 'k', value: 'hello', headers: { h: 'v' }, timestamp: 1000 }, { value: null, timestamp: 1005 }]);
  verifyBatch(buf);
  patchBatch(buf, 42, 7);
  verifyBatch(buf); // patching stays outside the CRC
  t.equal(lastOffsetOf(buf), 43);
  t.equal(termOf(buf), 7);
  const got = [...records(buf)];
  t.equal(got.length, 2);
  t.equal(got[0]!.key!.toString(), 'k');
  t.equal(got[0]!.value!.toString(), 'hello');
  t.same(got[0]!.headers.map(([k, v]) => [k, v.toString()]), [['h', 'v']]);
  t.equal(got[1]!.offset, 43);
  t.equal(got[1]!.timestamp, 1005);
  t.equal(got[1]!.value, null);
});

t.test('a flipped bit fails the CRC with CORRUPT_BATCH', async (t) => {
  const buf = buildBatch([{ value: 'x'.repeat(100) }]);
  buf[buf.length - 3] ^= 1;
  t.throws(() => verifyBatch(buf), { name: 'FlotillaError', code: 'CORRUPT_BATCH' });
});

// ---------------------------------------------------------------------------------------
// Properties and corrupt input

const recordArb = fc.record(
  {
    key: fc.option(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), { nil: null }),
    value: fc.option(fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)), { nil: null }),
    headers: fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { maxKeys: 4, noNullPrototype: true }),
    timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
  },
  { noNullPrototype: true },
);

t.test('property: any records build, verify and read back equal', async (t) => {
  fc.assert(
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 20 }), fc.nat({ max: 2 ** 48 }), fc.nat({ max: 0xffff_ffff }), (input, base, term) => {
      const buf = buildBatch(input);
      patchBatch(buf, base, term);
      const header = verifyBatch(buf);
      assert.equal(header.recordCount, input.length);
      assert.equal(lastOffsetOf(buf), base + input.length - 1);
      assert.equal(termOf(buf), term);
      assert.equal(header.baseTimestamp, Math.min(...input.map((r) => r.timestamp)));
      assert.equal(header.maxTimestamp, Math.max(...input.map((r) => r.timestamp)));
      const got = [...records(buf)];
      assert.deepStrictEqual(
        got.map((r) => ({ offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers })),
        input.map((r, i) => ({ offset: base + i, timestamp: r.timestamp, key: r.key, value: r.value, headers: Object.entries(r.headers) })),
      );
      // A partial third batch (one byte short) is not yielded.
      assert.deepStrictEqual([...batchBounds(Buffer.concat([buf, buf, buf.subarray(0, buf.length - 1)]))], [{ start: 0, end: buf.length }, { start: buf.length, end: 2 * buf.length }]);
    }),
    { numRuns: 300 },
  );
  t.pass('300 batches');
});

t.test('property: a flipped bit anywhere under the CRC is CORRUPT_BATCH', async (t) => {
  fc.assert(
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 5 }), fc.nat(), fc.nat({ max: 7 }), (input, where, bit) => {
      const buf = buildBatch(input);
      buf[CRC_START + (where % (buf.length - CRC_START))]! ^= 1 << bit;
      assert.throws(() => verifyBatch(buf), (e: unknown) => e instanceof FlotillaError && e.code === 'CORRUPT_BATCH');
    }),
    { numRuns: 300 },
  );
  t.pass('300 flips');
});

/** Rewrites the CRC so that only the structural checks can catch a lie. */
function reseal(buf: Buffer): Buffer {
  buf.writeUInt32BE(crc32c(buf.subarray(CRC_START)), Field.crc);
  return buf;
}

t.test('a record count that lies is CORRUPT_BATCH, even with a valid CRC', async (t) => {
  const buf = buildBatch([{ value: 'a' }, { value: 'b' }]);
  for (const count of [0, -1, 3, 1_000_000, 0x7fff_ffff]) {
    const lying = Buffer.from(buf);
    lying.writeInt32BE(count, Field.recordCount);
    lying.writeInt32BE(count - 1, Field.lastOffsetDelta);
    t.throws(() => verifyBatch(reseal(lying)), { code: 'CORRUPT_BATCH' }, `count ${count}`);
    t.throws(() => [...records(lying)], { code: 'CORRUPT_BATCH' }, `iterating count ${count}`);
  }
  const fewer = Buffer.from(buf);
  fewer.writeInt32BE(1, Field.recordCount);
  fewer.writeInt32BE(0, Field.lastOffsetDelta);
  t.throws(() => [...records(reseal(fewer))], { code: 'CORRUPT_BATCH' }, 'left-over bytes after the claimed records');
});

t.test('a record length or batch length that lies is CORRUPT_BATCH', async (t) => {
  const buf = buildBatch([{ key: 'k', value: 'v'.repeat(50) }, { value: 'w' }]);
  for (const length of [0, 1, 10, 200, 2 ** 40, -5]) {
    const lying = Buffer.from(buf);
    const at = writeVarint(lying, HEADER_SIZE, length); // first record's length (1 byte originally)
    if (at !== HEADER_SIZE + 1) continue; // a longer varint would shift the record; covered by random bytes
    t.throws(() => [...records(reseal(lying))], { code: 'CORRUPT_BATCH' }, `record length ${length}`);
  }
  for (const batchLength of [0, 48, buf.length, 2 ** 31 - 1, -1]) {
    const lying = Buffer.from(buf);
    lying.writeInt32BE(batchLength, Field.batchLength);
    t.throws(() => verifyBatch(lying), { code: 'CORRUPT_BATCH' }, `batch length ${batchLength}`);
    t.throws(() => [...records(lying)], { code: 'CORRUPT_BATCH' }, `iterating batch length ${batchLength}`);
  }
  t.throws(() => verifyBatch(buf.subarray(0, 30)), { code: 'CORRUPT_BATCH' }, 'shorter than a header');
});

t.test('property: random bytes behind a valid header never crash the reader', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat({ max: 50 }), (body, count) => {
      const buf = Buffer.alloc(HEADER_SIZE + body.length);
      buf.set(body, HEADER_SIZE);
      buf.writeInt32BE(buf.length - 12, Field.batchLength);
      buf.writeInt8(count % 2 === 0 ? MAGIC : 1, Field.magic);
      buf.writeInt32BE(count, Field.recordCount);
      buf.writeInt32BE(count - 1, Field.lastOffsetDelta);
      reseal(buf);
      for (const check of [() => verifyBatch(buf), () => [...records(buf)]]) {
        try {
          check();
        } catch (e) {
          assert.ok(e instanceof FlotillaError && e.code === 'CORRUPT_BATCH', String(e));
        }
      }
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 random bodies');
});

// ---------------------------------------------------------------------------------------
// Kafka's RecordBatch v2, and the magic 1 batches of earlier versions

t.test('a batch is Kafka RecordBatch v2 at Kafka\'s byte offsets', async (t) => {
  const buf = buildBatch(
    [{ key: 'a', value: 'one', timestamp: 2_000 }, { value: 'two', timestamp: 1_500 }, { value: 'three', timestamp: 2_500 }],
    { producerId: 77, producerEpoch: 4, baseSequence: 90 },
  );
  patchBatch(buf, 1_000, 6);
  // Offsets and widths as in Kafka's DefaultRecordBatch, read here without our Field table.
  t.equal(buf.readBigInt64BE(0), 1_000n, 'baseOffset int64 at 0');
  t.equal(buf.readInt32BE(8), buf.length - 12, 'batchLength int32 at 8: bytes after it');
  t.equal(buf.readInt32BE(12), 6, 'partitionLeaderEpoch int32 at 12 holds the Raft term');
  t.equal(buf.readInt8(16), 2, 'magic int8 at 16');
  t.equal(buf.readUInt32BE(17), crc32c(buf.subarray(21)), 'crc uint32 at 17: CRC-32C from attributes to the end');
  t.equal(buf.readInt16BE(21), 0, 'attributes int16 at 21: no compression, create time, not transactional, not control');
  t.equal(buf.readInt32BE(23), 2, 'lastOffsetDelta int32 at 23');
  t.equal(buf.readBigInt64BE(27), 1_500n, 'baseTimestamp int64 at 27: the smallest record timestamp');
  t.equal(buf.readBigInt64BE(35), 2_500n, 'maxTimestamp int64 at 35');
  t.equal(buf.readBigInt64BE(43), 77n, 'producerId int64 at 43');
  t.equal(buf.readInt16BE(51), 4, 'producerEpoch int16 at 51');
  t.equal(buf.readInt32BE(53), 90, 'baseSequence int32 at 53');
  t.equal(buf.readInt32BE(57), 3, 'record count int32 at 57');
  // The first record: length 11 (zigzag 22), attributes 0, timestampDelta 500 (zigzag 1000),
  // offsetDelta 0, key length 1.
  t.same([...buf.subarray(61, 67)], [0x16, 0x00, 0xe8, 0x07, 0x00, 0x02], 'length, attributes, zigzag varint deltas');

  const plain = buildBatch([{ value: 'x', timestamp: 5 }]);
  t.equal(plain.readBigInt64BE(43), -1n, 'no producer: producerId -1');
  t.equal(plain.readInt16BE(51), -1, 'producerEpoch -1');
  t.equal(plain.readInt32BE(53), -1, 'baseSequence -1');
});

t.test('control batches carry Kafka\'s control key: int16 version 0, int16 type', async (t) => {
  const config = buildControlBatch(ControlType.CONFIG, Buffer.from('{"voters":[1],"learners":[]}'), 1234);
  verifyBatch(config);
  t.equal(config.readInt16BE(Field.attributes), 0x20, 'only the control bit');
  t.equal(config.readBigInt64BE(Field.producerId), -1n);
  const [record] = [...records(config)];
  t.same([...record!.key!], [0x00, 0x00, 0x46, 0x01], 'version 0, type 0x4601');
  t.same(readControl(config), { type: ControlType.CONFIG, payload: Buffer.from('{"voters":[1],"learners":[]}') });
  t.same(readControl(buildControlBatch(ControlType.NOOP, null)), { type: ControlType.NOOP, payload: null });
  for (const type of [0, 1, 2, 3, 4, 5, 6]) t.not(Object.values(ControlType).includes(type as ControlType), true, `type ${type} is Kafka's`);

  const withKey = (key: Buffer, magic = MAGIC): Buffer => {
    const batch = buildBatch([{ key, value: null, timestamp: 0 }], { control: true, now: 0 });
    batch.writeInt8(magic, Field.magic);
    return batch;
  };
  t.throws(() => readControl(withKey(Buffer.of(1))), { code: 'CORRUPT_BATCH' }, 'a 1-byte key in magic 2');
  t.throws(() => readControl(withKey(Buffer.of(0, 1, 0x46, 0x01))), { code: 'CORRUPT_BATCH' }, 'control key version 1');
  t.throws(() => readControl(withKey(Buffer.of(0, 0, 0x46, 0x01, 0))), { code: 'CORRUPT_BATCH' }, 'a 5-byte key');
  t.throws(() => readControl(withKey(Buffer.of(2), 1)), { code: 'CORRUPT_BATCH' }, 'magic 1 type 2');
  t.throws(() => readControl(withKey(Buffer.of(0, 0, 0x46, 0x01), 1)), { code: 'CORRUPT_BATCH' }, 'a 4-byte key in magic 1');
});

// Bytes Flotilla 0.1 wrote (magic 1): a user batch at offsets 5-6 in term 3, a
// configuration entry at 7 and a no-op at 4.
const V1_USER = '000000000000000500000046000000030129d161f10000000000010000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff000000021a000000026b04763102026802780c000a02010100';
const V1_CONFIG = '000000000000000700000059000000030125a1289e00200000000000000000000000000000000000000000ffffffffffffffffffffffffffff000000014e0000000201407b22766f74657273223a5b312c322c335d2c226c6561726e657273223a5b5d7d00';
const V1_NOOP = '0000000000000004000000390000000301bdb71cbd00200000000000000000000000000000000000000000ffffffffffffffffffffffffffff000000010e00000002000100';

t.test('magic 1 batches of earlier versions verify and read', async (t) => {
  const user = buildV1Batch([{ key: 'k', value: 'v1', headers: { h: 'x' }, timestamp: 1_700_000_000_000 }, { value: null, timestamp: 1_700_000_000_005 }]);
  patchBatch(user, 5, 3);
  const config = buildV1ControlBatch(V1ControlKey.CONFIG, Buffer.from('{"voters":[1,2,3],"learners":[]}'));
  patchBatch(config, 7, 3);
  const noop = buildV1ControlBatch(V1ControlKey.NOOP, null);
  patchBatch(noop, 4, 3);
  t.equal(user.toString('hex'), V1_USER, 'the test encoder writes what 0.1 wrote');
  t.equal(config.toString('hex'), V1_CONFIG);
  t.equal(noop.toString('hex'), V1_NOOP);

  for (const batch of [user, config, noop]) t.equal(verifyBatch(batch).magic, 1);
  const got = [...records(user)];
  t.same(got.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null, r.headers.map(([k, v]) => [k, v.toString()])]), [
    [5, 1_700_000_000_000, 'k', 'v1', [['h', 'x']]],
    [6, 1_700_000_000_005, null, null, []],
  ]);
  t.same(readControl(config), { type: ControlType.CONFIG, payload: Buffer.from('{"voters":[1,2,3],"learners":[]}') });
  t.same(readControl(noop), { type: ControlType.NOOP, payload: null });
  const fetched = messagesFrom(Buffer.concat([noop, user, config]), 'old', 0, 4);
  t.same(fetched.messages.map((m) => m.offset), [5, 6], 'the client skips magic 1 control batches');
  t.equal(fetched.nextOffset, 8);

  for (const magic of [0, 3, -1]) {
    const odd = Buffer.from(user);
    odd.writeInt8(magic, Field.magic);
    t.throws(() => verifyBatch(odd), { code: 'CORRUPT_BATCH', message: /unknown magic/ }, `magic ${magic}`);
  }
});

t.test('a gzip batch reads back its records: keys, values, headers, timestamps', async (t) => {
  const input = [
    { key: 'k1', value: 'v'.repeat(1000), headers: { h: 'x' }, timestamp: 1000 },
    { key: null, value: null, timestamp: 1007 },
    { key: 'k3', value: Buffer.from([0, 1, 2, 255]), timestamp: 999 },
  ];
  const gzip = buildGzipBatch(input);
  verifyBatch(gzip);
  patchBatch(gzip, 20, 1);
  t.ok(gzip.length < buildBatch(input).length, 'the records are really compressed');
  const got = messagesFrom(gzip, 'zipped', 0, 21);
  t.same(got.messages.map((m) => [m.offset, m.timestamp, m.key?.toString() ?? null, m.value && Buffer.from(m.value), m.headers]), [
    [21, 1007, null, null, {}],
    [22, 999, 'k3', Buffer.from([0, 1, 2, 255]), {}],
  ], 'records below the fetch offset are skipped, as in an uncompressed batch');
  t.equal(got.nextOffset, 23);
  t.same([...records(gzip)].map((r) => r.value?.toString()), ['v'.repeat(1000), undefined, '\u0000\u0001\u0002\ufffd']);
});

t.test('gzip bytes that do not inflate are CORRUPT_BATCH', async (t) => {
  const buf = buildBatch([{ value: 'not really compressed', timestamp: 9 }]);
  patchBatch(buf, 20, 1);
  const fake = withCodecBits(buf, 1);
  verifyBatch(fake);
  t.throws(() => [...records(fake)], { code: 'CORRUPT_BATCH', message: /gzip records of the batch at offset 20 do not inflate/ });
});

t.test('a snappy, lz4 or zstd batch is an error naming its codec, never garbage records', async (t) => {
  const codecs = ['gzip', 'snappy', 'lz4', 'zstd'];
  for (let codec = 2; codec <= 7; codec++) {
    const buf = buildBatch([{ value: 'not really compressed', timestamp: 9 }]);
    patchBatch(buf, 20, 1);
    buf.writeInt16BE(codec, Field.attributes);
    reseal(buf);
    verifyBatch(buf); // well formed: only reading its records needs the codec
    const name = codecs[codec - 1];
    const expected = name ? { code: 'UNSUPPORTED_VERSION', message: new RegExp(`offset 20 is compressed with ${name}; this client reads uncompressed and gzip batches only`) } : { code: 'CORRUPT_BATCH', message: /unknown compression codec/ };
    t.throws(() => [...records(buf)], expected, `codec ${codec}`);
    t.throws(() => messagesFrom(buf, 'zipped', 0, 20), expected, `codec ${codec} through the consumer's decoding`);
  }
});

t.test('with the log-append-time bit every record carries the batch maxTimestamp', async (t) => {
  const buf = buildBatch([{ value: 'a', timestamp: 100 }, { value: 'b', timestamp: 300 }]);
  buf.writeInt16BE(0x08, Field.attributes);
  reseal(buf);
  t.same([...records(buf)].map((r) => r.timestamp), [300, 300]);
});
