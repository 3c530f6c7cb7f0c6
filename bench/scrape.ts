/**
 * What Prometheus scraping costs a broker: 3 brokers with `--http-listen`, a topic of N
 * partitions (replication 3) that holds one record per partition read back by a consumer
 * group (so the data and lag metrics have their series), left until leadership is
 * balanced and every group is quiet. Then each broker's CPU (utime+stime from /proc) is
 * measured over windows that alternate: nobody asks (idle), a scraper GETs `/metrics` of
 * every broker every interval, and (with `--console`) the same for `/v1/console`. Each
 * window is a whole number of intervals. The machine is shared and noisy, so there are
 * several rounds of windows and the figures are medians; a mode's cost is the median over
 * rounds of (that round's window with the mode − the same round's idle window).
 *
 *   npm run build && node dist/bench/scrape.js --help   (its options)
 */
import { Client } from '../client/index.js';
import { runBenchScript, UsageError } from './cli.js';
import { startBenchCluster, type BenchCluster } from './cluster.js';
import { CpuMeter } from './cpu.js';
import { STATS_ARGS, waitBalancedAndQuiet } from './scale.js';
import { median, percentile, sortedCopy } from './stats.js';

export type ScrapeMode = 'idle' | 'metrics' | 'console';
const PATHS: Record<Exclude<ScrapeMode, 'idle'>, string> = { metrics: '/metrics', console: '/v1/console' };

export interface ScrapeOptions {
  partitions: number;
  intervalMs: number;
  /** Measured time per mode, cut into windows of scrapesPerWindow intervals. */
  seconds: number;
  scrapesPerWindow: number;
  detail: 'topic' | 'partition';
  /** Also measure `/v1/console`. */
  console: boolean;
  /** Node flags of the brokers (`--cpu-prof`, say). */
  nodeArgs?: string[];
}

export interface BrokerScrapeFigures {
  id: number;
  /** % of one core: median over the idle windows. */
  idlePercent: number;
  /** Per scraped mode: median % of a core with it, median of the paired differences, and what the answers were like. */
  modes: Array<{
    mode: Exclude<ScrapeMode, 'idle'>;
    withPercent: number;
    differencePercent: number;
    responseBytes: number;
    durationP50Ms: number;
    durationMaxMs: number;
    /** Metrics only: series in the exposition (sample lines). */
    series?: number;
  }>;
}

export interface ScrapeResult {
  options: ScrapeOptions;
  rounds: number;
  windowSeconds: number;
  /** Cores used by other processes on the machine during the windows: min and max. */
  otherCores: { min: number; max: number };
  brokers: BrokerScrapeFigures[];
}

interface Answer {
  bytes: number;
  ms: number;
  body: string;
}

async function get(url: string): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${body.slice(0, 200)}`);
  return { bytes: Buffer.byteLength(body), ms: performance.now() - started, body };
}

/** Sample lines of a Prometheus text exposition: one per series. */
export function seriesIn(exposition: string): number {
  return exposition.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One record to every partition, read back and committed by a consumer group: every data metric then has its series. */
async function touchEveryPartition(client: Client, topic: string, partitions: number): Promise<void> {
  const producer = client.producer();
  await Promise.all(Array.from({ length: partitions }, (_, partition) => producer.send({ topic, partition, value: Buffer.from('scrape bench') })));
  await producer.close();
  const consumer = client.consumer({ groupId: 'scrape-bench', autoCommit: false });
  await consumer.subscribe({ topic, fromBeginning: true });
  let read = 0;
  for await (const _message of consumer) if (++read === partitions) break;
  await consumer.commit();
  await consumer.close();
}

export async function runScrape(options: ScrapeOptions, log: (line: string) => void = () => undefined): Promise<ScrapeResult> {
  const cluster: BenchCluster = await startBenchCluster({
    extraArgs: [...STATS_ARGS, '--metrics-detail', options.detail],
    http: true,
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
  });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-scrape', requestTimeoutMs: 60_000 });
  try {
    const ids = [...cluster.brokers.keys()];
    const pids = ids.map((id) => cluster.brokers.get(id)!.child!.pid!);
    const topic = 'scrape';
    const started = Date.now();
    await client.admin().createTopic({ topic, partitions: options.partitions, replicationFactor: 3, timeoutMs: 30 * 60_000 });
    log(`${options.partitions} partitions created in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await touchEveryPartition(client, topic, options.partitions);
    await waitBalancedAndQuiet(cluster, options.partitions, Date.now());
    log(`balanced and quiet ${((Date.now() - started) / 1000).toFixed(1)} s after creation began`);

    const modes: Array<Exclude<ScrapeMode, 'idle'>> = options.console ? ['metrics', 'console'] : ['metrics'];
    const urls = (mode: Exclude<ScrapeMode, 'idle'>) => ids.map((id) => `http://${cluster.brokers.get(id)!.httpAddress!}${PATHS[mode]}`);
    // A first answer of each kind, not measured: code compiled and caches filled once.
    for (const mode of modes) await Promise.all(urls(mode).map(get));

    const windowMs = options.intervalMs * options.scrapesPerWindow;
    const rounds = Math.max(1, Math.ceil((options.seconds * 1000) / windowMs));
    const cpu = new Map<ScrapeMode, number[][]>([['idle', []], ...modes.map((m) => [m, []] as [ScrapeMode, number[][]])]);
    const answers = new Map<Exclude<ScrapeMode, 'idle'>, Answer[][]>(modes.map((m) => [m, ids.map(() => [])]));
    const other: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so that a drift of the machine's load does not favour one mode.
      const order: ScrapeMode[] = round % 2 === 0 ? ['idle', ...modes] : [...modes, 'idle'];
      for (const mode of order) {
        cluster.throwIfCrashed();
        const meter = new CpuMeter(pids);
        const windowEnd = performance.now() + windowMs;
        for (let scrape = 0; scrape < options.scrapesPerWindow; scrape++) {
          const due = performance.now() + options.intervalMs;
          if (mode !== 'idle') {
            const got = await Promise.all(urls(mode).map(get));
            got.forEach((answer, i) => answers.get(mode)![i]!.push(answer));
          }
          await sleep(Math.max(0, Math.min(due, windowEnd) - performance.now()));
        }
        const use = meter.read();
        cpu.get(mode)!.push(use.brokerSecondsEach.map((s) => (100 * s) / use.seconds));
        other.push(use.otherCores);
        log(`round ${round + 1}/${rounds} ${mode}: brokers ${cpu.get(mode)!.at(-1)!.map((p) => p.toFixed(2)).join(' / ')} % of a core, other processes ${use.otherCores} cores`);
      }
    }
    cluster.throwIfCrashed();
    const brokers = ids.map((id, i): BrokerScrapeFigures => {
      const idle = cpu.get('idle')!.map((w) => w[i]!);
      return {
        id,
        idlePercent: median(idle),
        modes: modes.map((mode) => {
          const withMode = cpu.get(mode)!.map((w) => w[i]!);
          const got = answers.get(mode)![i]!;
          const durations = sortedCopy(got.map((a) => a.ms));
          return {
            mode,
            withPercent: median(withMode),
            differencePercent: median(withMode.map((p, round) => p - idle[round]!)),
            responseBytes: median(got.map((a) => a.bytes)),
            durationP50Ms: percentile(durations, 50),
            durationMaxMs: durations[durations.length - 1]!,
            ...(mode === 'metrics' ? { series: seriesIn(got.at(-1)!.body) } : {}),
          };
        }),
      };
    });
    return { options, rounds, windowSeconds: windowMs / 1000, otherCores: { min: Math.min(...other), max: Math.max(...other) }, brokers };
  } finally {
    await client.close();
    await cluster.close();
  }
}

