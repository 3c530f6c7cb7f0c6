/**
 * Storage micro-benchmark: partition-log appends with fsync always (append, then flush, as
 * group commit does with one writer) and never, each next to a raw fs.writeSync (+
 * fdatasyncSync) loop of the same sizes run in the same process and directory; sequential
 * reads; group commit across many partitions; and 10,000 idle partitions held open.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/storage.js
 *
 * Everything runs in a temp dir under /tmp that is removed afterwards. Figures are noisy on
 * shared machines: compare ratios within a run, not absolute numbers across runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { buildBatch, patchBatch } from '../protocol/batch.js';
import { LogManager } from '../broker/storage/log-manager.js';
import { PartitionLog } from '../broker/storage/partition-log.js';

const MiB = 1024 * 1024;
const RECORD_BYTES = 1024;

export interface StorageBenchOptions {
  /** Time per append measurement (ms). */
  durationMs: number;
  /** Idle partitions to open. */
  partitions: number;
}

export interface StorageBenchRow {
  name: string;
  value: string;
  baseline?: string;
  ratio?: string;
}

function batchOf(batchBytes: number): Buffer {
  const count = Math.max(1, Math.floor(batchBytes / (RECORD_BYTES + 12)));
  return buildBatch(Array.from({ length: count }, () => ({ value: Buffer.alloc(RECORD_BYTES, 7) })));
}

/** Repeats `op` for about `ms`; returns MB/s for `bytesPerOp`. */
async function throughput(bytesPerOp: number, ms: number, op: () => void | Promise<void>): Promise<number> {
  const { bytes, seconds } = await timed(bytesPerOp, ms, op);
  return bytes / MiB / seconds;
}

async function timed(bytesPerOp: number, ms: number, op: () => void | Promise<void>): Promise<{ bytes: number; seconds: number }> {
  const start = performance.now();
  let ops = 0;
  while (performance.now() - start < ms || ops < 4) {
    await op();
    ops++;
  }
  return { bytes: bytesPerOp * ops, seconds: (performance.now() - start) / 1000 };
}

/**
 * The log and the raw loop take turns in short rounds, so that a disk whose fsync latency
 * drifts (shared VMs) treats both alike.
 */
async function appendBench(root: string, batchBytes: number, fsync: boolean, ms: number): Promise<{ log: number; raw: number }> {
  const rounds = 20;
  const batch = batchOf(batchBytes);
  const records = batch.readInt32BE(57);
  // Raw loop: the same bytes appended to one file, one write (and one fdatasync) per batch.
  const rawFile = path.join(root, `raw-${batchBytes}-${fsync}`);
  const fd = fs.openSync(rawFile, 'w');
  let position = 0;
  const log = PartitionLog.open(path.join(root, `log-${batchBytes}-${fsync}`), { segmentBytes: 256 * MiB });
  let next = 0;
  const raw = { bytes: 0, seconds: 0 };
  const ours = { bytes: 0, seconds: 0 };
  for (let round = 0; round < rounds; round++) {
    const r = await timed(batch.length, ms / rounds, () => {
      fs.writeSync(fd, batch, 0, batch.length, position);
      position += batch.length;
      if (fsync) fs.fdatasyncSync(fd);
    });
    raw.bytes += r.bytes;
    raw.seconds += r.seconds;
    const l = await timed(batch.length, ms / rounds, async () => {
      patchBatch(batch, next, 1);
      next += records;
      log.append([{ index: next - 1, term: 1, data: batch }]);
      if (fsync) await log.flush();
    });
    ours.bytes += l.bytes;
    ours.seconds += l.seconds;
  }
  fs.closeSync(fd);
  fs.rmSync(rawFile);
  await log.delete();
  return { log: ours.bytes / MiB / ours.seconds, raw: raw.bytes / MiB / raw.seconds };
}

async function readBench(root: string, ms: number): Promise<{ read: number; entries: number }> {
  const batch = batchOf(16 * 1024);
  const records = batch.readInt32BE(57);
  const log = PartitionLog.open(path.join(root, 'read'), { segmentBytes: 64 * MiB });
  let next = 0;
  while (log.sizeInBytes() < 256 * MiB) {
    patchBatch(batch, next, 1);
    next += records;
    log.append([{ index: next - 1, term: 1, data: batch }]);
  }
  await log.flush();
  let offset = 0;
  const read = await throughput(MiB, ms, async () => {
    if (offset > log.lastIndex()) offset = 0;
    const got = await log.read(offset, MiB);
    offset += Math.floor(got.length / batch.length) * records;
  });
  offset = 0;
  const entries = await throughput(MiB, ms, () => {
    if (offset > log.lastIndex()) offset = 0;
    const got = log.entries(offset, MiB);
    offset = got[got.length - 1]!.index + 1;
  });
  await log.delete();
  return { read, entries };
}

