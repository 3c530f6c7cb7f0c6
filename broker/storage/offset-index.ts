/**
 * The sparse offset index of one segment: every ~indexIntervalBytes of log, one entry that
 * maps a batch's base offset (relative to the segment's base offset) to its byte position.
 *
 * File format (`<base>.index`): 8-byte entries, big-endian uint32 relative offset, uint32
 * position. The file is a hint, never fsynced: on load it is validated and a bad tail is
 * dropped (or the whole index rebuilt from the segment), so a crash can only cost a scan.
 */

export const INDEX_ENTRY_SIZE = 8;

export class OffsetIndex {
  /** Invariant: relOffsets and positions strictly increase over [0, count). */
  private rel: Uint32Array;
  private pos: Uint32Array;
  count = 0;

  constructor(capacity = 8) {
    this.rel = new Uint32Array(capacity);
    this.pos = new Uint32Array(capacity);
  }

  /** Bytes held, for the index cache's budget. */
  get byteSize(): number {
    return this.rel.byteLength * 2 + 64;
  }

  add(relOffset: number, position: number): void {
    if (this.count > 0 && (relOffset <= this.rel[this.count - 1]! || position <= this.pos[this.count - 1]!)) return;
    if (this.count === this.rel.length) {
      const rel = new Uint32Array(this.count * 2);
      const pos = new Uint32Array(this.count * 2);
      rel.set(this.rel);
      pos.set(this.pos);
      this.rel = rel;
      this.pos = pos;
    }
    this.rel[this.count] = relOffset;
    this.pos[this.count] = position;
    this.count++;
  }

  relOffsetAt(i: number): number {
    return this.rel[i]!;
  }

  positionAt(i: number): number {
    return this.pos[i]!;
  }

  /** The entry with the greatest relative offset <= `relOffset`, or undefined when none. */
  floor(relOffset: number): { relOffset: number; position: number } | undefined {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.rel[mid]! <= relOffset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? undefined : { relOffset: this.rel[found]!, position: this.pos[found]! };
  }

  /** Drops entries at or past `position` (after a truncation). */
  truncateToPosition(position: number): void {
    while (this.count > 0 && this.pos[this.count - 1]! >= position) this.count--;
  }

  /**
   * Parses an index file's bytes, keeping the longest valid prefix: whole entries, strictly
   * increasing, positions inside the segment's `segmentSize` bytes.
   * Returns the index and whether anything had to be dropped.
   */
  static decode(bytes: Buffer, segmentSize: number): { index: OffsetIndex; damaged: boolean } {
    const whole = Math.floor(bytes.length / INDEX_ENTRY_SIZE);
    const index = new OffsetIndex(Math.max(8, whole));
    let damaged = bytes.length % INDEX_ENTRY_SIZE !== 0;
    for (let i = 0; i < whole; i++) {
      const rel = bytes.readUInt32BE(i * INDEX_ENTRY_SIZE);
      const pos = bytes.readUInt32BE(i * INDEX_ENTRY_SIZE + 4);
      const last = index.count - 1;
      const ordered = last < 0 ? true : rel > index.rel[last]! && pos > index.pos[last]!;
      if (!ordered || pos >= segmentSize) {
        damaged = true;
        break;
      }
      index.add(rel, pos);
    }
    return { index, damaged };
  }

  encodeRange(from: number, to = this.count): Buffer {
    const out = Buffer.allocUnsafe((to - from) * INDEX_ENTRY_SIZE);
    for (let i = from; i < to; i++) {
      out.writeUInt32BE(this.rel[i]!, (i - from) * INDEX_ENTRY_SIZE);
      out.writeUInt32BE(this.pos[i]!, (i - from) * INDEX_ENTRY_SIZE + 4);
    }
    return out;
  }
}
