/**
 * Connection limits with real broker processes: peers are counted apart from clients, so
 * a broker holding all the client connections --max-connections allows still replicates.
 */
import t from 'tap';
import { Client } from '../../client/index.js';
import { ProcessCluster, waitFor } from './cluster.js';
import { RawClient, countRecords } from '../../bench/raw-client.js';

t.test('a broker at its client-connection limit still takes connections from its peers and catches up', async (t) => {
  const LIMIT = 20;
  const RECORDS = 2_000;
  const TOPIC = 'held';
  const cluster = await new ProcessCluster({ extraArgs: ['--max-connections', String(LIMIT)] }).start();
  t.teardown(() => cluster.close());
  const address = cluster.brokers.get(3)!.address;

  // Broker 3 misses RECORDS records while it is down.
  const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 20_000 });
  await waitFor('a controller', async () => (await client.admin().describeCluster()).controller);
  await client.admin().createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 3 });
  await cluster.kill(3);
  const producer = client.producer({ acks: 'all' });
  await Promise.all(Array.from({ length: RECORDS }, (_, i) => producer.send({ topic: TOPIC, partition: 0, value: `r${i}` })));
  await producer.close();
  await client.close();

  // Every peer connection broker 3 gets from now on arrives while its client slots are
  // all taken: the other brokers go down too, and come back only once they are.
  await cluster.kill(1);
  await cluster.kill(2);
  cluster.restart(3);
  const held: RawClient[] = [];
  t.teardown(() => held.forEach((c) => c.close()));
  const first = await waitFor('broker 3 to accept connections', () => RawClient.open(address).catch(() => null), 30_000);
  held.push(first);
  while (held.length < LIMIT) held.push(await RawClient.open(address));
  // Each one answered (an error is an answer too), so each one holds a client slot.
  const answers = await Promise.allSettled(held.map((c) => c.request({ metadata: { topics: [] } })));
  t.equal(answers.filter((a) => a.status === 'fulfilled').length, LIMIT, `all ${LIMIT} client connections were accepted`);
  const extra = await RawClient.open(address);
  const refused = extra.request({ metadata: { topics: [] } });
  await t.rejects(refused, /closed/, 'one client connection more is closed unanswered');

  cluster.restart(1);
  cluster.restart(2);
  // Broker 3 can only get the records over connections its peers open to it now.
  let stored = 0;
  let next = 0;
  await waitFor(`broker 3 to hold all ${RECORDS} records`, async () => {
    const response = await held[0]!.request({ fetch: { partitions: [{ topic: TOPIC, partition: 0, offset: next, maxBytes: 1 << 20 }], maxWaitMs: 500, minBytes: 1 } });
    const fetched = response.fetch?.partitions[0];
    if (!fetched || fetched.error) return false;
    const got = countRecords(fetched.records, next);
    stored += got.count;
    next = got.next;
    return stored >= RECORDS;
  }, 90_000);
  t.equal(stored, RECORDS, 'broker 3 caught up with every record, each once');
  t.equal(held.filter((c) => c.closed).length, 0, 'the held client connections stayed open');
});
