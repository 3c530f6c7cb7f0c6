import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  buildBatch, buildControlBatch, ControlType, Field, isControlBatch, lastOffsetOf, patchBatch, readControl, records, termOf, verifyBatch,
  batchBounds, baseOffsetOf,
} from '../../protocol/batch.js';
import { buildV1Batch, buildV1ControlBatch, V1ControlKey } from '../legacy-batch.js';
import type { Entry } from '../../broker/raft/log.js';
import { PartitionLog } from '../../broker/storage/partition-log.js';
import { LogManager } from '../../broker/storage/log-manager.js';
import { HardStateStore } from '../../broker/storage/hard-state.js';
import { replaceFileSync } from '../../broker/storage/files.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-storage-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function entry(base: number, term: number, records: number, valueBytes = 20, timestamp = 1000): Entry {
  const data = buildBatch(
    Array.from({ length: records }, (_, i) => ({ value: Buffer.alloc(valueBytes, (base + i) & 0xff), timestamp })),
    { now: timestamp },
  );
  patchBatch(data, base, term);
  return { index: base + records - 1, term, data };
}

/** Appends `count` batches of `records` each in `term` after the log's end. */
function appendBatches(log: PartitionLog, count: number, term: number, records = 3, valueBytes = 20): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const e = entry(log.lastIndex() + 1, term, records, valueBytes);
    log.append([e]);
    out.push(e);
  }
  return out;
}

function offsetsOf(buf: Buffer): number[] {
  return [...batchBounds(buf)].map((b) => baseOffsetOf(buf, b.start));
}

t.test('append, entries, read and termAt on a fresh log', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(path.join(dir, 'p0'));
  t.equal(log.firstIndex(), 0);
  t.equal(log.lastIndex(), -1);
  t.equal(log.termAt(-1), 0);
  const a = appendBatches(log, 3, 1, 4);
  const b = appendBatches(log, 2, 3, 2);
  t.equal(log.lastIndex(), 15);
  t.equal(log.termAt(0), 1);
  t.equal(log.termAt(11), 1);
  t.equal(log.termAt(12), 3);
  t.equal(log.termAt(15), 3);
  t.equal(log.termAt(16), undefined);
  const all = log.entries(0, 1 << 20);
  t.same(all.map((e) => [e.index, e.term]), [...a, ...b].map((e) => [e.index, e.term]));
  t.ok(all[0]!.data.equals(a[0]!.data));
  t.same(log.entries(5, 1).map((e) => e.index), [7], 'at least one entry, the one holding the offset');
  t.same(log.entries(16, 100), []);
  const bytes = await log.read(6, 1 << 20);
  t.same(offsetsOf(bytes), [4, 8, 12, 14]);
  for (const bounds of batchBounds(bytes)) verifyBatch(bytes.subarray(bounds.start, bounds.end));
  t.same(offsetsOf(await log.read(0, 1 << 20, 10)), [0, 4], 'stops before a batch past maxOffset');
  t.same(offsetsOf(await log.read(16, 100)), []);
  await log.close();
});

