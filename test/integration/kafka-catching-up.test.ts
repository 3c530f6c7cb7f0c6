/**
 * Kafka's Metadata from a broker that cannot answer it yet: restarted while the two others
 * are down, its metadata cannot catch up. It lists the brokers it knows (itself among
 * them), so a client keeps its connections, and LEADER_NOT_AVAILABLE for each topic asked
 * about, which Kafka clients retry; Metadata of every topic it does not answer with an empty
 * list (no topics, a client would conclude) but waits and then closes the connection; once
 * the others are back it answers in full. (It
 * answered with no broker and NOT_LEADER_OR_FOLLOWER: kafkajs then dropped every broker
 * connection, and its metadata refresh retries a topic's LEADER_NOT_AVAILABLE only.)
 */
import t from 'tap';
import { KafkaError } from '../../broker/kafka/errors.js';
import { startCluster, waitFor } from './cluster.js';
import { rawKafkaConnection } from './kafka-raw.js';

const TOPIC = 'orders';
const { cluster, client } = await startCluster(t, { brokers: 3, kafka: true });
await client.admin().createTopic({ topic: TOPIC, partitions: 3, replicationFactor: 3 });
const kafkaAddressOf = (id: number) => cluster.brokers.get(id)!.kafkaAddress!;

/** One Metadata v8 request to broker `id`'s Kafka listener: for `TOPIC`, or with `every` for every topic. */
async function metadataFrom(id: number, every = false) {
  const raw = await rawKafkaConnection(kafkaAddressOf(id));
  try {
    return await raw.request('Metadata', 8, { topics: every ? null : [{ name: TOPIC }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
  } finally {
    raw.socket.destroy();
  }
}

t.test('a broker whose metadata cannot catch up lists the brokers it knows and asks clients to retry', async (t) => {
  await waitFor('broker 1 answering with all three brokers and the topic', async () => {
    const metadata = await metadataFrom(1);
    return metadata.brokers.length === 3 && metadata.topics[0]?.errorCode === KafkaError.NONE;
  }, 30_000);

  for (const id of [1, 2, 3]) await cluster.stop(id);
  cluster.restart(1);
  const catchingUp = await waitFor('broker 1 alone answering Kafka Metadata', async () => {
    try {
      return await metadataFrom(1);
    } catch {
      return undefined; // not listening yet
    }
  }, 30_000);
  t.equal(catchingUp.topics.length, 1);
  t.equal(catchingUp.topics[0]!.name, TOPIC);
  t.equal(catchingUp.topics[0]!.errorCode, KafkaError.LEADER_NOT_AVAILABLE, 'the topic: LEADER_NOT_AVAILABLE, which clients retry');
  t.ok(catchingUp.brokers.some((b) => b.nodeId === 1 && `${b.host}:${b.port}` === kafkaAddressOf(1)), 'the brokers: broker 1 itself at least');
  t.equal(catchingUp.controllerId, -1, 'no controller named');

  // Every topic: an answer would have to list none, which says there are none. The request
  // waits for the metadata (5 s), then the connection closes unanswered: clients retry.
  const askedAt = performance.now();
  await t.rejects(metadataFrom(1, true), /closed without an answer/, 'Metadata of every topic: no answer, the connection closes');
  t.ok(performance.now() - askedAt >= 4_900, 'after waiting for the metadata to catch up');

  cluster.restart(2);
  cluster.restart(3);
  let withoutTopic = 0;
  await waitFor('broker 1 answering Metadata of every topic', async () => {
    const metadata = await metadataFrom(1, true).catch(() => undefined);
    if (metadata && !metadata.topics.some((topic) => topic.name === TOPIC)) withoutTopic++;
    return metadata?.topics.find((topic) => topic.name === TOPIC)?.partitions.length === 3;
  }, 60_000);
  t.equal(withoutTopic, 0, 'no answer of every topic left the topic out while broker 1 caught up');
  await waitFor('broker 1 answering in full again', async () => {
    const metadata = await metadataFrom(1);
    return metadata.brokers.length === 3 && metadata.topics[0]?.errorCode === KafkaError.NONE && metadata.topics[0].partitions.length === 3;
  }, 60_000);
  t.pass('broker 1 answers in full once the metadata has caught up');
});
