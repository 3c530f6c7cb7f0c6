#!/usr/bin/env node
/**
 * The `flotilla` executable (package.json `bin`). The commands live in program.ts so
 * that tests can build the program without running it.
 */
import { fileURLToPath } from 'node:url';

// A broker's fsyncs, file creations and reads run on libuv's thread pool, 4 threads unless
// told otherwise: with thousands of partitions, 4 fsyncs at a time leave the disk (which
// merges concurrent fsyncs into one journal commit) mostly idle. The pool reads this once,
// on first use, so it is set before anything else is loaded (hence the dynamic import).
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('./program.js');

/** After the command finished, a stray handle (a socket closing slowly) must not keep the process up. */
const EXIT_GRACE_MS = 2000;

const status = await main(process.argv.slice(2), fileURLToPath(import.meta.url));
process.exitCode = status;
setTimeout(() => process.exit(status), EXIT_GRACE_MS).unref();
