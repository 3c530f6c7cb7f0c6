/**
 * The idempotent producer with several batches of a partition on the wire, against a
 * model partition leader that decides with the broker's own ProducerStateTable. The model
 * processes requests in the order they were written (one connection) and injects faults:
 * refusals before appending (NOT_LEADER), answers lost after appending or before it
 * (TIMEOUT), a lost connection failing everything on it, slow answers, and batches whose
 * bytes arrive damaged (CORRUPT_BATCH, for every copy of those bytes). Whatever
 * happens, the log must hold every acknowledged record once, at its acknowledged offset,
 * in send order, and nothing twice.
 */
import t from 'tap';
import { readBatchHeader, records, type BatchHeader } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import { ProducerStateTable } from '../../broker/partition/producer-state.js';
import { Producer } from '../../client/producer/producer.js';
import type { Cluster } from '../../client/cluster/cluster.js';

/** A small seeded PRNG (mulberry32): the same seed, the same faults. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Faults {
  /** Refused before appending (certainly not appended). */
  notLeader: number;
  /** Appended, but the answer is lost. */
  lostAnswer: number;
  /** Not appended, and no answer. */
  lostRequest: number;
  /** Everything on the wire fails at once (some appended, some not). */
  connectionLoss: number;
  /** Refused for good before appending (CORRUPT_BATCH: certainly not appended). */
  corrupt: number;
}

interface Run {
  acked: Map<string, number>;
  rejected: Map<string, string>;
  log: Array<{ value: string; offset: number }>;
  maxInFlight: number;
  resends: number;
}

/**
 * The model leader. `laxStart` is the rule before pipelining (a producer without state
 * may start at any sequence): the mutation the tests below must catch.
 */
function modelCluster(rand: () => number, faults: Faults, laxStart = false) {
  const table = new ProducerStateTable();
  const log: Array<{ value: string; offset: number }> = [];
  let nextOffset = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let resends = 0;
  const seen = new Set<string>();
  /** Batches whose bytes arrived damaged: every copy of the same bytes does. */
  const damaged = new Set<string>();
  let epochOfConnection = 0;
  const pending: Array<{ connection: number; fail: (error: FlotillaError) => void }> = [];
  const silent = () => undefined;

  const append = (batch: Buffer, header: BatchHeader): number => {
    let check: ReturnType<ProducerStateTable['check']>;
    try {
      check = table.check(header);
    } catch (error) {
      if (laxStart && error instanceof FlotillaError && error.code === 'UNKNOWN_PRODUCER') check = { kind: 'new' };
      else throw error;
    }
    if (check.kind === 'duplicate') return check.batch.baseOffset;
    const base = nextOffset;
    for (const record of records(batch)) log.push({ value: record.value!.toString(), offset: nextOffset++ });
    table.applyCommitted(header, nextOffset - 1);
    return base;
  };

  const cluster = {
    logger: { debug: silent, warn: silent, info: silent, error: silent },
    options: { requestTimeoutMs: 1_000 },
    retryPolicy: { initialBackoffMs: 1, maxBackoffMs: 4 },
    cachedTopic: () => ({ topic: 't', partitions: [{ partition: 0, leader: 1, replicas: [1] }] }),
    topic: async () => ({ topic: 't', partitions: [{ partition: 0, leader: 1, replicas: [1] }] }),
    leaderAddress: async () => ({ id: 1, address: 'b1' }),
    cachedLeaderAddress: () => 'b1',
    noteFailure: silent,
    async controllerRequest(request: { producerId?: number; producerEpoch?: number }) {
      await new Promise((r) => setTimeout(r, rand() * 2));
      return { type: 'initProducerId', result: request.producerId === undefined ? { producerId: 7, producerEpoch: 0 } : { producerId: 7, producerEpoch: request.producerEpoch! + 1 } };
    },
    send(_address: string, request: { partitions: Array<{ batch: Buffer }> }) {
      // Written to the connection now: processed in this order.
      const batch = Buffer.from(request.partitions[0]!.batch);
      const header = readBatchHeader(batch);
      const key = `${header.producerEpoch}/${header.baseSequence}`;
      const resend = seen.has(key);
      if (resend) resends++;
      seen.add(key);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const roll = rand();
      let outcome: { error: FlotillaError } | { baseOffset: number } | { lost: true };
      let f = faults.notLeader;
      if (!resend && roll >= f && roll < f + faults.corrupt) damaged.add(key);
      f += faults.corrupt;
      if (damaged.has(key)) outcome = { error: new FlotillaError('CORRUPT_BATCH', 'bad bytes') };
      else if (roll < faults.notLeader) outcome = { error: new FlotillaError('NOT_LEADER', 'moved', { leaderId: 1 }) };
      else if (roll < (f += faults.lostRequest)) outcome = { lost: true };
      else {
        try {
          const baseOffset = append(batch, header);
          outcome = roll < f + faults.lostAnswer ? { lost: true } : { baseOffset };
        } catch (error) {
          outcome = { error: error as FlotillaError };
        }
      }
      const connection = epochOfConnection;
      if (rand() < faults.connectionLoss) {
        epochOfConnection++;
        for (const p of pending.splice(0)) p.fail(new FlotillaError('BROKER_NOT_AVAILABLE', 'lost the connection'));
      }
      return new Promise((resolve, reject) => {
        const entry = { connection, fail: (error: FlotillaError) => settle(() => reject(error)) };
        let settled = false;
        const settle = (fn: () => void) => {
          if (settled) return;
          settled = true;
          inFlight--;
          pending.splice(pending.indexOf(entry), 1);
          fn();
        };
        pending.push(entry);
        if (connection !== epochOfConnection) {
          entry.fail(new FlotillaError('BROKER_NOT_AVAILABLE', 'lost the connection'));
          return;
        }
        // Answers keep their order on a connection: each waits for the ones before it.
        const delay = 1 + rand() * 3;
        setTimeout(() => {
          if ('lost' in outcome) settle(() => reject(new FlotillaError('TIMEOUT', 'no answer; the outcome is unknown')));
          else if ('error' in outcome) settle(() => reject(outcome.error));
          else settle(() => resolve({ type: 'produce', result: { partitions: [{ topic: 't', partition: 0, baseOffset: outcome.baseOffset }] } }));
        }, delay + pending.length);
      });
    },
  };
  return {
    cluster: cluster as unknown as Cluster,
    result: (): Pick<Run, 'log' | 'maxInFlight' | 'resends'> => ({ log, maxInFlight, resends }),
  };
}

