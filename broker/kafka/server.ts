/**
 * The Kafka listener's wire (--kafka-listen): int32-framed Kafka requests in, responses
 * out in request order per connection (Kafka clients match answers to requests by
 * position), with any number pipelined. What each api does is KafkaApis's business; this
 * file knows only the wire and enforces the native listener's limits: --max-frame-bytes
 * (a Produce over it is read past, its records unheld, and answered MESSAGE_TOO_LARGE),
 * --max-connections (counted apart from the native port's), --idle-timeout-ms,
 * --frame-timeout-ms, and the response-memory budgets (broker/server/byte-budget.ts).
 *
 * With TLS on (--tls-cert) the port speaks TLS with the broker's certificates, reloads and
 * --tls-client-auth (broker/security/tls.ts): a Kafka frame starts with the top byte of
 * its size, which is never 0x16 under any frame limit up to 352 MiB, so the first byte
 * tells a ClientHello from a plaintext request; plaintext is served only under
 * --tls-allow-plaintext.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { FlotillaError } from '../../protocol/errors.js';
import { decodeRequest, KafkaCodecError, KafkaFrameReader, type KafkaApiName, type KafkaRequest } from '../../protocol/kafka/index.js';
import { listenAt } from '../server/listen.js';
import { closeSessions, type ConnectionIdentity, type ConnectionSession, type RequestContext } from '../requests/dispatcher.js';
import type { ServerLimits } from '../server/server.js';
import { WriteTimeout } from '../server/write-timeout.js';
import { ByteBudget, ResponseHolding } from '../server/byte-budget.js';
import { clientIdentity, sniffTls, type BrokerTls, type TlsAcceptor } from '../security/tls.js';

/** Requests in flight on one connection before it is not read (as the native listener). */
const MAX_IN_FLIGHT_PER_CONNECTION = 1024;

/**
 * Answers one decoded request: the response frame's chunks, or null for none (acks=0).
 * Throwing `AnswerThenClose` answers and then closes the connection; throwing anything
 * else closes it without an answer.
 */
export interface KafkaRequestHandler {
  /**
   * `overLimitBytes`: the size of the request's frame when it was over --max-frame-bytes: a
   * Produce read with its records left out (null), to be answered MESSAGE_TOO_LARGE.
   */
  handle(request: KafkaRequest, context: RequestContext, overLimitBytes?: number): Promise<Buffer[] | null>;
  /** The answer to a request whose api or version is not served, or null to close the connection. */
  unsupported(error: KafkaCodecError): Buffer[] | null;
  /** Whether the connection may send this api now (SASL: only the handshake and ApiVersions before authenticating). */
  admits(api: KafkaApiName, session: ConnectionSession): boolean;
  /** Whether the connection's next frame is a bare SASL token rather than a request (after a SaslHandshake v0). */
  awaitsRawToken(session: ConnectionSession): boolean;
  /** Answers a bare SASL token (a frame of the answer's bytes, no header); throws to close. */
  rawToken(token: Buffer, context: RequestContext): Promise<Buffer[]>;
  /** The answer to the first request of a connection whose client certificate was refused, or null; it then closes. */
  refused(request: KafkaRequest, refusal: FlotillaError): Buffer[] | null;
}

/** A request's last answer: the connection closes once it is written (a failed authentication). */
export class AnswerThenClose extends Error {
  constructor(readonly chunks: Buffer[], message: string) {
    super(message);
  }
}

/** One request's place in its connection's answer order. */
interface Slot {
  done: boolean;
  chunks: Buffer[] | null;
  holding: ResponseHolding;
  /** Close the connection once this answer is written. */
  last?: boolean;
}

export class KafkaServer {
  private readonly server: Server = createServer({ noDelay: true });
  /** Each open connection and who is on it. */
  private readonly connections = new Map<Socket, ConnectionSession>();
  /** Response bytes held by all Kafka connections (--max-pending-response-bytes). */
  private readonly responses: ByteBudget;
  private readonly acceptor: TlsAcceptor | null;

