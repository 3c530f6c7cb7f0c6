/**
 * TLS on real broker processes: a mutual-TLS cluster that elects, replicates and acks;
 * plaintext refused; a client's certificate refused on a peer connection under a broker's
 * id (it is not valid for that broker's host); certificates nobody trusts failing at once with
 * AUTHENTICATION_FAILED; a certificate reloaded on SIGHUP (and a broken one refused); and a
 * rolling migration from plaintext to TLS under an acks=all producer.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { generateCertificates, issueCertificate, type Certificates } from '../../bench/certificates.js';
import { Client, FlotillaError, type ClientLogger, type ClientTlsOptions } from '../../client/index.js';
import { BROKER_DEFAULTS } from '../../broker/config.js';
import { CLIENT_API_VERSION, PEER_PROTOCOL_VERSION, decodePeerMessage, decodeResponse, encodePeerMessage, encodeRequest } from '../../protocol/codec.js';
import type { PeerMessage } from '../../protocol/peer.schema.js';
import { encodeFrame, FrameDecoder } from '../../protocol/frame.js';
import { readsBack } from './read-back.js';
import { ProcessCluster, startCluster, waitFor } from './cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const certs: Certificates = generateCertificates(join(dir, 'certs'), { brokers: 3, clients: ['alice'] });
const pem = (file: string) => readFileSync(file);

/** The flags of broker `id`: its own certificate, the CA, and the given extras. */
function tlsArgs(id: number, ...extra: string[]): string[] {
  const own = certs.brokers.get(id)!;
  return ['--tls-cert', own.cert, '--tls-key', own.key, '--tls-ca', certs.ca, ...extra];
}

const alice: ClientTlsOptions = { ca: pem(certs.ca), cert: pem(certs.clients.get('alice')!.cert), key: pem(certs.clients.get('alice')!.key) };

function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

/** A metadata request as raw bytes, type byte first. */
const metadataRequest = (correlationId: number) =>
  Buffer.concat([Buffer.of(0x01), encodeFrame(encodeRequest({ correlationId, apiVersion: CLIENT_API_VERSION, metadata: {} }))]);

/** Opens a raw TLS connection as alice; resolves with it and the certificate the broker showed. */
function rawTls(address: string): Promise<{ socket: tls.TLSSocket; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...hostPort(address), ...alice }, () => resolve({ socket, fingerprint: socket.getPeerCertificate().fingerprint256 }));
    socket.once('error', reject);
  });
}

/** Sends a metadata request on an open raw connection and resolves with the answer's correlation id. */
function askMetadata(socket: tls.TLSSocket, correlationId: number, first: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder({ frameTimeoutMs: 0, idleTimeoutMs: 0 });
    const onData = (chunk: Buffer) => decoder.write(chunk);
    decoder.once('data', (frame: Buffer) => {
      socket.off('data', onData);
      resolve(decodeResponse(frame).correlationId);
    });
    socket.on('data', onData);
    socket.once('error', reject);
    const request = metadataRequest(correlationId);
    socket.write(first ? request : request.subarray(1));
  });
}

/**
 * Opens a peer connection (type byte 0x02) to `address` over TLS with `options`, shakes
 * hands as broker `brokerId` advertised at `claimed`, and resolves with the broker's answer.
 */
function peerHandshake(address: string, options: ClientTlsOptions, brokerId: number, claimed: string): Promise<PeerMessage['handshakeAck']> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...hostPort(address), ...options }, () => {
      socket.write(Buffer.of(0x02));
      socket.write(encodeFrame(encodePeerMessage({ handshake: { clusterId: BROKER_DEFAULTS.clusterId, brokerId, version: PEER_PROTOCOL_VERSION, address: claimed } })));
    });
    const decoder = new FrameDecoder({ frameTimeoutMs: 0, idleTimeoutMs: 0 });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
    decoder.once('data', (frame: Buffer) => {
      socket.destroy();
      resolve(decodePeerMessage(frame).handshakeAck);
    });
    socket.once('error', reject);
  });
}

/** A client logger counting the connections the client opened. */
function countingLogger(): { logger: ClientLogger; connects: () => number } {
  let connects = 0;
  const logger: ClientLogger = {
    debug: (_obj: object, msg?: string) => {
      if (msg === 'connected') connects++;
    },
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
  };
  return { logger, connects: () => connects };
}

