import t from 'tap';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import lps from 'length-prefixed-stream';
import { buildBatch, lastOffsetOf, patchBatch } from '../../protocol/batch.js';
import { LARGE_BYTES } from '../../protocol/chunked-encoder.js';
import {
  client,
  decodePeerMessage,
  decodeRequest,
  decodeResponse,
  encodePeerMessage,
  encodeRequest,
  encodeResponse,
  fromErrorInfo,
  peer,
  toErrorInfo,
  type Init,
} from '../../protocol/codec.js';
import { generateSchema, protocolSourceDir, SCHEMAS } from '../../protocol/codegen.js';
import { FlotillaError } from '../../protocol/errors.js';
import { ConnectionType, encodeFrame, FrameWriter, readFrames, routeConnection, writeConnectionType, type FrameOptions } from '../../protocol/frame.js';
import { ClientRequestType, ClientResponseType } from '../../protocol/protobuf.js';
import type { Message } from '../../broker/raft/types.js';
import { coalesceHeartbeats, encodeRaftMessages, expandHeartbeatResponses, expandHeartbeats, toRaftMessage } from '../../broker/transport/raft-messages.js';

t.test('checked-in schema files match the .proto files (rerun protocol/codegen.ts)', async (t) => {
  for (const name of SCHEMAS) {
    const checkedIn = readFileSync(join(protocolSourceDir(), `${name}.schema.ts`), 'utf8');
    t.equal(checkedIn, generateSchema(name), `${name}.schema.ts is up to date`);
  }
});

t.test('a decoded envelope names the member its oneof holds; of two on the wire the last wins, alone', async (t) => {
  const produce = encodeResponse({ correlationId: 7, produce: { partitions: [] } });
  const fetch = encodeResponse({ fetch: { partitions: [] } });
  t.equal(decodeResponse(produce).body, 'produce');
  const both = decodeResponse(Buffer.concat([produce, fetch]));
  t.equal(both.body, 'fetch');
  t.same(Object.keys(both).sort(), ['correlationId', 'fetch'], 'the earlier member is gone, as protobufjs leaves it');
  t.equal(both.produce, null);
  t.equal(decodeResponse(Buffer.concat([fetch, produce])).body, 'produce');
  t.equal(decodeResponse(encodeResponse({ correlationId: 1 })).body, undefined, 'no member: no body');
  const peerFrame = decodePeerMessage(encodePeerMessage({ heartbeats: { from: 1, to: 2, heartbeats: [] } }));
  t.equal(peerFrame.body, 'heartbeats');
});

t.test('a produce request and its response round-trip with int64 offsets as numbers', async (t) => {
  const batch = buildBatch([{ key: 'k', value: 'v', timestamp: 1 }]);
  const frame = encodeRequest({
    correlationId: 42,
    apiVersion: 1,
    clientId: 'billing',
    produce: { acks: client.Acks.ACKS_LEADER, timeoutMs: 500, partitions: [{ topic: 'orders', partition: 3, batch }, { topic: 'audit', partition: 0, batch }] },
  });
  const request = decodeRequest(frame);
  t.equal(request.body, 'produce');
  t.equal(request.correlationId, 42);
  t.equal(request.clientId, 'billing');
  t.same(request.produce!.partitions.map((p) => `${p.topic}/${p.partition}`), ['orders/3', 'audit/0']);
  t.equal(request.produce!.acks, client.Acks.ACKS_LEADER);
  t.ok(request.produce!.partitions[0]!.batch.equals(batch));

  const response = decodeResponse(
    encodeResponse({
      correlationId: 42,
      produce: {
        partitions: [
          { topic: 'orders', partition: 3, baseOffset: 2 ** 52, lastOffset: 2 ** 52 + 9, logStartOffset: 0 },
          { topic: 'audit', partition: 0, error: { code: 1, message: 'not the leader', leaderId: 2 } },
        ],
      },
    }),
  );
  t.equal(response.body, 'produce');
  t.equal(response.produce!.partitions[0]!.baseOffset, 2 ** 52);
  t.equal(typeof response.produce!.partitions[0]!.lastOffset, 'number');
  t.equal(response.produce!.partitions[1]!.error!.leaderId, 2, 'each partition carries its own error');
  t.equal(response.error, null);
});

