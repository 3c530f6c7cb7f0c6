#!/usr/bin/env node
/**
 * The `flotilla` executable (package.json `bin`): sizes libuv's thread pool, then runs the
 * CLI (main.ts). A broker's fsyncs run on that pool, one thread each, and node's default
 * of 4 threads held a broker creating thousands of partitions to 4 fsyncs at a time (16
 * gave 1.4x the fsyncs per second here). libuv reads UV_THREADPOOL_SIZE when the pool
 * starts, which is before the first line of an ES module runs (the module loader reads
 * files on the pool), hence this small CommonJS file. An operator's own setting is kept.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
void import('./main.js');
