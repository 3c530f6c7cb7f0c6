/**
 * The idempotent producer end to end (SPEC section 3): real broker processes, partition
 * leaders killed with SIGKILL and restarted while an idempotent producer streams keyed
 * records, then every partition read back from its leader up to its high watermark.
 * Every acknowledged record must be there exactly once, at its acknowledged offset; no
 * record may be there twice; per key, records must be in send order.
 */
import t from 'tap';
import { Client } from '../../client/index.js';
import { clusterOf } from '../../client/client.js';
import { buildBatch, isControlBatch, lastOffsetOf, batchBounds, records as recordsOf } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import { retryUntil } from '../../client/cluster/retry.js';
import { killLeaderAndRestart, leaderOf, ProcessCluster, startCluster, waitFor } from './cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every user record of a partition, read from its leader from the start to its high
 * watermark; read again from the start if leadership moves mid-read (a new leader's high
 * watermark may briefly trail the old one's, so an offset can be out of its range).
 */
async function readPartition(client: Client, topic: string, partition: number): Promise<Array<{ offset: number; key: string; value: string }>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readPartitionOnce(client, topic, partition);
    } catch (error) {
      if (attempt >= 10) throw error;
      await sleep(500);
    }
  }
}

async function readPartitionOnce(client: Client, topic: string, partition: number): Promise<Array<{ offset: number; key: string; value: string }>> {
  const deadline = Date.now() + 30_000;
  const { result: end } = await clusterOf(client).leaderRequest({ type: 'listOffsets', topic, partition, target: 'latest' }, deadline);
  const out: Array<{ offset: number; key: string; value: string }> = [];
  let next = 0;
  while (next < end.offset) {
    const { result } = await clusterOf(client).leaderRequest({ type: 'fetch', topic, partition, offset: next, maxBytes: 1 << 20, maxWaitMs: 0 }, deadline);
    let progressed = false;
    for (const { start, end: stop } of batchBounds(result.records)) {
      const batch = result.records.subarray(start, stop);
      const last = lastOffsetOf(batch);
      if (last < next) continue;
      if (!isControlBatch(batch)) {
        for (const r of recordsOf(batch)) {
          if (r.offset >= next && r.offset < end.offset) out.push({ offset: r.offset, key: r.key!.toString(), value: r.value!.toString() });
        }
      }
      next = last + 1;
      progressed = true;
    }
    if (!progressed) throw new Error(`no progress reading ${topic}/${partition} at offset ${next} (high watermark ${end.offset})`);
  }
  return out;
}

