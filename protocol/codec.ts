/**
 * Typed encode/decode of the two envelopes (client.proto Request/Response, peer.proto
 * PeerMessage) and the mapping between peer.proto's RaftMessage and the Raft core's
 * Message (broker/raft/types.ts).
 *
 * Zero-copy: every `bytes` field of a decoded message (a produce batch, fetched records,
 * Raft entries, snapshot data) is a view into the frame, and the frame usually is a view
 * into a socket chunk of up to 64 KiB. Holding on to a view keeps that whole chunk alive.
 * Whoever keeps bytes beyond handling the frame (an in-memory log, a cache) copies them
 * first: `copyBytes`, or `toRaftMessage(m, { copy: true })`.
 *
 * Encoding does not validate field types (protobufjs `verify` costs more than the encode);
 * pass the generated interfaces (through `Init`) and the compiler does that job.
 */
import type { Entry } from '../broker/raft/log.js';
import type { Message, MessageType as RaftMessageType, Snapshot as RaftSnapshot } from '../broker/raft/types.js';
import { HEADER_SIZE, LOG_OVERHEAD, MAGIC, Field, lastOffsetOf, termOf } from './batch.js';
import type { ErrorInfo, Request, Response } from './client.schema.js';
import { FlotillaError } from './errors.js';
import type { GroupHeartbeatResponse, Heartbeats, HeartbeatResponses, PeerMessage, RaftMessage } from './peer.schema.js';
import { MessageType } from './peer.schema.js';
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
 * Decodes one client request frame. Throws INVALID_REQUEST, with `details.correlationId`
 * when the frame starts with a readable correlation id (so the broker can answer it).
 */
export function decodeRequest(frame: Uint8Array): Request {
  return decode<Request>(ClientRequestType, frame, 'request');
}

export function encodeResponse(response: Init<Response>): Buffer {
  return ClientResponseType.encode(response).finish() as Buffer;
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
  const info: Init<ErrorInfo> = { code: error.wireCode, message: error.message };
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
  return FlotillaError.fromWire(info.code, info.message, details);
}

// ---------------------------------------------------------------------------------------
// Raft messages

const typeToWire: Record<RaftMessageType, MessageType> = {
  preVote: MessageType.PRE_VOTE,
  preVoteResp: MessageType.PRE_VOTE_RESP,
  vote: MessageType.VOTE,
  voteResp: MessageType.VOTE_RESP,
  append: MessageType.APPEND,
  appendResp: MessageType.APPEND_RESP,
  heartbeat: MessageType.HEARTBEAT,
  heartbeatResp: MessageType.HEARTBEAT_RESP,
  snapshot: MessageType.SNAPSHOT,
  timeoutNow: MessageType.TIMEOUT_NOW,
};

const typeFromWire = new Map<number, RaftMessageType>(
  (Object.entries(typeToWire) as Array<[RaftMessageType, MessageType]>).map(([name, wire]) => [wire, name]),
);

/** The peer.proto form of a core message addressed to `group`. Entries travel as their bytes. */
export function fromRaftMessage(group: number, message: Message): Init<RaftMessage> {
  const wire: Init<RaftMessage> = {
    group,
    type: typeToWire[message.type],
    from: message.from,
    to: message.to,
    term: message.term,
  };
  if (message.lastIndex !== undefined) wire.lastIndex = message.lastIndex;
  if (message.lastTerm !== undefined) wire.lastTerm = message.lastTerm;
  if (message.prevIndex !== undefined) wire.prevIndex = message.prevIndex;
  if (message.prevTerm !== undefined) wire.prevTerm = message.prevTerm;
  if (message.entries !== undefined) {
    wire.hasEntries = true;
    wire.entries = message.entries.map((entry) => entry.data);
  }
  if (message.commit !== undefined) wire.commit = message.commit;
  if (message.reject !== undefined) wire.reject = message.reject;
  if (message.index !== undefined) wire.index = message.index;
  if (message.rejectHint !== undefined) wire.rejectHint = message.rejectHint;
  if (message.conflictTerm !== undefined) wire.conflictTerm = message.conflictTerm;
  if (message.snapshot !== undefined) wire.snapshot = message.snapshot;
  if (message.transfer !== undefined) wire.transfer = message.transfer;
  return wire;
}

export interface ToRaftOptions {
  /** Copy entry and snapshot bytes out of the frame (for callers that keep them in memory). */
  copy?: boolean;
}

/**
 * The core message carried by a decoded RaftMessage, and its group. Each entry's index and
 * term come from its batch header. Throws INVALID_REQUEST for an unknown message type and
 * CORRUPT_BATCH for an entry whose header does not hold together (the CRC is the storage
 * layer's check, not repeated here).
 */
