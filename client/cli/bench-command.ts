/**
 * `flotilla bench produce|consume|e2e|run WORKLOAD.yaml`: load against the cluster named by
 * --brokers, reported in the OpenMessaging Benchmark's words (publish rate, consume rate,
 * backlog, publish and end-to-end latency percentiles). The drivers live in bench/; this
 * module only maps command-line options onto them. produce and e2e are one-topic OMB
 * workloads; consume drains what a topic already holds.
 *
 * Register with `registerBenchCommand(program)`.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { consume, createTopicWhenReady } from '../../bench/workload.js';
import { formatResult, readWorkload, runWorkload, type TestResult, type Workload } from '../../bench/omb.js';
import { fmtFixed } from '../../bench/stats.js';
import { Client } from '../client.js';
import { connectionOptions, Exit, globalsOf, writeOut, type GlobalOptions } from './context.js';
import { parseAcks, parsePositiveInt } from './format.js';

function parseRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected records per second (0 = as fast as possible), got "${value}"`);
  return n;
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected seconds above 0, got "${value}"`);
  return n;
}

/** Ctrl-C stops the load early; the run still reports and deletes what it created. */
function abortOnSigint(): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function printResult(globals: GlobalOptions, result: TestResult): Promise<number> {
  await writeOut(globals.json ? `${JSON.stringify(result)}\n` : `${formatResult(result)}\n`);
  return result.consumerRepeats > 0 ? Exit.ERROR : Exit.OK;
}

interface LoadOptions {
  topic?: string;
  partitions: number;
  replication: number;
  size: number;
  rate: number;
  producers: number;
  consumers: number;
  duration: number;
  warmup: number;
  acks: 'all' | 'leader' | 'none';
}

/** produce and e2e: one topic, given or created for the run (and then deleted). */
async function runLoad(globals: GlobalOptions, options: LoadOptions, subscriptions: number): Promise<number> {
  const workload: Workload = {
    name: subscriptions > 0 ? 'e2e' : 'produce',
    topics: 1,
    partitionsPerTopic: options.partitions,
    messageSize: options.size,
    subscriptionsPerTopic: subscriptions,
    producersPerTopic: options.producers,
    consumerPerSubscription: options.consumers,
    producerRate: options.rate,
    testDurationMinutes: options.duration / 60,
    warmupDurationMinutes: options.warmup / 60,
    keyDistributor: 'NO_KEY',
  };
  if (options.topic !== undefined) await ensureTopic(globals, options.topic, options.partitions, options.replication);
  const stop = abortOnSigint();
  try {
    const result = await runWorkload(workload, {
      ...connectionOptions(globals),
      acks: options.acks,
      replicationFactor: options.replication,
      signal: stop.signal,
      periodSeconds: Math.min(10, Math.max(1, options.duration / 6)),
      ...(options.topic !== undefined ? { existingTopic: options.topic } : {}),
    });
    return await printResult(globals, result);
  } finally {
    stop.release();
  }
}

/** A named topic is created when missing and kept, so that `bench consume` can read it. */
async function ensureTopic(globals: GlobalOptions, topic: string, partitions: number, replicationFactor: number): Promise<void> {
  const client = new Client({ ...connectionOptions(globals), clientId: 'flotilla-bench' });
  try {
    const topics = await client.admin().listTopics();
    if (!topics.includes(topic)) await createTopicWhenReady(client, { topic, partitions, replicationFactor });
  } finally {
    await client.close();
  }
}

async function runConsume(globals: GlobalOptions, options: { topic: string; records?: number; consumers: number }): Promise<number> {
  const client = new Client({ ...connectionOptions(globals), clientId: 'flotilla-bench' });
  const stop = abortOnSigint();
  try {
    const partitions = (await client.admin().describeTopic(options.topic)).partitions.map((p) => p.partition);
    const perConsumer = Array.from({ length: Math.min(options.consumers, partitions.length) }, (_, c) => partitions.filter((p) => p % options.consumers === c));
    const runs = perConsumer.map((mine) =>
      consume(client, {
        topic: options.topic,
        partitions: mine,
        from: 'earliest',
        untilCaughtUp: options.records === undefined,
        signal: stop.signal,
        ...(options.records !== undefined ? { records: Math.ceil(options.records / perConsumer.length) } : {}),
      }).done,
    );
    const results = await Promise.all(runs);
    const records = results.reduce((n, r) => n + r.records, 0);
    const bytes = results.reduce((n, r) => n + r.bytes, 0);
    const seconds = Math.max(...results.map((r) => r.seconds));
    const repeats = results.reduce((n, r) => n + r.repeated, 0);
    const summary = { workload: 'consume', driver: 'Flotilla', topic: options.topic, records, bytes, seconds, consumeRate: records / seconds, consumeThroughputMB: bytes / 1e6 / seconds, consumerRepeats: repeats };
    await writeOut(
      globals.json
        ? `${JSON.stringify(summary)}\n`
        : `----- Cons rate ${fmtFixed(summary.consumeRate, 1)} msg/s / ${fmtFixed(summary.consumeThroughputMB, 2)} MB/s (${records.toLocaleString('en-US')} records in ${fmtFixed(seconds, 2)} s)${repeats ? `\nWARNING: ${repeats} records handed out twice or out of order` : ''}\n`,
    );
    return repeats > 0 ? Exit.ERROR : Exit.OK;
  } finally {
    stop.release();
    await client.close();
  }
}

