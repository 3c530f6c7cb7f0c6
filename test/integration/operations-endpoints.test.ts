/**
 * The operations endpoints on real broker processes (SPEC section 10): the metrics a
 * 3-broker cluster exposes, health and readiness through a broker's loss and return,
 * `flotilla cluster health`, and series that do not grow with partitions.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { buildBatch } from '../../protocol/batch.js';
import { CLIENT_API_VERSION, encodeRequest } from '../../protocol/codec.js';
import { encodeFrame, readFrames } from '../../protocol/frame.js';
import type { ClusterHealth } from '../../protocol/health.js';
import { CLI, startCluster, waitFor } from './cluster.js';
import { parsePrometheusText, sumOf, type Scrape } from './prometheus-text.js';

const FIXED_NAMES = [
  'flotilla_controller_is_leader', 'flotilla_brokers', 'flotilla_replicas', 'flotilla_partitions_under_replicated',
  'flotilla_partitions_leaderless', 'flotilla_raft_leadership_changes_total', 'flotilla_requests_total',
  'flotilla_request_duration_seconds_bucket', 'flotilla_produced_bytes_total', 'flotilla_fetched_bytes_total',
  'flotilla_storage_fsync_seconds_bucket', 'flotilla_append_commit_seconds_bucket', 'flotilla_recoveries',
  'flotilla_client_connections', 'flotilla_consumer_group_lag', 'flotilla_disk_free_bytes',
  'flotilla_scrubber_corrupt_batches_total', 'flotilla_replica_repairs_total', 'flotilla_metadata_repairs_total',
  'flotilla_nodejs_eventloop_lag_seconds',
];

const PER_TOPIC_OR_GROUP = ['flotilla_produced_bytes_total', 'flotilla_fetched_bytes_total', 'flotilla_consumer_group_lag'];

/** Starts brokers each with an operations port; returns the cluster, a client and each broker's base URL. */
async function clusterWithHttp(t: Test, brokers: number, extraArgs: string[] = []) {
  const started = await startCluster(t, { brokers, extraArgs, http: true });
  const url = (id: number) => `http://${started.cluster.brokers.get(id)!.httpAddress!}`;
  return { ...started, url };
}

