/**
 * Broker configuration: one defaults object, one validator, errors that name the fix.
 */
import { FlotillaError } from '../protocol/errors.js';
import { defaultRaftOptions } from './raft/raft.js';
import { DEFAULT_SCRUB_INTERVAL_MS } from './storage/scrubber.js';
import { DEFAULT_TAIL_CACHE_BYTES } from './storage/tail-cache.js';

const RAFT_DEFAULTS = defaultRaftOptions();

export type FsyncMode = 'always' | 'batch' | 'never';
/** How clients prove who they are (--authn); anything but none also turns authorization on. */
export type AuthnMode = 'none' | 'scram' | 'mtls';

/** NAME:PASSWORD of env FLOTILLA_BOOTSTRAP_USER. */
export interface BootstrapUser {
  name: string;
  password: string;
}

/** Whether TLS clients show a certificate (--tls-client-auth); peers always must. */
export type ClientAuth = 'none' | 'request' | 'require';

/** TLS on the broker's port (SPEC section 9). */
export interface TlsSettings {
  /** PEM files (--tls-cert, --tls-key, --tls-ca); reloaded on SIGHUP and when they change. */
  certFile: string;
  keyFile: string;
  /** Trusted CAs for peers' and clients' certificates; absent: the system's. */
  caFile?: string;
  clientAuth: ClientAuth;
  /** Also accept plaintext connections, and dial peers in plaintext when they do not speak TLS (migration only). */
  allowPlaintext: boolean;
}

export interface BrokerConfig {
  id: number;
  /** host:port to listen on. */
  listen: string;
  /** host:port other brokers and clients should use; defaults to `listen`. */
  advertise: string;
  /** host:port of the Kafka listener (SPEC section 11); none when undefined. */
  kafkaListen?: string;
  /** host:port Kafka clients should use; defaults to `kafkaListen`. */
  kafkaAdvertise?: string;
  /** The rack (or zone) this broker stands in, for Kafka clients' follower fetching; none when undefined. */
  rack?: string;
  dataDir: string;
  /** Static cluster: broker id → host:port. Empty when joining. */
  initialCluster: Map<number, string>;
  /** An existing member to register through, instead of initialCluster. */
  join?: string;
  clusterId: string;
  fsync: FsyncMode;
  /** Interval of the background fsync in `batch` mode. */
  fsyncIntervalMs: number;
  logLevel: string;
  maxFrameBytes: number;
  /** Client connections (type byte 0x01). */
  maxConnections: number;
  /** Inbound peer connections (type byte 0x02), counted apart so clients never lock out replication. */
  maxPeerConnections: number;
  /**
   * Files the storage may hold open; undefined: the budget derived from `ulimit -n`
   * (broker/fd-budget.ts). A value above that budget is lowered to it.
   */
  maxOpenFiles?: number;
  idleTimeoutMs: number;
  frameTimeoutMs: number;
  /** A client connection that takes none of its responses for this long is closed (server/write-timeout.ts). */
  writeTimeoutMs: number;
  /** One Raft tick; election and heartbeat timeouts are counted in ticks. */
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Response bytes one client connection may hold (read, or unsent) before it is not read. */
  maxConnectionPendingBytes: number;
  /** Response bytes all client connections together may hold; requests wait beyond it. */
  maxPendingResponseBytes: number;
  /** Upper bound for a fetch's long-poll wait. */
  maxFetchWaitMs: number;
  /** Log a statistics line this often; 0 for never. */
  statsIntervalMs: number;
  /** Groups this broker may catch up one lagging broker with at once (0: no limit). */
  recoveryConcurrency: number;
  /** Compact the metadata log after this many applied offsets since the last snapshot. */
  controllerSnapshotEntries: number;
  /** Segment size of the metadata log: compaction frees whole segments, the scrubber checks sealed ones. */
  metadataSegmentBytes: number;
  /** Read rate of the background scrubber of sealed segments (broker/storage/scrubber.ts); 0 = off. */
  scrubBytesPerSec: number;
  /** Least time from one scrub pass's start to the next's. */
  scrubIntervalMs: number;
  /** Bytes of the newest batches kept in memory across every log (broker/storage/tail-cache.ts); 0 = none. */
  logCacheBytes: number;
  /** host:port of the operations endpoints (metrics, health); none when undefined. */
  httpListen?: string;
  /** Labels of the data metrics: per topic, or per topic and partition (series grow with partitions). */
  metricsDetail: 'topic' | 'partition';
  authn: AuthnMode;
  /** User names that bypass every ACL (--superusers); at least one unless authn is none. */
  superusers: string[];
  /**
   * env FLOTILLA_BOOTSTRAP_USER: the superuser whose SCRAM credential the controller
   * leader creates once, when the cluster first forms; brokers also authenticate to each
   * other as this user (registration, move reports).
   */
  bootstrapUser?: BootstrapUser;
  /** TLS for clients and peers; absent: plaintext. */
  tls?: TlsSettings;
}

