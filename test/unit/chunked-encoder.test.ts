import t from 'tap';
import fc from 'fast-check';
import { encodeChunks, LARGE_BYTES } from '../../protocol/chunked-encoder.js';
import { encodeRequestChunks, encodeResponseChunks } from '../../protocol/codec.js';
import { clientRoot, PeerMessageType, peerRoot, protobuf } from '../../protocol/protobuf.js';

/** Every message type below a namespace. */
function messageTypes(namespace: protobuf.NamespaceBase): protobuf.Type[] {
  const types: protobuf.Type[] = [];
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) types.push(nested);
    if (nested instanceof protobuf.Namespace) types.push(...messageTypes(nested));
  }
  return types;
}

const bytesArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)) },
  // Large values (passed through by reference): a filled Buffer, sometimes a plain Uint8Array view.
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: LARGE_BYTES, max: 3 * LARGE_BYTES }), fc.nat(255), fc.boolean()).map(([length, fill, plain]) => {
      const bytes = Buffer.alloc(length, fill);
      return plain ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) : bytes;
    }),
  },
);

const SCALARS: Record<string, fc.Arbitrary<unknown>> = {
  uint32: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff_ffff })),
  int32: fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
  sint32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fixed32: fc.integer({ min: 0, max: 0xffff_ffff }),
  sfixed32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  int64: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1000 }), fc.maxSafeInteger(), fc.maxSafeNat()),
  uint64: fc.oneof(fc.constant(0), fc.maxSafeNat()),
  sint64: fc.maxSafeInteger(),
  fixed64: fc.maxSafeNat(),
  sfixed64: fc.maxSafeInteger(),
  bool: fc.boolean(),
  float: fc.float(),
  double: fc.double(),
  // 'binary' includes lone surrogates; lengths straddle protobufjs's 40 and 128 thresholds.
  string: fc.oneof(fc.string({ maxLength: 45 }), fc.string({ unit: 'binary', maxLength: 150 }), fc.string({ unit: 'grapheme', maxLength: 60 })),
  bytes: bytesArbitrary,
};

/** Random valid messages of a type, from its reflection: at most one member per oneof, absent fields omitted or null. */
function messageArbitrary(type: protobuf.Type, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const plain: Record<string, fc.Arbitrary<unknown>> = {};
  const oneofs: fc.Arbitrary<Record<string, unknown>>[] = [];
  for (const field of type.fieldsArray) field.resolve();
  for (const oneof of type.oneofsArray) {
    const members = oneof.fieldsArray.map((field) => fieldArbitrary(field, depth).map((value) => ({ [field.name]: value })));
    oneofs.push(fc.option(fc.oneof(...members), { nil: {} }).map((chosen) => chosen));
  }
  for (const field of type.fieldsArray) {
    if (!field.partOf) plain[field.name] = fc.option(fieldArbitrary(field, depth), { nil: null, freq: 3 });
  }
  return fc.tuple(fc.record(plain, { requiredKeys: [] }), ...oneofs).map(([fields, ...chosen]) => Object.assign({ ...fields }, ...chosen));
}

function fieldArbitrary(field: protobuf.Field, depth: number): fc.Arbitrary<unknown> {
  let item: fc.Arbitrary<unknown>;
  if (field.resolvedType instanceof protobuf.Type) {
    item = depth > 0 ? messageArbitrary(field.resolvedType, depth - 1) : fc.constant({});
  } else if (field.resolvedType instanceof protobuf.Enum) {
    item = fc.constantFrom(...Object.values(field.resolvedType.values));
  } else {
    item = SCALARS[field.type]!;
  }
  if (field.map) return fc.dictionary(fc.string({ maxLength: 5 }), item, { maxKeys: 3 });
  return field.repeated ? fc.array(item, { maxLength: 4 }) : item;
}

