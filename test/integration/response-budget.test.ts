/**
 * Response budgets with a real broker process: a client that pipelines large fetches and
 * never reads its socket must not make the broker buffer every response, nor starve
 * other clients.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { readFrames } from '../../protocol/frame.js';
import { startCluster } from './cluster.js';
import { clusterOf } from '../../client/client.js';
import { openSocket, requestFrame } from '../../bench/raw-client.js';

const MiB = 1024 * 1024;

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

t.test('a client that pipelines large fetches and never reads is held to its budget; others are still served', async (t) => {
  const FETCHES = 600;
  const FETCH_BYTES = 2 * MiB; // without limits the broker would hold FETCHES * FETCH_BYTES = 1.2 GB
  const TOPIC = 'big';
  const { cluster, client } = await startCluster(t, { brokers: 1, fsync: 'never' });
  await client.admin().createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 1 });
  const producer = client.producer({ acks: 'all' });
  const value = Buffer.alloc(1024, 7);
  await Promise.all(Array.from({ length: 4 * 1024 }, () => producer.send({ topic: TOPIC, partition: 0, value }))); // 4 MiB: each fetch is full

  const broker = cluster.brokers.get(1)!;
  const pid = broker.child!.pid!;
  const before = rssBytes(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
  t.teardown(() => clearInterval(sampler));

  // Every fetch asks for the same first 2 MiB; the socket is never read until the end.
  const bad = await openSocket(broker.address);
  t.teardown(() => bad.destroy());
  bad.pause();
  const frames = Array.from({ length: FETCHES }, () =>
    requestFrame({ fetch: { partitions: [{ topic: TOPIC, partition: 0, offset: 0, maxBytes: FETCH_BYTES }], maxBytes: FETCH_BYTES, maxWaitMs: 0, minBytes: 1 } }).frame,
  );
  bad.write(Buffer.concat(frames));

  // An honest client on the same broker is answered meanwhile.
  const ack = await producer.send({ topic: TOPIC, partition: 0, value: 'honest' });
  const { result } = await clusterOf(client).leaderRequest({ type: 'fetch', topic: TOPIC, partition: 0, offset: ack.offset, maxBytes: 1024, maxWaitMs: 0 });
  t.ok(result.records.length > 0, 'an honest produce and fetch are answered while the misbehaving client holds its budget');

  // Now read: every pipelined fetch is answered, none lost, nothing stuck.
  let answered = 0;
  await new Promise<void>((resolve, reject) => {
    readFrames(bad, {
      onFrame: () => {
        if (++answered === FETCHES) resolve();
      },
      onClose: (error) => reject(error ?? new Error(`closed after ${answered} of ${FETCHES} answers`)),
    }, { maxFrameBytes: 64 * MiB, idleTimeoutMs: 0 });
    bad.resume();
  });
  clearInterval(sampler);
  peak = Math.max(peak, rssBytes(pid));
  const growth = peak - before;
  t.comment(`broker RSS ${Math.round(before / MiB)} MiB before, peak ${Math.round(peak / MiB)} MiB (+${Math.round(growth / MiB)} MiB) for ${FETCHES} pipelined ${FETCH_BYTES / MiB} MiB fetches`);
  t.equal(answered, FETCHES, 'every pipelined fetch was answered once the client read');
  t.ok(growth < 300 * MiB, `broker RSS grew by ${Math.round(growth / MiB)} MiB, far below the ${(FETCHES * FETCH_BYTES) / MiB} MiB it would buffer without limits`);

  // The same again, but the client goes away without reading: the fetches it left queued
  // must not all run at once when its budget is released.
  const leaver = await openSocket(broker.address);
  leaver.pause();
  leaver.write(Buffer.concat(Array.from({ length: FETCHES }, () => requestFrame({ fetch: { partitions: [{ topic: TOPIC, partition: 0, offset: 0, maxBytes: FETCH_BYTES }], maxBytes: FETCH_BYTES, maxWaitMs: 0, minBytes: 1 } }).frame)));
  await producer.send({ topic: TOPIC, partition: 0, value: 'the broker has read the pipelined fetches' });
  const closed = new Promise((resolve) => leaver.once('close', resolve));
  leaver.destroy();
  await closed;
  // Once an honest request made after the close is answered, the broker has handled the close;
  // any burst of queued reads would have started by then and shows in the next second's peak.
  await producer.send({ topic: TOPIC, partition: 0, value: 'after the close' });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  clearInterval(sampler);
  peak = Math.max(peak, rssBytes(pid));
  t.ok(peak - before < 300 * MiB, `a client that left ${FETCHES} fetches queued: broker RSS peaked at +${Math.round((peak - before) / MiB)} MiB`);
  await producer.close();
});
