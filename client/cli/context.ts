/**
 * What every CLI command shares: the global options, a client built from them, the
 * exit-status convention and the one-line error format.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Client } from '../client.js';
import type { ClientOptions, ClientTlsOptions, SaslOptions } from '../options.js';
import { FlotillaError } from '../../protocol/errors.js';
import { isScramMechanism, SCRAM_MECHANISMS } from '../../protocol/scram.js';
import { parseBrokerList } from './format.js';

export interface GlobalOptions {
  brokers: string[];
  json: boolean;
  /** How long one request waits for its answer (--timeout-ms). */
  timeoutMs: number;
  /** --tls and friends; absent: plaintext. */
  tls?: ClientTlsOptions;
  /** Who every request authenticates as (--user or FLOTILLA_USER); absent: no authentication. */
  sasl?: SaslOptions;
}

/** A usage error raised after commander parsed the arguments (exit status 2). */
export class UsageError extends Error {}

/** The global options as a command's action sees them; a bad --brokers is a usage error. */
export function globalsOf(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals<{ brokers: string; json?: boolean; timeoutMs: number } & TlsFlags & LoginOptions>();
  let brokers: string[];
  try {
    brokers = parseBrokerList(opts.brokers);
  } catch (err) {
    throw new UsageError(`--brokers: ${(err as Error).message}`);
  }
  const tls = tlsOf(opts);
  const sasl = saslOf(opts);
  return { brokers, json: Boolean(opts.json), timeoutMs: opts.timeoutMs, ...(tls ? { tls } : {}), ...(sasl ? { sasl } : {}) };
}

interface TlsFlags {
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** TLS is on with --tls, any file option, or FLOTILLA_TLS_CA; files are read here. */
function tlsOf(flags: TlsFlags): ClientTlsOptions | undefined {
  const caFile = flags.tlsCa ?? (process.env['FLOTILLA_TLS_CA']?.trim() || undefined);
  if (!flags.tls && caFile === undefined && flags.tlsCert === undefined && flags.tlsKey === undefined) return undefined;
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageError(`${flag}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const tls: ClientTlsOptions = {};
  if (caFile !== undefined) tls.ca = read(caFile, flags.tlsCa !== undefined ? '--tls-ca' : 'FLOTILLA_TLS_CA');
  if (flags.tlsCert !== undefined) tls.cert = read(flags.tlsCert, '--tls-cert');
  if (flags.tlsKey !== undefined) tls.key = read(flags.tlsKey, '--tls-key');
  return tls;
}

/** What every client of the CLI shares: the brokers, TLS and the login. */
export function connectionOptions(globals: GlobalOptions): Pick<ClientOptions, 'brokers' | 'tls' | 'sasl'> {
  return { brokers: globals.brokers, ...(globals.tls ? { tls: globals.tls } : {}), ...(globals.sasl ? { sasl: globals.sasl } : {}) };
}

interface LoginOptions {
  user?: string;
  passwordFile?: string;
  saslMechanism: string;
}

/**
 * The SCRAM login of --user/FLOTILLA_USER, its password from --password-file or
 * FLOTILLA_PASSWORD (never from argv, where other users of the machine can read it).
 */
function saslOf(opts: LoginOptions): SaslOptions | undefined {
  const username = opts.user ?? (process.env['FLOTILLA_USER'] || undefined);
  if (username === undefined) {
    if (opts.passwordFile !== undefined) throw new UsageError('--password-file needs --user (or env FLOTILLA_USER)');
    return undefined;
  }
  if (!isScramMechanism(opts.saslMechanism)) throw new UsageError(`--sasl-mechanism must be one of ${SCRAM_MECHANISMS.join(', ')}, got "${opts.saslMechanism}"`);
  let password: string;
  if (opts.passwordFile !== undefined) {
    try {
      password = withoutLineEnd(readFileSync(opts.passwordFile, 'utf8'));
    } catch (err) {
      throw new UsageError(`--password-file: ${(err as Error).message}`);
    }
  } else if (process.env['FLOTILLA_PASSWORD'] !== undefined) {
    password = process.env['FLOTILLA_PASSWORD'];
  } else {
    throw new UsageError(`user "${username}" needs a password: --password-file FILE or env FLOTILLA_PASSWORD`);
  }
  return { mechanism: opts.saslMechanism, username, password };
}

/** A password file or piped password usually ends with one newline that is not part of it. */
export function withoutLineEnd(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** `flotilla dev` puts broker 1 here, so the CLI's default brokers find it. */
export const DEV_BASE_PORT = 7401;
export const DEFAULT_BROKERS = `127.0.0.1:${DEV_BASE_PORT}`;

export function defaultBrokers(): string {
  return process.env['FLOTILLA_BROKERS']?.trim() || DEFAULT_BROKERS;
}

/** Exit statuses of SPEC section 2. */
export const Exit = { OK: 0, ERROR: 1, USAGE: 2 } as const;

/**
 * Default of --timeout-ms. Interactive use wants an answer soon: requests (and their
 * retries while no broker answers) give up after this, rather than the library's 30 s.
 */
export const CLI_REQUEST_TIMEOUT_MS = 10_000;

export function clientFor(globals: GlobalOptions): Client {
  return new Client({ ...connectionOptions(globals), clientId: 'flotilla-cli', requestTimeoutMs: globals.timeoutMs });
}

/** Runs `body` with a client and always closes it. */
export async function withClient<T>(globals: GlobalOptions, body: (client: Client) => Promise<T>): Promise<T> {
  const client = clientFor(globals);
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

/** `error: CODE: message` — the one line an error prints on stderr. */
export function errorLine(err: unknown): string {
  if (err instanceof FlotillaError) return `error: ${err.code}: ${err.message}`;
  const message = err instanceof Error ? err.message : String(err);
  return `error: INTERNAL: ${message}`;
}

/** Writes to stdout and resolves once the data is handed off (respects backpressure). */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

/** Progress lines go to stderr, and only when stdout is a terminal (SPEC: quiet otherwise). */
export function showProgress(): boolean {
  return Boolean(process.stdout.isTTY && process.stderr.isTTY);
}

/** Wraps a command's action: its resolved number (or 0) becomes the exit status. */
export function action<A extends unknown[]>(body: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const status = await body(...args);
    process.exitCode = status ?? Exit.OK;
  };
}

export async function printJsonOrTable(globals: GlobalOptions, json: unknown, table: () => string): Promise<void> {
  await writeOut(globals.json ? `${JSON.stringify(json)}\n` : `${table()}\n`);
}
