/**
 * The disk's own floor for an acknowledged write: fdatasync after a small append, timed
 * one at a time in a scratch file of the directory the brokers write to. An ack with fsync
 * always needs at least one of these (the leader's and a follower's run in parallel), so
 * the publish latency is reported beside them, measured in the same sitting.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { summarizeLatency, type LatencySummary } from './stats.js';

export interface FdatasyncOptions {
  /** Where to write: a directory on the brokers' file system. */
  dir: string;
  /** Appends, each followed by one timed fdatasync. */
  samples?: number;
  /** Bytes of each append: a 1 KiB record's batch rounds up to a page. */
  appendBytes?: number;
}

/** fdatasync latency (ms) after each of `samples` appends of `appendBytes` to a fresh file. */
export function measureFdatasync(options: FdatasyncOptions): LatencySummary {
  const samples = options.samples ?? 2_000;
  const chunk = Buffer.alloc(options.appendBytes ?? 4096, 0x5a);
  const scratch = mkdtempSync(join(options.dir, 'fdatasync-'));
  const fd = openSync(join(scratch, 'probe'), 'w');
  const times = new Float64Array(samples);
  try {
    for (let i = 0; i < samples; i++) {
      writeSync(fd, chunk);
      const start = performance.now();
      fdatasyncSync(fd);
      times[i] = performance.now() - start;
    }
  } finally {
    closeSync(fd);
    rmSync(scratch, { recursive: true, force: true });
  }
  return summarizeLatency(times);
}
