/**
 * One chaos run: brokers in their own network namespaces, a workload of idempotent
 * producers and tailing consumers from the root namespace, phases of faults (nemesis.ts),
 * a final heal, every replica read back, and the checker's verdict. Shared by the test
 * (a short run of each nemesis) and the CLI (`npm run chaos`).
 *
 * A run that fails keeps its directory: history.jsonl (sends, acks, reads, faults, final
 * replica reads) and broker-ID.log of every broker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type Consumer } from '../../client/index.js';
import { clusterOf } from '../../client/client.js';
import { onInterrupt } from '../../bench/interrupt.js';
import { ProcessCluster, waitFor } from '../integration/cluster.js';
import { readPartition } from '../integration/read-back.js';
import { Rng } from '../sim/prng.js';
import { byNemesis, check, type NemesisRow, type Report } from './checker.js';
import { History, recordValue } from './history.js';
import { healAll, schedule, type Nemesis, type NemesisContext } from './nemesis.js';
import { Network } from '../integration/netns.js';

export interface ChaosOptions {
  brokers: number;
  nemeses: Nemesis[];
  /** Length of each phase's fault window. */
  faultMs: number;
  /** Keep starting phases until this much time has passed; without it, each nemesis runs once, in the order given. */
  durationMs?: number;
  partitions?: number;
  producers?: number;
  /** Sends per second of each producer. */
  rate?: number;
  seed?: number;
  /** Keep the run's directory even when the verdict is clean. */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface ChaosResult {
  report: Report;
  rows: NemesisRow[];
  seed: number;
  elapsedMs: number;
  /** Where the history and broker logs are, if kept (always when the verdict is not clean). */
  runDir: string | null;
}

const TOPIC = 'chaos';
const PORT = 7400;
/** After healing, every partition must acknowledge again within this bound. */
const RECOVERY_BOUND_MS = 60_000;
/** A quiet stretch before the first fault: the 'none' row of the table, for comparison. */
const BASELINE_MS = 5_000;

