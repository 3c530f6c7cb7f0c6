/**
 * One segment of a partition log: a `<base>.log` file of concatenated record batches and
 * its sparse `<base>.index`. The segment knows byte positions; the log above it knows
 * terms, log start and which segment is active.
 *
 * Reads are written once as generators of read steps (file, position, length) so the
 * same scanning code runs synchronously (RaftLog.entries) and asynchronously (consumer
 * reads): see `runSync` / `runAsync`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import {
  Field,
  HEADER_SIZE,
  isKnownMagic,
  baseOffsetOf,
  batchSizeAt,
  crcMatches,
  lastOffsetOf,
  readInt64,
  termOf,
} from '../../protocol/batch.js';
import { LogCorruption } from './corruption.js';
import { FlotillaError } from '../../protocol/errors.js';
import { FileCache, isDiskFull, readAsync, readFullySync, storageError, writeError } from './files.js';
import { INDEX_ENTRY_SIZE, OffsetIndex } from './offset-index.js';
import { DEFAULT_TAIL_CACHE_BYTES, TailCache } from './tail-cache.js';

/** Shared by every log of a broker: open descriptors, loaded indexes and cached newest batches, all bounded. */
export interface StorageResources {
  files: FileCache;
  indexes: LRUCache<string, OffsetIndex>;
  tails: TailCache;
}

export function createResources(maxOpenFiles = 1024, maxIndexBytes = 64 * 1024 * 1024, onRefusal?: (error: FlotillaError) => void, tailCacheBytes = DEFAULT_TAIL_CACHE_BYTES): StorageResources {
  return {
    files: new FileCache(maxOpenFiles, onRefusal),
    indexes: new LRUCache<string, OffsetIndex>({ maxSize: maxIndexBytes, sizeCalculation: (index) => index.byteSize }),
    tails: new TailCache(tailCacheBytes),
  };
}

export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.log`;
}

export function indexFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.index`;
}

export const SEGMENT_NAME = /^(\d{20})\.log$/;

/** A read the scanning code needs done; the driver answers with the bytes (short at EOF). */
export interface ReadStep {
  file: string;
  position: number;
  length: number;
}
export type ReadSteps<T> = Generator<ReadStep, T, Buffer>;

export function runSync<T>(files: FileCache, steps: ReadSteps<T>): T {
  let next = steps.next(Buffer.alloc(0));
  while (!next.done) {
    const { file, position, length } = next.value;
    const buf = Buffer.allocUnsafe(length);
    let got: number;
    try {
      got = files.withFd(file, (fd) => readFullySync(fd, buf, length, position));
    } catch (err) {
      throw storageError('read', file, err);
    }
    next = steps.next(buf.subarray(0, got));
  }
  return next.value;
}

/**
 * Drives `steps` with asynchronous reads. `beforeRead`, when given, is awaited before each
 * read and before its descriptor is taken (the scrubber's rate limit waits there without
 * holding one); what it throws ends the run.
 */
export async function runAsync<T>(files: FileCache, steps: ReadSteps<T>, beforeRead?: (step: ReadStep) => Promise<void>): Promise<T> {
  let next = steps.next(Buffer.alloc(0));
  while (!next.done) {
    if (beforeRead) await beforeRead(next.value);
    const { file, position, length } = next.value;
    const buf = Buffer.allocUnsafe(length);
    let got: number;
    try {
      got = await files.withFdAsync(file, async (fd) => {
        let done = 0;
        while (done < length) {
          const n = await readAsync(fd, buf, done, length - done, position + done);
          if (n === 0) break;
          done += n;
        }
        return done;
      });
    } catch (err) {
      throw storageError('read', file, err);
    }
    next = steps.next(buf.subarray(0, got));
  }
  return next.value;
}

/**
 * Preallocation (see `preallocate`): an active segment holding at least this many bytes
 * keeps zeros written ahead of its last batch, up to as many bytes as it holds, at most
 * PREALLOCATE_MAX_BYTES.
 */
