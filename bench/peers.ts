/**
 * Side by side with NATS JetStream and RabbitMQ quorum queues, in one sitting on one
 * machine: Flotilla (3 brokers, replication 3, acks all, 1 KiB records, one partition,
 * like one R3 stream or one quorum queue) publish and consume records/s and MB/s, then the
 * peers' scripts on the same workload (NATS: 3 nats-server nodes, R3 file-storage stream;
 * RabbitMQ: 3 nodes, one quorum queue, persistent messages, publisher confirms), and the
 * ratios.
 *
 *   apt-get install -y nats-server rabbitmq-server
 *   mkdir -p /tmp/fp && cp -r PEERS_DIR /tmp/fp/peers && chmod -R u+w /tmp/fp && (cd /tmp/fp/peers && npm ci)
 *   npm run build && node dist/bench/peers.js --peers /tmp/fp/peers [--n 50000] [--runs 3] [--fsync always,never] [--against nats,rabbitmq]
 *
 * Like for like: NATS 2.9 does not fsync each write (it syncs every 2 minutes); RabbitMQ's
 * quorum queues fsync their Raft log before confirming, as Flotilla with fsync always
 * does before it acknowledges. --fsync never measures Flotilla without fsync too. The
 * publisher windows (256, 4096 records not yet acknowledged) are the peer scripts' W.
 * Writes bench/results/peers.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '../client/index.js';
import { startBenchCluster } from './cluster.js';
import { CpuMeter, type CpuUse } from './cpu.js';
import { warnOfMissingGeneratorFlags } from './process-cluster.js';
import { Progress } from './progress.js';
import { fmtFixed, fmtInt, fmtSpread, spread, type Spread } from './stats.js';
import { consume, createTopicWhenReady, produceAtFullSpeed } from './workload.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WINDOWS = [256, 4096];
const RECORD_BYTES = 1024;

interface Figure {
  key: string;
  recordsPerSecond: Spread;
  mbPerSecond: Spread;
  cpu?: CpuUse;
}

async function measureFlotilla(fsync: 'always' | 'never', n: number, runs: number, progress: Progress): Promise<Figure[]> {
  progress.update(`Flotilla fsync ${fsync}: starting 3 brokers`);
  const cluster = await startBenchCluster({ brokers: 3, fsync });
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-peers' });
  const publish = new Map<number, { rps: number[]; mbps: number[] }>(WINDOWS.map((w) => [w, { rps: [], mbps: [] }]));
  const read = { rps: [] as number[], mbps: [] as number[] };
  /** n records to a fresh one-partition topic with `window` unacknowledged at most; and who led it. */
  const publishTo = async (topic: string, window: number) => {
    await createTopicWhenReady(client, { topic, partitions: 1, replicationFactor: 3 });
    const leader = (await client.admin().describeTopic(topic)).partitions[0]!.leader;
    const producer = client.producer({ acks: 'all' });
    const result = await produceAtFullSpeed(producer, { topic, recordBytes: RECORD_BYTES, records: n, window });
    await producer.close();
    return { result, leader };
  };
  let cpu: CpuUse;
  try {
    // Unmeasured runs first, per window, until every broker has led one: V8 compiles the
    // brokers' and the client's hot code as it runs (NATS's server is compiled ahead of
    // time; its script warms its client up too). A broker that had only followed ran its
    // first run as leader at about two thirds of the speed of its later ones, so one
    // warm-up run per window left whichever broker led the first measured run cold.
    for (const window of WINDOWS) {
      const led = new Set<number | null>();
      for (let warmUp = 0; led.size < cluster.brokers.size && warmUp < 2 * cluster.brokers.size; warmUp++) {
        progress.update(`Flotilla fsync ${fsync}: warm-up W=${window}, ${led.size} of ${cluster.brokers.size} brokers have led`);
        const topic = `peers-${fsync}-warm-up-${window}-${warmUp}`;
        led.add((await publishTo(topic, window)).leader);
        await client.admin().deleteTopic(topic).catch(() => undefined);
      }
    }
    const meter = new CpuMeter(cluster.pids());
    // Runs interleave the windows (as the NATS script does); a fresh topic per run.
    for (let run = 0; run < runs; run++) {
      for (const window of WINDOWS) {
        progress.update(`Flotilla fsync ${fsync}: publish W=${window}, run ${run + 1}/${runs}`);
        const topic = `peers-${fsync}-${run}-${window}`;
        const { result } = await publishTo(topic, window);
        publish.get(window)!.rps.push(result.recordsPerSecond);
        publish.get(window)!.mbps.push(result.mbPerSecond);
        if (window === Math.max(...WINDOWS)) {
          progress.update(`Flotilla fsync ${fsync}: consume, run ${run + 1}/${runs}`);
          const consumed = await consume(client, { topic, partitions: 1, from: 'earliest', untilCaughtUp: true }).done;
          if (consumed.records - consumed.repeated !== result.records) throw new Error(`read back ${consumed.records} records (${consumed.repeated} repeated), published ${result.records}`);
          read.rps.push(consumed.recordsPerSecond);
          read.mbps.push(consumed.mbPerSecond);
        }
        await client.admin().deleteTopic(topic).catch(() => undefined);
      }
    }
    // Read before the brokers exit: a gone process has no CPU figures.
    cpu = meter.read();
  } finally {
    await client.close();
    await cluster.close();
  }
  return [
    ...WINDOWS.map((w) => ({ key: `publish W=${w}`, recordsPerSecond: spread(publish.get(w)!.rps), mbPerSecond: spread(publish.get(w)!.mbps), cpu })),
    { key: 'consume', recordsPerSecond: spread(read.rps), mbPerSecond: spread(read.mbps), cpu },
  ];
}

