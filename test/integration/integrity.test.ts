/**
 * Bit rot on real brokers: bits flipped anywhere in a replica's segment files — a follower
 * killed and restarted, the running leader, or a running follower nobody reads from (found
 * by the scrubber) — never reach a client, the replica repairs itself from the others, and
 * no acknowledged record is lost.
 */
import t from 'tap';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '../../client/index.js';
import { startCluster, waitFor, type ProcessCluster } from './cluster.js';
import { readsBack } from './read-back.js';
import { brokerStats } from '../../bench/cluster.js';

const PARTITIONS = 3;


/** Deterministic bit flips: a small LCG seeded per test. */
function flipper(seed: number) {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return (file: string, bits: number): void => {
    const bytes = readFileSync(file);
    if (bytes.length === 0) return;
    for (let i = 0; i < bits; i++) bytes[Math.floor(next() * bytes.length)] ^= 1 << Math.floor(next() * 8);
    writeFileSync(file, bytes);
  };
}

/** Segment files of the logs under a broker's data directory whose names start with one of `prefixes`. */
function segmentFiles(dataDir: string, ...prefixes: string[]): string[] {
  const files: string[] = [];
  for (const dir of readdirSync(dataDir)) {
    if (!prefixes.some((prefix) => dir.startsWith(prefix))) continue;
    for (const name of readdirSync(join(dataDir, dir))) {
      const file = join(dataDir, dir, name);
      if (name.endsWith('.log') && statSync(file).size > 0) files.push(file);
    }
  }
  return files;
}

/** Sends `count` records to every partition; returns each acknowledged record's value by partition and offset. */
async function produce(client: Client, topic: string, count: number, tag: string): Promise<Map<string, string>> {
  const producer = client.producer({ acks: 'all', batchBytes: 16 * 1024 });
  const acked = new Map<string, string>();
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const value = `${tag}-${partition}-${i}-${'x'.repeat(150)}`;
      sends.push(producer.send({ topic, partition, value }).then((ack) => void acked.set(`${partition}@${ack.offset}`, value)));
    }
  }
  await Promise.all(sends);
  await producer.close();
  return acked;
}

function leaderOf(cluster: ProcessCluster, client: Client, topic: string, partition: number): Promise<number> {
  void cluster;
  return waitFor(`a leader of ${topic}/${partition}`, async () => (await client.admin().describeTopic(topic)).partitions.find((p) => p.partition === partition)?.leader);
}

t.test('a follower restarted with bits flipped across its segment files and metadata log repairs itself', async (t) => {
  const { cluster, client } = await startCluster(t);
  await client.admin().createTopic({ topic: 'rot', partitions: PARTITIONS, replicationFactor: 3, config: { segmentBytes: 64 * 1024 } });
  const before = await produce(client, 'rot', 2_000, 'a');
  await cluster.kill(2);
  const flip = flipper(42);
  const files = segmentFiles(cluster.brokers.get(2)!.dataDir, 'rot-', '__controller');
  for (const file of files) flip(file, 16);
  cluster.restart(2);
  const after = await produce(client, 'rot', 300, 'b');
  const acked = new Map([...before, ...after]);
  await readsBack(t, client, 'rot', 2, acked);
  t.match(cluster.logs(2), /corrupt batch/, 'broker 2 found the rot and said so');
  t.match(cluster.logs(2), /will not vote until it holds them again/, 'and does not vote for entries it lost');
  await waitFor('broker 2 to vote again once caught up', () => /votes again/.test(cluster.logs(2)), 60_000);
  t.equal(cluster.brokers.get(2)!.child?.exitCode ?? null, null, 'broker 2 is still running');
  t.comment(`${files.length} segment files with 16 bits flipped each`);
  for (const id of [1, 3]) await readsBack(t, client, 'rot', id, acked);
});

