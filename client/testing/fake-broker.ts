/**
 * A scriptable stand-in for a broker's client port, for tests of the client: a real TCP
 * server on 127.0.0.1 (port 0 by default) that reads the 0x01 type byte and
 * length-prefixed Request envelopes (protocol/client.proto) and answers with whatever
 * the test's handler returns, when it returns it (so responses can come out of order, late,
 * or never).
 */
import net from 'node:net';
import { decodeRequest, encodeResponse, toErrorInfo, type Init } from '../../protocol/codec.js';
import type { ProducePartition, ProduceRequest, Request, Response } from '../../protocol/client.schema.js';
import { FlotillaError } from '../../protocol/errors.js';
import { encodeFrame, FrameDecoder } from '../../protocol/frame.js';

/** The response body for a request, an error to answer with, or null to never answer. */
export type FakeAnswer = Omit<Init<Response>, 'correlationId'> | FlotillaError | null;
export type FakeHandler = (request: Request, socket: net.Socket) => FakeAnswer | Promise<FakeAnswer>;

export class FakeBroker {
  readonly sockets = new Set<net.Socket>();
  /** Connections accepted so far, and the first byte each one sent. */
  readonly connectionTypes: number[] = [];
  readonly requests: Request[] = [];
  private server: net.Server;

  constructor(public handler: FakeHandler) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return this.address;
  }

  get address(): string {
    const address = this.server.address() as net.AddressInfo;
    return `127.0.0.1:${address.port}`;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Drops every open connection (the client sees a lost connection). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Writes raw bytes to every connection (to test the client's framing limits). */
  writeRaw(bytes: Buffer): void {
    for (const socket of this.sockets) socket.write(bytes);
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024, frameTimeoutMs: 0, idleTimeoutMs: 0 });
    decoder.on('error', () => socket.destroy());
    decoder.on('data', (frame: Buffer) => {
      const request = decodeRequest(frame);
      this.requests.push(request);
      void Promise.resolve(this.handler(request, socket)).then((answer) => {
        if (answer === null || socket.destroyed) return;
        const body = answer instanceof FlotillaError ? { error: toErrorInfo(answer) } : answer;
        socket.write(encodeFrame(encodeResponse({ correlationId: request.correlationId, ...body })));
      });
    });
    let typed = false;
    socket.on('data', (chunk: Buffer) => {
      if (!typed) {
        typed = true;
        this.connectionTypes.push(chunk[0]!);
        chunk = chunk.subarray(1);
      }
      decoder.write(chunk);
    });
  }
}

/**
 * The answer to a produce request that appends every partition's batch: `appendAt` gets
 * each batch and returns its base offset. One result per partition, in the request's order.
 */
export function produceAnswer(produce: ProduceRequest, appendAt: (batch: Buffer, partition: ProducePartition) => number): FakeAnswer {
  return {
    produce: {
      partitions: produce.partitions.map((p) => {
        const count = p.batch.readInt32BE(57);
        const base = appendAt(p.batch, p);
        return { topic: p.topic, partition: p.partition, baseOffset: base, lastOffset: base + count - 1, logStartOffset: 0 };
      }),
    },
  };
}
