/**
 * The Kafka codec on its own: hand-checked bytes for the flexible encodings (compact
 * strings and arrays, tagged fields, request header v2, response headers v0 and v1),
 * the primitives, errors that name api, version and field, the framing, and properties
 * over every (api, version) of the table: round trips of generated messages, and
 * truncated or corrupted frames that fail cleanly. kafka-oracles.test.ts checks the same
 * table against two Kafka clients.
 */
import t from 'tap';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  KAFKA_APIS,
  KafkaCodecError,
  KafkaFrameReader,
  KafkaReader,
  KafkaWriter,
  type KafkaApiName,
} from '../../protocol/kafka/index.js';
import { inRange, type AnyField, type KafkaType, type StructType } from '../../protocol/kafka/schema.js';

const frame = (chunks: Buffer[]): Buffer => Buffer.concat(chunks);
/** Hex digits, one group of them per line; two spaces or more start a comment. */
const hex = (text: string): Buffer =>
  Buffer.from(
    text
      .split('\n')
      .map((line) => line.trim().split(/\s{2,}/)[0]!.replace(/\s+/g, ''))
      .join(''),
    'hex',
  );

t.test('hand-checked bytes: ApiVersions v3 request with header v2, compact strings and empty tagged sections', async (t) => {
  const bytes = hex(`
    00000017            size 23
    0012 0003 0000002a  api key 18, version 3, correlation id 42
    0003 636c69         client id "cli": int16 length even in header v2
    00                  header tagged fields: none
    04 6c6962           clientSoftwareName "lib": compact, length + 1
    04 312e30           clientSoftwareVersion "1.0"
    00                  body tagged fields: none`);
  t.same(frame(encodeRequest('ApiVersions', { apiVersion: 3, correlationId: 42, clientId: 'cli' }, { clientSoftwareName: 'lib', clientSoftwareVersion: '1.0' })), bytes);
  const request = decodeRequest(bytes.subarray(4));
  t.same(request.header, { apiKey: 18, apiVersion: 3, correlationId: 42, clientId: 'cli' });
  t.same(request.body, { clientSoftwareName: 'lib', clientSoftwareVersion: '1.0' });
});

t.test('hand-checked bytes: ApiVersions v3 response keeps header v0 and writes only tagged fields off their default', async (t) => {
  const bytes = hex(`
    00000020            size 32
    0000002a            correlation id; no header tagged fields (header v0)
    0000                errorCode
    02 0012 0000 0003 00  apiKeys: compact count 1 + 1; apiKey 18, versions 0-3, tagged fields
    00000000            throttleTimeMs
    02                  two tagged fields
    01 08 0000000000000007   tag 1 finalizedFeaturesEpoch, 8 bytes: 7
    03 01 01            tag 3 zkMigrationReady, 1 byte: true`);
  const chunks = encodeResponse('ApiVersions', 3, 42, {
    apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }],
    supportedFeatures: [], // the default: not written
    finalizedFeaturesEpoch: 7,
    zkMigrationReady: true,
  });
  t.same(frame(chunks), bytes);
  const { correlationId, body } = decodeResponse('ApiVersions', 3, bytes.subarray(4));
  t.equal(correlationId, 42);
  t.same(body, {
    errorCode: 0,
    apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }],
    throttleTimeMs: 0,
    supportedFeatures: [],
    finalizedFeaturesEpoch: 7,
    finalizedFeatures: [],
    zkMigrationReady: true,
  });
});

t.test('hand-checked bytes: CreateTopics v5 response has header v1, a tagged field inside an array element and a null compact array', async (t) => {
  const bytes = hex(`
    0000001c            size 28
    00000007 00         correlation id, header tagged fields (header v1)
    00000000            throttleTimeMs
    02                  topics: 1 element
    02 61               name "a"
    0000                errorCode
    00                  errorMessage null (compact: 0)
    00000003 0001       numPartitions 3, replicationFactor 1
    00                  configs null
    01 00 02 0029       one tagged field: tag 0 topicConfigErrorCode, 2 bytes: 41
    00                  top-level tagged fields: none`);
  const chunks = encodeResponse('CreateTopics', 5, 7, {
    topics: [{ name: 'a', errorMessage: null, topicConfigErrorCode: 41, numPartitions: 3, replicationFactor: 1, configs: null }],
  });
  t.same(frame(chunks), bytes);
  t.same(decodeResponse('CreateTopics', 5, bytes.subarray(4)).body.topics[0], {
    name: 'a',
    errorCode: 0,
    errorMessage: null,
    topicConfigErrorCode: 41,
    numPartitions: 3,
    replicationFactor: 1,
    configs: null,
  });
});

