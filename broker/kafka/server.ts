/**
 * The Kafka listener's wire (--kafka-listen): int32-framed Kafka requests in, responses
 * out in request order per connection (Kafka clients match answers to requests by
 * position), with any number pipelined. What each api does is KafkaApis's business; this
 * file knows only the wire and enforces the native listener's limits: --max-frame-bytes,
 * --max-connections (counted apart from the native port's), --idle-timeout-ms,
 * --frame-timeout-ms, and the response-memory budgets (broker/server/byte-budget.ts).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { decodeRequest, KafkaCodecError, KafkaFrameReader, type KafkaRequest } from '../../protocol/kafka/index.js';
import { parseHostPort } from '../config.js';
import type { ConnectionSession, RequestContext } from '../requests/dispatcher.js';
import type { ServerLimits } from '../server/server.js';
import { ByteBudget, ResponseHolding } from '../server/byte-budget.js';

/** Requests in flight on one connection before it is not read (as the native listener). */
const MAX_IN_FLIGHT_PER_CONNECTION = 1024;

/** Answers one decoded request: the response frame's chunks, or null for none (acks=0). */
export interface KafkaRequestHandler {
  handle(request: KafkaRequest, context: RequestContext): Promise<Buffer[] | null>;
  /** The answer to a request whose api or version is not served, or null to close the connection. */
  unsupported(error: KafkaCodecError): Buffer[] | null;
}

/** One request's place in its connection's answer order. */
interface Slot {
  done: boolean;
  chunks: Buffer[] | null;
  holding: ResponseHolding;
}

export class KafkaServer {
  private readonly server: Server = createServer({ noDelay: true });
  private readonly connections = new Set<Socket>();
  /** Response bytes held by all Kafka connections (--max-pending-response-bytes). */
  private readonly responses: ByteBudget;

  constructor(
    private readonly address: string,
    private readonly limits: ServerLimits,
    private readonly handler: KafkaRequestHandler,
    private readonly logger: Logger,
  ) {
    this.responses = new ByteBudget(limits.maxPendingResponseBytes);
    this.server.on('connection', (socket) => this.accept(socket));
  }

  /** Listens on --kafka-listen; rejects when the port cannot be had. */
  async listen(): Promise<void> {
    const { host, port } = parseHostPort(this.address, '--kafka-listen');
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  close(): void {
    this.server.close();
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
  }

  private accept(socket: Socket): void {
    const { limits, logger } = this;
    if (this.connections.size >= limits.maxConnections) {
      logger.debug({ remote: socket.remoteAddress, limit: limits.maxConnections }, 'refused a Kafka connection: --max-connections reached');
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.on('error', () => undefined);
    const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
    // No SASL on this port yet: with --authn on, every request is refused as unauthenticated.
    const session: ConnectionSession = {};
    const reader = new KafkaFrameReader(limits.maxFrameBytes);
    const pending = new ByteBudget(limits.maxConnectionPendingBytes);
    const slots: Slot[] = [];
    let inFlight = 0;
    let frameTimer: NodeJS.Timeout | null = null;

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
        if (!slot.chunks || socket.destroyed) {
          slot.holding.release();
          continue;
        }
        const size = slot.chunks.reduce((n, c) => n + c.length, 0);
        slot.holding.resize(size); // held until the socket handed it to the kernel
        const last = slot.chunks.length - 1;
        slot.chunks.forEach((chunk, i) => socket.write(chunk, i === last ? () => slot.holding.release() : undefined));
      }
      process.nextTick(() => socket.uncork());
    };
    const onFrame = (frame: Buffer): void => {
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
      const holding = new ResponseHolding(pending, this.responses, updateReading);
      const slot: Slot = { done: false, chunks: null, holding };
      slots.push(slot);
      inFlight++;
      holding
        .take(0)
        .then(() => this.handler.handle(request, { clientId: request.header.clientId ?? '', remote, memory: holding, session }))
        .then(
          (chunks) => {
            slot.chunks = chunks;
          },
          (error) => {
            // Per-api errors are answered inside the response; anything else ends the connection.
            slot.chunks = null;
            close(`${request.api} failed`, error);
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
      if (frameTimer) clearTimeout(frameTimer);
      this.connections.delete(socket);
      for (const slot of slots) slot.holding.release();
      slots.length = 0;
    });
  }
}
