/**
 * Option validation shared by the components: each component spreads its defaults under
 * the user's options once, at construction, and checks the result here. Errors are
 * INVALID_CONFIG and name the option, the value and the fix.
 */
import { FlotillaError } from '../protocol/errors.js';

export function invalid(message: string): FlotillaError {
  return new FlotillaError('INVALID_CONFIG', message);
}

/**
 * Checks where a reader starts (`consumer.assign`'s offset, `resetOffsets`' target): an
 * offset >= 0, 'earliest', 'latest', or { timestamp: ms since the epoch >= 0 }. An argument
 * of a call, not an option: INVALID_REQUEST.
 */
export function requireStartOffset(component: string, value: unknown): number | 'earliest' | 'latest' | { timestamp: number } {
  if (value === 'earliest' || value === 'latest') return value;
  if (Number.isSafeInteger(value) && (value as number) >= 0) return value as number;
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 1) {
    const timestamp = (value as { timestamp?: unknown }).timestamp;
    if (Number.isSafeInteger(timestamp) && (timestamp as number) >= 0) return { timestamp: timestamp as number };
  }
  throw new FlotillaError('INVALID_REQUEST', `${component}: offset must be a number >= 0, 'earliest', 'latest' or { timestamp: ms since the epoch }, got ${JSON.stringify(value)}`);
}

export function requireInteger(component: string, name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw invalid(`${component} option ${name} must be ${range}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function requireOneOf<T extends string>(component: string, name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`${component} option ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

export function requireBoolean(component: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(`${component} option ${name} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** Rejects option names the component does not know: a typo must not be silently ignored. */
export function rejectUnknown(component: string, given: object, known: object): void {
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(known, name)) {
      throw invalid(`unknown ${component} option ${name}; known options are ${Object.keys(known).join(', ')}`);
    }
  }
}

/** Drops undefined values so `{ lingerMs: undefined }` keeps the default. */
export function defined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