async function failure(promise: Promise<unknown>): Promise<FlotillaError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FlotillaError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

t.test('a mutual-TLS cluster elects, replicates and acks; plaintext and untrusted certificates are refused', async (t) => {
  const { cluster, client } = await startCluster(t, { brokerArgs: (id) => tlsArgs(id, '--tls-client-auth', 'require') }, { tls: alice });
  await client.admin().createTopic({ topic: 'secure', partitions: 3, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all' });
  const acked = new Map<string, string>();
  for (let i = 0; i < 300; i++) {
    const value = `record-${i}`;
    const ack = await producer.send({ topic: 'secure', key: `k${i % 7}`, value });
    acked.set(`${ack.partition}@${ack.offset}`, value);
  }
  await producer.close();
  for (const id of cluster.brokers.keys()) await readsBack(t, client, 'secure', id, acked);

  const address = cluster.bootstrap[0]!;
  await t.test('a plaintext client is closed without an answer', async (t) => {
    const socket = netConnect(hostPort(address), () => socket.write(metadataRequest(1)));
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('close', resolve));
    t.equal(received, 0, 'no byte came back');
    const plain = new Client({ brokers: [address], requestTimeoutMs: 2_000 });
    const error = await failure(plain.admin().listTopics());
    await plain.close();
    t.ok(error.code === 'BROKER_NOT_AVAILABLE' || error.code === 'TIMEOUT', `the SDK without tls gets no answer (${error.code})`);
  });

  await t.test("a client's certificate, trusted as it is, cannot open a peer connection under a broker's id", async (t) => {
    const ack = await peerHandshake(address, alice, 2, cluster.brokers.get(2)!.address);
    t.equal(ack?.accepted, false, 'the handshake is refused');
    t.match(ack?.errorMessage, /does not speak for broker 2 at 127\.0\.0\.1/, "why: the certificate is not valid for broker 2's host");
    await waitFor('broker 1 to log the refusal', () => cluster.logs(1).includes('does not speak for broker 2'));
    t.pass('the broker logged it');
  });

  const cases: Array<[string, ClientTlsOptions]> = [
    ['a client certificate from a foreign CA', { ca: pem(certs.ca), cert: pem(certs.foreign.cert), key: pem(certs.foreign.key) }],
    ['no client certificate where one is required', { ca: pem(certs.ca) }],
    ['a broker certificate the client does not trust', { ca: pem(certs.foreignCa), cert: alice.cert!, key: alice.key! }],
  ];
  for (const [what, options] of cases) {
    await t.test(`${what}: AUTHENTICATION_FAILED at once`, async (t) => {
      const counted = countingLogger();
      const refused = new Client({ brokers: [address], tls: options, requestTimeoutMs: 30_000, logger: counted.logger });
      const error = await failure(refused.admin().listTopics());
      await refused.close();
      t.equal(error.code, 'AUTHENTICATION_FAILED', error.message);
      t.equal(error.retriable, false);
      t.ok(counted.connects() <= 1, `one connection, no retry loop (${counted.connects()})`);
    });
  }
});

t.test('a certificate swapped on disk serves new connections after SIGHUP; old ones keep working; a broken one is refused', async (t) => {
  // Broker 1's files live where the test can replace them.
  const files = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
  copyFileSync(certs.brokers.get(1)!.cert, files.cert);
  copyFileSync(certs.brokers.get(1)!.key, files.key);
  const { cluster, client } = await startCluster(t, { brokers: 1, brokerArgs: () => ['--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', certs.ca] }, { tls: alice });
  const address = cluster.bootstrap[0]!;
  await client.admin().createTopic({ topic: 'reload', partitions: 1, replicationFactor: 1 });

  const before = await rawTls(address);
  t.equal(await askMetadata(before.socket, 1, true), 1, 'a connection opened before the swap answers');
  const renewed = issueCertificate(certs, 'broker-1-renewed', 'broker-1');
  copyFileSync(renewed.cert, files.cert);
  copyFileSync(renewed.key, files.key);
  const renewedPrint = new X509Certificate(readFileSync(renewed.cert)).fingerprint256;
  t.not(before.fingerprint, renewedPrint);
  cluster.brokers.get(1)!.child!.kill('SIGHUP');
  const after = await waitFor('a new connection sees the renewed certificate', async () => {
    const opened = await rawTls(address);
    if (opened.fingerprint === renewedPrint) return opened;
    opened.socket.destroy();
    return undefined;
  });
  t.equal(await askMetadata(after.socket, 2, true), 2, 'a new connection answers');
  t.equal(await askMetadata(before.socket, 3, false), 3, 'the connection from before the swap still answers');
  t.equal(before.socket.getPeerCertificate().fingerprint256, before.fingerprint, '...with the certificate it began with');
  after.socket.destroy();

  // A key that is not the certificate's, then a certificate file that does not parse.
  copyFileSync(certs.brokers.get(2)!.key, files.key);
  cluster.brokers.get(1)!.child!.kill('SIGHUP');
  await waitFor('the mismatched key is refused', () => /is not the key of the certificate/.test(cluster.logs(1)));
  writeFileSync(files.cert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  cluster.brokers.get(1)!.child!.kill('SIGHUP');
  await waitFor('the broken certificate is refused', () => /holds no PEM certificate/.test(cluster.logs(1)));
  const still = await rawTls(address);
  t.equal(still.fingerprint, renewedPrint, 'new connections keep the last good certificate');
  still.socket.destroy();
  t.same(await client.admin().listTopics(), ['reload'], 'clients connect and are served');
  before.socket.destroy();
});

t.test('a rolling migration from plaintext to TLS loses no acknowledged record', async (t) => {
  const cluster = await new ProcessCluster({ brokers: 3 }).start();
  const plain = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000 });
  const secure = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000, tls: alice });
  t.teardown(async () => {
    await plain.close();
    await secure.close();
    await cluster.close();
  });
  await waitFor('a controller', async () => (await plain.admin().describeCluster()).controller);
  await plain.admin().createTopic({ topic: 'moving', partitions: 3, replicationFactor: 3 });

  const acked = new Map<string, string>();
  let sent = 0;
  /** Sends one record at a time, acks all, until stopped; records what was acknowledged. */
  const produce = (client: Client) => {
    let stopped = false;
    const producer = client.producer({ acks: 'all', idempotent: true });
    const done = (async () => {
      let acks = 0;
      while (!stopped) {
        const value = `v${sent++}`;
        try {
          const ack = await producer.send({ topic: 'moving', key: value, value });
          acked.set(`${ack.partition}@${ack.offset}`, value);
          acks++;
        } catch {
          // Not acknowledged: nothing to read back.
        }
      }
      await producer.close();
      return acks;
    })();
    return async () => {
      stopped = true;
      return done;
    };
  };
  /** Restarts each broker in turn with `args`, waiting until every replica is back in sync. */
  const rollingRestart = async (client: Client, args: (id: number) => string[]) => {
    for (const id of [1, 2, 3]) {
      await cluster.stop(id);
      cluster.brokers.get(id)!.args = args(id);
      cluster.restart(id);
      await waitFor(`broker ${id} back in sync`, async () => {
        const topic = await client.admin().describeTopic('moving');
        return topic.partitions.every((p) => p.leader !== null && p.inSync.length === 3);
      }, 60_000, 250);
    }
  };

  const stopPlain = produce(plain);
  await rollingRestart(plain, (id) => tlsArgs(id, '--tls-allow-plaintext'));
  const plainAcks = await stopPlain();
  t.ok(plainAcks > 0, `${plainAcks} records acknowledged in plaintext while brokers took up TLS`);
  t.match(cluster.logs(1), /peer does not speak TLS yet; dialing it in plaintext/, 'the first broker on TLS met the others in plaintext');

  const stopSecure = produce(secure);
  await rollingRestart(secure, (id) => tlsArgs(id));
  const secureAcks = await stopSecure();
  t.ok(secureAcks > 0, `${secureAcks} records acknowledged over TLS while brokers dropped plaintext`);

  for (const id of [1, 2, 3]) await readsBack(t, secure, 'moving', id, acked);
  const late = new Client({ brokers: [cluster.bootstrap[0]!], requestTimeoutMs: 1_000 });
  const error = await failure(late.admin().listTopics());
  await late.close();
  t.ok(error.code === 'BROKER_NOT_AVAILABLE' || error.code === 'TIMEOUT', 'plaintext is refused at the end');
});
