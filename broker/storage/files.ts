/**
 * File-level helpers for the storage engine: the budget of open file descriptors (every
 * open goes through it), I/O error translation, directory fsync and atomic small-file
 * replacement.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FlotillaError } from '../../protocol/errors.js';

/** Wraps a Node I/O error in a FlotillaError whose message says what failed and where. */
export function storageError(what: string, file: string, cause: unknown): FlotillaError {
  if (cause instanceof FlotillaError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN';
  if (isOutOfDescriptors(code)) return refusal(what, file, code, cause);
  const hint =
    code === 'ENOSPC' ? ' (disk full: free space or lower retention)' :
    code === 'EIO' ? ' (device I/O error: check the disk; this log refuses further writes)' : '';
  return new FlotillaError('INTERNAL', `storage: ${what} failed on ${file}: ${code}${hint}`, { errno: code, file }, { cause });
}

/**
 * For a failed *write* (never an fsync): ENOSPC becomes the retriable DISK_FULL. The write
 * did not store the bytes (the caller cuts back what a short write left), the page cache
 * and the file are as before, so nothing that was reported durable is at risk and the same
 * write can simply be tried again once space returns. An fsync that fails (even with
 * ENOSPC, which ext4 can report from writeback) is different: the kernel may have dropped
 * dirty pages it already accepted (fsyncgate), so that stays an INTERNAL error that
 * poisons the log (see storageError).
 */
export function writeError(what: string, file: string, cause: unknown): FlotillaError {
  if ((cause as NodeJS.ErrnoException | undefined)?.code !== 'ENOSPC') return storageError(what, file, cause);
  return new FlotillaError('DISK_FULL', `storage: ${what} refused on ${file}: ENOSPC (disk full: free space or lower retention; the write was not stored)`, { errno: 'ENOSPC', file }, { cause });
}

/** A write the disk had no room for (see writeError): nothing was stored; retry once there is space. */
export function isDiskFull(error: unknown): boolean {
  return error instanceof FlotillaError && error.code === 'DISK_FULL';
}

/**
 * An operation that did not happen and may simply be tried again: an open refused for lack
 * of descriptors, or a write refused for lack of space. Never a reason to stop the broker.
 */
export function isRefusal(error: unknown): boolean {
  return isRefusedOpen(error) || isDiskFull(error);
}

function isOutOfDescriptors(code: unknown): boolean {
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * An open that could not get a descriptor. Nothing was opened, so the operation did not
 * happen: it is retriable (BROKER_BUSY), never a reason to stop the broker.
 */
function refusal(what: string, file: string, reason: string, cause?: unknown): FlotillaError {
  return new FlotillaError(
    'BROKER_BUSY',
    `storage: ${what} of ${file} refused: ${reason} (the broker is at its open-file budget; retry shortly, or raise ulimit -n)`,
    { errno: reason, file, refused: true },
    { cause },
  );
}

/** True for the error of an open refused for lack of descriptors (nothing happened). */
export function isRefusedOpen(error: unknown): boolean {
  return error instanceof FlotillaError && error.details.refused === true;
}

/** An open descriptor shared through the cache. `pins` counts users that are mid-operation. */
interface CachedFd {
  file: string;
  fd: number;
  pins: number;
  /** Out of the cache (forgotten); the last user closes it. */
  evicted: boolean;
}

export interface FileCacheStats {
  /** Descriptors open through the cache now: cached, pinned after eviction, transient. */
  openFiles: number;
  /** The most ever open at once; never above `fileBudget`. */
  peakOpenFiles: number;
  fileBudget: number;
  /** Opens refused (budget all pinned, or EMFILE/ENFILE from the OS) since start. */
  openRefusals: number;
}

/**
 * Descriptors kept free of async pins, for synchronous operations (which hold one at a time)
 * and the hard-state journal's long-lived descriptor.
 */
const SYNC_HEADROOM = 8;

/**
 * Every descriptor the storage opens goes through here, counted against one budget:
 * segments, indexes and terms files (kept open, least recently used closed first), and the
 * short-lived ones (directory fsyncs, temp files, whole-file reads and writes). The count
 * includes descriptors pinned by in-flight operations, so it never exceeds `budget`.
 *
 * A descriptor in use by an operation is pinned: eviction skips it, and `forget` only marks
 * it, the last user closing it, so an async read never sees its fd number closed (or
 * reused) under it. Operations that hold a descriptor across an await (fdatasync, consumer
 * reads) wait for one of `budget - SYNC_HEADROOM` permits; synchronous ones hold at most
 * one at a time, so they always find a free or idle descriptor within the headroom. A flush
 * of 10,000 partitions therefore queues for descriptors instead of opening 20,000 at once.
 *
 * When no descriptor can be had (everything pinned, or the OS says EMFILE/ENFILE because
 * sockets took more than their reserve) the open is refused with a retriable BROKER_BUSY.
 */
export class FileCache {
  /** Unpinned open descriptors, least recently used first (Map keeps insertion order). */
  private readonly idle = new Map<string, CachedFd>();
  /** Every cached descriptor, pinned or idle. */
  private readonly cached = new Map<string, CachedFd>();
  private opened = 0;
  private peak = 0;
  private refusals = 0;
  private readonly asyncLimit: number;
  private asyncHeld = 0;
  private readonly asyncWaiters: Array<() => void> = [];

  /** `onRefusal` hears every refused open (the broker logs them, rate-limited). */
  constructor(readonly budget = 1024, private readonly onRefusal?: (error: FlotillaError) => void) {
    if (!(Number.isInteger(budget) && budget >= 8)) throw new FlotillaError('INVALID_CONFIG', `storage: the open-file budget must be an integer >= 8, got ${budget}`);
    this.asyncLimit = budget - Math.min(SYNC_HEADROOM, Math.floor(budget / 2));
  }

  /** Hears the seconds of every fdatasync made through `fdatasync` (the broker's fsync histogram). */
  onSync?: (seconds: number) => void;

  /** fdatasync of `fd`, timed for `onSync`. */
  async fdatasync(fd: number): Promise<void> {
    const started = performance.now();
    await fdatasyncAsync(fd);
    this.onSync?.((performance.now() - started) / 1000);
  }

  /** Number of descriptors currently open through this cache (including pinned, evicted ones). */
  get openCount(): number {
    return this.opened;
  }

  stats(): FileCacheStats {
    return { openFiles: this.opened, peakOpenFiles: this.peak, fileBudget: this.budget, openRefusals: this.refusals };
  }

  /** Runs `use` with a pinned read-write descriptor of `file` (created first with `create`). */
  withFd<T>(file: string, use: (fd: number) => T): T {
    const entry = this.acquire(file);
    try {
      return use(entry.fd);
    } finally {
      this.release(entry);
    }
  }

  /** Runs `use` with a pinned descriptor held across the promise. */
  async withFdAsync<T>(file: string, use: (fd: number) => Promise<T>): Promise<T> {
    await this.takeAsyncPermit();
    try {
      const entry = this.acquire(file);
      try {
        return await use(entry.fd);
      } finally {
        this.release(entry);
      }
    } finally {
      this.giveAsyncPermit();
    }
  }

  /**
   * Runs `use`, which opens and closes one descriptor of its own (`readFileSync`, a temp
   * file, a directory to fsync), within the budget. `file` names it in errors.
   */
  withTransient<T>(file: string, use: () => T): T {
    this.takeSlot(file);
    try {
      return this.retryOnce(file, use);
    } finally {
      this.opened--;
    }
  }

  /** `withTransient` for a descriptor held across a promise. */
  async withTransientAsync<T>(file: string, use: () => Promise<T>): Promise<T> {
    await this.takeAsyncPermit();
    try {
      this.takeSlot(file);
      try {
        return await use();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw isOutOfDescriptors(code) ? this.refuse(refusal('open', file, String(code), err)) : err;
      } finally {
        this.opened--;
      }
    } finally {
      this.giveAsyncPermit();
    }
  }

  /**
   * Opens a descriptor kept outside the cache (the hard-state journal's), counted against
   * the budget until `closeHeld`.
   */
  openHeld(file: string, flags: string): number {
    this.takeSlot(file);
    try {
      return this.retryOnce(file, () => fs.openSync(file, flags));
    } catch (err) {
      this.opened--;
      throw storageError('open', file, err);
    }
  }

  closeHeld(fd: number): void {
    this.opened--;
    try {
      fs.closeSync(fd);
    } catch {
      // Closing cannot lose data here: everything that needed to be durable was synced.
    }
  }

  /** Closes the descriptor of `file` (before unlink or rename); pinned users finish first. */
  forget(file: string): void {
    const entry = this.cached.get(file);
    if (!entry) return;
    this.cached.delete(file);
    this.idle.delete(file);
    entry.evicted = true;
    if (entry.pins === 0) this.close(entry);
  }

  /** Closes every descriptor whose path starts with `prefix` (a log directory). */
  forgetUnder(prefix: string): void {
    for (const key of [...this.cached.keys()]) if (key.startsWith(prefix)) this.forget(key);
  }

  // -------------------------------------------------------------------------------------

  private acquire(file: string): CachedFd {
    let entry = this.cached.get(file);
    if (entry === undefined) {
      entry = { file, fd: this.openHeld(file, 'r+'), pins: 0, evicted: false };
      this.cached.set(file, entry);
    }
    if (entry.pins++ === 0) this.idle.delete(file);
    return entry;
  }

  private release(entry: CachedFd): void {
    if (--entry.pins > 0) return;
    if (entry.evicted) this.close(entry);
    else this.idle.set(entry.file, entry); // most recently used: last
  }

  /** Counts one more descriptor, closing the least recently used idle one at the budget. */
  private takeSlot(file: string): void {
    if (this.opened >= this.budget && !this.evictOne()) {
      throw this.refuse(refusal('open', file, `all ${this.budget} descriptors of the budget are in use`));
    }
    this.opened++;
    if (this.opened > this.peak) this.peak = this.opened;
  }

  /** Runs an open; on EMFILE/ENFILE (sockets took more than their reserve) closes one idle descriptor and tries once more. */
  private retryOnce<T>(file: string, open: () => T): T {
    try {
      return open();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!isOutOfDescriptors(code)) throw err;
      if (this.evictOne()) {
        try {
          return open();
        } catch (again) {
          if (!isOutOfDescriptors((again as NodeJS.ErrnoException).code)) throw again;
        }
      }
      throw this.refuse(refusal('open', file, String(code), err));
    }
  }

  private evictOne(): boolean {
    const oldest = this.idle.values().next();
    if (oldest.done) return false;
    this.forget(oldest.value.file);
    return true;
  }

  private refuse(error: FlotillaError): FlotillaError {
    this.refusals++;
    this.onRefusal?.(error);
    return error;
  }

  private async takeAsyncPermit(): Promise<void> {
    if (this.asyncHeld < this.asyncLimit) {
      this.asyncHeld++;
      return;
    }
    // The releasing operation hands its permit over directly (asyncHeld stays the same).
    await new Promise<void>((resolve) => this.asyncWaiters.push(resolve));
  }

  private giveAsyncPermit(): void {
    const next = this.asyncWaiters.shift();
    if (next) next();
    else this.asyncHeld--;
  }

  private close(entry: CachedFd): void {
    if (entry.fd < 0) return;
    const fd = entry.fd;
    entry.fd = -1;
    this.closeHeld(fd);
  }

  // -------------------------------------------------------------------------------------
  // Short-lived descriptors

  /**
   * Creates (or empties) `file`, writes `contents`, and keeps the descriptor in the cache
   * for the reads and writes that follow: a new log's files cost one open each.
   */
  create(file: string, contents?: Buffer): void {
    this.forget(file);
    this.takeSlot(file);
    let fd: number;
    try {
      fd = this.retryOnce(file, () => fs.openSync(file, 'w+'));
    } catch (err) {
      this.opened--;
      throw writeError('create', file, err);
    }
    const entry: CachedFd = { file, fd, pins: 0, evicted: false };
    this.cached.set(file, entry);
    this.idle.set(file, entry);
    if (contents && contents.length > 0) {
      try {
        if (fs.writeSync(fd, contents, 0, contents.length, 0) < contents.length) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
      } catch (err) {
        throw writeError('write', file, err);
      }
    }
  }

  /** The whole file, or undefined when it does not exist. */
  readFile(file: string): Buffer | undefined {
    try {
      return this.withTransient(file, () => fs.readFileSync(file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError('read', file, err);
    }
  }

  /** File names in `dir`. */
  readdir(dir: string): string[] {
    try {
      return this.withTransient(dir, () => fs.readdirSync(dir));
    } catch (err) {
      throw storageError('list', dir, err);
    }
  }

  /** Removes `target` and everything under it (rm opens directories to list them). */
  async remove(target: string): Promise<void> {
    try {
      await this.withTransientAsync(target, () => fs.promises.rm(target, { recursive: true, force: true }));
    } catch (err) {
      throw storageError('remove', target, err);
    }
  }

  /** Writes `contents` as the whole file, without fsync. */
  writeFile(file: string, contents: Buffer | string): void {
    try {
      this.withTransient(file, () => fs.writeFileSync(file, contents));
    } catch (err) {
      throw storageError('write', file, err);
    }
  }

  fsyncDirSync(dir: string): void {
    this.withTransient(dir, () => fsyncDirSync(dir));
  }

  async fsyncDir(dir: string): Promise<void> {
    try {
      await this.withTransientAsync(dir, async () => {
        const handle = await fs.promises.open(dir, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      });
    } catch (err) {
      throw storageError('fsync of directory', dir, err);
    }
  }

  /** `replaceFileSync` (below) within the budget. */
  replaceFileSync(file: string, contents: Buffer): void {
    this.withTransient(`${file}.tmp`, () => replaceFileSync(file, contents));
  }

  async replaceFile(file: string, contents: Buffer): Promise<void> {
    const tmp = `${file}.tmp`;
    try {
      await this.withTransientAsync(tmp, async () => {
        const handle = await fs.promises.open(tmp, 'w');
        try {
          await handle.write(contents, 0, contents.length, 0);
          await handle.datasync();
        } finally {
          await handle.close();
        }
      });
      await fs.promises.rename(tmp, file);
    } catch (err) {
      throw storageError('atomic replace', file, err);
    }
    await this.fsyncDir(path.dirname(file));
  }
}

/** Makes a directory's entries (files created, renamed or removed) durable. */
export function fsyncDirSync(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw storageError('fsync of directory', dir, err);
  }
}

export function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function readAsync(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buf, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
  );
}

/** Reads exactly `length` bytes at `position` unless the file ends first; returns bytes read. */
export function readFullySync(fd: number, buf: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Replaces `file` with `contents` so that a crash (or power loss) leaves either the old or
 * the new file, never an empty or partial one: write a temp file, fsync it, rename it over,
 * fsync the directory so the rename itself is durable. This is the one way every small
 * file of the broker (cluster and replica files, Raft state, controller snapshot, term
 * index) is replaced. A temp file (`*.tmp`) left by a crash is never read: the next
 * replacement truncates and reuses it; a failed replacement removes it.
 */
export function replaceFileSync(file: string, contents: Buffer | string): void {
  const tmp = `${file}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, contents); // loops until every byte is written
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // The error that matters is the one below; a leftover temp file is harmless.
    }
    throw storageError('atomic replace', file, err);
  }
  fsyncDirSync(path.dirname(file));
}
