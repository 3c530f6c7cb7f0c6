/**
 * Client connections (type byte 0x01): decode each request frame, hand it to the
 * dispatcher, answer with the same correlation id. Many requests may be in flight per
 * connection and answers go out as they finish. A frame that does not decode gets
 * INVALID_REQUEST (when its correlation id is readable) and the connection is closed; a
 * connection with too many requests in flight stops being read until some finish
 * (backpressure, not buffering). What a request does is the handlers' business
 * (broker/requests/dispatcher.ts); this file knows only the wire.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { FlotillaError } from '../../protocol/errors.js';
import {
  CLIENT_API_VERSION,
  decodeRequest,
  encodeResponseChunks,
  toErrorInfo,
  type Init,
  type client,
} from '../../protocol/codec.js';
import { FrameWriter, readFrames, type FrameDecoder } from '../../protocol/frame.js';
import type { BrokerConfig } from '../config.js';
import { asFlotillaError, closeSessions, type ConnectionIdentity, type ConnectionSession, type Dispatcher, type RequestContext, type ResponseBody } from '../requests/dispatcher.js';
import { ByteBudget, ResponseHolding } from './byte-budget.js';
import { WriteTimeout } from './write-timeout.js';

type Request = client.Request;
type Response = Init<client.Response>;

const MAX_IN_FLIGHT_PER_CONNECTION = 1024;

/** The limits a client server enforces (see the --max-* and --*-timeout-ms flags). */
export type ServerLimits = Pick<
  BrokerConfig,
  'maxConnections' | 'maxFrameBytes' | 'maxConnectionPendingBytes' | 'maxPendingResponseBytes' | 'frameTimeoutMs' | 'idleTimeoutMs' | 'writeTimeoutMs'
>;

export class ClientServer {
  /** Each open connection and who is on it. */
  private readonly connections = new Map<Socket, ConnectionSession>();
  /** Response bytes held by all connections (--max-pending-response-bytes). */
  private readonly responses: ByteBudget;

  constructor(
    private readonly config: ServerLimits,
    private readonly logger: Logger,
    private readonly dispatcher: Dispatcher,
  ) {
    this.responses = new ByteBudget(config.maxPendingResponseBytes);
  }

