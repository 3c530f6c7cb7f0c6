/**
 * An in-memory RaftLog with the storage engine's contract, including what a crash does:
 * everything since the last `sync()` (appends, truncations, resets) is pending, and
 * `crash()` returns the log a restarted process would find — the durable image plus a
 * random prefix of the pending operations, the last of which may be torn (a suffix of its
 * entries lost). Used by the simulator, the scenario tests and the benchmark.
 *
 * It also keeps, per entry, a rolling hash of the whole log up to it (`hashAt`), so that
 * the simulator can check Log Matching in O(1) per entry: two logs that agree on
 * (index, term, hash) agree on every entry before it.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { Field, recordCountOf } from '../../protocol/batch.js';
import type { Entry, RaftLog } from './log.js';

/** The rolling hash: supplied by the user so that hashes of a snapshot boundary can be looked up. */
export interface LogHasher {
  /** Hash of the (compacted) prefix ending at `index` with `term` (after reset or at start). */
  base(index: number, term: number): number;
  /** Hash of the log up to `e`, given the hash up to the entry before it. */
  chain(prev: number, e: Entry): number;
}

/** A cheap default: FNV-style mix of index, term and the batch CRC (which covers the records). */
export const defaultHasher: LogHasher = {
  base: (index, term) => mix(mix(0x811c9dc5, index), term),
  chain: (prev, e) => mix(mix(mix(prev, e.index), e.term), e.data.length >= 21 ? e.data.readUInt32BE(Field.crc) : e.data.length),
};

export function mix(h: number, v: number): number {
  h ^= v & 0xffffffff;
  h = Math.imul(h, 0x01000193);
  h ^= Math.floor(v / 0x1_0000_0000);
  return Math.imul(h, 0x01000193) >>> 0;
}

interface Image<M> {
  first: number;
  prevTerm: number;
  baseHash: number;
  ents: Entry[];
  hs: number[];
  /** What the driver recorded about the log start (membership, state-machine image). */
  meta: M | undefined;
}

type Op<M> =
  | { kind: 'append'; ents: Entry[] }
  | { kind: 'truncate'; index: number }
  | { kind: 'reset'; index: number; term: number; meta: M | undefined };

function baseOf(e: Entry): number {
  return e.index - recordCountOf(e.data) + 1;
}

export class MemoryLog<M = unknown> implements RaftLog {
  private img: Image<M>;
  private durable: Image<M>;
  private ops: Op<M>[] = [];

  constructor(
    readonly hasher: LogHasher = defaultHasher,
    start: { index: number; term: number; meta?: M } = { index: 0, term: 0 },
  ) {
    const baseHash = hasher.base(start.index, start.term);
    this.img = { first: start.index + 1, prevTerm: start.term, baseHash, ents: [], hs: [], meta: start.meta };
    this.durable = cloneImage(this.img);
  }

  private static fromImage<M>(hasher: LogHasher, img: Image<M>): MemoryLog<M> {
    const log = new MemoryLog<M>(hasher, { index: img.first - 1, term: img.prevTerm });
    log.img = img;
    log.durable = cloneImage(img);
    return log;
  }

  firstIndex(): number {
    return this.img.first;
  }

  lastIndex(): number {
    const n = this.img.ents.length;
    return n === 0 ? this.img.first - 1 : this.img.ents[n - 1]!.index;
  }

  termAt(index: number): number | undefined {
    if (index === this.img.first - 1) return this.img.prevTerm;
    const k = findHolding(this.img, index);
    return k < 0 ? undefined : this.img.ents[k]!.term;
  }

  /** Rolling hash up to the entry that ends at `index` (or the log start); undefined otherwise. */
  hashAt(index: number): number | undefined {
    return hashIn(this.img, index);
  }

