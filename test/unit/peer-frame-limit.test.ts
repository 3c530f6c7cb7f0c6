/**
 * A Raft message too large for one peer frame (a metadata snapshot over --max-frame-bytes)
 * is dropped and logged by the transport, over real TCP: it used to throw out of the
 * transport's flush and end the broker, and then the next leader that tried to send it.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { routeConnection } from '../../protocol/frame.js';
import type { Message } from '../../broker/raft/types.js';
import { PeerTransport } from '../../broker/transport/peers.js';
import { waitFor } from '../integration/cluster.js';

t.test('a snapshot larger than a peer frame is dropped with an error logged; smaller messages still go', async (t) => {
  const limit = 1 << 20;
  const delivered: string[] = [];
  const receiver = new PeerTransport({ id: 2, clusterId: 'c', address: '127.0.0.1:0', logger: pino({ level: 'silent' }), maxFrameBytes: limit, onMessages: (_from, messages) => delivered.push(...messages.map((m) => m.message.type)) });
  const server = net.createServer((socket) => routeConnection(socket, { client: (s) => s.destroy(), peer: (s) => receiver.accept(s) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const logged: Array<{ msg: string; type?: string }> = [];
  const logger = pino({ level: 'error' }, new Writable({ write: (chunk, _encoding, done) => (logged.push(JSON.parse(String(chunk))), done()) }));
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

  const snapshot = { index: 10, term: 1, voters: [1, 2], learners: [], data: Buffer.alloc(2 * limit, 0x20) };
  sender.send(2, 0, { type: 'snapshot', from: 1, to: 2, term: 1, snapshot } as unknown as Message);
  sender.send(2, 0, { type: 'appendResp', from: 1, to: 2, term: 1, index: 3, reject: false });
  await waitFor('the small message delivered', async () => delivered.includes('appendResp'), 10_000);
  t.same(uncaught, [], 'nothing thrown out of the flush');
  t.notOk(delivered.includes('snapshot'));
  t.equal(sender.stats.droppedMessages, 1, 'the snapshot is dropped');
  t.match(logged, [{ type: 'snapshot', msg: /too large for one peer frame .* raise --max-frame-bytes/ }], 'and the error logged');
});
