/**
 * The peer transport's silence rule over real loopback connections: a connection to a peer
 * not heard from for PEER_SILENCE_MS is dialled again, but a stall of this process is not
 * taken for silence of its peers. (The silent network cut itself: silent-cut.test.ts.)
 */
import net from 'node:net';
import pino from 'pino';
import t, { type Test } from 'tap';
import { routeConnection } from '../../protocol/frame.js';
import { PEER_SILENCE_MS, PeerTransport } from '../../broker/transport/peers.js';
import { waitFor } from '../../bench/process-cluster.js';

interface Broker {
  transport: PeerTransport;
  address: string;
  warnings: string[];
  /** Inbound peer connections accepted so far. */
  accepted: number;
}

async function broker(t: Test, id: number): Promise<Broker> {
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const transport = new PeerTransport({ id, clusterId: 'c', address: `127.0.0.1:${id}`, logger, maxFrameBytes: 1 << 20, onMessages: () => undefined });
  const b: Broker = { transport, address: '', warnings, accepted: 0 };
  const server = net.createServer((socket) => routeConnection(socket, { client: (s) => s.destroy(), peer: (s) => {
    b.accepted++;
    transport.accept(s);
  } }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  b.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  t.teardown(() => {
    transport.close();
    server.close();
  });
  return b;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const redials = (b: Broker) => b.warnings.filter((line) => line.includes('dialing the peer again')).length;

/** Two brokers dialled to each other, each ticking its keep-alive every 100 ms unless muted. */
async function pair(t: Test, muted: Set<number> = new Set()) {
  const a = await broker(t, 1);
  const b = await broker(t, 2);
  a.transport.setPeer(2, b.address);
  b.transport.setPeer(1, a.address);
  await waitFor('both connected', () => a.transport.isConnected(2) && b.transport.isConnected(1), 30_000, 20);
  const ticks = setInterval(() => {
    if (!muted.has(1)) a.transport.keepAlive();
    if (!muted.has(2)) b.transport.keepAlive();
  }, 100);
  t.teardown(() => clearInterval(ticks));
  return { a, b };
}

t.test('a peer heard from no more is dialled again', async (t) => {
  const { a, b } = await pair(t, new Set([2])); // 2 never sends a keep-alive
  await waitFor('1 dialling 2 again', () => redials(a) > 0, 4 * PEER_SILENCE_MS, 20);
  await waitFor('the new connection up', () => b.accepted >= 2 && a.transport.isConnected(2), 30_000, 20);
  t.pass(`1 dropped its silent connection to 2 and dialled again (2 accepted ${b.accepted} connections)`);
});

t.test('a stall of this process is not taken for silence of its peers', async (t) => {
  const { a, b } = await pair(t);
  await sleep(PEER_SILENCE_MS / 5);
  // The whole event loop stops for longer than the silence limit: no frame is read, and
  // on waking, the keep-alive timers run before the loop reads the sockets.
  const end = Date.now() + PEER_SILENCE_MS + 1000;
  while (Date.now() < end) {
    /* stalled */
  }
  await sleep(PEER_SILENCE_MS / 5);
  t.equal(redials(a) + redials(b), 0, 'no connection was dropped for the stall');
  t.equal(a.accepted + b.accepted, 2, 'each still on its first connection');
});