const PREALLOCATE_FROM_BYTES = 64 * 1024;
const PREALLOCATE_MAX_BYTES = 1024 * 1024;
const ZEROS = Buffer.alloc(PREALLOCATE_MAX_BYTES);

/** Bytes scanned per read when walking batch headers. */
const SCAN_CHUNK = 64 * 1024;
/** Bytes read per step when validating a segment tail at recovery. */
const RECOVERY_CHUNK = 1024 * 1024;

/**
 * What is wrong with the batch header at `at` in `chunk`, if anything: a length that is too
 * small or runs past the `bytesLeft` of the file, a wrong magic, a base offset other than
 * `expectedBase`, or a record count that disagrees with the last offset delta. The CRC is
 * checked separately (it needs the whole batch). Shared by every reader of segment files.
 */
export function batchHeaderProblem(chunk: Buffer, at: number, size: number, expectedBase: number, bytesLeft: number): string | undefined {
  if (size < HEADER_SIZE) return `batch length ${size}`;
  if (size > bytesLeft) return `batch of ${size} bytes runs past the end of the file`;
  if (!isKnownMagic(chunk.readInt8(at + Field.magic))) return 'wrong magic';
  if (baseOffsetOf(chunk, at) !== expectedBase) return `base offset ${baseOffsetOf(chunk, at)} where ${expectedBase} was expected`;
  const count = chunk.readInt32BE(at + Field.recordCount);
  if (count < 1 || chunk.readInt32BE(at + Field.lastOffsetDelta) !== count - 1) return 'bad record count';
  return undefined;
}

export interface BatchLocation {
  position: number;
  size: number;
  baseOffset: number;
  lastOffset: number;
  term: number;
}

/** What a validating scan found: where the valid bytes end and what they held. */
export interface ScanResult {
  validEnd: number;
  nextOffset: number;
  /** Largest maxTimestamp seen, -Infinity when no batch. */
  maxTimestamp: number;
  /** (baseOffset, term) of each batch whose term differs from the one before it. */
  termChanges: Array<{ start: number; term: number }>;
  /** Why the scan stopped before the end of the file, if it did. */
  stoppedBecause?: string;
}

export class Segment {
  readonly logPath: string;
  readonly indexPath: string;
  /** Bytes of valid batches; appends go here. */
  size: number;
  /** Offset after the last batch (= baseOffset when empty). */
  nextOffset: number;
  /** Largest batch maxTimestamp in the segment; undefined until computed (lazily, for retention). */
  maxTimestamp: number | undefined;
  /** When this segment started taking appends (ms, for age-based roll). */
  createdAt: number;
  /** Bytes written since the last fdatasync. */
  unsynced = false;
  /**
   * Where the file ends: `size`, or further while zeros are written ahead of the last
   * batch (`preallocate`); MAX_SAFE_INTEGER when a failed write left it unknown.
   */
  private fileEnd: number;
  /** `seal` cut the zeros ahead of the last batch and the cut is not yet fdatasynced. */
  private cutNotDurable = false;

  private indexOnDisk = 0;
  /** Flat (relOffset, position) pairs not yet in the index file (their batches not yet synced). */
  private pending: number[] = [];
  /**
   * Counts truncations and the deletion, so a sync that raced one does not write stale
   * index entries (nor recreate a deleted segment's index file).
   */
  private truncations = 0;
  private lastIndexedPosition = -Infinity;
  /**
   * False for a new segment until something writes its index: the file is made with the
   * first entry, not with the segment (most partitions' segment never holds
   * indexIntervalBytes, and a file less to create per new partition counts at 50,000).
   * A missing index file is what recovery already handles: it is rebuilt by a scan.
   */
  private indexFileExists: boolean;

  /** `indexFileExists`: whether the directory holds this segment's `.index` (create() makes none). */
  constructor(
    private readonly res: StorageResources,
    dir: string,
    readonly baseOffset: number,
    size: number,
    private readonly indexIntervalBytes: number,
    createdAt: number,
    indexFileExists: boolean,
  ) {
    this.indexFileExists = indexFileExists;
    this.logPath = path.join(dir, segmentFileName(baseOffset));
    this.indexPath = path.join(dir, indexFileName(baseOffset));
    this.size = size;
    this.fileEnd = size;
    this.nextOffset = baseOffset;
    this.maxTimestamp = size === 0 ? -Infinity : undefined;
    this.createdAt = createdAt;
  }

