/**
 * kafkajs against Flotilla's Kafka listener beside the native SDK against the native port:
 * one 3-broker cluster (fsync always), replication 3, acks all, 1 KiB records. Each round
 * runs every client in turn (the order alternating between rounds): it publishes
 * `--records` records to a fresh topic of `--partitions` partitions, then one consumer reads
 * them back from the start.
 *
 *   - native: the SDK's producer as `npm run bench` uses it (idempotent, its batching
 *     pipeline, a window of 8,192 records); its consumer reads until caught up;
 *   - kafkajs: `producer.send` of 1,024 records per partition (a 1 MiB batch each, the SDK's
 *     batch size), three sends in flight; not idempotent;
 *   - kafkajs idempotent: the same sends, one at a time (kafkajs allows an idempotent
 *     producer one request in flight per broker);
 *   - each kafkajs run reads back with a kafkajs consumer group of one (`eachBatch`), timed
 *     from its first batch to its last record (the group join is left out: the native
 *     consumer has none).
 *
 *   npm run build && node dist/bench/kafka.js --help   (its options)
 */
import os from 'node:os';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from '../client/index.js';
import { runBenchScript } from './cli.js';
import { startBenchCluster, type BenchCluster } from './cluster.js';
import { CpuMeter } from './cpu.js';
import { onInterrupt } from './interrupt.js';
import { fmtInt, median, MB } from './stats.js';
import { benchProducer, consume, createTopicWhenReady, payloadOf, produceAtFullSpeed } from './workload.js';

const RECORD_BYTES = 1024;
const SEND_RECORDS_PER_PARTITION = 1024;

type Way = 'native' | 'kafkajs' | 'kafkajs idempotent';
const WAYS: Way[] = ['native', 'kafkajs', 'kafkajs idempotent'];

interface Run {
  way: Way;
  publishPerSecond: number;
  consumePerSecond: number;
  /** Other processes' CPU (cores) during this run: the load the figures were measured under. */
  otherCores: number;
}

interface Settings {
  records: number;
  runs: number;
  partitions: number;
}

async function publishWithKafkajs(kafka: Kafka, topic: string, settings: Settings, idempotent: boolean): Promise<number> {
  const producer = kafka.producer(idempotent ? { idempotent: true, maxInFlightRequests: 1 } : {});
  await producer.connect();
  const value = payloadOf(RECORD_BYTES);
  const perSend = SEND_RECORDS_PER_PARTITION * settings.partitions;
  let next = 0;
  const lane = async () => {
    while (next < settings.records) {
      const first = next;
      const count = Math.min(perSend, settings.records - first);
      next += count;
      await producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, n) => ({ value, partition: (first + n) % settings.partitions })) });
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: idempotent ? 1 : 3 }, lane));
  const seconds = (performance.now() - start) / 1000;
  await producer.disconnect();
  return settings.records / seconds;
}

async function consumeWithKafkajs(kafka: Kafka, topic: string, records: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-${topic}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let received = 0;
  let first = 0;
  let last = 0;
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          const now = performance.now();
          if (first === 0) first = now;
          received += batch.messages.length;
          last = now;
          if (received >= records) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return received / ((last - first) / 1000);
}

async function publishNatively(client: Client, topic: string, settings: Settings): Promise<number> {
  const producer = benchProducer(client);
  const result = await produceAtFullSpeed(producer, { topic, recordBytes: RECORD_BYTES, records: settings.records, partitions: settings.partitions });
  await producer.close();
  if (result.errors > 0) throw new Error(`${result.errors} native sends failed`);
  return result.recordsPerSecond;
}

async function consumeNatively(client: Client, topic: string, settings: Settings): Promise<number> {
  const result = await consume(client, { topic, partitions: settings.partitions, from: 'earliest', untilCaughtUp: true }).done;
  if (result.records < settings.records) throw new Error(`the native consumer read ${result.records} of ${settings.records}`);
  return result.recordsPerSecond;
}

