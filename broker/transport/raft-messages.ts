/**
 * The mapping between peer.proto's RaftMessage (and its coalesced heartbeats) and the Raft
 * core's Message. Entries travel as their batch bytes; each entry's index and term are
 * read back from its batch header. Core messages are encoded straight into a frame's bytes
 * (encodeRaftMessages); frames are decoded by protobufjs and mapped back (toRaftMessage).
 *
 * Decoded bytes are views into the frame (see protocol/codec.ts); `toRaftMessage(m,
 * { copy: true })` passes them through keepBytes for callers that keep them: copied unless
 * the view retains little else (an entry alone in a frame assembled from socket chunks).
 * The Raft core patches offset and term only on the leader's own proposals, within a
 * batch's bytes, so a kept view is never written behind the frame's back.
 */
import { HEADER_SIZE, LOG_OVERHEAD, Field, crcMatches, isKnownMagic, lastOffsetOf, termOf } from '../../protocol/batch.js';
import { ChunkWriter, Sizes, bytesSize, int64Size, varint32Size } from '../../protocol/chunked-encoder.js';
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

/**
 * The PeerMessage frame `{ raft: { messages } }` carrying `items`, as chunks for FrameWriter
 * (large entries by reference): byte for byte what protobufjs writes for the
 * same messages in peer.proto's form, without building that object and walking peer.proto's
 * reflection field by field (the generic encoder in protocol/chunked-encoder.ts). Every
 * append and its answer takes this path, so it is written out by hand; the tests hold it to
 * protobufjs's bytes.
 */
export function encodeRaftMessages(items: ReadonlyArray<{ group: number; message: Message }>): Uint8Array[] {
  const sizes = new Sizes();
  sizes.lengths.push(0); // RaftMessages
  let listBytes = 0;
  for (const { group, message } of items) {
    const slot = sizes.lengths.push(0) - 1;
    const size = raftMessageSize(group, message, sizes);
    sizes.lengths[slot] = size;
    listBytes += 1 + varint32Size(size) + size;
  }
  sizes.lengths[0] = listBytes;
  const total = 1 + varint32Size(listBytes) + listBytes;
  const out = new ChunkWriter(total - sizes.largeBytes, sizes.lengths);
  out.varint32(KEY.peerMessageRaft);
  out.varint32(out.takeLength());
  for (const { group, message } of items) {
    out.varint32(KEY.raftMessagesMessages);
    out.varint32(out.takeLength());
    writeRaftMessage(group, message, out);
  }
  return out.finish();
}

/** Field keys (field id << 3 | wire type) of peer.proto, as varint values. */
const KEY = {
  peerMessageRaft: (3 << 3) | 2,
  raftMessagesMessages: (1 << 3) | 2,
  group: 1 << 3,
  type: 2 << 3,
  from: 3 << 3,
  to: 4 << 3,
  term: 5 << 3,
  lastIndex: 6 << 3,
  lastTerm: 7 << 3,
  prevIndex: 8 << 3,
  prevTerm: 9 << 3,
  entries: (10 << 3) | 2,
  commit: 11 << 3,
  reject: 12 << 3,
  index: 13 << 3,
  rejectHint: 14 << 3,
  conflictTerm: 15 << 3,
  snapshot: (16 << 3) | 2,
  hasEntries: 17 << 3,
  transfer: 18 << 3,
  snapshotIndex: 1 << 3,
  snapshotTerm: 2 << 3,
  snapshotVoters: (3 << 3) | 2,
  snapshotLearners: (4 << 3) | 2,
  snapshotData: (5 << 3) | 2,
} as const;

/** Keys from field 16 on take two varint bytes. */
const keySize = (key: number): number => (key < 0x80 ? 1 : 2);

/**
 * Pass 1 for one RaftMessage: its size, pushing the lengths pass 2 needs (its snapshot's) in
 * write order. Implicit-presence fields (group, type, from, to, term, has_entries) are left
 * out at their defaults, optional ones whenever set: as protobufjs does.
 */
