/**
 * The scrubber on real files: it finds rot in old sealed segments nobody reads and reports
 * each bad spot once, with its offset, through the log's onCorruption; a clean log yields
 * nothing; segments deleted or cut under a scan are not corruption; and the token bucket
 * never grants more than rate × elapsed + burst (counted with a made-up clock).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { baseOffsetOf, batchBounds, buildBatch, patchBatch } from '../../protocol/batch.js';
import type { LogCorruption } from '../../broker/storage/corruption.js';
import { PartitionLog } from '../../broker/storage/partition-log.js';
import { Scrubber, TokenBucket, type ScrubbableLog } from '../../broker/storage/scrubber.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-scrub-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A log of `batches` batches of 5 records of `recordBytes` each, in segments of `segmentBytes`. */
function writtenLog(dir: string, name: string, batches: number, recordBytes: number, segmentBytes: number): PartitionLog {
  const log = PartitionLog.open(path.join(dir, name), { segmentBytes });
  for (let i = 0; i < batches; i++) {
    const data = buildBatch(Array.from({ length: 5 }, (_, r) => ({ value: Buffer.alloc(recordBytes, (i * 5 + r) & 0xff) })));
    patchBatch(data, log.lastIndex() + 1, 1);
    log.append([{ index: log.lastIndex() + 5, term: 1, data }]);
  }
  return log;
}

function segmentFiles(log: PartitionLog): string[] {
  return fs.readdirSync(log.dir).filter((n) => n.endsWith('.log')).sort().map((n) => path.join(log.dir, n));
}

/** Flips a bit in the middle of batch `k` of a segment file; returns that batch's base offset. */
function rotBatch(file: string, k: number): number {
  const bytes = fs.readFileSync(file);
  const { start, end } = [...batchBounds(bytes)][k]!;
  bytes[Math.floor((start + end) / 2)]! ^= 0x04;
  fs.writeFileSync(file, bytes);
  return baseOffsetOf(bytes, start);
}

/** A scrubber fast enough that the rate never matters here. */
function fastScrubber(logs: ScrubbableLog[]) {
  const findings: LogCorruption[] = [];
  const scrubber = new Scrubber({ logs: () => logs, bytesPerSec: 1 << 30, onFinding: (e) => findings.push(e) });
  return { scrubber, findings };
}

t.test('a clean log yields no finding; every sealed segment is checked, the active one is not', async (t) => {
  const log = writtenLog(tempDir(t), 'clean', 60, 100, 4096);
  t.teardown(() => log.close());
  const reported: LogCorruption[] = [];
  log.onCorruption = (e) => reported.push(e);
  const sealed = log.sealedSegments();
  t.ok(sealed.length >= 5, `${sealed.length} sealed segments`);
  const sealedBytes = segmentFiles(log).slice(0, -1).reduce((sum, f) => sum + fs.statSync(f).size, 0);

  const { scrubber, findings } = fastScrubber([log]);
  const pass = await scrubber.runPass();
  t.match(pass, { pass: 1, segments: sealed.length, bytes: sealedBytes, corrupt: 0, skipped: 0 });
  t.same(findings, []);
  t.same(reported, []);
  t.match(scrubber.stats(), { passes: 1, corrupt: 0, passSegments: sealed.length, passBytes: sealedBytes });
});