t.test('the running leader finds rot in its own log: it never serves it, hands over, and repairs', async (t) => {
  const { cluster, client } = await startCluster(t);
  await client.admin().createTopic({ topic: 'rot', partitions: PARTITIONS, replicationFactor: 3, config: { segmentBytes: 64 * 1024 } });
  const acked = await produce(client, 'rot', 2_000, 'a');
  const leader = await leaderOf(cluster, client, 'rot', 0);
  const flip = flipper(7);
  const files = segmentFiles(cluster.brokers.get(leader)!.dataDir, 'rot-0.');
  for (const file of files) flip(file, 16);
  t.comment(`${files.length} segment files of broker ${leader}, the leader of partition 0, with 16 bits flipped each`);
  await readsBack(t, client, 'rot', leader, acked);
  t.match(cluster.logs(leader), /corrupt batch/, `broker ${leader} found the rot and said so`);
  const more = await produce(client, 'rot', 200, 'b');
  const all = new Map([...acked, ...more]);
  for (const id of [1, 2, 3]) await readsBack(t, client, 'rot', id, all);
});

/** Scrub figures of the broker's latest `stats` line. */
function scrubStats(cluster: ProcessCluster, id: number): { passes: number; corrupt: number } | undefined {
  return brokerStats<{ time: number; scrub?: { passes: number; corrupt: number } }>(cluster, id).at(-1)?.scrub;
}

t.test('the scrubber of a running follower finds rot nobody reads; the follower repairs and serves every record', async (t) => {
  const { cluster, client } = await startCluster(t, { extraArgs: ['--scrub-bytes-per-sec', String(64 * 1024 * 1024), '--stats-interval-ms', '1000'] });
  await client.admin().createTopic({ topic: 'rot', partitions: PARTITIONS, replicationFactor: 3, config: { segmentBytes: 64 * 1024 } });
  const acked = await produce(client, 'rot', 2_000, 'a');
  // A follower of partition 0 that is not its preferred leader either: no leadership
  // balancing makes it read its log, and no consumer reads from it until the end.
  const { partitions } = await client.admin().describeTopic('rot');
  const p0 = partitions.find((p) => p.partition === 0)!;
  const follower = [1, 2, 3].find((id) => id !== p0.leader && id !== p0.replicas[0])!;
  const dataDir = cluster.brokers.get(follower)!.dataDir;
  const logDir = readdirSync(dataDir).find((name) => name.startsWith('rot-0.'))!;
  // Sealed segments only: every segment file but the newest.
  const sealed = readdirSync(join(dataDir, logDir)).filter((name) => name.endsWith('.log')).sort().slice(0, -1).map((name) => join(dataDir, logDir, name));
  t.ok(sealed.length >= 3, `broker ${follower} (leader ${p0.leader}, replicas ${p0.replicas.join(',')}) has ${sealed.length} sealed segments of partition 0`);
  const before = scrubStats(cluster, follower);
  const flip = flipper(11);
  for (const file of sealed) flip(file, 8);

  const found = await waitFor(`broker ${follower}'s scrubber finds the rot`, () => (scrubStats(cluster, follower)?.corrupt ?? 0) > 0 && scrubStats(cluster, follower), 180_000, 500);
  t.equal(before?.corrupt ?? 0, 0, 'nothing was found before the bits were flipped');
  t.ok(found.corrupt >= 1, `the stats report ${found.corrupt} corrupt batch(es) after ${found.passes} pass(es)`);
  t.match(cluster.logs(follower), /the scrubber found a corrupt batch/, 'the finding is logged as the scrubber\'s');
  await waitFor(`broker ${follower} repairs its replica`, () => /replica repaired/.test(cluster.logs(follower)), 60_000, 250);
  await readsBack(t, client, 'rot', follower, acked);
  t.equal(cluster.brokers.get(follower)!.child?.exitCode ?? null, null, `broker ${follower} is still running`);
  const more = await produce(client, 'rot', 200, 'b');
  const all = new Map([...acked, ...more]);
  for (const id of [1, 2, 3]) await readsBack(t, client, 'rot', id, all);
});
