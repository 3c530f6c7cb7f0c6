/**
 * What the data directory remembers about the cluster (`cluster.json`): written at the
 * first start from --initial-cluster, or by `--join` from the cluster's answer, and from
 * then on it wins over command-line flags.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FlotillaError } from '../protocol/errors.js';
import { controllerRequest, interBrokerAccess } from './cluster-request.js';
import type { BrokerConfig } from './config.js';
import type { BrokerTls } from './security/tls.js';
import { replaceFileSync } from './storage/files.js';

const CLUSTER_FILE = 'cluster.json';

export interface ClusterFile {
  clusterId: string;
  brokerId: number;
  initialCluster: Array<[number, string]>;
  /** Set by --join: who voted on the metadata when this broker joined. */
  controllerVoters?: number[];
}

/** The data directory's cluster file, written from the flags when it has none yet. */
export function loadClusterFile(config: BrokerConfig): ClusterFile {
  const path = join(config.dataDir, CLUSTER_FILE);
  if (existsSync(path)) {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as ClusterFile;
    if (saved.brokerId !== config.id) {
      throw new FlotillaError('INVALID_CONFIG', `data directory ${config.dataDir} belongs to broker ${saved.brokerId}, not --id ${config.id}`);
    }
    return saved;
  }
  if (config.initialCluster.size === 0) {
    throw new FlotillaError('INVALID_CONFIG', 'a new data directory needs --initial-cluster or --join HOST:PORT');
  }
  const file: ClusterFile = { clusterId: config.clusterId, brokerId: config.id, initialCluster: [...config.initialCluster] };
  replaceFileSync(path, JSON.stringify(file));
  return file;
}

/** Whether `--join` still has to register this broker: its data directory knows no cluster yet. */
export function needsToJoin(config: BrokerConfig): boolean {
  return !!config.join && !existsSync(join(config.dataDir, CLUSTER_FILE));
}

/**
 * `--join`: registers this broker through any member (followed to the controller), and
 * records what the cluster answered in the data directory, which from then on wins.
 */
export async function joinCluster(config: BrokerConfig, logger: Logger, tls?: BrokerTls): Promise<void> {
  logger.info({ via: config.join }, 'joining the cluster');
  const response = await controllerRequest([config.join!], { registerBroker: { brokerId: config.id, address: config.advertise, kafkaAddress: config.kafkaAdvertise ?? '', rack: config.rack ?? '' } }, 60_000, interBrokerAccess(config, tls));
  const answer = response.registerBroker!;
  const file: ClusterFile = {
    clusterId: answer.clusterId,
    brokerId: config.id,
    initialCluster: answer.brokers.map((b) => [b.id, b.address]),
    controllerVoters: [...answer.controllerVoters],
  };
  mkdirSync(config.dataDir, { recursive: true });
  replaceFileSync(join(config.dataDir, CLUSTER_FILE), JSON.stringify(file));
  logger.info({ clusterId: answer.clusterId, controller: answer.controllerId }, 'joined the cluster');
}