t.test('rot in old segments is found by itself, reported once per bad spot with its offset, and repaired', async (t) => {
  const dir = tempDir(t);
  const a = writtenLog(dir, 'a', 60, 100, 4096);
  const b = writtenLog(dir, 'b', 60, 100, 4096);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const badA = rotBatch(segmentFiles(a)[1]!, 2); // an old segment of a
  const badB = rotBatch(segmentFiles(b)[3]!, 1); // two spots in one segment of b: the
  rotBatch(segmentFiles(b)[3]!, 3); //              first ends the check (and the repair cuts both)
  t.equal(a.lastIndex(), 299, 'nothing read the rot: the logs look whole');

  // As the broker does: the report leads to a cut before the bad batch.
  const reported = new Map<string, number[]>();
  for (const log of [a, b]) {
    log.onCorruption = (e) => {
      reported.set(path.basename(log.dir), [...(reported.get(path.basename(log.dir)) ?? []), e.offset]);
      log.cutCorrupt(e.offset);
    };
  }
  const { scrubber, findings } = fastScrubber([a, b]);
  const first = await scrubber.runPass();
  t.match(first, { corrupt: 2, skipped: 0 });
  t.same(findings.map((e) => e.offset), [badA, badB], 'the offsets of the bad batches');
  t.same(Object.fromEntries(reported), { a: [badA], b: [badB] }, 'each log was told once, through onCorruption');
  t.equal(a.lastIndex(), badA - 1, 'the repair cut a before its bad batch');
  t.equal(b.lastIndex(), badB - 1, 'and b before its first');

  const second = await scrubber.runPass();
  t.match(second, { pass: 2, corrupt: 0 });
  t.equal(findings.length, 2, 'a repaired log yields no more findings');
  t.equal(scrubber.stats().corrupt, 2);
});

t.test('without a repair, a pass reports a bad spot once and stops checking that log', async (t) => {
  const log = writtenLog(tempDir(t), 'p', 60, 100, 4096);
  t.teardown(() => log.close());
  const files = segmentFiles(log);
  const bad = rotBatch(files[0]!, 1);
  rotBatch(files[2]!, 0); // later segments go with the repair anyway
  const reported: number[] = [];
  log.onCorruption = (e) => reported.push(e.offset);
  const { scrubber } = fastScrubber([log]);
  t.match(await scrubber.runPass(), { corrupt: 1, segments: 1 });
  t.same(reported, [bad]);
});

t.test('rot below the log start is not reported (nothing reads it again); rot above it in the same segment is', async (t) => {
  const log = writtenLog(tempDir(t), 'start', 60, 100, 4096);
  t.teardown(() => log.close());
  const first = segmentFiles(log)[0]!;
  const bytes = fs.readFileSync(first);
  const bounds = [...batchBounds(bytes)];
  t.ok(bounds.length >= 4, `${bounds.length} batches in the first segment`);
  rotBatch(first, 0);
  log.deleteBefore(baseOffsetOf(bytes, bounds[2]!.start)); // the log start moves inside the first segment
  t.equal(log.sealedSegments()[0], 0, 'which stays');
  const reported: number[] = [];
  log.onCorruption = (e) => reported.push(e.offset);
  const { scrubber } = fastScrubber([log]);
  t.match(await scrubber.runPass(), { corrupt: 0 });
  t.same(reported, []);
  const bad = rotBatch(first, 3);
  t.match(await scrubber.runPass(), { corrupt: 1 });
  t.same(reported, [bad]);
});

/**
 * Wraps a log so that `act` runs before the scrub's read number `at` of the segment at
 * `baseOffset` (between two reads of the same segment when `at` > 0).
 */
function interrupting(log: PartitionLog, baseOffset: number, at: number, act: () => void): ScrubbableLog {
  return {
    dir: log.dir,
    sealedSegments: () => log.sealedSegments(),
    verifySegment: (base, beforeRead) => {
      let reads = 0;
      return log.verifySegment(base, async (step) => {
        if (base === baseOffset && reads++ === at) act();
        await beforeRead?.(step);
      });
    },
  };
}

