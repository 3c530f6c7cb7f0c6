/**
 * Client options: one defaults object, validated once in the Client constructor.
 */
import { SCRAM_MECHANISMS, type ScramMechanism } from '../protocol/scram.js';
import { splitAddress } from './network/connection.js';
import type { ClientLogger } from './logger.js';
import { defined, invalid, rejectUnknown, requireInteger, requireOneOf } from './validate.js';

/** SASL/SCRAM credentials: every connection the client opens authenticates with them first. */
export interface SaslOptions {
  mechanism: ScramMechanism;
  username: string;
  password: string;
}

export interface ClientOptions {
  /** Bootstrap brokers, HOST:PORT; any one reachable broker is enough. */
  brokers: string[];
  /** Names this application in the brokers' logs. */
  clientId?: string;
  /** A pino logger (or anything with debug/info/warn/error/child); silent when absent. */
  logger?: ClientLogger;
  /** How long one request may wait for its response before failing with TIMEOUT. */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Largest response frame accepted from a broker. */
  maxFrameBytes?: number;
  /** First wait between retries of a retriable error; doubles up to maxRetryBackoffMs. */
  retryBackoffMs?: number;
  maxRetryBackoffMs?: number;
  /** Metadata older than this is refreshed before use even without an error. */
  metadataMaxAgeMs?: number;
  /** Authenticate every connection (for brokers started with --authn scram). */
  sasl?: SaslOptions;
}

export const CLIENT_DEFAULTS = {
  clientId: 'flotilla-client',
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  maxFrameBytes: 16 * 1024 * 1024,
  retryBackoffMs: 100,
  maxRetryBackoffMs: 2_000,
  metadataMaxAgeMs: 5 * 60_000,
};

export type ResolvedClientOptions = typeof CLIENT_DEFAULTS & { brokers: string[]; logger?: ClientLogger; sasl?: SaslOptions };

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (options === null || typeof options !== 'object') throw invalid('new Client(options) needs an options object, for example { brokers: ["127.0.0.1:7401"] }');
  rejectUnknown('client', options, { ...CLIENT_DEFAULTS, brokers: 1, logger: 1, sasl: 1 });
  const resolved = { ...CLIENT_DEFAULTS, ...defined(options) } as ResolvedClientOptions;
  if (!Array.isArray(resolved.brokers) || resolved.brokers.length === 0) {
    throw invalid('client option brokers must list at least one broker as HOST:PORT, for example ["127.0.0.1:7401"]');
  }
  for (const address of resolved.brokers) {
    if (typeof address !== 'string') throw invalid(`client option brokers must hold HOST:PORT strings, got ${JSON.stringify(address)}`);
    splitAddress(address);
  }
  if (typeof resolved.clientId !== 'string' || resolved.clientId === '') throw invalid('client option clientId must be a non-empty string');
  requireInteger('client', 'requestTimeoutMs', resolved.requestTimeoutMs, 1);
  requireInteger('client', 'connectTimeoutMs', resolved.connectTimeoutMs, 1);
  requireInteger('client', 'maxFrameBytes', resolved.maxFrameBytes, 1024);
  requireInteger('client', 'retryBackoffMs', resolved.retryBackoffMs, 0);
  requireInteger('client', 'maxRetryBackoffMs', resolved.maxRetryBackoffMs, resolved.retryBackoffMs);
  requireInteger('client', 'metadataMaxAgeMs', resolved.metadataMaxAgeMs, 0);
  if (resolved.sasl !== undefined) {
    const sasl = resolved.sasl;
    if (sasl === null || typeof sasl !== 'object') throw invalid('client option sasl must be { mechanism, username, password }');
    rejectUnknown('client sasl', sasl, { mechanism: 1, username: 1, password: 1 });
    requireOneOf('client', 'sasl.mechanism', sasl.mechanism, SCRAM_MECHANISMS);
    if (typeof sasl.username !== 'string' || sasl.username === '') throw invalid('client option sasl.username must be a non-empty string');
    if (typeof sasl.password !== 'string') throw invalid('client option sasl.password must be a string');
  }
  return resolved;
}