export async function runKafkaBench(settings: Settings, log: (line: string) => void = () => undefined): Promise<Run[]> {
  const cluster: BenchCluster = await startBenchCluster({ brokers: 3, fsync: 'always', kafka: true });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench' });
  const kafka = new Kafka({ clientId: 'bench', brokers: cluster.kafkaBootstrap, logLevel: logLevel.NOTHING });
  const releaseInterrupt = onInterrupt(() => cluster.abandon());
  const runs: Run[] = [];
  try {
    for (let round = 0; round < settings.runs; round++) {
      const order = round % 2 === 0 ? WAYS : [...WAYS].reverse();
      for (const way of order) {
        const topic = `bench-${way.replace(' ', '-')}-${round}`;
        await createTopicWhenReady(client, { topic, partitions: settings.partitions, replicationFactor: 3 });
        const meter = new CpuMeter(cluster.pids());
        const publishPerSecond = way === 'native' ? await publishNatively(client, topic, settings) : await publishWithKafkajs(kafka, topic, settings, way === 'kafkajs idempotent');
        const consumePerSecond = way === 'native' ? await consumeNatively(client, topic, settings) : await consumeWithKafkajs(kafka, topic, settings.records);
        const run = { way, publishPerSecond, consumePerSecond, otherCores: meter.read().otherCores };
        runs.push(run);
        log(`round ${round + 1}/${settings.runs} ${way}: publish ${fmtInt(publishPerSecond)}/s, consume ${fmtInt(consumePerSecond)}/s, other processes ${run.otherCores} cores`);
      }
    }
  } finally {
    await client.close();
    await cluster.close();
    releaseInterrupt();
  }
  return runs;
}

/** Medians per way, min–max, and each way ÷ native. */
export function kafkaTable(runs: Run[], settings: Settings): string {
  const perWay = (way: Way) => runs.filter((r) => r.way === way);
  const figure = (values: number[]) => `${fmtInt(median(values))} (${fmtInt(Math.min(...values))}–${fmtInt(Math.max(...values))})`;
  const mbs = (values: number[]) => ((median(values) * RECORD_BYTES) / MB).toFixed(1);
  const ratio = (way: Way, pick: (r: Run) => number) => (median(perWay(way).map(pick)) / median(perWay('native').map(pick))).toFixed(2);
  const rows = [
    `${fmtInt(settings.records)} records of ${RECORD_BYTES} B per run, ${settings.partitions} partitions, replication 3, acks all, fsync always; ${settings.runs} rounds, median (min–max) records/s`,
    '',
    '| client | publish records/s | MB/s | ÷ native | read back records/s | MB/s | ÷ native |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const way of WAYS) {
    const publish = perWay(way).map((r) => r.publishPerSecond);
    const read = perWay(way).map((r) => r.consumePerSecond);
    rows.push(`| ${way} | ${figure(publish)} | ${mbs(publish)} | ${ratio(way, (r) => r.publishPerSecond)}× | ${figure(read)} | ${mbs(read)} | ${ratio(way, (r) => r.consumePerSecond)}× |`);
  }
  const other = runs.map((r) => r.otherCores);
  rows.push('', `Other processes' CPU during the runs: ${Math.min(...other)}–${Math.max(...other)} cores (of ${os.cpus().length}).`);
  return rows.join('\n');
}

const USAGE = `node dist/bench/kafka.js [options]   (npm run build first)

kafkajs against 3 local brokers beside the native SDK, in alternating runs: publish (plain
and idempotent, acks all) and read back, 1 KiB records.

  --records N      records per run (default 50000)
  --runs N         runs of each way (default 3)
  --partitions N   partitions of the topic (default 3)
  -h, --help       this text`;

runBenchScript(import.meta.url, USAGE, { '--records': 'value', '--runs': 'value', '--partitions': 'value' }, async (args) => {
  const settings: Settings = {
    records: args.number('--records', 50_000),
    runs: args.number('--runs', 3),
    partitions: args.number('--partitions', 3),
  };
  const runs = await runKafkaBench(settings, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${kafkaTable(runs, settings)}\n`);
});
