/**
 * The Kafka listener (--kafka-listen) assembled from the broker's parts: its wire
 * (server.ts) with the broker's TLS, its apis (apis.ts) over the broker's one Dispatcher
 * and authorizer, SASL through the native exchange (authentication.ts), and its consumer
 * groups (groups.ts).
 */
import type { Logger } from 'pino';
import { interBrokerAccess } from '../cluster-request.js';
import type { BrokerConfig } from '../config.js';
import type { Controller } from '../controller/controller.js';
import type { HostedReplicas } from '../partition/hosted.js';
import type { BrokerMetrics } from '../ops/metrics.js';
import type { Dispatcher } from '../requests/dispatcher.js';
import type { Authorizer } from '../security/authorizer.js';
import type { BrokerTls } from '../security/tls.js';
import { KafkaApis } from './apis.js';
import { KafkaSasl } from './authentication.js';
import type { KafkaGroups } from './groups.js';
import { KafkaServer } from './server.js';

export interface KafkaListenerParts {
  config: BrokerConfig;
  dispatcher: Dispatcher;
  authorizer: Authorizer | null;
  replicas: HostedReplicas;
  clusterId: string;
  groups: KafkaGroups;
  controller: Controller;
  metrics: BrokerMetrics;
  logger: Logger;
  tls: BrokerTls | undefined;
  /** Whether this broker is connected to that one (the peer transport's view; itself always). */
  reachable: (brokerId: number) => boolean;
}

/** The Kafka listener, or null without --kafka-listen. */
export function kafkaListener(parts: KafkaListenerParts): KafkaServer | null {
  const { config, controller } = parts;
  if (!config.kafkaListen) return null;
  const apis = new KafkaApis({
    dispatcher: parts.dispatcher,
    sasl: new KafkaSasl(config.authn, parts.dispatcher),
    authorizer: parts.authorizer,
    replicas: parts.replicas,
    clusterId: parts.clusterId,
    groups: parts.groups,
    // The controller leader coordinates every group.
    coordinator: () => {
      const leader = controller.state.brokers.get(controller.leaderId);
      return leader?.kafkaAddress ? { nodeId: leader.id, kafkaAddress: leader.kafkaAddress } : null;
    },
    rackOf: (brokerId) => controller.state.brokers.get(brokerId)?.rack,
    knownBrokers: () => {
      const known = [...controller.state.brokers.values()].flatMap((b) => (b.kafkaAddress && b.id !== config.id ? [{ id: b.id, kafkaAddress: b.kafkaAddress, rack: b.rack }] : []));
      return [{ id: config.id, kafkaAddress: config.kafkaAdvertise ?? config.kafkaListen!, rack: config.rack }, ...known].sort((a, b) => a.id - b.id);
    },
    countFetches: (served) => parts.metrics.countKafkaFetches(served),
    access: interBrokerAccess(config, parts.tls),
    topicExists: (name) => controller.state.topics.has(name),
    brokerCount: () => controller.state.brokers.size,
    // The controller leader this broker follows counts as up even while its own dial to it is
    // down: FindCoordinator names it, and a client must find it in Metadata too.
    reachable: (brokerId) => parts.reachable(brokerId) || brokerId === controller.leaderId,
    maxFrameBytes: config.maxFrameBytes,
  });
  return new KafkaServer(config.kafkaListen, config, apis, parts.logger, parts.tls);
}
