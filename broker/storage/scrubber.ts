/**
 * The background scrubber: finds bit rot in data nobody reads. Reads check every batch
 * they return, but a follower's old segments may never be read until the day they are
 * needed, when the other replicas may have lost their copies too. The scrubber walks the
 * sealed segments of every open log (partition logs and the metadata log), one log after
 * another and pass after pass, and checks each batch as recovery does (header, offset
 * continuity, CRC32C: `PartitionLog.verifySegment`). A bad batch is reported through the
 * log's `onCorruption`, the path a read takes, so the repair is the one that exists.
 *
 * Reads are limited by a token bucket in bytes per second and run asynchronously, 1 MiB at
 * a time, so the scrubber neither saturates the disk nor blocks the event loop for long.
 * The active segment is left out: it is still being written, and the tail check at open
 * covers it after a crash.
 */
import type { LogCorruption } from './corruption.js';
import type { PartitionLog } from './partition-log.js';
import type { ReadStep } from './segment.js';

/** The bucket holds one scan step: a segment is read 1 MiB at a time. */
const BURST_BYTES = 1024 * 1024;

/**
 * A pass starts at most this often by default (`--scrub-interval-ms`), so that a small data
 * set is not re-read (and a line logged) many times a minute.
 */
export const DEFAULT_SCRUB_INTERVAL_MS = 30_000;

/**
 * A token bucket in bytes: `rate` bytes a second, holding at most `burst`. Requests no
 * larger than the burst are granted at most `burst + rate × elapsed` bytes in all. A larger
 * one (a single batch above the burst) waits for a full bucket and leaves a debt the next
 * requests wait out, so the rate holds over time.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(rate > 0) || !(burst > 0)) throw new RangeError(`token bucket rate ${rate} and burst ${burst} must be > 0`);
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `bytes` and returns 0, or returns the ms to wait before asking again. */
  tryTake(bytes: number): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    const need = Math.min(bytes, this.burst);
    if (this.tokens >= need) {
      this.tokens -= bytes;
      return 0;
    }
    return Math.max(1, Math.ceil(((need - this.tokens) * 1000) / this.rate));
  }
}

/** What the scrubber needs of a log (a PartitionLog; tests may pass others). */
export type ScrubbableLog = Pick<PartitionLog, 'dir' | 'sealedSegments' | 'verifySegment'>;

export interface ScrubberOptions {
  /** The logs to scrub, asked afresh at the start of each pass. */
  logs: () => Iterable<ScrubbableLog>;
  /** Read rate; 0 = the scrubber is off. */
  bytesPerSec: number;
  /** Least time from one pass's start to the next's. */
  minPassMs?: number;
  now?: () => number;
  /** A pass completed. */
  onPass?: (pass: ScrubPass) => void;
  /** A corrupt batch was found (and reported to its log's `onCorruption`). */
  onFinding?: (error: LogCorruption) => void;
  /** A segment could not be checked (an I/O error, no descriptor free); the next pass tries again. */
  onSkipped?: (dir: string, baseOffset: number, error: unknown) => void;
}

/** One completed pass. */
export interface ScrubPass {
  pass: number;
  /** Bytes read and checked. */
  bytes: number;
  segments: number;
  corrupt: number;
  skipped: number;
  ms: number;
}

/** Progress for the broker's stats line. */
export interface ScrubStats {
  bytesPerSec: number;
  /** Passes completed. */
  passes: number;
  /** Bytes read and checked, and segments checked, in the pass under way. */
  passBytes: number;
  passSegments: number;
  /** Corrupt batches found since start. */
  corrupt: number;
  /** Segments that could not be checked since start. */
  skipped: number;
  /** Duration of the last completed pass (-1 before the first). */
  lastPassMs: number;
}

/** Thrown into a scan in progress when the scrubber stops. */
class Stopped extends Error {}

