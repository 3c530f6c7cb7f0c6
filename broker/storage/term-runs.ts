/**
 * The term index of one log: runs of (startOffset, term), one per term that has entries,
 * so termAt() never touches the disk.
 *
 * Invariant: runs[0] is the log-start boundary, starting at firstIndex - 1 with the term of
 * the entry just before the log start (0 for a new log); later runs start at the base
 * offset of the first batch of their term; starts and terms strictly increase.
 *
 * File format (`terms`): 16-byte records, big-endian int64 start, uint32 term, uint32
 * CRC32C of the first 12 bytes. A new term appends one record; truncation cuts records;
 * moving the log start rewrites the file atomically. Loading keeps the longest valid prefix.
 */
import { crc32c } from '@node-rs/crc32';
import { readInt64, writeInt64 } from '../../protocol/batch.js';

export const TERM_RECORD_SIZE = 16;

export interface TermRun {
  start: number;
  term: number;
}

export class TermRuns {
  runs: TermRun[];

  constructor(boundaryOffset: number, boundaryTerm: number) {
    this.runs = [{ start: boundaryOffset, term: boundaryTerm }];
  }

  get boundary(): TermRun {
    return this.runs[0]!;
  }

  get last(): TermRun {
    return this.runs[this.runs.length - 1]!;
  }

  /** Term of the run covering `offset`; the caller checks the offset is inside the log. */
  termAt(offset: number): number | undefined {
    const runs = this.runs;
    if (offset < runs[0]!.start) return undefined;
    // Most lookups are for recent offsets: check the last run first.
    const last = runs[runs.length - 1]!;
    if (offset >= last.start) return last.term;
    let lo = 0;
    let hi = runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (runs[mid]!.start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return runs[lo]!.term;
  }

  /** Records that a batch starting at `start` has `term`; returns the new run if it starts one. */
  noteBatch(start: number, term: number): TermRun | undefined {
    if (term === this.last.term) return undefined;
    const run = { start, term };
    this.runs.push(run);
    return run;
  }

  /** Drops runs that start after `offset` (never the boundary run); returns how many remain. */
  truncateAfter(offset: number): number {
    while (this.runs.length > 1 && this.last.start > offset) this.runs.pop();
    return this.runs.length;
  }

  /** Moves the boundary to `newBoundary` (= new firstIndex - 1), dropping runs wholly before it. */
  moveBoundary(newBoundary: number): void {
    const term = this.termAt(newBoundary);
    if (term === undefined) return;
    let firstKept = 0;
    while (firstKept + 1 < this.runs.length && this.runs[firstKept + 1]!.start <= newBoundary) firstKept++;
    this.runs = [{ start: newBoundary, term }, ...this.runs.slice(firstKept + 1)];
  }

  static encodeRun(run: TermRun): Buffer {
    const out = Buffer.allocUnsafe(TERM_RECORD_SIZE);
    writeInt64(out, 0, run.start);
    out.writeUInt32BE(run.term, 8);
    out.writeUInt32BE(crc32c(out.subarray(0, 12)), 12);
    return out;
  }

  encode(): Buffer {
    return Buffer.concat(this.runs.map((run) => TermRuns.encodeRun(run)));
  }

  /** Parses a terms file; undefined when not even the boundary record is valid. */
  static decode(bytes: Buffer): { runs: TermRuns; damaged: boolean } | undefined {
    const parsed: TermRun[] = [];
    let damaged = bytes.length % TERM_RECORD_SIZE !== 0;
    for (let at = 0; at + TERM_RECORD_SIZE <= bytes.length; at += TERM_RECORD_SIZE) {
      const crcOk = crc32c(bytes.subarray(at, at + 12)) === bytes.readUInt32BE(at + 12);
      const run = { start: readInt64(bytes, at), term: bytes.readUInt32BE(at + 8) };
      const prev = parsed[parsed.length - 1];
      if (!crcOk || (prev && (run.start <= prev.start || run.term <= prev.term))) {
        damaged = true;
        break;
      }
      parsed.push(run);
    }
    if (parsed.length === 0) return undefined;
    const runs = new TermRuns(parsed[0]!.start, parsed[0]!.term);
    runs.runs = parsed;
    return { runs, damaged };
  }
}
