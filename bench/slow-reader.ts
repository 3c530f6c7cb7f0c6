/**
 * A client that pipelines large fetches and never reads its socket, next to an honest
 * client on the same broker: how much the broker's memory grows, and the honest client's
 * publish (send → ack) and end-to-end (send → its consumer) latency — before, during and
 * after the misbehaving client, in one sitting. The response budgets
 * (`--max-connection-pending-bytes`, `--max-pending-response-bytes`) are what keep both
 * figures down.
 *
 *   npm run build && node dist/bench/slow-reader.js --help   (its options)
 */
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { Client } from '../client/index.js';
import { runBenchScript } from './cli.js';
import { startBenchCluster } from './cluster.js';
import { openSocket, requestFrame } from './raw-client.js';
import { benchProducer, consume, createTopicWhenReady, produceAtFixedRate } from './workload.js';
import { summarizeLatency, type LatencySummary } from './stats.js';

const MiB = 1024 * 1024;
const STORED = 'stored';
const HONEST = 'honest';

export interface SlowReaderPhase {
  phase: 'before' | 'during' | 'after';
  rssBeforeMiB: number;
  rssPeakMiB: number;
  publish: LatencySummary;
  endToEnd: LatencySummary;
}

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

/** Opens a raw client connection and writes `count` fetches of `bytes` from offset 0, then never reads. */
async function pipelineUnreadFetches(address: string, count: number, bytes: number): Promise<Socket> {
  const socket = await openSocket(address);
  socket.pause();
  const fetch = { partitions: [{ topic: STORED, partition: 0, offset: 0, maxBytes: bytes }], maxBytes: bytes, maxWaitMs: 0, minBytes: 1 };
  socket.write(Buffer.concat(Array.from({ length: count }, () => requestFrame({ fetch }).frame)));
  return socket;
}

export async function runSlowReader(options: { fetches: number; fetchBytes: number; seconds: number; rate: number }, log: (line: string) => void = () => undefined): Promise<SlowReaderPhase[]> {
  const cluster = await startBenchCluster({ brokers: 1 });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-slow-reader' });
  try {
    const broker = cluster.brokers.get(1)!;
    const pid = broker.child!.pid!;
    await createTopicWhenReady(client, { topic: STORED, partitions: 1, replicationFactor: 1 });
    await createTopicWhenReady(client, { topic: HONEST, partitions: 1, replicationFactor: 1 });
    // Enough stored that every pipelined fetch is full.
    const filler = benchProducer(client);
    const value = Buffer.alloc(1024, 7);
    const fillRecords = Math.ceil((options.fetchBytes * 1.5) / 1024);
    for (let i = 0; i < fillRecords; i += 4096) {
      await Promise.all(Array.from({ length: Math.min(4096, fillRecords - i) }, () => filler.send({ topic: STORED, partition: 0, value })));
    }
    await filler.close();
    log(`stored ${((fillRecords * 1024) / MiB).toFixed(0)} MiB to fetch`);

    const producer = benchProducer(client, { lingerMs: 0 });
    const phases: SlowReaderPhase[] = [];
    for (const phase of ['before', 'during', 'after'] as const) {
      const rssBefore = rssMiB(pid);
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
      const bad = phase === 'during' ? await pipelineUnreadFetches(broker.address, options.fetches, options.fetchBytes) : null;
      const stop = new AbortController();
      const tail = consume(client, { topic: HONEST, partitions: 1, from: 'latest', stamped: true, signal: stop.signal, maxWaitMs: 50 });
      await tail.ready;
      const sent = await produceAtFixedRate(producer, { topic: HONEST, recordBytes: 1024, rate: options.rate, durationMs: options.seconds * 1000, warmupMs: 1000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      stop.abort();
      const read = await tail.done;
      clearInterval(sampler);
      peak = Math.max(peak, rssMiB(pid));
      bad?.destroy();
      const result: SlowReaderPhase = {
        phase,
        rssBeforeMiB: rssBefore,
        rssPeakMiB: peak,
        publish: summarizeLatency(sent.publishLatencyMs),
        endToEnd: summarizeLatency(read.endToEndLatencyMs),
      };
      phases.push(result);
      log(`${phase}: RSS ${rssBefore.toFixed(0)} → peak ${peak.toFixed(0)} MiB; publish p99 ${result.publish.p99.toFixed(1)} ms; end-to-end p99 ${result.endToEnd.p99.toFixed(1)} ms`);
      // Let the broker release what the misbehaving connection held before the next phase.
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    await producer.close();
    return phases;
  } finally {
    await client.close();
    await cluster.close();
  }
}

export function slowReaderTable(phases: SlowReaderPhase[], options: { fetches: number; fetchBytes: number; rate: number }): string {
  const ms = (n: number) => n.toFixed(1);
  const lines = [
    `${options.fetches} pipelined fetches of ${options.fetchBytes / MiB} MiB on one connection that is never read (${((options.fetches * options.fetchBytes) / MiB).toFixed(0)} MiB of answers); an honest client publishes ${options.rate} records/s of 1 KiB (acks all) and tails them:`,
    '',
    '| phase | broker RSS, start → peak | publish latency p50 / p99 / max | end-to-end p50 / p99 / max |',
    '|---|---:|---:|---:|',
  ];
  for (const p of phases) {
    lines.push(`| ${p.phase} the misbehaving client | ${p.rssBeforeMiB.toFixed(0)} → ${p.rssPeakMiB.toFixed(0)} MiB (+${(p.rssPeakMiB - p.rssBeforeMiB).toFixed(0)}) | ${ms(p.publish.p50)} / ${ms(p.publish.p99)} / ${ms(p.publish.max)} ms | ${ms(p.endToEnd.p50)} / ${ms(p.endToEnd.p99)} / ${ms(p.endToEnd.max)} ms |`);
  }
  return lines.join('\n');
}

const USAGE = `node dist/bench/slow-reader.js [options]   (npm run build first)

A client that pipelines large fetches and never reads, beside an honest producer and
consumer on the same broker: the broker's memory and the honest client's latency before,
during and after.

  --fetches N     fetches the misbehaving client pipelines (default 500)
  --fetch-mib M   bytes each fetch asks for, in MiB (default 2)
  --seconds S     length of each phase (default 15)
  --rate R        records per second of the honest producer (default 500)
  -h, --help      this text`;

runBenchScript(import.meta.url, USAGE, { '--fetches': 'value', '--fetch-mib': 'value', '--seconds': 'value', '--rate': 'value' }, async (args) => {
  const options = {
    fetches: args.number('--fetches', 500),
    fetchBytes: args.number('--fetch-mib', 2) * MiB,
    seconds: args.number('--seconds', 15),
    rate: args.number('--rate', 500),
  };
  const phases = await runSlowReader(options, (line) => console.error(line));
  console.log(slowReaderTable(phases, options));
});