  /** Client connections open now. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Memory per connection is bounded twice over: by requests in flight, and by response
   * bytes held (read for a fetch, or written and not yet taken by the kernel, which is the
   * socket's writableLength: a client that does not read its socket keeps them). Past
   * either limit the connection is not read until its responses drain; a request waits
   * for room before its data is read.
   *
   * `identity` is who the listener found at the other end: with --authn mtls, `User:<CN>`
   * of the client certificate, known from the start (otherwise the SASL exchange sets the
   * principal); a refused one gets its refusal as the answer to its first request. A
   * request answered AUTHENTICATION_FAILED closes the connection, and nothing it sent after
   * is run.
   */
  accept(socket: Socket, identity: ConnectionIdentity = {}): void {
    const { config, logger } = this;
    if (this.connections.size >= config.maxConnections) {
      logger.debug({ remote: socket.remoteAddress, limit: config.maxConnections }, 'refused a client connection: --max-connections reached');
      socket.destroy();
      return;
    }
    const session: ConnectionSession = identity.principal === undefined ? {} : { principal: identity.principal };
    this.connections.set(socket, session);
    socket.setNoDelay(true);
    let refused = false;
    const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
    const writer = new FrameWriter(socket, { maxFrameBytes: config.maxFrameBytes });
    const pending = new ByteBudget(config.maxConnectionPendingBytes);
    const holdings = new Set<ResponseHolding>();
    let inFlight = 0;
    let decoder: FrameDecoder | null = null;
    const writeTimeout = new WriteTimeout(config.writeTimeoutMs, (waitedMs) => {
      logger.info({ remote, waitedMs, principal: session.principal }, 'closed a client connection that took none of its responses for --write-timeout-ms: it stopped reading');
      socket.destroy();
    });
    const updateReading = (): void => {
      if (inFlight >= MAX_IN_FLIGHT_PER_CONNECTION || pending.exhausted) decoder?.pause();
      else if (inFlight < MAX_IN_FLIGHT_PER_CONNECTION / 2) decoder?.resume();
    };
    const respond = (response: Response, holding: ResponseHolding): void => {
      if (socket.destroyed) return holding.release();
      // Chunks: fetched records go to the socket by reference, not copied into the envelope.
      let body = encodeResponseChunks(response);
      let length = body.reduce((sum, chunk) => sum + chunk.length, 0);
      if (length > config.maxFrameBytes) {
        // A response over the frame limit (a fetch the client asked too much of).
        const error = new FlotillaError('FRAME_TOO_LARGE', `the response of ${length} bytes exceeds --max-frame-bytes ${config.maxFrameBytes}`);
        body = encodeResponseChunks({ correlationId: response.correlationId, error: toErrorInfo(error) });
        length = body.reduce((sum, chunk) => sum + chunk.length, 0);
      }
      holding.resize(length); // held until the socket handed it to the kernel
      writeTimeout.writing();
      writer.write(body, () => {
        writeTimeout.taken();
        holding.release();
        holdings.delete(holding);
      });
    };
    decoder = readFrames(socket, {
      onFrame: (frame) => {
        if (refused) return;
        let request: Request;
        try {
          request = decodeRequest(frame);
          if (identity.refusal) throw new FlotillaError(identity.refusal.code, identity.refusal.message, { correlationId: request.correlationId });
        } catch (error) {
          const e = asFlotillaError(error);
          const correlationId = e.details.correlationId as number | undefined;
          if (correlationId !== undefined) respond({ correlationId, error: toErrorInfo(e) }, new ResponseHolding(pending, this.responses, updateReading));
          writer.flush();
          socket.end();
          throw e;
        }
        inFlight++;
        const holding = new ResponseHolding(pending, this.responses, updateReading);
        holdings.add(holding);
        // Nothing runs while either budget is exhausted (a fetch then waits for its share).
        holding
          .take(0)
          .then(() => (refused ? null : this.handle(request, { clientId: request.clientId, remote, memory: holding, session })))
          .then((body) => (body ? respond({ correlationId: request.correlationId, ...body }, holding) : holding.release()))
          .catch((error) => {
            const e = asFlotillaError(error);
            respond({ correlationId: request.correlationId, error: toErrorInfo(e) }, holding);
            if (e.code === 'AUTHENTICATION_FAILED') {
              refused = true;
              logger.debug({ remote, err: e.message }, 'closing a client connection that failed to authenticate');
              writer.flush();
              socket.end();
            }
          })
          .finally(() => {
            inFlight--;
            updateReading();
          });
        updateReading();
      },
      onClose: (error) => {
        writeTimeout.stop();
        this.connections.delete(socket);
        for (const holding of holdings) holding.release();
        holdings.clear();
        if (error) logger.debug({ remote: socket.remoteAddress, err: error.message }, 'client connection closed');
      },
    }, { maxFrameBytes: config.maxFrameBytes, frameTimeoutMs: config.frameTimeoutMs, idleTimeoutMs: config.idleTimeoutMs });
    socket.on('error', () => undefined);
  }

  close(): void {
    for (const socket of this.connections.keys()) socket.destroy();
    this.connections.clear();
  }

  /** Closes every connection whose session `revoked` picks (its credential was deleted or replaced); how many. */
  closeConnectionsWhere(revoked: (session: ConnectionSession) => boolean): number {
    return closeSessions(this.connections, revoked);
  }

  /** Returns the response body, or null for requests that get no answer (acks=none). */
  private handle(request: Request, context: RequestContext): Promise<ResponseBody | null> {
    if (request.apiVersion !== CLIENT_API_VERSION) {
      throw new FlotillaError('UNSUPPORTED_VERSION', `API version ${request.apiVersion} is not supported; this broker speaks version ${CLIENT_API_VERSION}`);
    }
    return this.dispatcher.dispatch(request, context);
  }
}