/** 100 partitions each append one 16 KiB batch per cycle; one flushAll per cycle. */
async function groupCommitBench(root: string, ms: number): Promise<{ mbps: number; fsyncsPerCycle: number }> {
  const manager = new LogManager({ dataDir: path.join(root, 'group'), durability: 'always', segmentBytes: 64 * MiB });
  const logs = Array.from({ length: 100 }, (_, i) => manager.open(`p${i}`));
  const batch = batchOf(16 * 1024);
  const records = batch.readInt32BE(57);
  const mbps = await throughput(batch.length * logs.length, ms, async () => {
    for (const log of logs) {
      const base = log.lastIndex() + 1;
      patchBatch(batch, base, 1);
      log.append([{ index: base + records - 1, term: 1, data: batch }]);
    }
    await manager.sync();
  });
  await manager.close();
  return { mbps, fsyncsPerCycle: logs.length };
}

function collectGarbage(): void {
  v8.setFlagsFromString('--expose_gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
}

function openFds(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return NaN;
  }
}

async function idlePartitionsBench(root: string, partitions: number): Promise<{ createMs: number; openMs: number; heapPerPartition: number; rssPerPartition: number; fds: number }> {
  const dataDir = path.join(root, 'idle');
  const batch = batchOf(1024);
  let start = performance.now();
  const creating = new LogManager({ dataDir, durability: 'never', maxOpenFiles: 1024 });
  for (let i = 0; i < partitions; i++) {
    const log = creating.open(`t-${i}`);
    patchBatch(batch, 0, 1);
    log.append([{ index: batch.readInt32BE(57) - 1, term: 1, data: batch }]);
  }
  await creating.close();
  const createMs = performance.now() - start;

  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  start = performance.now();
  const manager = new LogManager({ dataDir, durability: 'never', maxOpenFiles: 1024 });
  for (let i = 0; i < partitions; i++) manager.open(`t-${i}`);
  const openMs = performance.now() - start;
  collectGarbage();
  const heapPerPartition = (process.memoryUsage().heapUsed - heapBefore) / partitions;
  const rssPerPartition = (process.memoryUsage().rss - rssBefore) / partitions;
  const fds = openFds();
  await manager.close();
  return { createMs, openMs, heapPerPartition, rssPerPartition, fds };
}

export async function runStorageBench(options: Partial<StorageBenchOptions> = {}): Promise<{ rows: StorageBenchRow[]; markdown: string }> {
  const { durationMs = 2000, partitions = 10_000 } = options;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-bench-storage-'));
  const rows: StorageBenchRow[] = [];
  const mbps = (n: number): string => `${n.toFixed(1)} MB/s`;
  try {
    for (const fsync of [true, false]) {
      for (const batchBytes of [16 * 1024, 256 * 1024]) {
        const { log, raw } = await appendBench(root, batchBytes, fsync, durationMs);
        rows.push({
          name: `append ${batchBytes / 1024} KiB batches of 1 KiB records, fsync ${fsync ? 'always' : 'never'}`,
          value: mbps(log),
          baseline: mbps(raw),
          ratio: `${((log / raw) * 100).toFixed(0)}%`,
        });
      }
    }
    const group = await groupCommitBench(root, durationMs);
    rows.push({ name: `group commit: 100 partitions x 16 KiB, one flushAll per round`, value: mbps(group.mbps) });
    const reads = await readBench(root, durationMs);
    rows.push({ name: 'sequential read(offset, 1 MiB), async, page cache warm', value: mbps(reads.read) });
    rows.push({ name: 'sequential entries(offset, 1 MiB), sync, page cache warm', value: mbps(reads.entries) });
    const idle = await idlePartitionsBench(root, partitions);
    rows.push({ name: `${partitions} partitions: create + append 1 batch each`, value: `${(idle.createMs / 1000).toFixed(1)} s` });
    rows.push({ name: `${partitions} partitions: reopen (recovery of each)`, value: `${(idle.openMs / 1000).toFixed(2)} s (${((idle.openMs * 1000) / partitions).toFixed(0)} µs each)` });
    rows.push({ name: `${partitions} idle partitions open: heap per partition`, value: `${(idle.heapPerPartition / 1024).toFixed(2)} KiB` });
    rows.push({ name: `${partitions} idle partitions open: RSS per partition`, value: `${(idle.rssPerPartition / 1024).toFixed(2)} KiB` });
    rows.push({ name: `${partitions} idle partitions open: process file descriptors`, value: `${idle.fds} (cache bound 1024)` });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const lines = [
    '| storage | flotilla | raw writeSync loop | ratio |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.value} | ${r.baseline ?? ''} | ${r.ratio ?? ''} |`),
  ];
  return { rows, markdown: lines.join('\n') };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { markdown } = await runStorageBench();
  process.stdout.write(`${markdown}\n`);
}