function loadOptions(command: Command, defaults: { rate: number; duration: number }): Command {
  return command
    .option('--topic <name>', 'topic to use (created if missing, and kept); default: a new topic, deleted afterwards')
    .option('--partitions <n>', 'partitions of a created topic', parsePositiveInt, 3)
    .option('--replication <n>', 'replication factor of a created topic', parsePositiveInt, 3)
    .option('--size <bytes>', 'record (message) size in bytes', parsePositiveInt, 1024)
    .option('--rate <n>', 'records per second over all producers; 0 = as fast as possible', parseRate, defaults.rate)
    .option('--producers <n>', 'producers (each with its own connections)', parsePositiveInt, 1)
    .option('--duration <s>', 'seconds of load', parseSeconds, defaults.duration)
    .option('--warmup <s>', 'seconds at the start left out of the latency figures', (v) => (v === '0' ? 0 : parseSeconds(v)), 0)
    .addOption(new Option('--acks <acks>', 'all, leader or none').default('all').argParser(parseAcks));
}

/** Adds `bench` and its subcommands to the flotilla program (commander 14). */
export function registerBenchCommand(program: Command): Command {
  const bench = program.command('bench').description('load tests in the OpenMessaging Benchmark vocabulary');
  loadOptions(bench.command('produce').description('publish records and report the publish rate and latency'), { rate: 0, duration: 30 }).action(
    async (options: LoadOptions, command: Command) => {
      process.exitCode = await runLoad(globalsOf(command), { ...options, consumers: 1 }, 0);
    },
  );
  bench
    .command('consume')
    .description('read a topic from the start to its end and report the consume rate')
    .requiredOption('--topic <name>', 'topic to read')
    .option('--records <n>', 'stop after N records (default: at the end of each partition)', parsePositiveInt)
    .option('--consumers <n>', 'consumers splitting the partitions', parsePositiveInt, 1)
    .action(async (options: { topic: string; records?: number; consumers: number }, command: Command) => {
      process.exitCode = await runConsume(globalsOf(command), options);
    });
  loadOptions(bench.command('e2e').description('publish at a fixed rate with tailing consumers; report rates and end-to-end latency'), { rate: 1000, duration: 30 })
    .option('--consumers <n>', 'consumers splitting the partitions', parsePositiveInt, 1)
    .action(async (options: LoadOptions, command: Command) => {
      process.exitCode = await runLoad(globalsOf(command), options, 1);
    });
  bench
    .command('run')
    .description('run an OpenMessaging Benchmark workload file (topics, partitionsPerTopic, messageSize, ...)')
    .argument('<workload>', 'workload YAML file, e.g. bench/workloads/1-topic-3-partitions-1kb.yaml')
    .option('--duration <s>', 'override testDurationMinutes, in seconds', parseSeconds)
    .option('--warmup <s>', 'override warmupDurationMinutes, in seconds', (v) => (v === '0' ? 0 : parseSeconds(v)))
    .action(async (file: string, options: { duration?: number; warmup?: number }, command: Command) => {
      const globals = globalsOf(command);
      let workload: Workload;
      try {
        workload = readWorkload(file);
      } catch (err) {
        throw new InvalidArgumentError(`${file}: ${(err as Error).message}`);
      }
      const stop = abortOnSigint();
      try {
        const result = await runWorkload(workload, {
          ...connectionOptions(globals),
          signal: stop.signal,
          ...(options.duration !== undefined ? { durationSeconds: options.duration } : {}),
          ...(options.warmup !== undefined ? { warmupSeconds: options.warmup } : {}),
        });
        process.exitCode = await printResult(globals, result);
      } finally {
        stop.release();
      }
    });
  return bench;
}
