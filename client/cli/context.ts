/**
 * What every CLI command shares: the global options, a client built from them, the
 * exit-status convention and the one-line error format.
 */
import type { Command } from 'commander';
import { Client } from '../client.js';
import { FlotillaError } from '../../protocol/errors.js';
import { parseBrokerList } from './format.js';

export interface GlobalOptions {
  brokers: string[];
  json: boolean;
  /** How long one request waits for its answer (--timeout-ms). */
  timeoutMs: number;
}

/** A usage error raised after commander parsed the arguments (exit status 2). */
export class UsageError extends Error {}

/** The global options as a command's action sees them; a bad --brokers is a usage error. */
export function globalsOf(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals<{ brokers: string; json?: boolean; timeoutMs: number }>();
  let brokers: string[];
  try {
    brokers = parseBrokerList(opts.brokers);
  } catch (err) {
    throw new UsageError(`--brokers: ${(err as Error).message}`);
  }
  return { brokers, json: Boolean(opts.json), timeoutMs: opts.timeoutMs };
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
  return new Client({ brokers: globals.brokers, clientId: 'flotilla-cli', requestTimeoutMs: globals.timeoutMs });
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
