/**
 * The term and vote of every Raft group of a broker, in one append-only journal.
 *
 * A group must persist its term and vote before it answers a vote or an append that
 * depends on them. With one file per group that is two fsyncs per group per election:
 * when thousands of groups elect at once (a broker starting, a topic of 10,000
 * partitions created) the fsyncs take longer than an election timeout and the groups
 * never settle. Here one processing cycle appends the records of every group that
 * changed and makes them durable with a single fdatasync (group commit).
 *
 * Records, big-endian, two kinds:
 * - plain (16 bytes): group id u32, term u32, vote u32, CRC32C of the first 12 bytes;
 * - recovering (32 bytes), for a group whose log lost acknowledged entries (HardState
 *   recoverTo/recoverTerm): u32 0xFFFFFFFF (the kind marker: no group has that id), group
 *   id u32, term u32, vote u32, recoverTo i64, recoverTerm u32, CRC32C of the first 28 bytes.
 * Journals written before the second kind hold only plain records and read unchanged. A
 * group's plain record after a recovering one ends its recovery. On open the journal is
 * read to its first bad record (a torn last write is cut); the last record of a group wins. When the journal holds many more records than groups
 * it is rewritten with one record per group (temp file, fdatasync, rename, directory fsync).
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { readInt64, writeInt64 } from '../../protocol/batch.js';
import { isRecovering, type HardState } from '../raft/log.js';
import { FileCache, isRefusedOpen, storageError, writeError } from './files.js';

export const HARD_STATE_JOURNAL = 'raft-hard-state.journal';
const RECORD_SIZE = 16;
const RECOVERING_RECORD_SIZE = 32;
/** First word of a recovering record. Group ids are assigned from 0 upwards and never reach it. */
const RECOVERING_KIND = 0xffff_ffff;
/** Rewrite once the journal holds this many times more records than live groups (and at least 4096). */
const COMPACT_FACTOR = 4;
const COMPACT_MIN_RECORDS = 4096;
const SYNCED: Promise<void> = Promise.resolve();

function encodeRecord(groupId: number, state: HardState): Buffer {
  if (groupId === RECOVERING_KIND) throw new Error(`hard-state journal: group id ${groupId} is reserved`);
  if (isRecovering(state)) {
    const record = Buffer.allocUnsafe(RECOVERING_RECORD_SIZE);
    record.writeUInt32BE(RECOVERING_KIND, 0);
    record.writeUInt32BE(groupId, 4);
    record.writeUInt32BE(state.term, 8);
    record.writeUInt32BE(state.vote, 12);
    writeInt64(record, 16, state.recoverTo!);
    record.writeUInt32BE(state.recoverTerm ?? state.term, 24);
    record.writeUInt32BE(crc32c(record.subarray(0, 28)), 28);
    return record;
  }
  const record = Buffer.allocUnsafe(RECORD_SIZE);
  record.writeUInt32BE(groupId, 0);
  record.writeUInt32BE(state.term, 4);
  record.writeUInt32BE(state.vote, 8);
  record.writeUInt32BE(crc32c(record.subarray(0, 12)), 12);
  return record;
}

/** The record at `at` as [group, state, size], or undefined when it is torn or corrupt. */
function decodeRecord(bytes: Buffer, at: number): [number, HardState, number] | undefined {
  if (at + RECORD_SIZE > bytes.length) return undefined;
  if (bytes.readUInt32BE(at) !== RECOVERING_KIND) {
    if (crc32c(bytes.subarray(at, at + 12)) !== bytes.readUInt32BE(at + 12)) return undefined;
    return [bytes.readUInt32BE(at), { term: bytes.readUInt32BE(at + 4), vote: bytes.readUInt32BE(at + 8) }, RECORD_SIZE];
  }
  if (at + RECOVERING_RECORD_SIZE > bytes.length) return undefined;
  if (crc32c(bytes.subarray(at, at + 28)) !== bytes.readUInt32BE(at + 28)) return undefined;
  const state: HardState = {
    term: bytes.readUInt32BE(at + 8),
    vote: bytes.readUInt32BE(at + 12),
    recoverTo: readInt64(bytes, at + 16),
    recoverTerm: bytes.readUInt32BE(at + 24),
  };
  return [bytes.readUInt32BE(at + 4), state, RECOVERING_RECORD_SIZE];
}

export class HardStateJournal {
  private readonly states = new Map<number, HardState>();
  private readonly file: string;
  private fd: number;
  private size: number;
  /** Records in the file (the two kinds differ in size). */
  private records = 0;
  private pending: Buffer[] = [];
  private readonly dir: string;
  /** A compaction renamed the journal and the directory fsync has not happened yet. */
  private renamed = false;
  /** The last sync() started; the next one runs after it. */
  private lastSync: Promise<void> = Promise.resolve();
  /** Syncs started and not yet settled. */
  private syncsRunning = 0;

