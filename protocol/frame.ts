/**
 * The stream layer's framing (SPEC.md section 5): one connection-type byte, then frames of
 * a varint length prefix and a body (length-prefixed-stream's format).
 *
 * length-prefixed-stream is unsafe on its own (protocol/README.md): without `limit` a
 * 5-byte prefix allocates gigabytes, a huge prefix throws synchronously, a frame cut off by
 * EOF vanishes silently and its errors do not reach the socket. So its decoder never sees
 * raw socket bytes: FrameDecoder walks the prefixes first (cheap arithmetic, no copies),
 * refuses an oversized or overlong prefix before any body byte is buffered, notices EOF
 * inside a frame, runs the frame and idle timeouts, and only then hands the bytes on.
 */
import { pipeline, Transform, type Duplex, type TransformCallback, type Writable } from 'node:stream';
import type { Socket } from 'node:net';
import lps from 'length-prefixed-stream';
import { FlotillaError } from './errors.js';

/** The first byte of every connection says what it carries. */
export const ConnectionType = {
  CLIENT: 0x01,
  PEER: 0x02,
} as const;
export type ConnectionType = (typeof ConnectionType)[keyof typeof ConnectionType];

export interface FrameOptions {
  /** Largest frame body accepted (--max-frame-bytes). */
  maxFrameBytes: number;
  /** Time allowed to finish a frame once its first byte arrived (--frame-timeout-ms); 0: none. */
  frameTimeoutMs: number;
  /** Time allowed between frames (--idle-timeout-ms); 0: none (peer connections). */
  idleTimeoutMs: number;
}

export const DEFAULT_FRAME_OPTIONS: Readonly<FrameOptions> = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  frameTimeoutMs: 30_000,
  idleTimeoutMs: 10 * 60_000,
});

/** Largest --max-frame-bytes: 1 GiB keeps every prefix within 5 bytes and lengths exact. */
export const MAX_FRAME_BYTES_LIMIT = 1024 * 1024 * 1024;