  constructor(
    private readonly address: string,
    private readonly limits: ServerLimits,
    private readonly handler: KafkaRequestHandler,
    private readonly logger: Logger,
    private readonly tls?: BrokerTls,
  ) {
    this.responses = new ByteBudget(limits.maxPendingResponseBytes);
    this.acceptor = tls ? tls.acceptor((socket) => this.acceptSecure(socket)) : null;
    this.server.on('connection', (socket) => {
      if (!this.tls) return this.accept(socket, {});
      socket.on('error', () => undefined); // until the handshake is over
      sniffTls(socket, this.tls, this.acceptor!, limits.frameTimeoutMs, (s, first) => {
        s.unshift(Buffer.of(first)); // the top byte of the first frame's size
        this.accept(s, {});
      }, logger);
    });
  }

  /** A finished handshake: the client certificate's CN is the principal with --tls-client-auth request|require. */
  private acceptSecure(socket: TLSSocket): void {
    this.accept(socket, clientIdentity(socket, this.tls!.settings.clientAuth));
  }

  /** Closes every connection whose session `revoked` picks (its credential was deleted or replaced); how many. */
  closeConnectionsWhere(revoked: (session: ConnectionSession) => boolean): number {
    return closeSessions(this.connections, revoked);
  }

  /** Listens on --kafka-listen; rejects when the port cannot be had. */
  listen(): Promise<void> {
    return listenAt(this.server, this.address, '--kafka-listen');
  }

  close(): void {
    this.server.close();
    for (const socket of this.connections.keys()) socket.destroy();
    this.connections.clear();
  }

