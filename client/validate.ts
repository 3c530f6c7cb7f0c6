/**
 * Option validation shared by the components: each component spreads its defaults under
 * the user's options once, at construction, and checks the result here. Errors are
 * INVALID_CONFIG and name the option, the value and the fix.
 */
import { FlotillaError } from '../protocol/errors.js';

export function invalid(message: string): FlotillaError {
  return new FlotillaError('INVALID_CONFIG', message);
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
