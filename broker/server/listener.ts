/**
 * The broker's one TCP port. The first byte of a connection says whether a client or a
 * peer broker opened it; each kind then goes to its own server (ClientServer,
 * PeerTransport), which counts it against its own limit.
 */
import { createServer, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { routeConnection } from '../../protocol/frame.js';
import { parseHostPort, type BrokerConfig } from '../config.js';

export interface ConnectionRoutes {
  client(socket: Socket): void;
  peer(socket: Socket): void;
}

export class Listener {
  private readonly server = createServer({ noDelay: true });

  constructor(
    private readonly config: Pick<BrokerConfig, 'listen' | 'maxConnections' | 'maxPeerConnections' | 'frameTimeoutMs'>,
    routes: ConnectionRoutes,
    logger: Logger,
  ) {
    // Clients and peers are counted apart once their type byte is read (ClientServer,
    // PeerTransport), so that clients can never take the slots replication needs. This cap
    // only bounds the sockets (and descriptors) of both, plus sockets that have not sent
    // their type byte yet, which close after --frame-timeout-ms.
    this.server.maxConnections = config.maxConnections + config.maxPeerConnections;
    this.server.on('connection', (socket: Socket) =>
      routeConnection(socket, {
        client: (s) => routes.client(s),
        peer: (s) => routes.peer(s),
        rejected: (s, reason) => logger.debug({ remote: s.remoteAddress, reason }, 'closed a connection'),
      }, config.frameTimeoutMs),
    );
  }

  /** Listens on --listen; rejects when the port cannot be had. */
  async listen(): Promise<void> {
    const server = this.server;
    const { host, port } = parseHostPort(this.config.listen, '--listen');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
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
