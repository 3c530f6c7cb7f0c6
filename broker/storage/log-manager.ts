/**
 * All partition logs of a broker under one data directory, sharing bounded descriptor and
 * index caches, and group commit: one flush cycle fdatasyncs every log that changed since
 * the previous cycle, so many appends across many partitions share one fsync per log.
 *
 * Durability modes (the broker's `--fsync`):
 * - `always`: `sync()` runs (or joins) a flush cycle and resolves when it is done;
 * - `batch`:  a timer runs a flush cycle every `flushIntervalMs`; `sync()` resolves at once;
 * - `never`:  no flushes except `flushAll()` (shutdown) and closing; `sync()` resolves at once.
 * In every mode `durableIndex()` of a log tells the truth about what was fdatasynced.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FlotillaError } from '../../protocol/errors.js';
import { CoalescedRun } from './coalesced-run.js';
import type { FileCache } from './files.js';
import { HardStateStore } from './hard-state.js';
import { PartitionLog, validateLogOptions, type PartitionLogOptions } from './partition-log.js';
import { createResources, type StorageResources } from './segment.js';
import { DEFAULT_TAIL_CACHE_BYTES } from './tail-cache.js';

export type DurabilityMode = 'always' | 'batch' | 'never';

export interface LogManagerOptions extends PartitionLogOptions {
  dataDir: string;
  durability: DurabilityMode;
  /** `batch` mode: ms between flush cycles. */
  flushIntervalMs: number;
  /**
   * The descriptor budget of the storage: every file it opens (segments, indexes, terms
   * files, directories to fsync, temp files) counts, including those in use.
   */
  maxOpenFiles: number;
  /** Hears every open refused for lack of descriptors (the broker logs them, rate-limited). */
  onRefusedOpen?: (error: FlotillaError) => void;
  /** Bytes of loaded offset indexes kept in memory across all logs. */
  maxIndexBytes: number;
  /** Bytes of the newest batches kept in memory across all logs (tail-cache.ts). */
  tailCacheBytes: number;
}

export const defaultManagerOptions = {
  durability: 'always' as DurabilityMode,
  flushIntervalMs: 50,
  maxOpenFiles: 4096,
  maxIndexBytes: 64 * 1024 * 1024,
  tailCacheBytes: DEFAULT_TAIL_CACHE_BYTES,
};

/** A log name is one path component (e.g. `orders-3`): no separators, no dots-only names. */
const LOG_NAME = /^[A-Za-z0-9._-]+$/;