t.test('a NOT_LEADER error carries the leader through ErrorInfo', async (t) => {
  const error = new FlotillaError('NOT_LEADER', undefined, { leaderId: 2, leaderAddress: '127.0.0.1:7402' });
  const response = decodeResponse(encodeResponse({ correlationId: 1, error: toErrorInfo(error) }));
  const back = fromErrorInfo(response.error)!;
  t.equal(back.code, 'NOT_LEADER');
  t.equal(back.retriable, true);
  t.same(back.details, { leaderId: 2, leaderAddress: '127.0.0.1:7402' });
  t.equal(fromErrorInfo(null), null);
});

t.test('topic config keeps presence: absent fields stay null', async (t) => {
  const request = decodeRequest(encodeRequest({ correlationId: 1, alterTopicConfig: { topic: 'a', config: { retentionMs: -1 } } }));
  t.equal(request.alterTopicConfig!.config!.retentionMs, -1);
  t.equal(request.alterTopicConfig!.config!.retentionBytes, null);
});

function entry(baseOffset: number, term: number, records: number): { index: number; term: number; data: Buffer } {
  const data = buildBatch(Array.from({ length: records }, (_, i) => ({ value: `r${i}`, timestamp: 5 })));
  patchBatch(data, baseOffset, term);
  return { index: baseOffset + records - 1, term, data };
}

t.test('a Raft append message round-trips through the peer envelope', async (t) => {
  const message: Message = {
    type: 'append', from: 1, to: 2, term: 7, prevIndex: 99, prevTerm: 6, commit: 90,
    entries: [entry(100, 7, 3), entry(103, 7, 1)],
  };
  const decoded = decodePeerMessage(Buffer.concat(encodeRaftMessages([{ group: 12, message }])));
  t.equal(decoded.body, 'raft');
  const back = toRaftMessage(decoded.raft!.messages[0]!);
  t.equal(back.group, 12);
  t.same(back.message, message);
  t.same(back.message.entries!.map((e) => [e.index, e.term]), [[102, 7], [103, 7]]);
});

