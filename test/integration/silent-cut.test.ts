/**
 * Connections across a silent cut (packets dropped, no reset, no ICMP). A TCP connection
 * kept across such a cut carries data again only when the kernel next resends, at doubling
 * intervals (~11 s after the heal of a 15-s cut), so whoever stops hearing on one must give
 * it up and connect again. Three brokers on three hosts (netns.ts), the client outside:
 *  - every link between the brokers cut for longer than TCP's first few resends: each
 *    broker must dial its peers again (counted in its log), and every partition
 *    acknowledges after the heal;
 *  - the client's path to one partition's leader cut while a send is in flight: the client
 *    must drop that connection once two requests on it time out with nothing received
 *    (counted in its log), and the send is acknowledged after the heal.
 * The time each took after the heal is printed, not asserted.
 */
import t from 'tap';
import { onInterrupt } from '../../bench/interrupt.js';
import { Client } from '../../client/index.js';
import type { ClientLogger } from '../../client/logger.js';
import { PEER_SILENCE_MS } from '../../broker/transport/peers.js';
import { ProcessCluster, waitFor } from './cluster.js';
import { Network, OUTSIDE, namespacesUnavailable } from './netns.js';

const PORT = 7400;
const TOPIC = 'cut';
const PARTITIONS = 3;
/** Long enough for the silence rule to fire and for TCP's resends to space out. */
const CUT_MS = 4 * PEER_SILENCE_MS;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client logger that keeps its warnings. */
function warningsLogger(warnings: string[]): ClientLogger {
  const logger: ClientLogger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (_obj, msg) => void warnings.push(msg ?? ''),
    error: (_obj, msg) => void warnings.push(msg ?? ''),
    child: () => logger,
  };
  return logger;
}

const unavailable = await namespacesUnavailable();
if (unavailable) {
  t.plan(0, `silent-cut test skipped: ${unavailable}`);
} else {
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
  const producer = client.producer({ acks: 'all', deliveryTimeoutMs: 5_000 });
  t.teardown(async () => {
    await producer.close();
    await client.close();
    await cluster.close();
    await net.destroy();
    releaseInterrupt();
  });
  await cluster.start();
  await waitFor('a controller', async () => (await client.admin().describeCluster()).controller !== null, 60_000);
  await client.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 });
  const everyPartitionAcknowledges = async () => {
    const results = await Promise.allSettled([...Array(PARTITIONS).keys()].map((partition) => producer.send({ topic: TOPIC, partition, value: 'x' })));
    return results.every((r) => r.status === 'fulfilled');
  };
  await waitFor('every partition acknowledging', everyPartitionAcknowledges, 60_000, 200);

  t.test('brokers cut off from each other silently dial each other again, and every partition acknowledges after the heal', async (t) => {
    const redials = () => [1, 2, 3].map((id) => cluster.logs(id).split('\n').filter((line) => line.includes('dialing the peer again')).length);
    const before = redials();
    await net.split([1], [2, 3]);
    await net.split([2], [3]);
    await sleep(CUT_MS);
    const during = redials();
    await net.healAll();
    const healedAt = Date.now();
    t.ok(during.every((count, i) => count > before[i]!), `every broker dialled its silent peers again during the cut (redials per broker: ${during.map((c, i) => c - before[i]!).join(', ')})`);
    await waitFor('every partition acknowledging after the heal', everyPartitionAcknowledges, 120_000, 100);
    t.pass('every partition acknowledges after the heal');
    t.comment(`acknowledging again ${((Date.now() - healedAt) / 1000).toFixed(1)} s after a ${CUT_MS / 1000}-s cut healed`);
  });

  t.test('a client whose connection to a leader is cut silently connects again, and its send is acknowledged after the heal', async (t) => {
    const warnings: string[] = [];
    const cutClient = new Client({ brokers: [1, 2, 3].map(address), requestTimeoutMs: 2_000, connectTimeoutMs: 1_000, logger: warningsLogger(warnings) });
    const cutProducer = cutClient.producer({ acks: 'all', deliveryTimeoutMs: 120_000 });
    t.teardown(async () => {
      await cutProducer.close();
      await cutClient.close();
    });
    await cutProducer.send({ topic: TOPIC, partition: 0, value: 'before' });
    const leader = (await cutClient.admin().describeTopic(TOPIC)).partitions[0]!.leader!;
    await net.cut(OUTSIDE, leader);
    await net.cut(leader, OUTSIDE);
    const cutAt = Date.now();
    const send = cutProducer.send({ topic: TOPIC, partition: 0, value: 'across the cut' });
    const dropped = () => warnings.some((w) => w.includes('connecting again'));
    await waitFor('the client dropping its connection to the leader', dropped, 60_000, 100).catch(() => undefined);
    await sleep(2_000); // the path stays cut a little longer: the client's new dials must fail too
    await net.healAll();
    const healedAt = Date.now();
    t.ok(dropped(), `the client dropped its connection to broker ${leader} after two requests on it timed out with nothing received`);
    const acked = await send;
    t.equal(acked.partition, 0, 'the send made across the cut is acknowledged after the heal');
    t.comment(`acknowledged ${((Date.now() - healedAt) / 1000).toFixed(1)} s after a ${((healedAt - cutAt) / 1000).toFixed(1)}-s cut healed`);
  });
}