async function run(seed: number, faults: Faults, laxStart = false): Promise<Run> {
  const rand = random(seed);
  const { cluster, result } = modelCluster(rand, faults, laxStart);
  // Small batches and no linger: many batches, several on the wire at once.
  const producer = new Producer(cluster, { idempotent: true, lingerMs: 0, batchBytes: 64, maxInFlight: 5, deliveryTimeoutMs: 60_000 });
  const acked = new Map<string, number>();
  const rejected = new Map<string, string>();
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < 200; i++) {
    const value = String(i).padStart(4, '0');
    sends.push(producer.send({ topic: 't', value }).then((ack) => void acked.set(value, ack.offset), (error: FlotillaError) => void rejected.set(value, error.code)));
    if (rand() < 0.2) await new Promise((r) => setTimeout(r, rand() * 3));
  }
  await Promise.all(sends);
  await producer.close();
  return { acked, rejected, ...result() };
}

/** What is wrong with a run: an empty list when the log is right. */
function anomalies(r: Run): string[] {
  const found: string[] = [];
  const where = new Map<string, number[]>();
  for (const { value, offset } of r.log) where.set(value, [...(where.get(value) ?? []), offset]);
  for (const [value, offsets] of where) if (offsets.length > 1) found.push(`${value} appended ${offsets.length} times`);
  for (const [value, offset] of r.acked) {
    const at = where.get(value);
    if (!at) found.push(`${value} acknowledged at ${offset} but not in the log`);
    else if (!at.includes(offset)) found.push(`${value} acknowledged at ${offset}, stored at ${at.join(',')}`);
  }
  for (let i = 1; i < r.log.length; i++) {
    if (r.log[i]!.value <= r.log[i - 1]!.value) found.push(`${r.log[i]!.value} stored after ${r.log[i - 1]!.value}`);
  }
  for (const [value, code] of r.rejected) if (code === 'CORRUPT_BATCH' && where.has(value)) found.push(`${value} failed with ${code} but was appended`);
  if (r.acked.size + r.rejected.size !== 200) found.push(`${200 - r.acked.size - r.rejected.size} sends never settled`);
  return found;
}

