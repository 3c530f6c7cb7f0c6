/**
 * The segmented log of one partition replica, and its Raft log (RaftLog in broker/raft/log.ts).
 *
 * Directory layout: `<base>.log` segments (base offset in 20 digits), a sparse `<base>.index`
 * beside each, and `terms` (the term runs, whose first record is the log-start boundary).
 *
 * Invariants:
 * - segments are sorted by base offset and contiguous: each starts at the previous one's
 *   nextOffset; the last one is active and takes every append;
 * - firstIndex() = logStart >= segments[0].baseOffset; lastIndex() = active.nextOffset - 1;
 * - the term runs answer termAt() for [firstIndex() - 1, lastIndex()] from memory; the
 *   `terms` file is brought up to date by flush() and checked against the batches at open;
 * - durableIndex() <= lastIndex(), and every offset up to it was fdatasynced (segments,
 *   terms file and, after files were created or removed, the directory).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  Field,
  HEADER_SIZE,
  baseOffsetOf,
  batchSizeAt,
  crcMatches,
  isControlBatch,
  lastOffsetOf,
  readInt64,
  records,
  recordsReadable,
  termOf,
} from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { Entry, RaftLog } from '../raft/log.js';
import { settleAll } from '../settle.js';
import { CoalescedRun } from './coalesced-run.js';
import { isLogCorruption, type LogCorruption } from './corruption.js';
import { isRefusal, storageError, writeError } from './files.js';
import {
  SEGMENT_NAME,
  Segment,
  batchHeaderProblem,
  createResources,
  indexFileName,
  runAsync,
  runSync,
  type BatchLocation,
  type ReadStep,
  type ReadSteps,
  type ScanResult,
  type StorageResources,
} from './segment.js';
import type { LogTail } from './tail-cache.js';
import { TERM_RECORD_SIZE, TermRuns } from './term-runs.js';

/** Present while the replica is catching up on entries it cut as corrupt (see `lostEntries`). */
export const LOST_ENTRIES_FILE = 'lost-entries';

/** What scrubbing one sealed segment found (see `verifySegment`). */
export type SegmentCheck = { outcome: 'clean' } | { outcome: 'corrupt'; error: LogCorruption } | { outcome: 'gone' };

/** A record found by its timestamp (see `offsetForTimestamp`). */
export interface TimestampedOffset {
  offset: number;
  timestamp: number;
}

/** Lookups by timestamp tried again when retention or a truncation changed the log under them. */
const TIMESTAMP_LOOKUP_ATTEMPTS = 3;

export interface PartitionLogOptions {
  /** Roll to a new segment before one would exceed this size (bytes). */
  segmentBytes: number;
  /** Roll a non-empty active segment older than this (ms since it started taking appends). */
  segmentMs: number;
  /** Retention: delete the oldest segments while the log is larger than this; -1 = no limit. */
  retentionBytes: number;
  /** Retention: delete segments whose newest batch maxTimestamp is older than this; -1 = forever. */
  retentionMs: number;
  /** One index entry per this many bytes of log. */
  indexIntervalBytes: number;
  /** Clock for segment age (ms). */
  now: () => number;
}

export const defaultLogOptions: PartitionLogOptions = {
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  retentionMs: 7 * 24 * 3600 * 1000,
  indexIntervalBytes: 4096,
  now: Date.now,
};

/** Index positions are uint32, so a segment stays below 2 GiB. */
const MAX_SEGMENT_BYTES = 0x7fff_ffff;

export function validateLogOptions(options: Partial<PartitionLogOptions> = {}): PartitionLogOptions {
  const merged: PartitionLogOptions = { ...defaultLogOptions };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  const bad = (why: string): never => {
    throw new FlotillaError('INVALID_CONFIG', `storage: ${why}`);
  };
  if (!Number.isInteger(merged.segmentBytes) || merged.segmentBytes < HEADER_SIZE || merged.segmentBytes > MAX_SEGMENT_BYTES) {
    bad(`segmentBytes ${merged.segmentBytes} must be an integer in [${HEADER_SIZE}, ${MAX_SEGMENT_BYTES}]`);
  }
  if (!(merged.segmentMs > 0)) bad(`segmentMs ${merged.segmentMs} must be > 0`);
  if (!Number.isInteger(merged.retentionBytes) || merged.retentionBytes < -1) bad(`retentionBytes ${merged.retentionBytes} must be -1 (no limit) or >= 0`);
  if (!(merged.retentionMs === -1 || merged.retentionMs >= 0)) bad(`retentionMs ${merged.retentionMs} must be -1 (forever) or >= 0`);
  if (!Number.isInteger(merged.indexIntervalBytes) || merged.indexIntervalBytes < 1) bad(`indexIntervalBytes must be a positive integer`);
  return merged;
}

const TERMS_FILE = 'terms';
/**
 * Written by close() after its flush, removed at open. Present at open only when the last
 * process closed cleanly, or when an OS crash lost the removal; either way nothing in the
 * files sits only in the page cache, so recovery needs no fdatasync.
 */
const CLEAN_MARKER = 'clean-shutdown';

function outOfRange(offset: number, first: number, last: number, what = 'offset'): FlotillaError {
  return new FlotillaError(
    'OFFSET_OUT_OF_RANGE',
    `${what} ${offset} is outside the log's range [${first}, ${last + 1}] (log start ${first}, next offset ${last + 1})`,
    { offset, logStartOffset: first, nextOffset: last + 1 },
  );
}