  /** `files`: the broker's descriptor budget, which counts the journal's descriptor. */
  constructor(dir: string, private readonly files = new FileCache(16)) {
    this.dir = dir;
    this.file = path.join(dir, HARD_STATE_JOURNAL);
    const bytes = files.readFile(this.file) ?? Buffer.alloc(0);
    let at = 0;
    for (;;) {
      const record = decodeRecord(bytes, at);
      if (!record) break;
      this.states.set(record[0], record[1]);
      at += record[2];
      this.records++;
    }
    this.fd = files.openHeld(this.file, fs.existsSync(this.file) ? 'r+' : 'w+');
    try {
      if (at !== bytes.length) {
        // A torn or corrupt tail: records after it were never reported durable.
        fs.ftruncateSync(this.fd, at);
        fs.fdatasyncSync(this.fd);
      }
    } catch (err) {
      throw storageError('cut', this.file, err);
    }
    this.size = at;
    files.fsyncDirSync(dir);
  }

  /** The group's last saved state, or undefined if it never saved one here. */
  get(groupId: number): HardState | undefined {
    return this.states.get(groupId);
  }

  /** Records a change; durable after the next `sync()` resolves. */
  set(groupId: number, state: HardState): void {
    this.states.set(groupId, state);
    this.pending.push(encodeRecord(groupId, state));
  }

  /** The group was deleted: its state goes at the next rewrite. */
  forget(groupId: number): void {
    this.states.delete(groupId);
  }

  /**
   * Writes and fdatasyncs every change recorded so far (one fsync for all groups). Calls
   * run one after another: a call that finds nothing new to write still waits for the one
   * writing its changes, and a compaction never swaps the file under a running fdatasync.
   */
  sync(): Promise<void> {
    // Nothing to write and nobody writing: done (most Raft cycles change no term or vote).
    if (this.pending.length === 0 && !this.renamed && this.syncsRunning === 0) return SYNCED;
    this.syncsRunning++;
    const done = this.lastSync.then(() => this.syncNow());
    this.lastSync = done.then(this.syncEnded, this.syncEnded);
    return done;
  }

  private readonly syncEnded = (): void => {
    this.syncsRunning--;
  };

  private async syncNow(): Promise<void> {
    if (this.pending.length > 0) {
      const records = this.pending;
      const at = this.size;
      let bytes = 0;
      for (const r of records) bytes += r.length;
      try {
        if (fs.writevSync(this.fd, records, at) < bytes) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
      } catch (err) {
        // No room: the records stay pending and the next sync writes them at the same place
        // (over any part that got there; a torn record fails its CRC at open). The caller
        // waits and tries again; nothing was reported durable.
        throw writeError('sync', this.file, err);
      }
      this.pending = [];
      this.size += bytes;
      this.records += records.length;
      try {
        await this.files.fdatasync(this.fd);
      } catch (err) {
        throw storageError('sync', this.file, err);
      }
    }
    // A compaction's rename is durable before any record written after it is reported durable.
    if (this.renamed) {
      this.files.fsyncDirSync(this.dir);
      this.renamed = false;
    }
    if (this.records > Math.max(COMPACT_MIN_RECORDS, COMPACT_FACTOR * this.states.size)) {
      try {
        this.compact();
      } catch (err) {
        // Out of descriptors before the rename: the journal is unchanged; the next sync tries again.
        if (!isRefusedOpen(err)) throw err;
      }
    }
  }

  /** Rewrites the journal with one record per live group (temp file, fdatasync, rename). */
  private compact(): void {
    const contents = Buffer.concat([...this.states].map(([groupId, state]) => encodeRecord(groupId, state)));
    const tmp = `${this.file}.tmp`;
    const fd = this.files.openHeld(tmp, 'w+');
    try {
      fs.writeSync(fd, contents, 0, contents.length, 0);
      fs.fdatasyncSync(fd);
      fs.renameSync(tmp, this.file);
    } catch (err) {
      this.files.closeHeld(fd);
      throw storageError('compact', this.file, err);
    }
    // The new file is the journal from here on; the old descriptor points at the replaced one.
    this.files.closeHeld(this.fd);
    this.fd = fd;
    this.size = contents.length;
    this.records = this.states.size;
    this.renamed = true;
    this.files.fsyncDirSync(this.dir);
    this.renamed = false;
  }

  close(): void {
    this.files.closeHeld(this.fd);
  }
}