  static create(res: StorageResources, dir: string, baseOffset: number, indexIntervalBytes: number, now: number): Segment {
    const segment = new Segment(res, dir, baseOffset, 0, indexIntervalBytes, now, false);
    res.files.create(segment.logPath);
    return segment;
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  /** Last offset held, baseOffset - 1 when empty. */
  get lastOffset(): number {
    return this.nextOffset - 1;
  }

  // -------------------------------------------------------------------------------------
  // Appending

  /**
   * Writes whole batches at the tail with one positional write. On any error the file is
   * cut back to the previous size, so the segment never claims bytes it did not store.
   */
  append(batches: readonly Buffer[], totalBytes: number): void {
    const start = this.size;
    const { files } = this.res;
    files.withFd(this.logPath, (fd) => {
      try {
        let written = batches.length === 1 ? fs.writeSync(fd, batches[0]!, 0, totalBytes, start) : fs.writevSync(fd, batches as Buffer[], start);
        // A short write (rare with regular files: disk nearly full) leaves the rest to write.
        if (written < totalBytes) {
          const all = Buffer.concat(batches as Buffer[]);
          while (written < totalBytes) written += fs.writeSync(fd, all, written, totalBytes - written, start + written);
        }
      } catch (err) {
        try {
          fs.ftruncateSync(fd, start);
          this.fileEnd = start;
        } catch {
          // The file may keep garbage past `size`; recovery cuts it, and `size` never covers it.
          this.fileEnd = Number.MAX_SAFE_INTEGER;
        }
        // ENOSPC becomes the retriable DISK_FULL: cut back, nothing of this append is stored.
        throw writeError('append', this.logPath, err);
      }
    });
    let position = start;
    for (const batch of batches) {
      if (position - this.lastIndexedPosition >= this.indexIntervalBytes && position > 0) {
        this.addIndexEntry(baseOffsetOf(batch) - this.baseOffset, position);
      } else if (position === 0) {
        this.lastIndexedPosition = 0;
      }
      const ts = readInt64(batch, Field.maxTimestamp);
      if (this.maxTimestamp !== undefined && ts > this.maxTimestamp) this.maxTimestamp = ts;
      position += batch.length;
    }
    this.size = position;
    this.fileEnd = Math.max(this.fileEnd, position);
    this.nextOffset = lastOffsetOf(batches[batches.length - 1]!) + 1;
    this.unsynced = true;
  }

  private addIndexEntry(relOffset: number, position: number): void {
    this.pending.push(relOffset, position);
    this.lastIndexedPosition = position;
    this.res.indexes.peek(this.indexPath)?.add(relOffset, position);
  }

  /**
   * Writes the first `flatCount / 2` pending index entries to the index file (no fsync).
   * Invariant: an entry reaches the index file only after the batch it points at (and so
   * everything before it) was fdatasynced. Recovery can then trust the last entry on disk
   * and validate only what follows it.
   */
  private writePendingIndex(flatCount = this.pending.length): void {
    if (flatCount === 0) return;
    const bytes = Buffer.allocUnsafe(flatCount * 4);
    for (let i = 0; i < flatCount; i++) bytes.writeUInt32BE(this.pending[i]!, i * 4);
    try {
      const written = this.withIndexFd((fd) => fs.writeSync(fd, bytes, 0, bytes.length, this.indexOnDisk * INDEX_ENTRY_SIZE));
      if (written < bytes.length) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
    } catch (err) {
      const error = writeError('index write', this.indexPath, err);
      // No room for the entries: they stay pending and the next flush writes them over
      // whatever part got there. The index is sparse, so the batches are durable all the
      // same (their fdatasync succeeded); reads meanwhile use the in-memory entries.
      if (isDiskFull(error)) return;
      throw error;
    }
    this.indexOnDisk += flatCount / 2;
    this.pending.splice(0, flatCount);
  }

  /**
   * fdatasync of the segment file, then its index entries for what that made durable.
   * `active`: the segment takes appends, so zeros may be written ahead first (`preallocate`).
   */
  async sync(active = false): Promise<void> {
    const indexable = this.pending.length;
    const truncations = this.truncations;
    this.unsynced = false;
    if (active) this.preallocate();
    try {
      await this.res.files.withFdAsync(this.logPath, (fd) => this.res.files.fdatasync(fd));
    } catch (err) {
      this.unsynced = true;
      throw storageError('fdatasync', this.logPath, err);
    }
    if (truncations === this.truncations) this.writePendingIndex(indexable);
  }

  /**
   * Writes zeros ahead of the last batch when fewer than half a step are left, so that the
   * appends after it overwrite blocks the file already holds. An fdatasync after an append
   * that grew the file must also commit the new size through the filesystem's journal,
   * which every file on the disk shares (ext4: a journal commit per sync); overwriting
   * written blocks needs none (three 4-KiB append-and-fdatasync loops side by side: 0.28 ms
   * at the median growing their files, 0.14 overwriting zeros written before). The
   * step grows with the segment (a partition that holds little costs little disk) and the
   * zeros become durable with the fdatasync that follows, the same one as the batches'.
   * Only the newest segment's file may extend past its last batch (see `seal`); recovery
   * reads zeros as a batch of length 0 and cuts the file there, like a torn tail.
   * An optimization only: a write that fails is cut back and the flush goes on.
   */
  private preallocate(): void {
    if (this.size < PREALLOCATE_FROM_BYTES) return;
    const step = Math.min(PREALLOCATE_MAX_BYTES, this.size);
    if (this.fileEnd - this.size >= step / 2) return;
    const from = this.fileEnd;
    const end = this.size + step;
    try {
      this.res.files.withFd(this.logPath, (fd) => {
        try {
          for (let at = from; at < end; ) at += fs.writeSync(fd, ZEROS, 0, end - at, at);
          this.fileEnd = end;
        } catch {
          try {
            fs.ftruncateSync(fd, from);
          } catch {
            this.fileEnd = Number.MAX_SAFE_INTEGER;
          }
        }
      });
    } catch {
      // No descriptor free: no zeros this time. Never thrown on: the caller has marked the
      // segment synced and only the fdatasync's own failure may undo that.
    }
  }

  /**
   * Called when the log rolls to a new segment: cuts the zeros written ahead of the last
   * batch, and makes the cut and the batches durable before the next segment exists. The
   * log reads older segments' lengths from their files and recovery checks only the newest,
   * so no older file may end in zeros, whatever a crash keeps of later writes. Costs one
   * fdatasync per roll, and only for a segment that was preallocated.
   */
  seal(): void {
    if (this.fileEnd !== this.size) {
      this.truncateFile(this.size);
      this.cutNotDurable = true;
    }
    // Also when an earlier seal cut the file but found no descriptor for the fdatasync.
    if (this.cutNotDurable) {
      // A flush's sync of this segment may be in flight: this one writes the index entries
      // it would have written, and it must not write them again (or others) when it ends.
      this.truncations++;
      this.syncNow();
      this.cutNotDurable = false;
    }
  }

  /** Synchronous sync, for close and recovery. */
  syncNow(): void {
    try {
      this.res.files.withFd(this.logPath, (fd) => fs.fdatasyncSync(fd));
    } catch (err) {
      throw storageError('fdatasync', this.logPath, err);
    }
    this.unsynced = false;
    this.writePendingIndex();
  }

  // -------------------------------------------------------------------------------------
  // Index

  /** The loaded index (from the shared cache, or the file; rebuilt by a scan when damaged). */
  index(): OffsetIndex {
    const cached = this.res.indexes.get(this.indexPath);
    if (cached) return cached;
    let { index, damaged } = this.readIndexFile();
    if (!damaged && index.count > 0 && !this.indexEntryPointsAtBatch(index.relOffsetAt(index.count - 1), index.positionAt(index.count - 1))) {
      damaged = true;
    }
    if (damaged) index = this.rebuildIndex();
    for (let i = 0; i < this.pending.length; i += 2) index.add(this.pending[i]!, this.pending[i + 1]!);
    this.res.indexes.set(this.indexPath, index);
    return index;
  }

  /** Runs `use` on the index file's descriptor, creating the file first if it never was. */
  private withIndexFd<T>(use: (fd: number) => T): T {
    if (!this.indexFileExists) {
      this.res.files.create(this.indexPath);
      this.indexFileExists = true;
    }
    return this.res.files.withFd(this.indexPath, use);
  }

  private readIndexFile(): { index: OffsetIndex; damaged: boolean } {
    // Never written: every entry is still pending (index() adds them).
    if (!this.indexFileExists) return { index: new OffsetIndex(), damaged: false };
    let bytes = this.res.files.readFile(this.indexPath);
    if (!bytes) {
      this.res.files.create(this.indexPath);
      this.indexFileExists = true;
      return { index: new OffsetIndex(), damaged: this.size > this.indexIntervalBytes };
    }
    if (this.indexOnDisk > 0) bytes = bytes.subarray(0, this.indexOnDisk * INDEX_ENTRY_SIZE);
    return OffsetIndex.decode(bytes, this.size);
  }

  private indexEntryPointsAtBatch(relOffset: number, position: number): boolean {
    if (position + HEADER_SIZE > this.size) return false;
    const header = Buffer.allocUnsafe(HEADER_SIZE);
    const got = this.res.files.withFd(this.logPath, (fd) => readFullySync(fd, header, HEADER_SIZE, position));
    return got === HEADER_SIZE && baseOffsetOf(header) === this.baseOffset + relOffset && batchSizeAt(header) >= HEADER_SIZE;
  }

  /**
   * Visits the header of every batch from `position` (a batch start, where the batch with
   * base offset `offset` begins) to the end of the file, reading in SCAN_CHUNK pieces, until
   * `visit` returns true. A header that fails its checks throws LogCorruption: a walk never
   * steps over bad bytes as if they were a batch. `position` in the callback is the batch's
   * file position; its header is at `at` in `chunk`.
   */
  private *walkBatches(position: number, offset: number, visit: (chunk: Buffer, at: number, position: number, size: number) => boolean | void): ReadSteps<void> {
    while (position < this.size) {
      const chunk = yield { file: this.logPath, position, length: Math.min(SCAN_CHUNK, this.size - position) };
      let at = 0;
      while (chunk.length - at >= HEADER_SIZE) {
        const size = batchSizeAt(chunk, at);
        const problem = batchHeaderProblem(chunk, at, size, offset, this.size - position - at);
        if (problem) throw this.corruption(offset, position + at, problem);
        if (visit(chunk, at, position + at, size)) return;
        offset = lastOffsetOf(chunk, at) + 1;
        at += size;
      }
      if (at === 0) throw this.corruption(offset, position, 'a batch header runs past the end of the file');
      position += at;
    }
  }

  corruption(offset: number, position: number, reason: string): LogCorruption {
    return new LogCorruption(path.dirname(this.logPath), offset, this.logPath, position, reason);
  }

  /** Rebuilds the index file from the segment's batch headers (damaged or missing index). */
  private rebuildIndex(): OffsetIndex {
    const index = new OffsetIndex();
    let last = -Infinity;
    runSync(this.res.files, this.walkBatches(0, this.baseOffset, (chunk, at, position) => {
      if (position - last >= this.indexIntervalBytes && position > 0) {
        index.add(baseOffsetOf(chunk, at) - this.baseOffset, position);
        last = position;
      }
    }));
    // Only a segment without unsynced bytes may have its index file rewritten: entries in
    // the file must point at synced batches (see writePendingIndex).
    if (!this.unsynced && this.pending.length === 0) {
      this.res.files.writeFile(this.indexPath, index.encodeRange(0));
      this.indexFileExists = true;
      this.indexOnDisk = index.count;
      this.lastIndexedPosition = index.count > 0 ? index.positionAt(index.count - 1) : this.size > 0 ? 0 : -Infinity;
    }
    return index;
  }

  // -------------------------------------------------------------------------------------
  // Reading

  /** Finds the batch holding `offset` (which must be in [baseOffset, lastOffset]). */
  *locate(offset: number): ReadSteps<BatchLocation> {
    const floor = this.index().floor(offset - this.baseOffset);
    const from = floor ? { position: floor.position, offset: this.baseOffset + floor.relOffset } : { position: 0, offset: this.baseOffset };
    const found = yield* this.findBatch(from, (chunk, at) => lastOffsetOf(chunk, at) >= offset);
    if (found) return found;
    throw this.corruption(offset, this.size, `offset ${offset} is not in the segment (size ${this.size})`);
  }

  /**
   * Largest batch maxTimestamp (scans headers once, then remembered). A scan that a
   * truncation overtook (asynchronous runs) answers but is not remembered.
   */
  *computeMaxTimestamp(): ReadSteps<number> {
    if (this.maxTimestamp !== undefined) return this.maxTimestamp;
    const truncations = this.truncations;
    let max = -Infinity;
    yield* this.walkBatches(0, this.baseOffset, (chunk, at) => {
      max = Math.max(max, readInt64(chunk, at + Field.maxTimestamp));
    });
    if (truncations === this.truncations) this.maxTimestamp = max;
    return max;
  }

  /**
   * The first batch from `from` (a batch start) for which `stop` says true, by its header
   * alone; undefined when no batch of the segment does.
   */
  *findBatch(from: { position: number; offset: number }, stop: (header: Buffer, at: number) => boolean): ReadSteps<BatchLocation | undefined> {
    let found: BatchLocation | undefined;
    yield* this.walkBatches(from.position, from.offset, (chunk, at, position, size) => {
      if (!stop(chunk, at)) return false;
      found = { position, size, baseOffset: baseOffsetOf(chunk, at), lastOffset: lastOffsetOf(chunk, at), term: termOf(chunk, at) };
      return true;
    });
    return found;
  }

  // -------------------------------------------------------------------------------------
  // Recovery and truncation

  /**
   * Validates batches from `position` (where a batch starting at `offset` is expected) to
   * the end of the file: length in bounds, magic, offsets following on, record count,
   * CRC. Stops at the first bad byte; the caller truncates there.
   */
  scanValid(position: number, offset: number, fileSize: number, indexing = true): ScanResult {
    return runSync(this.res.files, this.scanSteps(position, offset, fileSize, indexing));
  }

  /**
   * The steps of `scanValid`, for either driver. A file found shorter than `fileSize` (cut
   * while an asynchronous scan ran) ends the scan there, like a torn tail.
   */
  private *scanSteps(position: number, offset: number, fileSize: number, indexing: boolean): ReadSteps<ScanResult> {
    const result: ScanResult = { validEnd: position, nextOffset: offset, maxTimestamp: -Infinity, termChanges: [] };
    let lastTerm = -1;
    const scan = function* (this: Segment): ReadSteps<void> {
      let at = position;
      let end = fileSize;
      while (at < end) {
        const length = Math.min(RECOVERY_CHUNK, end - at);
        const chunk = yield { file: this.logPath, position: at, length };
        if (chunk.length < length) end = at + chunk.length;
        let cursor = 0;
        for (;;) {
          const left = chunk.length - cursor;
          if (left === 0) break;
          if (left < HEADER_SIZE) {
            if (at + cursor + left >= end) return void (result.stoppedBecause = 'torn batch header at the end');
            break; // header straddles the chunk: read on from here
          }
          const size = batchSizeAt(chunk, cursor);
          const why =
            batchHeaderProblem(chunk, cursor, size, result.nextOffset, end - at - cursor) ??
            (termOf(chunk, cursor) < lastTerm ? `term ${termOf(chunk, cursor)} below the previous batch's ${lastTerm}` : undefined);
          if (why) return void (result.stoppedBecause = why);
          if (left < size) {
            if (cursor === 0) {
              // A batch larger than the chunk: read exactly it.
              const whole = yield { file: this.logPath, position: at, length: size };
              if (whole.length < size || !crcMatches(whole, 0, size)) return void (result.stoppedBecause = 'CRC mismatch');
              this.noteScanned(whole, 0, result, lastTerm, indexing);
              lastTerm = termOf(whole, 0);
              cursor = size;
            }
            break;
          }
          if (!crcMatches(chunk, cursor, size)) return void (result.stoppedBecause = 'CRC mismatch');
          this.noteScanned(chunk, cursor, result, lastTerm, indexing);
          lastTerm = termOf(chunk, cursor);
          cursor += size;
        }
        at += cursor;
      }
    };
    yield* scan.call(this);
    return result;
  }

  private noteScanned(buf: Buffer, at: number, result: ScanResult, lastTerm: number, indexing: boolean): void {
    const position = result.validEnd;
    if (indexing && position - this.lastIndexedPosition >= this.indexIntervalBytes && position > 0) {
      this.addIndexEntry(baseOffsetOf(buf, at) - this.baseOffset, position);
    }
    const term = termOf(buf, at);
    if (term !== lastTerm) result.termChanges.push({ start: baseOffsetOf(buf, at), term });
    const ts = readInt64(buf, at + Field.maxTimestamp);
    if (ts > result.maxTimestamp) result.maxTimestamp = ts;
    result.validEnd += batchSizeAt(buf, at);
    result.nextOffset = lastOffsetOf(buf, at) + 1;
  }

  /**
   * Opens the newest segment after a restart: trusts the index up to its last entry that
   * points at a real batch, validates every batch after it, and cuts the file at the
   * first bad one. Returns the scan, for the log to reconcile its term runs.
   * `knownDurable`: the previous process closed the log cleanly (nothing unsynced).
   */
  recover(fileSize: number, knownDurable: boolean): ScanResult {
    this.size = fileSize;
    // A damaged index file keeps its valid prefix; entries whose batch is gone are dropped.
    const { index } = this.readIndexFile();
    while (index.count > 0 && !this.indexEntryPointsAtBatch(index.relOffsetAt(index.count - 1), index.positionAt(index.count - 1))) {
      index.truncateToPosition(index.positionAt(index.count - 1));
    }
    const start = index.count > 0 ? { relOffset: index.relOffsetAt(index.count - 1), position: index.positionAt(index.count - 1) } : undefined;
    this.indexOnDisk = index.count;
    this.pending = [];
    this.lastIndexedPosition = start ? start.position : -Infinity;
    this.res.indexes.set(this.indexPath, index);
    const result = this.scanValid(start ? start.position : 0, this.baseOffset + (start ? start.relOffset : 0), fileSize);
    if (result.validEnd < fileSize) this.truncateFile(result.validEnd);
    this.size = result.validEnd;
    this.nextOffset = result.nextOffset;
    this.maxTimestamp = start ? undefined : result.maxTimestamp;
    this.rewriteIndexFile(index, false);
    // After a process crash what survived may sit only in the page cache: sync it before
    // anyone is told it is durable. After a clean close everything was synced already
    // (and an fdatasync costs milliseconds even on a clean file on some disks).
    if (knownDurable) this.writePendingIndex();
    else this.syncNow();
    return result;
  }

  /**
   * Repair: checks every batch of the segment (as recovery does, without touching the index).
   * `validEnd < size` means a bad batch starts there.
   */
  verify(): ScanResult {
    return runSync(this.res.files, this.verifySteps());
  }

  /**
   * The steps of `verify`, for the scrubber's asynchronous, rate-limited run; from the batch
   * at `from` (a batch start) when given.
   */
  verifySteps(from: { position: number; offset: number } = { position: 0, offset: this.baseOffset }): ReadSteps<ScanResult> {
    return this.scanSteps(from.position, from.offset, this.size, false);
  }

  /**
   * Repair: cuts the segment at `position`, where a bad batch (which should have started
   * at `nextOffset`) begins, and makes the cut durable. The index is rebuilt from the
   * bytes that remain: it may point into the bad bytes, so it is not trusted.
   */
  cutBadTail(position: number, nextOffset: number): void {
    this.truncateFile(position);
    this.size = position;
    this.nextOffset = nextOffset;
    this.maxTimestamp = position === 0 ? -Infinity : undefined;
    this.res.indexes.delete(this.indexPath);
    this.pending = [];
    this.indexOnDisk = 0;
    this.truncations++;
    this.lastIndexedPosition = -Infinity;
    try {
      this.withIndexFd((fd) => fs.ftruncateSync(fd, 0));
    } catch (err) {
      throw storageError('index write', this.indexPath, err);
    }
    this.syncNow();
  }

  /**
   * Loads the index and opens both files, so that `truncateTo` right after needs no new
   * descriptor (nothing opens in between to evict them).
   */
  prepareTruncation(): void {
    this.index();
    this.res.files.withFd(this.logPath, () => undefined);
    this.withIndexFd(() => undefined);
  }

  /** Cuts the segment after `position`, where the batch starting at `nextOffset` began. */
  truncateTo(position: number, nextOffset: number): void {
    const index = this.index();
    this.truncateFile(position);
    this.size = position;
    this.nextOffset = nextOffset;
    this.maxTimestamp = position === 0 ? -Infinity : undefined;
    index.truncateToPosition(position);
    this.rewriteIndexFile(index, true);
    this.unsynced = true;
  }

  private truncateFile(position: number): void {
    try {
      this.res.files.withFd(this.logPath, (fd) => fs.ftruncateSync(fd, position));
    } catch (err) {
      throw storageError('truncate', this.logPath, err);
    }
    this.fileEnd = position;
  }

  /**
   * Makes the index file match `index` after a truncation or recovery. Entries at or past
   * `indexOnDisk` are unsynced ones and stay pending unless `keepPendingOnly` is false.
   */
  private rewriteIndexFile(index: OffsetIndex, afterTruncation: boolean): void {
    this.truncations++;
    const onDisk = Math.min(this.indexOnDisk, index.count);
    this.pending = [];
    for (let i = onDisk; i < index.count; i++) this.pending.push(index.relOffsetAt(i), index.positionAt(i));
    try {
      this.withIndexFd((fd) => {
        if (!afterTruncation) {
          const bytes = index.encodeRange(0, onDisk);
          fs.writeSync(fd, bytes, 0, bytes.length, 0);
        }
        fs.ftruncateSync(fd, onDisk * INDEX_ENTRY_SIZE);
      });
    } catch (err) {
      throw storageError('index write', this.indexPath, err);
    }
    this.indexOnDisk = onDisk;
    this.lastIndexedPosition = index.count > 0 ? index.positionAt(index.count - 1) : this.size > 0 ? 0 : -Infinity;
  }

  /** Closes descriptors and forgets the loaded index (memory for idle partitions). */
  close(): void {
    if (!this.unsynced) this.writePendingIndex();
    // Leave no zeros behind on a clean close (not synced: recovery cuts any that survive).
    if (this.fileEnd !== this.size) {
      try {
        this.truncateFile(this.size);
      } catch {
        // Recovery cuts them.
      }
    }
    this.res.files.forget(this.logPath);
    this.res.files.forget(this.indexPath);
    this.res.indexes.delete(this.indexPath);
  }

  delete(): void {
    // A flush's sync of this segment may be in flight (a truncation or a snapshot's reset
    // runs while the Raft cycle awaits it): when its fdatasync ends it must write nothing.
    // It wrote its index entries to the unlinked path, failed, and poisoned the log.
    this.truncations++;
    this.pending = [];
    this.res.files.forget(this.logPath);
    this.res.files.forget(this.indexPath);
    this.res.indexes.delete(this.indexPath);
    for (const file of [this.logPath, this.indexPath]) {
      try {
        fs.unlinkSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError('delete', file, err);
      }
    }
  }
}