export class Scrubber {
  private readonly bucket: TokenBucket | undefined;
  private readonly now: () => number;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private passing = false;
  private wake: (() => void) | undefined;
  private current = { bytes: 0, segments: 0, corrupt: 0, skipped: 0 };
  private totals = { passes: 0, corrupt: 0, skipped: 0, lastPassMs: -1 };

  constructor(private readonly options: ScrubberOptions) {
    if (!Number.isSafeInteger(options.bytesPerSec) || options.bytesPerSec < 0) {
      throw new RangeError(`scrub rate ${options.bytesPerSec} must be 0 (off) or a positive integer of bytes per second`);
    }
    this.now = options.now ?? Date.now;
    if (options.bytesPerSec > 0) this.bucket = new TokenBucket(options.bytesPerSec, BURST_BYTES, this.now);
  }

  /** Runs passes back to back (at most one per `minPassMs`) until `stop`; nothing when off. */
  start(): void {
    if (!this.bucket || this.loop || this.stopped) return;
    this.loop = (async () => {
      while (!this.stopped) {
        const started = this.now();
        await this.runPass();
        await this.pause(started + (this.options.minPassMs ?? DEFAULT_SCRUB_INTERVAL_MS) - this.now());
      }
    })();
  }

  /** Ends the pass under way at its next read and waits for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  stats(): ScrubStats {
    return {
      bytesPerSec: this.options.bytesPerSec,
      passes: this.totals.passes,
      passBytes: this.current.bytes,
      passSegments: this.current.segments,
      corrupt: this.totals.corrupt,
      skipped: this.totals.skipped,
      lastPassMs: this.totals.lastPassMs,
    };
  }

  /**
   * One pass over every sealed segment of every log. Resolves with its summary, or
   * undefined when the scrubber stopped during it. Only one pass runs at a time.
   */
  async runPass(): Promise<ScrubPass | undefined> {
    if (!this.bucket) throw new Error('the scrubber is off (rate 0)');
    if (this.passing) throw new Error('a scrub pass is already running');
    this.passing = true;
    const started = this.now();
    this.current = { bytes: 0, segments: 0, corrupt: 0, skipped: 0 };
    try {
      for (const log of [...this.options.logs()]) {
        for (const baseOffset of log.sealedSegments()) {
          if (this.stopped) return undefined;
          // A finding ends the log's pass: the repair cuts the log from the bad batch on.
          if (await this.checkSegment(log, baseOffset)) break;
        }
      }
      if (this.stopped) return undefined;
      const pass: ScrubPass = { pass: ++this.totals.passes, ...this.current, ms: this.now() - started };
      this.totals.lastPassMs = pass.ms;
      this.options.onPass?.(pass);
      return pass;
    } finally {
      this.passing = false;
    }
  }

  /** Checks one segment; true when it held a corrupt batch. */
  private async checkSegment(log: ScrubbableLog, baseOffset: number): Promise<boolean> {
    try {
      const check = await log.verifySegment(baseOffset, (step) => this.throttle(step));
      if (check.outcome === 'gone') return false;
      this.current.segments++;
      if (check.outcome === 'clean') return false;
      this.current.corrupt++;
      this.totals.corrupt++;
      this.options.onFinding?.(check.error);
      return true;
    } catch (error) {
      if (error instanceof Stopped) return false;
      this.current.skipped++;
      this.totals.skipped++;
      this.options.onSkipped?.(log.dir, baseOffset, error);
      return false;
    }
  }

  /** Waits until the bucket grants the step's bytes (or the scrubber stops). */
  private async throttle(step: ReadStep): Promise<void> {
    for (let wait = this.bucket!.tryTake(step.length); wait > 0 && !this.stopped; wait = this.bucket!.tryTake(step.length)) {
      await this.pause(wait);
    }
    if (this.stopped) throw new Stopped();
    this.current.bytes += step.length;
  }

  /** Sleeps `ms`; `stop` cuts it short. */
  private pause(ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