/** Defaults under the caller's options, validated once; throws INVALID_CONFIG naming the fix. */
export function frameOptions(options: Partial<FrameOptions> = {}): FrameOptions {
  const merged = { ...DEFAULT_FRAME_OPTIONS, ...stripUndefined(options) };
  if (!Number.isInteger(merged.maxFrameBytes) || merged.maxFrameBytes < 1 || merged.maxFrameBytes > MAX_FRAME_BYTES_LIMIT) {
    throw new FlotillaError('INVALID_CONFIG', `maxFrameBytes ${merged.maxFrameBytes} is invalid; use an integer from 1 to ${MAX_FRAME_BYTES_LIMIT}`);
  }
  for (const key of ['frameTimeoutMs', 'idleTimeoutMs'] as const) {
    if (!Number.isInteger(merged[key]) || merged[key] < 0 || merged[key] > 2 ** 31 - 1) {
      throw new FlotillaError('INVALID_CONFIG', `${key} ${merged[key]} is invalid; use milliseconds from 0 (off) to 2^31-1`);
    }
  }
  return merged;
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------
// Varints (unsigned LEB128, the prefix format of length-prefixed-stream)

export function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

function writeVarint(buf: Buffer, at: number, value: number): void {
  while (value >= 0x80) {
    buf[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[at] = value;
}

/** One frame as bytes: prefix and body (for tests and one-off writes; FrameWriter avoids the copy). */
export function encodeFrame(body: Uint8Array): Buffer {
  const prefixLength = varintLength(body.length);
  const frame = Buffer.allocUnsafe(prefixLength + body.length);
  writeVarint(frame, 0, body.length);
  frame.set(body, prefixLength);
  return frame;
}

// ---------------------------------------------------------------------------------------
// Decoding

/**
 * A Transform from socket bytes to frame bodies (Buffers; zero-length frames included).
 * A body is a view into the socket chunk when the frame arrived in one chunk, else a
 * buffer of its own. Errors (FlotillaError): FRAME_TOO_LARGE, INVALID_REQUEST (EOF inside a
 * frame), TIMEOUT with `details.timeout` = 'frame' | 'idle'.
 *
 * Backpressure: pause the decoder (or stop reading it) and, through pipe/pipeline, the
 * socket stops being read once 16 frames are queued.
 */
export class FrameDecoder extends Transform {
  readonly options: FrameOptions;
  private readonly maxPrefixBytes: number;
  private readonly inner: Transform;

  // Prefix being read: value so far, next digit's weight, bytes seen (0: between frames).
  private prefixValue = 0;
  private prefixScale = 1;
  private prefixBytes = 0;
  /** Body bytes of the current frame not yet seen. */
  private bodyRemaining = 0;
  private bodyLength = 0;

  private frameStartedAt = 0;
  private lastFrameAt = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private timerDeadline = Infinity;

  constructor(options: Partial<FrameOptions> = {}) {
    super({ readableObjectMode: true });
    this.options = frameOptions(options);
    this.maxPrefixBytes = varintLength(this.options.maxFrameBytes);
    // The inner decoder delivers frames synchronously from write() once it flows; its own
    // limit is a second guard that the prefix walk below makes unreachable.
    this.inner = lps.decode({ limit: this.options.maxFrameBytes, allowEmpty: true });
    this.inner.on('data', (frame: Buffer) => this.push(frame));
    this.inner.on('error', (error: Error) => this.destroy(tooLarge(`frame refused: ${error.message}`, this.options.maxFrameBytes)));
    this.armTimer(this.options.idleTimeoutMs > 0 ? this.lastFrameAt + this.options.idleTimeoutMs : Infinity);
  }

  /** True while a frame has begun and not ended. */
  get inFrame(): boolean {
    return this.prefixBytes > 0 || this.bodyRemaining > 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const now = Date.now();
    const wasInFrame = this.inFrame;
    let at = 0;
    let completed = false;
    let prefixStart = 0;
    while (at < chunk.length) {
      if (this.bodyRemaining > 0) {
        const take = Math.min(this.bodyRemaining, chunk.length - at);
        at += take;
        this.bodyRemaining -= take;
        if (this.bodyRemaining === 0) completed = true;
        continue;
      }
      if (this.prefixBytes === 0) {
        prefixStart = at;
        this.frameStartedAt = now;
      }
      const byte = chunk[at++]!;
      this.prefixValue += (byte & 0x7f) * this.prefixScale;
      this.prefixScale *= 0x80;
      this.prefixBytes++;
      if (byte & 0x80) {
        // Any length up to the limit fits in maxPrefixBytes; a longer prefix is oversized
        // (or a non-canonical varint, refused the same way, as length-prefixed-stream does).
        if (this.prefixBytes >= this.maxPrefixBytes) return this.refuse(chunk, prefixStart, callback, `a length prefix longer than ${this.maxPrefixBytes} bytes`);
        continue;
      }
      if (this.prefixValue > this.options.maxFrameBytes) return this.refuse(chunk, prefixStart, callback, `a frame of ${this.prefixValue} bytes`);
      this.bodyRemaining = this.bodyLength = this.prefixValue;
      this.prefixValue = 0;
      this.prefixScale = 1;
      this.prefixBytes = 0;
      if (this.bodyRemaining === 0) completed = true;
    }
    if (completed) this.lastFrameAt = now;
    // A frame began in this chunk and is still open: the frame deadline may be sooner.
    if (this.inFrame && (!wasInFrame || completed) && this.options.frameTimeoutMs > 0) {
      const deadline = this.frameStartedAt + this.options.frameTimeoutMs;
      if (deadline < this.timerDeadline) this.armTimer(deadline);
    }
    this.inner.write(chunk);
    callback();
  }

  /** Hands on the complete frames before the bad prefix, then fails the stream. */
  private refuse(chunk: Buffer, prefixStart: number, callback: TransformCallback, what: string): void {
    if (prefixStart > 0) this.inner.write(chunk.subarray(0, prefixStart));
    callback(tooLarge(`refused ${what}`, this.options.maxFrameBytes));
  }

  override _flush(callback: TransformCallback): void {
    this.clearTimer();
    if (this.inFrame) {
      const got = this.bodyLength - this.bodyRemaining;
      const where = this.prefixBytes > 0 ? 'in a length prefix' : `after ${got} of ${this.bodyLength} body bytes`;
      callback(new FlotillaError('INVALID_REQUEST', `connection closed inside a frame (${where})`));
      return;
    }
    this.inner.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearTimer();
    this.inner.removeAllListeners('data');
    callback(error);
  }

  private armTimer(deadline: number): void {
    this.clearTimer();
    if (deadline === Infinity) return;
    this.timerDeadline = deadline;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, deadline - Date.now()));
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerDeadline = Infinity;
  }

  private onTimer(): void {
    this.timer = null;
    this.timerDeadline = Infinity;
    const now = Date.now();
    const { frameTimeoutMs, idleTimeoutMs } = this.options;
    if (this.inFrame && frameTimeoutMs > 0) {
      const deadline = this.frameStartedAt + frameTimeoutMs;
      if (now >= deadline) {
        this.destroy(new FlotillaError('TIMEOUT', `frame not completed within ${frameTimeoutMs} ms (--frame-timeout-ms)`, { timeout: 'frame' }));
        return;
      }
      this.armTimer(deadline);
    } else if (!this.inFrame && idleTimeoutMs > 0) {
      const deadline = this.lastFrameAt + idleTimeoutMs;
      if (now >= deadline) {
        this.destroy(new FlotillaError('TIMEOUT', `no request for ${idleTimeoutMs} ms (--idle-timeout-ms)`, { timeout: 'idle' }));
        return;
      }
      this.armTimer(deadline);
    } else if (this.inFrame && idleTimeoutMs > 0) {
      // No frame timeout: check again one idle period after the frame began.
      this.armTimer(Math.max(now, this.frameStartedAt) + idleTimeoutMs);
    }
  }
}

function tooLarge(message: string, limit: number): FlotillaError {
  return new FlotillaError('FRAME_TOO_LARGE', `${message}; the limit is ${limit} bytes (--max-frame-bytes)`, { maxFrameBytes: limit });
}

export interface FrameHandlers {
  /** Called synchronously per frame, in order. A throw fails the connection with that error. */
  onFrame(frame: Buffer): void;
  /** Called once: null after a clean EOF between frames, else why the connection failed. */
  onClose?(error: Error | null): void;
}

/**
 * Reads frames from a socket (after its connection-type byte): socket → FrameDecoder with
 * stream.pipeline, so that any decoder error destroys the socket. Returns the decoder
 * (pause()/resume() it for backpressure).
 */
export function readFrames(socket: Duplex, handlers: FrameHandlers, options: Partial<FrameOptions> = {}): FrameDecoder {
  const decoder = new FrameDecoder(options);
  decoder.on('data', (frame: Buffer) => {
    try {
      handlers.onFrame(frame);
    } catch (error) {
      decoder.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  });
  pipeline(socket, decoder, (error) => {
    if (error) socket.destroy();
    handlers.onClose?.(error ?? null);
  });
  return decoder;
}

// ---------------------------------------------------------------------------------------
// Routing a new connection

export interface ConnectionRoutes {
  /** The socket, positioned after the type byte (its unread bytes stay in the socket). */
  client(socket: Socket): void;
  peer(socket: Socket): void;
  /** Told about a connection closed because of its first byte (or lack of one); for logs. */
  rejected?(socket: Socket, reason: string): void;
}

/**
 * Reads the first byte of an accepted socket and hands the socket to the route for that
 * connection type. Any other byte, EOF or an error before it, or no byte within
 * `firstByteTimeoutMs` (default: the frame timeout) closes the socket.
 */
export function routeConnection(socket: Socket, routes: ConnectionRoutes, firstByteTimeoutMs = DEFAULT_FRAME_OPTIONS.frameTimeoutMs): void {
  readFirstByte(socket, firstByteTimeoutMs, (type) => routeByType(socket, type, routes), (reason) => {
    socket.destroy();
    routes.rejected?.(socket, reason);
  });
}

/** Hands a socket whose type byte was read to its route; an unknown type closes it. */
export function routeByType(socket: Socket, type: number, routes: ConnectionRoutes): void {
  if (type === ConnectionType.CLIENT) routes.client(socket);
  else if (type === ConnectionType.PEER) routes.peer(socket);
  else {
    socket.destroy();
    routes.rejected?.(socket, `unknown connection type byte 0x${type.toString(16).padStart(2, '0')}`);
  }
}

/**
 * Calls `then` with the first byte of a socket (consumed; the rest stays unread), or
 * `fail` with why there is none: EOF, an error, or nothing within `timeoutMs` (0: no limit).
 */
export function readFirstByte(socket: Socket, timeoutMs: number, then: (byte: number) => void, fail: (reason: string) => void): void {
  const settle = (body: () => void): void => {
    cleanup();
    body();
  };
  const onReadable = (): void => {
    const first = socket.read(1) as Buffer | null;
    if (first === null) return; // not yet; 'end' covers EOF
    settle(() => then(first[0]!));
  };
  const onEnd = (): void => settle(() => fail('closed before the connection type byte'));
  const onError = (error: Error): void => settle(() => fail(`socket error before the connection type byte: ${error.message}`));
  const timer = timeoutMs > 0 ? setTimeout(() => settle(() => fail(`no connection type byte within ${timeoutMs} ms`)), timeoutMs) : null;
  timer?.unref();
  function cleanup(): void {
    if (timer) clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('end', onEnd);
    socket.off('error', onError);
  }
  socket.on('readable', onReadable);
  socket.on('end', onEnd);
  socket.on('error', onError);
}

/** Writes the connection-type byte that opens an outgoing connection. */
export function writeConnectionType(socket: Writable, type: ConnectionType): void {
  socket.write(Buffer.of(type));
}

// ---------------------------------------------------------------------------------------
// Encoding

/**
 * Writes frames to a socket, coalescing every frame written in one callback (its
 * synchronous work and the promise continuations it set off) into one writev: cork now,
 * uncork on process.nextTick, which runs once the microtask queue is drained. A broker
 * resolves the acknowledgements of one Raft cycle in one such stretch, so they still leave
 * together. (Uncorking on setImmediate held a response written from a setImmediate callback,
 * as the Raft cycle is, for a whole further loop turn: +0.1 ms median per produce request.)
 */
export class FrameWriter {
  private corked = false;
  private readonly maxFrameBytes: number;

  constructor(
    private readonly socket: Writable,
    options: Partial<Pick<FrameOptions, 'maxFrameBytes'>> = {},
  ) {
    this.maxFrameBytes = frameOptions(options).maxFrameBytes;
  }

  /**
   * Queues one frame: a body, or the chunks of one (encode*Chunks in codec.ts), written
   * after one length prefix without being joined. Returns false when the socket's buffer is
   * over its high-water mark (wait for 'drain' before writing more). `callback` runs once
   * the body is handed to the OS (acks=none semantics) or fails. Throws FRAME_TOO_LARGE for
   * a body the peer would refuse. Chunks are held by reference until written: do not change them.
   */
  write(body: Uint8Array | readonly Uint8Array[], callback?: (error?: Error | null) => void): boolean {
    const chunks = body instanceof Uint8Array ? [body] : body.length > 0 ? body : [Buffer.alloc(0)];
    let length = 0;
    for (const chunk of chunks) length += chunk.length;
    if (length > this.maxFrameBytes) throw tooLarge(`will not send a frame of ${length} bytes`, this.maxFrameBytes);
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    const prefix = Buffer.allocUnsafe(varintLength(length));
    writeVarint(prefix, 0, length);
    this.socket.write(prefix);
    let ok = true;
    chunks.forEach((chunk, i) => {
      if (chunk.length === 0 && i < chunks.length - 1) return;
      ok = i === chunks.length - 1 ? this.socket.write(chunk, callback) : this.socket.write(chunk);
    });
    return ok;
  }

  /** Sends what is queued now rather than at the end of the turn. */
  flush(): void {
    this.uncork();
  }

  private readonly uncork = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  };
}
