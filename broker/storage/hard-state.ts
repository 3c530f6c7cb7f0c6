/**
 * Raft hard state (term, vote) of one group, in `raft-state` in the group's directory.
 *
 * Replaced atomically (temp file, fdatasync, rename, directory fsync): after a crash the
 * file holds either the old or the new state, never a mix. A leftover `raft-state.tmp`
 * is ignored. Format, 20 bytes big-endian: uint32 version = 1, int64 term, int32 vote,
 * uint32 CRC32C of the first 16 bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { readInt64, writeInt64 } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { HardState } from '../raft/log.js';
import { FileCache } from './files.js';

export const HARD_STATE_FILE = 'raft-state';
const VERSION = 1;
const SIZE = 20;

function encode(state: HardState): Buffer {
  if (!Number.isSafeInteger(state.term) || state.term < 0 || !Number.isInteger(state.vote) || state.vote < 0 || state.vote > 0x7fff_ffff) {
    throw new FlotillaError('INVALID_REQUEST', `storage: invalid hard state term ${state.term}, vote ${state.vote}`);
  }
  const out = Buffer.alloc(SIZE);
  out.writeUInt32BE(VERSION, 0);
  writeInt64(out, 4, state.term);
  out.writeInt32BE(state.vote, 12);
  out.writeUInt32BE(crc32c(out.subarray(0, 16)), 16);
  return out;
}

function decode(bytes: Buffer, file: string): HardState {
  if (bytes.length !== SIZE || bytes.readUInt32BE(0) !== VERSION || crc32c(bytes.subarray(0, 16)) !== bytes.readUInt32BE(16)) {
    // Written atomically, so this is disk damage, not a torn write: refuse to guess a term.
    throw new FlotillaError('INTERNAL', `storage: ${file} is damaged (${bytes.length} bytes, bad version or CRC); restore it or remove the replica's data`);
  }
  return { term: readInt64(bytes, 4), vote: bytes.readInt32BE(12) };
}

/** Per file, the last save started: saves share one temp file name, so they must not overlap. */
const savesInFlight = new Map<string, Promise<void>>();

export class HardStateStore {
  readonly file: string;

  /** `files`: the broker's descriptor budget (a small one of its own when used alone). */
  constructor(readonly dir: string, private readonly files = new FileCache(16)) {
    this.file = path.join(dir, HARD_STATE_FILE);
  }

  /** The saved state, or term 0 / no vote for a group that never saved one. */
  load(): HardState {
    const bytes = this.files.readFile(this.file);
    return bytes ? decode(bytes, this.file) : { term: 0, vote: 0 };
  }

  /** Durable when the promise resolves. Saves of one file run one at a time, in call order. */
  save(state: HardState): Promise<void> {
    const bytes = encode(state);
    const previous = savesInFlight.get(this.file) ?? Promise.resolve();
    const run = previous
      .catch(() => undefined)
      .then(async () => {
        await fs.promises.mkdir(this.dir, { recursive: true });
        await this.files.replaceFile(this.file, bytes);
      });
    savesInFlight.set(this.file, run);
    const forget = (): void => {
      if (savesInFlight.get(this.file) === run) savesInFlight.delete(this.file);
    };
    run.then(forget, forget);
    return run;
  }

  /** Durable when it returns (blocks the event loop for two fsyncs). */
  saveSync(state: HardState): void {
    fs.mkdirSync(this.dir, { recursive: true });
    this.files.replaceFileSync(this.file, encode(state));
  }
}

export function loadHardState(dir: string): HardState {
  return new HardStateStore(dir).load();
}

export function saveHardState(dir: string, state: HardState): Promise<void> {
  return new HardStateStore(dir).save(state);
}

export function saveHardStateSync(dir: string, state: HardState): void {
  new HardStateStore(dir).saveSync(state);
}