export const BROKER_DEFAULTS = {
  clusterId: 'flotilla',
  fsync: 'always' as FsyncMode,
  fsyncIntervalMs: 100,
  logLevel: 'info',
  maxFrameBytes: 16 * 1024 * 1024,
  maxConnections: 10_000,
  // Each peer keeps one connection to this broker; the rest is room for reconnects.
  maxPeerConnections: 1024,
  idleTimeoutMs: 10 * 60 * 1000,
  frameTimeoutMs: 30_000,
  // Long enough for a slow link to take a full fetch, short enough that clients which stopped
  // reading do not hold the response budgets (and every other client) for long.
  writeTimeoutMs: 30_000,
  // 100 ms ticks: heartbeat every 100 ms, election timeout 1-2 s (randomized in [10, 20) ticks).
  tickMs: 100,
  electionTicks: RAFT_DEFAULTS.electionTicks,
  heartbeatTicks: RAFT_DEFAULTS.heartbeatTicks,
  // Two full fetches per connection; the broker's total stays well within a small machine.
  maxConnectionPendingBytes: 32 * 1024 * 1024,
  maxPendingResponseBytes: 256 * 1024 * 1024,
  maxFetchWaitMs: 30_000,
  statsIntervalMs: 0,
  // Enough to keep a returning broker's disk and network busy, few enough not to drown it.
  recoveryConcurrency: 32,
  controllerSnapshotEntries: 10_000,
  // About 3,000 metadata entries: a few segments per snapshot interval, so compaction frees
  // disk and the scrubber sees sealed segments (the active one is never scrubbed).
  metadataSegmentBytes: 1024 * 1024,
  // 8 MiB/s, about 675 GiB a day: a full disk of that size is scrubbed in about a day, for
  // a small share of a disk's bandwidth (a SATA SSD reads ~500 MB/s, a hard disk ~150 MB/s).
  scrubBytesPerSec: 8 * 1024 * 1024,
  scrubIntervalMs: DEFAULT_SCRUB_INTERVAL_MS,
  logCacheBytes: DEFAULT_TAIL_CACHE_BYTES,
  metricsDetail: 'topic' as 'topic' | 'partition',
  authn: 'none' as AuthnMode,
  superusers: [] as string[],
};

/** Parses env FLOTILLA_BOOTSTRAP_USER (NAME:PASSWORD; the password may hold colons). */
export function parseBootstrapUser(value: string | undefined): BootstrapUser | undefined {
  if (value === undefined || value === '') return undefined;
  const colon = value.indexOf(':');
  if (colon < 1 || colon === value.length - 1) throw new FlotillaError('INVALID_CONFIG', 'FLOTILLA_BOOTSTRAP_USER must look like NAME:PASSWORD');
  return { name: value.slice(0, colon), password: value.slice(colon + 1) };
}

export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || !(port > 0 && port < 65536)) {
    throw new FlotillaError('INVALID_CONFIG', `${what} must be HOST:PORT (for example 127.0.0.1:7401), got "${value}"`);
  }
  return { host: match[1], port };
}

