/**
 * Bit rot on real brokers: bits flipped anywhere in a replica's segment files — a follower
 * killed and restarted, the running leader, or a running follower nobody reads from (found
 * by the scrubber) — never reach a client, the replica repairs itself from the others, and
 * no acknowledged record is lost. The metadata log of a running follower and of the running
 * controller leader repairs itself too, without the broker stopping.
 */
import t from 'tap';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../../client/index.js';
import { batchSizeAt, baseOffsetOf, lastOffsetOf } from '../../protocol/batch.js';
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
  // Without the tail cache: with it, the batches just written are served from memory and the
  // rot under them is met only once they left the cache (test/unit/tail-cache.test.ts).
  const { cluster, client } = await startCluster(t, { extraArgs: ['--log-cache-bytes', '0'] });
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
  const { cluster, client } = await startCluster(t, { extraArgs: ['--scrub-bytes-per-sec', String(64 * 1024 * 1024), '--scrub-interval-ms', '2000', '--stats-interval-ms', '1000'] });
  await client.admin().createTopic({ topic: 'rot', partitions: PARTITIONS, replicationFactor: 3, config: { segmentBytes: 64 * 1024 } });
  const acked = await produce(client, 'rot', 2_000, 'a');
  // A follower of partition 0 that is not its preferred leader either: no leadership
  // balancing makes it read its log, and no consumer reads from it until the end.
  const { partitions } = await client.admin().describeTopic('rot');
  const p0 = partitions.find((p) => p.partition === 0)!;
  const follower = [1, 2, 3].find((id) => id !== p0.leader && id !== p0.replicas[0])!;
  const dataDir = cluster.brokers.get(follower)!.dataDir;
  // Sealed segments only: every segment file but the newest.
  const sealedSegments = (): string[] => {
    const logDir = readdirSync(dataDir).find((name) => name.startsWith('rot-0.'));
    if (!logDir) return [];
    return readdirSync(join(dataDir, logDir)).filter((name) => name.endsWith('.log')).sort().slice(0, -1).map((name) => join(dataDir, logDir, name));
  };
  // An acknowledgement needs a majority, not this replica: it may still be catching up.
  const sealed = await waitFor(`broker ${follower} to hold 3 sealed segments of partition 0`, () => {
    const files = sealedSegments();
    return files.length >= 3 && files;
  }, 60_000);
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

/** The batches of a broker's metadata log on disk, by last offset (a batch still being written is left out). */
function metadataEntries(dataDir: string): Map<number, { base: number; hex: string }> {
  const dir = join(dataDir, '__controller');
  const entries = new Map<number, { base: number; hex: string }>();
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.log')).sort()) {
    const bytes = readFileSync(join(dir, name));
    for (let at = 0; at + 12 <= bytes.length; ) {
      const size = batchSizeAt(bytes, at);
      if (size <= 12 || at + size > bytes.length) break;
      entries.set(lastOffsetOf(bytes, at), { base: baseOffsetOf(bytes, at), hex: bytes.subarray(at, at + size).toString('hex') });
      at += size;
    }
  }
  return entries;
}

/** Sealed segment files of a broker's metadata log: every one but the newest. */
function sealedMetadataSegments(dataDir: string): string[] {
  const dir = join(dataDir, '__controller');
  return readdirSync(dir).filter((n) => n.endsWith('.log')).sort().slice(0, -1).map((n) => join(dir, n));
}

/** Metadata repairs in the broker's latest `stats` line. */
function metadataRepairs(cluster: ProcessCluster, id: number): number {
  return brokerStats<{ time: number; repairs?: { metadata: number } }>(cluster, id).at(-1)?.repairs?.metadata ?? 0;
}

