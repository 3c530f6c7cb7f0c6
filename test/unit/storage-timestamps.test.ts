/**
 * Offsets by timestamp on real log files (Kafka's ListOffsets semantics): the earliest
 * offset at or after the log start, up to a bound, whose record timestamp is >= the target.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Field, buildBatch, buildControlBatch, ControlType, HEADER_SIZE, isControlBatch, patchBatch, records } from '../../protocol/batch.js';
import { PartitionLog, type TimestampedOffset } from '../../broker/storage/partition-log.js';
import { buildGzipBatch, withCodecBits } from '../compressed-batch.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-bytime-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Appends one batch whose records carry `timestamps`, after the log's end. */
function appendRecords(log: PartitionLog, timestamps: number[], term = 1): void {
  const base = log.lastIndex() + 1;
  const data = buildBatch(timestamps.map((timestamp, i) => ({ value: `v${base + i}`, timestamp })));
  patchBatch(data, base, term);
  log.append([{ index: base + timestamps.length - 1, term, data }]);
}

function appendControl(log: PartitionLog, timestamp: number, term = 1): void {
  const base = log.lastIndex() + 1;
  const data = buildControlBatch(ControlType.NOOP, null, timestamp);
  patchBatch(data, base, term);
  log.append([{ index: base, term, data }]);
}

/** The answer by reading every record: what the lookup must agree with. */
function bruteForce(log: PartitionLog, target: number, maxOffset: number): TimestampedOffset | undefined {
  for (const entry of log.entries(log.firstIndex(), 1 << 30)) {
    if (isControlBatch(entry.data) || entry.index > maxOffset) continue;
    for (const r of records(entry.data)) {
      if (r.offset >= log.firstIndex() && r.timestamp >= target) return { offset: r.offset, timestamp: r.timestamp };
    }
  }
  return undefined;
}

