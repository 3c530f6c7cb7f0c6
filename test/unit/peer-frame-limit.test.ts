/**
 * A Raft message too large for one peer frame (a metadata snapshot over --max-frame-bytes)
 * goes in parts over real TCP and arrives whole, paced so that the connection's other
 * frames go between its parts and are never dropped for a socket full of it; one over the
 * parts a broker joins is dropped and logged, and must not end the broker from inside the
 * transport's flush (a too-large message once threw there). The joiner itself: parts in
 * order make the message, anything out of sequence or over its announced size discards it,
 * said once, and all joiners of a broker together hold at most one message's worth.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import t, { type Test } from 'tap';
import { routeConnection } from '../../protocol/frame.js';
import type { Message, Snapshot } from '../../broker/raft/types.js';
import { cutIntoParts, JOIN_IDLE_MS, JoinBudget, MAX_PARTS, PartJoiner } from '../../broker/transport/frame-parts.js';
import { PeerTransport } from '../../broker/transport/peers.js';
import { waitFor } from '../integration/cluster.js';

/**
 * A sender and a receiver over real TCP; with `proxied`, through a proxy whose forwarding
 * of the sender's bytes the test can hold (the receiver reads nothing: the kernel's
 * buffers fill, then the sender's socket) and release.
 */
async function connectedPair(t: Test, limit: number, options: { maxQueuedBytes?: number; proxied?: boolean } = {}) {
  const delivered: Message[] = [];
  const receiver = new PeerTransport({ id: 2, clusterId: 'c', address: '127.0.0.1:0', logger: pino({ level: 'silent' }), maxFrameBytes: limit, onMessages: (_from, messages) => delivered.push(...messages.map((m) => m.message)) });
  const server = net.createServer((socket) => routeConnection(socket, { client: (s) => s.destroy(), peer: (s) => receiver.accept(s) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const logged: Array<{ msg: string; type?: string; parts?: number }> = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (logged.push(JSON.parse(String(chunk))), done()) }));
  const sender = new PeerTransport({ id: 1, clusterId: 'c', address: '127.0.0.1:1', logger, maxFrameBytes: limit, maxQueuedBytes: options.maxQueuedBytes, onMessages: () => undefined });
  const receiverPort = (server.address() as net.AddressInfo).port;
  let port = receiverPort;
  const proxiedSockets: net.Socket[] = [];
  let fromSender: net.Socket | null = null;
  const proxy = options.proxied
    ? net.createServer((down) => {
        const up = net.connect(receiverPort, '127.0.0.1');
        proxiedSockets.push(down, up);
        fromSender = down;
        down.pipe(up);
        up.pipe(down);
        for (const socket of [up, down]) socket.on('error', () => undefined).on('close', () => (up.destroy(), down.destroy()));
      })
    : null;
  if (proxy) {
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    port = (proxy.address() as net.AddressInfo).port;
  }
  t.teardown(() => {
    sender.close();
    receiver.close();
    for (const socket of proxiedSockets) socket.destroy();
    proxy?.close();
    server.close();
  });
  const hold = () => fromSender!.pause();
  const release = () => fromSender!.resume();
  sender.setPeer(2, `127.0.0.1:${port}`);
  await waitFor('connected', async () => sender.isConnected(2), 10_000);
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.prependListener('uncaughtException', onUncaught);
  t.teardown(() => void process.removeListener('uncaughtException', onUncaught));
  return { sender, delivered, logged, uncaught, hold, release };
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
  t.same(delivered.map((m) => m.type).sort(), ['appendResp', 'appendResp', 'snapshot'], 'all three delivered');
  const received = delivered.find((m) => m.type === 'snapshot')!.snapshot!;
  t.ok(received.data.equals(big.snapshot!.data), 'the snapshot byte for byte');
  t.same([received.index, received.term, received.voters], [10, 1, [1, 2]]);
  t.equal(sender.stats.droppedMessages, 0);
  t.match(logged.filter((l) => l.type === 'snapshot'), [{ msg: /^sending a Raft message larger than a peer frame in parts/, type: 'snapshot', parts: 3 }]);
});