export function toRaftMessage(wire: RaftMessage, options: ToRaftOptions = {}): { group: number; message: Message } {
  const type = typeFromWire.get(wire.type);
  if (type === undefined) throw new FlotillaError('INVALID_REQUEST', `unknown Raft message type ${wire.type}`);
  const message: Message = { type, from: wire.from, to: wire.to, term: wire.term };
  if (wire.lastIndex != null) message.lastIndex = wire.lastIndex;
  if (wire.lastTerm != null) message.lastTerm = wire.lastTerm;
  if (wire.prevIndex != null) message.prevIndex = wire.prevIndex;
  if (wire.prevTerm != null) message.prevTerm = wire.prevTerm;
  if (wire.hasEntries) message.entries = wire.entries.map((data) => toEntry(options.copy ? copyBytes(data) : data));
  if (wire.commit != null) message.commit = wire.commit;
  if (wire.reject != null) message.reject = wire.reject;
  if (wire.index != null) message.index = wire.index;
  if (wire.rejectHint != null) message.rejectHint = wire.rejectHint;
  if (wire.conflictTerm != null) message.conflictTerm = wire.conflictTerm;
  if (wire.transfer != null) message.transfer = wire.transfer;
  if (wire.snapshot != null) {
    const s = wire.snapshot;
    const snapshot: RaftSnapshot = {
      index: s.index,
      term: s.term,
      voters: [...s.voters],
      learners: [...s.learners],
      data: options.copy ? copyBytes(s.data) : s.data,
    };
    message.snapshot = snapshot;
  }
  return { group: wire.group, message };
}

function toEntry(data: Buffer): Entry {
  if (data.length < HEADER_SIZE || data.readInt32BE(Field.batchLength) + LOG_OVERHEAD !== data.length || data[Field.magic] !== MAGIC) {
    throw new FlotillaError('CORRUPT_BATCH', `Raft entry of ${data.length} bytes is not one record batch`);
  }
  return { index: lastOffsetOf(data), term: termOf(data), data };
}

/** One core heartbeat message per group of a coalesced Heartbeats message. */
export function expandHeartbeats(beats: Heartbeats): Array<{ group: number; message: Message; quiesce?: boolean }> {
  return beats.heartbeats.map((beat) => ({
    group: beat.group,
    message: { type: 'heartbeat', from: beats.from, to: beats.to, term: beat.term, commit: beat.commit },
    ...(beat.quiesce ? { quiesce: true } : {}),
  }));
}

/** One core heartbeatResp message per group of a coalesced HeartbeatResponses message. */
export function expandHeartbeatResponses(responses: HeartbeatResponses): Array<{ group: number; message: Message }> {
  return responses.responses.map((r: GroupHeartbeatResponse) => {
    const message: Message = { type: 'heartbeatResp', from: responses.from, to: responses.to, term: r.term };
    if (r.reject != null) message.reject = r.reject;
    if (r.index != null) message.index = r.index;
    return { group: r.group, message };
  });
}

/**
 * Coalesces outgoing core heartbeat/heartbeatResp messages (all to one peer) into the
 * peer envelopes that carry them; other message types are returned untouched in `rest`.
 */
export function coalesceHeartbeats(
  outgoing: ReadonlyArray<{ group: number; message: Message; quiesce?: boolean }>,
): { heartbeats: Init<Heartbeats> | null; responses: Init<HeartbeatResponses> | null; rest: Array<{ group: number; message: Message }> } {
  let heartbeats: Init<Heartbeats> | null = null;
  let responses: Init<HeartbeatResponses> | null = null;
  const rest: Array<{ group: number; message: Message }> = [];
  for (const item of outgoing) {
    const { group, message: m } = item;
    if (m.type === 'heartbeat') {
      heartbeats ??= { from: m.from, to: m.to, heartbeats: [] };
      heartbeats.heartbeats!.push({ group, term: m.term, commit: m.commit ?? 0, ...(item.quiesce ? { quiesce: true } : {}) });
    } else if (m.type === 'heartbeatResp') {
      responses ??= { from: m.from, to: m.to, responses: [] };
      const r: Init<GroupHeartbeatResponse> = { group, term: m.term };
      if (m.reject !== undefined) r.reject = m.reject;
      if (m.index !== undefined) r.index = m.index;
      responses.responses!.push(r);
    } else {
      rest.push({ group, message: m });
    }
  }
  return { heartbeats, responses, rest };
}
