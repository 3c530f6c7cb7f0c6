/**
 * Kafka's framing: every request and response is an int32 size and that many bytes.
 * KafkaFrameReader cuts a byte stream into frames; it refuses a negative size or one
 * above `maxFrameBytes` as soon as the 4 size bytes are in, before buffering any of the
 * body, so a garbage prefix can never make it allocate. A listener's reader may instead
 * read a Produce request over the limit as it streams past (`oversizedProduce`): it
 * returns the request with its records left out, and `overLimit(frame)` tells its size.
 */
import { KafkaCodecError } from './errors.js';
import { OversizedProduce } from './oversized.js';

export const DEFAULT_MAX_KAFKA_FRAME_BYTES = 100 * 1024 * 1024; // Kafka's socket.request.max.bytes default

export class KafkaFrameReader {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** Size of the frame being collected, once its prefix is in. */
  private frameSize = -1;
  /** The Produce request over the limit being read, if any. */
  private oversized: OversizedProduce | null = null;
  /** Frames returned for requests over the limit (records left out) -> their size. */
  private readonly overLimitSizes = new WeakMap<Buffer, number>();

  constructor(
    private readonly maxFrameBytes = DEFAULT_MAX_KAFKA_FRAME_BYTES,
    /** `oversizedProduce`: whether a Produce over the limit is read past rather than refused (asked when its size arrives). */
    private readonly options: { oversizedProduce?: () => boolean } = {},
  ) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > 0x7fffffff) {
      throw new RangeError(`maxFrameBytes ${maxFrameBytes} is invalid; use an integer from 1 to 2^31-1`);
    }
  }

  /** Bytes received but not yet returned as a frame: not 0 at end of stream means a cut-off frame. */
  get buffered(): number {
    return this.bufferedBytes + (this.oversized?.seen ?? 0);
  }

  /** The size of the request `frame` stands for when it was over the limit (its records left out), else undefined. */
  overLimit(frame: Buffer): number | undefined {
    return this.overLimitSizes.get(frame);
  }

  /**
   * Adds bytes from the stream; returns every frame (without its size prefix) they
   * complete. A frame inside one chunk is a view of it; one spanning chunks is copied once.
   */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.frameSize < 0) {
        if (this.bufferedBytes < 4) return frames;
        const size = this.take(4).readInt32BE(0);
        if (size < 0 || (size > this.maxFrameBytes && !this.options.oversizedProduce?.())) {
          throw new KafkaCodecError(`frame size ${size} is outside 0..${this.maxFrameBytes}`, { failure: 'MALFORMED' });
        }
        this.frameSize = size;
        // What is kept of it is bounded as a frame is (and by 1 MiB).
        if (size > this.maxFrameBytes) this.oversized = new OversizedProduce(size, Math.min(this.maxFrameBytes, 1 << 20));
      }
      if (this.oversized) {
        let skeleton: Buffer | null = null;
        while (this.bufferedBytes > 0 && skeleton === null) {
          skeleton = this.oversized.push(this.take(Math.min(this.chunks[0]!.length, this.oversized.missing)));
        }
        if (skeleton === null) return frames;
        this.overLimitSizes.set(skeleton, this.frameSize);
        frames.push(skeleton);
        this.oversized = null;
        this.frameSize = -1;
        continue;
      }
      if (this.bufferedBytes < this.frameSize) return frames;
      frames.push(this.take(this.frameSize));
      this.frameSize = -1;
    }
  }

  /** Removes the next `length` buffered bytes (length <= buffered). */
  private take(length: number): Buffer {
    if (length === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let taken: Buffer;
    if (first.length >= length) {
      taken = first.subarray(0, length);
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
    } else {
      taken = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const chunk = this.chunks[0]!;
        const part = Math.min(chunk.length, length - filled);
        chunk.copy(taken, filled, 0, part);
        filled += part;
        if (part === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(part);
      }
    }
    this.bufferedBytes -= length;
    return taken;
  }
}