export class LogManager {
  readonly options: LogManagerOptions;
  private readonly logs = new Map<string, PartitionLog>();
  /** Logs whose deletion runs, by name: their directory is not free for a new log yet. */
  private readonly deletions = new Map<string, Promise<void>>();
  /** Logs whose deletion failed part-way: what is left of them is no log to open. */
  private readonly failedDeletions = new Set<string>();
  private readonly resources: StorageResources;
  private readonly flushRun = new CoalescedRun(() => this.flushCycle());
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: Partial<LogManagerOptions> & { dataDir: string }) {
    const merged = { ...defaultManagerOptions, ...validateLogOptions(options), dataDir: options.dataDir } as LogManagerOptions;
    for (const key of Object.keys(defaultManagerOptions) as Array<keyof typeof defaultManagerOptions>) {
      if (options[key] !== undefined) (merged as unknown as Record<string, unknown>)[key] = options[key];
    }
    if (!['always', 'batch', 'never'].includes(merged.durability)) {
      throw new FlotillaError('INVALID_CONFIG', `storage: durability '${merged.durability}' must be always, batch or never`);
    }
    if (!(merged.flushIntervalMs > 0)) throw new FlotillaError('INVALID_CONFIG', `storage: flushIntervalMs must be > 0`);
    if (!(merged.maxOpenFiles >= 8)) throw new FlotillaError('INVALID_CONFIG', `storage: maxOpenFiles must be >= 8`);
    this.options = merged;
    this.resources = createResources(merged.maxOpenFiles, merged.maxIndexBytes, options.onRefusedOpen, merged.tailCacheBytes);
    fs.mkdirSync(merged.dataDir, { recursive: true });
    if (merged.durability === 'batch') {
      this.timer = setInterval(() => {
        this.flushAll().catch(() => undefined); // failures surface on the failing log's next use
      }, merged.flushIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * Opens (creating if needed) the log named `name`, a directory under the data dir. Not
   * while that name's deletion runs (`deletion(name)`): the new log would find the old
   * one's files, and the deletion would then remove the new log's files under it. Nor after
   * it failed (`deletionFailed(name)`), until `deleteLog(name)` succeeds: the files left
   * may be any part of the old log.
   */
  open(name: string, overrides: Partial<PartitionLogOptions> = {}): PartitionLog {
    this.checkOpen();
    const existing = this.logs.get(name);
    if (existing) return existing;
    if (this.deletions.has(name)) throw new FlotillaError('INTERNAL', `storage: log '${name}' is still being deleted; open it once deletion(name) resolves`);
    if (this.failedDeletions.has(name)) throw new FlotillaError('INTERNAL', `storage: the deletion of log '${name}' failed; delete it again before opening it`);
    const log = PartitionLog.open(this.dirOf(name), { ...this.options, ...overrides }, this.resources);
    this.logs.set(name, log);
    return log;
  }

  get(name: string): PartitionLog | undefined {
    return this.logs.get(name);
  }

  /** The open logs, in the order they were opened (the metadata log among them). */
  openLogs(): PartitionLog[] {
    return [...this.logs.values()];
  }

  /** Names of the log directories on disk (open or not). */
  listOnDisk(): string[] {
    const dir = this.options.dataDir;
    return this.files.withTransient(dir, () => fs.readdirSync(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  }

  /** The group's term/vote store, in the log's directory. */
  hardState(name: string): HardStateStore {
    return new HardStateStore(this.dirOf(name), this.files);
  }

  /** Deletes the log and its directory (topic deletion, a replica moved away); again after a failure. */
  deleteLog(name: string): Promise<void> {
    const running = this.deletions.get(name);
    if (running) return running;
    const log = this.logs.get(name);
    this.logs.delete(name);
    const deletion = (async () => (log ? log.delete() : this.files.remove(this.dirOf(name))))().then(
      () => {
        this.failedDeletions.delete(name);
        this.deletions.delete(name);
      },
      (error) => {
        this.failedDeletions.add(name);
        this.deletions.delete(name);
        throw error;
      },
    );
    this.deletions.set(name, deletion);
    return deletion;
  }

  /** True when the last deletion of the log named `name` failed and none has succeeded since. */
  deletionFailed(name: string): boolean {
    return this.failedDeletions.has(name);
  }

  /** The running deletion of the log named `name`, if any (it may wait for a flush in flight). */
  deletion(name: string): Promise<void> | undefined {
    return this.deletions.get(name);
  }

  /** What the durability mode asks for after appends: see the module comment. */
  sync(): Promise<void> {
    return this.options.durability === 'always' ? this.flushAll() : Promise.resolve();
  }

  /**
   * Group commit. Resolves when everything appended to any log before the call is
   * fdatasynced. A call made while a cycle runs joins the next cycle (one queued at most),
   * because the running cycle may have started its fsync before that append.
   */
  flushAll(): Promise<void> {
    return this.flushRun.run();
  }

  private async flushCycle(): Promise<void> {
    const dirty = [...this.logs.values()].filter((log) => log.needsFlush());
    const results = await Promise.allSettled(dirty.map((log) => log.flush()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Flushes every log and closes it. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    await this.flushAll().catch(() => undefined);
    this.closed = true;
    for (const log of this.logs.values()) await log.close().catch(() => undefined);
    this.logs.clear();
  }

  /** Descriptors currently open across all logs. */
  openFileCount(): number {
    return this.resources.files.openCount;
  }

  /** The descriptor budget every storage open goes through (also the hard-state journal's). */
  get files(): FileCache {
    return this.resources.files;
  }

  private dirOf(name: string): string {
    if (!LOG_NAME.test(name) || name === '.' || name === '..') {
      throw new FlotillaError('INVALID_REQUEST', `storage: log name '${name}' must be one path component of [A-Za-z0-9._-]`);
    }
    return path.join(this.options.dataDir, name);
  }

  private checkOpen(): void {
    if (this.closed) throw new FlotillaError('SHUTTING_DOWN', 'storage: the log manager is closed');
  }
}
