/**
 * Retention's schedule on real logs: a check applies the limits to every log that had two
 * segments or more at the last walk of all replicas; a log that gains its second segment
 * is found by the next walk; a log closed since the walk is skipped without an error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import t from 'tap';
import { buildBatch, patchBatch } from '../../protocol/batch.js';
import { CHECKS_PER_WALK, Retention } from '../../broker/operations/retention.js';
import type { HostedReplicas } from '../../broker/partition/hosted.js';
import type { PartitionReplica } from '../../broker/partition/partition.js';
import { PartitionLog } from '../../broker/storage/partition-log.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-retention-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Appends `count` one-record batches of 200 bytes, all committed. */
function fill(log: PartitionLog, count: number): void {
  for (let i = 0; i < count; i++) {
    const base = log.lastIndex() + 1;
    const data = buildBatch([{ value: Buffer.alloc(200, 1), timestamp: 1000 }], { now: 1000 });
    patchBatch(data, base, 1);
    log.append([{ index: base, term: 1, data }]);
  }
}

/** As much of a replica as retention uses: its log, and everything in it committed. */
function replicaOf(log: PartitionLog, partition: number): PartitionReplica {
  return { topic: 't', partition, group: { log }, get highWatermark() { return log.lastIndex() + 1; } } as unknown as PartitionReplica;
}

t.test('retention checks the logs of two segments or more, found by a walk every CHECKS_PER_WALK checks', async (t) => {
  const dir = tempDir(t);
  const options = { segmentBytes: 600, retentionBytes: 600 };
  const rolled = PartitionLog.open(path.join(dir, 'rolled'), options);
  const single = PartitionLog.open(path.join(dir, 'single'), options);
  const removed = PartitionLog.open(path.join(dir, 'removed'), options);
  fill(rolled, 12);
  fill(removed, 12);
  fill(single, 1);
  t.ok(rolled.segmentCount() > 2 && single.segmentCount() === 1, 'one log of several segments, one of a single segment');
  const replicas = [replicaOf(rolled, 0), replicaOf(single, 1), replicaOf(removed, 2)];
  const errors: unknown[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
  const retention = new Retention({ all: () => replicas } as unknown as HostedReplicas, logger);

  retention.check(); // the first check walks
  t.ok(rolled.firstIndex() > 0, 'a log of several segments lost its oldest ones');
  t.ok(rolled.sizeInBytes() <= 2 * 600 && rolled.segmentCount() >= 1, 'down to about the retention limit, the active segment kept');

  fill(single, 12); // gains segments after the walk
  await removed.close(); // removed after the walk (a deleted topic, a moved partition)
  for (let i = 1; i < CHECKS_PER_WALK; i++) retention.check();
  t.equal(single.firstIndex(), 0, 'a log that gained segments since the walk waits for the next one');
  retention.check(); // the next walk
  t.ok(single.firstIndex() > 0, 'and is found by it');
  t.same(errors, [], 'a log closed since the walk is skipped, not reported as a failure');
  await rolled.close();
  await single.close();
});
