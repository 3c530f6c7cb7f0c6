/**
 * One TCP (or TLS) connection to one broker, speaking the client protocol: the 0x01 type byte,
 * then length-prefixed request envelopes out and response envelopes in, matched by
 * correlation id. Many requests may be in flight (pipelining) and responses may arrive
 * in any order.
 *
 * Contract:
 * - The socket is opened lazily by the first request and reopened by the first request
 *   after a loss; the connection itself never retries (the cluster layer does, because
 *   only it knows whether a request is safe to repeat and where to send it).
 * - Every request settles exactly once: with its response, with the broker's error, with
 *   TIMEOUT after its own deadline, or with BROKER_NOT_AVAILABLE when the socket fails
 *   or closes while it is in flight (its outcome at the broker is then unknown), or with
 *   AUTHENTICATION_FAILED when TLS fails because a certificate was not trusted.
 * - A response whose correlation id is no longer pending (its request timed out) is
 *   dropped.
 * - With `authenticate`, every socket it opens (the first and each reopened one) runs the
 *   authentication exchange before any request: requests made meanwhile wait, in order,
 *   and fail with the exchange's error when it fails (the socket is then closed).
 */
import net from 'node:net';
import tls from 'node:tls';
import { FlotillaError } from '../../protocol/errors.js';
import { FrameWriter, MAX_FRAME_BYTES_LIMIT, readFrames } from '../../protocol/frame.js';
import { tlsTrustFailure } from '../../protocol/tls-errors.js';
import { silentLogger, type ClientLogger } from '../logger.js';

export const CLIENT_CONNECTION_TYPE = 0x01;

/** Translates between request/response objects and envelope bytes (the protocol codec). */
export interface EnvelopeCodec<Req, Res> {
  /** The envelope as chunks (written as one frame; large batches by reference, not copied). */
  encodeRequest(correlationId: number, request: Req): Uint8Array[];
  /** Throws when the frame does not decode; `error` is the broker's error for the request. */
  decodeResponse(frame: Buffer): { correlationId: number; response?: Res; error?: FlotillaError };
}

export interface ConnectionOptions<Req = unknown, Res = unknown> {
  /** HOST:PORT */
  address: string;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Largest response frame accepted; bigger ones close the connection. */
  maxFrameBytes: number;
  logger?: ClientLogger;
  /** Runs on each new socket before any other request, with `send` for its own requests. */
  authenticate?: (send: (request: Req) => Promise<Res | undefined>) => Promise<void>;
  /** Dial with TLS (tls.connect's options; the host is the address's). */
  tls?: tls.ConnectionOptions;
}

export interface RequestOptions {
  /** Overrides requestTimeoutMs for this request (a long-poll fetch adds its wait). */
  timeoutMs?: number;
  /**
   * False for requests the broker does not answer (produce with acks none): the promise
   * resolves with undefined once the frame is handed to the socket.
   */
  expectResponse?: boolean;
}

interface Pending<Res> {
  resolve(response: Res | undefined): void;
  reject(error: FlotillaError): void;
  timer: NodeJS.Timeout;
}

export function splitAddress(address: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(address);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || !(port > 0 && port < 65536)) {
    throw new FlotillaError('INVALID_CONFIG', `broker address must be HOST:PORT (for example 127.0.0.1:7401), got "${address}"`);
  }
  const host = match[1].startsWith('[') && match[1].endsWith(']') ? match[1].slice(1, -1) : match[1];
  return { host, port };
}

export class Connection<Req, Res> {
  readonly address: string;
  private readonly host: string;
  private readonly port: number;
  private readonly logger: ClientLogger;
  private socket: net.Socket | null = null;
  private writer: FrameWriter | null = null;
  /** The socket's authentication; requests are written once it succeeded. Null: none needed. */
  private authenticated: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending<Res>>();
  private nextCorrelationId = 1;
  private closed = false;
  /** When the current socket was opened or last delivered a frame (Date.now()). */
  private heardAt = 0;
  /** Requests on the current socket that timed out with nothing received since they left. */
  private silentTimeouts = 0;

