/**
 * MultiRaft's processing cycles: one group's fsync must not hold another group's commit.
 * One broker with two single-voter groups on the simulator's in-memory seams, driven by real
 * timers; group 1's log sync is held at a gate while group 2 takes a write.
 */
import t from 'tap';
import { pino } from 'pino';
import { MultiRaft, type StateMachine } from '../../broker/multiraft/multiraft.js';
import { MemoryLog } from '../../broker/raft/memory-log.js';
import type { Entry } from '../../broker/raft/log.js';
import { buildBatch } from '../../protocol/batch.js';
import { SimClock, SimHardStates, SimLogStore, SimPeers, type SimWorld } from './sim-seams.js';
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

t.test("a group's write commits while another group's fsync is held", async (t) => {
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

  // Both groups elect this broker and commit their leader's first entry.
  await Promise.all(groups.map(async (group, i) => {
    await waitFor(`group ${i + 1} led here`, () => group.node.currentRole === 'leader', 10_000, TICK_MS);
    await machines[i]!.until(group.log.lastIndex());
  }));

  // From now on group 1's log sync waits at a gate.
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const held = groups[0]!.log;
  const flush = held.flush.bind(held);
  let syncing!: () => void;
  const atGate = new Promise<void>((resolve) => (syncing = resolve));
  held.flush = () => {
    syncing();
    return gate.then(flush);
  };

  const first = raft.propose(groups[0]!, buildBatch([{ value: 'held' }]));
  await atGate; // group 1's cycle waits for its sync
  const second = raft.propose(groups[1]!, buildBatch([{ value: 'free' }]));
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    machines[1]!.until(second.index).then(() => 'committed'),
    new Promise((resolve) => (timer = setTimeout(() => resolve('still waiting after 10 s'), 10_000))),
  ]);
  clearTimeout(timer);
  t.equal(outcome, 'committed', "group 2's write commits while group 1's sync is held");
  t.notOk(machines[0]!.indexes.includes(first.index), "group 1's write is not applied before its log is synced");
  openGate();
  await machines[0]!.until(first.index);
  t.pass("group 1's write commits once its sync completes");
});
