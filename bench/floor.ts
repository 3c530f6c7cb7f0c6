/**
 * The latency floor of this machine for an acknowledged write: the ack's path with nothing
 * of Flotilla in it. Three "replica" processes and one generator, as in the latency run
 * (2,000 records/s of 1 KiB, 3 partitions, each process leading one): the leader of a
 * partition appends the records that arrived in one event-loop turn to a preallocated file,
 * sends them to both followers, fdatasyncs on the thread pool, and answers each record once
 * its own fsync and one follower's acknowledgement are in; a follower appends, fdatasyncs
 * and acknowledges; the generator sends every record as its own request. No Raft, no
 * protobuf, no checksums. What the brokers' p99 costs above this floor, measured in the same
 * minutes, is theirs; what the floor itself costs is the machine's.
 *
 *   npm run build && node dist/bench/floor.js --help
 */
import { fork } from 'node:child_process';
import { closeSync, fdatasync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync, writevSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBenchScript } from './cli.js';
import { CpuMeter } from './cpu.js';
import { summarizeLatency, type LatencySummary } from './stats.js';

const REPLICAS = 3;
const FILE_BYTES = 16 * 1024 * 1024;
const enum Kind {
  Hello = 0, // follower side learns which partition a connection carries
  Request = 1,
  Append = 2,
  Ack = 3,
  Response = 4,
}

/**
 * Frames: u32 length, u8 kind, u32 number (request id or append sequence), then the body.
 * A framing of its own on purpose: the floor leaves out every part of Flotilla, its codecs too.
 */
function frame(kind: Kind, n: number, body?: Buffer): Buffer[] {
  const head = Buffer.allocUnsafe(9);
  head.writeUInt32BE(5 + (body?.length ?? 0), 0);
  head[4] = kind;
  head.writeUInt32BE(n, 5);
  return body ? [head, body] : [head];
}

function onFrames(socket: Socket, handle: (kind: Kind, n: number, body: Buffer) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length > 0 ? Buffer.concat([buffered, chunk]) : chunk;
    let at = 0;
    while (buffered.length - at >= 4) {
      const length = buffered.readUInt32BE(at);
      if (buffered.length - at - 4 < length) break;
      handle(buffered[at + 4] as Kind, buffered.readUInt32BE(at + 5), buffered.subarray(at + 9, at + 4 + length));
      at += 4 + length;
    }
    buffered = buffered.subarray(at);
  });
}

/** Frames written in one callback leave together at its end, as the brokers' do. */
const outgoing = new Map<Socket, Buffer[]>();
function send(socket: Socket, parts: Buffer[]): void {
  let queued = outgoing.get(socket);
  if (!queued) {
    outgoing.set(socket, (queued = []));
    process.nextTick(() => {
      outgoing.delete(socket);
      socket.write(queued!.length === 1 ? queued![0]! : Buffer.concat(queued!));
    });
  }
  queued.push(...parts);
}

