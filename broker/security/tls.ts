/**
 * TLS for one broker (SPEC section 9): its certificate and key, the server side of its
 * port, and its dials to other brokers. Any listener can use it (the client port and the
 * Kafka listener): `acceptor()` turns accepted TCP sockets into TLS sockets, and
 * `sniffTls` sends each new connection to TLS or plaintext by its first byte.
 *
 * - Server side: a tls.Server that is handed sockets the listener accepted (after it saw
 *   the 0x16 of a ClientHello), so OpenSSL does the handshake and the certificate checks.
 *   It always asks for a certificate, because peers must show one and a connection says
 *   whether it is a peer only after the handshake (its type byte travels inside TLS); what
 *   an unverified or absent certificate means is decided per connection type: a peer is
 *   closed, a client is refused or anonymous per --tls-client-auth (`clientIdentity`).
 *   Handshakes that do not finish within --frame-timeout-ms are dropped.
 * - Dialing: other brokers are dialled with this broker's certificate (mutual TLS) and
 *   verified against --tls-ca, including that their certificate names the address dialled.
 * - Reload: on SIGHUP (`reload`) and when the files' contents change (checked every
 *   FILE_CHECK_INTERVAL_MS), a new pair is checked first: one that does not parse, or
 *   whose key does not match its certificate, is refused with a log line saying why, and
 *   the old pair stays. A new pair serves new connections; open ones keep theirs.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { userPrincipal } from '../../protocol/acls.js';
import { FlotillaError } from '../../protocol/errors.js';
import { readFirstByte } from '../../protocol/frame.js';
import { isTlsTrustFailure } from '../../protocol/tls-errors.js';
import { parseHostPort, type TlsSettings } from '../config.js';
import type { ConnectionIdentity } from '../requests/dispatcher.js';

/** How often the certificate files are compared with what was last read. */
export const FILE_CHECK_INTERVAL_MS = 30_000;

/** The first byte of a TLS connection: a handshake record (the ClientHello). */
export const TLS_HANDSHAKE_BYTE = 0x16;

/** A certificate, its key and the CA, read and checked. */
interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  /** For the log: whose certificate, until when. */
  subject: string;
  validTo: string;
  fingerprint: string;
}

/** The three files' bytes as last read, to notice a change. */
type FileContents = [Buffer, Buffer, Buffer | undefined];

function readFiles(settings: TlsSettings): FileContents {
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new FlotillaError('INVALID_CONFIG', `cannot read ${flag} ${file}: ${(error as Error).message}`);
    }
  };
  return [read(settings.certFile, '--tls-cert'), read(settings.keyFile, '--tls-key'), settings.caFile === undefined ? undefined : read(settings.caFile, '--tls-ca')];
}