/** Parses "1=host:port,2=host:port". */
export function parseInitialCluster(value: string): Map<number, string> {
  const members = new Map<number, string>();
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [id, address] = part.split('=');
    const brokerId = Number(id);
    if (!Number.isSafeInteger(brokerId) || brokerId < 1 || !address) {
      throw new FlotillaError('INVALID_CONFIG', `--initial-cluster entries must look like 1=127.0.0.1:7401, got "${part}"`);
    }
    parseHostPort(address, `--initial-cluster address of broker ${brokerId}`);
    if (members.has(brokerId)) throw new FlotillaError('INVALID_CONFIG', `--initial-cluster names broker ${brokerId} twice`);
    members.set(brokerId, address);
  }
  return members;
}

/** A rack name: what Kafka clients send as client.rack, so printable, no spaces, at most 255 bytes. */
function validateRack(rack: string): void {
  if (!/^[\x21-\x7e]{1,255}$/.test(rack)) {
    throw new FlotillaError('INVALID_CONFIG', `--rack must be 1-255 printable ASCII characters without spaces (as a Kafka client's client.rack), got "${rack}"`);
  }
}

export function validateBrokerConfig(input: Partial<BrokerConfig> & Pick<BrokerConfig, 'id' | 'listen' | 'dataDir'>): BrokerConfig {
  const config: BrokerConfig = {
    ...BROKER_DEFAULTS,
    advertise: input.listen,
    initialCluster: new Map(),
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  } as BrokerConfig;
  if (!Number.isSafeInteger(config.id) || config.id < 1) {
    throw new FlotillaError('INVALID_CONFIG', `--id must be a positive integer, got ${String(config.id)}`);
  }
  parseHostPort(config.listen, '--listen');
  parseHostPort(config.advertise, '--advertise');
  if (config.kafkaAdvertise !== undefined && config.kafkaListen === undefined) {
    throw new FlotillaError('INVALID_CONFIG', '--kafka-advertise needs --kafka-listen');
  }
  if (config.kafkaListen !== undefined) {
    parseHostPort(config.kafkaListen, '--kafka-listen');
    config.kafkaAdvertise ??= config.kafkaListen;
    parseHostPort(config.kafkaAdvertise, '--kafka-advertise');
  }
  if (config.rack !== undefined) validateRack(config.rack);
  if (!config.dataDir) throw new FlotillaError('INVALID_CONFIG', '--data DIR is required');
  if (!['always', 'batch', 'never'].includes(config.fsync)) {
    throw new FlotillaError('INVALID_CONFIG', `--fsync must be always, batch or never, got "${config.fsync}"`);
  }
  for (const key of ['maxFrameBytes', 'maxConnections', 'maxPeerConnections', 'maxConnectionPendingBytes', 'maxPendingResponseBytes', 'idleTimeoutMs', 'frameTimeoutMs', 'writeTimeoutMs', 'scrubIntervalMs', 'tickMs', 'electionTicks', 'heartbeatTicks', 'controllerSnapshotEntries'] as const) {
    if (!Number.isSafeInteger(config[key]) || config[key] <= 0) {
      throw new FlotillaError('INVALID_CONFIG', `${key} must be a positive integer, got ${String(config[key])}`);
    }
  }
  if (config.heartbeatTicks >= config.electionTicks) {
    throw new FlotillaError('INVALID_CONFIG', 'heartbeatTicks must be smaller than electionTicks');
  }
  if (!Number.isSafeInteger(config.recoveryConcurrency) || config.recoveryConcurrency < 0) {
    throw new FlotillaError('INVALID_CONFIG', `--recovery-concurrency must be 0 (no limit) or a positive integer, got ${String(config.recoveryConcurrency)}`);
  }
  if (!Number.isSafeInteger(config.metadataSegmentBytes) || config.metadataSegmentBytes < 4096 || config.metadataSegmentBytes > 1024 * 1024 * 1024) {
    throw new FlotillaError('INVALID_CONFIG', `--metadata-segment-bytes must be an integer from 4096 to 1 GiB, got ${String(config.metadataSegmentBytes)}`);
  }
  if (!Number.isSafeInteger(config.scrubBytesPerSec) || config.scrubBytesPerSec < 0) {
    throw new FlotillaError('INVALID_CONFIG', `--scrub-bytes-per-sec must be 0 (off) or a positive integer, got ${String(config.scrubBytesPerSec)}`);
  }
  if (!Number.isSafeInteger(config.logCacheBytes) || config.logCacheBytes < 0) {
    throw new FlotillaError('INVALID_CONFIG', `--log-cache-bytes must be 0 (none) or a positive integer, got ${String(config.logCacheBytes)}`);
  }
  if (config.httpListen !== undefined) parseHostPort(config.httpListen, '--http-listen');
  if (config.metricsDetail !== 'topic' && config.metricsDetail !== 'partition') {
    throw new FlotillaError('INVALID_CONFIG', `--metrics-detail must be topic or partition, got "${String(config.metricsDetail)}"`);
  }
  if (config.maxOpenFiles !== undefined && (!Number.isSafeInteger(config.maxOpenFiles) || config.maxOpenFiles < 8)) {
    throw new FlotillaError('INVALID_CONFIG', `--max-open-files must be an integer >= 8, got ${String(config.maxOpenFiles)}`);
  }
  if (config.tls && !['none', 'request', 'require'].includes(config.tls.clientAuth)) {
    throw new FlotillaError('INVALID_CONFIG', `--tls-client-auth must be none, request or require, got "${config.tls.clientAuth}"`);
  }
  if (config.maxFrameBytes < 1024) throw new FlotillaError('INVALID_CONFIG', '--max-frame-bytes must be at least 1024');
  if (!['none', 'scram', 'mtls'].includes(config.authn)) {
    throw new FlotillaError('INVALID_CONFIG', `--authn must be none, scram or mtls, got "${config.authn}"`);
  }
  if (config.authn !== 'none' && config.superusers.length === 0) {
    throw new FlotillaError('INVALID_CONFIG', `--authn ${config.authn} turns authorization on and needs --superusers NAME[,NAME...]: without a superuser nobody could create the first ACL`);
  }
  if (config.authn === 'scram' && !config.bootstrapUser) {
    throw new FlotillaError('INVALID_CONFIG', '--authn scram needs env FLOTILLA_BOOTSTRAP_USER=NAME:PASSWORD: brokers authenticate to each other as that superuser (and it is created when a new cluster forms)');
  }
  if (config.bootstrapUser && config.authn !== 'none' && !config.superusers.includes(config.bootstrapUser.name)) {
    throw new FlotillaError('INVALID_CONFIG', `the bootstrap user "${config.bootstrapUser.name}" (FLOTILLA_BOOTSTRAP_USER) must be one of --superusers`);
  }
  if (config.initialCluster.size > 0 && !config.initialCluster.has(config.id)) {
    throw new FlotillaError('INVALID_CONFIG', `--initial-cluster does not name this broker's --id ${config.id}`);
  }
  return config;
}

/**
 * The largest Raft entry (a produced batch, a metadata command) this broker takes: with its
 * append's envelope it must fit in one peer frame, or no follower could ever receive it and
 * the partition would commit nothing after it. --max-frame-bytes less 64 KiB, or half of it
 * when it is that small.
 */
export function maxEntryBytes(config: Pick<BrokerConfig, 'maxFrameBytes'>): number {
  return Math.max(Math.floor(config.maxFrameBytes / 2), config.maxFrameBytes - 64 * 1024);
}

/**
 * The entry bytes one append carries (Raft's maxBytesPerMsg, 1 MiB at most): a quarter of
 * the largest entry, which leaves room in a frame for each entry's own fields when the
 * entries are small. A single larger entry still goes alone.
 */
export function appendBytes(config: Pick<BrokerConfig, 'maxFrameBytes'>): number {
  return Math.min(1 << 20, Math.floor(maxEntryBytes(config) / 4));
}
