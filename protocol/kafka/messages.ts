/**
 * Whole Kafka messages: request header v1/v2 plus body, response header v0/v1 plus body,
 * each behind an int32 size prefix (the protocol guide's framing).
 *
 * Header versions follow from the api version: a flexible version uses request header v2
 * (v1 plus a tagged-field section; the client id keeps its int16 length) and response
 * header v1 (correlation id plus tagged fields); other versions use request header v1 and
 * response header v0. ApiVersions responses always use header v0, so a client that does
 * not yet know what the broker speaks can read the answer (KIP-511).
 * Request header v0 (no client id) was only ever used by ControlledShutdown v0, an
 * inter-broker api outside the table.
 */
import { KAFKA_APIS, KAFKA_APIS_BY_KEY, type KafkaApi, type KafkaApiName } from './apis.js';
import { KafkaCodecError, WireFault, type KafkaCodecFailure } from './errors.js';
import { KafkaReader, KafkaWriter } from './primitives.js';
import { decodeStruct, encodeStruct, formatPath, inRange, type CodecPosition, type InputOf, type ValueOf } from './schema.js';

type ApiOf<N extends KafkaApiName> = (typeof KAFKA_APIS)[N];
/** The decoded body of a request of api N (every field present, defaults where the version lacks it). */
export type RequestBody<N extends KafkaApiName> = ValueOf<ApiOf<N>['request']>;
/** What encodeRequest accepts: any subset of the fields; absent ones are their defaults. */
export type RequestInput<N extends KafkaApiName> = InputOf<ApiOf<N>['request']>;
export type ResponseBody<N extends KafkaApiName> = ValueOf<ApiOf<N>['response']>;
/** What encodeResponse accepts: any subset of the fields; absent ones are their defaults. */
export type ResponseInput<N extends KafkaApiName> = InputOf<ApiOf<N>['response']>;

export interface KafkaRequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/** A decoded request; switch on `api` and `body` has that api's type. */
export type KafkaRequest = { [N in KafkaApiName]: { api: N; header: KafkaRequestHeader; body: RequestBody<N> } }[KafkaApiName];

export function isFlexible(api: KafkaApi, version: number): boolean {
  return inRange(api.flexibleVersions, version);
}

export function requestHeaderVersion(api: KafkaApi, version: number): 1 | 2 {
  return isFlexible(api, version) ? 2 : 1;
}

export function responseHeaderVersion(api: KafkaApi, version: number): 0 | 1 {
  return isFlexible(api, version) && api.key !== KAFKA_APIS.ApiVersions.key ? 1 : 0;
}

/** The table's api for `apiKey` when it covers `version`. */
export function supportedApi(apiKey: number, version: number): KafkaApi | undefined {
  const api = KAFKA_APIS_BY_KEY.get(apiKey);
  return api && inRange(api.versions, version) ? api : undefined;
}

/**
 * Decodes one request frame (the bytes after the size prefix). Bytes and records in the
 * body are views into `frame`: copy what outlives the request.
 * Throws KafkaCodecError: UNSUPPORTED_VERSION (with the correlation id) for an api or
 * version outside the table, MALFORMED for anything unreadable.
 */
export function decodeRequest(frame: Buffer): KafkaRequest {
  const reader = new KafkaReader(frame);
  if (reader.remaining < 8) {
    throw new KafkaCodecError(`request of ${frame.length} bytes is shorter than a request header (8 bytes)`, { failure: 'MALFORMED' });
  }
  const apiKey = reader.int16();
  const apiVersion = reader.int16();
  const correlationId = reader.int32();
  const known = KAFKA_APIS_BY_KEY.get(apiKey);
  if (!known || !inRange(known.versions, apiVersion)) {
    const reason = known
      ? `version ${apiVersion} is not supported (versions ${known.versions.min}-${known.versions.max})`
      : `api key ${apiKey} is not supported`;
    throw new KafkaCodecError(reason, { failure: 'UNSUPPORTED_VERSION', api: known?.name ?? `api key ${apiKey}`, version: apiVersion, correlationId });
  }
  const at = position(known, apiVersion);
  return guarded(known, at, 'MALFORMED', correlationId, () => {
    at.path.push('(header) clientId');
    const clientId = readNullableString(reader);
    at.path.pop();
    if (at.flexible) {
      at.path.push('(header)');
      decodeStruct(reader, HEADER_TAGS, at);
      at.path.pop();
    }
    const body = decodeStruct(reader, known.request, at);
    expectEnd(reader);
    return { api: known.name, header: { apiKey, apiVersion, correlationId, clientId }, body } as KafkaRequest;
  });
}

