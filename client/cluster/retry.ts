/**
 * Retrying retriable failures within a deadline. Retry decisions read the error's
 * `retriable` flag (protocol/errors.ts), never its message.
 */
import { toFlotillaError, type FlotillaError } from '../../protocol/errors.js';

export interface RetryPolicy {
  /** First wait; doubles per attempt, with +-20 % jitter so clients do not retry in step. */
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export function backoffFor(policy: RetryPolicy, attempt: number): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Any failure as a FlotillaError; one the client did not expect is INTERNAL. */
export function asFlotillaError(err: unknown): FlotillaError {
  return toFlotillaError(err, 'unexpected client failure');
}

/**
 * Whether a request that failed this way may still have taken effect at the broker: no
 * answer in time, a connection lost with it in flight, or a broker that stopped while
 * the request's write was committing.
 */
export function outcomeUnknown(error: FlotillaError): boolean {
  return error.code === 'TIMEOUT' || error.code === 'BROKER_NOT_AVAILABLE' || error.code === 'SHUTTING_DOWN';
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it succeeds, fails with a non-retriable error, or the next wait
 * would pass `deadline` (ms since the epoch); then the last error surfaces unchanged.
 * `onRetriable` runs before each wait (to refresh metadata, say).
 */
export async function retryUntil<T>(
  policy: RetryPolicy,
  deadline: number,
  attempt: (attemptNumber: number) => Promise<T>,
  onRetriable?: (error: FlotillaError, attemptNumber: number) => void | Promise<void>,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const error = asFlotillaError(err);
      if (!error.retriable) throw error;
      const wait = backoffFor(policy, n);
      if (Date.now() + wait >= deadline) throw error;
      await onRetriable?.(error, n);
      await sleep(Math.max(0, Math.min(wait, deadline - Date.now())));
    }
  }
}
