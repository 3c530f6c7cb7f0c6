/**
 * Kafka's primitive types, read and written big-endian as the protocol guide defines them:
 * fixed-width integers, unsigned varints (LEB128) and zigzag varints/varlongs, and the
 * length prefixes of strings, bytes and arrays in both forms (classic: int16/int32;
 * compact: unsigned varint of length + 1, 0 meaning null).
 *
 * Every read is bounds-checked and throws a WireFault naming what was short, so a
 * truncated or garbage frame is an error, never a crash or an out-of-bounds read; lengths
 * are checked against the bytes remaining before anything is sliced or allocated.
 *
 * int64 values are JS numbers: offsets, timestamps and producer ids are safe integers by
 * contract (the rest of Flotilla does the same); a value beyond ±2^53 is refused.
 */
import { WireFault } from './errors.js';

const TWO_POW_32 = 2 ** 32;

export class KafkaReader {
  offset: number;

  constructor(
    readonly buffer: Buffer,
    offset = 0,
    readonly end = buffer.length,
  ) {
    this.offset = offset;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(bytes: number, what: string): number {
    if (this.end - this.offset < bytes) {
      throw new WireFault(`truncated: ${what} needs ${bytes} bytes, ${this.end - this.offset} left`);
    }
    const at = this.offset;
    this.offset += bytes;
    return at;
  }

  int8(): number {
    return this.buffer.readInt8(this.need(1, 'int8'));
  }

  int16(): number {
    return this.buffer.readInt16BE(this.need(2, 'int16'));
  }

  uint16(): number {
    return this.buffer.readUInt16BE(this.need(2, 'uint16'));
  }

  int32(): number {
    return this.buffer.readInt32BE(this.need(4, 'int32'));
  }

  uint32(): number {
    return this.buffer.readUInt32BE(this.need(4, 'uint32'));
  }

  int64(): number {
    const at = this.need(8, 'int64');
    const high = this.buffer.readInt32BE(at);
    const low = this.buffer.readUInt32BE(at + 4);
    // |value| < 2^53 exactly when the high word is within ±2^21 (with -2^53 itself excluded).
    if (high >= 0x200000 || high < -0x200000 || (high === -0x200000 && low === 0)) {
      throw new WireFault(`int64 ${this.buffer.readBigInt64BE(at)} is beyond the safe integer range (±2^53)`);
    }
    return high * TWO_POW_32 + low;
  }

  bool(): boolean {
    return this.buffer[this.need(1, 'boolean')] !== 0;
  }

  /** Unsigned LEB128 of at most 5 bytes (a 32-bit value). */
  uvarint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.buffer[this.need(1, 'varint')]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) throw new WireFault(`varint ${value} does not fit in 32 bits`);
        return value;
      }
    }
    throw new WireFault('varint longer than 5 bytes');
  }

  /** Zigzag-encoded signed 32-bit varint. */
  varint(): number {
    const raw = this.uvarint();
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }

  /** Zigzag-encoded signed 64-bit varlong of at most 10 bytes; a safe integer. */
  varlong(): number {
    let raw = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.buffer[this.need(1, 'varlong')]!;
      raw |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        const value = (raw >> 1n) ^ -(raw & 1n);
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new WireFault(`varlong ${value} is beyond the safe integer range (±2^53)`);
        }
        return Number(value);
      }
    }
    throw new WireFault('varlong longer than 10 bytes');
  }

  /** A view (no copy) of the next `length` bytes. */
  bytes(length: number): Buffer {
    const at = this.need(length, `${length} bytes of data`);
    return this.buffer.subarray(at, at + length);
  }

  utf8(length: number): string {
    const at = this.need(length, `a string of ${length} bytes`);
    return this.buffer.toString('utf8', at, at + length);
  }

  /** Length prefix of a string, bytes or array: -1 for null, else 0..remaining. */
  length(compact: boolean, width: 'int16' | 'int32', what: string): number {
    const length = compact ? this.uvarint() - 1 : width === 'int16' ? this.int16() : this.int32();
    if (length < -1) throw new WireFault(`${what} length ${length} is negative`);
    return length;
  }
}

/**
 * Writes into a growing scratch buffer and hands large byte fields (record batches) on
 * by reference: `finish()` returns the chunks for one writev, the records never copied.
 * The first 4 bytes are reserved for the int32 size prefix of the frame.
 */
