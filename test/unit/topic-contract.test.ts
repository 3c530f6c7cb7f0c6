// One contract: the client's admin and the broker's request handler give the same verdict
// on the same topic name, partition count and settings.
import t from 'tap';
import { CLIENT_API_VERSION, decodeRequest, encodeRequest } from '../../protocol/codec.js';
import { errorFromWire, FlotillaError } from '../../protocol/errors.js';
import { MAX_PARTITIONS, MAX_TOPIC_NAME_LENGTH, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES } from '../../protocol/topics.js';
import { Admin } from '../../client/admin/admin.js';
import type { Cluster } from '../../client/cluster/cluster.js';
import type { ClientRequest, TopicConfigInput } from '../../client/network/api.js';
import { requestBody } from '../../client/network/wire.js';
import { ControllerState, type ControllerCommand } from '../../broker/controller/state.js';
import type { Controller } from '../../broker/controller/controller.js';
import { adminHandlers, type AdminBroker } from '../../broker/admin/admin-handlers.js';
import { Dispatcher, type RequestContext } from '../../broker/requests/dispatcher.js';

interface Input {
  topic: string;
  partitions: number;
  config?: TopicConfigInput;
}

type Verdict = 'accepted' | { code: string; message: string };

const verdictOf = (error: unknown): Verdict => {
  if (!(error instanceof FlotillaError)) throw error;
  return { code: error.code, message: error.message };
};

const REPLICATION = 3;

/** The client's verdict: whether admin.createTopic sends the request, or why not. */
async function clientVerdict(input: Input): Promise<Verdict> {
  let sent = false;
  const cluster = {
    options: { requestTimeoutMs: 1000 },
    controllerRequest: async () => {
      sent = true;
      throw new Error('stop after sending');
    },
  } as unknown as Cluster;
  try {
    await new Admin(cluster).createTopic({ ...input, replicationFactor: REPLICATION });
  } catch (error) {
    return sent ? 'accepted' : verdictOf(error);
  }
  throw new Error('unreachable: the stub never answers');
}

/** The broker's verdict on the request an unchecking client would send: proposed, or the topic's error. */
async function brokerVerdict(input: Input): Promise<Verdict> {
  const state = new ControllerState();
  for (let id = 1; id <= REPLICATION; id++) state.apply({ type: 'registerBroker', id, address: `127.0.0.1:${9000 + id}` });
  let proposed = false;
  const controller = {
    isLeader: true,
    leaderCaughtUp: true,
    stillCatchingUp: () => new FlotillaError('LEADER_NOT_AVAILABLE', 'catching up'),
    state,
    placing: <T>(plan: () => Promise<T>) => plan(),
    propose: async (command: ControllerCommand) => {
      proposed = true;
      state.apply(command);
    },
  } as unknown as Controller;
  const broker = { controller } as unknown as AdminBroker;
  const dispatcher = new Dispatcher(adminHandlers(broker));
  const request: ClientRequest = { type: 'createTopic', topic: input.topic, partitions: input.partitions, replicationFactor: REPLICATION, config: input.config ?? {}, timeoutMs: 1000 };
  const wire = decodeRequest(encodeRequest({ correlationId: 1, apiVersion: CLIENT_API_VERSION, ...requestBody(request) }));
  const response = (await dispatcher.dispatch(wire, { session: {} } as unknown as RequestContext)) as { createTopics: { results: Array<{ error?: { code: number; message: string } }> } };
  const error = response.createTopics.results[0]?.error;
  if (error) return verdictOf(errorFromWire(error.code, error.message));
  t.ok(proposed, 'an accepted topic is proposed');
  return 'accepted';
}

const inputs: Input[] = [
  { topic: 'orders', partitions: 1 },
  { topic: 'a', partitions: MAX_PARTITIONS },
  { topic: 'A-z_0.9', partitions: 6 },
  { topic: 'x'.repeat(MAX_TOPIC_NAME_LENGTH), partitions: 1 },
  { topic: 'x'.repeat(MAX_TOPIC_NAME_LENGTH + 1), partitions: 1 },
  { topic: 'x'.repeat(249), partitions: 1 },
  { topic: '', partitions: 1 },
  { topic: '.', partitions: 1 },
  { topic: '..', partitions: 1 },
  { topic: 'with space', partitions: 1 },
  { topic: 'slash/name', partitions: 1 },
  { topic: 'ünïcode', partitions: 1 },
  { topic: 'orders', partitions: MAX_PARTITIONS + 1 },
  { topic: 'orders', partitions: 100_000 },
  { topic: 'orders', partitions: 1, config: { retentionMs: -1, retentionBytes: -1, segmentBytes: MIN_SEGMENT_BYTES } },
  { topic: 'orders', partitions: 1, config: { retentionMs: 60_000, retentionBytes: 1 << 30, segmentBytes: MAX_SEGMENT_BYTES } },
  { topic: 'orders', partitions: 1, config: { retentionMs: 0 } },
  { topic: 'orders', partitions: 1, config: { retentionMs: -2 } },
  { topic: 'orders', partitions: 1, config: { retentionBytes: 0 } },
  { topic: 'orders', partitions: 1, config: { segmentBytes: 1024 } },
  { topic: 'orders', partitions: 1, config: { segmentBytes: MIN_SEGMENT_BYTES - 1 } },
  { topic: 'orders', partitions: 1, config: { segmentBytes: MAX_SEGMENT_BYTES + 1 } },
];

t.test('client and broker give the same verdict on every topic name, partition count and setting', async (t) => {
  for (const input of inputs) {
    const label = `${JSON.stringify(input.topic.length > 20 ? `${input.topic.slice(0, 8)}…(${input.topic.length})` : input.topic)}, ${input.partitions} partitions, ${JSON.stringify(input.config ?? {})}`;
    const fromClient = await clientVerdict(input);
    t.same(await brokerVerdict(input), fromClient, label);
  }
  const verdicts = await Promise.all(inputs.map(clientVerdict));
  t.equal(verdicts.filter((v) => v === 'accepted').length, 6, 'the valid inputs are accepted');
});
