/**
 * The schema language of the Kafka codec and the one generic encoder/decoder driven by it.
 *
 * A message is a struct of fields; each field has the versions in which it exists, the
 * versions in which it may be null, and, for tagged fields, a tag and the versions in
 * which it is tagged — the same facts Apache Kafka's message JSON files give (its
 * `clients/src/main/resources/common/message/*.json`). Whether a version is flexible is a
 * property of the api (KIP-482): flexible versions use compact strings, bytes and arrays
 * (unsigned varint of length + 1) and end every struct with a tagged-field section.
 *
 * Decoding fills every field the version lacks with its default, so a handler reads
 * `request.isolationLevel` the same way at every version. Encoding takes any subset of
 * the fields (the rest are their defaults) and ignores fields the version does not have.
 * Tagged fields are written only when they differ from their default, in tag order;
 * unknown tags are skipped when decoding.
 */
import { WireFault } from './errors.js';
import { KafkaReader, KafkaWriter } from './primitives.js';

// ---------------------------------------------------------------------------------------
// Version ranges

/** Inclusive; `max` is Infinity for "N+". */
export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

const NO_VERSIONS: VersionRange = { min: 0, max: -1 };

/** Kafka's notation: `"3+"`, `"0-7"`, `"5"` or `"none"`. */
export function versionRange(text: string): VersionRange {
  if (text === 'none') return NO_VERSIONS;
  const match = /^(\d+)(?:(\+)|-(\d+))?$/.exec(text);
  if (!match) throw new Error(`version range ${JSON.stringify(text)} is not of the form N, N+, N-M or none`);
  const min = Number(match[1]);
  const max = match[2] ? Infinity : match[3] !== undefined ? Number(match[3]) : min;
  if (max < min) throw new Error(`version range ${text} is empty`);
  return { min, max };
}

export function inRange(range: VersionRange, version: number): boolean {
  return version >= range.min && version <= range.max;
}

// ---------------------------------------------------------------------------------------
// Types. `V` is the decoded value, `I` what an encoder accepts (every field optional).

declare const valueType: unique symbol;
declare const inputType: unique symbol;

interface TypeBrand<V, I> {
  readonly [valueType]?: V;
  readonly [inputType]?: I;
}

export type ScalarKind = 'int8' | 'int16' | 'uint16' | 'int32' | 'int64' | 'bool' | 'string' | 'bytes' | 'records' | 'uuid';

export interface ScalarType<V> extends TypeBrand<V, V> {
  readonly kind: ScalarKind;
}
export interface ArrayType<V, I> extends TypeBrand<V[], I[]> {
  readonly kind: 'array';
  readonly of: KafkaType;
}
export interface StructType<V, I> extends TypeBrand<V, I> {
  readonly kind: 'struct';
  readonly fields: readonly AnyField[];
}

export type KafkaType<V = any, I = any> = ScalarType<V> | ArrayType<any, any> | StructType<V, I>;

export type ValueOf<T> = T extends TypeBrand<infer V, unknown> ? V : never;
export type InputOf<T> = T extends TypeBrand<unknown, infer I> ? I : never;

export const int8: ScalarType<number> = { kind: 'int8' };
export const int16: ScalarType<number> = { kind: 'int16' };
export const uint16: ScalarType<number> = { kind: 'uint16' };
export const int32: ScalarType<number> = { kind: 'int32' };
/** A JS number: offsets, timestamps and producer ids are safe integers by contract. */
export const int64: ScalarType<number> = { kind: 'int64' };
export const bool: ScalarType<boolean> = { kind: 'bool' };
export const string: ScalarType<string> = { kind: 'string' };
/** Decoded as a view into the frame (no copy): copy what outlives the request. */
export const bytes: ScalarType<Buffer> = { kind: 'bytes' };
/**
 * Record batches, carried byte for byte and never parsed here: like nullable bytes on
 * the wire, decoded as a view into the frame, encoded by reference (no copy).
 */
export const records: ScalarType<Buffer> = { kind: 'records' };
/** 16 bytes, as 32 lowercase hex digits. */
export const uuid: ScalarType<string> = { kind: 'uuid' };

export function array<const T extends KafkaType>(of: T): ArrayType<ValueOf<T>, InputOf<T>> {
  return { kind: 'array', of };
}