function raftMessageSize(group: number, m: Message, sizes: Sizes): number {
  let size = 0;
  if (group !== 0) size += 1 + varint32Size(group >>> 0);
  size += 1 + varint32Size(typeToWire[m.type]);
  if (m.from !== 0) size += 1 + varint32Size(m.from >>> 0);
  if (m.to !== 0) size += 1 + varint32Size(m.to >>> 0);
  if (m.term !== 0) size += 1 + varint32Size(m.term >>> 0);
  if (m.lastIndex !== undefined) size += 1 + int64Size(m.lastIndex);
  if (m.lastTerm !== undefined) size += 1 + varint32Size(m.lastTerm >>> 0);
  if (m.prevIndex !== undefined) size += 1 + int64Size(m.prevIndex);
  if (m.prevTerm !== undefined) size += 1 + varint32Size(m.prevTerm >>> 0);
  if (m.entries !== undefined) {
    for (const entry of m.entries) size += 1 + bytesSize(entry.data, sizes);
    size += keySize(KEY.hasEntries) + 1;
  }
  if (m.commit !== undefined) size += 1 + int64Size(m.commit);
  if (m.reject !== undefined) size += 2;
  if (m.index !== undefined) size += 1 + int64Size(m.index);
  if (m.rejectHint !== undefined) size += 1 + int64Size(m.rejectHint);
  if (m.conflictTerm !== undefined) size += 1 + varint32Size(m.conflictTerm >>> 0);
  if (m.snapshot !== undefined) {
    const slot = sizes.lengths.push(0) - 1;
    const length = snapshotSize(m.snapshot, sizes);
    sizes.lengths[slot] = length;
    size += keySize(KEY.snapshot) + varint32Size(length) + length;
  }
  if (m.transfer !== undefined) size += keySize(KEY.transfer) + 1;
  return size;
}

function snapshotSize(s: RaftSnapshot, sizes: Sizes): number {
  let size = 0;
  if (s.index !== 0) size += 1 + int64Size(s.index);
  if (s.term !== 0) size += 1 + varint32Size(s.term >>> 0);
  for (const ids of [s.voters, s.learners]) {
    if (ids.length === 0) continue;
    let length = 0;
    for (const id of ids) length += varint32Size(id >>> 0);
    sizes.lengths.push(length);
    size += 1 + varint32Size(length) + length;
  }
  if (s.data.length > 0) size += 1 + bytesSize(s.data, sizes);
  return size;
}

/** Pass 2 for one RaftMessage: fields in id order, as raftMessageSize counted them. */
function writeRaftMessage(group: number, m: Message, out: ChunkWriter): void {
  if (group !== 0) uint32(out, KEY.group, group);
  uint32(out, KEY.type, typeToWire[m.type]);
  if (m.from !== 0) uint32(out, KEY.from, m.from);
  if (m.to !== 0) uint32(out, KEY.to, m.to);
  if (m.term !== 0) uint32(out, KEY.term, m.term);
  if (m.lastIndex !== undefined) int64(out, KEY.lastIndex, m.lastIndex);
  if (m.lastTerm !== undefined) uint32(out, KEY.lastTerm, m.lastTerm);
  if (m.prevIndex !== undefined) int64(out, KEY.prevIndex, m.prevIndex);
  if (m.prevTerm !== undefined) uint32(out, KEY.prevTerm, m.prevTerm);
  if (m.entries !== undefined) {
    for (const entry of m.entries) {
      out.varint32(KEY.entries);
      out.bytes(entry.data);
    }
  }
  if (m.commit !== undefined) int64(out, KEY.commit, m.commit);
  if (m.reject !== undefined) bool(out, KEY.reject, m.reject);
  if (m.index !== undefined) int64(out, KEY.index, m.index);
  if (m.rejectHint !== undefined) int64(out, KEY.rejectHint, m.rejectHint);
  if (m.conflictTerm !== undefined) uint32(out, KEY.conflictTerm, m.conflictTerm);
  if (m.snapshot !== undefined) {
    const s = m.snapshot;
    out.varint32(KEY.snapshot);
    out.varint32(out.takeLength());
    if (s.index !== 0) int64(out, KEY.snapshotIndex, s.index);
    if (s.term !== 0) uint32(out, KEY.snapshotTerm, s.term);
    if (s.voters.length > 0) packedUint32(out, KEY.snapshotVoters, s.voters);
    if (s.learners.length > 0) packedUint32(out, KEY.snapshotLearners, s.learners);
    if (s.data.length > 0) {
      out.varint32(KEY.snapshotData);
      out.bytes(s.data);
    }
  }
  if (m.entries !== undefined) bool(out, KEY.hasEntries, true);
  if (m.transfer !== undefined) bool(out, KEY.transfer, m.transfer);
}

function uint32(out: ChunkWriter, key: number, value: number): void {
  out.varint32(key);
  out.varint32(value >>> 0);
}

function int64(out: ChunkWriter, key: number, value: number): void {
  out.varint32(key);
  out.int64(value);
}

function bool(out: ChunkWriter, key: number, value: boolean): void {
  out.varint32(key);
  out.bool(value);
}

function packedUint32(out: ChunkWriter, key: number, values: readonly number[]): void {
  out.varint32(key);
  out.varint32(out.takeLength());
  for (const value of values) out.varint32(value >>> 0);
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
