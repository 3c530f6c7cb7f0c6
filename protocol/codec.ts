/**
 * Typed encode/decode of the two envelopes (client.proto Request/Response, peer.proto
 * PeerMessage). The mapping between peer.proto's RaftMessage and the Raft core's Message
 * is the broker's (broker/transport/raft-messages.ts): the wire knows nothing of the core.
 *
 * Zero-copy: every `bytes` field of a decoded message (a produce batch, fetched records,
 * Raft entries, snapshot data) is a view into the frame, and the frame usually is a view
 * into a socket chunk of up to 64 KiB. Holding on to a view keeps that whole chunk alive.
 * Whoever keeps bytes beyond handling the frame (an in-memory log, a cache) passes them
 * through `keepBytes` (a copy unless the view retains little else) or `copyBytes`.
 *
 * Encoding does not validate field types (protobufjs `verify` costs more than the encode);
 * pass the generated interfaces (through `Init`) and the compiler does that job.
 */
import type { ErrorInfo, Request, Response } from './client.schema.js';
import { errorFromWire, FlotillaError, wireCodeOf } from './errors.js';
import type { PeerMessage } from './peer.schema.js';
import { encodeChunks } from './chunked-encoder.js';
import { ClientRequestType, ClientResponseType, PeerMessageType, protobuf } from './protobuf.js';

export * as client from './client.schema.js';
export * as peer from './peer.schema.js';

/**
 * What an encoder accepts for a generated message type T: every field optional (absent
 * means the proto3 default), bytes as any Uint8Array, nested messages likewise.
 */
export type Init<T> = T extends Buffer
  ? Uint8Array
  : T extends readonly (infer U)[]
    ? Init<U>[]
    : T extends object
      ? { [K in keyof T]?: Init<T[K]> | null }
      : T;

/** Bumped when the client protocol changes incompatibly; brokers answer UNSUPPORTED_VERSION. */
export const CLIENT_API_VERSION = 1;
/** Sent in the peer Handshake; brokers refuse a peer with another version. */
export const PEER_PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------
// Envelopes

export function encodeRequest(request: Init<Request>): Buffer {
  return ClientRequestType.encode(request).finish() as Buffer;
}

/**
 * The same bytes as encodeRequest, as chunks for FrameWriter: large `bytes` values (a
 * produce batch) are chunks by reference, not copied (protocol/chunked-encoder.ts).
 */
export function encodeRequestChunks(request: Init<Request>): Uint8Array[] {
  return encodeChunks(ClientRequestType, request);
}

/**
 * Decodes one client request frame. Throws INVALID_REQUEST, with `details.correlationId`
 * when the frame starts with a readable correlation id (so the broker can answer it).
 */
export function decodeRequest(frame: Uint8Array): Request {
  return decode<Request>(ClientRequestType, frame, 'request');
}

export function encodeResponse(response: Init<Response>): Buffer {
  return ClientResponseType.encode(response).finish() as Buffer;
}

/** encodeResponse as chunks (fetched records by reference). */
export function encodeResponseChunks(response: Init<Response>): Uint8Array[] {
  return encodeChunks(ClientResponseType, response);
}

export function decodeResponse(frame: Uint8Array): Response {
  return decode<Response>(ClientResponseType, frame, 'response');
}

export function encodePeerMessage(message: Init<PeerMessage>): Buffer {
  return PeerMessageType.encode(message).finish() as Buffer;
}

/** Decodes one peer frame; throws INVALID_REQUEST when it is not a PeerMessage. */
export function decodePeerMessage(frame: Uint8Array): PeerMessage {
  return decode<PeerMessage>(PeerMessageType, frame, 'peer message');
}

function decode<T>(type: protobuf.Type, frame: Uint8Array, what: string): T {
  try {
    return type.decode(frame) as unknown as T;
  } catch (cause) {
    const correlationId = peekCorrelationId(frame);
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new FlotillaError('INVALID_REQUEST', `malformed ${what}: ${reason}`, correlationId === undefined ? {} : { correlationId }, { cause });
  }
}

/**
 * The correlation id of an envelope that may not decode as a whole: field 1 is encoded
 * first, so it is readable when the frame starts with its tag (0x08) and a sane varint.
 */
export function peekCorrelationId(frame: Uint8Array): number | undefined {
  if (frame.length < 2 || frame[0] !== 0x08) return undefined;
  let value = 0;
  for (let i = 1, scale = 1; i < frame.length && i <= 5; i++, scale *= 0x80) {
    const byte = frame[i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value <= 0xffff_ffff ? value : undefined;
  }
  return undefined;
}

/** Below this, `keepBytes` always copies: a smaller Buffer may be a slice of Node's shared pool. */
export const KEEP_WITHOUT_COPY_BYTES = 4096;

/**
 * Bytes of a decoded frame to keep beyond handling it (a batch for the log): the view itself
 * when that retains little else, else copyBytes. A view of at least 4 KiB whose ArrayBuffer
 * is at most twice its size is kept as is. Safe because nothing rewrites those bytes behind
 * us: a frame spanning socket chunks is assembled by length-prefixed-stream into an exactly
 * sized buffer of its own, and socket chunks are fresh allocations, never reused. Whoever
 * writes into the kept bytes (the Raft leader patches base offset and term) must stay
 * within them.
 */
export function keepBytes(bytes: Uint8Array): Buffer {
  if (bytes.length >= KEEP_WITHOUT_COPY_BYTES && bytes.buffer.byteLength <= 2 * bytes.length) {
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  return copyBytes(bytes);
}

/** A copy of `bytes` that does not keep the socket chunk it came from alive. */
export function copyBytes(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

// ---------------------------------------------------------------------------------------
// Errors on the wire

/** The wire form of an error (code 0 never appears: absence of ErrorInfo means success). */
export function toErrorInfo(error: FlotillaError): Init<ErrorInfo> {
  const info: Init<ErrorInfo> = { code: wireCodeOf(error), message: error.message };
  if (error.details.leaderId !== undefined) info.leaderId = error.details.leaderId;
  if (error.details.leaderAddress !== undefined) info.leaderAddress = error.details.leaderAddress;
  return info;
}

/** The FlotillaError an ErrorInfo stands for, or null when it is absent or code 0. */
export function fromErrorInfo(info: ErrorInfo | null | undefined): FlotillaError | null {
  if (!info || info.code === 0) return null;
  const details: { leaderId?: number; leaderAddress?: string } = {};
  if (info.leaderId) details.leaderId = info.leaderId;
  if (info.leaderAddress) details.leaderAddress = info.leaderAddress;
  return errorFromWire(info.code, info.message, details);
}
