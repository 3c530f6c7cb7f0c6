/**
 * Raft core benchmark (no I/O): `node dist/bench/raft.js`.
 *
 * 1. Throughput: a 3-node group in one process, messages delivered in memory, every Ready
 *    handled in full (MemoryLog "sync" is a no-op-cheap bookkeeping step). The client side
 *    proposes `batchesPerCycle` batches per driver cycle — the batching a multiraft loop
 *    gets for free by proposing everything that arrived in one event-loop turn — and the
 *    figure is batches committed (at the leader) per second of process CPU time.
 * 2. Memory: 10,000 idle three-node groups (leader elected, no-op committed), heap per
 *    group and per replica after a forced GC.
 *
 * Prints a markdown table. `benchRaft()` is exported for bench/run.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pathToFileURL } from 'node:url';
import { buildBatch } from '../protocol/batch.js';
import type { Message } from '../broker/raft/types.js';
import { MemoryLog } from '../broker/raft/memory-log.js';
import { RaftNode } from '../broker/raft/raft.js';

interface Replica {
  raft: RaftNode;
  log: MemoryLog;
  applied: number;
}

class Group {
  readonly replicas = new Map<number, Replica>();
  private queue: Message[] = [];
  committedAtLeader = 0;

  constructor(seed: number, extra: { maxInflightMsgs?: number } = {}) {
    let s = seed >>> 0;
    const random = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
    for (const id of [1, 2, 3]) {
      const log = new MemoryLog();
      const raft = new RaftNode({ id, log, hardState: { term: 0, vote: 0 }, voters: [1, 2, 3], random, maxUncommittedBytes: 0, ...extra });
      this.replicas.set(id, { raft, log, applied: 0 });
    }
  }

  /** The driver loop for every replica, then deliver until quiet. */
  run(): void {
    for (;;) {
      let progressed = false;
      for (const [id, r] of this.replicas) {
        while (r.raft.hasReady()) {
          progressed = true;
          const rd = r.raft.ready();
          for (const m of rd.messages) this.queue.push(m);
          if (rd.mustSync) r.log.sync();
          for (const m of rd.messagesAfterSync) this.queue.push(m);
          if (rd.committed.length > 0) {
            r.applied = rd.committed[rd.committed.length - 1]!.index;
            if (r.raft.currentRole === 'leader') this.committedAtLeader += rd.committed.length;
          }
          r.raft.advance(rd);
          void id;
        }
      }
      if (this.queue.length === 0 && !progressed) return;
      const q = this.queue;
      this.queue = [];
      for (const m of q) this.replicas.get(m.to)!.raft.step(m);
    }
  }

  elect(): Replica {
    const r1 = this.replicas.get(1)!;
    for (let i = 0; i < 40 && r1.raft.currentRole !== 'leader'; i++) {
      r1.raft.tick();
      this.run();
    }
    if (r1.raft.currentRole !== 'leader') throw new Error('bench: no leader');
    return r1;
  }

  /** Retention: keep the in-memory logs short so the bench measures Raft, not the heap. */
  compact(): void {
    for (const r of this.replicas.values()) {
      if (r.applied >= r.log.firstIndex()) r.log.compact(r.applied, undefined);
    }
  }
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export interface ThroughputRow {
  batchesPerCycle: number;
  recordsPerBatch: number;
  valueBytes: number;
  batches: number;
  cpuSeconds: number;
  batchesPerCpuSecond: number;
  recordsPerCpuSecond: number;
}

export function throughput(batchesPerCycle: number, recordsPerBatch: number, valueBytes: number, totalBatches: number): ThroughputRow {
  const g = new Group(42);
  const leader = g.elect();
  const value = Buffer.alloc(valueBytes, 120);
  const records = Array.from({ length: recordsPerBatch }, () => ({ value, timestamp: 0 }));
  // Batches are built by producers, not the broker: build them outside the measured time.
  const template = buildBatch(records, { now: 0 });
  const start = g.committedAtLeader;
  const t0 = cpuSeconds();
  let proposed = 0;
  let cycles = 0;
  while (proposed < totalBatches) {
    for (let i = 0; i < batchesPerCycle && proposed < totalBatches; i++, proposed++) {
      leader.raft.propose(Buffer.from(template)); // a copy: the leader patches it in place
    }
    g.run();
    if (++cycles % 10 === 0) leader.raft.tick();
    if (cycles % 200 === 0) g.compact();
  }
  for (let i = 0; i < 3; i++) {
    leader.raft.tick();
    g.run();
  }
  const secs = cpuSeconds() - t0;
  const committed = g.committedAtLeader - start; // the no-op committed before `start`
  return {
    batchesPerCycle,
    recordsPerBatch,
    valueBytes,
    batches: committed,
    cpuSeconds: secs,
    batchesPerCpuSecond: committed / secs,
    recordsPerCpuSecond: (committed * recordsPerBatch) / secs,
  };
}

function forceGc(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

export interface MemoryRow {
  groups: number;
  bytesPerGroup: number;
  bytesPerReplica: number;
}

export function idleMemory(groups: number): MemoryRow {
  forceGc();
  const before = process.memoryUsage().heapUsed;
  const all: Group[] = [];
  for (let i = 0; i < groups; i++) {
    const g = new Group(i + 1, { maxInflightMsgs: 256 });
    g.elect();
    g.compact();
    all.push(g);
  }
  forceGc();
  const after = process.memoryUsage().heapUsed;
  const per = (after - before) / groups;
  if (all.length !== groups) throw new Error('unreachable');
  return { groups, bytesPerGroup: per, bytesPerReplica: per / 3 };
}

export function benchRaft(): { throughput: ThroughputRow[]; memory: MemoryRow } {
  const rows: ThroughputRow[] = [];
  for (const [perCycle, records, bytes, total] of [
    [1, 1, 100, 20_000],
    [16, 1, 100, 100_000],
    [64, 1, 100, 200_000],
    [64, 10, 100, 100_000],
    [256, 1, 100, 200_000],
  ] as const) {
    rows.push(throughput(perCycle, records, bytes, total));
  }
  return { throughput: rows, memory: idleMemory(10_000) };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function printTables(r: ReturnType<typeof benchRaft>): void {
  console.log('| batches per driver cycle | records per batch | value bytes | batches committed | CPU s | batches / CPU s | records / CPU s |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of r.throughput) {
    console.log(
      `| ${row.batchesPerCycle} | ${row.recordsPerBatch} | ${row.valueBytes} | ${fmt(row.batches)} | ${row.cpuSeconds.toFixed(2)} | ${fmt(row.batchesPerCpuSecond)} | ${fmt(row.recordsPerCpuSecond)} |`,
    );
  }
  console.log('');
  console.log('| idle groups (3 replicas each, in one process) | heap per group | heap per replica |');
  console.log('|---:|---:|---:|');
  console.log(`| ${fmt(r.memory.groups)} | ${fmt(r.memory.bytesPerGroup)} B | ${fmt(r.memory.bytesPerReplica)} B |`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTables(benchRaft());
}
