/**
 * How many file descriptors the storage may use: the process's open-file limit less a
 * reserve for sockets and the rest of the process.
 *
 * Node has no getrlimit; on Linux `/proc/self/limits` has it. Node raises the soft limit to
 * the hard one at start-up, so the soft column read here is the limit the broker lives with.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { FlotillaError } from '../protocol/errors.js';
import type { BrokerConfig } from './config.js';

/** Assumed when the limit cannot be read (not Linux): the usual default soft limit. */
export const DEFAULT_OPEN_FILE_LIMIT = 1024;
/** Peer connections (two per peer), the log output, Node's own descriptors, broker metadata files. */
const PROCESS_RESERVE = 64;

/** The soft "Max open files" of this process, or undefined when unknown or unlimited. */
export function readOpenFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.slice('Max open files'.length).trim().split(/\s+/)[0]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}

export interface DescriptorBudget {
  /** The process's open-file limit (or the default assumed). */
  limit: number;
  /** Kept for sockets and everything else. */
  reserve: number;
  /** What the storage may use. */
  files: number;
}

/**
 * Reserve: every allowed client connection plus PROCESS_RESERVE, but at most half the
 * limit, so that a small limit still leaves the storage half of it (clients beyond the
 * reserve then meet refused opens, which are retriable, not a stopped broker).
 */
export function descriptorBudget(limit: number | undefined, maxConnections: number): DescriptorBudget {
  const known = limit ?? DEFAULT_OPEN_FILE_LIMIT;
  const reserve = Math.min(maxConnections + PROCESS_RESERVE, Math.floor(known / 2));
  const files = known - reserve;
  if (files < 8) {
    throw new FlotillaError('INVALID_CONFIG', `ulimit -n ${known} leaves ${files} descriptors for storage files (8 at least); raise ulimit -n`);
  }
  return { limit: known, reserve, files };
}

/**
 * The storage's descriptor budget: `ulimit -n` less a reserve for sockets, or
 * --max-open-files when that is smaller (a larger one is lowered, with a warning).
 */
export function decideFileBudget(config: Pick<BrokerConfig, 'maxConnections' | 'maxOpenFiles'>, logger: Logger): number {
  const budget = descriptorBudget(readOpenFileLimit(), config.maxConnections);
  const asked = config.maxOpenFiles;
  if (asked !== undefined && asked > budget.files) {
    logger.warn({ maxOpenFiles: asked, openFileLimit: budget.limit, socketReserve: budget.reserve, fileBudget: budget.files }, '--max-open-files is above what ulimit -n leaves for files; lowered to the budget');
  }
  const files = asked !== undefined ? Math.min(asked, budget.files) : budget.files;
  logger.info({ openFileLimit: budget.limit, socketReserve: budget.reserve, fileBudget: files }, 'open-file budget');
  return files;
}

/** At most one warning about refused opens this often. */
const REFUSAL_WARNING_MS = 10_000;

/** Warns about opens refused for lack of descriptors: one warning per interval, not one per refusal (a burst can refuse thousands). */
export class RefusedOpenWarnings {
  /** Refused opens not yet reported in a warning, and when the last warning went out. */
  private refusedSinceWarning = 0;
  private lastWarning = 0;

  constructor(
    private readonly logger: Logger,
    private readonly fileBudget: number,
    private readonly openFiles: () => number,
  ) {}

  note(error: FlotillaError): void {
    this.refusedSinceWarning++;
    const now = Date.now();
    if (now - this.lastWarning < REFUSAL_WARNING_MS) return;
    this.logger.warn({ refusedOpens: this.refusedSinceWarning, fileBudget: this.fileBudget, openFiles: this.openFiles(), example: error.message }, 'storage opens refused for lack of descriptors; the operations are retried');
    this.refusedSinceWarning = 0;
    this.lastWarning = now;
  }
}
