/**
 * Preallocation of the active segment (broker/storage/segment.ts, `preallocate`): a flush
 * writes zeros ahead of the last batch so later appends overwrite written blocks; only the
 * newest segment's file may end in zeros, and recovery cuts them like a torn tail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { buildBatch, patchBatch } from '../../protocol/batch.js';
import type { Entry } from '../../broker/raft/log.js';
import { PartitionLog } from '../../broker/storage/partition-log.js';
import { createResources } from '../../broker/storage/segment.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-prealloc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Appends `count` batches of three 300-byte records (about 1 KiB each) after the log's end. */
function appendBatches(log: PartitionLog, count: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const base = log.lastIndex() + 1;
    const data = buildBatch(Array.from({ length: 3 }, (_, r) => ({ value: Buffer.alloc(300, (base + r) & 0xff), timestamp: 1000 })), { now: 1000 });
    patchBatch(data, base, term);
    const e = { index: base + 2, term, data };
    log.append([e]);
    out.push(e);
  }
  return out;
}

const bytesOf = (entries: Entry[]): number => entries.reduce((sum, e) => sum + e.data.length, 0);
const segmentFiles = (dir: string): string[] => fs.readdirSync(dir).filter((name) => name.endsWith('.log')).sort().map((name) => path.join(dir, name));
const sizeOf = (file: string): number => fs.statSync(file).size;

/** Every entry of the log, compared byte for byte with what was appended. */
function checkEntries(t: Test, log: PartitionLog, written: Entry[], what: string): void {
  const got = log.entries(written[0]!.index - 2, 64 * 1024 * 1024);
  t.equal(got.length, written.length, `${what}: every entry`);
  t.ok(got.every((e, i) => e.index === written[i]!.index && e.data.equals(written[i]!.data)), `${what}: the same bytes`);
}

t.test('a flush writes zeros ahead of the active segment once it holds 64 KiB; reads never see them', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir);
  const small = appendBatches(log, 20);
  await log.flush();
  const [file] = segmentFiles(dir);
  t.equal(sizeOf(file!), bytesOf(small), 'a segment under 64 KiB is not preallocated');

  const written = [...small, ...appendBatches(log, 80)];
  await log.flush();
  const stored = bytesOf(written);
  t.ok(stored > 64 * 1024, `holds ${stored} bytes`);
  t.equal(sizeOf(file!), 2 * stored, 'zeros ahead: as many bytes as the segment holds (below 1 MiB)');
  t.ok(fs.readFileSync(file!).subarray(stored).every((b) => b === 0), 'and they are zeros');
  t.equal(log.sizeInBytes(), stored, 'the log counts its batches, not the zeros');
  checkEntries(t, log, written, 'entries');
  const read = await log.read(written[0]!.index - 2, 64 * 1024 * 1024);
  t.equal(read.length, stored, 'a consumer read returns the batches only');

  // Appends land on the zeros; no new zeros until less than half a step is left.
  const more = appendBatches(log, 10);
  await log.flush();
  t.equal(sizeOf(file!), 2 * stored, 'appends overwrite the zeros');
  t.ok(fs.readFileSync(file!).subarray(stored, stored + bytesOf(more)).equals(Buffer.concat(more.map((e) => e.data))), 'the new batches are where the zeros were');
  await log.close();
  t.equal(sizeOf(file!), stored + bytesOf(more), 'a clean close cuts the zeros');
  const reopened = PartitionLog.open(dir);
  checkEntries(t, reopened, [...written, ...more], 'after a clean close');
  await reopened.close();
});

t.test('after a crash recovery cuts the zeros, keeps every batch and preallocates again', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir);
  const written = appendBatches(log, 100);
  await log.flush();
  const [file] = segmentFiles(dir);
  t.ok(sizeOf(file!) > bytesOf(written), 'zeros ahead before the crash');

  const recovered = PartitionLog.open(dir); // no close: as after kill -9
  t.equal(sizeOf(file!), bytesOf(written), 'recovery cut the file after the last batch');
  t.equal(recovered.lastIndex(), written.at(-1)!.index);
  checkEntries(t, recovered, written, 'after the crash');
  const after = appendBatches(recovered, 5, 2);
  await recovered.flush();
  t.ok(sizeOf(file!) > bytesOf(written) + bytesOf(after), 'zeros ahead again after the next flush');
  checkEntries(t, recovered, [...written, ...after], 'after appending on');
  await recovered.close();
});