t.test('a resent identical batch gets its original offsets, also from a new leader after a kill', async (t) => {
  const { cluster, client } = await startCluster(t, { fsync: 'batch' });
  const admin = client.admin();
  await admin.createTopic({ topic: 'dedup', partitions: 1, replicationFactor: 3 });

  const deadline = () => Date.now() + 20_000;
  const { result: id } = await clusterOf(client).controllerRequest({ type: 'initProducerId' }, deadline());
  t.equal(id.producerEpoch, 0, 'a new producer id starts at epoch 0');
  /** One batch to the partition's leader, retried on retriable errors (a new leader takes idempotent batches only once it committed in its term). */
  const produce = (batch: Buffer): Promise<number> =>
    retryUntil(
      clusterOf(client).retryPolicy,
      deadline(),
      async () => {
        const { address } = await clusterOf(client).leaderAddress('dedup', 0);
        const { result } = await clusterOf(client).send(address, { type: 'produce', acks: 'all', timeoutMs: 5_000, partitions: [{ topic: 'dedup', partition: 0, batch }] });
        const answer = result.partitions[0]!;
        if (answer.error) throw answer.error;
        return answer.baseOffset;
      },
      (error) => clusterOf(client).noteFailure('dedup', 0, error),
    );
  const batchAt = (seq: number, count: number, epoch = id.producerEpoch) =>
    buildBatch(Array.from({ length: count }, (_, i) => ({ key: 'k', value: `v${seq + i}` })), { producerId: id.producerId, producerEpoch: epoch, baseSequence: seq });

  const first = batchAt(0, 3);
  const a = await produce(first);
  const again = await produce(Buffer.from(first));
  t.equal(again, a, 'the same bytes again: the original offsets, not a second append');
  const second = batchAt(3, 2);
  const b = await produce(second);
  t.equal(b, a + 3, 'the next sequence is appended after it');
  await t.rejects(produce(batchAt(9, 1)), { code: 'OUT_OF_ORDER_SEQUENCE' }, 'a gap in the sequence is refused');
  await t.rejects(produce(batchAt(3, 4)), { code: 'OUT_OF_ORDER_SEQUENCE' }, 'a reused sequence with another record count is refused');

  // Kill the leader; the new one knows both batches from the log.
  const leader = await leaderOf(client, 'dedup', 0);
  await cluster.kill(leader);
  await waitFor('a new leader', async () => {
    const l = (await admin.describeTopic('dedup')).partitions[0]?.leader;
    return l && l !== leader ? l : null;
  });
  const retried = await produce(Buffer.from(second));
  t.equal(retried, b, 'a retry at the new leader gets the original offsets');

  const { result: bumped } = await clusterOf(client).controllerRequest({ type: 'initProducerId', producerId: id.producerId, producerEpoch: id.producerEpoch }, deadline());
  t.same(bumped, { producerId: id.producerId, producerEpoch: id.producerEpoch + 1 }, 'InitProducerId with the current id bumps the epoch');
  const fresh = await produce(batchAt(0, 1, bumped.producerEpoch));
  t.ok(fresh > b, 'a new epoch may restart at sequence 0');
  await t.rejects(produce(batchAt(5, 1, id.producerEpoch)), { code: 'INVALID_REQUEST' }, 'the old epoch is fenced');

  cluster.restart(leader);
  const stored = await readPartition(client, 'dedup', 0);
  t.same(stored.map((r) => r.value), ['v0', 'v1', 'v2', 'v3', 'v4', 'v0'], 'each batch stored once');
});