/** One row of a peer script's summary (run-nats.sh and run-rabbitmq.sh write the same shape). */
interface PeerSummary {
  key: string;
  msgsPerSec: { median: number; min: number; max: number };
  mbPerSec: { median: number; min: number; max: number };
  foreignCoresMax: number;
}

interface PeerResult {
  meta: Record<string, unknown>;
  summary: PeerSummary[];
  command: string;
}

/** Runs one of the peers' scripts from `peersDir` and reads the JSON it wrote there. */
async function runPeerScript(peersDir: string, name: string, script: string, args: string[], env: Record<string, string>, out: string, progress: Progress): Promise<PeerResult> {
  const shownEnv = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
  progress.update(`${name}: ${shownEnv}bash ${script} ${args.join(' ')}`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { cwd: peersDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
      const last = tail.trimEnd().split('\n').at(-1) ?? '';
      progress.update(`${name}: ${last.slice(0, 100)}`);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited with ${code}:\n${tail}`))));
  });
  const result = JSON.parse(readFileSync(join(peersDir, out), 'utf8')) as { meta: Record<string, unknown>; summary: PeerSummary[] };
  return { ...result, command: `(cd ${peersDir} && ${shownEnv}bash ${script} ${args.join(' ')})` };
}

function measureNats(peersDir: string, n: number, runs: number, progress: Progress): Promise<PeerResult> {
  const out = 'results/nats-flotilla-sidebyside.json';
  const args = ['--n', String(n), '--runs', String(runs), '--replicas', '3', '--sizes', String(RECORD_BYTES), '--windows', WINDOWS.join(','), '--only', 'pub,raw', '--out', out];
  return runPeerScript(peersDir, 'NATS JetStream', 'run-nats.sh', args, {}, out, progress);
}

/** A 3-node RabbitMQ cluster (ports 5681-5683, 25681-25683 and epmd on 127.0.0.1), stopped by its script. */
function measureRabbitMq(peersDir: string, n: number, runs: number, progress: Progress): Promise<PeerResult> {
  const args = ['--n', String(n), '--runs', String(runs), '--size', String(RECORD_BYTES), '--windows', WINDOWS.join(',')];
  return runPeerScript(peersDir, 'RabbitMQ', 'run-rabbitmq.sh', args, { NODES: '3' }, 'results/rabbitmq-3node.json', progress);
}

function fromPeer(s: PeerSummary): Figure {
  const toSpread = (o: { median: number; min: number; max: number }): Spread => ({ median: o.median, min: o.min, max: o.max, runs: [o.min, o.median, o.max] });
  return { key: s.key, recordsPerSecond: toSpread(s.msgsPerSec), mbPerSecond: toSpread(s.mbPerSec) };
}

const PEERS = ['nats', 'rabbitmq'] as const;
type Peer = (typeof PEERS)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      peers: { type: 'string', default: '/tmp/fp/peers' },
      n: { type: 'string', default: '50000' },
      runs: { type: 'string', default: '3' },
      fsync: { type: 'string', default: 'always,never' },
      against: { type: 'string', default: PEERS.join(',') },
      out: { type: 'string', default: join(repoRoot, 'bench', 'results', 'peers.json') },
    },
  });
  const n = Number(values.n);
  const runs = Number(values.runs);
  const modes = values.fsync!.split(',') as Array<'always' | 'never'>;
  const against = values.against!.split(',');
  const unknown = against.filter((p) => !(PEERS as readonly string[]).includes(p));
  if (unknown.length > 0) throw new Error(`--against takes ${PEERS.join(', ')} (comma-separated), got ${unknown.join(', ')}`);
  const wants = (peer: Peer) => against.includes(peer);
  warnOfMissingGeneratorFlags('dist/bench/peers.js');
  const progress = new Progress();
  const flotilla: Record<string, Figure[]> = {};
  for (const mode of modes) flotilla[mode] = await measureFlotilla(mode, n, runs, progress);
  const nats = wants('nats') ? await measureNats(values.peers!, n, runs, progress) : null;
  const rabbitmq = wants('rabbitmq') ? await measureRabbitMq(values.peers!, n, runs, progress) : null;
  progress.done();

  const figureOf = (peer: PeerResult | null, key: string) => {
    const s = peer?.summary.find((x) => x.key === key);
    return s ? fromPeer(s) : null;
  };
  // The script names its rows by the nodes it found running: 3 unless the cluster did not form.
  const rabbitNodes = Number(rabbitmq?.meta['members'] ?? 3);
  const rows: string[] = [];
  const cell = (f: Figure | null) => (f ? `${fmtSpread(f.recordsPerSecond, fmtInt)} | ${fmtSpread(f.mbPerSecond, (x) => fmtFixed(x, 2))}` : '– | –');
  /** "1.22× js.publish, 2.90× RabbitMQ": Flotilla's median over each peer's that was measured. */
  const ratios = (f: Figure | undefined, peers: Array<[string, Figure | null]>) =>
    peers.flatMap(([name, p]) => (f && p ? [`${fmtFixed(f.recordsPerSecond.median / p.recordsPerSecond.median, 2)}× ${name}`] : [])).join(', ');
  for (const w of WINDOWS) {
    const js = figureOf(nats, `pub R3 ${RECORD_BYTES}B W=${w}`);
    const raw = figureOf(nats, `raw R3 ${RECORD_BYTES}B W=${w}`);
    const qq = figureOf(rabbitmq, `pub QQ ${rabbitNodes}-node ${RECORD_BYTES}B W=${w}`);
    if (nats) rows.push(`| NATS JetStream R3, nats.js js.publish, W=${w} | ${cell(js)} | |`, `| NATS JetStream R3, lean publisher, W=${w} | ${cell(raw)} | |`);
    if (rabbitmq) rows.push(`| RabbitMQ quorum queue, ${rabbitNodes} nodes, confirms, W=${w} | ${cell(qq)} | |`);
    for (const mode of modes) {
      const f = flotilla[mode]!.find((x) => x.key === `publish W=${w}`);
      rows.push(`| Flotilla R3 acks all, fsync ${mode}, W=${w} | ${cell(f ?? null)} | ${ratios(f, [['js.publish', js], ['lean NATS', raw], ['RabbitMQ', qq]])} |`);
    }
  }
  const con = figureOf(nats, `con R3 ${RECORD_BYTES}B ack=none`);
  const conAck = figureOf(nats, `con R3 ${RECORD_BYTES}B ack=explicit`);
  const qqCon = figureOf(rabbitmq, `con QQ ${rabbitNodes}-node ${RECORD_BYTES}B ack each`);
  if (nats) rows.push(`| NATS JetStream R3, pull consumer, ack none | ${cell(con)} | |`, `| NATS JetStream R3, pull consumer, ack explicit | ${cell(conAck)} | |`);
  if (rabbitmq) rows.push(`| RabbitMQ quorum queue, ${rabbitNodes} nodes, prefetch 1,000, ack each | ${cell(qqCon)} | |`);
  for (const mode of modes) {
    const f = flotilla[mode]!.find((x) => x.key === 'consume');
    rows.push(`| Flotilla consume (read back), fsync ${mode} | ${cell(f ?? null)} | ${ratios(f, [['NATS ack none', con], ['RabbitMQ', qqCon]])} |`);
  }
  const systems = [
    ...(nats ? [`NATS ${String(nats.meta['server'])}: 3 nodes, R3 file stream (no fsync per write)`] : []),
    ...(rabbitmq ? [`RabbitMQ ${String(rabbitmq.meta['serverVersion'])}: ${rabbitNodes} nodes, one quorum queue, persistent messages (fsync before confirming)`] : []),
  ];
  const footer = ([['NATS', nats], ['RabbitMQ', rabbitmq]] as const).flatMap(([name, peer]) =>
    peer ? [`${name} command: \`${peer.command}\`; other-process CPU during ${name} runs (max): ${Math.max(...peer.summary.map((s) => s.foreignCoresMax))} cores.`] : [],
  );
  const table = [
    `1 KiB records, ${fmtInt(n)} per run, ${runs} runs, median (min–max); Flotilla: 3 brokers, 1 partition, replication 3, acks all; ${systems.join('; ')}. ${new Date().toISOString()}`,
    '',
    '| system / config | records/s | MB/s | Flotilla ÷ peer |',
    '|---|---:|---:|---|',
    ...rows,
    '',
    ...footer,
    ...modes.map((m) => {
      const c = flotilla[m]![0]!.cpu!;
      return `Flotilla fsync ${m} CPU (whole phase): bench ${c.benchCores}, brokers ${c.brokerCores.join(' + ')}, other processes ${c.otherCores} cores.`;
    }),
  ].join('\n');
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify({ date: new Date().toISOString(), n, runs, flotilla, nats, rabbitmq, table }, null, 2)}\n`);
  process.stdout.write(`${table}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
