/**
 * Failover time after kill -9 of a partition leader, seen from a producer: a producer
 * sends at a steady rate (acks all) to a one-partition topic; we find the leader, kill
 * its process with SIGKILL, and measure from the kill to
 *   - the first new leader (not the killed broker) reported by describeTopic, and
 *   - the first acknowledgement of a record the producer sent after the kill.
 * The second includes the client's own recovery (connection loss, metadata refresh,
 * retry backoff): it is what an application waits. The killed broker is restarted and
 * given time to catch up before the next run. At the end every acknowledged offset is
 * read back, so a run also checks that failover lost no acknowledged record.
 */
import { Client, type ClientOptions } from '../client/index.js';
import type { BenchCluster } from './cluster.js';
import { waitFor } from './cluster.js';
import { createTopicWhenReady, payloadOf, TIMESTAMP_BYTES } from './workload.js';

export interface FailoverRun {
  killedBroker: number;
  newLeader: number;
  /** Kill → describeTopic names a new leader (ms). */
  leaderElectedMs: number;
  /** Kill → the first ack of a record sent after the kill (ms). */
  firstAckMs: number;
}

export interface FailoverResult {
  runs: FailoverRun[];
  acked: number;
  /** Acknowledged offsets not found when the partition was read back (must be 0). */
  lost: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function measureFailover(
  cluster: BenchCluster,
  options: { runs: number; rate?: number; topic?: string; onProgress?: (text: string) => void; login?: Partial<ClientOptions> },
): Promise<FailoverResult> {
  const topic = options.topic ?? 'bench-failover';
  const rate = options.rate ?? 500;
  const login = options.login ?? {};
  const client = new Client({ brokers: cluster.bootstrap, clientId: 'bench-failover', ...login });
  // A separate client for metadata, so the producer's cache and retries are left alone.
  const watcher = new Client({ brokers: cluster.bootstrap, clientId: 'bench-failover-watch', requestTimeoutMs: 1_000, ...login });
  const admin = watcher.admin();
  await createTopicWhenReady(client, { topic, partitions: 1, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all', lingerMs: 0 });
  const template = payloadOf(64);
  const ackedOffsets = new Map<number, number>();
  let sendErrors = 0;
  let lastAckOfPostKillSend = Infinity;
  let killedAt = Infinity;
  let sending = true;
  let sequence = 0;

  // Steady sender; records carry their send time so that an ack can be matched to "after the kill".
  const sender = (async () => {
    const interval = 1000 / rate;
    let next = performance.now();
    while (sending) {
      const sentAt = performance.now();
      const value = Buffer.from(template);
      value.writeDoubleLE(sentAt, 0);
      value.writeUInt32LE(sequence++, TIMESTAMP_BYTES);
      producer.send({ topic, value }).then(
        (ack) => {
          ackedOffsets.set(ack.offset, sentAt);
          if (sentAt >= killedAt && lastAckOfPostKillSend === Infinity) lastAckOfPostKillSend = performance.now();
        },
        () => sendErrors++,
      );
      next += interval;
      await sleep(Math.max(0, next - performance.now()));
    }
  })();

  const runs: FailoverRun[] = [];
  try {
    for (let run = 0; run < options.runs; run++) {
      options.onProgress?.(`failover run ${run + 1}/${options.runs}: steady state`);
      // Steady state first: every replica alive and in sync, acks flowing.
      await waitFor('all three replicas in sync', async () => {
        const p = (await admin.describeTopic(topic)).partitions[0]!;
        return p.leader !== null && p.inSync.length === 3;
      }, 60_000);
      await sleep(1500);
      const leader = (await admin.describeTopic(topic)).partitions[0]!.leader!;
      lastAckOfPostKillSend = Infinity;
      killedAt = performance.now();
      await cluster.kill(leader);
      options.onProgress?.(`failover run ${run + 1}/${options.runs}: killed broker ${leader}, waiting`);
      let leaderElectedMs = NaN;
      let newLeader = -1;
      await waitFor('a new leader in metadata', async () => {
        const p = (await admin.describeTopic(topic)).partitions[0]!;
        if (p.leader === null || p.leader === leader) return false;
        leaderElectedMs = performance.now() - killedAt;
        newLeader = p.leader;
        return true;
      }, 60_000, 10);
      await waitFor('an ack of a record sent after the kill', () => lastAckOfPostKillSend !== Infinity, 60_000, 5);
      runs.push({ killedBroker: leader, newLeader, leaderElectedMs, firstAckMs: lastAckOfPostKillSend - killedAt });
      killedAt = Infinity;
      cluster.restart(leader);
    }
  } finally {
    sending = false;
    await sender;
    await producer.flush().catch(() => undefined);
  }

  // Read the partition back: every acknowledged offset must be there.
  options.onProgress?.('failover: reading back acknowledged records');
  const expected = new Set(ackedOffsets.keys());
  const hw = (await admin.describeTopic(topic)).partitions[0]!.highWatermark;
  const consumer = client.consumer({ readFrom: 'leader', maxWaitMs: 100 });
  consumer.assign([{ topic, partition: 0, offset: 'earliest' }]);
  const giveUpAt = performance.now() + 60_000;
  // The last batches may carry no user records (leader no-ops): stop on the fetch position.
  const caughtUp = setInterval(() => {
    const p = consumer.progress()[0]!;
    if ((p.fetchOffset !== null && p.fetchOffset >= hw && p.buffered === 0) || performance.now() > giveUpAt) void consumer.close();
  }, 20);
  for await (const m of consumer) {
    expected.delete(m.offset);
    if (expected.size === 0) break;
  }
  clearInterval(caughtUp);
  await consumer.close();
  await client.admin().deleteTopic(topic).catch(() => undefined);
  await Promise.all([client.close(), watcher.close()]);
  if (sendErrors > 0) options.onProgress?.(`failover: ${sendErrors} sends failed (delivery timeout)`);
  return { runs, acked: ackedOffsets.size, lost: expected.size };
}