t.test('while the peer reads slowly the parts are paced: the other groups\' messages go between them, none dropped', async (t) => {
  // 1-MiB frames, a socket allowed 4 MiB unsent, a 32-MiB snapshot while the peer reads
  // nothing: written at once, the parts would fill the socket far past its limit (the
  // kernel's buffers take a few MiB), and every flush until it drained would be dropped.
  const limit = 1024 * 1024;
  const { sender, delivered, uncaught, hold, release } = await connectedPair(t, limit, { maxQueuedBytes: 4 * limit, proxied: true });
  hold();
  const big = snapshotMessage(32 * limit);
  sender.send(2, 0, big);
  let sent = 0;
  for (let round = 0; round < 20; round++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (let group = 1; group <= 10; group++) sender.send(2, group, { type: 'appendResp', from: 1, to: 2, term: 1, index: ++sent, reject: false });
  }
  release();
  await waitFor('the snapshot delivered', async () => delivered.some((m) => m.type === 'snapshot'), 20_000);
  // One connection keeps order: once a last message is in, so is everything sent before it.
  sender.send(2, 1, { type: 'appendResp', from: 1, to: 2, term: 1, index: -1, reject: false });
  await waitFor('a last message delivered', async () => delivered.some((m) => m.index === -1), 20_000);
  t.same(uncaught, []);
  t.equal(sender.stats.droppedMessages, 0, `none of the ${sent} messages sent during the transfer dropped`);
  t.equal(delivered.filter((m) => m.type === 'appendResp').length, sent + 1, 'every one delivered');
  const received = delivered.find((m) => m.type === 'snapshot')!;
  t.ok(received.snapshot!.data.equals(big.snapshot!.data), 'the snapshot byte for byte');
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

  const joiner = new PartJoiner(64 * 1024, new JoinBudget(MAX_PARTS * 64 * 1024));
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

t.test('the joiners of a broker hold at most one message\'s worth together; a closed connection lets go of its part', async (t) => {
  const budget = new JoinBudget(4 * 1024);
  const one = new PartJoiner(1024, budget);
  const other = new PartJoiner(1024, budget);
  const first = (totalBytes: number) => ({ part: 0, parts: 4, totalBytes, data: Buffer.alloc(1) });
  t.equal(one.add(first(3 * 1024)), null, 'one connection joins 3 KiB');
  t.match(other.add(first(2 * 1024)), { discarded: /does not fit beside the 3072 bytes being joined from other connections \(at most 4096 together\)/ }, 'another may not add 2 KiB');
  one.reset(); // its connection closed
  t.equal(budget.used, 0);
  t.equal(other.add(first(2 * 1024)), null, 'then it may');
  t.equal(budget.used, 2 * 1024);
});

t.test('a message that gets no part for a while is given up, its bytes freed for another connection', async (t) => {
  let now = 0;
  const budget = new JoinBudget(4 * 1024, () => now);
  const silent = new PartJoiner(1024, budget);
  const other = new PartJoiner(1024, budget);
  const part = (part: number, totalBytes: number) => ({ part, parts: 4, totalBytes, data: Buffer.alloc(1) });
  t.equal(silent.add(part(0, 3 * 1024)), null, 'a connection starts a 3-KiB message, then falls silent (its sender died without a word)');
  now = JOIN_IDLE_MS - 1;
  t.match(other.add(part(0, 2 * 1024)), { discarded: /does not fit/ }, 'until it has been silent for JOIN_IDLE_MS, its bytes are held');
  now = JOIN_IDLE_MS;
  t.equal(other.add(part(0, 2 * 1024)), null, 'then another connection\'s message takes them');
  t.equal(budget.used, 2 * 1024);
  t.match(silent.add(part(1, 3 * 1024)), { discarded: /no part came for 30 s/ }, 'a late part of the given-up message says so once');
  t.equal(silent.add(part(2, 3 * 1024)), null, 'and the rest are dropped');
  now += JOIN_IDLE_MS - 1;
  t.equal(other.add(part(1, 2 * 1024)), null, 'a message whose parts keep coming is kept');
  now += JOIN_IDLE_MS - 1;
  t.equal(silent.add(part(0, 2 * 1024)), null, 'beside another one');
  t.equal(budget.used, 4 * 1024);
});
