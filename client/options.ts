/**
 * Client options: one defaults object, validated once in the Client constructor.
 */
import { SCRAM_MECHANISMS, type ScramMechanism } from '../protocol/scram.js';
import { splitAddress } from './network/connection.js';
import type { ClientLogger } from './logger.js';
import { defined, invalid, rejectUnknown, requireBoolean, requireInteger, requireOneOf } from './validate.js';

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
  /** TLS to every broker: true (the system's CAs, no client certificate) or the details. */
  tls?: boolean | ClientTlsOptions;
}

/** TLS settings (kafkajs-style): PEM contents, not file names. */
export interface ClientTlsOptions {
  /** CA certificates that sign the brokers' certificates; default: the system's. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** A client certificate and its key, for brokers that ask for one (--tls-client-auth). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the brokers' certificates must carry; default: the host dialled. */
  servername?: string;
  /** false accepts any broker certificate (for testing only: anyone can then pose as a broker). */
  rejectUnauthorized?: boolean;
}

const TLS_OPTION_NAMES = { ca: 1, cert: 1, key: 1, servername: 1, rejectUnauthorized: 1 };

export const CLIENT_DEFAULTS = {
  clientId: 'flotilla-client',
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  maxFrameBytes: 16 * 1024 * 1024,
  retryBackoffMs: 100,
  maxRetryBackoffMs: 2_000,
  metadataMaxAgeMs: 5 * 60_000,
};

export type ResolvedClientOptions = typeof CLIENT_DEFAULTS & { brokers: string[]; logger?: ClientLogger; sasl?: SaslOptions; tls?: ClientTlsOptions };

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (options === null || typeof options !== 'object') throw invalid('new Client(options) needs an options object, for example { brokers: ["127.0.0.1:7401"] }');
  rejectUnknown('client', options, { ...CLIENT_DEFAULTS, brokers: 1, logger: 1, sasl: 1, tls: 1 });
  const { tls, ...rest } = options;
  const resolved = { ...CLIENT_DEFAULTS, ...defined(rest) } as ResolvedClientOptions;
  const tlsOptions = resolveTls(tls);
  if (tlsOptions) resolved.tls = tlsOptions;
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

/** true: TLS with the defaults; false or absent: plaintext. */
function resolveTls(tls: ClientOptions['tls']): ClientTlsOptions | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return {};
  if (tls === null || typeof tls !== 'object') throw invalid(`client option tls must be true, false or { ca, cert, key, servername, rejectUnauthorized }, got ${JSON.stringify(tls)}`);
  rejectUnknown('client tls', tls, TLS_OPTION_NAMES);
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw invalid('client option tls needs both cert and key (PEM contents), or neither');
  if (tls.rejectUnauthorized !== undefined) requireBoolean('client', 'tls.rejectUnauthorized', tls.rejectUnauthorized);
  return { ...defined(tls) };
}
