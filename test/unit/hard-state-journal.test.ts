import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HardStateJournal, HARD_STATE_JOURNAL } from '../../broker/storage/hard-state-journal.js';

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
