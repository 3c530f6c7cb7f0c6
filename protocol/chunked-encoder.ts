/**
 * A protobuf encoder that writes a message as a list of chunks instead of one buffer: the
 * protobuf bytes of everything but large `bytes` fields go into one exactly sized small
 * buffer (sliced into chunks), and each large `bytes` value (a record batch, Raft entries)
 * is passed through as its own chunk, by reference, never copied. The concatenated chunks
 * are byte for byte what protobufjs's `Type.encode(m).finish()` writes.
 *
 * Why: protobufjs's Writer grows its buffer by doubling, shifts the content forward at every
 * enclosing message whose length needs more than one varint byte, and `finish()` copies it
 * all once more: a 1 MiB batch nested three deep was copied five or more times per frame.
 * Here sizes are computed first (pass 1), then everything is written once (pass 2).
 *
 * One generic encoder driven by protobufjs's reflection (field ids, types, repeated/packed,
 * presence), mirroring its generated encoder (node_modules/protobufjs/src/encoder.js):
 * fields in id order; a field with presence (oneof member, proto3 optional, message) is
 * written when set (not null/undefined, own property); an implicit-presence scalar only when
 * it is not its default; repeated fields when non-empty; packed scalars as one
 * length-delimited run. Types with map or group (delimited) fields, in themselves or below,
 * are encoded by protobufjs (neither schema has any today).
 */
import { protobuf } from './protobuf.js';

/** A `bytes` value at least this long becomes a chunk of its own (by reference). */
export const LARGE_BYTES = 4096;

const { LongBits, utf8 } = protobuf.util;

type Kind = 'uint32' | 'int32' | 'sint32' | 'uint64' | 'int64' | 'sint64' | 'bool' | 'fixed32' | 'fixed64' | 'float' | 'double' | 'string' | 'bytes' | 'message';

interface FieldPlan {
  readonly name: string;
  readonly kind: Kind;
  /** The key (field id and wire type) as a varint value. */
  readonly key: number;
  readonly repeated: boolean;
  readonly packed: boolean;
  /** Written whenever set, even when it equals the default (oneof, optional, message). */
  readonly presence: boolean;
  /** The default an implicit-presence enum field is compared with. */
  readonly enumDefault: number | undefined;
  /** Resolved lazily: message types may refer to each other. */
  readonly type: protobuf.Type | null;
}

interface TypePlan {
  readonly fields: readonly FieldPlan[];
  /** False when the type (or one below it) uses a feature this encoder leaves to protobufjs. */
  chunkable: boolean;
}

const WIRE_TYPE: Record<Exclude<Kind, 'message'>, number> = {
  uint32: 0, int32: 0, sint32: 0, uint64: 0, int64: 0, sint64: 0, bool: 0,
  fixed32: 5, fixed64: 1, float: 5, double: 1, string: 2, bytes: 2,
};

/** protobuf scalar type name → how it is written (sfixed* are written as fixed*, enums as int32). */
const KIND_OF: Record<string, Kind> = {
  uint32: 'uint32', int32: 'int32', sint32: 'sint32', uint64: 'uint64', int64: 'int64', sint64: 'sint64',
  bool: 'bool', fixed32: 'fixed32', sfixed32: 'fixed32', fixed64: 'fixed64', sfixed64: 'fixed64',
  float: 'float', double: 'double', string: 'string', bytes: 'bytes',
};

const plans = new WeakMap<protobuf.Type, TypePlan>();

function planOf(type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  const fields: FieldPlan[] = [];
  plan = { fields, chunkable: true };
  plans.set(type, plan); // before recursing: recursive types end here
  for (const field of type.fieldsArray.slice().sort((a, b) => a.id - b.id)) {
    field.resolve();
    const isEnum = field.resolvedType instanceof protobuf.Enum;
    const nested = field.resolvedType instanceof protobuf.Type ? field.resolvedType : null;
    const kind: Kind | undefined = nested ? 'message' : isEnum ? 'int32' : KIND_OF[field.type];
    if (field.map || field.delimited || kind === undefined) {
      plan.chunkable = false;
      continue;
    }
    const packed = field.repeated && field.packed && kind !== 'message' && kind !== 'string' && kind !== 'bytes';
    const wireType = kind === 'message' || packed ? 2 : WIRE_TYPE[kind];
    fields.push({
      name: field.name,
      kind,
      key: ((field.id << 3) | wireType) >>> 0,
      repeated: field.repeated,
      packed,
      presence: Boolean(field.hasPresence) || kind === 'message' || field.required,
      enumDefault: isEnum ? (field.typeDefault as number) : undefined,
      type: nested,
    });
  }
  for (const field of fields) {
    if (field.type && !planOf(field.type).chunkable) plan.chunkable = false;
  }
  return plan;
}

type Message = Record<string, unknown>;

/**
 * Encodes `message` of `type` as chunks whose concatenation is `type.encode(message).finish()`.
 * Large `bytes` values appear as chunks by reference: do not change them until written.
 */