t.test('segments deleted or cut under a scan are skipped without a finding', async (t) => {
  const dir = tempDir(t);
  // Segments of about 2.5 MiB: a scan reads each in three 1 MiB steps.
  const retained = writtenLog(dir, 'retained', 120, 20_000, 2_600_000);
  const truncated = writtenLog(dir, 'truncated', 120, 20_000, 2_600_000);
  const deleted = writtenLog(dir, 'deleted', 60, 100, 4096);
  t.teardown(async () => {
    await retained.close();
    await truncated.close();
  });
  for (const log of [retained, truncated, deleted]) t.ok(log.sealedSegments().length >= 3, `${path.basename(log.dir)}: ${log.sealedSegments().length} sealed segments`);
  const reported: LogCorruption[] = [];
  for (const log of [retained, truncated, deleted]) log.onCorruption = (e) => reported.push(e);

  const [r0, r1] = retained.sealedSegments() as [number, number];
  const t1 = truncated.sealedSegments()[1]!;
  const d2 = deleted.sealedSegments()[2]!;
  const logs = [
    // Retention moves the log start past the first segment while its second read waits.
    interrupting(retained, r0, 1, () => retained.deleteBefore(r1)),
    // A truncation cuts into the second segment between its reads: the scan sees a short file.
    interrupting(truncated, t1, 1, () => truncated.truncateAfter(t1 + 4)),
    // The topic is deleted while its third segment is being checked.
    interrupting(deleted, d2, 0, () => void deleted.delete()),
  ];
  const { scrubber, findings } = fastScrubber(logs);
  const pass = await scrubber.runPass();
  t.match(pass, { corrupt: 0, skipped: 0 });
  t.same(findings, [], 'no finding');
  t.same(reported, [], 'no log was told of corruption');
  t.equal(pass!.segments, retained.sealedSegments().length + 1 + 2, 'the segments that stayed were checked (retained: all but the deleted one; truncated: the one before the cut; deleted: two)');
});

t.test('the token bucket never grants more than rate × elapsed + burst, and keeps up with the rate', async (t) => {
  let now = 1_000_000;
  const rate = 8 * 1024 * 1024;
  const burst = 1024 * 1024;
  const bucket = new TokenBucket(rate, burst, () => now);
  const start = now;
  let granted = 0;
  let violations = 0;
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20_000; i++) {
    const bytes = 1 + Math.floor(random() * burst);
    for (let wait = bucket.tryTake(bytes); wait > 0; wait = bucket.tryTake(bytes)) now += wait;
    granted += bytes;
    if (granted > burst + (rate * (now - start)) / 1000) violations++;
    if (random() < 0.1) now += Math.floor(random() * 500); // idle now and then: the bucket fills up to the burst only
  }
  t.equal(violations, 0, `${granted} bytes in ${now - start} ms of made-up time, never ahead of the rate`);
  // Waits are rounded up to whole ms, and idle time beyond a full bucket is lost: close to the rate, never above.
  const busyMs = now - start;
  t.ok(granted >= 0.5 * (rate * busyMs) / 1000, `granted ${granted} of the ${Math.round((rate * busyMs) / 1000)} the rate allows`);

  // A request larger than the burst waits for a full bucket and leaves a debt.
  const big = new TokenBucket(1000, 100, () => now);
  t.equal(big.tryTake(250), 0, 'granted once the bucket is full');
  const wait = big.tryTake(10);
  t.ok(wait >= 160, `the next request waits out the debt (${wait} ms)`);
});

t.test('the scrubber is off at rate 0 and stops promptly while waiting for its rate', async (t) => {
  const log = writtenLog(tempDir(t), 'slow', 60, 20_000, 2_600_000);
  t.teardown(() => log.close());
  const off = new Scrubber({ logs: () => [log], bytesPerSec: 0 });
  off.start();
  t.same(off.stats(), { bytesPerSec: 0, passes: 0, passBytes: 0, passSegments: 0, corrupt: 0, skipped: 0, lastPassMs: -1 });
  await off.stop();

  // 1 byte a second: after its first 1 MiB read (the bucket's burst) it would wait for weeks.
  const slow = new Scrubber({ logs: () => [log], bytesPerSec: 1 });
  const pass = slow.runPass();
  while (slow.stats().passBytes === 0) await new Promise((r) => setTimeout(r, 5));
  await slow.stop();
  t.equal(await pass, undefined, 'the pass ended without completing');
  t.equal(slow.stats().passes, 0);
});