export class KafkaWriter {
  private readonly chunks: Buffer[] = [];
  private scratch: Buffer;
  private start = 0;
  private offset = 0;
  private total = 0;

  constructor(
    initialBytes = 256,
    /** Byte fields at least this long are passed by reference rather than copied. */
    private readonly referenceThreshold = 1024,
  ) {
    this.scratch = Buffer.allocUnsafe(initialBytes);
    this.offset = 4; // the size prefix, written by finish()
  }

  /**
   * Reserves `bytes` in the scratch buffer and returns their offset; may swap the buffer,
   * so callers take the offset before they touch `this.scratch`.
   */
  private room(bytes: number): number {
    if (this.offset + bytes > this.scratch.length) {
      this.flushScratch();
      this.scratch = Buffer.allocUnsafe(Math.max(bytes, this.scratch.length * 2));
      this.start = 0;
      this.offset = 0;
    }
    const at = this.offset;
    this.offset += bytes;
    return at;
  }

  private flushScratch(): void {
    if (this.offset > this.start) {
      this.chunks.push(this.scratch.subarray(this.start, this.offset));
      this.total += this.offset - this.start;
    }
    this.start = this.offset;
  }

  int8(value: number): this {
    const at = this.room(1);
    this.scratch.writeInt8(value, at);
    return this;
  }

  int16(value: number): this {
    const at = this.room(2);
    this.scratch.writeInt16BE(value, at);
    return this;
  }

  uint16(value: number): this {
    const at = this.room(2);
    this.scratch.writeUInt16BE(value, at);
    return this;
  }

  int32(value: number): this {
    const at = this.room(4);
    this.scratch.writeInt32BE(value, at);
    return this;
  }

  uint32(value: number): this {
    const at = this.room(4);
    this.scratch.writeUInt32BE(value, at);
    return this;
  }

  int64(value: number): this {
    if (!Number.isSafeInteger(value)) throw new WireFault(`int64 ${value} is not a safe integer`);
    const high = Math.floor(value / TWO_POW_32);
    const at = this.room(8);
    this.scratch.writeInt32BE(high, at);
    this.scratch.writeUInt32BE(value - high * TWO_POW_32, at + 4);
    return this;
  }

  bool(value: boolean): this {
    const at = this.room(1);
    this.scratch[at] = value ? 1 : 0;
    return this;
  }

  uvarint(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new WireFault(`unsigned varint ${value} is out of range`);
    while (value >= 0x80) {
      const at = this.room(1);
      this.scratch[at] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 0x80);
    }
    const at = this.room(1);
    this.scratch[at] = value;
    return this;
  }

  varint(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new WireFault(`varint ${value} is out of range`);
    return this.uvarint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  varlong(value: number): this {
    if (!Number.isSafeInteger(value)) throw new WireFault(`varlong ${value} is not a safe integer`);
    let raw = value >= 0 ? BigInt(value) << 1n : ((-BigInt(value)) << 1n) - 1n;
    while (raw >= 0x80n) {
      const at = this.room(1);
      this.scratch[at] = Number(raw & 0x7fn) | 0x80;
      raw >>= 7n;
    }
    const at = this.room(1);
    this.scratch[at] = Number(raw);
    return this;
  }

  bytes(data: Uint8Array): this {
    if (data.length >= this.referenceThreshold) {
      this.flushScratch();
      this.chunks.push(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length));
      this.total += data.length;
    } else {
      const at = this.room(data.length);
      this.scratch.set(data, at);
    }
    return this;
  }

  utf8(value: string): this {
    const length = Buffer.byteLength(value);
    const at = this.room(length);
    this.scratch.write(value, at, length, 'utf8');
    return this;
  }

  /** Length prefix of a string, bytes or array; -1 means null. */
  length(length: number, compact: boolean, width: 'int16' | 'int32'): this {
    if (compact) return this.uvarint(length + 1);
    if (width === 'int16') {
      if (length > 0x7fff) throw new WireFault(`length ${length} exceeds the int16 prefix (32767)`);
      return this.int16(length);
    }
    return this.int32(length);
  }

  /** The frame as chunks, the first starting with its int32 size prefix (not counted in it). */
  finish(): Buffer[] {
    this.flushScratch();
    const chunks = this.chunks.splice(0);
    chunks[0]!.writeInt32BE(this.total - 4, 0);
    return chunks;
  }
}
