/**
 * OpenMessaging Benchmark workloads against Flotilla: the OMB's workload file fields
 * (https://openmessaging.cloud/docs/benchmarks/) and its result vocabulary (publish rate,
 * consume rate, backlog, publish and end-to-end latency percentiles, the TestResult JSON).
 *
 * Mapping onto Flotilla:
 *  - each topic is created with partitionsPerTopic partitions, replication 3, and deleted
 *    at the end;
 *  - each producer is its own Client (own connections), acks all; producerRate is the
 *    total rate over all producers of all topics, as in the OMB; 0 means as fast as each
 *    producer's window allows;
 *  - each subscription is a set of consumerPerSubscription consumers that split the
 *    topic's partitions between them (what a consumer group would do; groups are not
 *    available yet, so the split is a static assign), tailing from the latest offset;
 *  - latencies are taken after warmupDurationMinutes; end-to-end latency uses the send
 *    time stamped in the payload, so producers and consumers share one clock (one process).
 */
import { readFileSync } from 'node:fs';
import { Client, type ClientTlsOptions, type Producer, type SaslOptions } from '../client/index.js';
import { Progress } from './progress.js';
import { fmtFixed, percentile, sortedCopy } from './stats.js';
import { consume, createTopicWhenReady, produceAtFixedRate, produceAtFullSpeed, type ConsumeResult, type LiveCounter } from './workload.js';

export interface Workload {
  name: string;
  topics: number;
  partitionsPerTopic: number;
  messageSize: number;
  subscriptionsPerTopic: number;
  producersPerTopic: number;
  consumerPerSubscription: number;
  /** Records per second over all producers; 0 = as fast as possible. */
  producerRate: number;
  testDurationMinutes: number;
  warmupDurationMinutes: number;
  keyDistributor: 'NO_KEY' | 'KEY_ROUND_ROBIN' | 'RANDOM_NANO';
}

const NUMBER_FIELDS = ['topics', 'partitionsPerTopic', 'messageSize', 'subscriptionsPerTopic', 'producersPerTopic', 'consumerPerSubscription', 'producerRate', 'testDurationMinutes', 'warmupDurationMinutes'] as const;
/** OMB fields that change nothing here, accepted so that the OMB's own files load. */
const IGNORED_FIELDS = new Set(['payloadFile', 'useRandomizedPayloads', 'randomBytesRatio', 'randomizedPayloadPoolSize', 'consumerBacklogSizeGB', 'backlogDrainRatio']);

/**
 * Reads the flat `key: value` YAML of OMB workload files: one mapping, scalars only,
 * `#` comments, optional quotes. Nested structures are refused rather than misread.
 */
export function parseFlatYaml(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trimEnd();
    if (line.trim() === '' || line.trim() === '---') return;
    const match = /^([A-Za-z_][\w.-]*)\s*:\s*(.*)$/.exec(line);
    if (!match || /^\s/.test(line)) throw new Error(`line ${index + 1}: expected "key: value" at the top level, got "${raw.trim()}"`);
    let value = match[2]!.trim();
    if (value === '' || value === '|' || value === '>' || value.startsWith('[') || value.startsWith('{')) {
      throw new Error(`line ${index + 1}: ${match[1]} needs a plain scalar value (nested YAML is not part of an OMB workload)`);
    }
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) value = value.slice(1, -1);
    out[match[1]!] = value;
  });
  return out;
}

