/**
 * Quiet groups with a broker down, on real broker processes: after kill -9 of one broker,
 * the survivors' groups (every one had the dead broker as a member) go quiet again without
 * it instead of heartbeating for as long as it is away; when it returns, the groups wake,
 * catch it up and go quiet with it. Counted from each broker's `stats` line.
 */
import t from 'tap';
import { brokerStats } from '../../bench/cluster.js';
import { startCluster, waitFor } from './cluster.js';

interface Stats {
  time: number;
  groups: number;
  quiesced: number;
  leaders: number;
  laggingFollowers: number;
}

t.test('with a broker down its groups go quiet on the survivors, and wake to catch it up when it returns', async (t) => {
  const partitions = 60;
  const { cluster, client } = await startCluster(t, { extraArgs: ['--stats-interval-ms', '200'] });
  await client.admin().createTopic({ topic: 'quiet', partitions, replicationFactor: 3, timeoutMs: 60_000 });
  const producer = client.producer({ acks: 'all' });
  await Promise.all(Array.from({ length: partitions }, (_, partition) => producer.send({ topic: 'quiet', partition, value: 'before' })));

  await cluster.kill(3);
  const killedAt = Date.now();
  // Every partition needs a leader on broker 1 or 2 and a write, so that broker 3 lacks entries.
  await Promise.all(Array.from({ length: partitions }, (_, partition) => producer.send({ topic: 'quiet', partition, value: 'while 3 was down' })));
  const quiet = await waitFor('every group on brokers 1 and 2 quiet without broker 3', () => {
    const last = [1, 2].map((id) => brokerStats<Stats>(cluster, id, killedAt).at(-1));
    return last.every((s) => s && s.groups === partitions + 1 && s.quiesced === s.groups) ? last : null;
  }, 60_000, 200);
  t.same(quiet.map((s) => s!.quiesced), [partitions + 1, partitions + 1], 'brokers 1 and 2: every group quiet (the partitions and the controller)');

  const restartedAt = Date.now();
  cluster.restart(3);
  await waitFor('broker 3 caught up and every group quiet on all three', () => {
    const last = [1, 2, 3].map((id) => brokerStats<Stats>(cluster, id, restartedAt).at(-1));
    return last.every((s) => s && s.groups === partitions + 1 && s.quiesced === s.groups && s.laggingFollowers === 0);
  }, 60_000, 200);
  // Broker 3 holds what was written without it: read it from there.
  for (const partition of [0, partitions - 1]) {
    const consumer = client.consumer({ readFrom: 3, maxWaitMs: 100 });
    consumer.assign([{ topic: 'quiet', partition, offset: 'earliest' }]);
    const values: string[] = [];
    for await (const m of consumer) {
      if (m.value?.toString().startsWith('before') || m.value?.toString().startsWith('while')) values.push(m.value!.toString());
      if (values.length === 2) break;
    }
    await consumer.close();
    t.same(values, ['before', 'while 3 was down'], `broker 3 serves partition ${partition}'s records, the one written while it was down included`);
  }
  await producer.close();
});