/**
 * Encodes a response frame, size prefix included, as chunks for one writev: record
 * batches of 1 KiB and more are passed on by reference, never copied.
 */
export function encodeResponse<N extends KafkaApiName>(name: N, version: number, correlationId: number, body: ResponseInput<N>): Buffer[] {
  const api = apiForEncoding(name, version);
  const at = position(api, version);
  return guarded(api, at, 'MALFORMED', correlationId, () => {
    const writer = new KafkaWriter();
    writer.int32(correlationId);
    if (responseHeaderVersion(api, version) === 1) writer.uvarint(0);
    encodeStruct(writer, api.response, body as Record<string, unknown>, at);
    return writer.finish();
  });
}

/** Encodes a request frame, size prefix included (the client side; used in tests and tools). */
export function encodeRequest<N extends KafkaApiName>(
  name: N,
  header: { apiVersion: number; correlationId: number; clientId: string | null },
  body: RequestInput<N>,
): Buffer[] {
  const api = apiForEncoding(name, header.apiVersion);
  const at = position(api, header.apiVersion);
  return guarded(api, at, 'MALFORMED', header.correlationId, () => {
    const writer = new KafkaWriter();
    writer.int16(api.key).int16(header.apiVersion).int32(header.correlationId);
    if (header.clientId === null) writer.int16(-1);
    else writer.int16(Buffer.byteLength(header.clientId)).utf8(header.clientId);
    if (at.flexible) writer.uvarint(0);
    encodeStruct(writer, api.request, body as Record<string, unknown>, at);
    return writer.finish();
  });
}

/** Decodes a response frame (after the size prefix) of a known api and version. */
export function decodeResponse<N extends KafkaApiName>(name: N, version: number, frame: Buffer): { correlationId: number; body: ResponseBody<N> } {
  const api = apiForEncoding(name, version);
  const at = position(api, version);
  return guarded(api, at, 'MALFORMED', undefined, () => {
    const reader = new KafkaReader(frame);
    at.path.push('(header) correlationId');
    const correlationId = reader.int32();
    at.path.pop();
    if (responseHeaderVersion(api, version) === 1) {
      at.path.push('(header)');
      decodeStruct(reader, HEADER_TAGS, at);
      at.path.pop();
    }
    const body = decodeStruct(reader, api.response, at) as ResponseBody<N>;
    expectEnd(reader);
    return { correlationId, body };
  });
}

/** Headers carry no tagged field the codec knows; any present are skipped. */
const HEADER_TAGS = { kind: 'struct', fields: [] } as const;

function apiForEncoding(name: KafkaApiName, version: number): KafkaApi {
  const api: KafkaApi = KAFKA_APIS[name];
  if (!inRange(api.versions, version)) {
    throw new KafkaCodecError(`version ${version} is not supported (versions ${api.versions.min}-${api.versions.max})`, {
      failure: 'UNSUPPORTED_VERSION',
      api: name,
      version,
    });
  }
  return api;
}

function position(api: KafkaApi, version: number): CodecPosition {
  return { version, flexible: isFlexible(api, version), path: [] };
}

function readNullableString(reader: KafkaReader): string | null {
  const length = reader.length(false, 'int16', 'string');
  return length === -1 ? null : reader.utf8(length);
}

function expectEnd(reader: KafkaReader): void {
  if (reader.remaining !== 0) throw new WireFault(`${reader.remaining} bytes left over after the message`);
}

/** Runs a codec step; any failure becomes a KafkaCodecError naming api, version and field. */
function guarded<T>(api: KafkaApi, at: CodecPosition, failure: KafkaCodecFailure, correlationId: number | undefined, step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof KafkaCodecError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new KafkaCodecError(reason, { failure, api: api.name, version: at.version, field: formatPath(at.path) || undefined, correlationId }, { cause: error });
  }
}