  entries(from: number, maxBytes: number): Entry[] {
    if (from < this.img.first) {
      throw new FlotillaError('OFFSET_OUT_OF_RANGE', `offset ${from} is below the log start ${this.img.first}`);
    }
    const k = findHolding(this.img, from);
    if (k < 0) return [];
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = k; i < this.img.ents.length; i++) {
      const e = this.img.ents[i]!;
      if (out.length > 0 && bytes + e.data.length > maxBytes) break;
      out.push(e);
      bytes += e.data.length;
    }
    return out;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    let last = this.lastIndex();
    for (const e of entries) {
      if (baseOf(e) !== last + 1) {
        throw new Error(`memory log: entry [${baseOf(e)}, ${e.index}] does not follow last index ${last}`);
      }
      last = e.index;
    }
    const copy = entries.slice();
    applyOp(this.hasher, this.img, { kind: 'append', ents: copy });
    this.ops.push({ kind: 'append', ents: copy });
  }

  truncateAfter(index: number): void {
    if (index >= this.lastIndex()) return;
    if (index < this.img.first - 1) throw new Error(`memory log: truncateAfter(${index}) below the log start ${this.img.first}`);
    if (index !== this.img.first - 1 && hashIn(this.img, index) === undefined) {
      throw new Error(`memory log: truncateAfter(${index}) is not an entry boundary`);
    }
    applyOp(this.hasher, this.img, { kind: 'truncate', index });
    this.ops.push({ kind: 'truncate', index });
  }

  reset(index: number, term: number): void {
    const op: Op<M> = { kind: 'reset', index, term, meta: undefined };
    applyOp(this.hasher, this.img, op);
    this.ops.push(op);
  }

  /**
   * Records what the driver knows about the log start (the snapshot's membership and
   * state-machine image). Atomic with the pending reset, if any; else durable at once.
   */
  setStartMeta(meta: M): void {
    this.img.meta = meta;
    for (let i = this.ops.length - 1; i >= 0; i--) {
      const op = this.ops[i]!;
      if (op.kind === 'reset') {
        op.meta = meta;
        return;
      }
    }
    this.durable.meta = meta;
  }

  startMeta(): M | undefined {
    return this.img.meta;
  }

  /**
   * Retention: drops the entries up to `index` (a boundary at or below what was synced and
   * applied). Takes effect in the durable image too, as deleting a segment file would.
   */
  compact(index: number, meta: M): void {
    if (index < this.img.first) return;
    if (index > this.lastIndex() || hashIn(this.img, index) === undefined) {
      throw new Error(`memory log: compact(${index}) is not an entry boundary of the log`);
    }
    compactImage(this.img, index, meta);
    if (hashIn(this.durable, index) !== undefined && index >= this.durable.first) compactImage(this.durable, index, meta);
  }

  /** Makes every pending operation durable. */
  sync(): void {
    if (this.ops.length === 0) return;
    // Replay the pending operations on the durable image: O(pending), not O(log).
    for (const op of this.ops) applyOp(this.hasher, this.durable, op);
    this.durable.meta = this.img.meta;
    this.ops = [];
  }

  pendingOps(): number {
    return this.ops.length;
  }

  /** Last index / term at an index in the durable image (what a crash now would keep for sure). */
  durableLastIndex(): number {
    const n = this.durable.ents.length;
    return n === 0 ? this.durable.first - 1 : this.durable.ents[n - 1]!.index;
  }

  durableTermAt(index: number): number | undefined {
    if (index === this.durable.first - 1) return this.durable.prevTerm;
    const k = findHolding(this.durable, index);
    return k < 0 ? undefined : this.durable.ents[k]!.term;
  }

  /**
   * The log a restarted process finds: the durable image, then a random prefix of the
   * pending operations, the last one possibly torn (an append loses a suffix of entries).
   * Returns what was kept, for the trace.
   */
  crash(random: () => number): { log: MemoryLog<M>; kept: number; pending: number; torn: boolean } {
    const img = cloneImage(this.durable);
    const pending = this.ops.length;
    const kept = Math.floor(random() * (pending + 1));
    let torn = false;
    for (let i = 0; i < kept; i++) {
      let op = this.ops[i]!;
      if (i === kept - 1 && op.kind === 'append' && random() < 0.5) {
        const keep = Math.floor(random() * op.ents.length);
        op = { kind: 'append', ents: op.ents.slice(0, keep) };
        torn = true;
      }
      applyOp(this.hasher, img, op);
    }
    return { log: MemoryLog.fromImage(this.hasher, img), kept, pending, torn };
  }
}

function cloneImage<M>(img: Image<M>): Image<M> {
  return { first: img.first, prevTerm: img.prevTerm, baseHash: img.baseHash, ents: img.ents.slice(), hs: img.hs.slice(), meta: img.meta };
}

/** Position of the entry that holds offset `index`, or -1. */
function findHolding<M>(img: Image<M>, index: number): number {
  const ents = img.ents;
  if (index < img.first || ents.length === 0 || index > ents[ents.length - 1]!.index) return -1;
  let lo = 0;
  let hi = ents.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ents[mid]!.index < index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function hashIn<M>(img: Image<M>, index: number): number | undefined {
  if (index === img.first - 1) return img.baseHash;
  const k = findHolding(img, index);
  if (k < 0 || img.ents[k]!.index !== index) return undefined;
  return img.hs[k];
}

function applyOp<M>(hasher: LogHasher, img: Image<M>, op: Op<M>): void {
  switch (op.kind) {
    case 'append': {
      let h = img.hs.length ? img.hs[img.hs.length - 1]! : img.baseHash;
      for (const e of op.ents) {
        h = hasher.chain(h, e);
        img.ents.push(e);
        img.hs.push(h);
      }
      return;
    }
    case 'truncate': {
      let n = img.ents.length;
      while (n > 0 && img.ents[n - 1]!.index > op.index) n--;
      img.ents.length = n;
      img.hs.length = n;
      return;
    }
    case 'reset':
      img.first = op.index + 1;
      img.prevTerm = op.term;
      img.baseHash = hasher.base(op.index, op.term);
      img.ents = [];
      img.hs = [];
      if (op.meta !== undefined) img.meta = op.meta;
      return;
  }
}

function compactImage<M>(img: Image<M>, index: number, meta: M): void {
  const k = findHolding(img, index);
  img.prevTerm = img.ents[k]!.term;
  img.baseHash = img.hs[k]!;
  img.ents = img.ents.slice(k + 1);
  img.hs = img.hs.slice(k + 1);
  img.first = index + 1;
  img.meta = meta;
}