// ---------------------------------------------------------------------------------------
// Fields and structs

export interface Field<N extends string, V, I> {
  readonly name: N;
  readonly type: KafkaType;
  readonly versions: VersionRange;
  readonly nullableVersions: VersionRange;
  /** The tag, in the versions where the field is tagged (`taggedVersions`). */
  readonly tag: number | undefined;
  readonly taggedVersions: VersionRange;
  /** Value when absent from a version or from an encoder's input. */
  readonly defaultValue: V | (() => V);
  readonly [valueType]?: V;
  readonly [inputType]?: I;
}
export type AnyField = Field<string, any, any>;

export interface FieldOptions<V> {
  /** Versions in which the field may be null (Kafka's `nullableVersions`). */
  nullable?: string;
  /** The tag and the versions in which the field is tagged (Kafka's `tag`, `taggedVersions`). */
  tag?: number;
  tagged?: string;
  /** Kafka's `default`; otherwise 0, false, '', empty bytes, [] or a struct of defaults. */
  default?: V | null;
}

type Nullable<O, V> = O extends { nullable: string } ? V | null : V;

export function field<const N extends string, const T extends KafkaType, const O extends FieldOptions<ValueOf<T>> = {}>(
  name: N,
  type: T,
  versions: string,
  options?: O,
): Field<N, Nullable<O, ValueOf<T>>, Nullable<O, InputOf<T>>> {
  const nullableVersions = options?.nullable ? versionRange(options.nullable) : NO_VERSIONS;
  const taggedVersions = options?.tagged ? versionRange(options.tagged) : NO_VERSIONS;
  if ((options?.tag === undefined) !== (options?.tagged === undefined)) {
    throw new Error(`field ${name}: give both tag and tagged, or neither`);
  }
  const defaultValue = options && 'default' in options ? options.default : zeroValue(type);
  return { name, type, versions: versionRange(versions), nullableVersions, tag: options?.tag, taggedVersions, defaultValue } as Field<
    N,
    Nullable<O, ValueOf<T>>,
    Nullable<O, InputOf<T>>
  >;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type FieldValue<F> = F extends Field<string, infer V, unknown> ? V : never;
type FieldInput<F> = F extends Field<string, unknown, infer I> ? I : never;
export type StructValue<F extends readonly AnyField[]> = Simplify<{ [K in F[number] as K['name']]: FieldValue<K> }>;
export type StructInput<F extends readonly AnyField[]> = Simplify<{ [K in F[number] as K['name']]?: FieldInput<K> }>;

export function struct<const F extends readonly AnyField[]>(...fields: F): StructType<StructValue<F>, StructInput<F>> {
  const names = new Set<string>();
  const tags = new Set<number>();
  for (const f of fields) {
    if (names.has(f.name)) throw new Error(`field ${f.name} appears twice in one struct`);
    names.add(f.name);
    if (f.tag !== undefined) {
      if (tags.has(f.tag)) throw new Error(`tag ${f.tag} appears twice in one struct`);
      tags.add(f.tag);
    }
  }
  return { kind: 'struct', fields };
}

/** The type's zero value; arrays and structs as a factory, so no decoded value is shared. */
function zeroValue(type: KafkaType): unknown {
  switch (type.kind) {
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'bytes':
      return () => Buffer.alloc(0);
    case 'records':
      return null;
    case 'uuid':
      return '00000000000000000000000000000000';
    case 'array':
      return () => [];
    case 'struct':
      return () => defaultStruct(type);
    default:
      return 0;
  }
}

function defaultOf(f: AnyField): unknown {
  return typeof f.defaultValue === 'function' ? f.defaultValue() : f.defaultValue;
}

function defaultStruct(type: StructType<unknown, unknown>): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  for (const f of type.fields) value[f.name] = defaultOf(f);
  return value;
}

// ---------------------------------------------------------------------------------------
// The generic codec

/** Where the codec is inside a message; its path names the field when something fails. */
export interface CodecPosition {
  readonly version: number;
  readonly flexible: boolean;
  /** Field names and array indexes from the message's root to the current value. */
  readonly path: (string | number)[];
}

export function formatPath(path: readonly (string | number)[]): string {
  let text = '';
  for (const part of path) text += typeof part === 'number' ? `[${part}]` : text ? `.${part}` : part;
  return text;
}

