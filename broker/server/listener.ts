/**
 * The broker's one TCP port. The first byte of a connection says whether a client or a
 * peer broker opened it; each kind then goes to its own server (ClientServer,
 * PeerTransport), which counts it against its own limit.
 *
 * With TLS on, the first byte of the TCP stream must be a TLS handshake (0x16): the
 * connection-type byte and the frames come inside TLS. Under --tls-allow-plaintext a
 * connection whose first byte is a type byte is served in plaintext (a migration in
 * progress); otherwise it is closed.
 */
import { createServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { routeByType, routeConnection } from '../../protocol/frame.js';
import type { BrokerConfig } from '../config.js';
import type { ConnectionIdentity } from '../requests/dispatcher.js';
import { listenAt } from './listen.js';
import { clientIdentity, peerRefusal, sniffTls, type BrokerTls, type TlsAcceptor } from '../security/tls.js';

export interface ConnectionRoutes {
  client(socket: Socket, identity: ConnectionIdentity): void;
  peer(socket: Socket): void;
}

export class Listener {
  private readonly server = createServer({ noDelay: true });
  private readonly acceptor: TlsAcceptor | null;

  constructor(
    private readonly config: Pick<BrokerConfig, 'listen' | 'maxConnections' | 'maxPeerConnections' | 'frameTimeoutMs'>,
    private readonly routes: ConnectionRoutes,
    private readonly logger: Logger,
    private readonly tls?: BrokerTls,
  ) {
    // Clients and peers are counted apart once their type byte is read (ClientServer,
    // PeerTransport), so that clients can never take the slots replication needs. This cap
    // only bounds the sockets (and descriptors) of both, plus sockets that have not sent
    // their type byte (or finished their TLS handshake) yet, which close after --frame-timeout-ms.
    this.server.maxConnections = config.maxConnections + config.maxPeerConnections;
    this.acceptor = tls ? tls.acceptor((socket) => this.routeSecure(socket)) : null;
    this.server.on('connection', (socket: Socket) => (this.acceptor ? this.sniff(socket) : this.routePlaintext(socket)));
  }

  /** A plaintext connection: its first byte is its type. */
  private routePlaintext(socket: Socket): void {
    routeConnection(socket, this.plaintextRoutes, this.config.frameTimeoutMs);
  }

  private readonly plaintextRoutes = {
    client: (s: Socket) => this.routes.client(s, {}),
    peer: (s: Socket) => this.routes.peer(s),
    rejected: (s: Socket, reason: string) => this.logger.debug({ remote: s.remoteAddress, reason }, 'closed a connection'),
  };

  /** TLS on: a ClientHello goes to the TLS server, a type byte only under --tls-allow-plaintext. */
  private sniff(socket: Socket): void {
    sniffTls(socket, this.tls!, this.acceptor!, this.config.frameTimeoutMs, (s, type) => routeByType(s, type, this.plaintextRoutes), this.logger);
  }

  /** A finished TLS handshake: the type byte comes inside; peers must have shown a trusted certificate. */
  private routeSecure(socket: TLSSocket): void {
    socket.on('error', () => undefined); // until a server takes it; the route's reader reports
    routeConnection(socket, {
      client: (s) => this.routes.client(s, clientIdentity(socket, this.tls!.settings.clientAuth)),
      peer: (s) => {
        const refusal = peerRefusal(socket);
        if (refusal === null) return this.routes.peer(s);
        s.destroy();
        this.logger.warn({ remote: s.remoteAddress, reason: refusal }, 'refused a peer connection');
      },
      rejected: this.plaintextRoutes.rejected,
    }, this.config.frameTimeoutMs);
  }

  /** Listens on --listen; rejects when the port cannot be had. */
  listen(): Promise<void> {
    return listenAt(this.server, this.config.listen, '--listen');
  }

  /** Whether the port is open. */
  get listening(): boolean {
    return this.server.listening;
  }

  /** Stops accepting connections (those open are closed by their servers). */
  close(): void {
    this.server.close();
  }
}