t.test('unknown tagged fields are skipped, known ones in any version decode', async (t) => {
  // Heartbeat v4 request with an unknown tag 9 of 3 bytes in the header and the body.
  const bytes = hex('000c 0004 00000001 ffff 01 09 03 616263 02 67 00000005 02 6d 00 01 09 03 616263');
  const request = decodeRequest(bytes);
  t.same(request.header.clientId, null);
  t.same(request.body, { groupId: 'g', generationId: 5, memberId: 'm', groupInstanceId: null });
});

t.test('record batches are passed by reference: the encoder never copies them', async (t) => {
  const batch = Buffer.alloc(4096, 7);
  const chunks = encodeResponse('Fetch', 11, 1, {
    responses: [{ topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 1, abortedTransactions: null, records: batch }] }],
  });
  t.ok(chunks.includes(batch), 'the batch is one of the chunks, not a copy');
  const { body } = decodeResponse('Fetch', 11, frame(chunks).subarray(4));
  t.same(body.responses[0]!.partitions[0]!.records, batch);
});

t.test('primitives: zigzag varints and varlongs, unsigned varints, int64 limits', async (t) => {
  const cases: [number, string][] = [
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [-64, '7f'],
    [64, '8001'],
    [2147483647, 'feffffff0f'],
    [-2147483648, 'ffffffff0f'],
  ];
  for (const [value, encoded] of cases) {
    const chunks = new KafkaWriter().varint(value).finish();
    t.equal(frame(chunks).subarray(4).toString('hex'), encoded, `varint ${value}`);
    t.equal(new KafkaReader(hex(encoded)).varint(), value);
  }
  const big = Number.MAX_SAFE_INTEGER;
  const varlong = frame(new KafkaWriter().varlong(-big).varlong(big).finish()).subarray(4);
  const reader = new KafkaReader(varlong);
  t.same([reader.varlong(), reader.varlong(), reader.remaining], [-big, big, 0]);
  t.equal(frame(new KafkaWriter().uvarint(300).finish()).subarray(4).toString('hex'), 'ac02');
  t.equal(new KafkaReader(hex('ffffffffffffffff')).int64(), -1);
  t.equal(new KafkaReader(hex('001fffffffffffff')).int64(), big);
  t.throws(() => new KafkaReader(hex('0020000000000000')).int64(), /beyond the safe integer range/);
  t.throws(() => new KafkaReader(hex('ffffffffff')).uvarint(), /longer than 5 bytes/);
  t.throws(() => new KafkaWriter().int64(2 ** 53), /not a safe integer/);
});

t.test('errors name the api, the version and the field', async (t) => {
  const good = frame(encodeRequest('Fetch', { apiVersion: 11, correlationId: 9, clientId: 'c' }, { topics: [{ topic: 'orders', partitions: [{ partition: 0, fetchOffset: 5 }] }] }));
  const cut = good.subarray(4, good.length - 10);
  t.throws(() => decodeRequest(cut), { name: 'KafkaCodecError', failure: 'MALFORMED', api: 'Fetch', version: 11, correlationId: 9, field: 'topics[0].partitions[0].partitionMaxBytes' });
  t.throws(() => decodeRequest(cut), { message: /^Fetch v11 field topics\[0\]\.partitions\[0\]\.partitionMaxBytes: truncated/ });

  const unsupported = hex('0001 0063 0000000b 0000');
  t.throws(() => decodeRequest(unsupported), { name: 'KafkaCodecError', failure: 'UNSUPPORTED_VERSION', api: 'Fetch', version: 99, correlationId: 11 });
  t.throws(() => decodeRequest(hex('0400 0000 0000000c 0000')), { name: 'KafkaCodecError', failure: 'UNSUPPORTED_VERSION', api: 'api key 1024', correlationId: 12 });
  t.throws(() => decodeRequest(hex('0012 00')), { failure: 'MALFORMED', message: /shorter than a request header/ });

  // An array count of 2^31-1 with nothing behind it fails before allocating anything.
  const hugeArray = hex('0014 0001 00000001 ffff 7fffffff');
  t.throws(() => decodeRequest(hugeArray), { failure: 'MALFORMED', field: 'topicNames', message: /cannot fit/ });
  t.throws(() => decodeRequest(hex('000c 0000 00000001 ffff ffff')), { field: 'groupId', message: /does not allow null/ });
  t.throws(() => decodeRequest(Buffer.concat([good.subarray(4), hex('00')])), { message: /1 bytes left over/ });

  t.throws(() => encodeResponse('Heartbeat', 7, 1, {}), { name: 'KafkaCodecError', failure: 'UNSUPPORTED_VERSION', api: 'Heartbeat', version: 7 });
  t.throws(() => encodeResponse('Metadata', 1, 1, { brokers: [{ nodeId: 1, host: null as unknown as string }] }), {
    failure: 'MALFORMED',
    field: 'brokers[0].host',
    message: /does not allow null/,
  });
});