/** A workload from file text, with the OMB's defaults and a clear error for each bad field. */
export function parseWorkload(text: string, fallbackName = 'workload'): Workload {
  const fields = parseFlatYaml(text);
  const workload: Workload = {
    name: fields['name'] ?? fallbackName,
    topics: 1,
    partitionsPerTopic: 1,
    messageSize: 1024,
    subscriptionsPerTopic: 1,
    producersPerTopic: 1,
    consumerPerSubscription: 1,
    producerRate: 10_000,
    testDurationMinutes: 1,
    warmupDurationMinutes: 0,
    keyDistributor: 'NO_KEY',
  };
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'name') continue;
    if (key === 'keyDistributor') {
      if (value !== 'NO_KEY' && value !== 'KEY_ROUND_ROBIN' && value !== 'RANDOM_NANO') throw new Error(`keyDistributor must be NO_KEY, KEY_ROUND_ROBIN or RANDOM_NANO, got ${value}`);
      workload.keyDistributor = value;
    } else if ((NUMBER_FIELDS as readonly string[]).includes(key)) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${key} must be a number >= 0, got "${value}"`);
      (workload as unknown as Record<string, number>)[key] = n;
    } else if (IGNORED_FIELDS.has(key)) {
      if (key === 'consumerBacklogSizeGB' && Number(value) > 0) throw new Error('consumerBacklogSizeGB > 0 (backlog drain tests) is not supported yet; set it to 0');
    } else {
      throw new Error(`unknown workload field "${key}"; OMB fields are ${['name', ...NUMBER_FIELDS, 'keyDistributor'].join(', ')}`);
    }
  }
  for (const key of ['topics', 'partitionsPerTopic', 'messageSize', 'producersPerTopic'] as const) {
    if (!Number.isInteger(workload[key]) || workload[key] < 1) throw new Error(`${key} must be a whole number >= 1, got ${workload[key]}`);
  }
  for (const key of ['subscriptionsPerTopic', 'consumerPerSubscription'] as const) {
    if (!Number.isInteger(workload[key])) throw new Error(`${key} must be a whole number, got ${workload[key]}`);
  }
  if (workload.testDurationMinutes <= 0) throw new Error('testDurationMinutes must be above 0');
  return workload;
}

export function readWorkload(path: string): Workload {
  const base = path.replace(/^.*\//, '').replace(/\.ya?ml$/, '');
  return parseWorkload(readFileSync(path, 'utf8'), base);
}

/** The OMB's TestResult, the fields this runner fills. Rates are per reporting period. */
export interface TestResult {
  workload: string;
  driver: string;
  messageSize: number;
  topics: number;
  partitions: number;
  producersPerTopic: number;
  consumersPerTopic: number;
  publishRate: number[];
  consumeRate: number[];
  backlog: number[];
  publishErrorRate: number[];
  aggregatedPublishLatencyAvg: number;
  aggregatedPublishLatency50pct: number;
  aggregatedPublishLatency75pct: number;
  aggregatedPublishLatency95pct: number;
  aggregatedPublishLatency99pct: number;
  aggregatedPublishLatency999pct: number;
  aggregatedPublishLatency9999pct: number;
  aggregatedPublishLatencyMax: number;
  aggregatedEndToEndLatencyAvg: number;
  aggregatedEndToEndLatency50pct: number;
  aggregatedEndToEndLatency75pct: number;
  aggregatedEndToEndLatency95pct: number;
  aggregatedEndToEndLatency99pct: number;
  aggregatedEndToEndLatency999pct: number;
  aggregatedEndToEndLatency9999pct: number;
  aggregatedEndToEndLatencyMax: number;
  /** Whole-run averages after the warm-up (records/s and MB/s). */
  publishRateAvg: number;
  publishThroughputMBAvg: number;
  consumeRateAvg: number;
  consumeThroughputMBAvg: number;
  /** Records consumers were handed twice or out of order (must be 0). */
  consumerRepeats: number;
}

export interface RunWorkloadOptions {
  brokers: string[];
  /** Overrides testDurationMinutes / warmupDurationMinutes, in seconds (quick trials). */
  durationSeconds?: number;
  warmupSeconds?: number;
  /** Reporting period of the rate lines, as the OMB's 10 s. */
  periodSeconds?: number;
  /** Where the periodic lines go; defaults to stderr on a TTY. */
  report?: (line: string) => void;
  /** For `flotilla bench produce|e2e`: an existing topic instead of created ones. */
  existingTopic?: string;
  acks?: 'all' | 'leader' | 'none';
  replicationFactor?: number;
  signal?: AbortSignal;
  /** How every client authenticates, on a cluster with SCRAM on. */
  sasl?: SaslOptions;
  /** TLS to every broker, on a cluster with TLS on. */
  tls?: boolean | ClientTlsOptions;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function latencyFields(prefix: 'Publish' | 'EndToEnd', samples: ArrayLike<number>): Record<string, number> {
  const sorted = sortedCopy(samples);
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    [`aggregated${prefix}LatencyAvg`]: sorted.length ? sum / sorted.length : NaN,
    [`aggregated${prefix}Latency50pct`]: percentile(sorted, 50),
    [`aggregated${prefix}Latency75pct`]: percentile(sorted, 75),
    [`aggregated${prefix}Latency95pct`]: percentile(sorted, 95),
    [`aggregated${prefix}Latency99pct`]: percentile(sorted, 99),
    [`aggregated${prefix}Latency999pct`]: percentile(sorted, 99.9),
    [`aggregated${prefix}Latency9999pct`]: percentile(sorted, 99.99),
    [`aggregated${prefix}LatencyMax`]: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** Runs one workload: create topics, start consumers, then producers; report; clean up. */
export async function runWorkload(workload: Workload, options: RunWorkloadOptions): Promise<TestResult> {
  const progress = new Progress();
  const report = options.report ?? ((line: string) => {
    progress.done();
    if (process.stderr.isTTY && process.stdout.isTTY) process.stderr.write(`${line}\n`);
  });
  const durationMs = (options.durationSeconds ?? workload.testDurationMinutes * 60) * 1000;
  const warmupMs = (options.warmupSeconds ?? workload.warmupDurationMinutes * 60) * 1000;
  const periodMs = (options.periodSeconds ?? 10) * 1000;
  const login = { ...(options.sasl ? { sasl: options.sasl } : {}), ...(options.tls ? { tls: options.tls } : {}) };
  const admin = new Client({ brokers: options.brokers, clientId: 'flotilla-bench-admin', ...login });
  const clients: Client[] = [];
  const newClient = (id: string) => {
    const client = new Client({ brokers: options.brokers, clientId: id, ...login });
    clients.push(client);
    return client;
  };
  const suffix = Math.random().toString(36).slice(2, 8);
  const topics = options.existingTopic ? [options.existingTopic] : Array.from({ length: workload.topics }, (_, i) => `omb-${workload.name.replace(/[^\w.-]/g, '_')}-${suffix}-${i}`);
  const created: string[] = [];
  try {
    if (!options.existingTopic) {
      for (const topic of topics) {
        progress.update(`creating ${topic}`);
        await createTopicWhenReady(admin, { topic, partitions: workload.partitionsPerTopic, replicationFactor: options.replicationFactor ?? 3 });
        created.push(topic);
      }
    }
    const partitionsOf = new Map<string, number>();
    // createTopic has resolved, but the broker answering describeTopic may not know the
    // topic yet (its metadata lags the controller's): ask again for a few seconds.
    for (const topic of topics) {
      for (let attempt = 0; ; attempt++) {
        try {
          partitionsOf.set(topic, (await admin.admin().describeTopic(topic)).partitions.length);
          break;
        } catch (err) {
          if (attempt >= 50) throw err;
          await sleep(200);
        }
      }
    }

    // Consumers first, tailing from the latest offset, so that they see every record.
    const stopConsumers = new AbortController();
    const consumed: LiveCounter = { records: 0 };
    const consumers: Array<Promise<ConsumeResult>> = [];
    for (const topic of topics) {
      const partitions = partitionsOf.get(topic)!;
      for (let s = 0; s < workload.subscriptionsPerTopic; s++) {
        for (let c = 0; c < workload.consumerPerSubscription; c++) {
          const mine = Array.from({ length: partitions }, (_, p) => p).filter((p) => p % workload.consumerPerSubscription === c);
          if (mine.length === 0) continue;
          const run = consume(newClient(`bench-sub${s}-c${c}`), { topic, partitions: mine, from: 'latest', stamped: true, signal: stopConsumers.signal, counter: consumed, maxWaitMs: 500 });
          await run.ready;
          consumers.push(run.done);
        }
      }
    }

    // Producers: the workload's total rate split evenly.
    const producerCount = topics.length * workload.producersPerTopic;
    const ratePerProducer = workload.producerRate / producerCount;
    const stopProducers = new AbortController();
    options.signal?.addEventListener('abort', () => stopProducers.abort());
    const published: LiveCounter = { records: 0 };
    const producers: Producer[] = [];
    const publishing: Array<Promise<{ publishLatencyMs: Float64Array; records: number; errors: number }>> = [];
    const started = performance.now();
    for (const topic of topics) {
      for (let p = 0; p < workload.producersPerTopic; p++) {
        const producer = newClient(`bench-producer-${p}`).producer({ acks: options.acks ?? 'all' });
        producers.push(producer);
        const common = { topic, recordBytes: workload.messageSize, warmupMs, counter: published, signal: stopProducers.signal };
        publishing.push(
          ratePerProducer > 0
            ? produceAtFixedRate(producer, { ...common, rate: ratePerProducer, durationMs })
            : produceAtFullSpeed(producer, { ...common, durationMs, stamped: true }),
        );
      }
    }

    // Periodic lines in the OMB's words while the producers run.
    const publishRate: number[] = [];
    const consumeRate: number[] = [];
    const backlog: number[] = [];
    let last = { at: started, published: 0, consumed: 0 };
    const subscriptions = workload.subscriptionsPerTopic;
    let producersDone = false;
    const allPublished = Promise.all(publishing).finally(() => (producersDone = true));
    while (!producersDone) {
      const tick = Math.min(periodMs, 1000);
      await Promise.race([sleep(tick), allPublished.catch(() => undefined)]);
      const now = performance.now();
      progress.update(`${workload.name}: ${((now - started) / 1000).toFixed(0)} of ${(durationMs / 1000).toFixed(0)} s, ${published.records.toLocaleString('en-US')} published, ${consumed.records.toLocaleString('en-US')} consumed`);
      if (now - last.at >= periodMs || producersDone) {
        const seconds = (now - last.at) / 1000;
        const pub = (published.records - last.published) / seconds;
        const con = (consumed.records - last.consumed) / seconds;
        publishRate.push(pub);
        consumeRate.push(con);
        backlog.push(published.records * subscriptions - consumed.records);
        const mb = (rate: number) => fmtFixed((rate * workload.messageSize) / 1e6, 1);
        report(`Pub rate ${fmtFixed(pub, 1)} msg/s / ${mb(pub)} MB/s | Cons rate ${fmtFixed(con, 1)} msg/s / ${mb(con)} MB/s | Backlog: ${fmtFixed(backlog.at(-1)! / 1000, 1)} K`);
        last = { at: now, published: published.records, consumed: consumed.records };
      }
    }
    const results = await allPublished;
    for (const producer of producers) await producer.close();

    // Let consumers take what is still in flight, then stop them.
    const expected = published.records * subscriptions;
    const drainBy = performance.now() + 10_000;
    while (consumed.records < expected && performance.now() < drainBy) await sleep(20);
    stopConsumers.abort();
    const consumerResults = await Promise.all(consumers);
    const measuredFrom = started + warmupMs;
    const e2e = concat(consumerResults.map((r) => r.endToEndLatencyMs.filter((_, i) => r.stamps[i]! >= measuredFrom)));
    const measuredPublished = results.reduce((n, r) => n + r.publishLatencyMs.length, 0);
    const measuredSeconds = Math.max(1e-9, (durationMs - warmupMs) / 1000);
    const consumedAfterWarmup = consumerResults.reduce((n, r) => n + r.stamps.filter((t) => t >= measuredFrom).length, 0);
    progress.done();
    return {
      workload: workload.name,
      driver: 'Flotilla',
      messageSize: workload.messageSize,
      topics: topics.length,
      partitions: workload.partitionsPerTopic,
      producersPerTopic: workload.producersPerTopic,
      consumersPerTopic: workload.subscriptionsPerTopic * workload.consumerPerSubscription,
      publishRate,
      consumeRate,
      backlog,
      publishErrorRate: publishRate.map(() => 0),
      ...(latencyFields('Publish', concat(results.map((r) => r.publishLatencyMs))) as Pick<TestResult, `aggregatedPublish${string}` & keyof TestResult>),
      ...(latencyFields('EndToEnd', e2e) as Pick<TestResult, `aggregatedEndToEnd${string}` & keyof TestResult>),
      publishRateAvg: measuredPublished / measuredSeconds,
      publishThroughputMBAvg: (measuredPublished * workload.messageSize) / 1e6 / measuredSeconds,
      consumeRateAvg: consumedAfterWarmup / measuredSeconds,
      consumeThroughputMBAvg: (consumedAfterWarmup * workload.messageSize) / 1e6 / measuredSeconds,
      consumerRepeats: consumerResults.reduce((n, r) => n + r.repeated, 0),
    } as TestResult;
  } finally {
    progress.done();
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const topic of created) await admin.admin().deleteTopic(topic).catch(() => undefined);
    await admin.close();
  }
}

/** The OMB's closing summary lines. */
export function formatResult(r: TestResult): string {
  const ms = (n: number) => fmtFixed(n, 3);
  const lat = (kind: 'Publish' | 'EndToEnd') => {
    const f = r as unknown as Record<string, number>;
    const k = (s: string) => f[`aggregated${kind}Latency${s}`]!;
    return `avg: ${ms(k('Avg'))} - 50%: ${ms(k('50pct'))} - 75%: ${ms(k('75pct'))} - 95%: ${ms(k('95pct'))} - 99%: ${ms(k('99pct'))} - 99.9%: ${ms(k('999pct'))} - 99.99%: ${ms(k('9999pct'))} - Max: ${ms(k('Max'))}`;
  };
  return [
    `Workload ${r.workload}: ${r.topics} topic(s) × ${r.partitions} partition(s), ${r.messageSize} B messages, ${r.producersPerTopic} producer(s) and ${r.consumersPerTopic} consumer(s) per topic, driver ${r.driver}`,
    `----- Aggregated Pub rate ${fmtFixed(r.publishRateAvg, 1)} msg/s / ${fmtFixed(r.publishThroughputMBAvg, 2)} MB/s | Cons rate ${fmtFixed(r.consumeRateAvg, 1)} msg/s / ${fmtFixed(r.consumeThroughputMBAvg, 2)} MB/s`,
    `----- Aggregated Pub Latency (ms) ${lat('Publish')}`,
    `----- Aggregated E2E Latency (ms) ${lat('EndToEnd')}`,
    ...(r.consumerRepeats > 0 ? [`WARNING: consumers were handed ${r.consumerRepeats} records twice or out of order`] : []),
  ].join('\n');
}