t.test('50,000 (and a few more) keyed records through an idempotent producer while partition leaders are killed: exactly once, in order', async (t) => {
  const started = Date.now();
  const TOPIC = 'exactly-once';
  const PARTITIONS = 6;
  const KEYS = 500;
  const RECORDS = 50_000;
  const CHUNK = 500;
  const KILLS = 4;

  const cluster = await new ProcessCluster({ fsync: 'batch' }).start();
  // Short request timeouts for the producer (quick retries after a kill); a patient client
  // for set-up, where a busy machine can take a while to elect six leaders.
  const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 3_000 });
  const setup = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 20_000 });
  t.teardown(async () => {
    await client.close();
    await setup.close();
    await cluster.close();
  });
  const admin = client.admin();
  await waitFor('a controller', async () => (await admin.describeCluster()).controller);
  await setup.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 });

  const producer = client.producer({ acks: 'all', idempotent: true, lingerMs: 5, batchBytes: 16 * 1024, deliveryTimeoutMs: 120_000 });
  const acks: Array<{ partition: number; offset: number } | null> = [];
  const failures = new Map<string, number>();
  const sends: Array<Promise<void>> = [];

  // Kills follow counted progress, not the clock, so that all of them land mid-run however
  // fast the machine is: kill r starts once (r + 0.5) stretches of records were sent. From
  // the end of stretch r until kill r has happened the producer sends only a trickle, so
  // that the kill still finds records in flight; trickled records come on top of RECORDS,
  // and the last stretch is sent after the last kill.
  const STRETCH = RECORDS / (KILLS + 1);
  const TRICKLE = 25;
  const armed = Array.from({ length: KILLS }, () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  });
  let sent = 0;
  let trickled = 0;
  const kills: Array<{ broker: number; partition: number; atRecord: number; unacked: number; atMs: number }> = [];
  let chaosError: unknown = null;
  const chaos = (async () => {
    for (let round = 0; round < KILLS; round++) {
      await armed[round]!.promise;
      const partition = round % PARTITIONS;
      await killLeaderAndRestart(cluster, client, TOPIC, partition, {
        onKilled: (broker) => kills.push({ broker, partition, atRecord: sent, unacked: sent - acks.filter(Boolean).length, atMs: Date.now() - started }),
      });
    }
  })();
  chaos.catch((error: unknown) => (chaosError = error)); // stops the producer below instead of an unhandled rejection

  while (sent - trickled < RECORDS) {
    if (chaosError) throw chaosError;
    const waitingForKill = kills.length < KILLS && sent - trickled >= (kills.length + 1) * STRETCH;
    const count = waitingForKill ? TRICKLE : CHUNK;
    for (let n = 0; n < count; n++) {
      const i = sent++;
      acks.push(null);
      sends.push(
        producer.send({ topic: TOPIC, key: `k${i % KEYS}`, value: String(i) }).then(
          (ack) => void (acks[i] = { partition: ack.partition, offset: ack.offset }),
          (err: unknown) => {
            const code = err instanceof FlotillaError ? err.code : String(err);
            failures.set(code, (failures.get(code) ?? 0) + 1);
          },
        ),
      );
    }
    if (waitingForKill) trickled += count;
    for (let r = 0; r < KILLS; r++) if (sent - trickled >= (r + 0.5) * STRETCH) armed[r]!.resolve();
    await producer.whenWritable();
    await sleep(150); // spread the run, so that kills find records in flight
  }
  await producer.flush();
  await Promise.all(sends);
  await chaos;
  const producedMs = Date.now() - started;
  await producer.close();

  // Read every partition back from its leader, to its high watermark.
  const seen = new Map<number, number>();
  let duplicates = 0;
  let outOfOrder = 0;
  let misplaced = 0;
  const perPartition: unknown[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const ackedHere = acks.filter((x) => x?.partition === p);
    const maxAcked = Math.max(-1, ...ackedHere.map((x) => x!.offset));
    // A leader elected moments ago (the restarted broker taking back its preferred
    // partitions, say) learns the commit index with its first entry of the term: until
    // then its high watermark can trail acknowledged records.
    await waitFor(`the leader of ${TOPIC}/${p} to reach offset ${maxAcked}`, async () => {
      const { result } = await clusterOf(client).leaderRequest({ type: 'listOffsets', topic: TOPIC, partition: p, target: 'latest' });
      return result.offset > maxAcked;
    }, 30_000).catch(() => undefined);
    const stored = await readPartition(client, TOPIC, p);
    perPartition.push({ partition: p, stored: stored.length, acked: ackedHere.length, maxAckedOffset: maxAcked, lastStored: stored[stored.length - 1]?.offset ?? -1 });
    const lastByKey = new Map<string, number>();
    for (const r of stored) {
      const i = Number(r.value);
      const count = (seen.get(i) ?? 0) + 1;
      seen.set(i, count);
      if (count > 1) duplicates++;
      const prev = lastByKey.get(r.key);
      if (prev !== undefined && prev >= i) outOfOrder++;
      lastByKey.set(r.key, i);
      const ack = acks[i];
      if (ack && (ack.partition !== p || ack.offset !== r.offset)) misplaced++;
    }
  }
  let acked = 0;
  let missing = 0;
  for (let i = 0; i < sent; i++) {
    if (!acks[i]) continue;
    acked++;
    if (seen.get(i) !== 1) missing++;
  }
  const summary = {
    records: sent,
    acked,
    failed: Object.fromEntries(failures),
    kills,
    produceMs: producedMs,
    totalMs: Date.now() - started,
    stored: [...seen.values()].reduce((a, b) => a + b, 0),
    duplicates,
    outOfOrder,
    missing,
    misplaced,
  };
  if (missing > 0) t.comment(JSON.stringify(perPartition));
  t.comment(JSON.stringify(summary));
  t.equal(kills.length, KILLS, 'leaders were killed during the run');
  t.equal(acked, sent, 'every record was acknowledged (retries within deliveryTimeoutMs)');
  t.equal(missing, 0, 'every acknowledged record is stored exactly once');
  t.equal(duplicates, 0, 'no record is stored twice');
  t.equal(outOfOrder, 0, 'per key, records are stored in send order');
  t.equal(misplaced, 0, 'each acknowledged record is at its acknowledged partition and offset');
});
