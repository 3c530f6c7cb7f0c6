/**
 * A peer message larger than one frame (in practice a metadata snapshot over
 * --max-frame-bytes) travels as RaftFramePart frames on one connection, as etcd streams a
 * snapshot apart from its Raft messages; the Raft core still sends and receives it as one
 * message. A connection carries one such message at a time, its parts in order between the
 * connection's other frames (the sender paces them, so those are never dropped behind a
 * full socket, though they may queue behind a few parts); anything out of sequence
 * discards the message (Raft sends a snapshot again when it goes unanswered).
 */
import type { RaftFramePart } from '../../protocol/peer.schema.js';

/** Room a part's envelope (PeerMessage.raft_part and its three numbers) takes beside its data. */
export const PART_OVERHEAD_BYTES = 64;

/**
 * The largest message a broker joins from parts, in frames of its --max-frame-bytes (1 GiB
 * at the default 16 MiB); also the most it holds for joining on all its peer connections
 * together (JoinBudget), so that peers cannot make it hold more than that.
 */
export const MAX_PARTS = 64;

/**
 * A message that got no part for this long is given up, its bytes freed for other
 * connections: its sender may have died without closing the connection (inbound peer
 * connections have no idle timeout), and a paced part takes seconds only on a slow link.
 */
export const JOIN_IDLE_MS = 30_000;

/** The data of each part of `whole` for frames of at most `maxFrameBytes` (views, not copies). */
export function cutIntoParts(whole: Buffer, maxFrameBytes: number): Buffer[] {
  const partBytes = maxFrameBytes - PART_OVERHEAD_BYTES;
  const parts: Buffer[] = [];
  for (let at = 0; at < whole.length; at += partBytes) parts.push(whole.subarray(at, at + partBytes));
  return parts;
}

/** What the joiners of one broker hold together: the announced sizes of the messages being joined. */
export class JoinBudget {
  private readonly holders = new Map<PartJoiner, { bytes: number; lastPartAt: number }>();

  constructor(
    readonly limit: number,
    readonly now: () => number = Date.now,
  ) {}

  get used(): number {
    let bytes = 0;
    for (const holder of this.holders.values()) bytes += holder.bytes;
    return bytes;
  }

  /**
   * Reserves `bytes` for `joiner`'s new message, after giving up messages that got no part
   * for JOIN_IDLE_MS; otherwise why it does not fit.
   */
  reserve(joiner: PartJoiner, bytes: number): string {
    const now = this.now();
    for (const [idle, { lastPartAt }] of this.holders) {
      if (now - lastPartAt >= JOIN_IDLE_MS) idle.giveUp(`no part came for ${JOIN_IDLE_MS / 1000} s: given up to free its bytes`);
    }
    const used = this.used;
    if (used + bytes > this.limit) return `a message of ${bytes} bytes does not fit beside the ${used} bytes being joined from other connections (at most ${this.limit} together)`;
    this.holders.set(joiner, { bytes, lastPartAt: now });
    return '';
  }

  touch(joiner: PartJoiner): void {
    const holder = this.holders.get(joiner);
    if (holder) holder.lastPartAt = this.now();
  }

  release(joiner: PartJoiner): void {
    this.holders.delete(joiner);
  }
}

export type JoinOutcome = { whole: Buffer } | { discarded: string } | null;

/** Joins the parts of one connection; one message at a time. */
export class PartJoiner {
  /** The message being joined, allocated at its announced size (null: none), and how much of it came. */
  private whole: Buffer | null = null;
  private filled = 0;
  private parts = 0;
  private nextPart = 0;
  /** The rest of a discarded message go unread. */
  private skipping = false;
  /** Why the budget gave up the message being joined, told with its next part. */
  private givenUp = '';

  constructor(
    private readonly maxFrameBytes: number,
    private readonly budget: JoinBudget,
  ) {}

  /**
   * The whole message once its last part is in; why a message was given up (once per
   * message: its remaining parts are dropped quietly); or null while parts are missing.
   */
  add(part: RaftFramePart): JoinOutcome {
    if (part.part === 0) {
      this.reset();
      const refusal = this.refusal(part) || this.budget.reserve(this, part.totalBytes);
      if (refusal) return this.discard(refusal);
      this.whole = Buffer.allocUnsafe(part.totalBytes);
      this.parts = part.parts;
    } else if (this.givenUp) {
      const why = this.givenUp;
      this.givenUp = '';
      return { discarded: why };
    } else if (this.skipping) {
      return null;
    } else if (!this.whole || part.part !== this.nextPart || part.parts !== this.parts || part.totalBytes !== this.whole.length) {
      const due = this.whole ? `part ${this.nextPart} of ${this.parts}` : 'a first part';
      return this.discard(`part ${part.part} of ${part.parts} arrived where ${due} was due`);
    }
    const whole = this.whole!;
    this.budget.touch(this);
    if (this.filled + part.data.length > whole.length) return this.discard(`the parts carry more than the ${whole.length} bytes they announced`);
    // A copy: the data is a view into a socket chunk, which the whole need not keep alive.
    this.filled += part.data.copy(whole, this.filled);
    if (++this.nextPart < this.parts) return null;
    if (this.filled < whole.length) return this.discard(`the parts carry fewer than the ${whole.length} bytes they announced`);
    this.reset();
    return { whole };
  }

  /** Lets go of the message being joined (its connection closed, say). */
  reset(): void {
    this.budget.release(this);
    this.whole = null;
    this.filled = 0;
    this.parts = 0;
    this.nextPart = 0;
    this.skipping = false;
    this.givenUp = '';
  }

  /** The budget takes the message's bytes back; its remaining parts are dropped (`why` told with the next). */
  giveUp(why: string): void {
    this.reset();
    this.skipping = true;
    this.givenUp = why;
  }

  private discard(why: string): JoinOutcome {
    this.giveUp('');
    return { discarded: why };
  }

  /** Why a message announced by its first part is not joined; empty when it is. */
  private refusal(first: RaftFramePart): string {
    if (first.parts < 2) return `a message of ${first.parts} part(s) is not a split message`;
    if (first.parts > MAX_PARTS) return `a message of ${first.parts} parts is over the ${MAX_PARTS} a broker joins`;
    if (first.totalBytes > MAX_PARTS * this.maxFrameBytes) return `a message of ${first.totalBytes} bytes is over ${MAX_PARTS} frames of --max-frame-bytes ${this.maxFrameBytes}`;
    return '';
  }
}
