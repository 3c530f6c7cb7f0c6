/**
 * MultiRaft's processing cycles: one group's fsync must not hold another group's commit.
 * One broker with two single-voter groups on the simulator's in-memory seams, driven by real
 * timers; group 1's log sync is held at a gate while group 2 takes a write.
 */
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { MultiRaft, type Group, type StateMachine } from '../../broker/multiraft/multiraft.js';
import { MemoryLog } from '../../broker/raft/memory-log.js';
import type { Entry } from '../../broker/raft/log.js';
import { buildBatch } from '../../protocol/batch.js';
import { SimClock, SimHardStates, SimLogStore, SimPeers, type SimLog, type SimWorld } from './sim-seams.js';
import { LOG_START } from './invariants.js';
import { waitFor } from '../../bench/process-cluster.js';

const BROKER = 1;
const TICK_MS = 5;

/** Simulated time is the real clock; events are real timers. */
function realTimeWorld(): SimWorld {
  return {
    now: () => performance.now(),
    at: (at, fn) => void setTimeout(fn, Math.max(0, at - performance.now())),
    syncDelay: () => 0,
    sendFrame: () => undefined,
    reaches: () => true,
    tickPeriod: (ms) => ({ period: ms, phase: ms }),
    settled: () => undefined,
  };
}

/** A state machine that resolves a promise when the entry at an index is applied. */
class Applied implements StateMachine {
  readonly indexes: number[] = [];
  private readonly waiting = new Map<number, () => void>();
  apply(entries: Entry[]): void {
    for (const e of entries) {
      this.indexes.push(e.index);
      this.waiting.get(e.index)?.();
    }
  }
  restore(): void {}
  onSoftState(): void {}
  until(index: number): Promise<void> {
    if (this.indexes.includes(index)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.set(index, resolve));
  }
}

/** One broker leading two single-voter groups whose first entries are applied. */
async function twoGroups(t: Test): Promise<{ raft: MultiRaft<SimLog>; groups: Array<Group<SimLog>>; machines: Applied[] }> {
  const world = realTimeWorld();
  const raft = new MultiRaft({
    id: BROKER,
    logs: new SimLogStore(world, () => new MemoryLog(undefined, { index: LOG_START, term: 0 })),
    hardStates: new SimHardStates(world, () => undefined),
    transport: new SimPeers(BROKER, [BROKER], world),
    clock: new SimClock(world),
    logger: pino({ level: 'silent' }),
    fsync: 'always',
    tickMs: TICK_MS,
    electionTicks: 10,
    heartbeatTicks: 2,
    recoveryConcurrency: 0,
    onFatal: (error) => t.fail(`fatal: ${String(error)}`),
    onCorruption: () => t.fail('corruption'),
  });
  const machines = [new Applied(), new Applied()];
  const groups = machines.map((stateMachine, i) => raft.create({ groupId: i + 1, logName: `g${i + 1}`, voters: [BROKER], stateMachine, preferredLeader: BROKER }));
  raft.start();
  t.teardown(() => raft.stop());
  await Promise.all(groups.map(async (group, i) => {
    await waitFor(`group ${i + 1} led here`, () => group.node.currentRole === 'leader', 10_000, TICK_MS);
    await machines[i]!.until(group.log.lastIndex());
  }));
  return { raft, groups, machines };
}

/** Holds the group's log sync at a gate: `atGate` resolves once a sync waits there. */
function gateSync(group: Group<SimLog>): { atGate: Promise<void>; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const held = group.log;
  const flush = held.flush.bind(held);
  let syncing!: () => void;
  const atGate = new Promise<void>((resolve) => (syncing = resolve));
  held.flush = () => {
    syncing();
    return gate.then(flush);
  };
  return { atGate, open };
}

/** 'resolved' if `promise` settles within `ms`, else `late`. */
function within(promise: Promise<unknown>, ms: number, late: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => 'resolved'),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(late), ms))),
  ]).finally(() => clearTimeout(timer));
}

t.test("a group's write commits while another group's fsync is held", async (t) => {
  const { raft, groups, machines } = await twoGroups(t);
  const held = gateSync(groups[0]!);
  const first = raft.propose(groups[0]!, buildBatch([{ value: 'held' }]));
  await held.atGate; // group 1's cycle waits for its sync
  const second = raft.propose(groups[1]!, buildBatch([{ value: 'free' }]));
  t.equal(await within(machines[1]!.until(second.index), 10_000, 'still waiting after 10 s'), 'resolved', "group 2's write commits while group 1's sync is held");
  t.notOk(machines[0]!.indexes.includes(first.index), "group 1's write is not applied before its log is synced");
  held.open();
  await machines[0]!.until(first.index);
  t.pass("group 1's write commits once its sync completes");
});

t.test('removing a group waits for its running cycle', async (t) => {
  // Before: remove() deleted the log under the cycle's fsync, and the cycle then applied to
  // the removed replica and recorded its hard state again.
  const { raft, groups, machines } = await twoGroups(t);
  const held = gateSync(groups[0]!);
  raft.propose(groups[0]!, buildBatch([{ value: 'held' }]));
  await held.atGate;
  const removed = raft.remove(1, true);
  t.equal(await within(removed, 200, 'waiting'), 'waiting', 'remove() waits while the group\'s sync is held');
  held.open();
  t.equal(await within(removed, 10_000, 'still waiting after 10 s'), 'resolved', 'remove() resolves once the cycle ends');
  const other = raft.propose(groups[1]!, buildBatch([{ value: 'after' }]));
  await machines[1]!.until(other.index);
  t.pass('the other group goes on');
});
