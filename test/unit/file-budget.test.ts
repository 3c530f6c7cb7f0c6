import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildBatch, patchBatch } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import { FileCache } from '../../broker/storage/files.js';
import { PartitionLog } from '../../broker/storage/partition-log.js';
import { LogManager } from '../../broker/storage/log-manager.js';
import { createResources } from '../../broker/storage/segment.js';
import { descriptorBudget, readOpenFileLimit } from '../../broker/fd-budget.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-budget-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function files(dir: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const file = path.join(dir, `f${i}`);
    fs.writeFileSync(file, `file ${i}`);
    return file;
  });
}

function batchAt(base: number): { index: number; term: number; data: Buffer } {
  const data = buildBatch([{ value: Buffer.from(`record ${base}`) }]);
  patchBatch(data, base, 1);
  return { index: base, term: 1, data };
}

t.test('file cache: many concurrent pinned operations never open more than the budget', async (t) => {
  const dir = tempDir(t);
  const cache = new FileCache(16);
  const paths = files(dir, 200);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let running = 0;
  let maxRunning = 0;
  const ops = paths.map((file) =>
    cache.withFdAsync(file, async (fd) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate;
      const buf = Buffer.alloc(64);
      const n = fs.readSync(fd, buf, 0, 64, 0);
      running--;
      return buf.subarray(0, n).toString();
    }),
  );
  // Let every operation that can start do so, then check synchronous work still gets a descriptor.
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  t.equal(maxRunning, 8, 'operations holding a descriptor across an await: budget less the headroom');
  t.ok(cache.openCount <= 16);
  for (const file of files(dir, 210).slice(200)) t.ok(cache.withFd(file, (fd) => fs.fstatSync(fd).size) > 0, 'a synchronous open is served from the headroom');
  release();
  const read = await Promise.all(ops);
  t.same(read, paths.map((_, i) => `file ${i}`), 'every operation ran, in full');
  const stats = cache.stats();
  t.ok(stats.peakOpenFiles <= 16, `peak ${stats.peakOpenFiles} <= budget 16`);
  t.equal(stats.openRefusals, 0, 'nothing was refused: operations waited for descriptors');
  t.ok(cache.openCount <= 16);
});

t.test('file cache: with every descriptor pinned an open is refused, retriable, and counted', async (t) => {
  const dir = tempDir(t);
  const refused: FlotillaError[] = [];
  const cache = new FileCache(8, (error) => refused.push(error));
  const paths = files(dir, 9);
  // Nested synchronous users pin all 8 descriptors of the budget.
  const nest = (i: number): void => {
    if (i === 8) {
      t.throws(() => cache.withFd(paths[8]!, () => undefined), { code: 'BROKER_BUSY', retriable: true });
      t.throws(() => cache.readFile(paths[8]!), { code: 'BROKER_BUSY' }, 'short-lived opens count too');
      return;
    }
    cache.withFd(paths[i]!, () => nest(i + 1));
  };
  nest(0);
  t.equal(cache.stats().openRefusals, 2);
  t.equal(refused.length, 2, 'the broker hears every refusal');
  t.ok(cache.stats().peakOpenFiles <= 8);
  t.equal(cache.withFd(paths[8]!, (fd) => fs.fstatSync(fd).size), 6, 'once released, the open succeeds (an idle descriptor is closed)');
  t.ok(cache.openCount <= 8);
});

t.test('partition log: a flush refused for lack of descriptors reports nothing durable and does not poison the log', async (t) => {
  const dir = tempDir(t);
  const res = createResources(16);
  const log = PartitionLog.open(path.join(dir, 'p'), {}, res);
  log.append([batchAt(0)]);
  await log.flush();
  log.append([batchAt(1)]);
  // Something else holds every descriptor of the budget.
  const held = files(dir, 16).map((file) => res.files.openHeld(file, 'r'));
  await t.rejects(log.flush(), { code: 'BROKER_BUSY', retriable: true });
  t.equal(log.durableIndex(), 0, 'the unsynced batch is not reported durable');
  for (const fd of held) res.files.closeHeld(fd);
  await log.flush();
  t.equal(log.durableIndex(), 1, 'the next flush makes it durable');
  log.append([batchAt(2)]);
  await log.flush();
  t.equal(log.durableIndex(), 2, 'the log still takes writes');
  t.equal((await log.read(0, 1 << 20)).length > 0, true);
  await log.close();
});

t.test('log manager: flushing and reading many logs stays within a small budget', async (t) => {
  const dir = tempDir(t);
  const manager = new LogManager({ dataDir: dir, durability: 'always', maxOpenFiles: 32 });
  const logs = Array.from({ length: 300 }, (_, i) => manager.open(`wide-${i}`));
  for (const log of logs) log.append([batchAt(0), batchAt(1)]);
  await manager.flushAll();
  for (const log of logs) t.equal(log.durableIndex(), 1);
  const reads = await Promise.all(logs.map((log) => log.read(0, 1 << 20)));
  t.equal(reads.filter((bytes) => bytes.length > 0).length, 300, 'every log read back');
  const stats = manager.files.stats();
  t.ok(stats.peakOpenFiles <= 32, `peak ${stats.peakOpenFiles} <= budget 32`);
  t.equal(stats.openRefusals, 0);
  await manager.close();
});

t.test('descriptor budget: limit from /proc, reserve for sockets, floor', async (t) => {
  const dir = tempDir(t);
  const limits = path.join(dir, 'limits');
  fs.writeFileSync(limits, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n');
  t.equal(readOpenFileLimit(limits), 20000);
  t.equal(readOpenFileLimit(path.join(dir, 'missing')), undefined);
  fs.writeFileSync(limits, 'Max open files            unlimited            unlimited            files\n');
  t.equal(readOpenFileLimit(limits), undefined);
  if (process.platform === 'linux') t.ok(readOpenFileLimit()! > 0, 'this process has a limit');
  t.same(descriptorBudget(20000, 10000), { limit: 20000, reserve: 10000, files: 10000 }, 'sockets get at most half');
  t.same(descriptorBudget(20000, 100), { limit: 20000, reserve: 164, files: 19836 }, 'connections plus a fixed reserve');
  t.same(descriptorBudget(undefined, 10000), { limit: 1024, reserve: 512, files: 512 }, 'unknown limit: the usual default assumed');
  t.same(descriptorBudget(256, 10000).files, 128);
  t.throws(() => descriptorBudget(12, 10000), { code: 'INVALID_CONFIG' });
});