/** One preallocated file per partition; appends overwrite zeros, as the brokers' segments do. */
class File {
  private readonly fd: number;
  private position = 0;
  readonly syncMs: number[] = [];
  constructor(path: string) {
    this.fd = openSync(path, 'w+');
    const zeros = Buffer.alloc(1024 * 1024);
    for (let at = 0; at < FILE_BYTES; at += zeros.length) writeSync(this.fd, zeros, 0, zeros.length, at);
    fdatasyncSync(this.fd); // the zeros are on disk before anything is timed
  }
  append(chunks: Buffer[]): void {
    const bytes = chunks.reduce((sum, c) => sum + c.length, 0);
    if (this.position + bytes > FILE_BYTES) this.position = 0;
    writevSync(this.fd, chunks, this.position);
    this.position += bytes;
  }
  sync(done: () => void): void {
    const started = performance.now();
    fdatasync(this.fd, (error) => {
      if (error) throw error;
      this.syncMs.push(performance.now() - started);
      done();
    });
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Replica `id`: leads partition `id`, follows the others. */
function runReplica(id: number, dir: string, port: (replica: number) => number): void {
  const files = Array.from({ length: REPLICAS }, (_, p) => new File(join(dir, `replica-${id}-partition-${p}`)));
  const followers: Socket[] = [];
  const acked = new Map<Socket, number>();
  let appended = 0;
  let synced = 0;
  let arrived: Array<{ client: Socket; id: number; body: Buffer }> = [];
  const waiting: Array<{ seq: number; answers: Array<{ client: Socket; id: number }> }> = [];
  const answer = (): void => {
    const committed = Math.min(synced, Math.max(0, ...acked.values()));
    while (waiting.length > 0 && waiting[0]!.seq <= committed) for (const a of waiting.shift()!.answers) send(a.client, frame(Kind.Response, a.id));
  };
  const lead = (): void => {
    const batch = arrived;
    arrived = [];
    const seq = ++appended;
    const bodies = batch.map((r) => r.body);
    files[id]!.append(bodies);
    const payload = Buffer.concat(bodies);
    for (const f of followers) send(f, frame(Kind.Append, seq, payload));
    waiting.push({ seq, answers: batch.map((r) => ({ client: r.client, id: r.id })) });
    files[id]!.sync(() => {
      synced = Math.max(synced, seq);
      answer();
    });
  };
  const follow = new Map<Socket, { partition: number; seqs: number[]; bodies: Buffer[] }>();
  let followScheduled = false;
  const persistFollowed = (): void => {
    followScheduled = false;
    for (const [leader, state] of follow) {
      if (state.seqs.length === 0) continue;
      const last = state.seqs[state.seqs.length - 1]!;
      files[state.partition]!.append(state.bodies);
      state.seqs = [];
      state.bodies = [];
      files[state.partition]!.sync(() => send(leader, frame(Kind.Ack, last)));
    }
  };
  const server = createServer({ noDelay: true }, (socket) => {
    onFrames(socket, (kind, n, body) => {
      if (kind === Kind.Request) {
        if (arrived.length === 0) setImmediate(lead);
        arrived.push({ client: socket, id: n, body: Buffer.from(body) });
      } else if (kind === Kind.Hello) {
        follow.set(socket, { partition: n, seqs: [], bodies: [] });
      } else if (kind === Kind.Append) {
        const state = follow.get(socket)!;
        state.seqs.push(n);
        state.bodies.push(Buffer.from(body));
        if (!followScheduled) setImmediate(persistFollowed);
        followScheduled = true;
      }
    });
  });
  server.listen(port(id), '127.0.0.1', () => process.send!({ listening: true }));
  process.on('message', (message: { dial?: boolean; report?: boolean; exit?: boolean }) => {
    if (message.dial) {
      for (let other = 0; other < REPLICAS; other++) {
        if (other === id) continue;
        const socket = connect({ port: port(other), host: '127.0.0.1', noDelay: true }, () => {
          send(socket, frame(Kind.Hello, id));
          followers.push(socket);
          acked.set(socket, 0);
          if (followers.length === REPLICAS - 1) process.send!({ dialled: true });
        });
        onFrames(socket, (kind, n) => {
          if (kind !== Kind.Ack) return;
          acked.set(socket, Math.max(acked.get(socket)!, n));
          answer();
        });
      }
    }
    if (message.report) {
      const syncs = files.flatMap((f) => f.syncMs.splice(0));
      process.send!({ fsync: summarizeLatency(syncs) });
    }
    if (message.exit) {
      for (const f of files) f.close();
      process.exit(0);
    }
  });
}

/** The generator: `rate` records/s of `recordBytes`, round robin over the partitions' leaders. */
async function runGenerator(port: (replica: number) => number, rate: number, seconds: number, recordBytes: number): Promise<void> {
  const sockets = await Promise.all(
    Array.from({ length: REPLICAS }, (_, r) => new Promise<Socket>((resolve) => {
      const socket: Socket = connect({ port: port(r), host: '127.0.0.1', noDelay: true }, () => resolve(socket));
    })),
  );
  const warmupMs = 2_000;
  const total = Math.floor(((seconds * 1000 + warmupMs) / 1000) * rate);
  const sentAt = new Float64Array(total + 1);
  const latencies: number[] = [];
  let answered = 0;
  const body = Buffer.alloc(recordBytes, 0x5a);
  const intervalMs = 1000 / rate;
  const start = performance.now() + 1;
  for (const socket of sockets) {
    onFrames(socket, (kind, n) => {
      if (kind !== Kind.Response) return;
      if ((n - 1) * intervalMs >= warmupMs) latencies.push(performance.now() - sentAt[n]!);
      answered++;
    });
  }
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
    for (; sent < due; sent++) {
      sentAt[sent + 1] = performance.now();
      send(sockets[sent % REPLICAS]!, frame(Kind.Request, sent + 1, body));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.floor(start + sent * intervalMs - performance.now()))));
  }
  while (answered < total) await new Promise((resolve) => setTimeout(resolve, 10));
  for (const socket of sockets) socket.destroy();
  process.send!({ latency: summarizeLatency(latencies), over5ms: latencies.filter((ms) => ms > 5).length });
}

