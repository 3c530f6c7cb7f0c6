import t from 'tap';
import { buildBatch, verifyBatch, records, patchBatch, lastOffsetOf, termOf } from '../../protocol/batch.js';

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