/** The brokers' --controller-snapshot-entries (the default is 10,000, more than a run writes). */
const METADATA_SNAPSHOT_ENTRIES = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? (() => undefined);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rng = new Rng(seed);
  const partitions = options.partitions ?? options.brokers;
  const started = Date.now();
  const runDir = mkdtempSync(join(tmpdir(), 'flotilla-chaos-'));
  const history = new History(join(runDir, 'history.jsonl'));
  history.add({ type: 'note', text: `seed ${seed}, ${options.brokers} brokers, ${partitions} partitions, nemeses ${options.nemeses.map((n) => n.name).join(',')}` });

  const ids = Array.from({ length: options.brokers }, (_, i) => i + 1);
  const net = await Network.create(ids);
  let cluster: ProcessCluster | null = null;
  // Interrupted (Ctrl-C, a test runner's timeout): remove the namespaces, links and bridge
  // before going, keeping the run directory. The cluster registers its own clean-up later,
  // so that one runs first and kills the brokers.
  const releaseInterrupt = onInterrupt(() => {
    net.destroySync();
    console.error(`chaos run interrupted; history and broker logs kept in ${runDir}`);
  });
  const clients: Client[] = [];
  let workload: Workload | null = null;
  let report: Report | null = null;
  try {
    cluster = await new ProcessCluster({
      brokers: options.brokers,
      host: (id) => ({ address: `${net.address(id)}:${PORT}`, prefix: net.prefix(id) }),
      logDir: runDir,
      // Metadata compacted often, so that brokers catch up from snapshots as well as entries.
      extraArgs: ['--controller-snapshot-entries', String(METADATA_SNAPSHOT_ENTRIES)],
    }).start();
    log(`brokers on ${cluster.bootstrap.join(' ')} (namespaces ${net.namespace(1)}..), run directory ${runDir}, seed ${seed}`);
    // Short timeouts for the workload, so that a silent peer costs seconds, not minutes;
    // a patient client for set-up and the final reads.
    const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 3_000, connectTimeoutMs: 2_000, maxRetryBackoffMs: 1_000 });
    const patient = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 20_000 });
    clients.push(client, patient);
    await waitFor('a controller', async () => (await patient.admin().describeCluster()).controller, 60_000);
    await patient.admin().createTopic({ topic: TOPIC, partitions, replicationFactor: Math.min(3, options.brokers) });
    await waitFor('a leader for every partition', async () => (await patient.admin().describeTopic(TOPIC)).partitions.every((p) => p.leader), 60_000);

    workload = new Workload(history, client, partitions, options.producers ?? 3, options.rate ?? 40);
    workload.start();
    const ctx: NemesisContext = { cluster, net, client, topic: TOPIC, partitions, rng, note: () => undefined };

    let phase = 0;
    const runPhase = async (nemesis: Nemesis | null): Promise<void> => {
      const name = nemesis?.name ?? 'none';
      const current = phase++;
      ctx.note = (action, detail) => history.add({ type: 'nemesis', phase: current, action, detail });
      history.add({ type: 'phase', phase: current, nemesis: name, edge: 'start' });
      if (nemesis) await nemesis.run(ctx, options.faultMs);
      else await sleep(BASELINE_MS);
      await healAll(ctx);
      const healedAt = Date.now();
      history.add({ type: 'phase', phase: current, nemesis: name, edge: 'heal' });
      const recovered = await workload!.ackedEverywhereSince(healedAt, RECOVERY_BOUND_MS);
      const recoveryMs = Date.now() - healedAt;
      history.add({ type: 'phase', phase: current, nemesis: name, edge: 'end', recovered, recoveryMs });
      log(`phase ${current} ${name}: ${recovered ? `acknowledging again ${(recoveryMs / 1000).toFixed(1)} s after healing` : `NOT acknowledging ${RECOVERY_BOUND_MS / 1000} s after healing`}`);
    };

    await runPhase(null);
    if (options.durationMs === undefined) {
      for (const nemesis of options.nemeses) await runPhase(nemesis);
    } else {
      const order = schedule(options.nemeses, rng);
      while (Date.now() - started < options.durationMs) await runPhase(order.next().value as Nemesis);
    }

    await workload.stop();
    await readReplicas(history, patient, partitions, workload.maxAckedOffsets(), log);
    report = check(history.events);
  } finally {
    releaseInterrupt();
    await workload?.stop().catch(() => undefined);
    await Promise.allSettled(clients.map((c) => c.close()));
    await cluster?.close();
    await net.destroy();
    await history.close();
  }
  const verdict = report!;
  const keep = options.keep || !verdict.ok;
  if (!keep) rmSync(runDir, { recursive: true, force: true });
  return { report: verdict, rows: byNemesis(verdict), seed, elapsedMs: Date.now() - started, runDir: keep ? runDir : null };
}

/**
 * Idempotent producers, each sending `rate` records a second round-robin over the
 * partitions with its own sequence number in each value, and one tailing consumer per
 * partition (reading any replica, as applications do), all recorded in the history.
 */
class Workload {
  private timers: NodeJS.Timeout[] = [];
  private readonly consumers = new Map<number, Consumer>();
  private readonly consuming: Array<Promise<void>> = [];
  private stopping: Promise<void> | null = null;
  private readonly lastAck = new Map<number, number>();
  private readonly maxOffset = new Map<number, number>();
  private readonly sends: Array<Promise<unknown>> = [];

  constructor(
    private readonly history: History,
    private readonly client: Client,
    private readonly partitions: number,
    private readonly producers: number,
    private readonly rate: number,
  ) {}

