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
 * Record (16 bytes, big-endian): group id u32, term u32, vote u32, CRC32C of the first 12
 * bytes. On open the journal is read to its first bad record (a torn last write is cut);
 * the last record of a group wins. When the journal holds many more records than groups
 * it is rewritten with one record per group (temp file, fdatasync, rename, directory fsync).
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import type { HardState } from '../raft/log.js';
import { FileCache, fdatasyncAsync, isRefusedOpen, storageError, writeError } from './files.js';

export const HARD_STATE_JOURNAL = 'raft-hard-state.journal';
const RECORD_SIZE = 16;
/** Rewrite once the journal holds this many times more records than live groups (and at least 4096). */
const COMPACT_FACTOR = 4;
const COMPACT_MIN_RECORDS = 4096;

function encodeRecord(groupId: number, state: HardState): Buffer {
  const record = Buffer.allocUnsafe(RECORD_SIZE);
  record.writeUInt32BE(groupId, 0);
  record.writeUInt32BE(state.term, 4);
  record.writeUInt32BE(state.vote, 8);
  record.writeUInt32BE(crc32c(record.subarray(0, 12)), 12);
  return record;
}

export class HardStateJournal {
  private readonly states = new Map<number, HardState>();
  private readonly file: string;
  private fd: number;
  private size: number;
  private pending: Buffer[] = [];
  private readonly dir: string;
  /** A compaction renamed the journal and the directory fsync has not happened yet. */
  private renamed = false;

  /** `files`: the broker's descriptor budget, which counts the journal's descriptor. */
  constructor(dir: string, private readonly files = new FileCache(16)) {
    this.dir = dir;
    this.file = path.join(dir, HARD_STATE_JOURNAL);
    const bytes = files.readFile(this.file) ?? Buffer.alloc(0);
    let at = 0;
    for (; at + RECORD_SIZE <= bytes.length; at += RECORD_SIZE) {
      if (crc32c(bytes.subarray(at, at + 12)) !== bytes.readUInt32BE(at + 12)) break;
      this.states.set(bytes.readUInt32BE(at), { term: bytes.readUInt32BE(at + 4), vote: bytes.readUInt32BE(at + 8) });
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

  /** Writes and fdatasyncs every change recorded so far (one fsync for all groups). */
  async sync(): Promise<void> {
    if (this.pending.length > 0) {
      const records = this.pending;
      const at = this.size;
      const bytes = records.length * RECORD_SIZE;
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
      try {
        await fdatasyncAsync(this.fd);
      } catch (err) {
        throw storageError('sync', this.file, err);
      }
    }
    // A compaction's rename is durable before any record written after it is reported durable.
    if (this.renamed) {
      this.files.fsyncDirSync(this.dir);
      this.renamed = false;
    }
    if (this.size / RECORD_SIZE > Math.max(COMPACT_MIN_RECORDS, COMPACT_FACTOR * this.states.size)) {
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
    this.renamed = true;
    this.files.fsyncDirSync(this.dir);
    this.renamed = false;
  }

  close(): void {
    this.files.closeHeld(this.fd);
  }
}
