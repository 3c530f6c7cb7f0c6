import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HardStateJournal, HARD_STATE_JOURNAL } from '../../broker/storage/hard-state-journal.js';
import { FileCache } from '../../broker/storage/files.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-hsj-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the last synced state of each group survives a reopen; unsynced ones do not', async (t) => {
  const dir = tempDir(t);
  const journal = new HardStateJournal(dir);
  journal.set(1, { term: 3, vote: 2 });
  journal.set(2, { term: 1, vote: 0 });
  journal.set(1, { term: 4, vote: 1 });
  await journal.sync();
  journal.set(2, { term: 9, vote: 9 }); // never synced
  journal.close();
  const reopened = new HardStateJournal(dir);
  t.same(reopened.get(1), { term: 4, vote: 1 });
  t.same(reopened.get(2), { term: 1, vote: 0 });
  t.equal(reopened.get(3), undefined);
  reopened.close();
});

t.test('a sync that finds nothing new to write resolves only once the earlier sync of its changes has', async (t) => {
  // Two processing cycles sync side by side; the second's change may be in the first's write.
  const files = new FileCache(16);
  let completed = 0;
  const fdatasync = files.fdatasync.bind(files);
  files.fdatasync = async (fd) => {
    await fdatasync(fd);
    completed++;
  };
  const journal = new HardStateJournal(tempDir(t), files);
  journal.set(1, { term: 2, vote: 1 });
  const writing = journal.sync();
  await journal.sync();
  t.equal(completed, 1, 'the fdatasync covering the state set before the second call had completed');
  await writing;
  journal.close();
});

t.test('a sync with nothing to write and none running makes no fdatasync', async (t) => {
  const files = new FileCache(16);
  let started = 0;
  const fdatasync = files.fdatasync.bind(files);
  files.fdatasync = (fd) => {
    started++;
    return fdatasync(fd);
  };
  const journal = new HardStateJournal(tempDir(t), files);
  await journal.sync();
  t.equal(started, 0, 'nothing was ever set');
  journal.set(1, { term: 2, vote: 1 });
  await journal.sync();
  await journal.sync();
  t.equal(started, 1, 'one fdatasync for the one change');
  journal.close();
});

t.test('a torn last record is cut and the records before it are kept', async (t) => {
  const dir = tempDir(t);
  const journal = new HardStateJournal(dir);
  journal.set(7, { term: 2, vote: 3 });
  await journal.sync();
  journal.set(7, { term: 5, vote: 1 });
  await journal.sync();
  journal.close();
  const file = path.join(dir, HARD_STATE_JOURNAL);
  fs.truncateSync(file, fs.statSync(file).size - 5);
  const reopened = new HardStateJournal(dir);
  t.same(reopened.get(7), { term: 2, vote: 3 }, 'the torn record is ignored');
  t.equal(fs.statSync(file).size, 16, 'and cut off');
  reopened.set(7, { term: 6, vote: 2 });
  await reopened.sync();
  reopened.close();
  t.same(new HardStateJournal(dir).get(7), { term: 6, vote: 2 }, 'appending continues after the cut');
});

t.test('the journal is rewritten once it holds many more records than groups', async (t) => {
  const dir = tempDir(t);
  const journal = new HardStateJournal(dir);
  for (let term = 1; term <= 5000; term++) {
    journal.set(1, { term, vote: 1 });
    if (term % 100 === 0) await journal.sync();
  }
  journal.forget(1);
  journal.set(2, { term: 8, vote: 2 });
  await journal.sync();
  journal.close();
  t.ok(fs.statSync(path.join(dir, HARD_STATE_JOURNAL)).size < 5000 * 16, 'compacted');
  const reopened = new HardStateJournal(dir);
  t.same(reopened.get(2), { term: 8, vote: 2 });
  reopened.close();
});

t.test('a recovering state (lost entries) survives a reopen, and a later plain record ends it', async (t) => {
  const dir = tempDir(t);
  const journal = new HardStateJournal(dir);
  journal.set(1, { term: 3, vote: 2 });
  journal.set(2, { term: 5, vote: 0, recoverTo: 2 ** 40 + 7, recoverTerm: 4 });
  journal.set(3, { term: 6, vote: 1, recoverTo: 12, recoverTerm: 6 });
  await journal.sync();
  journal.set(3, { term: 7, vote: 0 });
  await journal.sync();
  journal.close();
  const reopened = new HardStateJournal(dir);
  t.same(reopened.get(1), { term: 3, vote: 2 });
  t.same(reopened.get(2), { term: 5, vote: 0, recoverTo: 2 ** 40 + 7, recoverTerm: 4 }, 'offsets beyond 32 bits');
  t.same(reopened.get(3), { term: 7, vote: 0 }, 'recovery ended');
  reopened.close();
});

t.test('a journal written before recovering records existed reads unchanged', async (t) => {
  const dir = tempDir(t);
  // Two plain records as the earlier format wrote them, byte for byte.
  const { crc32c } = await import('@node-rs/crc32');
  const records = [
    [4, 2, 1],
    [9, 3, 0],
  ].map(([group, term, vote]) => {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(group!, 0);
    b.writeUInt32BE(term!, 4);
    b.writeUInt32BE(vote!, 8);
    b.writeUInt32BE(crc32c(b.subarray(0, 12)), 12);
    return b;
  });
  fs.writeFileSync(path.join(dir, HARD_STATE_JOURNAL), Buffer.concat(records));
  const journal = new HardStateJournal(dir);
  t.same(journal.get(4), { term: 2, vote: 1 });
  t.same(journal.get(9), { term: 3, vote: 0 });
  journal.set(4, { term: 2, vote: 1, recoverTo: 30, recoverTerm: 2 });
  await journal.sync();
  journal.close();
  t.same(new HardStateJournal(dir).get(4), { term: 2, vote: 1, recoverTo: 30, recoverTerm: 2 }, 'new records append after old ones');
});

t.test('a torn recovering record is cut like a torn plain one', async (t) => {
  const dir = tempDir(t);
  const journal = new HardStateJournal(dir);
  journal.set(7, { term: 2, vote: 3 });
  await journal.sync();
  journal.set(7, { term: 2, vote: 3, recoverTo: 99, recoverTerm: 2 });
  await journal.sync();
  journal.close();
  const file = path.join(dir, HARD_STATE_JOURNAL);
  fs.truncateSync(file, 16 + 20); // the marker and part of the record made it to disk
  const reopened = new HardStateJournal(dir);
  t.same(reopened.get(7), { term: 2, vote: 3 }, 'the torn record is ignored');
  t.equal(fs.statSync(file).size, 16, 'and cut off');
  reopened.close();
});

t.test('rewriting the journal keeps a recovering state', async (t) => {
  const dir = tempDir(t);
  const journal = new HardStateJournal(dir);
  journal.set(5, { term: 1, vote: 1, recoverTo: 40, recoverTerm: 1 });
  for (let term = 1; term <= 5000; term++) {
    journal.set(1, { term, vote: 1 });
    if (term % 100 === 0) await journal.sync();
  }
  await journal.sync();
  journal.close();
  t.ok(fs.statSync(path.join(dir, HARD_STATE_JOURNAL)).size < 5000 * 16, 'compacted');
  const reopened = new HardStateJournal(dir);
  t.same(reopened.get(5), { term: 1, vote: 1, recoverTo: 40, recoverTerm: 1 });
  t.same(reopened.get(1), { term: 5000, vote: 1 });
  reopened.close();
});