  start(): void {
    for (let p = 0; p < this.producers; p++) {
      // A delivery timeout of a few seconds makes sends into an unavailable cluster fail
      // (and count against availability) instead of queueing for the whole fault.
      const producer = this.client.producer({ idempotent: true, acks: 'all', lingerMs: 5, deliveryTimeoutMs: 10_000 });
      let seq = 0;
      this.timers.push(setInterval(() => {
        const s = seq++;
        const partition = s % this.partitions;
        this.history.add({ type: 'send', producer: p, seq: s, partition });
        this.sends.push(producer.send({ topic: TOPIC, partition, value: recordValue(p, s) }).then(
          (ack) => {
            this.history.add({ type: 'ack', producer: p, seq: s, partition: ack.partition, offset: ack.offset });
            this.lastAck.set(ack.partition, Date.now());
            this.maxOffset.set(ack.partition, Math.max(this.maxOffset.get(ack.partition) ?? -1, ack.offset));
          },
          (error: unknown) => this.history.add({ type: 'fail', producer: p, seq: s, error: (error as { code?: string }).code ?? String(error) }),
        ));
      }, 1000 / this.rate));
    }
    for (let partition = 0; partition < this.partitions; partition++) this.consuming.push(this.consume(partition));
  }

  /** Tails one partition from offset 0; a consumer that fails is replaced at the next offset. */
  private async consume(partition: number): Promise<void> {
    let next = 0;
    while (!this.stopping) {
      const consumer = this.client.consumer({ readFrom: 'any', maxWaitMs: 200, replicaSetAsideMs: 3_000 });
      this.consumers.set(partition, consumer);
      consumer.assign([{ topic: TOPIC, partition, offset: next }]);
      try {
        for await (const m of consumer) {
          this.history.add({ type: 'read', consumer: partition, partition, offset: m.offset, value: m.value?.toString() ?? '' });
          next = m.offset + 1;
        }
      } catch (error) {
        this.history.add({ type: 'note', text: `consumer of partition ${partition} failed at ${next}: ${String(error)}` });
        await sleep(500);
      } finally {
        await consumer.close();
      }
    }
  }

  /** Whether every partition acknowledged a record after `since`, waiting up to `boundMs`. */
  async ackedEverywhereSince(since: number, boundMs: number): Promise<boolean> {
    const all = () => Array.from({ length: this.partitions }, (_, p) => p).every((p) => (this.lastAck.get(p) ?? 0) > since);
    return waitFor('acknowledgements on every partition', all, boundMs, 100).then(() => true, () => false);
  }

  maxAckedOffsets(): Map<number, number> {
    return this.maxOffset;
  }

  /** Stops sending, waits for every send's outcome (bounded by the delivery timeout), stops the consumers. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const timer of this.timers) clearInterval(timer);
      await Promise.allSettled(this.sends);
      for (const consumer of this.consumers.values()) await consumer.close();
      await Promise.allSettled(this.consuming);
    })();
    return this.stopping;
  }
}

/**
 * After the final heal: the high watermark of each partition from its leader (once it
 * covers every acknowledged offset: a leader elected moments ago learns the commit index
 * with its first entry of the term), then every replica read with readFrom up to it.
 */
async function readReplicas(history: History, client: Client, partitions: number, maxAcked: Map<number, number>, log: (line: string) => void): Promise<void> {
  const description = await waitFor('partition leaders after healing', async () => {
    const d = await client.admin().describeTopic(TOPIC);
    return d.partitions.every((p) => p.leader) ? d : null;
  }, RECOVERY_BOUND_MS);
  for (let partition = 0; partition < partitions; partition++) {
    const { leader, replicas } = description.partitions.find((p) => p.partition === partition)!;
    const highWatermark = await waitFor(`the leader of ${TOPIC}/${partition} to cover every acknowledged offset`, async () => {
      const { result } = await clusterOf(client).leaderRequest({ type: 'listOffsets', topic: TOPIC, partition, target: 'latest' });
      return result.offset > (maxAcked.get(partition) ?? -1) ? result.offset : null;
    }, RECOVERY_BOUND_MS).catch(async () => (await clusterOf(client).leaderRequest({ type: 'listOffsets', topic: TOPIC, partition, target: 'latest' })).result.offset);
    for (const broker of replicas) {
      const { records, complete } = await readPartition(client, TOPIC, partition, broker, highWatermark, RECOVERY_BOUND_MS);
      history.add({ type: 'replica', partition, broker, leader: broker === leader, highWatermark, complete, records });
      if (!complete) log(`replica ${broker} of partition ${partition} did not reach offset ${highWatermark}`);
    }
  }
}