t.test('KafkaFrameReader: frames split anywhere, oversized or negative sizes refused before the body', async (t) => {
  const frames = [hex('01'), hex(''), Buffer.alloc(300, 2)];
  const stream = Buffer.concat(frames.map((f) => Buffer.concat([hex(f.length.toString(16).padStart(8, '0')), f])));
  for (const step of [1, 3, 7, stream.length]) {
    const reader = new KafkaFrameReader(1000);
    const got: Buffer[] = [];
    for (let i = 0; i < stream.length; i += step) got.push(...reader.push(stream.subarray(i, i + step)));
    t.same(got, frames, `fed ${step} bytes at a time`);
    t.equal(reader.buffered, 0);
  }
  t.throws(() => new KafkaFrameReader(1000).push(hex('000003e9')), { failure: 'MALFORMED', message: /frame size 1001 is outside 0\.\.1000/ });
  t.throws(() => new KafkaFrameReader().push(hex('ffffffff')), { message: /frame size -1/ });
  const partial = new KafkaFrameReader();
  partial.push(hex('0000000a 0102'));
  t.equal(partial.buffered, 2, 'a cut-off frame stays visible as buffered bytes');
});

t.test('KafkaFrameReader for a listener: a Produce over the limit is read past, its records unheld, and returned without them', async (t) => {
  const limit = 2000;
  const body = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [
      { name: 'orders', partitionData: [{ index: 0, records: Buffer.alloc(1500, 1) }, { index: 4, records: Buffer.alloc(900, 2) }] },
      { name: 'audit', partitionData: [{ index: 1, records: null }, { index: 2, records: Buffer.alloc(0) }] },
    ],
  };
  const frameOf = (chunks: Buffer[]) => Buffer.concat(chunks);
  for (const version of [3, 8]) {
    const oversized = frameOf(encodeRequest('Produce', { apiVersion: version, correlationId: 41, clientId: 'big' }, body));
    const after = frameOf(encodeRequest('ApiVersions', { apiVersion: 0, correlationId: 42, clientId: null }, {}));
    const stream = Buffer.concat([oversized, after]);
    for (const step of [1, 5, 97, 1024, stream.length]) {
      const reader = new KafkaFrameReader(limit, { oversizedProduce: () => true });
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) got.push(...reader.push(stream.subarray(i, i + step)));
      t.equal(got.length, 2, `v${version}, fed ${step} bytes at a time: two frames`);
      t.equal(reader.overLimit(got[0]!), oversized.length - 4, "the first is marked with the request's size");
      t.ok(got[0]!.length < 200, 'and holds no records');
      const request = decodeRequest(got[0]!);
      assert(request.api === 'Produce');
      t.same([request.header.correlationId, request.header.clientId, request.body.acks, request.body.timeoutMs], [41, 'big', -1, 5000]);
      t.same(
        request.body.topicData.map((topic) => [topic.name, topic.partitionData.map((p) => [p.index, p.records])]),
        [['orders', [[0, null], [4, null]]], ['audit', [[1, null], [2, null]]]],
        'every topic and partition named, every records field null',
      );
      t.equal(reader.overLimit(got[1]!), undefined, 'the next frame is read as usual');
      t.equal(decodeRequest(got[1]!).header.correlationId, 42);
      t.equal(reader.buffered, 0);
    }
  }
  const reader = () => new KafkaFrameReader(limit, { oversizedProduce: () => true });
  const fetch = frameOf(encodeRequest('Fetch', { apiVersion: 4, correlationId: 1, clientId: null }, { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1, isolationLevel: 0, topics: [{ topic: 'x'.repeat(3000), partitions: [] }] }));
  t.throws(() => reader().push(fetch), { failure: 'MALFORMED', message: /api 1 v4 is over the frame limit/ }, 'another api over the limit is refused');
  const produce = frameOf(encodeRequest('Produce', { apiVersion: 7, correlationId: 1, clientId: null }, body));
  const cut = Buffer.from(produce);
  cut.writeInt32BE(produce.length - 4 - 100, 0); // the frame ends inside the first records
  t.throws(() => reader().push(cut), { failure: 'MALFORMED', message: /does not end where its fields do|ends inside a field/ }, 'a frame that ends before its fields do');
  const names = frameOf(encodeRequest('Produce', { apiVersion: 7, correlationId: 1, clientId: null }, { ...body, topicData: Array.from({ length: 40 }, (_, i) => ({ name: `${i}`.padStart(100, 't'), partitionData: [] })) }));
  t.throws(() => new KafkaFrameReader(1024, { oversizedProduce: () => true }).push(names), { message: /names more than 1024 bytes/ }, 'what is kept is bounded by the limit');
  const partial = reader();
  partial.push(produce.subarray(0, 1700));
  t.equal(partial.buffered, 1696, 'a cut-off oversized frame stays visible as buffered bytes');

  // A frame that claims 2 GiB around a small Produce: what follows its last field is refused at once, never held.
  const padded = frameOf(encodeRequest('Produce', { apiVersion: 7, correlationId: 1, clientId: null }, { ...body, topicData: [{ name: 'x', partitionData: [{ index: 0, records: null }] }] }));
  padded.writeInt32BE(0x7fffffff, 0);
  t.throws(() => reader().push(padded), { failure: 'MALFORMED', message: /does not end where its fields do/ }, 'refused once its last field is read, before any byte past it comes');
  t.throws(() => new KafkaFrameReader(limit, { oversizedProduce: () => false }).push(produce), { message: /frame size \d+ is outside 0\.\.2000/ }, 'a connection not allowed to produce yet (not authenticated) is refused as before');
});