export function scrapeTable(results: ScrapeResult[]): string {
  const rows = [
    '| partitions | labels | endpoint, every | broker | CPU idle (% of a core) | with scraping | difference | response | duration p50 / max | series | other processes (cores) |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    for (const b of r.brokers) {
      for (const m of b.modes) {
        rows.push(
          `| ${r.options.partitions.toLocaleString('en-US')} | ${r.options.detail} | \`${PATHS[m.mode]}\`, ${r.options.intervalMs / 1000} s | ${b.id} | ${b.idlePercent.toFixed(2)} | ${m.withPercent.toFixed(2)} | ${m.differencePercent >= 0 ? '+' : ''}${m.differencePercent.toFixed(2)} | ${(m.responseBytes / 1024).toFixed(1)} KiB | ${m.durationP50Ms.toFixed(1)} / ${m.durationMaxMs.toFixed(1)} ms | ${m.series ?? '–'} | ${r.otherCores.min.toFixed(2)}–${r.otherCores.max.toFixed(2)} |`,
        );
      }
    }
  }
  return rows.join('\n') + `\n\n${results.map((r) => `${r.options.partitions} partitions, ${r.options.detail}: ${r.rounds} rounds of ${r.windowSeconds} s windows per mode`).join('; ')}.`;
}

const USAGE = `node dist/bench/scrape.js [options]   (npm run build first)

Starts 3 brokers with --http-listen, creates a topic (replication 3), writes one record
to each partition and reads them back in a consumer group, waits until leadership is
balanced and quiet, then measures each broker's CPU over alternating windows: idle,
scraping /metrics of every broker every interval, and with --console /v1/console too.

  --partitions N[,N...]         partition counts, one cluster each (default 1000)
  --interval-ms MS              scrape interval (default 5000)
  --seconds S                   measured time per mode (default 60)
  --scrapes-per-window K        window length in intervals (default 3)
  --metrics-detail topic|partition[,...]   the brokers' label detail (default topic)
  --console                     also measure GET /v1/console
  --cpu-prof DIR                run the brokers under node --cpu-prof into DIR
  -h, --help                    this text`;

const OPTIONS = {
  '--partitions': 'value',
  '--interval-ms': 'value',
  '--seconds': 'value',
  '--scrapes-per-window': 'value',
  '--metrics-detail': 'value',
  '--console': 'flag',
  '--cpu-prof': 'value',
} as const;

runBenchScript(import.meta.url, USAGE, OPTIONS, async (args) => {
  const counts = args.numbers('--partitions', '1000');
  const details = args.string('--metrics-detail', 'topic').split(',') as Array<'topic' | 'partition'>;
  const profileDir = args.string('--cpu-prof', '');
  const base = {
    intervalMs: args.number('--interval-ms', 5000),
    seconds: args.number('--seconds', 60),
    scrapesPerWindow: args.number('--scrapes-per-window', 3),
    console: args.flag('--console'),
    ...(profileDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] } : {}),
  };
  for (const detail of details) if (detail !== 'topic' && detail !== 'partition') throw new UsageError(`--metrics-detail takes topic or partition, not ${detail}`);
  const results: ScrapeResult[] = [];
  for (const detail of details) {
    for (const partitions of counts) {
      results.push(await runScrape({ ...base, partitions, detail }, (line) => process.stderr.write(`${line}\n`)));
      process.stderr.write(`${scrapeTable(results.slice(-1))}\n`);
    }
  }
  process.stdout.write(`${scrapeTable(results)}\n`);
});
