/**
 * The controller's snapshot on disk: the metadata state at an applied index, with the
 * term and membership there, so that its log can start after that index. Written
 * atomically (temp file, fsync, rename, fsync of the directory); one file, replaced.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
      saved = JSON.parse(readFileSync(this.path, 'utf8')) as SnapshotFile;
    } catch (error) {
      throw new FlotillaError('INTERNAL', `the controller snapshot ${this.path} cannot be read (${(error as Error).message}); restore the data directory from a replica`);
    }
    return { index: saved.index, term: saved.term, voters: saved.voters, learners: saved.learners, data: Buffer.from(JSON.stringify(saved.state)) };
  }

  save(snapshot: Snapshot): void {
    const file: SnapshotFile = {
      index: snapshot.index,
      term: snapshot.term,
      voters: snapshot.voters,
      learners: snapshot.learners,
      state: JSON.parse(snapshot.data.toString('utf8')),
    };
    this.files.replaceFileSync(this.path, Buffer.from(JSON.stringify(file)));
  }
}
