/**
 * Coordinated recovery on real broker processes: a broker that was down while every
 * partition took writes is caught up a few partitions at a time (--recovery-concurrency),
 * not by all of them at once, and ends up holding every acknowledged record.
 */
import t from 'tap';
import { startCluster, waitFor, type ProcessCluster } from './cluster.js';

const PARTITIONS = 12;
const RECORDS_PER_PARTITION = 2_500; // 1 KiB each: ~2.5 MiB, several messages of catch-up per partition
const LIMIT = 2;

interface RecoveryStats {
  active: number;
  waiting: number;
  peakPerPeer: number;
  peakWaiting: number;
  granted: number;
}

/** The recovery figures of every `stats` line broker `id` printed so far, oldest first. */
function recoveryLines(cluster: ProcessCluster, id: number): RecoveryStats[] {
  const lines: RecoveryStats[] = [];
  for (const line of cluster.logs(id).split('\n')) {
    if (!line.includes('"recoveries"')) continue;
    try {
      lines.push((JSON.parse(line) as { recoveries: RecoveryStats }).recoveries);
    } catch {
      // The line still being written: the next one will do.
    }
  }
  return lines;
}

t.test('a returning broker is caught up at most --recovery-concurrency partitions at a time per leader broker', async (t) => {
  const { cluster, client } = await startCluster(t, { extraArgs: ['--recovery-concurrency', String(LIMIT), '--stats-interval-ms', '200'] });
  const admin = client.admin();
  await admin.createTopic({ topic: 'backlog', partitions: PARTITIONS, replicationFactor: 3 });

  await cluster.stop(3);
  const producer = client.producer({ acks: 'all', lingerMs: 5 });
  const value = Buffer.alloc(1024, 'r');
  const lastOffset = new Map<number, number>();
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < RECORDS_PER_PARTITION; i++) {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      sends.push(producer.send({ topic: 'backlog', partition, value }).then((r) => void lastOffset.set(partition, Math.max(lastOffset.get(partition) ?? -1, r.offset))));
    }
    if (sends.length >= 2_000) await Promise.all(sends.splice(0));
  }
  await Promise.all(sends);
  await producer.close();

  cluster.restart(3);
  // Broker 3 holds every acknowledged record of every partition.
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const last = lastOffset.get(partition)!;
    const end = await waitFor(`partition ${partition} caught up on broker 3`, async () => {
      const consumer = client.consumer({ readFrom: 3, maxWaitMs: 100 });
      try {
        consumer.assign([{ topic: 'backlog', partition, offset: last }]);
        for await (const m of consumer) return m.offset === last ? m : undefined;
      } finally {
        await consumer.close();
      }
      return undefined;
    }, 60_000, 250);
    t.equal(end.value!.length, 1024, `partition ${partition}: broker 3 holds offset ${last}`);
  }

  // The leaders waited their turn: never more than LIMIT catch-ups to broker 3 at once each,
  // while others queued. Read from stats lines printed after every partition was caught up
  // (a line from before would not count the permits of the last catch-ups).
  const linesBefore = [1, 2].map((id) => recoveryLines(cluster, id).length);
  const figures = await waitFor('a stats line from brokers 1 and 2 with every permit given back', () => {
    const latest = [1, 2].map((id, i) => recoveryLines(cluster, id).slice(linesBefore[i]! + 1).pop());
    return latest.every((s) => s !== undefined && s.active === 0) ? (latest as RecoveryStats[]) : undefined;
  }, 10_000, 100);
  const leaders = (await admin.describeTopic('backlog')).partitions.map((p) => p.leader).join(' ');
  for (const s of figures) t.ok(s.peakPerPeer <= LIMIT, `at most ${LIMIT} partitions caught up at once (peak ${s.peakPerPeer})`);
  t.ok(figures.some((s) => s.peakWaiting > 0), `partitions waited their turn (peak waiting ${figures.map((s) => s.peakWaiting).join(', ')})`);
  t.ok(figures.reduce((n, s) => n + s.granted, 0) >= PARTITIONS / 2, `permits granted: ${figures.map((s) => s.granted).join(', ')} (leaders by partition now: ${leaders})`);
});