/** A deterministic pseudo-random sequence (no flakiness: the same numbers every run). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 0x1_0000_0000;
  };
}

t.test('monotonic timestamps: before the first, in the middle of a batch, across segments, after the last', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir, { segmentBytes: 600 });
  // 20 batches of 5 records, record n stamped 1000 + 10n.
  for (let b = 0; b < 20; b++) appendRecords(log, Array.from({ length: 5 }, (_, i) => 1000 + 10 * (b * 5 + i)));
  t.ok(log.segmentCount() >= 4, `several segments (${log.segmentCount()})`);
  t.same(await log.offsetForTimestamp(0), { offset: 0, timestamp: 1000 }, 'before the first: the first record');
  t.same(await log.offsetForTimestamp(1000), { offset: 0, timestamp: 1000 });
  t.same(await log.offsetForTimestamp(1023), { offset: 3, timestamp: 1030 }, 'inside a batch: the record, not the batch start');
  t.same(await log.offsetForTimestamp(1000 + 10 * 77), { offset: 77, timestamp: 1770 }, 'in a later segment');
  t.same(await log.offsetForTimestamp(1990), { offset: 99, timestamp: 1990 }, 'the last record');
  t.equal(await log.offsetForTimestamp(1991), undefined, 'after the last: none');
  await log.close();
  // Reopened, the segments' largest timestamps are unknown until a lookup reads their headers.
  const reopened = PartitionLog.open(dir, { segmentBytes: 600 });
  t.same(await reopened.offsetForTimestamp(1000 + 10 * 77), { offset: 77, timestamp: 1770 }, 'after a restart');
  t.equal(await reopened.offsetForTimestamp(1991), undefined);
  await reopened.close();
});

t.test('non-monotonic timestamps agree with reading every record, for every target', async (t) => {
  const log = PartitionLog.open(tempDir(t), { segmentBytes: 700 });
  const random = lcg(17);
  for (let b = 0; b < 40; b++) {
    const count = 1 + Math.floor(random() * 6);
    appendRecords(log, Array.from({ length: count }, () => 5000 + Math.floor(random() * 1000)));
    if (b % 7 === 3) appendControl(log, 9000);
  }
  t.ok(log.segmentCount() >= 4, `several segments (${log.segmentCount()})`);
  let mismatches = 0;
  for (let target = 4990; target <= 6010; target += 3) {
    for (const maxOffset of [log.lastIndex(), Math.floor(log.lastIndex() / 2)]) {
      const found = await log.offsetForTimestamp(target, maxOffset);
      const expected = bruteForce(log, target, maxOffset);
      if (JSON.stringify(found) !== JSON.stringify(expected)) {
        mismatches++;
        t.fail(`target ${target}, max ${maxOffset}: ${JSON.stringify(found)} where ${JSON.stringify(expected)}`);
      }
    }
  }
  t.equal(mismatches, 0, 'every answer matches the brute-force scan');
  await log.close();
});

t.test('nothing above the bound (the high watermark) is returned', async (t) => {
  const log = PartitionLog.open(tempDir(t));
  appendRecords(log, [100, 200]); // offsets 0-1
  appendRecords(log, [300, 400]); // offsets 2-3
  t.same(await log.offsetForTimestamp(300, 3), { offset: 2, timestamp: 300 });
  t.equal(await log.offsetForTimestamp(300, 1), undefined, 'the matching batch is above the bound');
  t.same(await log.offsetForTimestamp(150, 1), { offset: 1, timestamp: 200 });
  t.equal(await log.offsetForTimestamp(0, -1), undefined, 'nothing committed');
  await log.close();
});

t.test('control batches are stepped over, whatever their timestamp', async (t) => {
  const log = PartitionLog.open(tempDir(t));
  appendControl(log, 0); // offset 0: a leader's no-op
  appendRecords(log, [100]); // 1
  appendControl(log, 5000); // 2
  appendRecords(log, [200, 300]); // 3-4
  t.same(await log.offsetForTimestamp(0), { offset: 1, timestamp: 100 });
  t.same(await log.offsetForTimestamp(250), { offset: 4, timestamp: 300 });
  t.equal(await log.offsetForTimestamp(4000), undefined, 'only the control batch is that late');
  await log.close();
});

t.test('records below the log start are not returned, also inside a batch', async (t) => {
  const log = PartitionLog.open(tempDir(t), { segmentBytes: 300 });
  for (let b = 0; b < 10; b++) appendRecords(log, [b * 100, b * 100 + 10, b * 100 + 20]);
  log.deleteBefore(13); // inside the batch 12-14
  t.same(await log.offsetForTimestamp(0), { offset: 13, timestamp: 410 });
  t.same(await log.offsetForTimestamp(415), { offset: 14, timestamp: 420 });
  await log.close();
});

t.test('skips segments by their largest timestamp and decodes only the batch holding the answer', async (t) => {
  const dir = tempDir(t);
  const log = PartitionLog.open(dir, { segmentBytes: 400 });
  for (let b = 0; b < 12; b++) appendRecords(log, [b * 100, b * 100 + 50]);
  t.ok(log.segmentCount() >= 3, `several segments (${log.segmentCount()})`);
  // Scribble over the record bytes (never the headers) of every batch of every segment
  // but the last: a lookup that decoded any of them would fail its CRC or its records.
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort();
  const lastSegment = names[names.length - 1]!;
  const scribbled = (name: string): void => {
    const file = path.join(dir, name);
    const bytes = fs.readFileSync(file);
    for (let at = 0; at < bytes.length; at += bytes.readInt32BE(at + Field.batchLength) + 12) {
      bytes.fill(0xee, at + HEADER_SIZE, at + bytes.readInt32BE(at + Field.batchLength) + 12);
    }
    fs.writeFileSync(file, bytes);
  };
  for (const name of names.slice(0, -1)) scribbled(name);
  const lastBase = Number(lastSegment.slice(0, 20));
  const expectedOffset = lastBase + 1;
  const target = Math.floor(lastBase / 2) * 100 + 50; // the second record of the last segment's first batch
  t.same(await log.offsetForTimestamp(target - 10), { offset: expectedOffset, timestamp: target }, 'found without decoding the earlier segments');
  await log.close();
});

/** Appends a batch as a Kafka producer compressed it: gzip, or (codec 2-4) only marked so. */
function appendCompressed(log: PartitionLog, timestamps: number[], codec: 'gzip' | 2 | 3 | 4): number {
  const base = log.lastIndex() + 1;
  const input = timestamps.map((timestamp, i) => ({ value: `v${base + i}`, timestamp }));
  const data = codec === 'gzip' ? buildGzipBatch(input) : withCodecBits(buildBatch(input), codec);
  patchBatch(data, base, 1);
  log.append([{ index: base + timestamps.length - 1, term: 1, data }]);
  return base;
}