// ---------------------------------------------------------------------------------------
// Properties over every (api, version): messages generated from the schema itself.

function arbitraryOf(type: KafkaType, version: number, nullable: boolean): fc.Arbitrary<unknown> {
  const base = ((): fc.Arbitrary<unknown> => {
    switch (type.kind) {
      case 'int8':
        return fc.integer({ min: -128, max: 127 });
      case 'int16':
        return fc.integer({ min: -32768, max: 32767 });
      case 'uint16':
        return fc.integer({ min: 0, max: 65535 });
      case 'int32':
        return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
      case 'int64':
        return fc.maxSafeInteger();
      case 'bool':
        return fc.boolean();
      case 'string':
        return fc.string({ unit: 'binary', maxLength: 12 });
      case 'bytes':
      case 'records':
        return fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a));
      case 'uuid':
        return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a).toString('hex'));
      case 'array':
        return fc.array(arbitraryOf(type.of, version, false), { maxLength: 3 });
      case 'struct':
        return structArbitrary(type, version);
    }
  })();
  return nullable || type.kind === 'records' ? fc.option(base, { nil: null, freq: 4 }) : base;
}

function structArbitrary(type: StructType<unknown, unknown>, version: number): fc.Arbitrary<Record<string, unknown>> {
  const fields = type.fields.filter((f) => inRange(f.versions, version));
  return fc.record(Object.fromEntries(fields.map((f: AnyField) => [f.name, arbitraryOf(f.type, version, inRange(f.nullableVersions, version))])));
}

function defaultOf(f: AnyField): unknown {
  return typeof f.defaultValue === 'function' ? f.defaultValue() : f.defaultValue;
}

/** The generated value as decoding returns it: fields of other versions at their defaults. */
function withDefaults(type: StructType<unknown, unknown>, version: number, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fields) {
    const v = value[f.name];
    if (!inRange(f.versions, version)) out[f.name] = defaultOf(f);
    else if (v && f.type.kind === 'struct') out[f.name] = withDefaults(f.type, version, v as Record<string, unknown>);
    else if (Array.isArray(v) && f.type.kind === 'array' && f.type.of.kind === 'struct') {
      const of = f.type.of;
      out[f.name] = v.map((e) => withDefaults(of, version, e as Record<string, unknown>));
    } else out[f.name] = v;
  }
  return out;
}