function isTagged(f: AnyField, version: number): boolean {
  return f.tag !== undefined && inRange(f.taggedVersions, version);
}

export function decodeStruct(reader: KafkaReader, type: StructType<unknown, unknown>, at: CodecPosition): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  const { version, path } = at;
  let tagged = false;
  for (const f of type.fields) {
    if (!inRange(f.versions, version)) {
      value[f.name] = defaultOf(f);
    } else if (isTagged(f, version)) {
      value[f.name] = defaultOf(f); // overwritten if present in the tagged section
      tagged = true;
    } else {
      path.push(f.name);
      value[f.name] = decodeValue(reader, f.type, inRange(f.nullableVersions, version), at);
      path.pop();
    }
  }
  if (at.flexible) decodeTaggedFields(reader, tagged ? type : undefined, value, at);
  return value;
}

function decodeTaggedFields(reader: KafkaReader, type: StructType<unknown, unknown> | undefined, value: Record<string, unknown>, at: CodecPosition): void {
  const { path } = at;
  path.push('(tagged fields)');
  const count = reader.uvarint();
  if (count > reader.remaining / 2) throw new WireFault(`${count} tagged fields cannot fit in ${reader.remaining} bytes`);
  path.pop();
  for (let i = 0; i < count; i++) {
    path.push(`(tagged field ${i})`);
    const tag = reader.uvarint();
    const size = reader.uvarint();
    const start = reader.offset;
    reader.bytes(size);
    path.pop();
    const f = type?.fields.find((candidate) => candidate.tag === tag && isTagged(candidate, at.version));
    if (!f) continue; // unknown tags are skipped: that is what makes them compatible
    path.push(f.name);
    const inner = new KafkaReader(reader.buffer, start, start + size);
    value[f.name] = decodeValue(inner, f.type, inRange(f.nullableVersions, at.version), at);
    if (inner.remaining !== 0) throw new WireFault(`tagged field of ${size} bytes has ${inner.remaining} bytes left over`);
    path.pop();
  }
}

function decodeValue(reader: KafkaReader, type: KafkaType, nullable: boolean, at: CodecPosition): unknown {
  const compact = at.flexible;
  switch (type.kind) {
    case 'int8':
      return reader.int8();
    case 'int16':
      return reader.int16();
    case 'uint16':
      return reader.uint16();
    case 'int32':
      return reader.int32();
    case 'int64':
      return reader.int64();
    case 'bool':
      return reader.bool();
    case 'uuid':
      return reader.bytes(16).toString('hex');
    case 'string': {
      const length = reader.length(compact, 'int16', 'string');
      if (length === -1) return nullOrFault(nullable, 'string');
      return reader.utf8(length);
    }
    case 'bytes':
    case 'records': {
      const length = reader.length(compact, 'int32', type.kind);
      if (length === -1) return nullOrFault(nullable || type.kind === 'records', type.kind);
      return reader.bytes(length);
    }
    case 'array': {
      const length = reader.length(compact, 'int32', 'array');
      if (length === -1) return nullOrFault(nullable, 'array');
      // Every element takes at least one byte (a fixed-width one, its width): a garbage
      // count fails here instead of allocating.
      if (length > reader.remaining / minimumSize(type.of)) {
        throw new WireFault(`array of ${length} elements cannot fit in the ${reader.remaining} bytes left`);
      }
      const values = new Array<unknown>(length);
      for (let i = 0; i < length; i++) {
        at.path.push(i);
        values[i] = type.of.kind === 'struct' ? decodeStruct(reader, type.of, at) : decodeValue(reader, type.of, false, at);
        at.path.pop();
      }
      return values;
    }
    case 'struct':
      // A struct-typed field: nullable structs (Kafka's int8 presence marker) are not used
      // by any api in the table.
      return decodeStruct(reader, type, at);
  }
}

function nullOrFault(nullable: boolean, what: string): null {
  if (!nullable) throw new WireFault(`null ${what} (length -1) where this version does not allow null`);
  return null;
}

function minimumSize(type: KafkaType): number {
  switch (type.kind) {
    case 'int16':
    case 'uint16':
      return 2;
    case 'int32':
      return 4;
    case 'int64':
      return 8;
    case 'uuid':
      return 16;
    default:
      return 1;
  }
}

