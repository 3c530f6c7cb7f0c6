import t from 'tap';
import { once } from 'node:events';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBatch, patchBatch } from '../../protocol/batch.js';
import {
  client,
  coalesceHeartbeats,
  decodePeerMessage,
  decodeRequest,
  decodeResponse,
  encodePeerMessage,
  encodeRequest,
  encodeResponse,
  expandHeartbeats,
  expandHeartbeatResponses,
  fromErrorInfo,
  fromRaftMessage,
  toErrorInfo,
  toRaftMessage,
} from '../../protocol/codec.js';
import { generateSchema, protocolSourceDir, SCHEMAS } from '../../protocol/codegen.js';
import { FlotillaError } from '../../protocol/errors.js';
import { ConnectionType, FrameWriter, readFrames, routeConnection, writeConnectionType } from '../../protocol/frame.js';
import type { Message } from '../../broker/raft/types.js';

t.test('checked-in schema files match the .proto files (rerun protocol/codegen.ts)', async (t) => {
  for (const name of SCHEMAS) {
    const checkedIn = readFileSync(join(protocolSourceDir(), `${name}.schema.ts`), 'utf8');
    t.equal(checkedIn, generateSchema(name), `${name}.schema.ts is up to date`);
  }
});

t.test('a produce request and its response round-trip with int64 offsets as numbers', async (t) => {
  const batch = buildBatch([{ key: 'k', value: 'v', timestamp: 1 }]);
  const frame = encodeRequest({
    correlationId: 42,
    apiVersion: 1,
    clientId: 'billing',
    produce: { topic: 'orders', partition: 3, acks: client.Acks.ACKS_LEADER, timeoutMs: 500, batch },
  });
  const request = decodeRequest(frame);
  t.equal(request.body, 'produce');
  t.equal(request.correlationId, 42);
  t.equal(request.clientId, 'billing');
  t.equal(request.produce!.topic, 'orders');
  t.equal(request.produce!.acks, client.Acks.ACKS_LEADER);
  t.ok(request.produce!.batch.equals(batch));

  const response = decodeResponse(encodeResponse({ correlationId: 42, produce: { baseOffset: 2 ** 52, lastOffset: 2 ** 52 + 9, logStartOffset: 0 } }));
  t.equal(response.body, 'produce');
  t.equal(response.produce!.baseOffset, 2 ** 52);
  t.equal(typeof response.produce!.lastOffset, 'number');
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
  const frame = encodePeerMessage({ raft: { messages: [fromRaftMessage(12, message)] } });
  const decoded = decodePeerMessage(frame);
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
  const decoded = decodePeerMessage(encodePeerMessage({ raft: { messages: messages.map((m) => fromRaftMessage(0, m)) } }));
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