t.test('empty entries, rejections and snapshots keep their shape', async (t) => {
  const messages: Message[] = [
    { type: 'append', from: 1, to: 2, term: 3, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
    { type: 'appendResp', from: 2, to: 1, term: 3, reject: true, index: 50, rejectHint: 40, conflictTerm: 2 },
    { type: 'voteResp', from: 2, to: 1, term: 3, reject: false },
    { type: 'snapshot', from: 1, to: 3, term: 4, snapshot: { index: 500, term: 4, voters: [1, 2, 3], learners: [4], data: Buffer.from('state') } },
    { type: 'timeoutNow', from: 1, to: 2, term: 4 },
  ];
  const decoded = decodePeerMessage(Buffer.concat(encodeRaftMessages(messages.map((message) => ({ group: 0, message })))));
  t.same(decoded.raft!.messages.map((m) => toRaftMessage(m, { copy: true }).message), messages);
});

t.test('heartbeats coalesce per peer and expand back per group', async (t) => {
  const outgoing = [
    { group: 1, message: { type: 'heartbeat', from: 1, to: 2, term: 5, commit: 10 } as Message },
    { group: 2, message: { type: 'heartbeat', from: 1, to: 2, term: 6, commit: 0 } as Message },
    { group: 3, message: { type: 'heartbeatResp', from: 1, to: 2, term: 2, index: 9 } as Message },
    { group: 4, message: { type: 'vote', from: 1, to: 2, term: 2, lastIndex: 1, lastTerm: 1 } as Message },
  ];
  const { heartbeats, responses, rest } = coalesceHeartbeats(outgoing);
  const beats = decodePeerMessage(encodePeerMessage({ heartbeats })).heartbeats!;
  const resps = decodePeerMessage(encodePeerMessage({ heartbeatResponses: responses })).heartbeatResponses!;
  t.same([...expandHeartbeats(beats), ...expandHeartbeatResponses(resps), ...rest], outgoing);
});

t.test('an unknown Raft message type is INVALID_REQUEST', async (t) => {
  const decoded = decodePeerMessage(encodePeerMessage({ raft: { messages: [{ group: 1, type: 0, term: 1 }] } }));
  t.throws(() => toRaftMessage(decoded.raft!.messages[0]!), { code: 'INVALID_REQUEST' });
});

t.test('client and peer connections are routed by their first byte; frames flow both ways', async (t) => {
  const server = net.createServer((socket) => {
    routeConnection(socket, {
      client: (s) => {
        const writer = new FrameWriter(s);
        readFrames(s, { onFrame: (frame) => writer.write(encodeResponse({ correlationId: decodeRequest(frame).correlationId })) });
      },
      peer: (s) => {
        const writer = new FrameWriter(s);
        readFrames(s, { onFrame: (frame) => writer.write(encodePeerMessage({ handshakeAck: { accepted: decodePeerMessage(frame).handshake!.clusterId === 'c1' } })) });
      },
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as net.AddressInfo;

  const clientSocket = net.connect(port, '127.0.0.1');
  writeConnectionType(clientSocket, ConnectionType.CLIENT);
  const clientWriter = new FrameWriter(clientSocket);
  for (let id = 1; id <= 50; id++) clientWriter.write(encodeRequest({ correlationId: id, metadata: {} }));
  const ids: number[] = [];
  await new Promise<void>((resolve) => {
    readFrames(clientSocket, { onFrame: (f) => { ids.push(decodeResponse(f).correlationId); if (ids.length === 50) resolve(); } });
  });
  t.same(ids, Array.from({ length: 50 }, (_, i) => i + 1));
  clientSocket.destroy();

  const peerSocket = net.connect(port, '127.0.0.1');
  writeConnectionType(peerSocket, ConnectionType.PEER);
  new FrameWriter(peerSocket).write(encodePeerMessage({ handshake: { clusterId: 'c1', brokerId: 2, version: 1 } }));
  const ack = await new Promise<boolean>((resolve) => {
    readFrames(peerSocket, { onFrame: (f) => resolve(decodePeerMessage(f).handshakeAck!.accepted) });
  });
  t.equal(ack, true);
  peerSocket.destroy();
});

// ---------------------------------------------------------------------------------------
// Properties

const u32 = fc.nat({ max: 0xffff_ffff });
const offset = fc.maxSafeInteger();
const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const name = fc.string({ maxLength: 20 });
const errorInfo = fc.option(fc.record({ code: fc.nat({ max: 30 }), message: name, leaderId: u32, leaderAddress: name }), { nil: undefined });

const requestBody = fc.oneof(
  fc.record({ produce: fc.record({ acks: fc.constantFrom(0, 1, 2), timeoutMs: u32, partitions: fc.array(fc.record({ topic: name, partition: u32, batch: bytes }), { maxLength: 4 }) }) }),
  fc.record({ fetch: fc.record({ partitions: fc.array(fc.record({ topic: name, partition: u32, offset, maxBytes: u32 }), { maxLength: 5 }), maxWaitMs: u32, minBytes: u32, maxBytes: u32 }) }),
  fc.record({ metadata: fc.record({ topics: fc.array(name, { maxLength: 5 }) }) }),
  fc.record({
    createTopics: fc.record({
      topics: fc.array(fc.record({ topic: name, partitions: u32, replication: u32, config: fc.record({ retentionMs: offset, retentionBytes: offset, segmentBytes: offset }, { requiredKeys: [] }) }), { maxLength: 3 }),
      timeoutMs: u32,
    }),
  }),
  fc.record({ commitOffsets: fc.record({ groupId: name, memberId: name, generation: u32, offsets: fc.array(fc.record({ topic: name, partition: u32, offset }), { maxLength: 4 }) }) }),
  fc.record({ initProducerId: fc.record({ producerId: offset, producerEpoch: fc.integer() }, { requiredKeys: [] }) }),
  fc.record({ registerBroker: fc.record({ brokerId: u32, address: name }) }),
);

const responseBody = fc.oneof(
  fc.record({ produce: fc.record({ partitions: fc.array(fc.record({ topic: name, partition: u32, error: errorInfo, baseOffset: offset, lastOffset: offset, logStartOffset: offset }), { maxLength: 4 }) }) }),
  fc.record({ fetch: fc.record({ partitions: fc.array(fc.record({ topic: name, partition: u32, error: errorInfo, highWatermark: offset, logStartOffset: offset, records: bytes }), { maxLength: 4 }) }) }),
  fc.record({
    metadata: fc.record({
      brokers: fc.array(fc.record({ id: u32, address: name }), { maxLength: 3 }),
      controllerId: u32,
      topics: fc.array(fc.record({ topic: name, error: errorInfo, partitions: fc.array(fc.record({ partition: u32, leader: u32, leaderTerm: u32, replicas: fc.array(u32), inSync: fc.array(u32) }), { maxLength: 3 }) }), { maxLength: 3 }),
    }),
  }),
  fc.record({ joinGroup: fc.record({ memberId: name, generation: u32, assignment: fc.array(fc.record({ topic: name, partitions: fc.array(u32) }), { maxLength: 3 }), heartbeatIntervalMs: u32 }) }),
);

/** Deep equality that throws (so fast-check shrinks) and ignores prototypes (fast-check makes null-prototype records). */
function assertSame(actual: unknown, expected: unknown): void {
  assert.deepStrictEqual(structuredClone(actual), structuredClone(expected));
}

/** What protobufjs itself makes of an input object, with defaults filled in. */
function canonical(type: typeof ClientRequestType, value: object): object {
  return type.toObject(type.fromObject(value), { defaults: true, oneofs: true });
}

t.test('property: any client request or response survives encode and decode', async (t) => {
  fc.assert(
    fc.property(u32, u32, requestBody, (correlationId, apiVersion, body) => {
      const input = { correlationId, apiVersion, ...body };
      const decoded = decodeRequest(encodeRequest(input));
      assertSame(ClientRequestType.toObject(decoded as never, { defaults: true, oneofs: true }), canonical(ClientRequestType, input));
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(u32, errorInfo, responseBody, (correlationId, error, body) => {
      const input = { correlationId, error, ...body };
      const decoded = decodeResponse(encodeResponse(input));
      assertSame(ClientResponseType.toObject(decoded as never, { defaults: true, oneofs: true }), canonical(ClientResponseType, input));
    }),
    { numRuns: 300 },
  );
  t.pass('300 requests and 300 responses');
});

/** A record batch as a Raft entry; now and then one of over 4 KiB, which the encoders pass through by reference. */
const batchEntry = fc
  .record({ base: fc.nat({ max: 2 ** 40 }), term: u32, values: fc.array(bytes, { minLength: 1, maxLength: 4 }), large: fc.boolean() })
  .map(({ base, term, values, large }) => {
    const data = buildBatch([...values, ...(large ? [Buffer.alloc(5000, 1)] : [])].map((value) => ({ value, timestamp: 1 })));
    patchBatch(data, base, term);
    return { index: lastOffsetOf(data), term, data };
  });
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });
/** Indexes: -1 is real (the position before an empty log's first entry) and takes ten varint bytes. */
const index = fc.oneof(fc.constant(-1), fc.nat(), fc.maxSafeNat());
const raftMessage: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom('preVote', 'preVoteResp', 'vote', 'voteResp', 'append', 'appendResp', 'heartbeat', 'heartbeatResp', 'snapshot', 'timeoutNow'),
    from: u32, to: u32, term: u32,
    lastIndex: maybe(index), lastTerm: maybe(u32),
    prevIndex: maybe(index), prevTerm: maybe(u32),
    entries: maybe(fc.array(batchEntry, { maxLength: 3 })),
    commit: maybe(index), reject: maybe(fc.boolean()), index: maybe(index), rejectHint: maybe(index), conflictTerm: maybe(u32),
    snapshot: maybe(fc.record({ index: fc.nat(), term: u32, voters: fc.array(u32, { maxLength: 5 }), learners: fc.array(u32, { maxLength: 5 }), data: bytes })),
    transfer: maybe(fc.boolean()),
  })
  .map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as unknown as Message);

/** peer.proto's RaftMessage for a core message, field by field: what encodeRaftMessages must write the bytes of. */
function wireForm(group: number, message: Message): Init<peer.RaftMessage> {
  const { type, entries, ...fields } = message;
  return {
    group,
    type: peer.MessageType[type.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase() as keyof typeof peer.MessageType],
    ...fields,
    ...(entries ? { hasEntries: true, entries: entries.map((entry) => entry.data) } : {}),
  };
}

t.test('property: the Raft message encoder writes the bytes protobufjs writes, large entries by reference', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(u32, raftMessage), { maxLength: 4 }), (batch) => {
      const items = batch.map(([group, message]) => ({ group, message }));
      const chunks = encodeRaftMessages(items);
      const expected = encodePeerMessage({ raft: { messages: batch.map(([group, m]) => wireForm(group, m)) } });
      assert.ok(Buffer.concat(chunks).equals(expected), 'same bytes as protobufjs');
      const large = items.flatMap(({ message }) => message.entries ?? []).filter((e) => e.data.length >= LARGE_BYTES);
      for (const entry of large) assert.ok(chunks.includes(entry.data), 'a large entry is a chunk of its own, not a copy');
    }),
    { numRuns: 300 },
  );
  t.pass('300 message lists');
});