async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(`${url}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  return parsePrometheusText(await response.text());
}

/** Runs the CLI; resolves with its exit status and output. */
function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

t.test('a 3-broker cluster: metrics, health and readiness through a broker lost and back', async (t) => {
  const { cluster, client, url } = await clusterWithHttp(t, 3);
  const ids = [1, 2, 3];
  await waitFor('every broker ready', async () => {
    const answers = await Promise.all(ids.map(async (id) => {
      try {
        const response = await fetch(`${url(id)}/readyz`);
        return { id, status: response.status, body: await response.text() };
      } catch (error) {
        return { id, status: 0, body: String(error) };
      }
    }));
    const waiting = answers.filter((a) => a.status !== 200);
    // Thrown, not returned: a timeout then says which broker was not ready and why.
    if (waiting.length > 0) throw new Error(waiting.map((a) => `broker ${a.id}: ${a.status} ${a.body}`).join('; '));
    return true;
  }, 30_000);

  // The endpoints and their methods.
  const metrics = await fetch(`${url(1)}/metrics`);
  t.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  t.equal((await fetch(`${url(1)}/livez`)).status, 200);
  t.equal((await fetch(`${url(1)}/nothing-here`)).status, 404);
  t.equal((await fetch(`${url(1)}/metrics`, { method: 'POST', body: 'x' })).status, 405);
  t.equal((await fetch(`${url(1)}/readyz`, { method: 'HEAD' })).status, 200);

  // Fixed names on every broker; exactly one controller leader.
  await client.admin().createTopic({ topic: 'ops', partitions: 3, replicationFactor: 3 });
  const before = await Promise.all(ids.map((id) => scrape(url(id))));
  const producer = client.producer({ acks: 'all' });
  const value = Buffer.alloc(1000, 7);
  let produced = 0;
  for (let i = 0; i < 30; i++) {
    await producer.send({ topic: 'ops', partition: i % 3, value });
    produced += value.length;
  }
  await producer.close();
  await client.admin().resetOffsets('billing', 'ops', 'earliest');
  const consumer = client.consumer({ maxWaitMs: 100 });
  consumer.assign([0, 1, 2].map((partition) => ({ topic: 'ops', partition, offset: 'earliest' as const })));
  let read = 0;
  for await (const _ of consumer) if (++read === 30) break;
  await consumer.close();
  // A produce with acks none (no answer, so nothing said what was taken) naming a topic that
  // does not exist: nothing is appended, and no series is made for the name.
  const socket = connect({ host: '127.0.0.1', port: Number(cluster.brokers.get(1)!.address.split(':')[1]) });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(Buffer.of(0x01));
  const answered = new Promise<void>((resolve) => readFrames(socket, { onFrame: () => resolve(), onClose: () => resolve() }));
  const made = { topic: 'made-up-topic', partition: 0, batch: buildBatch([{ value: 'x' }]) };
  socket.write(encodeFrame(encodeRequest({ correlationId: 1, apiVersion: CLIENT_API_VERSION, clientId: 'raw', produce: { acks: 2, timeoutMs: 1000, partitions: [made] } })));
  socket.write(encodeFrame(encodeRequest({ correlationId: 2, apiVersion: CLIENT_API_VERSION, clientId: 'raw', metadata: { topics: [] } })));
  await answered;
  socket.destroy();
  const after = await Promise.all(ids.map((id) => scrape(url(id))));
  t.notOk(after.some((s) => s.samples.some((x) => x.labels.topic === 'made-up-topic')), 'no series for a topic a produce with acks none made up');
  // Series per topic or group appear where there is something to count; the rest everywhere.
  const seenSomewhere = new Set(after.flatMap((s) => s.samples.map((x) => x.name)));
  t.same(FIXED_NAMES.filter((name) => !seenSomewhere.has(name)), [], 'every fixed name is exposed');
  for (const [i, s] of after.entries()) {
    const names = new Set(s.samples.map((x) => x.name));
    t.same(FIXED_NAMES.filter((name) => !names.has(name) && !PER_TOPIC_OR_GROUP.includes(name)), [], `broker ${i + 1} exposes every name not labelled by topic or group`);
    t.equal(s.types.get('flotilla_request_duration_seconds'), 'histogram');
  }
  t.equal(after.reduce((sum, s) => sum + sumOf(s, 'flotilla_controller_is_leader'), 0), 1, 'controller leadership sums to 1');
  const grown = after.reduce((sum, s) => sum + sumOf(s, 'flotilla_produced_bytes_total', { topic: 'ops' }), 0) -
    before.reduce((sum, s) => sum + sumOf(s, 'flotilla_produced_bytes_total', { topic: 'ops' }), 0);
  t.ok(grown >= produced, `produced bytes grew by ${grown} >= ${produced}`);
  t.equal(after.reduce((sum, s) => sum + sumOf(s, 'flotilla_replicas', { role: 'leader' }), 0), 3, 'three partitions, three leaders');
  t.ok(after.reduce((sum, s) => sum + sumOf(s, 'flotilla_requests_total', { api: 'produce', code: 'OK' }), 0) >= 30);
  const fetched = after.reduce((sum, s) => sum + sumOf(s, 'flotilla_fetched_bytes_total', { topic: 'ops' }), 0);
  t.ok(fetched >= produced, `fetched bytes ${fetched} >= ${produced}`);
  // Offsets also count each leader's no-op entry, so the lag is at least the records.
  const lag = after.reduce((sum, s) => sum + sumOf(s, 'flotilla_consumer_group_lag', { group: 'billing', topic: 'ops' }), 0);
  t.ok(lag >= 30 && lag < 40, `lag of a group at the start: every offset (${lag})`);
  const health = (await (await fetch(`${url(1)}/v1/cluster/health`)).json()) as ClusterHealth;
  t.same(health, { healthy: true, controller: health.controller, brokersDown: [], leaderlessPartitions: 0, underReplicatedPartitions: 0 });
  const bootstrap = ['--brokers', cluster.bootstrap.join(',')];
  t.equal((await cli(['cluster', 'health', ...bootstrap])).status, 0, 'cluster health: healthy');

  // Broker 3 killed: under-replicated partitions, an unhealthy cluster.
  await cluster.kill(3);
  await waitFor('under-replicated partitions counted', async () => {
    const scrapes = await Promise.all([1, 2].map((id) => scrape(url(id))));
    return scrapes.reduce((sum, s) => sum + sumOf(s, 'flotilla_partitions_under_replicated'), 0) === 3;
  }, 30_000);
  const down = (await (await fetch(`${url(1)}/v1/cluster/health`)).json()) as ClusterHealth;
  t.same(down.brokersDown, [3]);
  t.equal(down.healthy, false);
  const timedOut = await cli(['cluster', 'health', '--wait', '--timeout-ms', '1500', ...bootstrap]);
  t.equal(timedOut.status, 1, 'cluster health --wait: 1 when it stays unhealthy');
  t.equal(JSON.parse(timedOut.stdout).healthy, false);

  // Back: healthy again, broker 3 ready once caught up.
  cluster.restart(3);
  const waited = await cli(['cluster', 'health', '--wait', '--timeout-ms', '90000', ...bootstrap]);
  t.equal(waited.status, 0, `cluster health --wait: 0 once broker 3 is back (${waited.stderr.trim()})`);
  t.same(JSON.parse(waited.stdout).brokersDown, []);
  await waitFor('broker 3 ready', async () => (await fetch(`${url(3)}/readyz`).catch(() => null))?.status === 200, 60_000);
  await waitFor('no partition under-replicated', async () => {
    const scrapes = await Promise.all(ids.map((id) => scrape(url(id))));
    return scrapes.reduce((sum, s) => sum + sumOf(s, 'flotilla_partitions_under_replicated'), 0) === 0;
  }, 30_000);

  // Broker 1 alone: not ready, and it says why.
  await cluster.kill(2);
  await cluster.kill(3);
  const notReady = await waitFor('broker 1 not ready', async () => {
    const response = await fetch(`${url(1)}/readyz`);
    return response.status === 503 ? ((await response.json()) as { ready: boolean; reasons: string[] }) : null;
  }, 30_000);
  t.equal(notReady.ready, false);
  t.ok(notReady.reasons.length > 0 && notReady.reasons.some((r) => /ops\/\d|controller/.test(r)), `reasons name what is missing: ${JSON.stringify(notReady.reasons)}`);
});

/** Series of one broker after the same work on a topic of `partitions` partitions. */
async function seriesAfterWork(t: Test, partitions: number): Promise<Map<string, number>> {
  const { client, url } = await clusterWithHttp(t, 1);
  const admin = client.admin();
  await admin.createTopic({ topic: 'wide', partitions, replicationFactor: 1, timeoutMs: 120_000 });
  const producer = client.producer({ acks: 'all' });
  await Promise.all(Array.from({ length: partitions }, (_, p) => producer.send({ topic: 'wide', partition: p, value: 'x' })));
  await producer.close();
  await admin.resetOffsets('readers', 'wide', 'earliest');
  const consumer = client.consumer({ maxWaitMs: 100 });
  consumer.assign(Array.from({ length: partitions }, (_, p) => ({ topic: 'wide', partition: p, offset: 'earliest' as const })));
  let read = 0;
  for await (const _ of consumer) if (++read === partitions) break;
  await consumer.close();
  const s = await scrape(url(1));
  t.notOk(s.samples.some((x) => 'partition' in x.labels), `no series labelled by partition at ${partitions} partitions`);
  const families = new Map<string, number>();
  for (const sample of s.samples) {
    // Node's own (handles by type) and request outcomes vary with what is in flight, not with partitions.
    if (/^flotilla_(nodejs|process)_|^flotilla_requests?_/.test(sample.name)) continue;
    families.set(sample.name, (families.get(sample.name) ?? 0) + 1);
  }
  return families;
}

t.test('the number of series does not grow with partitions', async (t) => {
  const ten = await seriesAfterWork(t, 10);
  const thousand = await seriesAfterWork(t, 1000);
  t.same(Object.fromEntries(thousand), Object.fromEntries(ten), 'the same series at 10 and 1,000 partitions');
  t.ok(ten.get('flotilla_produced_bytes_total') === 1 && ten.get('flotilla_consumer_group_lag') === 1, 'one series per topic');
});