export class PartitionLog implements RaftLog {
  private segments: Segment[] = [];
  private terms!: TermRuns;
  /** Term records in the terms file (the file may lag the runs until flush). */
  private termsOnDisk = 0;
  private logStart = 0;
  private durable = -1;
  /** Counts truncations and resets, so a flush that raced one does not over-report durability. */
  private rewinds = 0;
  private dirDirty = false;
  private termsDirty = false;
  /** Set by a failed fdatasync: the page cache may have dropped the data (fsyncgate). */
  private failure: FlotillaError | undefined;
  private readonly flushRun = new CoalescedRun(() => this.doFlush());
  private closed = false;
  private readonly termsPath: string;
  /** The newest batches, kept in memory after their write (tail-cache.ts). */
  private readonly tail: LogTail;
  /**
   * Set when corrupt batches were cut from this log (at open or by `cutCorrupt`): entries
   * up to `lastIndexBefore` may have been acknowledged and are no longer all here.
   */
  lostEntries: { lastIndexBefore: number } | undefined;
  /** Opening made the directory just now (no files of an older format can be beside it). */
  createdNow = false;
  /** Told of every corrupt batch a read finds (the owner repairs the replica). */
  onCorruption: ((error: LogCorruption) => void) | undefined;

  private constructor(
    readonly dir: string,
    readonly options: PartitionLogOptions,
    private readonly res: StorageResources,
  ) {
    this.termsPath = path.join(dir, TERMS_FILE);
    this.tail = res.tails.tailFor();
  }

  /**
   * Opens (or creates) the log in `dir`. Work at open is bounded, not proportional to the
   * log: list the directory, stat segments, validate the newest segment from its last
   * index entry to the end (cutting a torn or corrupt tail), and check the term runs
   * against a few batch headers.
   */
  static open(dir: string, options: Partial<PartitionLogOptions> = {}, resources?: StorageResources): PartitionLog {
    const log = new PartitionLog(dir, validateLogOptions(options), resources ?? createResources());
    log.load();
    return log;
  }

  // -------------------------------------------------------------------------------------
  // RaftLog

  firstIndex(): number {
    return this.logStart;
  }

  lastIndex(): number {
    return this.active.nextOffset - 1;
  }

  termAt(index: number): number | undefined {
    if (!Number.isInteger(index) || index < this.logStart - 1 || index > this.lastIndex()) return undefined;
    return this.terms.termAt(index);
  }

  entries(from: number, maxBytes: number): Entry[] {
    this.checkOpen();
    if (from > this.lastIndex() && Number.isInteger(from)) return [];
    this.checkReadable(from);
    const cached = this.tail.read(from, maxBytes);
    if (cached) return cached;
    const batches: Buffer[] = [];
    try {
      runSync(this.res.files, this.readSteps(this.segments.slice(), from, maxBytes, this.lastIndex(), batches));
    } catch (err) {
      // The good batches before a corrupt one still serve; the next read starts at it.
      if (!isLogCorruption(err)) throw err;
      this.noted(err);
      if (batches.length === 0) throw err;
    }
    return batches.map((data) => ({ index: lastOffsetOf(data), term: termOf(data), data }));
  }

  append(entries: readonly Entry[]): void {
    this.checkWritable();
    if (entries.length === 0) return;
    let expected = this.lastIndex() + 1;
    let lastTerm = this.terms.last.term;
    for (const entry of entries) {
      const data = entry.data;
      const problem =
        data.length < HEADER_SIZE || batchSizeAt(data) !== data.length ? `batch length field disagrees with its ${data.length} bytes` :
        baseOffsetOf(data) !== expected ? `batch base offset ${baseOffsetOf(data)} does not follow the log (next offset ${expected})` :
        lastOffsetOf(data) !== entry.index ? `entry index ${entry.index} is not the batch's last offset ${lastOffsetOf(data)}` :
        termOf(data) !== entry.term ? `entry term ${entry.term} differs from the batch header's ${termOf(data)}` :
        entry.term < lastTerm ? `entry term ${entry.term} is below the log's last term ${lastTerm}` : undefined;
      if (problem) throw new FlotillaError('INVALID_REQUEST', `storage append to ${this.dir}: ${problem}`);
      expected = entry.index + 1;
      lastTerm = entry.term;
    }
    // Group consecutive entries per segment: one write per segment touched.
    let group: Buffer[] = [];
    let groupBytes = 0;
    const writeGroup = (): void => {
      if (group.length === 0) return;
      this.active.append(group, groupBytes);
      for (const batch of group) this.terms.noteBatch(baseOffsetOf(batch), termOf(batch));
      group = [];
      groupBytes = 0;
    };
    try {
      for (const entry of entries) {
        const active = this.active;
        const pendingSize = active.size + groupBytes;
        if (pendingSize > 0 && (pendingSize + entry.data.length > this.options.segmentBytes || this.options.now() - active.createdAt >= this.options.segmentMs)) {
          writeGroup();
          this.roll();
        }
        group.push(entry.data);
        groupBytes += entry.data.length;
      }
      writeGroup();
    } catch (err) {
      // Some of the entries may be written: the cache can no longer say where the log ends.
      this.tail.clear();
      throw err;
    }
    this.tail.add(entries);
  }

  truncateAfter(index: number): void {
    this.checkOpen();
    const last = this.lastIndex();
    if (!Number.isInteger(index) || index < this.logStart - 1 || index > last) throw outOfRange(index, this.logStart, last, 'truncation point');
    if (index === last) return;
    if (index === this.logStart - 1) {
      // Everything goes, the boundary stays (the log start may sit inside a batch).
      this.reset(index, this.terms.boundary.term);
      return;
    }
    const at = this.segmentIndexFor(index + 1);
    const segment = this.segments[at]!;
    const location = runSync(this.res.files, segment.locate(index + 1));
    if (location.baseOffset !== index + 1) {
      throw new FlotillaError('INVALID_REQUEST', `storage: cannot truncate after ${index}: it is inside the batch [${location.baseOffset}, ${location.lastOffset}]`);
    }
    // Open what the cut needs before anything changes: a refused open then changes nothing.
    segment.prepareTruncation();
    this.rewinds++;
    this.tail.truncateAfter(index);
    const later = this.segments.splice(at + 1);
    for (const segment of later.reverse()) segment.delete();
    if (location.position === 0 && at > 0) {
      this.segments.pop()!.delete();
      this.dirDirty = true;
    } else {
      segment.truncateTo(location.position, index + 1);
    }
    if (later.length > 0) this.dirDirty = true;
    this.terms.truncateAfter(index);
    if (this.terms.runs.length < this.termsOnDisk) this.truncateTermsFile();
    this.durable = Math.min(this.durable, index);
  }

