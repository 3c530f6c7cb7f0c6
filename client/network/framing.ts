/**
 * Client-side framing: an unsigned LEB128 varint length prefix and the frame bytes, the
 * same layout `length-prefixed-stream` reads and writes on the broker. Written here as a
 * small incremental decoder so that the connection can enforce a frame limit on the
 * prefix alone and never allocate what a bad prefix claims.
 */
import { FlotillaError } from '../../protocol/errors.js';

/** A varint longer than this cannot describe a frame we would accept (2^35 > any limit). */
const MAX_PREFIX_BYTES = 5;

export function encodeLengthPrefix(length: number): Buffer {
  const bytes: number[] = [];
  let value = length;
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** One frame ready for the socket: prefix and body in a single buffer (one write). */
export function encodeFrame(body: Uint8Array): Buffer {
  const prefix = encodeLengthPrefix(body.length);
  const out = Buffer.allocUnsafe(prefix.length + body.length);
  prefix.copy(out, 0);
  out.set(body, prefix.length);
  return out;
}

/**
 * Turns socket chunks into whole frames. `push` returns the frames completed by the chunk;
 * a prefix above `maxFrameBytes` throws FRAME_TOO_LARGE before any body byte is buffered.
 * Frames are copied out of the chunks, so a kept frame never pins a whole socket chunk.
 */
export class FrameDecoder {
  private prefixValue = 0;
  private prefixScale = 1;
  private prefixBytes = 0;
  private body: Buffer | null = null;
  private bodyFilled = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** True while a frame has begun but not finished (EOF here means a truncated frame). */
  get midFrame(): boolean {
    return this.prefixBytes > 0 || this.body !== null;
  }

  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.body === null) {
        const byte = chunk[at++]!;
        this.prefixValue += (byte & 0x7f) * this.prefixScale;
        this.prefixScale *= 0x80;
        this.prefixBytes++;
        if (this.prefixValue > this.maxFrameBytes || (byte & 0x80 && this.prefixBytes >= MAX_PREFIX_BYTES)) {
          throw new FlotillaError('FRAME_TOO_LARGE', `a frame from the broker exceeds ${this.maxFrameBytes} bytes; raise maxFrameBytes in the client options`);
        }
        if (byte & 0x80) continue;
        const length = this.prefixValue;
        this.prefixValue = 0;
        this.prefixScale = 1;
        this.prefixBytes = 0;
        if (length === 0) {
          frames.push(Buffer.alloc(0));
          continue;
        }
        this.body = Buffer.allocUnsafe(length);
        this.bodyFilled = 0;
      }
      const take = Math.min(this.body.length - this.bodyFilled, chunk.length - at);
      chunk.copy(this.body, this.bodyFilled, at, at + take);
      this.bodyFilled += take;
      at += take;
      if (this.bodyFilled === this.body.length) {
        frames.push(this.body);
        this.body = null;
      }
    }
    return frames;
  }
}
