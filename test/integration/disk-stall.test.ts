/**
 * A disk that stalls, on real brokers: each broker's data directory is an ext4 image on a
 * loop device, and the test freezes the one of the leader of partition 0 with `fsfreeze`
 * (device-mapper, whose `dmsetup suspend` would stall only the device, is not in this
 * kernel). A frozen filesystem makes every write and fsync hang, as a dead disk would:
 * the broker's processing cycle waits on its fsync and its event loop on its next write,
 * so it stops heartbeating. Its partitions must move to other brokers within a bounded
 * wait, the producer's sends must go on being acknowledged by the new leaders, and after
 * the thaw nothing acknowledged is missing on any broker.
 */
import t from 'tap';
import { Client } from '../../client/index.js';
import type { FlotillaError } from '../../protocol/errors.js';
import { ProcessCluster, waitFor } from './cluster.js';
import { freeze, mountBrokerDisk, mountSupport, removeDisk, thaw, type Disk } from './disks.js';
import { readsBack } from './read-back.js';

const PARTITIONS = 3;
const TOPIC = 'stall';

/** Sends records round the partitions until stopped; keeps what was acknowledged and what failed. */
class SteadyProducer {
  readonly acked = new Map<string, string>();
  readonly failures: FlotillaError[] = [];
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(client: Client) {
    const producer = client.producer({ acks: 'all', batchBytes: 16 * 1024 });
    this.done = (async () => {
      for (let round = 0; !this.stopped; round++) {
        const sends: Array<Promise<void>> = [];
        for (let i = 0; i < 20; i++) {
          for (let partition = 0; partition < PARTITIONS; partition++) {
            const value = `r${round}-${partition}-${i}-${'y'.repeat(200)}`;
            sends.push(
              producer.send({ topic: TOPIC, partition, value }).then(
                (ack) => void this.acked.set(`${partition}@${ack.offset}`, value),
                (error: unknown) => void this.failures.push(error as FlotillaError),
              ),
            );
          }
        }
        await Promise.all(sends);
      }
      await producer.close();
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

t.test('leadership leaves a broker whose disk freezes; writes go on; nothing acknowledged is lost', async (t) => {
  const unsupported = mountSupport('loop');
  if (unsupported) {
    t.plan(0, `skipped: ${unsupported}`);
    return;
  }
  const cluster = new ProcessCluster({ fsync: 'always' });
  const disks = new Map<number, Disk>();
  let client: Client | undefined;
  t.teardown(async () => {
    // A process blocked on a frozen filesystem cannot die (D state) until it thaws.
    for (const disk of disks.values()) thaw(disk);
    await client?.close();
    for (const id of cluster.brokers.keys()) await cluster.kill(id);
    for (const disk of disks.values()) removeDisk(disk);
    await cluster.close();
  });
  for (const id of [1, 2, 3]) disks.set(id, mountBrokerDisk(cluster.root, id, 'loop', 64));
  await cluster.start();
  // Short request timeouts: requests to the frozen broker go unanswered.
  client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 3_000 });
  await waitFor('a controller', async () => (await client!.admin().describeCluster()).controller);
  await client.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, timeoutMs: 30_000 });
  const leaders = async () => (await client!.admin().describeTopic(TOPIC)).partitions.map((p) => p.leader);
  const victim = await waitFor('a leader for every partition', async () => {
    const led = await leaders();
    return led.every((l) => l !== null) ? led[0] : undefined;
  });
  const ledBefore = (await leaders()).filter((l) => l === victim).length;

  const producer = new SteadyProducer(client);
  await waitFor('acknowledged writes before the freeze', () => producer.acked.size >= 300, 60_000);
  freeze(disks.get(victim)!);
  t.comment(`froze the disk of broker ${victim}, leading ${ledBefore} of ${PARTITIONS} partitions`);

  const moved = await waitFor(`every partition led by a broker other than ${victim}`, async () => {
    const led = await leaders();
    return led.every((l) => l !== null && l !== victim) ? led : undefined;
  }, 60_000, 500);
  t.ok(moved.every((l) => l !== victim), `leaders while frozen: ${moved.join(', ')}`);
  const ackedAtMove = producer.acked.size;
  await waitFor('the new leaders acknowledging writes', () => producer.acked.size >= ackedAtMove + 300, 60_000);
  t.pass(`the producer went on: ${producer.acked.size - ackedAtMove} more acknowledged while broker ${victim}'s disk stayed frozen`);

  thaw(disks.get(victim)!);
  await producer.stop();
  t.same([...new Set(producer.failures.map((e) => `${e.code}: ${e.message}`))], [], `every send was acknowledged (${producer.acked.size})`);
  for (const id of [1, 2, 3]) await readsBack(t, client, TOPIC, id, producer.acked, 90_000);
});