export function encodeStruct(writer: KafkaWriter, type: StructType<unknown, unknown>, input: Record<string, unknown> | undefined, at: CodecPosition): void {
  const { version, path } = at;
  let taggedPresent: AnyField[] | undefined;
  for (const f of type.fields) {
    if (!inRange(f.versions, version)) continue;
    const value = input?.[f.name];
    if (isTagged(f, version)) {
      if (value !== undefined && !isDefaultValue(f, value)) (taggedPresent ??= []).push(f);
      continue;
    }
    path.push(f.name);
    encodeValue(writer, f.type, value === undefined ? defaultOf(f) : value, inRange(f.nullableVersions, version), at);
    path.pop();
  }
  if (!at.flexible) return;
  if (!taggedPresent) {
    writer.uvarint(0);
    return;
  }
  taggedPresent.sort((a, b) => a.tag! - b.tag!);
  writer.uvarint(taggedPresent.length);
  for (const f of taggedPresent) {
    path.push(f.name);
    // The size prefix comes first, so the field is encoded on its own and then copied in.
    const inner = new KafkaWriter();
    encodeValue(inner, f.type, input![f.name], inRange(f.nullableVersions, version), at);
    const data = Buffer.concat(inner.finish()).subarray(4); // without the size prefix
    writer.uvarint(f.tag!).uvarint(data.length).bytes(data);
    path.pop();
  }
}

function encodeValue(writer: KafkaWriter, type: KafkaType, value: unknown, nullable: boolean, at: CodecPosition): void {
  const compact = at.flexible;
  if (value === null && type.kind !== 'records' && !nullable) {
    throw new WireFault(`null where this version does not allow null`);
  }
  switch (type.kind) {
    case 'int8':
      writer.int8(value as number);
      return;
    case 'int16':
      writer.int16(value as number);
      return;
    case 'uint16':
      writer.uint16(value as number);
      return;
    case 'int32':
      writer.int32(value as number);
      return;
    case 'int64':
      writer.int64(value as number);
      return;
    case 'bool':
      writer.bool(value as boolean);
      return;
    case 'uuid': {
      const hex = value as string;
      if (!/^[0-9a-f]{32}$/i.test(hex)) throw new WireFault(`uuid ${JSON.stringify(hex)} is not 32 hex digits`);
      writer.bytes(Buffer.from(hex, 'hex'));
      return;
    }
    case 'string':
      if (value === null) {
        writer.length(-1, compact, 'int16');
      } else {
        const text = value as string;
        writer.length(Buffer.byteLength(text), compact, 'int16').utf8(text);
      }
      return;
    case 'bytes':
    case 'records':
      if (value === null) {
        writer.length(-1, compact, 'int32');
      } else {
        const data = value as Uint8Array;
        writer.length(data.length, compact, 'int32').bytes(data);
      }
      return;
    case 'array': {
      if (value === null) {
        writer.length(-1, compact, 'int32');
        return;
      }
      const values = value as readonly unknown[];
      writer.length(values.length, compact, 'int32');
      for (let i = 0; i < values.length; i++) {
        at.path.push(i);
        if (type.of.kind === 'struct') encodeStruct(writer, type.of, values[i] as Record<string, unknown>, at);
        else encodeValue(writer, type.of, values[i], false, at);
        at.path.pop();
      }
      return;
    }
    case 'struct':
      encodeStruct(writer, type, value as Record<string, unknown>, at);
      return;
  }
}

/** Kafka writes a tagged field only when it differs from its default. */
function isDefaultValue(f: AnyField, value: unknown): boolean {
  return isDefaultOfType(f.type, value, defaultOf(f));
}

function isDefaultOfType(type: KafkaType, value: unknown, defaultValue: unknown): boolean {
  if (value === null || defaultValue === null) return value === defaultValue;
  switch (type.kind) {
    case 'bytes':
    case 'records':
      return Buffer.compare(value as Uint8Array, defaultValue as Uint8Array) === 0;
    case 'array':
      return (value as unknown[]).length === 0 && (defaultValue as unknown[]).length === 0;
    case 'struct': {
      const given = value as Record<string, unknown>;
      const defaults = defaultValue as Record<string, unknown>;
      return type.fields.every((f) => given[f.name] === undefined || isDefaultOfType(f.type, given[f.name], defaults[f.name]));
    }
    default:
      return value === defaultValue;
  }
}