const EVERY_VERSION = (Object.keys(KAFKA_APIS) as KafkaApiName[]).flatMap((name) => {
  const { min, max } = KAFKA_APIS[name].versions;
  return Array.from({ length: max - min + 1 }, (_, i) => ({ name, version: min + i }));
});

t.test('every (api, version): generated requests and responses round-trip', async (t) => {
  for (const { name, version } of EVERY_VERSION) {
    const api = KAFKA_APIS[name];
    fc.assert(
      fc.property(structArbitrary(api.request, version), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (body, correlationId) => {
        const bytes = frame(encodeRequest(name, { apiVersion: version, correlationId, clientId: 'p' }, body as never));
        const decoded = decodeRequest(bytes.subarray(4));
        assert.equal(decoded.api, name);
        assert.equal(decoded.header.correlationId, correlationId);
        assert.deepEqual(decoded.body, withDefaults(api.request, version, body), `${name} v${version} request`);
      }),
      { numRuns: 25 },
    );
    fc.assert(
      fc.property(structArbitrary(api.response, version), (body) => {
        const bytes = frame(encodeResponse(name, version, 3, body as never));
        assert.deepEqual(decodeResponse(name, version, bytes.subarray(4)).body, withDefaults(api.response, version, body), `${name} v${version} response`);
      }),
      { numRuns: 25 },
    );
  }
  t.pass(`${EVERY_VERSION.length} (api, version) pairs, 25 requests and 25 responses each`);
});

/** Decoding either succeeds or throws a KafkaCodecError: never another error, never a hang. */
function decodesOrFailsCleanly(bytes: Buffer): boolean {
  try {
    decodeRequest(bytes);
    return true;
  } catch (error) {
    return error instanceof KafkaCodecError;
  }
}

t.test('every (api, version): every truncation of a request fails as MALFORMED naming the api', async (t) => {
  let truncations = 0;
  for (const { name, version } of EVERY_VERSION) {
    const [body] = fc.sample(structArbitrary(KAFKA_APIS[name].request, version), { numRuns: 1, seed: version });
    const bytes = frame(encodeRequest(name, { apiVersion: version, correlationId: 1, clientId: 'p' }, body as never)).subarray(4);
    for (let length = 8; length < bytes.length; length++) {
      truncations++;
      try {
        decodeRequest(bytes.subarray(0, length));
        t.fail(`${name} v${version} cut to ${length} of ${bytes.length} bytes decoded`);
      } catch (error) {
        if (!(error instanceof KafkaCodecError && error.failure === 'MALFORMED' && error.api === name && error.version === version)) {
          t.fail(`${name} v${version} cut to ${length}: ${String(error)}`);
        }
      }
    }
  }
  t.ok(truncations > 1000, `${truncations} truncations, each a MALFORMED error`);
});

t.test('garbage: corrupted requests and random bytes decode or fail with a KafkaCodecError', async (t) => {
  const samples = EVERY_VERSION.map(({ name, version }) => {
    const [body] = fc.sample(structArbitrary(KAFKA_APIS[name].request, version), { numRuns: 1, seed: 7 });
    return frame(encodeRequest(name, { apiVersion: version, correlationId: 1, clientId: 'p' }, body as never)).subarray(4);
  });
  fc.assert(
    fc.property(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (sample, flips) => {
      const bytes = Buffer.from(sample);
      for (const [at, value] of flips) bytes[8 + (at % Math.max(1, bytes.length - 8))] = value;
      return decodesOrFailsCleanly(bytes);
    }),
    { numRuns: 3000 },
  );
  const keys = Object.values(KAFKA_APIS).map((a) => a.key);
  fc.assert(
    fc.property(fc.constantFrom(...keys), fc.integer({ min: 0, max: 12 }), fc.uint8Array({ maxLength: 64 }), (key, version, tail) => {
      const head = Buffer.alloc(8);
      head.writeInt16BE(key, 0);
      head.writeInt16BE(version, 2);
      return decodesOrFailsCleanly(Buffer.concat([head, tail]));
    }),
    { numRuns: 3000 },
  );
  t.pass('no error other than KafkaCodecError');
});
