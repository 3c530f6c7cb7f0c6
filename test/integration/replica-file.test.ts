/**
 * A new topic's replica files are written without fsyncs (the metadata can restore them),
 * so a crash right after creation may leave one empty or torn. A broker that finds such a
 * file at start sets it aside, starts the replica from the metadata, writes the file anew,
 * and loses none of the replica's records.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startCluster, waitFor } from './cluster.js';
import { readsBack } from './read-back.js';

const TOPIC = 'fresh';
const PARTITIONS = 4;

t.test('a damaged replica file is set aside at start and written again from the metadata', async (t) => {
  const { cluster, client } = await startCluster(t, { brokers: 3 });
  await client.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all' });
  const acked = new Map<string, string>(); // value by "partition@offset"
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let i = 0; i < 5; i++) {
      const value = `p${partition}-r${i}`;
      const meta = await producer.send({ topic: TOPIC, partition, value: Buffer.from(value) });
      acked.set(`${partition}@${meta.offset}`, value);
    }
  }
  await producer.close();

  const broker = cluster.brokers.get(2)!;
  await cluster.stop(2);
  const logDirs = fs.readdirSync(broker.dataDir).filter((name) => name.startsWith(`${TOPIC}-`));
  t.equal(logDirs.length, PARTITIONS, 'a log directory per partition');
  // One empty (the crash came before writeback), one torn mid-way.
  const emptied = join(broker.dataDir, logDirs[0]!, 'replica.json');
  const torn = join(broker.dataDir, logDirs[1]!, 'replica.json');
  fs.writeFileSync(emptied, '');
  fs.writeFileSync(torn, fs.readFileSync(torn).subarray(0, 20));

  cluster.restart(2);
  await waitFor('both replica files written again', () => {
    for (const file of [emptied, torn]) {
      try {
        JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        return false;
      }
    }
    return true;
  });
  t.ok(fs.existsSync(`${emptied}.damaged`) && fs.existsSync(`${torn}.damaged`), 'the damaged files are kept beside for a post-mortem');
  t.match(cluster.logs(2), /damaged replica file set aside/, 'the broker said so');
  t.ok(cluster.running(2), 'the broker runs');

  // Every acknowledged record is served by the restarted broker's own replicas.
  await readsBack(t, client, TOPIC, 2, acked);
});