t.test('property: any Raft message survives the peer envelope unchanged', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(u32, raftMessage), { maxLength: 4 }), (batch) => {
      const frame = Buffer.concat(encodeRaftMessages(batch.map(([group, message]) => ({ group, message }))));
      const back = decodePeerMessage(frame).raft!.messages.map((m) => toRaftMessage(m));
      assertSame(back, batch.map(([group, message]) => ({ group, message })));
    }),
    { numRuns: 200 },
  );
  t.pass('200 message lists');
});

/** Feeds `data` to a fresh FrameDecoder through a PassThrough in the given chunk sizes. */
async function framesOf(data: Buffer, cuts: number[], options: Partial<FrameOptions> = {}): Promise<{ frames: Buffer[]; error: Error | null }> {
  const source = new PassThrough();
  const frames: Buffer[] = [];
  const closed = new Promise<Error | null>((resolve) => {
    readFrames(source, { onFrame: (f) => frames.push(Buffer.from(f)), onClose: resolve }, options);
  });
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut > at && cut < data.length) {
      source.write(data.subarray(at, cut));
      at = cut;
    }
  }
  source.end(data.subarray(at));
  return { frames, error: await closed };
}

t.test('property: frames split at any chunk boundaries come out whole and in order', async (t) => {
  const bodies = fc.array(fc.oneof({ arbitrary: bytes, weight: 5 }, { arbitrary: fc.uint8Array({ minLength: 20_000, maxLength: 70_000 }).map((a) => Buffer.from(a)), weight: 1 }), { maxLength: 12 });
  await fc.assert(
    fc.asyncProperty(bodies, fc.array(fc.nat({ max: 200_000 }), { maxLength: 30 }), fc.boolean(), async (list, cuts, viaLps) => {
      const data = viaLps ? await lpsEncode(list) : Buffer.concat(list.map((b) => encodeFrame(b)));
      const { frames, error } = await framesOf(data, cuts);
      assert.equal(error, null);
      assertSame(frames, list);
    }),
    { numRuns: 100 },
  );
  t.pass('100 frame sequences');
});

