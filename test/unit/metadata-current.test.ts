/**
 * When a restarted broker may say its metadata is current (and so answer that a topic does
 * not exist): once it has applied what its metadata log held at start-up, or what is left
 * of it after a leader cut an uncommitted tail, and never while its group is recovering
 * entries a repair cut: that log is short because of the loss, not because a leader said
 * so. (A repair's window is too short to catch reliably on real brokers: a leader sends the
 * lost entries back within milliseconds.) And a new controller, whose state may lag what its
 * predecessor committed, hands out producer ids only once it has applied its own first entry.
 */
import t from 'tap';
import { buildBatch, records } from '../../protocol/batch.js';
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
  const controller = new Controller({} as MultiRaft, new ControllerState(), () => undefined, {} as ControllerSnapshotFile, 4096, 1 << 20);
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

t.test('a new controller hands out producer ids only once it has applied an entry of its own term', async (t) => {
  const proposed: unknown[] = [];
  const raft = { propose: (_group: unknown, batch: Buffer) => { proposed.push(batch); throw new Error('proposed'); } } as unknown as MultiRaft;
  const controller = new Controller(raft, new ControllerState(), () => undefined, {} as ControllerSnapshotFile, 4096, 1 << 20);
  const node = { currentRole: 'leader', currentTerm: 5 };
  controller.group = { node } as unknown as Controller['group'];
  // Its predecessor's entries (term 4), committed and not all applied yet: ids it gave out may be among them.
  controller.apply([{ index: 0, term: 4, data: buildBatch([{ value: JSON.stringify({ type: 'allocateProducerId', producerId: 7 }) }]) }]);
  await t.rejects(controller.allocateProducerId(1000), { code: 'LEADER_NOT_AVAILABLE' }, 'refused (retriable) while only earlier terms are applied');
  t.equal(proposed.length, 0, 'nothing proposed');
  // Its own first entry applied: everything committed before it is applied too.
  const noOp = buildBatch([{ value: null }]);
  controller.apply([{ index: 1, term: 5, data: noOp }]);
  await t.rejects(controller.allocateProducerId(1000), /proposed/, 'then it proposes an id');
  t.equal(proposed.length, 1);
  const command = JSON.parse([...records(proposed[0] as Buffer)][0]!.value!.toString()) as { producerId: number };
  t.ok(command.producerId > 7, `past every id applied (${command.producerId})`);
});

t.test('a command too large for one peer frame is refused before it reaches the log', async (t) => {
  const proposed: unknown[] = [];
  const raft = { propose: (_group: unknown, batch: Buffer) => (proposed.push(batch), { index: 1, term: 1 }) } as unknown as MultiRaft;
  const controller = new Controller(raft, new ControllerState(), () => undefined, {} as ControllerSnapshotFile, 4096, 1000);
  controller.group = { node: { currentRole: 'leader', currentTerm: 1 } } as unknown as Controller['group'];
  const offsets = Array.from({ length: 40 }, (_, partition) => ({ topic: 'orders', partition, offset: 1 }));
  await t.rejects(controller.propose({ type: 'commitOffsets', group: 'g', offsets }, 1000), { code: 'RECORD_TOO_LARGE', message: /commitOffsets command is \d+ bytes, over the 1000/ });
  t.equal(proposed.length, 0, 'nothing proposed: sending it to the followers would fail on every attempt');
});