export function encodeChunks(type: protobuf.Type, message: object): Uint8Array[] {
  const plan = planOf(type);
  if (!plan.chunkable) return [type.encode(message).finish()];
  const sizes = new Sizes();
  const total = measureMessage(plan, message as Message, sizes);
  const out = new ChunkWriter(total - sizes.largeBytes, sizes.lengths);
  writeMessage(plan, message as Message, out);
  return out.finish();
}

// ---------------------------------------------------------------------------------------
// Pass 1: sizes

/** What pass 1 leaves for pass 2: the length of every nested message, packed run and string, in write order. */
export class Sizes {
  readonly lengths: number[] = [];
  largeBytes = 0;
}

function isSet(message: Message, field: FieldPlan): boolean {
  const value = message[field.name];
  if (value == null || !Object.hasOwnProperty.call(message, field.name)) return false;
  if (field.repeated) return (value as unknown[]).length > 0;
  if (field.presence) return true;
  if (field.enumDefault !== undefined) return value !== field.enumDefault;
  switch (field.kind) {
    case 'bool': return value !== false;
    case 'string': return value !== '';
    case 'bytes': return (value as Uint8Array).length > 0;
    case 'float':
    case 'double': return !Object.is(value, 0);
    default: return value !== 0;
  }
}

function measureMessage(plan: TypePlan, message: Message, sizes: Sizes): number {
  let size = 0;
  for (const field of plan.fields) {
    if (!isSet(message, field)) continue;
    const value = message[field.name];
    const keySize = varint32Size(field.key);
    if (field.packed) {
      const slot = sizes.lengths.push(0) - 1;
      let length = 0;
      for (const item of value as unknown[]) length += scalarSize(field.kind, item);
      sizes.lengths[slot] = length;
      size += keySize + varint32Size(length) + length;
    } else if (field.repeated) {
      for (const item of value as unknown[]) size += keySize + measureValue(field, item, sizes);
    } else {
      size += keySize + measureValue(field, value, sizes);
    }
  }
  const unknowns = message.$unknowns as Uint8Array[] | undefined;
  if (unknowns != null && Object.hasOwnProperty.call(message, '$unknowns')) {
    for (const raw of unknowns) size += raw.length;
  }
  return size;
}

/** Size of one value after its key (length prefix included for length-delimited values). */
function measureValue(field: FieldPlan, value: unknown, sizes: Sizes): number {
  if (field.kind === 'message') {
    const slot = sizes.lengths.push(0) - 1;
    const length = measureMessage(planOf(field.type!), value as Message, sizes);
    sizes.lengths[slot] = length;
    return varint32Size(length) + length;
  }
  if (field.kind === 'string') {
    const length = stringSize(value as string);
    sizes.lengths.push(length);
    return varint32Size(length) + length;
  }
  if (field.kind === 'bytes') return bytesSize(value as Uint8Array, sizes);
  return scalarSize(field.kind, value);
}

/** Size of a `bytes` value with its length prefix; a large one is counted as passed through. */
export function bytesSize(value: Uint8Array, sizes: Sizes): number {
  const length = value.length;
  if (length >= LARGE_BYTES) sizes.largeBytes += length;
  return varint32Size(length) + length;
}

function scalarSize(kind: Kind, value: unknown): number {
  switch (kind) {
    case 'uint32': return varint32Size((value as number) >>> 0);
    case 'int32': return ((value as number) | 0) < 0 ? 10 : varint32Size((value as number) | 0);
    case 'sint32': return varint32Size(zigzag32(value as number));
    case 'uint64':
    case 'int64': return int64Size(value as number);
    case 'sint64': return varint64Size(longBits(value as number).zzEncode());
    case 'bool': return 1;
    case 'fixed32':
    case 'float': return 4;
    default: return 8; // fixed64, double
  }
}

/** protobufjs measures strings under 40 UTF-16 units with its own UTF-8 coder, longer ones with Buffer's. */
function stringSize(value: string): number {
  return value.length < 40 ? utf8.length(value) : Buffer.byteLength(value);
}

// ---------------------------------------------------------------------------------------
// Pass 2: bytes

/** Pass 2's output: one exactly sized inline buffer, cut into chunks around large `bytes` values. */
export class ChunkWriter {
  readonly buf: Buffer;
  pos = 0;
  private chunkStart = 0;
  private nextLength = 0;
  private readonly chunks: Uint8Array[] = [];

  constructor(
    inlineBytes: number,
    private readonly lengths: readonly number[],
  ) {
    this.buf = Buffer.allocUnsafe(inlineBytes);
  }

  /** The next length computed by pass 1 (pass 2 meets them in the same order). */
  takeLength(): number {
    return this.lengths[this.nextLength++]!;
  }

  varint32(value: number): void {
    const buf = this.buf;
    while (value > 127) {
      buf[this.pos++] = (value & 127) | 128;
      value >>>= 7;
    }
    buf[this.pos++] = value;
  }

