/**
 * A bare client connection for tests and benchmarks that need what the Client library
 * never does: hold many connections, or pipeline requests without reading the answers. Speaks the wire
 * format directly (type byte 0x01, then length-prefixed protobuf frames).
 */
import { connect, type Socket } from 'node:net';
import { CLIENT_API_VERSION, decodeResponse, encodeRequest, type Init, type client } from '../protocol/codec.js';
import { ConnectionType, encodeFrame, readFrames } from '../protocol/frame.js';
import { batchBounds, isControlBatch, lastOffsetOf, records as recordsOf } from '../protocol/batch.js';

export type RequestBody = Omit<Init<client.Request>, 'correlationId' | 'apiVersion'>;

/** Opens a client connection (type byte sent) without reading from it. */
export async function openSocket(address: string): Promise<Socket> {
  const [host, port] = address.split(':') as [string, string];
  const socket = connect({ host, port: Number(port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined); // the tests look at 'close'
  socket.write(Buffer.of(ConnectionType.CLIENT));
  return socket;
}

let nextCorrelationId = 1;

/** One request frame, ready to write, and its correlation id. */
export function requestFrame(body: RequestBody): { frame: Buffer; correlationId: number } {
  const correlationId = nextCorrelationId++;
  return { frame: encodeFrame(encodeRequest({ ...body, correlationId, apiVersion: CLIENT_API_VERSION })), correlationId };
}

/** A client connection that reads its answers and matches them to requests. */
export class RawClient {
  private readonly waiting = new Map<number, { resolve(response: client.Response): void; reject(error: Error): void }>();
  closed = false;

  private constructor(readonly socket: Socket) {
    readFrames(socket, {
      onFrame: (frame) => {
        const response = decodeResponse(frame);
        this.waiting.get(response.correlationId)?.resolve(response);
        this.waiting.delete(response.correlationId);
      },
      onClose: () => {
        this.closed = true;
        for (const { reject } of this.waiting.values()) reject(new Error('connection closed before the answer'));
        this.waiting.clear();
      },
    }, { maxFrameBytes: 64 * 1024 * 1024, idleTimeoutMs: 0 });
  }

  static async open(address: string): Promise<RawClient> {
    return new RawClient(await openSocket(address));
  }

  request(body: RequestBody): Promise<client.Response> {
    const { frame, correlationId } = requestFrame(body);
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'));
      this.waiting.set(correlationId, { resolve, reject });
      this.socket.write(frame);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** User records (not control batches) in fetched bytes from `from` on, and the offset after them. */
export function countRecords(bytes: Uint8Array, from: number): { count: number; next: number } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let count = 0;
  let next = from;
  for (const { start, end } of batchBounds(buf)) {
    const batch = buf.subarray(start, end);
    const last = lastOffsetOf(batch);
    if (last < next) continue;
    if (!isControlBatch(batch)) for (const r of recordsOf(batch)) if (r.offset >= next) count++;
    next = last + 1;
  }
  return { count, next };
}