export interface FloorRun {
  latency: LatencySummary;
  over5ms: number;
  fsync: LatencySummary;
  /** Cores used by each replica process over the run. */
  replicaCores: number[];
}

/** Starts the replicas in `dir`, runs the generator `runs` times, stops everything. */
export async function measureFloor(options: { dir: string; runs: number; seconds: number; rate: number; recordBytes: number; basePort: number }): Promise<FloorRun[]> {
  const self = fileURLToPath(import.meta.url);
  const scratch = mkdtempSync(join(options.dir, 'floor-'));
  const portArgs = [String(options.basePort)];
  const replicas = Array.from({ length: REPLICAS }, (_, r) => fork(self, ['--role', 'replica', String(r), scratch, ...portArgs]));
  const next = (child: ReturnType<typeof fork>) => new Promise<Record<string, unknown>>((resolve) => child.once('message', (m) => resolve(m as Record<string, unknown>)));
  try {
    await Promise.all(replicas.map(next));
    const dialled = Promise.all(replicas.map(next));
    for (const r of replicas) r.send({ dial: true });
    await dialled;
    const results: FloorRun[] = [];
    for (let run = 0; run < options.runs; run++) {
      const cpu = new CpuMeter(replicas.map((r) => r.pid!));
      const generator = fork(self, ['--role', 'generator', String(options.rate), String(options.seconds), String(options.recordBytes), ...portArgs]);
      const { latency, over5ms } = (await next(generator)) as { latency: LatencySummary; over5ms: number };
      const replicaCores = cpu.read().brokerCores;
      const reports = Promise.all(replicas.map(next));
      for (const r of replicas) r.send({ report: true });
      const fsyncs = (await reports).map((m) => m.fsync as LatencySummary);
      results.push({ latency, over5ms, fsync: fsyncs[0]!, replicaCores });
    }
    return results;
  } finally {
    for (const r of replicas) if (r.connected) r.send({ exit: true });
    await Promise.all(replicas.map((r) => (r.exitCode !== null ? undefined : new Promise((resolve) => r.once('exit', resolve)))));
    rmSync(scratch, { recursive: true, force: true });
  }
}

const USAGE = `node dist/bench/floor.js [options]   (npm run build first)

The latency floor of this machine for an acknowledged write: three replica processes and a
generator doing what an ack needs (leader append, send to two followers, fdatasyncs on the
thread pool, answer once the leader and one follower hold it) with no broker code at all.
Run it in the same minutes as the latency run (npm run bench) to tell the machine's share
of a p99 from the brokers'.

Options:
  --runs N          generator runs against the same replicas (default 3; the first warms up)
  --seconds S       measured seconds per run, after 2 s left out (default 20)
  --rate R          records per second (default 2000)
  --record-bytes B  bytes per record (default 1024)
  --port P          first of three 127.0.0.1 ports (default 19500)
  --dir D           where the files go: the brokers' file system (default the temp dir)
  -h, --help        this text
`;

const role = process.argv.indexOf('--role');
if (role >= 0) {
  const [what, ...rest] = process.argv.slice(role + 1);
  const basePort = Number(rest[rest.length - 1]);
  const port = (replica: number) => basePort + replica;
  if (what === 'replica') runReplica(Number(rest[0]), rest[1]!, port);
  else await runGenerator(port, Number(rest[0]), Number(rest[1]), Number(rest[2]));
} else {
  runBenchScript(import.meta.url, USAGE, { '--runs': 'value', '--seconds': 'value', '--rate': 'value', '--record-bytes': 'value', '--port': 'value', '--dir': 'value' }, async (args) => {
    const runs = await measureFloor({
      dir: args.string('--dir', tmpdir()),
      runs: args.number('--runs', 3),
      seconds: args.number('--seconds', 20),
      rate: args.number('--rate', 2000),
      recordBytes: args.number('--record-bytes', 1024),
      basePort: args.number('--port', 19500),
    });
    const ms = (x: number) => x.toFixed(2);
    runs.forEach((r, i) => {
      process.stdout.write(`run ${i + 1}: ack p50 ${ms(r.latency.p50)} p99 ${ms(r.latency.p99)} p99.9 ${ms(r.latency.p999)} max ${ms(r.latency.max)} ms; over 5 ms ${r.over5ms} of ${r.latency.count}; fdatasync p50 ${ms(r.fsync.p50)} p99 ${ms(r.fsync.p99)} ms (replica 1); cores per replica ${r.replicaCores.map((c) => c.toFixed(2)).join(' ')}\n`);
    });
  });
}