t.test('a gzip batch is decoded; one of another codec answers its first offset and its largest timestamp', async (t) => {
  const log = PartitionLog.open(tempDir(t));
  appendRecords(log, [100]);
  appendCompressed(log, [200, 300], 2); // offsets 1-2, snappy
  appendCompressed(log, [400, 500, 600], 'gzip'); // 3-5
  t.same(await log.offsetForTimestamp(250), { offset: 1, timestamp: 300 }, 'snappy: not decoded, nothing after the target skipped');
  t.same(await log.offsetForTimestamp(450), { offset: 4, timestamp: 500 }, 'gzip: the exact record');
  await log.close();
});

/** Max timestamp by reading every record: the earliest record with the largest timestamp. */
function bruteForceMax(log: PartitionLog, maxOffset: number): TimestampedOffset | undefined {
  let best: TimestampedOffset | undefined;
  for (const entry of log.entries(log.firstIndex(), 1 << 30)) {
    if (isControlBatch(entry.data) || entry.index > maxOffset) continue;
    for (const r of records(entry.data)) {
      if (r.offset >= log.firstIndex() && (!best || r.timestamp > best.timestamp)) best = { offset: r.offset, timestamp: r.timestamp };
    }
  }
  return best;
}

t.test('max timestamp agrees with reading every record, for every bound', async (t) => {
  const log = PartitionLog.open(tempDir(t), { segmentBytes: 700 });
  const random = lcg(23);
  for (let b = 0; b < 40; b++) {
    const count = 1 + Math.floor(random() * 6);
    // Coarse timestamps make ties, which the earliest record wins.
    appendRecords(log, Array.from({ length: count }, () => 5000 + 10 * Math.floor(random() * 100)));
    if (b % 7 === 3) appendControl(log, 9000);
  }
  t.ok(log.segmentCount() >= 4, `several segments (${log.segmentCount()})`);
  let mismatches = 0;
  for (let maxOffset = -1; maxOffset <= log.lastIndex(); maxOffset++) {
    const found = await log.offsetOfMaxTimestamp(maxOffset);
    const expected = bruteForceMax(log, maxOffset);
    if (JSON.stringify(found) !== JSON.stringify(expected)) {
      mismatches++;
      t.fail(`max ${maxOffset}: ${JSON.stringify(found)} where ${JSON.stringify(expected)}`);
    }
  }
  t.equal(mismatches, 0, 'every answer matches the brute-force scan');
  log.deleteBefore(40);
  t.same(await log.offsetOfMaxTimestamp(), bruteForceMax(log, log.lastIndex()), 'after retention');
  await log.close();
});

t.test('max timestamp: control batches never answer, nothing above the bound does, compressed batches as by timestamp', async (t) => {
  const log = PartitionLog.open(tempDir(t));
  t.equal(await log.offsetOfMaxTimestamp(), undefined, 'an empty log');
  appendControl(log, 0); // 0
  appendRecords(log, [100, 300, 200]); // 1-3
  appendControl(log, 9000); // 4
  t.same(await log.offsetOfMaxTimestamp(), { offset: 2, timestamp: 300 });
  appendCompressed(log, [250, 700, 700], 'gzip'); // 5-7
  t.same(await log.offsetOfMaxTimestamp(), { offset: 6, timestamp: 700 }, 'gzip: the first record stamped the largest');
  t.same(await log.offsetOfMaxTimestamp(5), { offset: 2, timestamp: 300 }, 'the gzip batch is above the bound');
  appendCompressed(log, [800, 900], 3); // 8-9, lz4
  t.same(await log.offsetOfMaxTimestamp(), { offset: 9, timestamp: 900 }, 'lz4: not decoded, its last offset');
  await log.close();
});
