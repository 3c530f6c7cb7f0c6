/**
 * A full disk on real brokers: each broker's data directory is on a 64 MiB tmpfs of its
 * own, and the test fills one of them with a filler file. That broker refuses writes with
 * the retriable DISK_FULL and keeps running and serving reads; its partitions stay
 * writable (as a follower it stops acknowledging and the others make the majority; as a
 * leader it hands over to a replica with space); nothing acknowledged is lost; and once
 * the filler is deleted it catches up by itself, without a restart.
 */
import t, { type Test } from 'tap';
import { Client } from '../../client/index.js';
import type { ClientLogger } from '../../client/logger.js';
import { FlotillaError } from '../../protocol/errors.js';
import { ProcessCluster, waitFor } from './cluster.js';
import { fill, free, mountBrokerDisk, mountSupport, removeDisk, type Disk } from './disks.js';
import { readsBack } from './read-back.js';

const PARTITIONS = 2;
const TOPIC = 'full';

type Tap = Test;

/** Retriable codes the producer met (it logs each retry at debug). */
function retryCodes(): { codes: Set<string>; logger: ClientLogger } {
  const codes = new Set<string>();
  const logger: ClientLogger = {
    debug: (obj) => {
      const code = (obj as { code?: unknown }).code;
      if (typeof code === 'string') codes.add(code);
    },
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
  };
  return { codes, logger };
}

async function fullDiskCluster(t: Tap): Promise<{ cluster: ProcessCluster; client: Client; disks: Map<number, Disk>; codes: Set<string> } | undefined> {
  const unsupported = mountSupport('tmpfs');
  if (unsupported) {
    t.plan(0, `skipped: ${unsupported}`);
    return undefined;
  }
  const cluster = new ProcessCluster({ fsync: 'always' });
  const disks = new Map<number, Disk>();
  const { codes, logger } = retryCodes();
  let client: Client | undefined;
  t.teardown(async () => {
    await client?.close();
    for (const id of cluster.brokers.keys()) await cluster.kill(id);
    for (const disk of disks.values()) removeDisk(disk);
    await cluster.close();
  });
  for (const id of [1, 2, 3]) disks.set(id, mountBrokerDisk(cluster.root, id, 'tmpfs', 64));
  await cluster.start();
  client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000, logger });
  await waitFor('a controller', async () => (await client!.admin().describeCluster()).controller);
  await client.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, config: { segmentBytes: 256 * 1024 }, timeoutMs: 30_000 });
  return { cluster, client, disks, codes };
}

/**
 * Sends `count` records to every partition; every send must be acknowledged or fail with
 * DISK_FULL. Returns the acknowledged values by partition and offset.
 */
async function produce(t: Tap, client: Client, count: number, tag: string): Promise<Map<string, string>> {
  const producer = client.producer({ acks: 'all', batchBytes: 16 * 1024 });
  const acked = new Map<string, string>();
  const failures: FlotillaError[] = [];
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const value = `${tag}-${partition}-${i}-${'x'.repeat(400)}`;
      sends.push(
        producer.send({ topic: TOPIC, partition, value }).then(
          (ack) => void acked.set(`${partition}@${ack.offset}`, value),
          (error: unknown) => void failures.push(error as FlotillaError),
        ),
      );
    }
  }
  await Promise.all(sends);
  await producer.close();
  const unclear = failures.filter((e) => !(e instanceof FlotillaError && e.code === 'DISK_FULL'));
  t.same([...new Set(unclear.map((e) => `${e.code}: ${e.message}`))], [], `${tag}: every send acknowledged or refused with DISK_FULL (${acked.size} acknowledged, ${failures.length} refused)`);
  return acked;
}

async function leaders(client: Client): Promise<Array<number | null>> {
  return (await client.admin().describeTopic(TOPIC)).partitions.map((p) => p.leader);
}

function stillRunning(t: Tap, cluster: ProcessCluster, id: number): void {
  const child = cluster.brokers.get(id)!.child;
  t.ok(child && child.exitCode === null && child.signalCode === null, `broker ${id} is still running`);
}

t.test('a follower whose disk fills stops acknowledging; the partition stays writable and it catches up once space is freed', async (t) => {
  const setup = await fullDiskCluster(t);
  if (!setup) return;
  const { cluster, client, disks } = setup;
  const before = await produce(t, client, 300, 'a');
  // A broker that leads no partition of the topic.
  const victim = await waitFor('a broker leading no partition', async () => {
    const led = await leaders(client);
    if (led.some((l) => l === null)) return undefined;
    return [1, 2, 3].find((id) => !led.includes(id));
  });
  const filler = fill(disks.get(victim)!);
  t.comment(`broker ${victim}'s disk filled`);
  const during = await produce(t, client, 600, 'b');
  t.equal(during.size, 600 * PARTITIONS, 'with a full follower every send was acknowledged by the majority');
  t.match(cluster.logs(victim), /DISK_FULL|disk full/, `broker ${victim} met the full disk`);
  stillRunning(t, cluster, victim);
  await readsBack(t, client, TOPIC, victim, before, 90_000);
  free(filler);
  const after = await produce(t, client, 300, 'c');
  const all = new Map([...before, ...during, ...after]);
  for (const id of [1, 2, 3]) await readsBack(t, client, TOPIC, id, all, 90_000);
  stillRunning(t, cluster, victim);
});

t.test('a leader whose disk fills refuses with DISK_FULL and hands over; nothing acknowledged is lost', async (t) => {
  const setup = await fullDiskCluster(t);
  if (!setup) return;
  const { cluster, client, disks, codes } = setup;
  const before = await produce(t, client, 300, 'a');
  const victim = await waitFor('a leader of partition 0', async () => (await leaders(client))[0]);
  const filler = fill(disks.get(victim)!);
  t.comment(`broker ${victim}, the leader of partition 0, has a full disk`);
  const during = await produce(t, client, 600, 'b');
  t.ok(codes.has('DISK_FULL'), `the producer was told DISK_FULL (retriable codes met: ${[...codes].join(', ')})`);
  t.equal(during.size, 600 * PARTITIONS, 'every send was acknowledged after the hand-over');
  const led = await leaders(client);
  t.ok(led[0] !== victim, `partition 0 is led by broker ${led[0]}, not the full broker ${victim}`);
  stillRunning(t, cluster, victim);
  await readsBack(t, client, TOPIC, victim, before, 90_000);
  free(filler);
  const after = await produce(t, client, 300, 'c');
  const all = new Map([...before, ...during, ...after]);
  for (const id of [1, 2, 3]) await readsBack(t, client, TOPIC, id, all, 90_000);
  stillRunning(t, cluster, victim);
});
