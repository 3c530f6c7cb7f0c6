/**
 * Data directories written by earlier versions (magic 1 batches, 1-byte control keys) keep
 * working on real broker processes: every log of a stopped cluster — partitions and the
 * metadata log — is rewritten as 0.1 wrote it, and the restarted brokers recover it (Raft
 * finds its configuration entries in it), serve every record from every replica, append
 * magic 2 batches after it, restart again, and replicate it to a new broker.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { batchBounds, Field, isControlBatch } from '../../protocol/batch.js';
import { toV1 } from '../legacy-batch.js';
import { readsBack } from './read-back.js';
import { startCluster, waitFor, type ProcessCluster } from './cluster.js';
import type { Client } from '../../client/index.js';

const TOPIC = 'legacy';
const PARTITIONS = 2;

function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.log') && /^\d{20}\.log$/.test(path.basename(name))).map((name) => path.join(dir, name));
}

/**
 * Rewrites every batch of every segment under `dir` in the magic 1 format and drops the
 * segment indexes (control batches shrink by 3 bytes, so positions move; the broker
 * rebuilds indexes it lacks). Returns how many user and control batches it rewrote.
 */
function rewriteAsV1(dir: string): { user: number; control: number } {
  const counts = { user: 0, control: 0 };
  for (const file of segmentFiles(dir)) {
    const bytes = fs.readFileSync(file);
    const batches = [...batchBounds(bytes)].map((b) => bytes.subarray(b.start, b.end));
    if (batches.reduce((sum, b) => sum + b.length, 0) !== bytes.length) throw new Error(`${file} does not end on a batch boundary`);
    for (const batch of batches) counts[isControlBatch(batch) ? 'control' : 'user']++;
    fs.writeFileSync(file, Buffer.concat(batches.map(toV1)));
    fs.rmSync(file.replace(/\.log$/, '.index'), { force: true });
  }
  return counts;
}

async function produce(client: Client, count: number, tag: string, acked: Map<string, string>): Promise<void> {
  const producer = client.producer({ acks: 'all' });
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const value = `${tag}-${i}`;
      const ack = await producer.send({ topic: TOPIC, partition: i % PARTITIONS, key: `key-${i}`, value, headers: { tag } });
      acked.set(`${ack.partition}@${ack.offset}`, value);
    }),
  );
  await producer.close();
}

async function restartAll(cluster: ProcessCluster, client: Client): Promise<void> {
  for (const id of [1, 2, 3]) await cluster.stop(id);
  for (const id of [1, 2, 3]) cluster.restart(id);
  await waitFor('a controller', async () => (await client.admin().describeCluster()).controller, 30_000);
}

t.test('a data directory of magic 1 batches is recovered, served, written after, restarted and replicated', async (t) => {
  const { cluster, client } = await startCluster(t);
  const admin = client.admin();
  await admin.createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 });
  const acked = new Map<string, string>();
  await produce(client, 300, 'v1', acked);

  for (const id of [1, 2, 3]) await cluster.stop(id);
  for (const id of [1, 2, 3]) {
    const counts = rewriteAsV1(cluster.brokers.get(id)!.dataDir);
    t.ok(counts.user > 0 && counts.control > 0, `broker ${id}: ${counts.user} user and ${counts.control} control batches rewritten as magic 1`);
  }
  for (const id of [1, 2, 3]) cluster.restart(id);
  await waitFor('a controller', async () => (await admin.describeCluster()).controller, 30_000);
  for (const id of [1, 2, 3]) await readsBack(t, client, TOPIC, id, acked);

  // New batches (magic 2) go after the old ones, in the same segments.
  await produce(client, 300, 'v2', acked);
  await restartAll(cluster, client);
  for (const id of [1, 2, 3]) await readsBack(t, client, TOPIC, id, acked);
  const mixed = segmentFiles(cluster.brokers.get(1)!.dataDir).filter((file) => {
    const bytes = fs.readFileSync(file);
    const magics = new Set([...batchBounds(bytes)].map((b) => bytes[b.start + Field.magic]));
    return magics.has(1) && magics.has(2);
  });
  t.ok(mixed.length > 0, `broker 1: ${mixed.length} segments hold both magic 1 and magic 2 batches`);

  // A new replica receives the old batches through replication.
  await cluster.join(4, 1);
  await waitFor('broker 4 registered and alive', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4 && b.alive), 30_000);
  await admin.movePartition(TOPIC, 0, [1, 2, 4]);
  await waitFor('the move to finish', async () => {
    const p = (await admin.describeTopic(TOPIC)).partitions[0]!;
    return [...p.replicas].sort().join() === '1,2,4' && [...p.inSync].sort().join() === '1,2,4';
  }, 60_000);
  const partition0 = new Map([...acked].filter(([key]) => key.startsWith('0@')));
  await readsBack(t, client, TOPIC, 4, partition0);
});
