/**
 * A metadata command must fit in one peer frame: on a broker with a small --max-frame-bytes,
 * a topic with too many partitions for one metadata entry is refused with a clear error,
 * natively (RECORD_TOO_LARGE) and through Kafka (INVALID_PARTITIONS), and nothing is
 * created; a smaller topic still is.
 */
import t from 'tap';
import { rawKafkaConnection } from './kafka-raw.js';
import { startCluster } from './cluster.js';

const { cluster, client } = await startCluster(t, { brokers: 1, kafka: true, extraArgs: ['--max-frame-bytes', String(256 * 1024)] });

t.test('a topic too large for one metadata entry is refused with what to do; a smaller one is created', async (t) => {
  await t.rejects(client.admin().createTopic({ topic: 'wide', partitions: 8000, replicationFactor: 1 }), { code: 'RECORD_TOO_LARGE', message: /createTopic command is \d+ bytes, over the \d+ a metadata entry may have: make it smaller .* raise --max-frame-bytes/ });
  const raw = await rawKafkaConnection(cluster.kafkaBootstrap[0]!);
  t.teardown(() => raw.socket.destroy());
  const answer = await raw.request('CreateTopics', 4, { topics: [{ name: 'wide-kafka', numPartitions: 8000, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
  t.same([answer.topics[0]!.errorCode, /raise --max-frame-bytes/.test(answer.topics[0]!.errorMessage ?? '')], [37, true], 'Kafka: INVALID_PARTITIONS, with the same advice');
  t.same((await client.admin().listTopics()).filter((name) => name.startsWith('wide')), [], 'nothing created');
  await client.admin().createTopic({ topic: 'narrow', partitions: 100, replicationFactor: 1 });
  t.ok((await client.admin().listTopics()).includes('narrow'), 'a topic that fits is created');
});
