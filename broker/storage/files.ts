/**
 * File-level helpers for the storage engine: a bounded cache of open file descriptors,
 * I/O error translation, directory fsync and atomic small-file replacement.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { FlotillaError } from '../../protocol/errors.js';

/** Wraps a Node I/O error in a FlotillaError whose message says what failed and where. */
export function storageError(what: string, file: string, cause: unknown): FlotillaError {
  if (cause instanceof FlotillaError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN';
  const hint =
    code === 'ENOSPC' ? ' (disk full: free space or lower retention)' :
    code === 'EIO' ? ' (device I/O error: check the disk; this log refuses further writes)' :
    code === 'EMFILE' || code === 'ENFILE' ? ' (too many open files: lower maxOpenFiles or raise ulimit -n)' : '';
  return new FlotillaError('INTERNAL', `storage: ${what} failed on ${file}: ${code}${hint}`, { errno: code, file }, { cause });
}

/** An open descriptor shared through the cache. `pins` counts users that are mid-operation. */
interface CachedFd {
  fd: number;
  pins: number;
  evicted: boolean;
}

/**
 * Bounds how many descriptors all logs of a broker hold open. Closed segments (and idle
 * partitions' active segments) are reopened on demand. A descriptor in use by an in-flight
 * operation is pinned: eviction then only marks it, and the last user closes it, so an
 * async read never sees its fd number closed (or reused) under it.
 */
export class FileCache {
  private readonly cache: LRUCache<string, CachedFd>;
  private opened = 0;

  constructor(readonly maxOpenFiles = 1024) {
    this.cache = new LRUCache<string, CachedFd>({
      max: maxOpenFiles,
      dispose: (entry) => {
        entry.evicted = true;
        if (entry.pins === 0) this.closeQuietly(entry);
      },
    });
  }

  /** Number of descriptors currently open through this cache (including pinned, evicted ones). */
  get openCount(): number {
    return this.opened;
  }

  /**
   * Opens (or reuses) a read-write descriptor for `file` and pins it; call `release` when
   * done. Files are opened 'r+': callers create them first with `createEmpty`.
   */
  acquire(file: string): CachedFd {
    let entry = this.cache.get(file);
    if (entry === undefined) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'r+');
      } catch (err) {
        throw storageError('open', file, err);
      }
      this.opened++;
      entry = { fd, pins: 0, evicted: false };
      entry.pins++; // pinned before set(): set() may evict, never this one
      this.cache.set(file, entry);
      return entry;
    }
    entry.pins++;
    return entry;
  }

  release(entry: CachedFd): void {
    entry.pins--;
    if (entry.pins === 0 && entry.evicted) this.closeQuietly(entry);
  }

  /** Runs `use` with a pinned descriptor (sync). */
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
    const entry = this.acquire(file);
    try {
      return await use(entry.fd);
    } finally {
      this.release(entry);
    }
  }

  /** Closes the descriptor of `file` (before unlink or rename); pinned users finish first. */
  forget(file: string): void {
    this.cache.delete(file);
  }

  /** Closes every descriptor whose path starts with `prefix` (a log directory). */
  forgetUnder(prefix: string): void {
    for (const key of [...this.cache.keys()]) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  private closeQuietly(entry: CachedFd): void {
    if (entry.fd < 0) return;
    const fd = entry.fd;
    entry.fd = -1;
    this.opened--;
    try {
      fs.closeSync(fd);
    } catch {
      // Closing cannot lose data here: everything that needed to be durable was synced.
    }
  }
}

export function createEmpty(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'w'));
  } catch (err) {
    throw storageError('create', file, err);
  }
}

export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    throw storageError('fsync of directory', dir, err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(dir, 'r');
    await handle.sync();
  } catch (err) {
    throw storageError('fsync of directory', dir, err);
  } finally {
    await handle?.close();
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