  /**
   * Serves one connection. `identity` is who TLS found at the other end (a client
   * certificate's CN); a refused certificate gets its refusal as the answer to the
   * connection's first request (KafkaApis) and the connection closes.
   */
  private accept(socket: Socket, identity: ConnectionIdentity): void {
    const { limits, logger } = this;
    if (this.connections.size >= limits.maxConnections) {
      logger.debug({ remote: socket.remoteAddress, limit: limits.maxConnections }, 'refused a Kafka connection: --max-connections reached');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const session: ConnectionSession = identity.principal === undefined ? {} : { principal: identity.principal };
    this.connections.set(socket, session);
    socket.on('error', () => undefined);
    const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
    /** An answer that ends the connection is queued: nothing sent after it runs. */
    let closing = false;
    // Only an authenticated client, not in the middle of a SASL exchange, has an oversized Produce read past.
    const reader = new KafkaFrameReader(limits.maxFrameBytes, { oversizedProduce: () => !identity.refusal && !this.handler.awaitsRawToken(session) && this.handler.admits('Produce', session) });
    const pending = new ByteBudget(limits.maxConnectionPendingBytes);
    const slots: Slot[] = [];
    let inFlight = 0;
    let frameTimer: NodeJS.Timeout | null = null;
    const writeTimeout = new WriteTimeout(limits.writeTimeoutMs, (waitedMs) => {
      logger.info({ remote, waitedMs, principal: session.principal }, 'closed a Kafka connection that took none of its responses for --write-timeout-ms: it stopped reading');
      socket.destroy();
    });

    const close = (why: string, error?: unknown): void => {
      if (socket.destroyed) return;
      logger.debug({ remote, why, err: error instanceof Error ? error.message : undefined }, 'closed a Kafka connection');
      socket.destroy();
    };
    const updateReading = (): void => {
      if (socket.destroyed) return;
      if (inFlight >= MAX_IN_FLIGHT_PER_CONNECTION || pending.exhausted) socket.pause();
      else if (inFlight < MAX_IN_FLIGHT_PER_CONNECTION / 2) socket.resume();
    };
    // Writes every finished answer at the head of the queue, in one writev.
    const flush = (): void => {
      if (slots.length === 0 || !slots[0]!.done) return;
      socket.cork();
      while (slots.length > 0 && slots[0]!.done) {
        const slot = slots.shift()!;
        if (slot.chunks && slot.chunks.length > 0 && !socket.destroyed) {
          const size = slot.chunks.reduce((n, c) => n + c.length, 0);
          slot.holding.resize(size); // held until the socket handed it to the kernel
          writeTimeout.writing();
          const taken = (): void => {
            writeTimeout.taken();
            slot.holding.release();
          };
          const last = slot.chunks.length - 1;
          slot.chunks.forEach((chunk, i) => socket.write(chunk, i === last ? taken : undefined));
        } else {
          slot.holding.release();
        }
        if (slot.last) {
          socket.end();
          for (const dropped of slots.splice(0)) dropped.holding.release();
        }
      }
      process.nextTick(() => socket.uncork());
    };
    /** Queues one answer in request order: `answer` runs once the response budgets have room. */
    const enqueue = (what: string, answer: (context: RequestContext) => Promise<Buffer[] | null>): void => {
      const holding = new ResponseHolding(pending, this.responses, updateReading);
      const slot: Slot = { done: false, chunks: null, holding };
      slots.push(slot);
      inFlight++;
      holding
        .take(0)
        .then(() => (closing ? null : answer({ clientId: '', remote, memory: holding, session })))
        .then(
          (chunks) => {
            slot.chunks = chunks;
          },
          (error) => {
            if (error instanceof AnswerThenClose) {
              logger.debug({ remote, why: error.message }, 'closing a Kafka connection after its answer');
              slot.chunks = error.chunks;
              slot.last = closing = true;
              return;
            }
            // Per-api errors are answered inside the response; anything else ends the connection.
            slot.chunks = null;
            close(`${what} failed`, error);
          },
        )
        .finally(() => {
          slot.done = true;
          inFlight--;
          flush();
          updateReading();
        });
      updateReading();
    };
    const onFrame = (frame: Buffer): void => {
      if (closing) return;
      if (this.handler.awaitsRawToken(session)) {
        return enqueue('a SASL token', (context) => this.handler.rawToken(frame, context));
      }
      let request: KafkaRequest;
      try {
        request = decodeRequest(frame);
      } catch (error) {
        const answer = error instanceof KafkaCodecError && error.failure === 'UNSUPPORTED_VERSION' ? this.handler.unsupported(error) : null;
        if (!answer) return close('undecodable or unsupported request', error);
        const holding = new ResponseHolding(pending, this.responses, updateReading);
        slots.push({ done: true, chunks: answer, holding });
        flush();
        return;
      }
      if (identity.refusal) {
        const answer = this.handler.refused(request, identity.refusal);
        closing = true;
        logger.debug({ remote, why: identity.refusal.message }, 'closing a Kafka connection whose client certificate was refused');
        if (!answer) return close('client certificate refused');
        const holding = new ResponseHolding(pending, this.responses, updateReading);
        slots.push({ done: true, chunks: answer, holding, last: true });
        flush();
        return;
      }
      const overLimit = reader.overLimit(frame);
      enqueue(request.api, (context) => this.handler.handle(request, { ...context, clientId: request.header.clientId ?? '' }, overLimit));
    };

    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch (error) {
        return close('bad frame size', error);
      }
      // --frame-timeout-ms runs from the first byte of a frame not yet complete.
      if (frameTimer !== null && (frames.length > 0 || reader.buffered === 0)) {
        clearTimeout(frameTimer);
        frameTimer = null;
      }
      if (reader.buffered > 0 && frameTimer === null) {
        frameTimer = setTimeout(() => close(`a frame was not finished within ${limits.frameTimeoutMs} ms`), limits.frameTimeoutMs);
      }
      for (const frame of frames) onFrame(frame);
    });
    socket.setTimeout(limits.idleTimeoutMs, () => {
      if (inFlight === 0) close(`idle for ${limits.idleTimeoutMs} ms`);
    });
    socket.on('close', () => {
      writeTimeout.stop();
      if (frameTimer) clearTimeout(frameTimer);
      this.connections.delete(socket);
      for (const slot of slots) slot.holding.release();
      slots.length = 0;
    });
  }
}
