/**
 * The controller's snapshot on disk: the metadata state at an applied index, with the
 * term and membership there, so that its log can start after that index. Written
 * atomically (temp file, fsync, rename, fsync of the directory); one file, replaced.
 *
 * Format: a first line `crc32c=XXXXXXXX` (CRC32C of the JSON that follows, in hex), then
 * the JSON. Files written before the checksum (starting with `{`) still load unchecked.
 * A file that fails its check or does not parse is `CorruptSnapshot`: the broker then
 * starts its metadata from nothing and catches up from the controller leader.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { FlotillaError } from '../../protocol/errors.js';
import { FileCache } from '../storage/files.js';
import type { Snapshot } from '../raft/types.js';

export const CONTROLLER_SNAPSHOT_FILE = 'controller-snapshot.json';

interface SnapshotFile {
  index: number;
  term: number;
  voters: number[];
  learners: number[];
  /** The metadata as ControllerState.toJSON() wrote it. */
  state: unknown;
}

export class ControllerSnapshotFile {
  private readonly path: string;

  /** `files`: the broker's descriptor budget (a small one of its own when used alone). */
  constructor(dataDir: string, private readonly files = new FileCache(16)) {
    this.path = join(dataDir, CONTROLLER_SNAPSHOT_FILE);
  }

  load(): Snapshot | undefined {
    if (!existsSync(this.path)) return undefined;
    let saved: SnapshotFile;
    try {
      const text = readFileSync(this.path, 'utf8');
      let json = text;
      if (!text.startsWith('{')) {
        const newline = text.indexOf('\n');
        const match = /^crc32c=([0-9a-f]{8})$/.exec(text.slice(0, newline));
        json = text.slice(newline + 1);
        if (newline < 0 || !match || parseInt(match[1]!, 16) !== crc32c(Buffer.from(json))) throw new Error('checksum mismatch');
      }
      saved = JSON.parse(json) as SnapshotFile;
      if (!Number.isInteger(saved.index) || !Number.isInteger(saved.term) || !Array.isArray(saved.voters)) throw new Error('fields missing');
    } catch (error) {
      throw new CorruptSnapshot(this.path, (error as Error).message);
    }
    return { index: saved.index, term: saved.term, voters: saved.voters, learners: saved.learners ?? [], data: Buffer.from(JSON.stringify(saved.state)) };
  }

  /** Keeps a corrupt file aside (for a post-mortem) so that the next snapshot replaces nothing it needs. */
  setAside(): string {
    const aside = `${this.path}.corrupt-${Date.now()}`;
    renameSync(this.path, aside);
    return aside;
  }

  save(snapshot: Snapshot): void {
    const file: SnapshotFile = {
      index: snapshot.index,
      term: snapshot.term,
      voters: snapshot.voters,
      learners: snapshot.learners,
      state: JSON.parse(snapshot.data.toString('utf8')),
    };
    const json = Buffer.from(JSON.stringify(file));
    const header = Buffer.from(`crc32c=${crc32c(json).toString(16).padStart(8, '0')}\n`);
    this.files.replaceFileSync(this.path, Buffer.concat([header, json]));
  }
}

export class CorruptSnapshot extends FlotillaError {
  constructor(readonly path: string, reason: string) {
    super('INTERNAL', `the controller snapshot ${path} is corrupt (${reason})`);
  }
}