/** Checks a certificate, key and CA; throws INVALID_CONFIG saying what is wrong. */
function checkMaterial(settings: TlsSettings, [cert, key, ca]: FileContents): TlsMaterial {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new FlotillaError('INVALID_CONFIG', `--tls-cert ${settings.certFile} holds no PEM certificate: ${(error as Error).message}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new FlotillaError('INVALID_CONFIG', `--tls-key ${settings.keyFile} holds no PEM private key (an encrypted key is not supported): ${(error as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new FlotillaError('INVALID_CONFIG', `--tls-key ${settings.keyFile} is not the key of the certificate in --tls-cert ${settings.certFile} (${certificate.subject.replace(/\n/g, ', ')})`);
  }
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (error) {
      throw new FlotillaError('INVALID_CONFIG', `--tls-ca ${settings.caFile} holds no PEM certificate: ${(error as Error).message}`);
    }
  }
  try {
    tls.createSecureContext({ cert, key, ca });
  } catch (error) {
    throw new FlotillaError('INVALID_CONFIG', `OpenSSL refused --tls-cert, --tls-key or --tls-ca: ${(error as Error).message}`);
  }
  return { cert, key, ca, subject: certificate.subject.replace(/\n/g, ', '), validTo: certificate.validTo, fingerprint: certificate.fingerprint256 };
}

/** Turns accepted sockets into TLS connections; `onSecure` gets each finished handshake. */
export interface TlsAcceptor {
  /** `socket` must still hold the ClientHello's first byte (unshift it after peeking). */
  accept(socket: Socket): void;
}

export class BrokerTls {
  private material: TlsMaterial;
  /** Our certificate and the trusted CAs, for dialing peers. */
  private dialContext: SecureContext;
  private lastSeen: FileContents;
  private readonly servers = new Set<tls.Server>();
  private timer: NodeJS.Timeout | null = null;
  /** Certificates installed since start (the first load included). */
  loads = 1;

  constructor(
    readonly settings: TlsSettings,
    private readonly handshakeTimeoutMs: number,
    private readonly logger: Logger,
    private readonly checkIntervalMs = FILE_CHECK_INTERVAL_MS,
  ) {
    this.lastSeen = readFiles(settings);
    this.material = checkMaterial(settings, this.lastSeen);
    this.dialContext = tls.createSecureContext({ cert: this.material.cert, key: this.material.key, ca: this.material.ca });
    this.warnIfExpired();
  }

  get allowPlaintext(): boolean {
    return this.settings.allowPlaintext;
  }

  /** The certificate in use, for logs and tests: subject, expiry, SHA-256 fingerprint. */
  get certificate(): { subject: string; validTo: string; fingerprint: string } {
    const { subject, validTo, fingerprint } = this.material;
    return { subject, validTo, fingerprint };
  }

  /** Starts the periodic check of the files. */
  start(): void {
    this.logger.info({ ...this.certificate, clientAuth: this.settings.clientAuth, allowPlaintext: this.settings.allowPlaintext }, 'TLS on');
    this.timer = setInterval(() => this.checkFiles(), this.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Reads the files again and installs them when they check out; otherwise keeps the
   * pair in use and logs why. Returns whether the new pair is in use.
   */
  reload(trigger: string): boolean {
    let contents: FileContents;
    let material: TlsMaterial;
    try {
      contents = readFiles(this.settings);
      this.lastSeen = contents;
      material = checkMaterial(this.settings, contents);
    } catch (error) {
      this.logger.error({ trigger, err: (error as Error).message, keeping: this.certificate }, 'TLS certificate not reloaded; the certificate in use stays');
      return false;
    }
    const options = { cert: material.cert, key: material.key, ca: material.ca };
    this.dialContext = tls.createSecureContext(options);
    for (const server of this.servers) server.setSecureContext(options);
    this.material = material;
    this.loads++;
    this.logger.info({ trigger, ...this.certificate }, 'TLS certificate reloaded; new connections use it');
    this.warnIfExpired();
    return true;
  }

  /** Reloads when a file's contents differ from what was last read (loaded or refused). */
  private checkFiles(): void {
    let contents: FileContents;
    try {
      contents = readFiles(this.settings);
    } catch {
      return; // a file being replaced; the next check, or reload(), sees it
    }
    const same = (a: Buffer | undefined, b: Buffer | undefined) => (a === undefined ? b === undefined : b !== undefined && a.equals(b));
    if (contents.every((c, i) => same(c, this.lastSeen[i]))) return;
    this.reload('files changed');
  }

  private warnIfExpired(): void {
    if (Date.parse(this.material.validTo) < Date.now()) this.logger.warn({ ...this.certificate }, 'the TLS certificate has expired; peers and clients will refuse it');
  }

  /** The server side, for a listener: handshakes time out after --frame-timeout-ms. */
  acceptor(onSecure: (socket: TLSSocket) => void): TlsAcceptor {
    const { cert, key, ca } = this.material;
    const server = tls.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: false, handshakeTimeout: this.handshakeTimeoutMs }, onSecure);
    server.on('tlsClientError', (error, socket) => {
      // Node reports a handshake timeout without closing the connection: close it here.
      socket.destroy();
      this.logger.debug({ remote: socket.remoteAddress, err: error.message }, 'TLS handshake failed');
    });
    this.servers.add(server);
    return { accept: (socket) => server.emit('connection', socket) };
  }

  /**
   * Dials another broker: TLS with our certificate, unless `plaintext` (only during a
   * migration, --tls-allow-plaintext). The returned dial says when frames may flow.
   */
  dial(address: { host: string; port: number }, plaintext = false): BrokerDial {
    return new BrokerDial(address, plaintext ? undefined : this.dialContext);
  }
}

/**
 * Sends a new connection by its first byte: a TLS ClientHello (0x16) to `acceptor`; any
 * other byte, under --tls-allow-plaintext, to `plaintext` with that byte (consumed: it is
 * the listener's to read or put back); without it the connection is closed. So are
 * connections that send nothing within `timeoutMs`.
 */
export function sniffTls(socket: Socket, tls: BrokerTls, acceptor: TlsAcceptor, timeoutMs: number, plaintext: (socket: Socket, first: number) => void, logger: Logger): void {
  readFirstByte(socket, timeoutMs, (first) => {
    if (first === TLS_HANDSHAKE_BYTE) {
      socket.unshift(Buffer.of(first));
      acceptor.accept(socket);
    } else if (tls.allowPlaintext) {
      plaintext(socket, first);
    } else {
      socket.destroy();
      logger.debug({ remote: socket.remoteAddress }, 'closed a plaintext connection: this broker speaks TLS only (--tls-allow-plaintext accepts both during a migration)');
    }
  }, (reason) => {
    socket.destroy();
    logger.debug({ remote: socket.remoteAddress, reason }, 'closed a connection');
  });
}

/** One outgoing connection to a broker, TLS or not. */
export class BrokerDial {
  readonly socket: Socket;
  readonly secure: boolean;
  private tcpConnected = false;
  private established = false;
  private error: Error | null = null;

  constructor({ host, port }: { host: string; port: number }, context?: SecureContext) {
    this.secure = context !== undefined;
    // The peer's certificate is checked against the host dialled (an IP SAN for an address).
    this.socket = context ? tls.connect({ host, port, secureContext: context }) : connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.once('connect', () => (this.tcpConnected = true));
    this.socket.once(this.readyEvent, () => (this.established = true));
    this.socket.on('error', (error) => (this.error ??= error));
  }

  /** When the connection can carry frames: after the TCP connect, or the TLS handshake. */
  get readyEvent(): 'connect' | 'secureConnect' {
    return this.secure ? 'secureConnect' : 'connect';
  }

  /**
   * After the connection closed: whether a broker took the TCP connection and dropped it
   * before the TLS handshake, as a broker without TLS does with a ClientHello (and not
   * because a certificate was refused, which plaintext must never paper over).
   */
  get refusedTls(): boolean {
    return this.secure && this.tcpConnected && !this.established && !isTlsTrustFailure(this.error);
  }
}

/**
 * Who a client on a TLS connection is, per --tls-client-auth: `none` ignores certificates;
 * `request` makes a verified certificate's CN the principal and refuses an unverified one;
 * `require` also refuses a connection without one. A refused client's first request is
 * answered AUTHENTICATION_FAILED (so the client knows why) and the connection closed.
 */
export function clientIdentity(socket: TLSSocket, clientAuth: TlsSettings['clientAuth']): ConnectionIdentity {
  if (clientAuth === 'none') return {};
  const certificate = socket.getPeerCertificate();
  const presented = certificate !== null && Object.keys(certificate).length > 0;
  const refuse = (why: string): ConnectionIdentity => ({ refusal: new FlotillaError('AUTHENTICATION_FAILED', `${why}; connect with a certificate signed by a CA the broker trusts (tls.cert and tls.key, --tls-cert and --tls-key)`) });
  if (!presented) return clientAuth === 'require' ? refuse('this broker requires a client certificate (--tls-client-auth require) and none was shown') : {};
  const commonName = [certificate.subject?.CN].flat()[0];
  if (!socket.authorized) return refuse(`the client certificate${commonName ? ` "${commonName}"` : ''} was not accepted: ${String(socket.authorizationError)}`);
  if (!commonName) return refuse('the client certificate has no common name (CN) to name its user');
  return { principal: userPrincipal(commonName) };
}

/** Why a peer connection must be closed (its certificate is missing or not trusted), or null. */
export function peerRefusal(socket: TLSSocket): string | null {
  return socket.authorized ? null : `the peer's certificate was not accepted: ${String(socket.authorizationError)}`;
}

/**
 * Why a trusted certificate cannot speak for broker `brokerId`, advertised at `address`
 * (HOST:PORT), or null: it must be valid for that host, as a dialer already requires of the
 * broker it dials. Without this check any certificate of the CA — a client's — could open
 * a peer connection under a broker's id and send Raft messages.
 */
export function peerIdentityRefusal(socket: TLSSocket, brokerId: number, address: string): string | null {
  let host: string;
  try {
    host = parseHostPort(address, `broker ${brokerId}'s address`).host;
  } catch (error) {
    return (error as Error).message;
  }
  const mismatch = tls.checkServerIdentity(host, socket.getPeerCertificate());
  return mismatch ? `the certificate does not speak for broker ${brokerId} at ${host}: ${mismatch.message}` : null;
}