/** Frames written with length-prefixed-stream's own encoder (format compatibility). */
async function lpsEncode(bodies: Buffer[]): Promise<Buffer> {
  const encoder = lps.encode();
  const chunks: Buffer[] = [];
  encoder.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
  for (const b of bodies) encoder.write(b);
  encoder.end();
  await once(encoder, 'end');
  return Buffer.concat(chunks);
}

t.test('FrameWriter output decodes with length-prefixed-stream, in one write per turn', async (t) => {
  const sink = new PassThrough();
  const written: Buffer[] = [];
  let writevCalls = 0;
  sink._writev = (chunks, callback) => {
    writevCalls++;
    for (const { chunk } of chunks) written.push(chunk as Buffer);
    callback();
  };
  const writer = new FrameWriter(sink);
  const bodies = Array.from({ length: 100 }, (_, i) => Buffer.alloc(i * 7, i));
  for (const b of bodies) writer.write(b);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(writevCalls, 1, 'one writev for 100 frames');
  const decoder = lps.decode({ limit: 1 << 20, allowEmpty: true });
  const out: Buffer[] = [];
  decoder.on('data', (f: Buffer) => out.push(Buffer.from(f)));
  decoder.end(Buffer.concat(written));
  t.strictSame(out, bodies);
  t.throws(() => new FrameWriter(sink, { maxFrameBytes: 10 }).write(Buffer.alloc(11)), { code: 'FRAME_TOO_LARGE' });
});