  varint64(bits: { lo: number; hi: number }): void {
    let { lo, hi } = bits;
    const buf = this.buf;
    while (hi) {
      buf[this.pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[this.pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  /** A 64-bit integer (a JS number) as protobufjs writes int64 and uint64. */
  int64(value: number): void {
    if (value >>> 0 === value) this.varint32(value);
    else this.varint64(longBits(value));
  }

  bool(value: boolean): void {
    this.buf[this.pos++] = value ? 1 : 0;
  }

  /** A `bytes` value with its length prefix: copied inline, or passed through when large. */
  bytes(value: Uint8Array): void {
    this.varint32(value.length);
    if (value.length >= LARGE_BYTES) {
      this.passThrough(value);
    } else {
      this.buf.set(value, this.pos);
      this.pos += value.length;
    }
  }

  /** A large value: ends the current inline chunk and passes the value through as is. */
  passThrough(value: Uint8Array): void {
    if (this.pos > this.chunkStart) this.chunks.push(this.buf.subarray(this.chunkStart, this.pos));
    this.chunks.push(value);
    this.chunkStart = this.pos;
  }

  finish(): Uint8Array[] {
    if (this.pos !== this.buf.length) throw new Error(`chunked encoder wrote ${this.pos} of ${this.buf.length} inline bytes`);
    if (this.pos > this.chunkStart || this.chunks.length === 0) this.chunks.push(this.buf.subarray(this.chunkStart, this.pos));
    return this.chunks;
  }
}

function writeMessage(plan: TypePlan, message: Message, out: ChunkWriter): void {
  for (const field of plan.fields) {
    if (!isSet(message, field)) continue;
    const value = message[field.name];
    if (field.packed) {
      out.varint32(field.key);
      out.varint32(out.takeLength());
      for (const item of value as unknown[]) writeScalar(field.kind, item, out);
    } else if (field.repeated) {
      for (const item of value as unknown[]) {
        out.varint32(field.key);
        writeValue(field, item, out);
      }
    } else {
      out.varint32(field.key);
      writeValue(field, value, out);
    }
  }
  const unknowns = message.$unknowns as Uint8Array[] | undefined;
  if (unknowns != null && Object.hasOwnProperty.call(message, '$unknowns')) {
    for (const raw of unknowns) {
      out.buf.set(raw, out.pos);
      out.pos += raw.length;
    }
  }
}

function writeValue(field: FieldPlan, value: unknown, out: ChunkWriter): void {
  if (field.kind === 'message') {
    out.varint32(out.takeLength());
    writeMessage(planOf(field.type!), value as Message, out);
  } else if (field.kind === 'string') {
    const length = out.takeLength();
    out.varint32(length);
    const text = value as string;
    if (text.length < 40) utf8.write(text, out.buf, out.pos);
    else out.buf.write(text, out.pos, length, 'utf8');
    out.pos += length;
  } else if (field.kind === 'bytes') {
    out.bytes(value as Uint8Array);
  } else {
    writeScalar(field.kind, value, out);
  }
}

function writeScalar(kind: Kind, value: unknown, out: ChunkWriter): void {
  const number = value as number;
  switch (kind) {
    case 'uint32': return out.varint32(number >>> 0);
    case 'int32': return (number | 0) < 0 ? out.varint64(LongBits.fromNumber(number | 0)) : out.varint32(number | 0);
    case 'sint32': return out.varint32(zigzag32(number));
    case 'uint64':
    case 'int64': return out.int64(number);
    case 'sint64': return out.varint64(longBits(number).zzEncode());
    case 'bool': return out.bool(Boolean(value));
    case 'fixed32':
      out.buf.writeUInt32LE(number >>> 0, out.pos);
      out.pos += 4;
      return;
    case 'fixed64': {
      const bits = longBits(number);
      out.buf.writeUInt32LE(bits.lo, out.pos);
      out.buf.writeUInt32LE(bits.hi, out.pos + 4);
      out.pos += 8;
      return;
    }
    case 'float':
      out.buf.writeFloatLE(number, out.pos);
      out.pos += 4;
      return;
    default: // double
      out.buf.writeDoubleLE(number, out.pos);
      out.pos += 8;
  }
}

// ---------------------------------------------------------------------------------------
// Varints

export function varint32Size(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

function varint64Size(bits: { lo: number; hi: number }): number {
  const { lo, hi } = bits;
  if (hi === 0) return varint32Size(lo);
  // Bits above the low 28 decide: (hi:lo) >> 28 has 36 significant bits at most.
  const upper = ((lo >>> 28) | (hi << 4)) >>> 0;
  const top = hi >>> 28;
  if (top === 0) return 4 + varint32Size(upper);
  return top < 0x8 ? 9 : 10;
}

/** Size of a 64-bit integer (a JS number) as a varint. */
export function int64Size(value: number): number {
  return value >>> 0 === value ? varint32Size(value) : varint64Size(longBits(value));
}

function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** 64-bit integers are JS numbers (Long is disabled in protobuf.ts); as protobufjs splits them. */
function longBits(value: number): protobuf.util.LongBits {
  return LongBits.fromNumber(value);
}