t.test('bad offsets give OFFSET_OUT_OF_RANGE naming the range', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir, { segmentBytes: 200 });
  appendBatches(log, 10, 1, 2);
  log.deleteBefore(7);
  t.equal(log.firstIndex(), 7);
  t.throws(() => log.entries(3, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  t.throws(() => log.entries(-1, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  await t.rejects(log.read(-1, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  await t.rejects(log.read(6, 100), { code: 'OFFSET_OUT_OF_RANGE', message: /6 is outside the log's range \[7, 20\]/ });
  await t.rejects(log.read(21, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  await t.rejects(log.read(1.5, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  t.throws(() => log.truncateAfter(25), { code: 'OFFSET_OUT_OF_RANGE' });
  t.throws(() => log.deleteBefore(30), { code: 'OFFSET_OUT_OF_RANGE' });
  t.throws(() => log.truncateAfter(8), { code: 'INVALID_REQUEST' }, 'inside a batch');
  t.throws(() => log.append([entry(25, 1, 1)]), { code: 'INVALID_REQUEST' }, 'gap');
  t.throws(() => log.append([entry(20, 0, 1)]), { code: 'INVALID_REQUEST' }, 'term going back');
  t.same(offsetsOf(await log.read(7, 1 << 20)), [6, 8, 10, 12, 14, 16, 18], 'the batch holding the log start is served whole');
  t.equal(log.termAt(6), 1);
  t.equal(log.termAt(5), undefined);
  await log.close();
});

t.test('segments roll by size and age; truncation crosses segments; restart keeps it all', async (t) => {
  const dir = tempDir(t);
  let now = 1_000;
  const log = PartitionLog.open(dir, { segmentBytes: 300, segmentMs: 10_000, now: () => now });
  appendBatches(log, 12, 2, 2);
  t.ok(log.segmentCount() > 3);
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.log'));
  t.ok(names.every((n) => /^\d{20}\.log$/.test(n)), 'only segments end in .log');
  const before = log.segmentCount();
  now += 20_000;
  appendBatches(log, 1, 2, 2);
  t.equal(log.segmentCount(), before + 1, 'rolled by age');
  log.truncateAfter(9);
  t.equal(log.lastIndex(), 9);
  t.equal(log.termAt(9), 2);
  appendBatches(log, 2, 5, 1);
  await log.flush();
  t.equal(log.durableIndex(), 11);
  await log.close();
  const again = PartitionLog.open(dir, { segmentBytes: 300 });
  t.equal(again.lastIndex(), 11);
  t.equal(again.termAt(10), 5);
  t.equal(again.termAt(9), 2);
  t.same(again.entries(0, 1 << 20).map((e) => e.index), [1, 3, 5, 7, 9, 10, 11]);
  await again.close();
});

t.test('reset restarts empty after the index and survives a restart', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir, { segmentBytes: 300 });
  appendBatches(log, 8, 1, 2);
  log.reset(100, 7);
  t.equal(log.firstIndex(), 101);
  t.equal(log.lastIndex(), 100);
  t.equal(log.termAt(100), 7);
  t.equal(log.termAt(99), undefined);
  t.same(log.entries(101, 100), []);
  appendBatches(log, 2, 8, 3);
  await log.close();
  const again = PartitionLog.open(dir);
  t.equal(again.firstIndex(), 101);
  t.equal(again.lastIndex(), 106);
  t.equal(again.termAt(100), 7);
  t.equal(again.termAt(101), 8);
  await again.close();
});

t.test('retention by bytes and by age never deletes the active segment or above the bound', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir, { segmentBytes: 400, retentionBytes: 800, retentionMs: 60_000 });
  for (let i = 0; i < 20; i++) log.append([entry(log.lastIndex() + 1, 1, 2, 20, 1000 + i * 1000)]);
  const segmentsBefore = log.segmentCount();
  t.equal(log.applyRetention(1_000_000, -1), 0, 'nothing committed: nothing deleted');
  const start = log.applyRetention(0, log.lastIndex());
  t.ok(start > 0, 'size retention moved the log start');
  t.ok(log.sizeInBytes() <= 800 + 400);
  t.ok(log.segmentCount() < segmentsBefore);
  log.applyRetention(10_000_000, log.lastIndex());
  t.equal(log.segmentCount(), 1, 'age retention keeps only the active segment');
  t.ok(log.firstIndex() <= log.lastIndex());
  await t.rejects(log.read(0, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  await log.close();
  const again = PartitionLog.open(dir);
  t.equal(again.firstIndex(), log.firstIndex(), 'log start survives restart');
  await again.close();
});

t.test('a new segment makes its index file with its first index entry, not before', async (t) => {
  const dir = tempDir(t);
  const indexFiles = () => fs.readdirSync(dir).filter((n) => n.endsWith('.index'));
  const log = PartitionLog.open(dir, { indexIntervalBytes: 1000 });
  t.same(indexFiles(), [], 'a new log: a segment file, no index file');
  const small = appendBatches(log, 2, 1);
  await log.flush();
  t.same(offsetsOf(await log.read(0, 1 << 20)), small.map((e) => baseOffsetOf(e.data)), 'read without an index file');
  t.same(indexFiles(), [], 'less than indexIntervalBytes written: still none');
  const more = appendBatches(log, 40, 1, 3, 100);
  t.same(indexFiles(), [], 'entries wait for the fsync of the batches they point at');
  await log.flush();
  t.equal(indexFiles().length, 1, 'made with the first synced entry');
  t.ok(fs.statSync(path.join(dir, indexFiles()[0]!)).size > 0);
  await log.close();
  const again = PartitionLog.open(dir, { indexIntervalBytes: 1000 });
  const all = [...small, ...more];
  for (const e of [all[0]!, all[20]!, all[all.length - 1]!]) t.equal(again.entries(e.index, 1)[0]!.index, e.index);
  t.same(offsetsOf(await again.read(0, 1 << 20)), all.map((e) => baseOffsetOf(e.data)));
  again.truncateAfter(all[5]!.index);
  await again.flush();
  t.equal(again.lastIndex(), all[5]!.index, 'truncation goes through the index as before');
  await again.close();
});

t.test('a segment reopened before it had an index file makes one when its first entry is synced', async (t) => {
  const dir = tempDir(t);
  const indexFiles = () => fs.readdirSync(dir).filter((n) => n.endsWith('.index'));
  const log = PartitionLog.open(dir, { indexIntervalBytes: 1000 });
  const first = appendBatches(log, 2, 1);
  await log.close();
  t.same(indexFiles(), [], 'closed with no index file');
  const again = PartitionLog.open(dir, { indexIntervalBytes: 1000 });
  const more = appendBatches(again, 40, 1, 3, 100);
  // The flush writes the first index entry: the file must be made, not assumed.
  await again.flush();
  t.equal(again.durableIndex(), again.lastIndex(), 'the flush succeeded');
  t.equal(indexFiles().length, 1);
  const all = [...first, ...more];
  t.same(offsetsOf(await again.read(0, 1 << 20)), all.map((e) => baseOffsetOf(e.data)));
  await again.close();
});

t.test('a damaged or missing index is rebuilt', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir, { segmentBytes: 4000, indexIntervalBytes: 100 });
  const written = appendBatches(log, 60, 1, 2);
  await log.close();
  const indexes = fs.readdirSync(dir).filter((n) => n.endsWith('.index')).sort();
  fs.writeFileSync(path.join(dir, indexes[0]!), Buffer.from('garbage!garbage!garbage'));
  fs.rmSync(path.join(dir, indexes[indexes.length - 1]!));
  const again = PartitionLog.open(dir, { indexIntervalBytes: 100 });
  t.equal(again.lastIndex(), written[written.length - 1]!.index);
  for (const e of written) t.equal(again.entries(e.index, 1)[0]!.index, e.index);
  t.same(offsetsOf(await again.read(0, 1 << 20)), written.map((e) => baseOffsetOf(e.data)));
  await again.close();
});

t.test('hard state round-trips, is atomic, ignores a leftover temp file', async (t) => {
  const dir = tempDir(t);
  const store = new HardStateStore(path.join(dir, 'g1'));
  t.same(store.load(), { term: 0, vote: 0 });
  await store.save({ term: 5, vote: 2 });
  t.same(store.load(), { term: 5, vote: 2 });
  store.saveSync({ term: 6, vote: 0 });
  t.same(store.load(), { term: 6, vote: 0 });
  fs.writeFileSync(store.file + '.tmp', 'half-written');
  t.same(store.load(), { term: 6, vote: 0 });
  await Promise.all([store.save({ term: 7, vote: 1 }), store.save({ term: 8, vote: 3 })]);
  t.same(store.load(), { term: 8, vote: 3 }, 'concurrent saves apply in call order');
  fs.writeFileSync(store.file, Buffer.alloc(20, 1));
  t.throws(() => store.load(), { code: 'INTERNAL' });
});

t.test('log manager: group commit coalesces flushes and tracks durable indexes', async (t) => {
  const dir = tempDir(t);
  const manager = new LogManager({ dataDir: dir, durability: 'always', maxOpenFiles: 8 });
  const logs = Array.from({ length: 20 }, (_, i) => manager.open(`topic-${i}`));
  for (const log of logs) appendBatches(log, 2, 1);
  const first = manager.flushAll();
  for (const log of logs) appendBatches(log, 1, 1);
  const second = manager.flushAll();
  const third = manager.sync();
  t.equal(second, third, 'calls during a cycle share the next one');
  await first;
  await second;
  for (const log of logs) t.equal(log.durableIndex(), log.lastIndex());
  t.ok(manager.openFileCount() <= 8 + 2, 'descriptors stay bounded');
  t.throws(() => manager.open('../escape'), { code: 'INVALID_REQUEST' });
  await manager.deleteLog('topic-3');
  t.notOk(fs.existsSync(path.join(dir, 'topic-3')));
  await manager.close();
  const reopened = new LogManager({ dataDir: dir, durability: 'never' });
  t.equal(reopened.listOnDisk().length, 19);
  t.equal(reopened.open('topic-0').lastIndex(), 8);
  await reopened.close();
});

/** Starts a flush and returns once its fdatasync is under way; `outcome` tells how it ended. */
async function flushInFlight(log: PartitionLog): Promise<{ outcome: Promise<string> }> {
  const outcome = log.flush().then(() => 'synced', (err: Error) => `failed: ${err.message}`);
  await new Promise((resolve) => setImmediate(resolve));
  return { outcome }; // wrapped: an async function returning the promise itself would wait for it
}

t.test('deleting a log while its flush is in flight: the flush ends on the files, the log goes', async (t) => {
  // The flush's fdatasync was in flight when the files went; it then wrote its index
  // entries to a file in a removed directory, failed and poisoned the log: in a broker,
  // a fatal storage failure of the Raft cycle (seen in 25 of 30 rounds).
  const dir = tempDir(t);
  const manager = new LogManager({ dataDir: dir, durability: 'always', maxOpenFiles: 16 });
  for (let round = 0; round < 20; round++) {
    const name = `deleted-${round}`;
    const log = manager.open(name);
    appendBatches(log, 200, 1, 1, 1024); // index entries pending, zeros written ahead
    const { outcome: flushed } = await flushInFlight(log);
    await manager.deleteLog(name);
    t.equal(await flushed, 'synced', `round ${round}: the flush in flight completes`);
    t.notOk(fs.existsSync(path.join(dir, name)), `round ${round}: the log's directory is gone`);
    await t.resolves(log.flush(), `round ${round}: a flush asked for after the deletion does nothing`);
  }
  await manager.close();
});

t.test("a log's name is not opened again while its deletion runs", async (t) => {
  // A replica moved away and straight back reopened its directory while the deletion of
  // the old one waited for a flush: the new log found the old entries, then lost its
  // files to the deletion.
  const dir = tempDir(t);
  const manager = new LogManager({ dataDir: dir, durability: 'always', maxOpenFiles: 16 });
  const name = 'moved-0.g7';
  appendBatches(manager.open(name), 50, 1, 1, 1024);
  const { outcome: flushed } = await flushInFlight(manager.get(name)!);
  const deleting = manager.deleteLog(name);
  t.equal(manager.deleteLog(name), deleting, 'a second deletion joins the running one');
  t.equal(manager.deletion(name), deleting, 'the deletion is known by name while it runs');
  t.throws(() => manager.open(name), { code: 'INTERNAL', message: /still being deleted/ }, 'the name cannot be opened meanwhile');
  await deleting;
  t.equal(await flushed, 'synced');
  t.equal(manager.deletion(name), undefined, 'once done, no deletion runs');
  const fresh = manager.open(name);
  t.equal(fresh.lastIndex(), -1, 'the log opened after the deletion starts empty');
  appendBatches(fresh, 1, 1, 1);
  await fresh.flush();
  await manager.close();
  const reopened = new LogManager({ dataDir: dir, durability: 'never' });
  t.equal(reopened.open(name).lastIndex(), 0, 'and keeps what it was given');
  await reopened.close();
});

t.test("a truncation or a snapshot's reset while a flush is in flight: the flush ends cleanly", async (t) => {
  // The Raft core truncates or resets the log while the cycle awaits the previous Ready's
  // flush. The flush's sync of a segment deleted meanwhile then wrote its index entries to
  // the unlinked path, failed and poisoned the log (every round, both cases): in a broker,
  // a fatal storage failure of the Raft cycle.
  const dir = tempDir(t);
  const manager = new LogManager({ dataDir: dir, durability: 'always', maxOpenFiles: 16, segmentBytes: 64 * 1024 });
  for (const cut of ['truncation', 'reset'] as const) {
    for (let round = 0; round < 5; round++) {
      const log = manager.open(`${cut}-${round}`);
      appendBatches(log, 100, 1, 1, 1024);
      await log.flush();
      appendBatches(log, 200, 1, 1, 1024); // into later segments, index entries pending
      const { outcome: flushed } = await flushInFlight(log);
      if (cut === 'truncation') log.truncateAfter(50); // deletes the later segments
      else log.reset(1000, 2);
      t.equal(await flushed, 'synced', `${cut} ${round}: the flush in flight ends cleanly`);
      const next = entry(log.lastIndex() + 1, 2, 1);
      log.append([next]);
      await log.flush();
      t.equal(log.durableIndex(), next.index, `${cut} ${round}: the log takes and syncs writes after it`);
    }
  }
  await manager.close();
  const reopened = new LogManager({ dataDir: dir, durability: 'never', segmentBytes: 64 * 1024 });
  t.equal(reopened.open('truncation-0').lastIndex(), 51, 'the truncated log reopens with what it kept and the write after');
  t.equal(reopened.open('reset-0').lastIndex(), 1001, 'the reset log reopens from the snapshot with the write after');
  await reopened.close();
});

t.test('a failed write (disk full) leaves the log as it was; a failed fsync stops writes', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir);
  appendBatches(log, 2, 1);
  const lastBefore = log.lastIndex();
  const sizeBefore = log.sizeInBytes();
  const realWriteSync = fs.writeSync;
  (fs as { writeSync: unknown }).writeSync = (fd: number, buf: Buffer, offset: number, length: number, position: number): number => {
    realWriteSync(fd, buf, offset, Math.floor(length / 2), position); // half lands on disk
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  try {
    t.throws(() => log.append([entry(lastBefore + 1, 1, 3)]), { code: 'DISK_FULL', retriable: true, message: /ENOSPC.*disk full/ });
  } finally {
    (fs as { writeSync: unknown }).writeSync = realWriteSync;
  }
  t.equal(log.lastIndex(), lastBefore);
  t.equal(log.sizeInBytes(), sizeBefore);
  const segment = fs.readdirSync(dir).find((n) => n.endsWith('.log'))!;
  t.equal(fs.statSync(path.join(dir, segment)).size, sizeBefore, 'the partial write was cut off');
  appendBatches(log, 1, 1);
  await log.flush();
  t.equal(log.durableIndex(), log.lastIndex());

  appendBatches(log, 1, 1);
  const durableBefore = log.durableIndex();
  const realFdatasync = fs.fdatasync;
  (fs as { fdatasync: unknown }).fdatasync = (_fd: number, callback: (err: Error | null) => void) =>
    callback(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
  try {
    await t.rejects(log.flush(), { code: 'INTERNAL', message: /EIO/ });
  } finally {
    (fs as { fdatasync: unknown }).fdatasync = realFdatasync;
  }
  t.equal(log.durableIndex(), durableBefore, 'nothing reported durable');
  t.throws(() => appendBatches(log, 1, 1), { code: 'INTERNAL', message: /refuses writes/ });
  await t.rejects(log.flush(), { code: 'INTERNAL' });
  t.equal((await log.read(0, 1 << 20)).length > 0, true, 'reads still work');
  await log.close();
  const again = PartitionLog.open(dir);
  t.equal(again.lastIndex(), durableBefore + 3, 'reopening recovers what reached the file');
  await again.close();
});

t.test('ENOSPC from fsync poisons the log like EIO; ENOSPC from a write does not', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir);
  appendBatches(log, 1, 1);
  await log.flush();
  // A write refused for space: the flush fails, reports nothing durable, and the next one succeeds.
  appendBatches(log, 1, 2); // a new term: the terms file has a run to write at the next flush
  const realWriteSync = fs.writeSync;
  (fs as { writeSync: unknown }).writeSync = () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  try {
    await t.rejects(log.flush(), { code: 'DISK_FULL' });
  } finally {
    (fs as { writeSync: unknown }).writeSync = realWriteSync;
  }
  t.ok(log.durableIndex() < log.lastIndex(), 'nothing reported durable');
  await log.flush();
  t.equal(log.durableIndex(), log.lastIndex(), 'the next flush, with space, makes it durable');
  // An fsync that fails with ENOSPC may have dropped accepted pages: it poisons.
  appendBatches(log, 1, 2);
  const realFdatasync = fs.fdatasync;
  (fs as { fdatasync: unknown }).fdatasync = (_fd: number, callback: (err: Error | null) => void) =>
    callback(Object.assign(new Error('ENOSPC: no space left on device, fdatasync'), { code: 'ENOSPC' }));
  try {
    await t.rejects(log.flush(), { code: 'INTERNAL', message: /ENOSPC/ });
  } finally {
    (fs as { fdatasync: unknown }).fdatasync = realFdatasync;
  }
  t.throws(() => appendBatches(log, 1, 2), { code: 'INTERNAL', message: /refuses writes/ });
  await log.close();
});

t.test('small-file replacement leaves the old or the new contents, and syncs before and after the rename', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'cluster.json');
  const tmp = `${file}.tmp`;
  replaceFileSync(file, 'old');
  // A crash mid-write left a partial temp file: readers never look at it, the next write reuses it.
  fs.writeFileSync(tmp, 'half-writ');
  t.equal(fs.readFileSync(file, 'utf8'), 'old');

  // Record the order of the calls that make the replacement durable.
  const events: string[] = [];
  const fds = new Map<number, string>();
  const real = { openSync: fs.openSync, fdatasyncSync: fs.fdatasyncSync, fsyncSync: fs.fsyncSync, renameSync: fs.renameSync };
  t.teardown(() => Object.assign(fs, real));
  const name = (fd: number) => (fds.get(fd) === dir ? 'dir' : path.basename(fds.get(fd) ?? '?'));
  Object.assign(fs, {
    openSync: (p: string, ...rest: unknown[]) => {
      const fd = (real.openSync as (...a: unknown[]) => number)(p, ...rest);
      fds.set(fd, p);
      return fd;
    },
    fdatasyncSync: (fd: number) => (events.push(`fdatasync ${name(fd)}`), real.fdatasyncSync(fd)),
    fsyncSync: (fd: number) => (events.push(`fsync ${name(fd)}`), real.fsyncSync(fd)),
    renameSync: (from: string, to: string) => (events.push(`rename ${path.basename(from)}`), real.renameSync(from, to)),
  });
  replaceFileSync(file, 'new contents');
  t.same(events, ['fdatasync cluster.json.tmp', 'rename cluster.json.tmp', 'fsync dir'], 'temp file synced, renamed, directory synced');
  t.equal(fs.readFileSync(file, 'utf8'), 'new contents');
  t.notOk(fs.existsSync(tmp), 'no temp file left behind');

  // A failure before the rename (here the sync reports an I/O error) keeps the old contents.
  fs.fdatasyncSync = () => {
    throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
  };
  t.throws(() => replaceFileSync(file, 'never visible'), { code: 'INTERNAL' });
  t.equal(fs.readFileSync(file, 'utf8'), 'new contents');
  t.notOk(fs.existsSync(tmp), 'the failed temp file is removed');
});

t.test('a log of magic 1 batches (earlier versions) reads back, takes magic 2 batches in the same segment, and reopens', async (t) => {
  const dir = tempDir(t);
  const options = { segmentBytes: 1_000, indexIntervalBytes: 150 };
  const written: Buffer[] = [];
  const append = (log: PartitionLog, data: Buffer, term: number) => {
    patchBatch(data, log.lastIndex() + 1, term);
    log.append([{ index: lastOffsetOf(data), term, data }]);
    written.push(Buffer.from(data));
  };
  const userRecords = (n: number) =>
    Array.from({ length: 3 }, (_, i) => ({ key: `k${n}.${i}`, value: `value ${n}.${i}`, headers: { n: String(n) }, timestamp: 1_000 + n }));

  // As 0.1 left it: a no-op and a configuration entry per term, user batches between them.
  const old = PartitionLog.open(dir, options);
  for (const term of [1, 2]) {
    append(old, buildV1ControlBatch(V1ControlKey.NOOP, null), term);
    append(old, buildV1ControlBatch(V1ControlKey.CONFIG, Buffer.from(`{"voters":[1,2,${term + 2}],"learners":[]}`)), term);
    for (let n = 0; n < 8; n++) append(old, buildV1Batch(userRecords(term * 100 + n)), term);
  }
  await old.close();
  const v1Count = written.length;

  /** Every batch of the log, through both read paths, checked against what was written. */
  const readAll = async (log: PartitionLog, what: string) => {
    const served = await log.read(0, 1 << 20);
    const bounds = [...batchBounds(served)];
    t.equal(bounds.length, written.length, `${what}: read serves every batch`);
    t.ok(bounds.every((b, i) => served.subarray(b.start, b.end).equals(written[i]!)), `${what}: byte for byte`);
    const entries = log.entries(0, 1 << 20);
    t.same(entries.map((e) => e.term), written.map((b) => termOf(b)), `${what}: Raft entries with their terms`);
    const controls = entries.filter((e) => isControlBatch(e.data)).map((e) => readControl(e.data).type);
    t.same(controls.slice(0, 4), [ControlType.NOOP, ControlType.CONFIG, ControlType.NOOP, ControlType.CONFIG], `${what}: magic 1 control entries read as no-op and configuration`);
    const userValues = entries.filter((e) => !isControlBatch(e.data)).flatMap((e) => [...records(e.data)].map((r) => `${r.offset}:${r.key}:${r.value}:${r.headers[0]![1]}`));
    t.equal(userValues.length, 3 * written.filter((b) => !isControlBatch(b)).length, `${what}: every user record`);
    for (const base of log.sealedSegments()) t.same(await log.verifySegment(base), { outcome: 'clean' }, `${what}: the scrubber finds segment ${base} clean`);
  };

  const reopened = PartitionLog.open(dir, options);
  t.ok(reopened.segmentCount() > 1, 'several segments');
  await readAll(reopened, 'magic 1 only');
  // Magic 2 after them, continuing the newest segment.
  append(reopened, buildControlBatch(ControlType.NOOP, null), 3);
  append(reopened, buildControlBatch(ControlType.CONFIG, Buffer.from('{"voters":[1,2,3],"learners":[]}')), 3);
  for (let n = 0; n < 6; n++) append(reopened, buildBatch(userRecords(300 + n)), 3);
  await reopened.flush();
  await readAll(reopened, 'magic 1 then magic 2');
  // A crash (no clean close) that also lost the index and terms files: recovery scans the
  // newest segment from its start and rebuilds the term runs from every batch header.
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.index') || name === 'terms') fs.rmSync(path.join(dir, name));
  const recovered = PartitionLog.open(dir, options);
  t.equal(recovered.lastIndex(), lastOffsetOf(written.at(-1)!), 'recovery keeps every batch');
  await readAll(recovered, 'after recovery');
  const magicsBySegment = fs.readdirSync(dir).filter((name) => name.endsWith('.log')).sort().map((name) => {
    const bytes = fs.readFileSync(path.join(dir, name));
    return new Set([...batchBounds(bytes)].map((b) => bytes[b.start + Field.magic]));
  });
  t.ok(magicsBySegment.some((magics) => magics.has(1) && magics.has(2)), 'one segment holds both magics');
  t.ok(written.length > v1Count);
  await recovered.close();
  await reopened.close();
});
