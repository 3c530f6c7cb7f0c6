/**
 * The client logs through a pino logger the application passes in (`Client({ logger })`).
 * Without one it is silent. Only the methods below are used, so any pino-compatible
 * logger works; library code never writes to the console.
 */
export interface ClientLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): ClientLogger;
}

const noop = (): void => {};

export const silentLogger: ClientLogger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