t.test('a roll cuts the zeros of the segment it closes before the next one exists', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir, { segmentBytes: 150 * 1024 });
  const first = appendBatches(log, 100);
  await log.flush();
  const [oldFile] = segmentFiles(dir);
  t.ok(sizeOf(oldFile!) > bytesOf(first), 'the active segment is preallocated');
  t.ok(sizeOf(oldFile!) > 150 * 1024, 'past where it will roll');

  // Appends past segmentBytes roll to a new segment, with no flush in between.
  const rest = appendBatches(log, 150);
  const files = segmentFiles(dir);
  t.equal(files.length, 2, 'rolled once');
  const inOld = [...first, ...rest].filter((e) => e.index < Number(path.basename(files[1]!, '.log')));
  t.equal(sizeOf(oldFile!), bytesOf(inOld), 'the sealed segment ends with its last batch');
  t.equal(log.durableIndex(), first.at(-1)!.index, 'durability is still only what a flush reported');

  await log.flush();
  t.equal(sizeOf(oldFile!), bytesOf(inOld), 'a flush writes no zeros ahead of a sealed segment');
  const recovered = PartitionLog.open(dir, { segmentBytes: 150 * 1024 }); // as after kill -9
  checkEntries(t, recovered, [...first, ...rest], 'after a crash with two segments');
  t.same((await recovered.verifySegment(0)).outcome, 'clean', 'the sealed segment checks clean');
  await recovered.close();
});

t.test('a roll while a flush of the same segment is in flight: both finish, the index stays true', async (t) => {
  const dir = tempDir(t);
  const options = { segmentBytes: 150 * 1024, indexIntervalBytes: 4096 };
  const log = PartitionLog.open(dir, options);
  const first = appendBatches(log, 100);
  await log.flush();
  const more = appendBatches(log, 10); // index entries pending until a sync covers them
  const flushing = log.flush(); // its fdatasync runs on the thread pool
  const rest = appendBatches(log, 140); // rolls: the sealed segment is cut and synced meanwhile
  t.equal(segmentFiles(dir).length, 2, 'rolled while the flush ran');
  await t.resolves(flushing, 'the flush in flight succeeds');
  await log.flush();
  t.equal(log.durableIndex(), rest.at(-1)!.index);
  const all = [...first, ...more, ...rest];
  const index = fs.readFileSync(path.join(dir, `${'0'.repeat(20)}.index`));
  const entries = Array.from({ length: index.length / 8 }, (_, i) => ({ relOffset: index.readUInt32BE(8 * i), position: index.readUInt32BE(8 * i + 4) }));
  t.ok(entries.length > 10, `the sealed segment's index file holds ${entries.length} entries`);
  t.ok(entries.every((e, i) => i === 0 || (e.relOffset > entries[i - 1]!.relOffset && e.position > entries[i - 1]!.position)), 'each after the one before (none written twice or out of order)');
  const recovered = PartitionLog.open(dir, options); // as after kill -9
  checkEntries(t, recovered, all, 'after a crash');
  for (const e of all.filter((_, i) => i % 7 === 0)) {
    const got = await recovered.read(e.index - 2, 1);
    t.ok(got.subarray(0, e.data.length).equals(e.data), `offset ${e.index - 2} is found through the index`);
  }
  await recovered.close();
});

t.test('no descriptor for the zeros: the flush is refused, nothing is reported durable, and the next flush syncs', async (t) => {
  const dir = tempDir(t);
  const res = createResources(16);
  const realSync = res.files.fdatasync.bind(res.files);
  let syncs = 0;
  res.files.fdatasync = (fd: number) => {
    syncs++;
    return realSync(fd);
  };
  const log = PartitionLog.open(path.join(dir, 'p'), {}, res);
  const written = appendBatches(log, 1);
  await log.flush(); // the directory and the terms file are durable: the next flush only syncs the segment
  written.push(...appendBatches(log, 99)); // over 64 KiB now: the next flush writes zeros first
  const others = Array.from({ length: 16 }, (_, i) => path.join(dir, `other-${i}`));
  for (const file of others) fs.writeFileSync(file, '');
  const held = others.map((file) => res.files.openHeld(file, 'r')); // every descriptor of the budget
  await t.rejects(log.flush(), { code: 'BROKER_BUSY', retriable: true });
  t.equal(log.durableIndex(), written[0]!.index, 'nothing more reported durable');
  for (const fd of held) res.files.closeHeld(fd);
  const before = syncs;
  await log.flush();
  t.ok(syncs > before, 'the next flush fdatasyncs the segment (it was not taken for synced)');
  t.equal(log.durableIndex(), written.at(-1)!.index);
  t.ok(sizeOf(segmentFiles(path.join(dir, 'p'))[0]!) > bytesOf(written), 'and writes the zeros');
  await log.close();
});