  /**
   * Repair after a read found a corrupt batch at `offset`: checks every batch of the
   * segment holding it, cuts the log before the first bad one (later segments go, newest
   * first) and makes the cut durable before returning. Returns the offsets the log held
   * before and after, or undefined when the segment checks clean (a bad index entry led the
   * read astray: the index is rebuilt instead). The caller owns what the loss means to
   * Raft (the replica must not vote for what it no longer holds until it caught up).
   */
  cutCorrupt(offset: number): { lastIndexBefore: number; lastIndexAfter: number } | undefined {
    this.checkOpen();
    const lastIndexBefore = this.lastIndex();
    const cutAfter = this.cutSegmentsAt(offset, lastIndexBefore);
    if (cutAfter === undefined) return undefined;
    if (cutAfter < this.logStart - 1) {
      // Nothing before the bad batch is left above the log start: the log starts over there.
      this.reset(this.logStart - 1, this.terms.boundary.term);
    } else {
      this.terms.truncateAfter(cutAfter);
      this.writeTermsFileAtomically();
      this.durable = Math.min(this.durable, cutAfter);
    }
    return { lastIndexBefore, lastIndexAfter: this.lastIndex() };
  }

  /**
   * Checks every batch of the segment holding `offset` and cuts the segments before the
   * first bad one (later segments go, newest first), durably. Returns the last offset kept,
   * or undefined when the segment checks clean (a bad index entry led a read astray: the
   * segment's index is rebuilt instead).
   */
  private cutSegmentsAt(offset: number, lastIndexBefore: number): number | undefined {
    const at = this.segmentIndexFor(offset);
    const segment = this.segments[at]!;
    const scan = segment.verify();
    if (scan.validEnd === segment.size && scan.nextOffset === segment.nextOffset) {
      segment.cutBadTail(segment.size, segment.nextOffset); // keeps every byte, rebuilds the index
      return undefined;
    }
    // The loss is on disk before the cut: a crash in between must not forget it.
    this.recordLoss(lastIndexBefore);
    this.rewinds++;
    this.tail.clear();
    const later = this.segments.splice(at + 1);
    for (const s of later.reverse()) s.delete();
    if (scan.validEnd === 0 && at > 0) this.segments.pop()!.delete();
    else segment.cutBadTail(scan.validEnd, scan.nextOffset);
    this.res.files.fsyncDirSync(this.dir);
    this.dirDirty = false;
    return scan.nextOffset - 1;
  }

  reset(index: number, term: number): void {
    this.checkOpen();
    if (!Number.isInteger(index) || index < -1 || !Number.isInteger(term) || term < 0) {
      throw new FlotillaError('INVALID_REQUEST', `storage: cannot reset to index ${index}, term ${term}`);
    }
    this.rewinds++;
    this.tail.clear();
    // Newest first, so a crash part-way leaves a prefix of the old log (as a truncation would).
    for (const segment of this.segments.reverse()) segment.delete();
    this.segments = [];
    this.terms = new TermRuns(index, term);
    this.writeTermsFileAtomically();
    this.segments = [Segment.create(this.res, this.dir, index + 1, this.options.indexIntervalBytes, this.options.now())];
    this.res.files.fsyncDirSync(this.dir);
    this.logStart = index + 1;
    this.durable = index;
    this.failure = undefined;
  }

  // -------------------------------------------------------------------------------------
  // Consumer reads

  /**
   * Whole batches starting with the one that holds `offset`, concatenated, up to about
   * `maxBytes` (always at least one batch when one is available), never a batch whose
   * last offset is above `maxOffset` (the caller's high watermark). Empty at the end.
   */
  async read(offset: number, maxBytes: number, maxOffset = this.lastIndex()): Promise<Buffer> {
    this.checkOpen();
    this.checkReadable(offset);
    const upTo = Math.min(maxOffset, this.lastIndex());
    if (offset > upTo) return Buffer.alloc(0);
    const cached = this.tail.read(offset, maxBytes, upTo);
    if (cached) return cached.length === 1 ? cached[0]!.data : Buffer.concat(cached.map((entry) => entry.data));
    const batches: Buffer[] = [];
    const rewinds = this.rewinds;
    const logStart = this.logStart;
    try {
      await runAsync(this.res.files, this.readSteps(this.segments.slice(), offset, maxBytes, upTo, batches));
    } catch (err) {
      // Retention deleted the segment under the read: the offset is now below the log start.
      if (err instanceof FlotillaError && err.details.errno === 'ENOENT' && offset < this.logStart) {
        throw outOfRange(offset, this.logStart, this.lastIndex());
      }
      if (!isLogCorruption(err)) throw err;
      // A truncation or retention during the read changed the bytes under it: not corruption.
      const changedUnderUs = this.rewinds !== rewinds || this.logStart !== logStart;
      if (!changedUnderUs) {
        this.noted(err);
        if (batches.length === 0) throw err;
      }
    }
    return batches.length === 1 ? batches[0]! : Buffer.concat(batches);
  }

