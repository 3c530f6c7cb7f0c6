/**
 * The open-file budget on real broker processes under a small `ulimit -n`: a topic with
 * more files than the budget takes writes on every partition, is read back in full, and
 * survives a broker restart, with no broker stopping for lack of descriptors.
 */
import fs from 'node:fs';
import t from 'tap';
import type { Client } from '../../client/index.js';
import { startCluster, waitFor, type ProcessCluster } from './cluster.js';

const OPEN_FILE_LIMIT = 256;
const MAX_CONNECTIONS = 32;
// Reserve min(32 + 64, 256 / 2) = 96 descriptors for sockets and the rest: 160 for files.
const FILE_BUDGET = 160;
// Each replica has a directory, a segment, its index and a terms file: 480 per broker.
const PARTITIONS = 120;
const RECORDS_PER_PARTITION = 3;

interface FileStats {
  openFiles: number;
  peakOpenFiles: number;
  fileBudget: number;
  openRefusals: number;
}

/** Parsed log lines of a broker whose message is `msg`. */
function logLines<T>(cluster: ProcessCluster, id: number, msg: string): T[] {
  const out: T[] = [];
  for (const line of cluster.logs(id).split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // A line cut across two chunks.
    }
  }
  return out;
}

/** Produces RECORDS_PER_PARTITION records to every partition; returns the acknowledged ones by partition and offset. */
async function produceRound(client: Client, round: number, acked: Map<string, string>): Promise<void> {
  const producer = client.producer({ acks: 'all', lingerMs: 5 });
  const sends: Array<Promise<void>> = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let i = 0; i < RECORDS_PER_PARTITION; i++) {
      const value = `${round}:${partition}:${i}`;
      sends.push(producer.send({ topic: 'wide', partition, value }).then((r) => void acked.set(`${partition}/${r.offset}`, value)));
    }
  }
  await Promise.all(sends);
  await producer.close();
}

/** Reads every partition from offset 0 at `readFrom` until each acknowledged offset came back; returns what differs. */
async function readBack(client: Client, readFrom: number, acked: Map<string, string>): Promise<string[]> {
  const seen = new Map<string, string>();
  const consumer = client.consumer({ readFrom, maxWaitMs: 100 });
  try {
    consumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'wide', partition, offset: 0 })));
    const deadline = Date.now() + 60_000;
    for await (const m of consumer) {
      seen.set(`${m.partition}/${m.offset}`, m.value!.toString());
      if ([...acked.keys()].every((key) => seen.has(key)) || Date.now() > deadline) break;
    }
  } finally {
    await consumer.close();
  }
  return [...acked].filter(([key, value]) => seen.get(key) !== value).map(([key, value]) => `${key}: acknowledged ${value}, read ${seen.get(key)}`);
}

t.test('brokers under a small ulimit -n keep every partition working within their file budget', async (t) => {
  const { cluster, client } = await startCluster(t, {
    openFileLimit: OPEN_FILE_LIMIT,
    extraArgs: ['--max-connections', String(MAX_CONNECTIONS), '--stats-interval-ms', '500'],
  });
  // Creating 120 partitions under this limit takes about 10 s on a busy machine: wait longer than one request.
  await client.admin().createTopic({ topic: 'wide', partitions: PARTITIONS, replicationFactor: 3, timeoutMs: 120_000 });
  const acked = new Map<string, string>();

  await produceRound(client, 1, acked);
  t.equal(acked.size, PARTITIONS * RECORDS_PER_PARTITION, 'every record of round 1 acknowledged');
  t.same(await readBack(client, 1, acked), [], 'round 1 read back in full');

  // A clean restart reopens every replica within the budget.
  t.equal(await cluster.stop(3), 0, 'broker 3 stops cleanly');
  cluster.restart(3);
  await waitFor('broker 3 back', () => logLines(cluster, 3, 'broker started').length > 0, 60_000);
  await produceRound(client, 2, acked);
  t.equal(acked.size, 2 * PARTITIONS * RECORDS_PER_PARTITION, 'every record of round 2 acknowledged');
  const missing = await waitFor('broker 3 holding every record', async () => {
    const differs = await readBack(client, 3, acked);
    return differs.length === 0 ? differs : undefined;
  }, 120_000, 500);
  t.same(missing, [], 'broker 3 serves every acknowledged record after its restart');

  // The files outnumber the budget, so the budget was what kept the count down.
  const entries = fs.readdirSync(cluster.brokers.get(1)!.dataDir, { recursive: true }).length;
  t.ok(entries > 2 * FILE_BUDGET, `broker 1 has ${entries} files and directories, budget ${FILE_BUDGET}`);

  for (const id of [1, 2, 3]) {
    const child = cluster.brokers.get(id)!.child!;
    t.ok(child.exitCode === null && child.signalCode === null, `broker ${id} is still running`);
    t.notMatch(cluster.logs(id), /"level":60/, `broker ${id} logged nothing fatal`);
    const budget = logLines<{ fileBudget: number; openFileLimit: number }>(cluster, id, 'open-file budget');
    t.same(budget.map((b) => [b.openFileLimit, b.fileBudget]).at(-1), [OPEN_FILE_LIMIT, FILE_BUDGET], `broker ${id} derived its budget from ulimit -n`);
    await waitFor(`a stats line from broker ${id}`, () => logLines(cluster, id, 'stats').length > 0, 10_000);
    const stats = logLines<FileStats>(cluster, id, 'stats');
    t.ok(stats.every((s) => s.fileBudget === FILE_BUDGET), `broker ${id} reports its budget`);
    const peak = Math.max(...stats.map((s) => s.peakOpenFiles));
    t.ok(peak <= FILE_BUDGET, `broker ${id}: at most ${peak} files open at once (budget ${FILE_BUDGET}), ${stats.at(-1)!.openRefusals} opens refused`);
  }
});

