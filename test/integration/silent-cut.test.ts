/**
 * Peer connections across a silent cut. Three brokers on three hosts (netns.ts); every link
 * between them drops its packets, with no reset and no ICMP, for longer than TCP's first
 * few retransmissions. A connection kept across such a cut carries data again only when
 * the kernel next resends (its interval doubles: ~11 s after the heal of a 15-s cut), so
 * every broker must give up the connections it no longer hears on and dial again: the
 * verdict counts those redials in the brokers' logs, then requires every partition to
 * acknowledge after the heal. The time that took is printed, not asserted.
 */
import t from 'tap';
import { onInterrupt } from '../../bench/interrupt.js';
import { Client } from '../../client/index.js';
import { PEER_SILENCE_MS } from '../../broker/transport/peers.js';
import { ProcessCluster, waitFor } from './cluster.js';
import { Network, namespacesUnavailable } from './netns.js';

const PORT = 7400;
const TOPIC = 'cut';
const PARTITIONS = 3;
/** Long enough for the silence rule to fire and for TCP's resends to space out. */
const CUT_MS = 4 * PEER_SILENCE_MS;

const unavailable = await namespacesUnavailable();
if (unavailable) {
  t.plan(0, `silent-cut test skipped: ${unavailable}`);
} else {
  t.test('brokers cut off from each other silently dial each other again, and every partition acknowledges after the heal', async (t) => {
    const net = await Network.create([1, 2, 3]);
    const address = (id: number) => `${net.address(id)}:${PORT}`;
    const cluster = new ProcessCluster({
      brokers: 3,
      host: (id) => ({ address: address(id), prefix: net.prefix(id) }),
      brokerArgs: (id) => ['--advertise', address(id)],
    });
    const releaseInterrupt = onInterrupt(() => {
      cluster.abandon();
      net.destroySync();
    });
    const client = new Client({ brokers: [1, 2, 3].map(address), requestTimeoutMs: 5_000 });
    t.teardown(async () => {
      await client.close();
      await cluster.close();
      await net.destroy();
      releaseInterrupt();
    });
    await cluster.start();
    await waitFor('a controller', async () => (await client.admin().describeCluster()).controller !== null, 60_000);
    await client.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 });
    const producer = client.producer({ acks: 'all', deliveryTimeoutMs: 5_000 });
    t.teardown(() => producer.close());
    const everyPartitionAcknowledges = async () => {
      const results = await Promise.allSettled([...Array(PARTITIONS).keys()].map((partition) => producer.send({ topic: TOPIC, partition, value: 'x' })));
      return results.every((r) => r.status === 'fulfilled');
    };
    await waitFor('every partition acknowledging', everyPartitionAcknowledges, 60_000, 200);

    const redials = () => [1, 2, 3].map((id) => cluster.logs(id).split('\n').filter((line) => line.includes('dialing the peer again')).length);
    const before = redials();
    await net.split([1], [2, 3]);
    await net.split([2], [3]);
    await new Promise((resolve) => setTimeout(resolve, CUT_MS));
    const during = redials();
    await net.healAll();
    const healedAt = Date.now();
    t.ok(during.every((count, i) => count > before[i]!), `every broker dialled its silent peers again during the cut (redials per broker: ${during.map((c, i) => c - before[i]!).join(', ')})`);

    await waitFor('every partition acknowledging after the heal', everyPartitionAcknowledges, 120_000, 100);
    t.pass('every partition acknowledges after the heal');
    t.comment(`acknowledging again ${((Date.now() - healedAt) / 1000).toFixed(1)} s after a ${CUT_MS / 1000}-s cut healed`);
  });
}
