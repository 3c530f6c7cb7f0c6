/**
 * When a restarted broker may say its metadata is current (and so answer that a topic does
 * not exist): once it has applied what its metadata log held at start-up, or what is left
 * of it after a leader cut an uncommitted tail, and never while its group is recovering
 * entries a repair cut: that log is short because of the loss, not because a leader said
 * so. (A repair's window is too short to catch reliably on real brokers: a leader sends the
 * lost entries back within milliseconds.)
 */
import t from 'tap';
import { Controller } from '../../broker/controller/controller.js';
import { ControllerState } from '../../broker/controller/state.js';
import type { MultiRaft } from '../../broker/multiraft/multiraft.js';
import type { ControllerSnapshotFile } from '../../broker/controller/snapshot-file.js';

interface Seen {
  applied: number;
  lastIndex: number;
  recoverTo: number;
}

/** A controller whose metadata group reports `seen` (changed between questions). */
function controllerSeeing(seen: Seen): Controller {
  const controller = new Controller({} as MultiRaft, new ControllerState(), () => undefined, {} as ControllerSnapshotFile, 4096);
  controller.group = { node: { status: () => ({ ...seen }) } } as unknown as Controller['group'];
  return controller;
}

t.test('current once what the log held at start-up is applied', async (t) => {
  const seen = { applied: 0, lastIndex: 62, recoverTo: -1 };
  const controller = controllerSeeing(seen);
  controller.noteStartup();
  t.notOk(controller.metadataCurrent, 'nothing applied yet');
  seen.applied = 40;
  t.notOk(controller.metadataCurrent, 'part of it applied');
  seen.applied = 62;
  t.ok(controller.metadataCurrent, 'all of it applied');
  seen.applied = 10;
  t.ok(controller.metadataCurrent, 'and it stays so (the applied metadata never goes back)');
});

t.test('current once what is left is applied, when a leader cut an uncommitted tail', async (t) => {
  const seen = { applied: 0, lastIndex: 62, recoverTo: -1 };
  const controller = controllerSeeing(seen);
  controller.noteStartup();
  Object.assign(seen, { lastIndex: 50, applied: 50 });
  t.ok(controller.metadataCurrent);
});

t.test('not current while entries a repair cut are being recovered, however short the log', async (t) => {
  const seen = { applied: 0, lastIndex: 62, recoverTo: -1 };
  const controller = controllerSeeing(seen);
  controller.noteStartup();
  // The repair cut the log after entry 1; a leader sent and committed entries 2-30 so far.
  Object.assign(seen, { lastIndex: 1, applied: 1, recoverTo: 62 });
  t.notOk(controller.metadataCurrent, 'cut to 1 entry, that 1 applied');
  Object.assign(seen, { lastIndex: 30, applied: 30 });
  t.notOk(controller.metadataCurrent, '30 of the 62 back and applied');
  Object.assign(seen, { lastIndex: 62, applied: 62, recoverTo: -1 });
  t.ok(controller.metadataCurrent, 'recovered, and everything applied');
});