  constructor(
    private readonly codec: EnvelopeCodec<Req, Res>,
    private readonly options: ConnectionOptions<Req, Res>,
  ) {
    this.address = options.address;
    ({ host: this.host, port: this.port } = splitAddress(options.address));
    this.logger = (options.logger ?? silentLogger).child({ broker: options.address });
  }

  /** Requests sent and not yet settled. */
  get inFlight(): number {
    return this.pending.size;
  }

  get isConnected(): boolean {
    return this.socket !== null && !this.socket.connecting && !this.socket.destroyed;
  }

  request(request: Req, options: RequestOptions = {}): Promise<Res | undefined> {
    if (this.closed) {
      return Promise.reject(new FlotillaError('BROKER_NOT_AVAILABLE', `the connection to ${this.address} was closed by the client`));
    }
    if (!this.socket) this.open();
    return this.send(this.socket!, this.writer!, request, options, this.authenticated);
  }

  /** Encodes, registers and writes one request on `socket`, once `ready` (if any) resolved. */
  private send(socket: net.Socket, writer: FrameWriter, request: Req, options: RequestOptions, ready: Promise<void> | null): Promise<Res | undefined> {
    const write = (frame: Uint8Array[], callback?: (err?: Error | null) => void, fail?: (error: FlotillaError) => void): void => {
      if (!ready) {
        writer.write(frame, callback);
        return;
      }
      ready.then(
        () => (socket.destroyed ? fail?.(new FlotillaError('BROKER_NOT_AVAILABLE', `lost the connection to broker ${this.address}`)) : writer.write(frame, callback)),
        (error: FlotillaError) => fail?.(error),
      );
    };
    const correlationId = this.allocateCorrelationId();
    let frame: Uint8Array[];
    try {
      frame = this.codec.encodeRequest(correlationId, request);
    } catch (err) {
      return Promise.reject(err instanceof FlotillaError ? err : new FlotillaError('INVALID_REQUEST', `cannot encode the request: ${(err as Error).message}`));
    }
    const length = frame.reduce((sum, chunk) => sum + chunk.length, 0);
    if (length > this.options.maxFrameBytes) {
      return Promise.reject(new FlotillaError('RECORD_TOO_LARGE', `the request is ${length} bytes, above maxFrameBytes ${this.options.maxFrameBytes}; send smaller batches (lower batchBytes)`));
    }
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    return new Promise<Res | undefined>((resolve, reject) => {
      if (options.expectResponse === false) {
        write(frame, (err) => {
          if (err) reject(new FlotillaError('BROKER_NOT_AVAILABLE', `write to ${this.address} failed: ${err.message}`, {}, { cause: err }));
          else resolve(undefined);
        }, reject);
        return;
      }
      const sentAt = Date.now();
      const timer = setTimeout(() => {
        if (this.pending.delete(correlationId)) {
          reject(new FlotillaError('TIMEOUT', `no response from broker ${this.address} within ${timeoutMs} ms; the outcome is unknown`));
          // A second request timing out with nothing at all received since it left: the
          // connection is most likely dead (one slow answer alone does not cost it). A silent
          // network cut leaves it open, and TCP would resend only at doubling intervals, so
          // requests would wait behind it; a new connection goes through once the path is back.
          if (this.socket === socket && this.heardAt <= sentAt && ++this.silentTimeouts >= 2) {
            this.logger.warn({ timeoutMs }, 'nothing received from the broker while two requests timed out; connecting again');
            socket.destroy(new Error(`nothing received while two requests timed out (${timeoutMs} ms each)`));
          }
        }
      }, timeoutMs);
      this.pending.set(correlationId, { resolve, reject, timer });
      write(frame);
    });
  }

