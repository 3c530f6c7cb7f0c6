/**
 * A Raft message too large for one peer frame (a metadata snapshot over --max-frame-bytes)
 * goes in parts over real TCP and arrives whole; one over the parts a broker joins is
 * dropped and logged, and must not end the broker from inside the transport's flush (a
 * too-large message once threw there). The joiner itself: parts in order make the message,
 * anything out of sequence or over its announced size discards it, said once.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import t, { type Test } from 'tap';
import { routeConnection } from '../../protocol/frame.js';
import type { Message, Snapshot } from '../../broker/raft/types.js';
import { cutIntoParts, MAX_PARTS, PartJoiner } from '../../broker/transport/frame-parts.js';
import { PeerTransport } from '../../broker/transport/peers.js';
import { waitFor } from '../integration/cluster.js';

async function connectedPair(t: Test, limit: number) {
  const delivered: Message[] = [];
  const receiver = new PeerTransport({ id: 2, clusterId: 'c', address: '127.0.0.1:0', logger: pino({ level: 'silent' }), maxFrameBytes: limit, onMessages: (_from, messages) => delivered.push(...messages.map((m) => m.message)) });
  const server = net.createServer((socket) => routeConnection(socket, { client: (s) => s.destroy(), peer: (s) => receiver.accept(s) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const logged: Array<{ msg: string; type?: string; parts?: number }> = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (logged.push(JSON.parse(String(chunk))), done()) }));
  const sender = new PeerTransport({ id: 1, clusterId: 'c', address: '127.0.0.1:1', logger, maxFrameBytes: limit, onMessages: () => undefined });
  t.teardown(() => {
    sender.close();
    receiver.close();
    server.close();
  });
  sender.setPeer(2, `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  await waitFor('connected', async () => sender.isConnected(2), 10_000);
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.prependListener('uncaughtException', onUncaught);
  t.teardown(() => void process.removeListener('uncaughtException', onUncaught));
  return { sender, delivered, logged, uncaught };
}

function snapshotMessage(bytes: number): Message {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4) data.writeUInt32LE(i, i); // every part different
  const snapshot: Snapshot = { index: 10, term: 1, voters: [1, 2], learners: [], data };
  return { type: 'snapshot', from: 1, to: 2, term: 1, snapshot } as Message;
}

t.test('a snapshot larger than a peer frame arrives whole, in parts, between smaller messages', async (t) => {
  const limit = 64 * 1024;
  const { sender, delivered, logged, uncaught } = await connectedPair(t, limit);
  const big = snapshotMessage(Math.floor(2.5 * limit));
  sender.send(2, 0, { type: 'appendResp', from: 1, to: 2, term: 1, index: 3, reject: false });
  sender.send(2, 0, big);
  sender.send(2, 0, { type: 'appendResp', from: 1, to: 2, term: 1, index: 4, reject: false });
  await waitFor('three messages delivered', async () => delivered.length >= 3, 10_000);
  t.same(uncaught, [], 'nothing thrown out of the flush');
  t.same(delivered.map((m) => m.type), ['appendResp', 'snapshot', 'appendResp'], 'in the order sent');
  t.ok(delivered[1]!.snapshot!.data.equals(big.snapshot!.data), 'the snapshot byte for byte');
  t.same([delivered[1]!.snapshot!.index, delivered[1]!.snapshot!.term, delivered[1]!.snapshot!.voters], [10, 1, [1, 2]]);
  t.equal(sender.stats.droppedMessages, 0);
  t.match(logged.filter((l) => l.type === 'snapshot'), [{ msg: 'sent a Raft message larger than a peer frame in parts', type: 'snapshot', parts: 3 }]);
});

t.test(`a snapshot over ${MAX_PARTS} peer frames is dropped with an error logged; smaller messages still go`, async (t) => {
  const limit = 4 * 1024;
  const { sender, delivered, logged, uncaught } = await connectedPair(t, limit);
  sender.send(2, 0, snapshotMessage((MAX_PARTS + 1) * limit));
  sender.send(2, 0, { type: 'appendResp', from: 1, to: 2, term: 1, index: 3, reject: false });
  await waitFor('the small message delivered', async () => delivered.some((m) => m.type === 'appendResp'), 10_000);
  t.same(uncaught, [], 'nothing thrown out of the flush');
  t.notOk(delivered.some((m) => m.type === 'snapshot'));
  t.equal(sender.stats.droppedMessages, 1, 'the snapshot is dropped');
  t.match(logged.filter((l) => l.type === 'snapshot'), [{ type: 'snapshot', msg: new RegExp(`over ${MAX_PARTS} peer frames and cannot be sent; raise --max-frame-bytes`) }], 'and the error logged');
});

t.test('the joiner: parts in order make the message; out of sequence or over size discards it, said once', async (t) => {
  const whole = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  const data = cutIntoParts(whole, 64 + 300);
  t.same(data.map((d) => d.length), [300, 300, 300, 100], 'parts of the frame less their envelope');
  const parts = data.map((d, part) => ({ part, parts: data.length, totalBytes: whole.length, data: d }));

  const joiner = new PartJoiner(64 * 1024);
  t.same(parts.slice(0, 3).map((p) => joiner.add(p)), [null, null, null]);
  const joined = joiner.add(parts[3]!);
  t.ok(joined && 'whole' in joined && joined.whole.equals(whole), 'joined');

  // A part missing: discarded once, the rest of that message dropped quietly, the next one joined.
  t.same(joiner.add(parts[0]!), null);
  t.match(joiner.add(parts[2]!), { discarded: 'part 2 of 4 arrived where part 1 of 4 was due' });
  t.same(joiner.add(parts[3]!), null, 'the rest of a discarded message says nothing');
  for (const p of parts.slice(0, 3)) joiner.add(p);
  t.ok('whole' in (joiner.add(parts[3]!) ?? {}), 'the next message is joined');

  t.match(joiner.add(parts[1]!), { discarded: 'part 1 of 4 arrived where a first part was due' });
  t.match(joiner.add({ ...parts[0]!, parts: 1 }), { discarded: /not a split message/ });
  t.match(joiner.add({ ...parts[0]!, parts: MAX_PARTS + 1 }), { discarded: new RegExp(`over the ${MAX_PARTS} a broker joins`) });
  t.match(joiner.add({ ...parts[0]!, totalBytes: MAX_PARTS * 64 * 1024 + 1 }), { discarded: /over 64 frames of --max-frame-bytes 65536/ });
  t.match(joiner.add({ ...parts[0]!, totalBytes: 500 }), null);
  t.match(joiner.add({ ...parts[1]!, totalBytes: 500 }), { discarded: 'the parts carry more than the 500 bytes they announced' });
  t.match(joiner.add({ ...parts[0]!, totalBytes: 2000 }), null);
  for (const p of parts.slice(1, 3)) joiner.add({ ...p, totalBytes: 2000 });
  t.match(joiner.add({ ...parts[3]!, totalBytes: 2000 }), { discarded: 'the parts carry fewer than the 2000 bytes they announced' });
});
