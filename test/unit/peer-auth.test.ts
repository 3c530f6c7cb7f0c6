/**
 * Peer connections without mutual TLS prove the inter-broker credential when
 * authentication is on (broker/transport/peer-auth.ts), on real TCP connections between
 * PeerTransports: brokers that share it talk; a socket that does not prove it, a broker
 * with another password, or a plaintext peer under --authn mtls is refused before any
 * Raft message of theirs is delivered; with --authn none nothing is asked.
 */
import net from 'node:net';
import pino from 'pino';
import t from 'tap';
import { decodePeerMessage, encodePeerMessage, PEER_PROTOCOL_VERSION } from '../../protocol/codec.js';
import { encodeFrame, readFrames, routeConnection } from '../../protocol/frame.js';
import type { PeerMessage } from '../../protocol/peer.schema.js';
import type { Message } from '../../broker/raft/types.js';
import { PeerAuth } from '../../broker/transport/peer-auth.js';
import { PeerTransport, type GroupMessage } from '../../broker/transport/peers.js';
import { encodeRaftMessages } from '../../broker/transport/raft-messages.js';

const CLUSTER = 'auth-test';
const scram = (password: string) => PeerAuth.of({ authn: 'scram', bootstrapUser: { name: 'admin', password } }, CLUSTER);
const vote = (from: number, to: number): Message => ({ type: 'vote', from, to, term: 9, lastIndex: 0, lastTerm: 0 });

/** A listening transport as broker 2 with `auth`; what it delivered and logged. */
async function listener(t: { teardown(fn: () => unknown): void }, auth: PeerAuth | null) {
  const delivered: GroupMessage[] = [];
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const transport = new PeerTransport({ id: 2, clusterId: CLUSTER, address: '127.0.0.1:0', logger, maxFrameBytes: 1 << 20, auth, onMessages: (_from, items) => delivered.push(...items) });
  const server = net.createServer((socket) => routeConnection(socket, { client: (s) => s.destroy(), peer: (s) => transport.accept(s) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    transport.close();
    server.close();
  });
  return { transport, delivered, warnings, address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}

/** Broker 1 dialling `address` with `auth`; resolves once it is connected or `ms` passed. */
async function dialer(t: { teardown(fn: () => unknown): void }, address: string, auth: PeerAuth | null, ms = 10_000) {
  const errors: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
  const transport = new PeerTransport({ id: 1, clusterId: CLUSTER, address: '127.0.0.1:1', logger, maxFrameBytes: 1 << 20, auth, onMessages: () => undefined });
  t.teardown(() => transport.close());
  transport.setPeer(2, address);
  for (let waited = 0; !transport.isConnected(2) && waited < ms; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  return { transport, errors };
}

/** A bare socket speaking the peer protocol, as anyone who reaches the port can. */
async function rawPeer(address: string) {
  const [host, port] = address.split(':');
  const socket = net.connect({ host: host!, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  socket.write(Buffer.of(0x02));
  const received: PeerMessage[] = [];
  let closed = false;
  readFrames(socket, { onFrame: (frame) => void received.push(decodePeerMessage(frame)), onClose: () => void (closed = true) });
  const settle = async () => {
    for (let waited = 0; !closed && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  return {
    send: (message: Parameters<typeof encodePeerMessage>[0]) => socket.write(encodeFrame(encodePeerMessage(message))),
    sendRaft: (message: Message) => socket.write(encodeFrame(Buffer.concat(encodeRaftMessages([{ group: 0, message }])))),
    received,
    settle,
    get closed() {
      return closed;
    },
  };
}

const handshake = (nonce?: Buffer) => ({ handshake: { clusterId: CLUSTER, brokerId: 7, version: PEER_PROTOCOL_VERSION, address: '127.0.0.1:7', ...(nonce ? { nonce } : {}) } });

t.test('brokers with the same inter-broker credential connect and talk in plaintext', async (t) => {
  const server = await listener(t, scram('s3cret'));
  const { transport } = await dialer(t, server.address, scram('s3cret'));
  t.ok(transport.isConnected(2), 'connected after the challenge');
  transport.send(2, 0, vote(1, 2));
  for (let waited = 0; server.delivered.length === 0 && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(server.delivered.map((d) => d.message.type), ['vote'], 'its messages are delivered');
});

t.test('a socket that does not prove the credential is refused, and its Raft messages go nowhere', async (t) => {
  const server = await listener(t, scram('s3cret'));

  const bare = await rawPeer(server.address);
  bare.send(handshake());
  bare.sendRaft(vote(7, 2));
  await bare.settle();
  t.ok(bare.closed, 'a handshake without a nonce: closed');
  t.equal(bare.received[0]?.handshakeAck?.accepted, false);
  t.match(bare.received[0]?.handshakeAck?.errorMessage, /must prove the inter-broker credential/);

  const guesser = await rawPeer(server.address);
  guesser.send(handshake(PeerAuth.nonce()));
  for (let waited = 0; guesser.received.length === 0 && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(guesser.received[0]?.challenge, 'a handshake with a nonce is challenged');
  guesser.send({ proof: { proof: Buffer.alloc(32, 1) } });
  guesser.sendRaft(vote(7, 2));
  await guesser.settle();
  t.ok(guesser.closed, 'a wrong proof: closed');
  t.match(guesser.received[1]?.handshakeAck?.errorMessage, /did not prove the inter-broker credential/);

  const skipper = await rawPeer(server.address);
  skipper.send(handshake(PeerAuth.nonce()));
  skipper.sendRaft(vote(7, 2));
  await skipper.settle();
  t.ok(skipper.closed, 'Raft messages instead of the proof: closed');

  const wrongCluster = await rawPeer(server.address);
  wrongCluster.send({ handshake: { ...handshake().handshake, clusterId: 'guess' } });
  await wrongCluster.settle();
  t.notMatch(wrongCluster.received[0]?.handshakeAck?.errorMessage ?? '', CLUSTER, "a wrong cluster id is refused without telling the cluster's");

  t.same(server.delivered, [], 'no message of theirs was delivered');
  t.ok(server.warnings.filter((w) => w.includes('refused a peer connection')).length >= 4, 'each refusal was logged');
});

t.test('a broker with another password is refused, and does not trust the listener either', async (t) => {
  const server = await listener(t, scram('s3cret'));
  const { transport, errors } = await dialer(t, server.address, scram('other'), 0);
  const said = () => errors.some((line) => line.includes('peer could not prove the inter-broker credential'));
  for (let waited = 0; !said() && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(said(), "the dialer finds the listener's proof wrong first and says so");
  t.notOk(transport.isConnected(2), 'not connected');
  t.same(server.delivered, []);
});

t.test('--authn mtls refuses plaintext peers; --authn none asks nothing', async (t) => {
  const mtls = await listener(t, PeerAuth.of({ authn: 'mtls' }, CLUSTER));
  const refused = await rawPeer(mtls.address);
  refused.send(handshake(PeerAuth.nonce()));
  await refused.settle();
  t.match(refused.received[0]?.handshakeAck?.errorMessage, /refused under --authn mtls/);

  const open = await listener(t, PeerAuth.of({ authn: 'none' }, CLUSTER));
  const { transport } = await dialer(t, open.address, null);
  t.ok(transport.isConnected(2), 'no authentication: connected as before');
  const { transport: proving } = await dialer(t, open.address, scram('s3cret'));
  t.ok(proving.isConnected(2), 'a broker that could prove itself is not asked to');
});
