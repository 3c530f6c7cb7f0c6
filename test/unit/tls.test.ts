/**
 * The broker's TLS parts on real sockets and real certificates (openssl): what is refused
 * at load, the periodic check of the files, and the listener's routing of TLS and
 * plaintext connections (principals from certificates, peers without a trusted one closed,
 * handshakes that never finish closed).
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import { generateCertificates, issueCertificate } from '../../bench/certificates.js';
import { freePort, waitFor } from '../../bench/process-cluster.js';
import type { TlsSettings } from '../../broker/config.js';
import type { ConnectionIdentity } from '../../broker/requests/dispatcher.js';
import { BrokerTls } from '../../broker/security/tls.js';
import { Listener } from '../../broker/server/listener.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-tls-unit-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const certs = generateCertificates(join(dir, 'certs'), { brokers: 2, clients: ['alice'] });
const silent = pino({ level: 'silent' });

/** Broker 1's files copied where a test may replace them. */
function liveFiles(name: string): TlsSettings {
  const settings = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`), caFile: certs.ca, clientAuth: 'require' as const, allowPlaintext: false };
  copyFileSync(certs.brokers.get(1)!.cert, settings.certFile);
  copyFileSync(certs.brokers.get(1)!.key, settings.keyFile);
  return settings;
}

t.test('a pair that does not match or does not parse is refused at start', async (t) => {
  const settings = liveFiles('start');
  copyFileSync(certs.brokers.get(2)!.key, settings.keyFile);
  t.throws(() => new BrokerTls(settings, 1000, silent), { code: 'INVALID_CONFIG', message: /is not the key of the certificate/ });
  writeFileSync(settings.certFile, 'garbage');
  t.throws(() => new BrokerTls(settings, 1000, silent), { code: 'INVALID_CONFIG', message: /holds no PEM certificate/ });
  t.throws(() => new BrokerTls({ ...settings, certFile: join(dir, 'missing.crt') }, 1000, silent), { code: 'INVALID_CONFIG', message: /cannot read --tls-cert/ });
});

t.test('the periodic check loads changed files and keeps the old pair when the new one is broken', async (t) => {
  const settings = liveFiles('periodic');
  const refusals: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => refusals.push(line) });
  const brokerTls = new BrokerTls(settings, 1000, logger, 20);
  brokerTls.start();
  t.teardown(() => brokerTls.stop());
  const first = brokerTls.certificate.fingerprint;
  const renewed = issueCertificate(certs, 'renewed', 'broker-1');
  copyFileSync(renewed.key, settings.keyFile);
  copyFileSync(renewed.cert, settings.certFile);
  await waitFor('the renewed certificate in use', () => brokerTls.certificate.fingerprint !== first);
  const second = brokerTls.certificate.fingerprint;
  t.equal(brokerTls.certificate.subject, 'CN=broker-1');
  const before = refusals.length; // a check may have seen the new key before the new certificate
  writeFileSync(settings.certFile, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  await waitFor('the broken file refused', () => refusals.slice(before).some((line) => line.includes('TLS certificate not reloaded')));
  t.equal(brokerTls.certificate.fingerprint, second, 'the last good pair stays');
  t.notOk(brokerTls.reload('SIGHUP'), 'a reload by hand refuses it too');
});

t.test('the listener: TLS first, principals from certificates, peers must be trusted, handshakes time out', async (t) => {
  const port = await freePort();
  const settings = liveFiles('listener');
  const brokerTls = new BrokerTls(settings, 300, silent);
  const clients: ConnectionIdentity[] = [];
  const peers: Socket[] = [];
  const listener = new Listener(
    { listen: `127.0.0.1:${port}`, maxConnections: 10, maxPeerConnections: 10, frameTimeoutMs: 300 },
    { client: (socket, identity) => { clients.push(identity); socket.end(); }, peer: (socket) => { peers.push(socket); socket.end(); } },
    silent,
    brokerTls,
  );
  await listener.listen();
  t.teardown(() => listener.close());
  const closed = (socket: Socket) => new Promise<void>((resolve) => { socket.on('error', () => undefined); socket.once('close', () => resolve()); });
  const dialTls = (type: number, options: tls.ConnectionOptions) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(certs.ca), ...options });
    socket.write(Buffer.of(type));
    return closed(socket);
  };
  const pair = (p: { cert: string; key: string }) => ({ cert: readFileSync(p.cert), key: readFileSync(p.key) });

  await dialTls(0x01, pair(certs.clients.get('alice')!));
  t.same(clients.shift(), { principal: 'User:alice' }, "a verified client certificate's CN is the principal");
  await dialTls(0x01, pair(certs.foreign));
  t.match(clients.shift(), { refusal: { code: 'AUTHENTICATION_FAILED' } }, 'a foreign certificate is refused');
  await dialTls(0x02, pair(certs.brokers.get(2)!));
  t.equal(peers.length, 1, 'a peer with a trusted certificate is served');
  await dialTls(0x02, pair(certs.foreign));
  await dialTls(0x02, {});
  t.equal(peers.length, 1, 'peers with a foreign certificate or none are closed');

  const plaintext = netConnect(port, '127.0.0.1', () => plaintext.write(Buffer.of(0x01)));
  await closed(plaintext);
  const stalled = netConnect(port, '127.0.0.1', () => stalled.write(Buffer.of(0x16)));
  await closed(stalled);
  t.equal(clients.length + peers.length, 1, 'plaintext, and a handshake that never finishes, are closed unserved');
});
