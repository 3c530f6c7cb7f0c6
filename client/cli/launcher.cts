#!/usr/bin/env -S node --initial-old-space-size=128
/**
 * The `flotilla` executable (package.json `bin`): sizes libuv's thread pool, then runs the
 * CLI (main.ts). A broker's fsyncs run on that pool, one thread each, and node's default
 * of 4 threads held a broker creating thousands of partitions to 4 fsyncs at a time (16
 * gave 1.4x the fsyncs per second here). libuv reads UV_THREADPOOL_SIZE when the pool
 * starts, which is before the first line of an ES module runs (the module loader reads
 * files on the pool), hence this small CommonJS file. An operator's own setting is kept.
 *
 * The first line's node flags are the broker's runtime settings; what starts a broker
 * without going through that line passes them itself (`shebangNodeFlags` in
 * bench/process-cluster.ts for the test and bench clusters and `flotilla dev`, the systemd
 * unit in deploy/). V8 starts with a small old generation and, at a broker's small heap,
 * ran a full collection every few megabytes promoted: at full speed on one partition 100
 * per broker in 10 s, a third of its CPU. Starting it at 128 MiB left 16 and cut the CPU
 * per GB produced to about 0.7x, for about 35 MiB more peak RSS. V8 reads the flag only at
 * start-up (not from NODE_OPTIONS, nor v8.setFlagsFromString here), hence the first line.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
void import('./main.js');
