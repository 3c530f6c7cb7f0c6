/**
 * `flotilla broker start`: builds a BrokerConfig from the flags, validates it, starts the
 * broker and stops it on SIGINT/SIGTERM.
 *
 * The broker is loaded with a dynamic import so that client commands never load broker
 * code (faster start-up for `produce`/`consume`).
 */
import { parseBootstrapUser, parseInitialCluster, validateBrokerConfig, type AuthnMode, type BrokerConfig, type ClientAuth, type FsyncMode, type TlsSettings } from '../../broker/config.js';
import { FlotillaError } from '../../protocol/errors.js';

export interface BrokerStartOptions {
  id: number;
  listen: string;
  data: string;
  initialCluster?: string;
  join?: string;
  advertise?: string;
  kafkaListen?: string;
  kafkaAdvertise?: string;
  rack?: string;
  fsync?: string;
  logLevel?: string;
  maxFrameBytes?: number;
  maxConnections?: number;
  maxPeerConnections?: number;
  maxConnectionPendingBytes?: number;
  maxPendingResponseBytes?: number;
  maxOpenFiles?: number;
  idleTimeoutMs?: number;
  frameTimeoutMs?: number;
  writeTimeoutMs?: number;
  statsIntervalMs?: number;
  recoveryConcurrency?: number;
  controllerSnapshotEntries?: number;
  metadataSegmentBytes?: number;
  scrubBytesPerSec?: number;
  scrubIntervalMs?: number;
  logCacheBytes?: number;
  httpListen?: string;
  metricsDetail?: string;
  authn?: string;
  superusers?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsClientAuth?: string;
  tlsAllowPlaintext?: boolean;
}

/** Flags → validated BrokerConfig (INVALID_CONFIG naming the flag on a bad value). */
export function brokerConfigFrom(options: BrokerStartOptions): BrokerConfig {
  if (options.initialCluster !== undefined && options.join !== undefined) {
    throw new FlotillaError('INVALID_CONFIG', 'use either --initial-cluster (form a new cluster) or --join (add to an existing one), not both');
  }
  const input: Parameters<typeof validateBrokerConfig>[0] = { id: options.id, listen: options.listen, dataDir: options.data };
  if (options.initialCluster !== undefined) input.initialCluster = parseInitialCluster(options.initialCluster);
  if (options.join !== undefined) input.join = options.join;
  if (options.advertise !== undefined) input.advertise = options.advertise;
  if (options.kafkaListen !== undefined) input.kafkaListen = options.kafkaListen;
  if (options.kafkaAdvertise !== undefined) input.kafkaAdvertise = options.kafkaAdvertise;
  if (options.rack !== undefined) input.rack = options.rack;
  if (options.fsync !== undefined) input.fsync = options.fsync as FsyncMode;
  if (options.logLevel !== undefined) input.logLevel = options.logLevel;
  if (options.maxFrameBytes !== undefined) input.maxFrameBytes = options.maxFrameBytes;
  if (options.maxConnections !== undefined) input.maxConnections = options.maxConnections;
  if (options.maxPeerConnections !== undefined) input.maxPeerConnections = options.maxPeerConnections;
  if (options.maxConnectionPendingBytes !== undefined) input.maxConnectionPendingBytes = options.maxConnectionPendingBytes;
  if (options.maxPendingResponseBytes !== undefined) input.maxPendingResponseBytes = options.maxPendingResponseBytes;
  if (options.maxOpenFiles !== undefined) input.maxOpenFiles = options.maxOpenFiles;
  if (options.idleTimeoutMs !== undefined) input.idleTimeoutMs = options.idleTimeoutMs;
  if (options.frameTimeoutMs !== undefined) input.frameTimeoutMs = options.frameTimeoutMs;
  if (options.writeTimeoutMs !== undefined) input.writeTimeoutMs = options.writeTimeoutMs;
  if (options.statsIntervalMs !== undefined) input.statsIntervalMs = options.statsIntervalMs;
  if (options.recoveryConcurrency !== undefined) input.recoveryConcurrency = options.recoveryConcurrency;
  if (options.controllerSnapshotEntries !== undefined) input.controllerSnapshotEntries = options.controllerSnapshotEntries;
  if (options.metadataSegmentBytes !== undefined) input.metadataSegmentBytes = options.metadataSegmentBytes;
  if (options.scrubBytesPerSec !== undefined) input.scrubBytesPerSec = options.scrubBytesPerSec;
  if (options.scrubIntervalMs !== undefined) input.scrubIntervalMs = options.scrubIntervalMs;
  if (options.logCacheBytes !== undefined) input.logCacheBytes = options.logCacheBytes;
  if (options.httpListen !== undefined) input.httpListen = options.httpListen;
  if (options.metricsDetail !== undefined) input.metricsDetail = options.metricsDetail as BrokerConfig['metricsDetail'];
  if (options.authn !== undefined) input.authn = options.authn as AuthnMode;
  if (options.superusers !== undefined) input.superusers = options.superusers.split(',').map((name) => name.trim()).filter(Boolean);
  const bootstrapUser = parseBootstrapUser(process.env.FLOTILLA_BOOTSTRAP_USER);
  if (bootstrapUser) input.bootstrapUser = bootstrapUser;
  const tls = tlsSettingsFrom(options);
  if (tls) input.tls = tls;
  return validateBrokerConfig(input);
}

