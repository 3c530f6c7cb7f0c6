/**
 * A metadata snapshot larger than a peer frame reaches the broker that needs it: on
 * brokers with a small --max-frame-bytes (16 KiB) and a snapshot every 10 metadata
 * entries, a broker that was down while the metadata grew past three frames finds the
 * entries it missed compacted away, is sent the snapshot in parts, and knows every topic.
 * (Sent whole, the snapshot could not leave the leader, and that broker never caught up.)
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Client } from '../../client/index.js';
import { clusterOf } from '../../client/client.js';
import { controllerSnapshotIndex, startCluster, waitFor } from './cluster.js';

const FRAME_BYTES = 16 * 1024;
const TOPICS = 150;

t.test('a broker behind the metadata log start is sent a snapshot over a peer frame, in parts, and catches up', async (t) => {
  const { cluster, client } = await startCluster(t, { extraArgs: ['--max-frame-bytes', String(FRAME_BYTES), '--controller-snapshot-entries', '10'] });
  const admin = client.admin();
  await cluster.stop(3);
  // Long names make the metadata large with few partitions: 150 topics of 200 characters.
  const names = Array.from({ length: TOPICS }, (_, i) => `${String(i).padStart(3, '0')}-${'x'.repeat(196)}`);
  // Created at the controller without waiting for leaders: those placed on broker 3 have none yet.
  for (const topic of names) await clusterOf(client).controllerRequest({ type: 'createTopic', topic, partitions: 1, replicationFactor: 1, config: {}, timeoutMs: 10_000 }, Date.now() + 10_000);

  const controller = (await admin.describeCluster()).controller!;
  const snapshotFile = join(cluster.brokers.get(controller)!.dataDir, 'controller-snapshot.json');
  const bytes = await waitFor('the controller to snapshot the grown metadata', () => {
    const size = statSync(snapshotFile, { throwIfNoEntry: false })?.size ?? 0;
    return size > 2 * FRAME_BYTES ? size : undefined;
  });
  t.ok(bytes > 2 * FRAME_BYTES, `the controller's snapshot is ${bytes} bytes: more than two ${FRAME_BYTES}-byte frames`);

  cluster.restart(3);
  const three = cluster.brokers.get(3)!.address;
  const viaThree = new Client({ brokers: [three], requestTimeoutMs: 10_000 });
  t.teardown(() => viaThree.close());
  // Only the first and last topics: the whole list is over one 16-KiB response frame.
  const known = await waitFor('broker 3 to know the first and the last topic', async () => {
    const { result } = await clusterOf(viaThree).send(three, { type: 'metadata', topics: [names[0]!, names[TOPICS - 1]!] });
    const found = result.topics.map((x) => x.topic); // unknown topics are left out
    return found.length === 2 ? found : undefined;
  }, 60_000);
  t.same(known, [names[0], names[TOPICS - 1]], 'broker 3 caught up');
  t.ok(controllerSnapshotIndex(cluster.brokers.get(3)!.dataDir) >= 0, 'from a snapshot, which it saved');
});
