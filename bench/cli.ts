/**
 * The command line of a bench script run as `node dist/bench/NAME.js`: `--help` prints its
 * usage, and an unknown option, a missing value or a number that is not one is refused
 * (exit 2) before any broker starts — a bench takes minutes, so a typo must not cost them.
 */
import { fileURLToPath } from 'node:url';

/** Each option the script takes: `value` (followed by a value) or `flag` (alone). */
export type OptionSpec = Record<string, 'value' | 'flag'>;

export class BenchArgs {
  private constructor(private readonly given: Map<string, string | true>) {}

  /** Parses `args` against `spec`; throws a usage error naming the problem. */
  static parse(args: readonly string[], spec: OptionSpec): BenchArgs {
    const given = new Map<string, string | true>();
    for (let i = 0; i < args.length; i++) {
      const name = args[i]!;
      const kind = spec[name];
      if (!kind) throw new UsageError(`unknown option ${name}`);
      if (kind === 'flag') {
        given.set(name, true);
        continue;
      }
      const value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
      given.set(name, value);
      i++;
    }
    return new BenchArgs(given);
  }

  string(name: string, fallback: string): string {
    const value = this.given.get(name);
    return typeof value === 'string' ? value : fallback;
  }

  /** A non-negative number (or `fallback` when the option is absent). */
  number(name: string, fallback: number): number {
    return this.numbers(name, String(fallback))[0]!;
  }

  /** A comma-separated list of non-negative numbers, e.g. `--partitions 1000,10000`. */
  numbers(name: string, fallback: string): number[] {
    const text = this.string(name, fallback);
    return text.split(',').map((part) => {
      const value = Number(part);
      if (part.trim() === '' || !Number.isFinite(value) || value < 0) throw new UsageError(`${name} takes a non-negative number, not "${part}"`);
      return value;
    });
  }

  flag(name: string): boolean {
    return this.given.get(name) === true;
  }
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Runs `main` when the module at `moduleUrl` is the script node was started with: prints
 * `usage` for `-h`/`--help`, a usage error with exit code 2, any other failure with exit 1.
 */
export function runBenchScript(moduleUrl: string, usage: string, spec: OptionSpec, main: (args: BenchArgs) => Promise<void>): void {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage.trim()}\n`);
    return;
  }
  let args: BenchArgs;
  try {
    args = BenchArgs.parse(argv, spec);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage.trim()}\n`);
    process.exitCode = 2;
    return;
  }
  main(args).catch((error: unknown) => {
    const text = error instanceof UsageError ? error.message : error instanceof Error ? error.stack : String(error);
    process.stderr.write(`${text}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  });
}