  /**
   * Batches from the one holding `from` into `out`: see `read`. Runs sync or async
   * (runSync/runAsync). Every batch is checked (header, offset continuity, CRC32C) before
   * it is taken: a bad one throws LogCorruption, and `out` keeps the good batches before it.
   */
  private *readSteps(segments: Segment[], from: number, maxBytes: number, maxOffset: number, out: Buffer[]): ReadSteps<void> {
    let at = segmentIndexIn(segments, from);
    const first = yield* segments[at]!.locate(from);
    if (first.lastOffset > maxOffset) return;
    let budget = maxBytes;
    let expected = first.baseOffset;
    let position = first.position;
    let isFirstRead = true;
    for (; at < segments.length; at++, position = 0) {
      const segment = segments[at]!;
      while (position < segment.size) {
        const length = Math.min(segment.size - position, isFirstRead ? Math.max(budget, first.size) : budget);
        if (length < HEADER_SIZE) return;
        const chunk = yield { file: segment.logPath, position, length };
        let used = 0;
        while (chunk.length - used >= HEADER_SIZE) {
          const size = batchSizeAt(chunk, used);
          const problem = batchHeaderProblem(chunk, used, size, expected, segment.size - position - used);
          if (problem) throw segment.corruption(expected, position + used, problem);
          if (used + size > chunk.length) break; // the rest of the budget is too small for it
          const last = lastOffsetOf(chunk, used);
          if (last > maxOffset) return;
          if (!crcMatches(chunk, used, size)) throw segment.corruption(expected, position + used, 'CRC32C mismatch');
          out.push(chunk.subarray(used, used + size));
          expected = last + 1;
          used += size;
        }
        if (used === 0) return; // the next batch is larger than what is left of the budget
        isFirstRead = false;
        budget -= used;
        position += used;
      }
    }
  }

  // -------------------------------------------------------------------------------------
  // Offsets by timestamp

  /**
   * Kafka's ListOffsets by timestamp: the earliest offset from the log start up to
   * `maxOffset` (the caller's high watermark) whose record's timestamp is at least
   * `timestamp`, with that timestamp; undefined when there is none. Timestamps need not
   * grow along the log: whole segments are skipped by their largest timestamp, then batch
   * headers by theirs, and only the batch holding the answer is read whole and decoded.
   * Control batches hold no records a consumer sees and are stepped over.
   */
  async offsetForTimestamp(timestamp: number, maxOffset = this.lastIndex()): Promise<TimestampedOffset | undefined> {
    return this.lookUpHeaders(maxOffset, (segments, logStart, upTo) => this.timestampSteps(segments, logStart, timestamp, upTo));
  }

  /**
   * Kafka's ListOffsets max-timestamp (-3): the record with the largest timestamp from the
   * log start up to `maxOffset` (the caller's high watermark), the earliest of them on a
   * tie; undefined when the range holds no record. Segments are visited newest first and
   * one whose largest timestamp is below the best found is skipped by it, so with
   * timestamps that grow along the log only the newest segment's headers are read.
   */
  async offsetOfMaxTimestamp(maxOffset = this.lastIndex()): Promise<TimestampedOffset | undefined> {
    return this.lookUpHeaders(maxOffset, (segments, logStart, upTo) => this.maxTimestampSteps(segments, logStart, upTo));
  }

