#!/usr/bin/env node
/**
 * The CLI, run by the `flotilla` executable (launcher.cts, which sizes the thread pool
 * first). The commands live in program.ts so that tests can build the program without
 * running it.
 */
import { fileURLToPath } from 'node:url';
import { main } from './program.js';

/** After the command finished, a stray handle (a socket closing slowly) must not keep the process up. */
const EXIT_GRACE_MS = 2000;

// The script this process was started with (launcher.cjs, normally): `flotilla dev` starts
// its brokers the same way, with the same node flags.
const status = await main(process.argv.slice(2), process.argv[1] ?? fileURLToPath(import.meta.url));
process.exitCode = status;
setTimeout(() => process.exit(status), EXIT_GRACE_MS).unref();
