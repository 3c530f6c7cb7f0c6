/**
 * The mapping between peer.proto's RaftMessage (and its coalesced heartbeats) and the Raft
 * core's Message. Entries travel as their batch bytes; each entry's index and term are
 * read back from its batch header.
 *
 * Decoded bytes are views into the frame (see protocol/codec.ts); `toRaftMessage(m,
 * { copy: true })` passes them through keepBytes for callers that keep them: copied unless
 * the view retains little else (an entry alone in a frame assembled from socket chunks).
 * The Raft core patches offset and term only on the leader's own proposals, within a
 * batch's bytes, so a kept view is never written behind the frame's back.
 */
import { HEADER_SIZE, LOG_OVERHEAD, Field, crcMatches, isKnownMagic, lastOffsetOf, termOf } from '../../protocol/batch.js';
import { keepBytes, type Init } from '../../protocol/codec.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { GroupHeartbeatResponse, Heartbeats, HeartbeatResponses, RaftMessage } from '../../protocol/peer.schema.js';
import { MessageType } from '../../protocol/peer.schema.js';
import type { Entry } from '../raft/log.js';
import type { Message, MessageType as RaftMessageType, Snapshot as RaftSnapshot } from '../raft/types.js';

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
  /** Entry and snapshot bytes are kept in memory: keepBytes them (a copy unless the view retains little else). */
  copy?: boolean;
  /**
   * Check each entry's CRC32C. Entries from a peer are checked here, once, as they enter
   * the broker: the log then keeps them in its tail cache and serves them without
   * another pass (storage/tail-cache.ts).
   */
  verify?: boolean;
}

/**
 * The core message carried by a decoded RaftMessage, and its group. Each entry's index and
 * term come from its batch header. Throws INVALID_REQUEST for an unknown message type and
 * CORRUPT_BATCH for an entry whose header does not hold together (or, with `verify`, whose
 * CRC does not match).
 */
export function toRaftMessage(wire: RaftMessage, options: ToRaftOptions = {}): { group: number; message: Message } {
  const type = typeFromWire.get(wire.type);
  if (type === undefined) throw new FlotillaError('INVALID_REQUEST', `unknown Raft message type ${wire.type}`);
  const message: Message = { type, from: wire.from, to: wire.to, term: wire.term };
  if (wire.lastIndex != null) message.lastIndex = wire.lastIndex;
  if (wire.lastTerm != null) message.lastTerm = wire.lastTerm;
  if (wire.prevIndex != null) message.prevIndex = wire.prevIndex;
  if (wire.prevTerm != null) message.prevTerm = wire.prevTerm;
  if (wire.hasEntries) message.entries = wire.entries.map((data) => toEntry(options.copy ? keepBytes(data) : data, options.verify ?? false));
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
      data: options.copy ? keepBytes(s.data) : s.data,
    };
    message.snapshot = snapshot;
  }
  return { group: wire.group, message };
}

function toEntry(data: Buffer, verify: boolean): Entry {
  if (data.length < HEADER_SIZE || data.readInt32BE(Field.batchLength) + LOG_OVERHEAD !== data.length || !isKnownMagic(data.readInt8(Field.magic))) {
    throw new FlotillaError('CORRUPT_BATCH', `Raft entry of ${data.length} bytes is not one record batch`);
  }
  if (verify && !crcMatches(data, 0, data.length)) {
    throw new FlotillaError('CORRUPT_BATCH', `Raft entry ending at offset ${lastOffsetOf(data)} fails its CRC32C check`);
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
