/**
 * A batch on disk that fails its checks (length, magic, offset continuity, CRC32C). Every
 * read that leaves the storage engine — to consumers, to followers, to the Raft core —
 * checks each batch, and stops at a bad one with this error instead of passing it on.
 * It is retriable for a client: another replica (or this one, once repaired) has the data.
 */
import { FlotillaError } from '../../protocol/errors.js';

export class LogCorruption extends FlotillaError {
  constructor(
    /** Directory of the log. */
    readonly dir: string,
    /** Offset of the first batch that failed (the one expected where the bad bytes are). */
    readonly offset: number,
    readonly file: string,
    readonly position: number,
    readonly reason: string,
  ) {
    super('REPLICA_NOT_AVAILABLE', `storage: corrupt batch at offset ${offset} in ${file} (byte ${position}): ${reason}; this replica will not serve it and repairs itself from the leader`, {
      corruptOffset: offset,
    });
    this.name = 'FlotillaError';
  }
}

export function isLogCorruption(error: unknown): error is LogCorruption {
  return error instanceof LogCorruption;
}