function assertSameBytes(type: protobuf.Type, message: Record<string, unknown>): void {
  const expected = Buffer.from(type.encode(message).finish());
  const actual = Buffer.concat(encodeChunks(type, message));
  if (!actual.equals(expected)) {
    throw new Error(`${type.fullName}: chunks ${actual.toString('hex').slice(0, 200)} differ from protobufjs ${expected.toString('hex').slice(0, 200)}`);
  }
}

for (const [name, root] of [['client.proto', clientRoot], ['peer.proto', peerRoot]] as const) {
  t.test(`every message type of ${name}: the chunks are protobufjs's bytes`, async (t) => {
    const types = messageTypes(root);
    for (const type of types) {
      fc.assert(fc.property(messageArbitrary(type, 3), (message) => assertSameBytes(type, message)), { numRuns: 40 });
    }
    t.pass(`${types.length} types`);
  });
}

// Every scalar kind the schemas do not use yet, proto3 optional, and a map (left to protobufjs).
const allKinds = protobuf.Root.fromJSON({
  nested: {
    Kinds: {
      oneofs: { _maybe: { oneof: ['maybe'] } },
      fields: {
        ...Object.fromEntries(Object.keys(SCALARS).flatMap((type, i) => [
          [`one_${type}`, { type, id: i + 1 }],
          [`many_${type}`, { type, id: i + 40, rule: 'repeated' }],
        ])),
        maybe: { type: 'sint64', id: 90, options: { proto3_optional: true } },
        child: { type: 'Kinds', id: 91 },
        children: { type: 'Kinds', id: 92, rule: 'repeated' },
      },
    },
    WithMap: { fields: { names: { keyType: 'string', type: 'uint32', id: 1 }, kinds: { type: 'Kinds', id: 2 } } },
  },
} as protobuf.INamespace).resolveAll();

t.test('every scalar kind, packed and not, proto3 optional, recursion; a map falls back to protobufjs', async (t) => {
  for (const type of messageTypes(allKinds)) {
    fc.assert(fc.property(messageArbitrary(type, 2), (message) => assertSameBytes(type, message)), { numRuns: 300 });
  }
  t.pass();
});

t.test('a large bytes field comes out as the same object, not a copy', async (t) => {
  const batch = Buffer.alloc(64 * 1024, 7);
  const request = encodeRequestChunks({
    correlationId: 9,
    apiVersion: 1,
    produce: { partitions: [{ topic: 't', partition: 0, batch }], acks: 1, timeoutMs: 1000 },
  });
  t.ok(request.includes(batch), 'produce batch is a chunk of the request');
  t.equal(request.reduce((sum, chunk) => sum + chunk.length, 0) - batch.length < 64, true, 'the rest is a few bytes');

  const records = Buffer.alloc(LARGE_BYTES, 1);
  const response = encodeResponseChunks({ correlationId: 9, fetch: { partitions: [{ topic: 't', partition: 0, records }] } });
  t.ok(response.includes(records), 'fetched records are a chunk of the response');

  const entries = [Buffer.alloc(LARGE_BYTES * 2, 2), Buffer.alloc(10, 3), Buffer.alloc(LARGE_BYTES, 4)];
  const peer = encodeChunks(PeerMessageType, { raft: { messages: [{ group: 1, term: 2, entries, hasEntries: true }] } });
  t.ok(peer.includes(entries[0]!) && peer.includes(entries[2]!), 'large Raft entries are chunks of the peer message');
  t.notOk(peer.includes(entries[1]!), 'a small entry is copied inline');
});

t.test('strings with lone surrogates are written as protobufjs writes them (its own UTF-8 under 40 units)', async (t) => {
  const type = clientRoot.lookupType('flotilla.client.ProducePartition');
  for (const topic of ['a\ud800b', 'x'.repeat(39) + '\udc00', 'x'.repeat(40) + '\ud800', 'y'.repeat(200) + '\ud800z']) assertSameBytes(type, { topic });
  t.pass();
});