  /** Fails whatever is in flight and closes the socket; later requests are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const socket = this.socket;
    this.failAll(new FlotillaError('BROKER_NOT_AVAILABLE', `the connection to ${this.address} was closed by the client`));
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      // A peer that never finishes its side must not hold close() open.
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  private allocateCorrelationId(): number {
    const id = this.nextCorrelationId;
    // Wrap inside int32; an id is only reused after 2^31 requests, long after it settled.
    this.nextCorrelationId = id >= 0x7fff_ffff ? 1 : id + 1;
    return id;
  }

  private open(): net.Socket {
    const secure = this.options.tls !== undefined;
    // With TLS the type byte and frames travel inside it; the broker's certificate is
    // checked against the host dialled (an IP SAN for an address).
    const socket = secure ? tls.connect({ ...this.options.tls, host: this.host, port: this.port }) : net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    this.socket = socket;
    // Its own limit is the widest: send() refuses an oversized request with RECORD_TOO_LARGE first.
    const writer = (this.writer = new FrameWriter(socket, { maxFrameBytes: MAX_FRAME_BYTES_LIMIT }));
    this.authenticated = null;
    this.heardAt = Date.now();
    this.silentTimeouts = 0;
    // Writes before 'connect' (or the handshake) are buffered by the socket, so the type byte goes first.
    socket.write(Buffer.of(CLIENT_CONNECTION_TYPE));
    const connectTimer = setTimeout(() => {
      socket.destroy(new Error(`connect timeout after ${this.options.connectTimeoutMs} ms`));
    }, this.options.connectTimeoutMs);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(connectTimer);
      this.logger.debug({}, 'connected');
    });
    // The shared frame reader: limit enforced on the length prefix, EOF inside a frame
    // is an error; any failure destroys the socket and ends here.
    readFrames(socket, {
      onFrame: (frame) => this.onFrame(frame, socket),
      onClose: (error) => {
        clearTimeout(connectTimer);
        this.lose(socket, error ?? undefined);
      },
    }, { maxFrameBytes: this.options.maxFrameBytes, frameTimeoutMs: 0, idleTimeoutMs: 0 });
    socket.on('error', (err) => this.logger.debug({ err: err.message }, 'socket error'));
    const authenticate = this.options.authenticate;
    if (authenticate) {
      this.authenticated = authenticate((request) => this.send(socket, writer, request, {}, null)).catch((err: unknown) => {
        const error = err instanceof FlotillaError ? err : new FlotillaError('AUTHENTICATION_FAILED', `authentication with broker ${this.address} failed: ${(err as Error).message}`);
        // Requests waiting for it fail with the reason, not with the lost connection.
        this.failAll(error);
        if (this.socket === socket) this.socket = null;
        socket.destroy();
        throw error;
      });
      this.authenticated.catch(() => undefined);
    }
    return socket;
  }

  private onFrame(frame: Buffer, socket: net.Socket): void {
    if (this.socket === socket) {
      this.heardAt = Date.now();
      this.silentTimeouts = 0;
    }
    let decoded: ReturnType<EnvelopeCodec<Req, Res>['decodeResponse']>;
    try {
      decoded = this.codec.decodeResponse(frame);
    } catch (err) {
      // A response we cannot read leaves the stream in an unknown state: start over.
      socket.destroy(new Error(`undecodable response: ${(err as Error).message}`));
      return;
    }
    const entry = this.pending.get(decoded.correlationId);
    if (!entry) {
      this.logger.debug({ correlationId: decoded.correlationId }, 'response for a request no longer pending');
      return;
    }
    this.pending.delete(decoded.correlationId);
    clearTimeout(entry.timer);
    if (decoded.error) entry.reject(decoded.error);
    else entry.resolve(decoded.response);
  }

  private lose(socket: net.Socket, cause?: Error): void {
    if (this.socket !== socket) return;
    this.socket = null;
    if (!socket.destroyed) socket.destroy();
    // A certificate not trusted (either way) fails at once: retrying cannot fix it.
    const untrusted = tlsTrustFailure(cause, this.address);
    if (untrusted) return this.failAll(untrusted);
    const reason = cause ? `: ${cause.message}` : '';
    this.failAll(new FlotillaError('BROKER_NOT_AVAILABLE', `lost the connection to broker ${this.address}${reason}`, {}, { cause }));
  }

  private failAll(error: FlotillaError): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }
}
