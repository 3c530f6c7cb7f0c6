/**
 * Bit rot in a partition log: a read never returns a batch that fails its checks, a repair
 * cuts the log before the first bad batch and remembers the loss across a reopen, and a
 * log with rot anywhere (not only in its tail) still opens.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildBatch, patchBatch, verifyBatch, batchBounds } from '../../protocol/batch.js';
import { PartitionLog, LOST_ENTRIES_FILE } from '../../broker/storage/partition-log.js';
import { LogCorruption } from '../../broker/storage/corruption.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-rot-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** 60 batches of 5 records in term 1, in segments of about 4 KiB; flushed and closed cleanly. */
async function writtenLog(dir: string): Promise<string> {
  const logDir = path.join(dir, 'p0');
  const log = PartitionLog.open(logDir, { segmentBytes: 4096 });
  for (let i = 0; i < 60; i++) {
    const data = buildBatch(Array.from({ length: 5 }, (_, r) => ({ value: Buffer.alloc(100, (i * 5 + r) & 0xff) })));
    patchBatch(data, log.lastIndex() + 1, 1);
    log.append([{ index: log.lastIndex() + 5, term: 1, data }]);
  }
  await log.flush();
  await log.close();
  return logDir;
}

function segmentFiles(logDir: string): string[] {
  return fs.readdirSync(logDir).filter((n) => n.endsWith('.log')).sort().map((n) => path.join(logDir, n));
}

/** Flips one bit `at` bytes into a file. */
function flip(file: string, at: number): void {
  const bytes = fs.readFileSync(file);
  bytes[at] ^= 0x10;
  fs.writeFileSync(file, bytes);
}

/** Every batch in `buf` passes its CRC check. */
function allValid(buf: Buffer): boolean {
  for (const { start, end } of batchBounds(buf)) verifyBatch(buf.subarray(start, end));
  return true;
}

t.test('a flipped bit in a record of an old segment is never served, and a repair cuts the log there', async (t) => {
  const logDir = await writtenLog(tempDir(t));
  const files = segmentFiles(logDir);
  t.ok(files.length >= 5, `${files.length} segments`);
  flip(files[1]!, 700); // inside the second segment, in record bytes (under the CRC)

  const log = PartitionLog.open(logDir, { segmentBytes: 4096 });
  t.equal(log.lastIndex(), 299, 'opening checks only the tail: the log looks whole');
  const found: LogCorruption[] = [];
  log.onCorruption = (e) => found.push(e);

  const entries = log.entries(0, 1 << 20);
  t.ok(entries.length > 0 && entries.every((e) => allValid(e.data)), 'Raft gets the good batches before the bad one');
  const bad = entries[entries.length - 1]!.index + 1;
  t.throws(() => log.entries(bad, 1 << 20), { code: 'REPLICA_NOT_AVAILABLE', retriable: true, message: /CRC32C mismatch/ }, 'and an error at the bad one');
  const read = await log.read(0, 1 << 20);
  t.ok(allValid(read), 'a consumer read stops before the bad batch');
  await t.rejects(log.read(bad, 1 << 20), { code: 'REPLICA_NOT_AVAILABLE' });
  t.ok(found.length >= 2 && found.every((e) => e.offset === bad), `the owner was told ${found.length} times, with the offset ${bad}`);

  const cut = log.cutCorrupt(bad);
  t.same(cut, { lastIndexBefore: 299, lastIndexAfter: bad - 1 });
  t.same(log.lostEntries, { lastIndexBefore: 299 });
  t.ok(fs.existsSync(path.join(logDir, LOST_ENTRIES_FILE)), 'the loss is on disk');
  t.ok(allValid(Buffer.concat(log.entries(0, 1 << 20).map((e) => e.data))), 'what is left is good');
  await log.close();

  const reopened = PartitionLog.open(logDir, { segmentBytes: 4096 });
  t.equal(reopened.lastIndex(), bad - 1);
  t.same(reopened.lostEntries, { lastIndexBefore: 299 }, 'a reopened log still knows what it lost');
  reopened.clearLoss();
  t.notOk(fs.existsSync(path.join(logDir, LOST_ENTRIES_FILE)));
  await reopened.close();
});

t.test('bits flipped across every segment: the log opens, every read is good or refused, repairs converge', async (t) => {
  const logDir = await writtenLog(tempDir(t));
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const file of segmentFiles(logDir)) {
    const size = fs.statSync(file).size;
    for (let i = 0; i < 4; i++) flip(file, Math.floor(random() * size)); // headers too: lengths, offsets, magic
  }
  const log = PartitionLog.open(logDir, { segmentBytes: 4096 });
  let repairs = 0;
  for (;;) {
    try {
      const all = [];
      for (let at = log.firstIndex(); at <= log.lastIndex(); ) {
        const batch = log.entries(at, 1 << 20);
        all.push(...batch);
        at = batch[batch.length - 1]!.index + 1;
      }
      t.ok(all.every((e) => allValid(e.data)), `after ${repairs} repairs every batch left is good (${all.length} batches, last offset ${log.lastIndex()})`);
      break;
    } catch (err) {
      if (!(err instanceof LogCorruption)) throw err;
      log.cutCorrupt(err.offset);
      repairs++;
      t.ok(repairs < 100, 'repairs converge');
    }
  }
  t.ok(log.lostEntries !== undefined, 'the loss is remembered');
  await log.close();
});