t.test('rot in the metadata log of a running follower and of the running controller leader: found by the scrubber, repaired without stopping', async (t) => {
  const { cluster, client } = await startCluster(t, {
    // Small metadata segments, so that a few dozen entries make sealed ones for the scrubber.
    extraArgs: ['--metadata-segment-bytes', '4096', '--scrub-bytes-per-sec', String(64 * 1024 * 1024), '--scrub-interval-ms', '2000', '--stats-interval-ms', '1000'],
  });
  const admin = client.admin();
  await admin.createTopic({ topic: 'rot', partitions: PARTITIONS, replicationFactor: 3 });
  const acked = await produce(client, 'rot', 300, 'a');
  // Metadata entries enough for several sealed segments on every broker.
  for (let i = 0; i < 60; i++) await admin.alterTopic('rot', { retentionMs: 3_600_000 + i });
  await waitFor('every broker to hold sealed metadata segments', () => [1, 2, 3].every((id) => sealedMetadataSegments(cluster.brokers.get(id)!.dataDir).length >= 2), 30_000);

  const repairedOn = async (id: number, seed: number) => {
    const before = metadataRepairs(cluster, id);
    const sealed = sealedMetadataSegments(cluster.brokers.get(id)!.dataDir);
    const flip = flipper(seed);
    for (const file of sealed) flip(file, 8);
    t.comment(`${sealed.length} sealed metadata segments of broker ${id} with 8 bits flipped each`);
    await waitFor(`broker ${id} repairs its metadata log`, () => metadataRepairs(cluster, id) > before, 180_000, 500);
    t.match(cluster.logs(id), /metadata log repaired/, `broker ${id} logs the repair, and its stats line counts it`);
    t.equal(cluster.brokers.get(id)!.child?.exitCode ?? null, null, `broker ${id} is still running`);
  };

  const controller = (await admin.describeCluster()).controller;
  const follower = [1, 2, 3].find((id) => id !== controller)!;
  await repairedOn(follower, 5);
  // Entries cut past the applied metadata (if any) keep it from voting until it holds them again.
  if (/"group":0,[^\n]*will not vote until it holds them again/.test(cluster.logs(follower))) {
    await waitFor(`broker ${follower} to vote on the metadata again`, () => /"group":0,[^\n]*votes again/.test(cluster.logs(follower)), 60_000, 250);
  }

  const leader = await waitFor("a metadata leader", async () => (await admin.describeCluster()).controller);
  await repairedOn(leader, 9);
  await waitFor(`another broker than ${leader} leads the metadata`, async () => {
    const now = (await admin.describeCluster()).controller;
    return now !== 0 && now !== leader;
  });

  // Topics created after the repairs appear on both repaired brokers, whose replicas start.
  await admin.createTopic({ topic: 'after', partitions: 1, replicationFactor: 3 });
  for (const id of new Set([follower, leader])) {
    const pinned = new Client({ brokers: [cluster.brokers.get(id)!.address], requestTimeoutMs: 10_000 });
    try {
      await waitFor(`broker ${id} to know the topic created afterwards`, async () => (await pinned.admin().listTopics()).includes('after'));
    } finally {
      await pinned.close();
    }
    await waitFor(`broker ${id} to start its replica of the new topic`, () => /"topic":"after".*partition replica started/.test(cluster.logs(id)));
  }

  // Every metadata log is whole: the same entries at the same offsets as every other broker's, through the same end.
  const logs = await waitFor('every metadata log to reach the same end', () => {
    const all = [1, 2, 3].map((id) => metadataEntries(cluster.brokers.get(id)!.dataDir));
    const ends = all.map((m) => Math.max(...m.keys()));
    return ends.every((end) => end === ends[0]) ? all : undefined;
  });
  for (const [i, entries] of logs.entries()) {
    const offsets = [...entries.keys()].sort((a, b) => a - b);
    const gaps = offsets.filter((last, k) => k > 0 && entries.get(last)!.base !== offsets[k - 1]! + 1);
    t.same(gaps, [], `broker ${i + 1}'s metadata log has no gaps (${offsets.length} entries up to ${offsets.at(-1)})`);
    for (const [j, other] of logs.entries()) {
      if (j <= i) continue;
      const differ = offsets.filter((o) => other.has(o) && other.get(o)!.hex !== entries.get(o)!.hex);
      const common = offsets.filter((o) => other.has(o)).length;
      t.same(differ, [], `brokers ${i + 1} and ${j + 1} hold the same ${common} metadata entries where both hold one`);
    }
  }

  // No partition data was lost.
  const more = await produce(client, 'rot', 100, 'b');
  const all = new Map([...acked, ...more]);
  for (const id of [1, 2, 3]) await readsBack(t, client, 'rot', id, all);
  for (const id of new Set([follower, leader])) {
    t.ok((scrubStats(cluster, id)?.corrupt ?? 0) >= 1, `broker ${id}'s stats count the corrupt batch its scrubber found`);
  }
});
