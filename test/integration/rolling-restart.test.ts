/**
 * A rolling restart, as an operator runs one: an idempotent acks=all producer sends
 * steadily while each broker in turn gets SIGTERM (it hands its leaderships away and
 * exits), starts again, and only once its /readyz answers 200 does the next one go. The
 * verdict counts: no error reaches the producer, every acknowledged record is there, at
 * its offset, on every replica, and no record is stored twice. The longest stretch
 * without an acknowledgement is printed, not asserted (the machine is shared).
 */
import t from 'tap';
import { runCli, startCluster, waitFor } from './cluster.js';
import { readPartition, readsBack } from './read-back.js';
import { SteadyProducer } from '../../bench/steady-producer.js';

const TOPIC = 'rolling';
const PARTITIONS = 3;
const BROKERS = [1, 2, 3];

t.test('a rolling restart of every broker under an idempotent acks=all producer: no error, nothing lost, nothing twice', async (t) => {
  const { cluster, client } = await startCluster(t, { brokers: BROKERS.length, http: true });
  const readyz = async (id: number) => (await fetch(`http://${cluster.brokers.get(id)!.httpAddress!}/readyz`).catch(() => null))?.status ?? 0;
  await client.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 });
  await waitFor('every broker ready', async () => (await Promise.all(BROKERS.map(readyz))).every((s) => s === 200), 60_000);

  const producer = new SteadyProducer(client, TOPIC, PARTITIONS, 5).start();
  await waitFor('a first 100 acknowledgements', () => producer.ackCount >= 100, 60_000);
  for (const id of BROKERS) {
    const ackedBefore = producer.ackCount;
    const code = await cluster.stop(id);
    t.equal(code, 0, `broker ${id} stopped cleanly on SIGTERM`);
    cluster.restart(id);
    let notReady = 0;
    await waitFor(`broker ${id} ready after its restart`, async () => {
      const status = await readyz(id);
      if (status === 503) notReady++;
      return status === 200;
    }, 120_000, 100);
    t.comment(`broker ${id}: ready again (answered 503 ${notReady} times first); ${producer.ackCount - ackedBefore} acknowledgements meanwhile`);
  }
  const health = await runCli(['cluster', 'health', '--wait', '--timeout-ms', '120000', '--brokers', cluster.bootstrap.join(',')]);
  t.equal(health.code, 0, 'cluster health --wait: the cluster is whole again');
  // A last stretch of traffic on the restarted cluster, then every outcome.
  const ackedAfterRestarts = producer.ackCount;
  await waitFor('acknowledgements after the last restart', () => producer.ackCount >= ackedAfterRestarts + 100, 60_000);
  await producer.stop();
  t.comment(producer.summary());

  t.same(producer.errors, [], 'no error reached the producer');
  t.equal(producer.ackCount, producer.sent, 'every record sent was acknowledged');
  for (const id of BROKERS) await readsBack(t, client, TOPIC, id, producer.acked);
  // Everything each partition holds, from its leader: each value once.
  const stored = new Map<string, number>();
  const description = await client.admin().describeTopic(TOPIC);
  for (const { partition, highWatermark } of description.partitions) {
    const { records, complete } = await readPartition(client, TOPIC, partition, 'leader', highWatermark);
    t.ok(complete, `${TOPIC}/${partition} read to its high watermark ${highWatermark}`);
    for (const [, value] of records) stored.set(value, (stored.get(value) ?? 0) + 1);
  }
  const duplicates = [...stored].filter(([, count]) => count > 1).map(([value]) => value);
  t.same(duplicates, [], 'no record stored twice');
  t.equal(stored.size, producer.sent, 'every record sent is stored');
});