/** --tls-cert and --tls-key turn TLS on; the other TLS flags need them. */
function tlsSettingsFrom(options: BrokerStartOptions): TlsSettings | undefined {
  if (options.tlsCert === undefined && options.tlsKey === undefined) {
    const stray = [options.tlsCa && '--tls-ca', options.tlsClientAuth && '--tls-client-auth', options.tlsAllowPlaintext && '--tls-allow-plaintext'].filter(Boolean);
    if (stray.length > 0) throw new FlotillaError('INVALID_CONFIG', `${stray.join(', ')} need TLS on: give --tls-cert FILE and --tls-key FILE too`);
    return undefined;
  }
  if (options.tlsCert === undefined || options.tlsKey === undefined) throw new FlotillaError('INVALID_CONFIG', 'TLS needs both --tls-cert FILE and --tls-key FILE');
  const settings: TlsSettings = {
    certFile: options.tlsCert,
    keyFile: options.tlsKey,
    clientAuth: (options.tlsClientAuth ?? 'none') as ClientAuth,
    allowPlaintext: options.tlsAllowPlaintext ?? false,
  };
  if (options.tlsCa !== undefined) settings.caFile = options.tlsCa;
  return settings;
}

/** Resolves with the exit status once the broker stopped after a signal. */
export async function brokerStartCommand(options: BrokerStartOptions): Promise<number> {
  const config = brokerConfigFrom(options);
  const { startBroker } = await import('../../broker/main.js');
  const running: { stop(): Promise<void>; reloadTls(): void } = await startBroker(config);
  // SIGHUP reloads the TLS certificate (and no longer ends the process, Node's default).
  process.on('SIGHUP', () => running.reloadTls());
  return new Promise<number>((resolve) => {
    let firstSignal: NodeJS.Signals | null = null;
    const stop = (signal: NodeJS.Signals): void => {
      if (firstSignal !== null) {
        // Ctrl-C in a terminal reaches both `flotilla dev` and its brokers, and dev then
        // sends SIGTERM: a different second signal is the same request. The same signal
        // again means the user does not want to wait for a clean stop.
        if (signal !== firstSignal) return;
        process.stderr.write(`broker ${config.id}: ${signal} again, exiting without a clean stop\n`);
        process.exit(1);
      }
      firstSignal = signal;
      running.stop().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`error: INTERNAL: broker ${config.id} did not stop cleanly: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
