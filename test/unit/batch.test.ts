import t from 'tap';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from '@node-rs/crc32';
import {
  batchBounds, buildBatch, CRC_START, Field, HEADER_SIZE, lastOffsetOf, patchBatch, records, termOf, verifyBatch, writeVarint,
} from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';

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
      buf.writeInt8(1, Field.magic);
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