const noFaults: Faults = { notLeader: 0, lostAnswer: 0, lostRequest: 0, connectionLoss: 0, corrupt: 0 };
const retriable: Faults = { notLeader: 0.05, lostAnswer: 0.05, lostRequest: 0.05, connectionLoss: 0.02, corrupt: 0 };
const withFinal: Faults = { ...retriable, corrupt: 0.03 };

t.test('without faults, batches are pipelined and every record is stored once, in order', async (t) => {
  const r = await run(1, noFaults);
  t.same(anomalies(r), []);
  t.equal(r.acked.size, 200);
  t.ok(r.maxInFlight > 1, `up to ${r.maxInFlight} batches of the partition were on the wire at once`);
});

t.test('retriable faults: everything is acknowledged, once, in order', async (t) => {
  let resends = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const r = await run(seed, retriable);
    const found = anomalies(r);
    if (found.length > 0 || r.rejected.size > 0) t.fail(`seed ${seed}: ${[...found, ...[...r.rejected].map(([v, c]) => `${v} rejected with ${c}`)].slice(0, 5).join('; ')}`);
    resends += r.resends;
  }
  t.ok(resends > 0, `${resends} batches were resent`);
});

t.test('batches that fail for good: the rest is still stored once and in order', async (t) => {
  let rejected = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const r = await run(seed, withFinal);
    const found = anomalies(r);
    if (found.length > 0) t.fail(`seed ${seed}: ${found.slice(0, 5).join('; ')}`);
    rejected += r.rejected.size;
  }
  t.ok(rejected > 0, `${rejected} records failed for good (CORRUPT_BATCH), none of them stored`);
});

t.test('the first batch of a new producer is lost while the second is on the wire: both are stored, in order', async (t) => {
  // Before pipelining a broker let a producer without state start at any sequence. Then
  // the second batch would be appended first here, and the first after it on its retry.
  const outcome = async (laxStart: boolean) => {
    const table = new ProducerStateTable();
    const log: string[] = [];
    let arrivals = 0;
    let releaseFirst: () => void = () => {};
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const silent = () => undefined;
    const cluster = {
      logger: { debug: silent, warn: silent, info: silent, error: silent },
      options: { requestTimeoutMs: 1_000 },
      retryPolicy: { initialBackoffMs: 1, maxBackoffMs: 4 },
      cachedTopic: () => ({ topic: 't', partitions: [{ partition: 0, leader: 1, replicas: [1] }] }),
      cachedLeaderAddress: () => 'b1',
      noteFailure: silent,
      controllerRequest: async () => ({ type: 'initProducerId', result: { producerId: 7, producerEpoch: 0 } }),
      async send(_address: string, request: { partitions: Array<{ batch: Buffer }> }) {
        const batch = request.partitions[0]!.batch;
        const header = readBatchHeader(batch);
        if (++arrivals === 1) {
          await firstHeld; // lost on its way: not appended, and no answer
          throw new FlotillaError('TIMEOUT', 'no answer; the outcome is unknown');
        }
        releaseFirst();
        let check: ReturnType<ProducerStateTable['check']>;
        try {
          check = table.check(header);
        } catch (error) {
          if (!(laxStart && (error as FlotillaError).code === 'UNKNOWN_PRODUCER')) throw error;
          check = { kind: 'new' };
        }
        const base = check.kind === 'duplicate' ? check.batch.baseOffset : log.length;
        if (check.kind === 'new') {
          for (const record of records(batch)) log.push(record.value!.toString());
          table.applyCommitted(header, log.length - 1);
        }
        return { type: 'produce', result: { partitions: [{ topic: 't', partition: 0, baseOffset: base }] } };
      },
    };
    const producer = new Producer(cluster as unknown as Cluster, { idempotent: true, lingerMs: 0, batchBytes: 40 });
    const settled = await Promise.allSettled(['a', 'b', 'c', 'd'].map((value) => producer.send({ topic: 't', value })));
    await producer.close();
    return { log, settled: settled.map((s) => s.status) };
  };
  const fixed = await outcome(false);
  t.same(fixed.log, ['a', 'b', 'c', 'd'], 'stored once each, in send order');
  t.same(fixed.settled, ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  const lax = await outcome(true);
  t.not(lax.log.join(''), 'abcd', `mutation (any starting sequence accepted): the log is ${lax.log.join(',')}`);
});