  /**
   * Runs a walk over batch headers from the log start up to `maxOffset`. Retention or a
   * truncation that changes the bytes under it (a segment gone, or headers that no longer
   * follow on) is not corruption: the walk starts again.
   */
  private async lookUpHeaders<T>(maxOffset: number, steps: (segments: Segment[], logStart: number, upTo: number) => ReadSteps<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.checkOpen();
      const rewinds = this.rewinds;
      const logStart = this.logStart;
      const upTo = Math.min(maxOffset, this.lastIndex());
      try {
        return await runAsync(this.res.files, steps(this.segments.slice(), logStart, upTo));
      } catch (err) {
        const changedUnderUs = this.rewinds !== rewinds || this.logStart !== logStart;
        const gone = err instanceof FlotillaError && err.details.errno === 'ENOENT';
        if (changedUnderUs && (gone || isLogCorruption(err)) && attempt < TIMESTAMP_LOOKUP_ATTEMPTS) continue;
        if (isLogCorruption(err) && !changedUnderUs) this.noted(err);
        throw err;
      }
    }
  }

  private *maxTimestampSteps(segments: Segment[], logStart: number, maxOffset: number): ReadSteps<TimestampedOffset | undefined> {
    let best: { timestamp: number; segment: Segment; location: BatchLocation } | undefined;
    const first = segmentIndexIn(segments, logStart);
    for (let at = segments.length - 1; at >= first; at--) {
      const segment = segments[at]!;
      if (segment.baseOffset > maxOffset) continue;
      // The segment's largest timestamp (control batches included) bounds what it can hold.
      if (best && (yield* segment.computeMaxTimestamp()) < best.timestamp) continue;
      const start = segment.baseOffset < logStart ? yield* segment.locate(logStart) : undefined;
      const from = start ? { position: start.position, offset: start.baseOffset } : { position: 0, offset: segment.baseOffset };
      let largest: { timestamp: number; location: BatchLocation } | undefined;
      let position = from.position;
      yield* segment.findBatch(from, (header, i) => {
        if (lastOffsetOf(header, i) > maxOffset) return true;
        const timestamp = readInt64(header, i + Field.maxTimestamp);
        const size = batchSizeAt(header, i);
        if (!isControlBatch(header, i) && (!largest || timestamp > largest.timestamp)) {
          largest = { timestamp, location: { position, size, baseOffset: baseOffsetOf(header, i), lastOffset: lastOffsetOf(header, i), term: termOf(header, i) } };
        }
        position += size;
        return false;
      });
      // Older segments come later: they win ties (the earliest offset answers).
      if (largest && (!best || largest.timestamp >= best.timestamp)) best = { ...largest, segment };
    }
    if (!best) return undefined;
    const { segment, location } = best;
    const bytes = yield { file: segment.logPath, position: location.position, length: location.size };
    if (bytes.length < location.size || !crcMatches(bytes, 0, location.size)) throw segment.corruption(location.baseOffset, location.position, 'CRC32C mismatch');
    return recordWithTimestamp(bytes, best.timestamp, logStart);
  }

  private *timestampSteps(segments: Segment[], logStart: number, target: number, maxOffset: number): ReadSteps<TimestampedOffset | undefined> {
    for (let at = segmentIndexIn(segments, logStart); at < segments.length; at++) {
      const segment = segments[at]!;
      if (segment.baseOffset > maxOffset) return undefined;
      // Timestamps need not be monotonic: only a segment whose largest is below the target holds no answer.
      if ((yield* segment.computeMaxTimestamp()) < target) continue;
      const start = segment.baseOffset < logStart ? yield* segment.locate(logStart) : undefined;
      let from = start ? { position: start.position, offset: start.baseOffset } : { position: 0, offset: segment.baseOffset };
      for (;;) {
        let beyondMax = false;
        const batch = yield* segment.findBatch(from, (header, i) => {
          beyondMax = lastOffsetOf(header, i) > maxOffset;
          return beyondMax || (!isControlBatch(header, i) && readInt64(header, i + Field.maxTimestamp) >= target);
        });
        if (!batch) break;
        if (beyondMax) return undefined;
        const bytes = yield { file: segment.logPath, position: batch.position, length: batch.size };
        if (bytes.length < batch.size || !crcMatches(bytes, 0, batch.size)) throw segment.corruption(batch.baseOffset, batch.position, 'CRC32C mismatch');
        const found = firstRecordAtOrAfter(bytes, target, logStart);
        if (found) return found;
        from = { position: batch.position + batch.size, offset: batch.lastOffset + 1 };
      }
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------
  // Scrubbing

  /** Base offsets of the sealed segments (every one but the active), oldest first. */
  sealedSegments(): number[] {
    return this.closed ? [] : this.segments.slice(0, -1).map((s) => s.baseOffset);
  }

  /**
   * Scrub: checks every batch of the sealed segment at `baseOffset` (header, offset
   * continuity, CRC32C) without blocking the event loop, awaiting `beforeRead` before each
   * read (the rate limit). A bad batch is reported to `onCorruption`, as a read's would be.
   * A segment that is gone, or a log that changed during the check (retention, truncation,
   * repair, deletion, close), yields `gone`: bytes cut under the scan are not corruption.
   */
  async verifySegment(baseOffset: number, beforeRead?: (step: ReadStep) => Promise<void>): Promise<SegmentCheck> {
    const segment = this.closed ? undefined : this.segments.find((s) => s.baseOffset === baseOffset);
    if (!segment || segment === this.active) return { outcome: 'gone' };
    const rewinds = this.rewinds;
    const unchanged = () => !this.closed && this.rewinds === rewinds && this.segments.includes(segment);
    // Bytes below the log start are never read again (retention deletes them with their
    // segment): the check starts at the batch holding the log start, as a read would.
    const logStart = this.logStart;
    const steps = function* (): ReadSteps<ScanResult> {
      const from = segment.baseOffset < logStart ? yield* segment.locate(logStart) : undefined;
      return yield* segment.verifySteps(from && { position: from.position, offset: from.baseOffset });
    };
    let error: LogCorruption;
    try {
      const scan = await runAsync(this.res.files, steps(), beforeRead);
      if (!unchanged()) return { outcome: 'gone' };
      if (scan.validEnd === segment.size && scan.nextOffset === segment.nextOffset) return { outcome: 'clean' };
      error = segment.corruption(scan.nextOffset, scan.validEnd, scan.stoppedBecause ?? `the batches end at offset ${scan.nextOffset}, before the segment's ${segment.nextOffset}`);
    } catch (err) {
      if (!unchanged() || (err instanceof FlotillaError && err.details.errno === 'ENOENT')) return { outcome: 'gone' };
      if (!isLogCorruption(err)) throw err;
      error = err; // a bad header on the way to the log start
    }
    this.noted(error);
    return { outcome: 'corrupt', error };
  }

  // -------------------------------------------------------------------------------------
  // Durability

  /** Last offset known to be fdatasynced. */
  durableIndex(): number {
    return this.durable;
  }

  /** True when something was appended, truncated or rewritten since the last flush. */
  needsFlush(): boolean {
    return this.durable < this.lastIndex() || this.dirDirty || this.termsDirty || this.segments.some((s) => s.unsynced);
  }

  /**
   * Makes everything appended before the call durable (fdatasync of every segment written
   * since the last flush; the directory after files came or went; new term runs written).
   * Calls made while a flush runs share the next one: at most one runs and one waits.
   */
  flush(): Promise<void> {
    return this.flushRun.run();
  }

  private async doFlush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) return;
    const target = this.lastIndex();
    const rewinds = this.rewinds;
    try {
      if (this.terms.runs.length > this.termsOnDisk || this.termsDirty) this.writeNewTermRuns();
      const syncs: Array<Promise<void>> = [];
      for (const segment of this.segments) if (segment.unsynced) syncs.push(segment.sync(segment === this.active));
      // Every sync settles before the verdict: a failed fsync must poison the log even when
      // another file's write was merely refused (or it would be retried and "succeed").
      const failures = await settleAll(syncs);
      if (failures.length > 0) throw failures.find((e) => !isRefusal(e)) ?? failures[0];
      if (this.dirDirty) {
        this.dirDirty = false;
        try {
          await this.res.files.fsyncDir(this.dir);
        } catch (err) {
          this.dirDirty = true;
          throw err;
        }
      }
    } catch (err) {
      // No descriptor for a file, or no room to write the terms file: that file's write
      // and fsync did not run, so nothing is lost and nothing is reported durable; the
      // next flush tries again (dirty flags were kept). Only a failed fsync poisons.
      if (isRefusal(err)) throw err;
      throw this.poison('flush', err);
    }
    if (rewinds === this.rewinds && target > this.durable) this.durable = Math.min(target, this.lastIndex());
  }

  /**
   * After a failed fdatasync (or a failure that leaves what the files hold unknown): the
   * log refuses writes until it is reopened, and reads must see the disk, not what was
   * written. Returns the error to throw.
   */
  private poison(what: string, err: unknown): FlotillaError {
    const cause = storageError(what, this.dir, err);
    this.tail.clear();
    this.failure = new FlotillaError('INTERNAL', `${cause.message}; the log refuses writes until it is reopened`, cause.details, { cause: err });
    return this.failure;
  }

  /**
   * Writes the term runs the file lacks, without an fdatasync: past its first record (the
   * log-start boundary, always rewritten durably) the file only saves reading batch
   * headers, and opening reconciles it with them (`reconcileTerms`), so a crash that loses
   * this write loses nothing. A new term thus costs no fsync beyond the segment's.
   */
  private writeNewTermRuns(): void {
    this.res.files.withFd(this.termsPath, (fd) => {
      this.termsDirty = false;
      const written = this.termsOnDisk;
      const fresh = this.terms.runs.slice(written);
      const bytes = Buffer.concat(fresh.map((run) => TermRuns.encodeRun(run)));
      try {
        if (bytes.length > 0 && fs.writeSync(fd, bytes, 0, bytes.length, written * TERM_RECORD_SIZE) < bytes.length) {
          throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
        }
      } catch (err) {
        // Not stored (a partial record is written over next time; its CRC fails until then).
        this.termsDirty = true;
        throw writeError('terms write', this.termsPath, err);
      }
      this.termsOnDisk = written + fresh.length;
    });
  }

  private truncateTermsFile(): void {
    this.termsOnDisk = this.terms.runs.length;
    try {
      this.res.files.withFd(this.termsPath, (fd) => fs.ftruncateSync(fd, this.termsOnDisk * TERM_RECORD_SIZE));
    } catch (err) {
      throw storageError('truncate', this.termsPath, err);
    }
    this.termsDirty = true;
  }

  private writeTermsFileUnsynced(): void {
    this.res.files.create(this.termsPath, this.terms.encode());
    this.termsOnDisk = this.terms.runs.length;
    this.termsDirty = true;
  }

  private writeTermsFileAtomically(): void {
    this.res.files.forget(this.termsPath);
    this.res.files.replaceFileSync(this.termsPath, this.terms.encode());
    this.termsOnDisk = this.terms.runs.length;
  }

  // -------------------------------------------------------------------------------------
  // Segments, retention

  /** Starts a new active segment at the next offset (no-op when the active one is empty). */
  roll(): void {
    this.checkWritable();
    const active = this.active;
    if (active.isEmpty) return;
    try {
      active.seal();
    } catch (err) {
      // No descriptor: nothing changed that matters, the next append tries the roll again.
      if (isRefusal(err)) throw err;
      throw this.poison('roll', err); // the cut or its fdatasync failed
    }
    this.segments.push(Segment.create(this.res, this.dir, active.nextOffset, this.options.indexIntervalBytes, this.options.now()));
    this.dirDirty = true;
  }

  /**
   * Moves the log start to `offset` (retention, or a leader's log start) and deletes the
   * segments wholly below it, never the active one. Reads below it then fail with
   * OFFSET_OUT_OF_RANGE; termAt(offset - 1) keeps answering.
   */
  deleteBefore(offset: number): void {
    this.checkOpen();
    const last = this.lastIndex();
    if (!Number.isInteger(offset) || offset < 0 || offset > last + 1) throw outOfRange(offset, this.logStart, last, 'new log start');
    if (offset <= this.logStart) return;
    this.terms.moveBoundary(offset - 1);
    this.logStart = offset;
    this.tail.dropThrough(offset - 1);
    // The new log start is durable before any segment goes, so a crash cannot resurrect it lower.
    this.writeTermsFileAtomically();
    while (this.segments.length > 1 && this.segments[1]!.baseOffset <= offset) {
      this.segments.shift()!.delete();
      this.dirDirty = true;
    }
  }

  /**
   * Deletes the oldest segments beyond `retentionBytes` or older than `retentionMs`
   * (by their newest batch's maxTimestamp), but never the active segment and never a
   * segment holding offsets above `maxDeletableOffset` (pass the commit index).
   * Returns the log start afterwards.
   */
  applyRetention(now: number, maxDeletableOffset: number): number {
    this.checkOpen();
    // Only the active segment: nothing may go (the common case, checked for every replica).
    if (this.segments.length < 2) return this.logStart;
    const { retentionBytes, retentionMs } = this.options;
    let total = this.segments.reduce((sum, s) => sum + s.size, 0);
    let cut = 0; // segments to delete from the front
    while (cut < this.segments.length - 1) {
      const segment = this.segments[cut]!;
      if (segment.lastOffset > maxDeletableOffset) break;
      const overSize = retentionBytes >= 0 && total > retentionBytes;
      const expired = !overSize && retentionMs >= 0 && now - runSync(this.res.files, segment.computeMaxTimestamp()) > retentionMs;
      if (!overSize && !expired) break;
      total -= segment.size;
      cut++;
    }
    if (cut > 0) this.deleteBefore(Math.max(this.logStart, this.segments[cut]!.baseOffset));
    return this.logStart;
  }

  /** Bytes stored in segment files. */
  sizeInBytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  segmentCount(): number {
    return this.segments.length;
  }

  /** Closed (or deleted): unusable, every call but close() fails. */
  get isClosed(): boolean {
    return this.closed;
  }

  // -------------------------------------------------------------------------------------
  // Lifecycle

  /** Flushes, then releases descriptors and memory. The object is unusable afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.failure) await this.flush();
    this.closed = true;
    this.tail.clear();
    for (const segment of this.segments) segment.close();
    this.res.files.forget(this.termsPath);
    if (!this.failure) {
      try {
        this.res.files.writeFile(path.join(this.dir, CLEAN_MARKER), '');
      } catch {
        // Without the marker the next open only costs one more fdatasync.
      }
    }
  }

  /** Removes the log's directory and everything in it (topic deletion). */
  async delete(): Promise<void> {
    this.closed = true;
    // A flush in flight finishes on the files first: its fdatasync done, it writes the
    // index entries that sync covered, and with the directory gone that open failed and
    // poisoned the log, which stopped the broker's Raft cycle (a deleted topic, a moved
    // partition). A flush asked for from now on finds the log closed and does nothing.
    await this.flushRun.settled();
    this.tail.clear();
    for (const segment of this.segments) segment.close();
    this.res.files.forgetUnder(this.dir + path.sep);
    await this.res.files.remove(this.dir);
  }

  // -------------------------------------------------------------------------------------
  // Opening and recovery

  private load(): void {
    let created: boolean;
    try {
      created = fs.mkdirSync(this.dir, { recursive: true }) !== undefined;
    } catch (err) {
      throw storageError('create directory', this.dir, err);
    }
    this.createdNow = created;
    // A directory made just now holds nothing: no listing, no terms file to look for.
    const names = created ? [] : this.res.files.readdir(this.dir);
    if (names.includes(LOST_ENTRIES_FILE)) this.readLossFile();
    const closedCleanly = names.includes(CLEAN_MARKER);
    if (closedCleanly) fs.rmSync(path.join(this.dir, CLEAN_MARKER), { force: true });
    const bases: number[] = [];
    for (const name of names) {
      const match = SEGMENT_NAME.exec(name);
      if (match) bases.push(Number(match[1]));
      else if (name.endsWith('.tmp') && name.startsWith(TERMS_FILE)) fs.rmSync(path.join(this.dir, name), { force: true });
    }
    bases.sort((a, b) => a - b);
    const now = this.options.now();
    const interval = this.options.indexIntervalBytes;
    const sizes = bases.map((base) => fs.statSync(path.join(this.dir, `${String(base).padStart(20, '0')}.log`)).size);
    // A segment's index file is made with its first entry: a segment may have none yet.
    const present = new Set(names);
    this.segments = bases.map((base, i) => new Segment(this.res, this.dir, base, sizes[i]!, interval, now, present.has(indexFileName(base))));
    for (let i = 0; i + 1 < this.segments.length; i++) this.segments[i]!.nextOffset = this.segments[i + 1]!.baseOffset;

    const stored = created ? undefined : this.readTermsFile();
    const fresh = this.segments.length === 0 && !stored;
    if (fresh) {
      // A brand-new log holds nothing to lose: its files become durable with the first
      // flush, not with fsyncs at creation (which made creating 10,000 partitions take minutes).
      this.terms = new TermRuns(-1, 0);
      this.writeTermsFileUnsynced();
      this.segments.push(Segment.create(this.res, this.dir, 0, interval, now));
      this.dirDirty = true;
    } else if (this.segments.length === 0) {
      this.terms = stored!;
      this.segments.push(Segment.create(this.res, this.dir, this.terms.boundary.start + 1, interval, now));
      this.res.files.fsyncDirSync(this.dir);
    } else {
      // Recover the newest segment; one left empty by the cut is dropped (a roll that
      // happened just before the crash), and its predecessor is checked in turn.
      for (;;) {
        const newest = this.active;
        newest.recover(sizes[this.segments.length - 1]!, closedCleanly);
        if (!newest.isEmpty || this.segments.length === 1) break;
        this.segments.pop()!.delete();
        this.dirDirty = true;
      }
      this.terms = stored ?? this.withCorruptionCut(() => this.rebuildTermsByScan());
      if (this.terms.boundary.start + 1 > this.active.nextOffset) {
        // The log start was moved past data that a crash then lost: nothing below it is
        // needed, so restart empty at the log start.
        for (const segment of this.segments.reverse()) segment.delete();
        this.segments = [Segment.create(this.res, this.dir, this.terms.boundary.start + 1, interval, now)];
        this.dirDirty = true;
      }
    }
    this.logStart = Math.max(this.terms.boundary.start + 1, this.segments[0]!.baseOffset);
    if (this.terms.boundary.start !== this.logStart - 1) this.terms.moveBoundary(this.logStart - 1);
    const changed = this.withCorruptionCut(() => this.reconcileTerms());
    if (!fresh && (!stored || changed || this.termsOnDisk !== this.terms.runs.length)) this.writeTermsFileAtomically();
    if (this.dirDirty && !fresh) {
      this.res.files.fsyncDirSync(this.dir);
      this.dirDirty = false;
    }
    this.durable = this.lastIndex();
  }

  /**
   * Runs a step of opening that reads batch headers; a corrupt batch it meets (bit rot in
   * data synced long ago: the tail check at open does not reach it) is cut off, the loss
   * noted, and the step run again on what is left.
   */
  private withCorruptionCut<T>(step: () => T): T {
    for (;;) {
      try {
        return step();
      } catch (err) {
        if (!isLogCorruption(err)) throw err;
        this.cutSegmentsAt(err.offset, this.lastIndex());
      }
    }
  }

  private readTermsFile(): TermRuns | undefined {
    const bytes = this.res.files.readFile(this.termsPath);
    if (!bytes) {
      this.res.files.create(this.termsPath);
      return undefined;
    }
    const decoded = TermRuns.decode(bytes);
    if (!decoded) return undefined;
    this.termsOnDisk = decoded.runs.runs.length;
    if (decoded.damaged) this.termsOnDisk = -1; // forces a rewrite
    return decoded.runs;
  }

  /** Term of the batch holding `offset`, from its header. */
  private batchAt(offset: number): { baseOffset: number; term: number } {
    const segment = this.segments[this.segmentIndexFor(offset)]!;
    return runSync(this.res.files, segment.locate(offset));
  }

  /**
   * Makes the term runs agree with the batches (they can disagree for data written after
   * the last flush: the runs reach the file only at flush). Drops runs past the end or whose
   * first batch has another term, then finds the starts of terms the runs miss by binary
   * search over batch headers (terms never decrease along the log). Returns true on change.
   */
  private reconcileTerms(): boolean {
    const last = this.lastIndex();
    if (last < this.logStart) {
      const before = this.terms.runs.length;
      this.terms.truncateAfter(last);
      return before !== this.terms.runs.length;
    }
    let changed = false;
    const before = this.terms.runs.length;
    this.terms.truncateAfter(last);
    changed = before !== this.terms.runs.length;
    while (this.terms.runs.length > 1 && this.batchAt(this.terms.last.start).term !== this.terms.last.term) {
      this.terms.runs.pop();
      changed = true;
    }
    const lastTerm = this.batchAt(last).term;
    while (this.terms.last.term < lastTerm) {
      // Smallest offset in (last run start, last] whose batch has a greater term.
      let lo = Math.max(this.terms.last.start + 1, this.logStart);
      let hi = last;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (this.batchAt(mid).term > this.terms.last.term) hi = mid;
        else lo = mid + 1;
      }
      const batch = this.batchAt(lo);
      this.terms.runs.push({ start: Math.max(batch.baseOffset, this.terms.last.start + 1), term: batch.term });
      changed = true;
    }
    return changed;
  }

  /** Without a terms file: read every batch header once (slow, only after losing the file). */
  private rebuildTermsByScan(): TermRuns {
    const runs = new TermRuns(this.segments[0]!.baseOffset - 1, 0);
    let first = true;
    for (let offset = this.segments[0]!.baseOffset; offset <= this.lastIndex(); ) {
      const batch = runSync(this.res.files, this.segments[this.segmentIndexFor(offset)]!.locate(offset));
      // The boundary term is unknown: assume the first batch's (terms never decrease).
      if (first) runs.runs[0]!.term = batch.term;
      first = false;
      runs.noteBatch(batch.baseOffset, batch.term);
      offset = batch.lastOffset + 1;
    }
    return runs;
  }

  // -------------------------------------------------------------------------------------
  // Helpers

  private noted(error: LogCorruption): void {
    this.onCorruption?.(error);
  }

  /**
   * Records durably that entries up to `lastIndexBefore` may have been acknowledged and
   * are about to be cut (or their state machine's image was lost): call before the cut.
   */
  recordLoss(lastIndexBefore: number): void {
    const upTo = Math.max(lastIndexBefore, this.lostEntries?.lastIndexBefore ?? -1);
    this.res.files.replaceFileSync(path.join(this.dir, LOST_ENTRIES_FILE), Buffer.from(JSON.stringify({ lastIndexBefore: upTo })));
    this.lostEntries = { lastIndexBefore: upTo };
  }

  /** The replica holds again what it lost (its Raft group caught up): forget the loss. */
  clearLoss(): void {
    if (!this.lostEntries) return;
    fs.rmSync(path.join(this.dir, LOST_ENTRIES_FILE), { force: true });
    this.res.files.fsyncDirSync(this.dir);
    this.lostEntries = undefined;
  }

  private readLossFile(): void {
    try {
      const parsed = JSON.parse(this.res.files.readFile(path.join(this.dir, LOST_ENTRIES_FILE))?.toString('utf8') ?? '{}') as { lastIndexBefore?: unknown };
      // A damaged file still means a loss happened: assume the worst (everything).
      const upTo = typeof parsed.lastIndexBefore === 'number' ? parsed.lastIndexBefore : Number.MAX_SAFE_INTEGER;
      this.lostEntries = { lastIndexBefore: upTo };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.lostEntries = { lastIndexBefore: Number.MAX_SAFE_INTEGER };
    }
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private segmentIndexFor(offset: number): number {
    return segmentIndexIn(this.segments, offset);
  }

  private checkOpen(): void {
    if (this.closed) throw new FlotillaError('INTERNAL', `storage: the log in ${this.dir} is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.failure) throw this.failure;
  }

  private checkReadable(offset: number): void {
    const last = this.lastIndex();
    if (!Number.isInteger(offset) || offset < this.logStart || offset > last + 1) throw outOfRange(offset, this.logStart, last);
  }
}

/**
 * The first record of `batch` at or above `logStart` stamped `timestamp` (the batch's
 * largest). A batch compressed with a codec other than gzip is not decoded: its last
 * offset answers, as Kafka's brokers before 3.8 answered for compressed batches.
 */
function recordWithTimestamp(batch: Buffer, timestamp: number, logStart: number): TimestampedOffset {
  if (recordsReadable(batch)) {
    for (const record of records(batch)) {
      if (record.offset >= logStart && record.timestamp === timestamp) return { offset: record.offset, timestamp };
    }
  }
  return { offset: lastOffsetOf(batch), timestamp };
}

/**
 * The first record of `batch` at or above `logStart` whose timestamp is at least `target`.
 * A batch compressed with a codec other than gzip (a Kafka client's) is not decoded: its
 * first offset answers, with the batch's largest timestamp, so no record at or after the
 * target is ever skipped.
 */
function firstRecordAtOrAfter(batch: Buffer, target: number, logStart: number): TimestampedOffset | undefined {
  if (!recordsReadable(batch)) {
    return { offset: Math.max(baseOffsetOf(batch), logStart), timestamp: readInt64(batch, Field.maxTimestamp) };
  }
  for (const record of records(batch)) {
    if (record.offset >= logStart && record.timestamp >= target) return { offset: record.offset, timestamp: record.timestamp };
  }
  return undefined;
}

/** Index of the last segment whose base offset is <= `offset` (0 when none is). */
function segmentIndexIn(segments: readonly Segment[], offset: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (segments[mid]!.baseOffset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
