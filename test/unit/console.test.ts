/**
 * The web console's data, without processes: the traffic ring (aligned, bounded, records
 * counted from batch headers) and the merge of brokers' sights (leaders by freshness and
 * term, stale parts, lag, rates added across brokers).
 */
import t from 'tap';
import { buildBatch, buildControlBatch, ControlType } from '../../protocol/batch.js';
import { ControllerState } from '../../broker/controller/state.js';
import type { ClusterSight } from '../../broker/ops/cluster-view.js';
import { assembleConsole } from '../../broker/ops/console.js';
import type { BrokerSight } from '../../broker/ops/console-sight.js';
import { RING_SAMPLES, SAMPLE_INTERVAL_MS, TrafficHistory, recordsIn } from '../../broker/ops/traffic.js';

t.test('records are counted from batch headers; control batches and bad lengths are not', async (t) => {
  const data = buildBatch([{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
  const control = buildControlBatch(ControlType.NOOP, null);
  t.equal(recordsIn(Buffer.concat([data, control, data])), 6);
  const bad = Buffer.from(data);
  bad.writeInt32BE(-100, 8); // a negative batch length must not loop
  t.equal(recordsIn(bad), 0, 'a batch whose length is impossible is not counted');
  t.equal(recordsIn(Buffer.alloc(10)), 0);
});

t.test('the traffic ring: one sample per interval, aligned to the clock, bounded', async (t) => {
  let now = 1_000 * SAMPLE_INTERVAL_MS;
  const history = new TrafficHistory(() => now);
  history.produced('a', 10, 1000);
  history.fetched('a', 4, 400);
  history.produced('__proto__', 1, 1);
  now += SAMPLE_INTERVAL_MS;
  history.sample();
  t.same(history.samples().map((s) => s.slot), [1000]);
  t.same(history.samples()[0]!.topics['a'], [10, 1000, 4, 400]);
  t.same(Object.keys(history.samples()[0]!.topics).sort(), ['__proto__', 'a'], 'a topic may be named __proto__');
  // A late timer in the same slot folds into the last sample.
  history.produced('a', 1, 1);
  now += 10;
  history.sample();
  t.equal(history.samples().length, 1);
  t.same(history.samples()[0]!.topics['a'], [11, 1001, 4, 400]);
  for (let i = 0; i < RING_SAMPLES + 10; i++) {
    now += SAMPLE_INTERVAL_MS;
    history.sample();
  }
  t.equal(history.samples().length, RING_SAMPLES, 'the ring keeps its size');
});

function sightsOf(): { sources: ClusterSight; now: number } {
  const state = new ControllerState();
  for (const id of [1, 2, 3]) state.brokers.set(id, { id, address: `127.0.0.1:${7400 + id}` });
  state.topics.set('t', { partitions: [0, 1, 2].map((partition) => ({ partition, replicas: [1, 2, 3] })) } as never);
  state.groupOffsets.set('g', new Map([['t/0', 40], ['t/2', 5]]));
  const sources: ClusterSight = {
    config: { id: 1 },
    controller: { leaderId: 2, state },
    replicas: { replica: () => undefined, all: () => [], notHostedError: () => new Error('not hosted') } as never,
    transport: { isConnected: (id) => id !== 3 },
  };
  return { sources, now: 2_000 * SAMPLE_INTERVAL_MS };
}

t.test('sights merge: fresh claims win, stale ones are marked, lag and rates add up', async (t) => {
  const { sources, now } = sightsOf();
  const slot = Math.floor(now / SAMPLE_INTERVAL_MS) - 2;
  const sight = (broker: number, led: BrokerSight['led'], extra: Partial<BrokerSight> = {}): BrokerSight => ({
    broker, controller: 2, replicas: { leaders: led.length, followers: 3 - led.length }, led, traffic: [{ slot, topics: { t: [10, 100, 2, 20] } }], ...extra,
  });
  const doc = assembleConsole(sources, [
    { sight: sight(1, [{ topic: 't', partition: 0, term: 3, inSync: [1, 2, 3], highWatermark: 100 }]), fresh: true },
    { sight: sight(2, [{ topic: 't', partition: 1, term: 2, inSync: [2, 1], highWatermark: 7 }], { groups: [{ id: 'g', state: 'stable', generation: 4, members: [] }] }), fresh: true },
    // Broker 3 did not answer: its last sight claims partition 0 at an older term, and partition 2.
    { sight: sight(3, [{ topic: 't', partition: 0, term: 2, inSync: [3], highWatermark: 90 }, { topic: 't', partition: 2, term: 1, inSync: [3, 1, 2], highWatermark: 9 }]), fresh: false },
  ], now);

  t.same(doc.brokers.map((b) => [b.id, b.up, b.controller, b.stale]), [[1, true, false, false], [2, true, true, false], [3, false, false, true]]);
  const [p0, p1, p2] = doc.topics[0]!.partitions;
  t.match(p0, { leader: 1, inSync: [1, 2, 3], highWatermark: 100, stale: false }, 'the fresh claim wins');
  t.match(p1, { leader: 2, inSync: [2, 1], stale: false });
  t.match(p2, { leader: 3, highWatermark: 9, stale: true }, 'only a stale claim: shown, marked stale');
  t.equal(doc.topics[0]!.underReplicated, 1, 'partition 1 lacks replica 3');
  t.equal(doc.topics[0]!.leaderless, 0);

  const group = doc.groups[0]!;
  t.match(group, { id: 'g', state: 'stable', generation: 4, lag: 60 + 4 });
  t.same(group.partitions.map((p) => [p.partition, p.committed, p.end, p.lag]), [[0, 40, 100, 60], [2, 5, 9, 4]]);
  t.equal(doc.groupsStale, false);

  t.equal(doc.rates.total.producedRecords.length, RING_SAMPLES);
  const perSecond = 1000 / SAMPLE_INTERVAL_MS;
  t.equal(Math.max(...doc.rates.total.producedRecords), 3 * 10 * perSecond, 'three brokers\' samples of one interval add up');
  t.equal(Math.max(...doc.rates.topics['t']!.fetchedBytes), 3 * 20 * perSecond);
});

t.test('a partition nobody claims is leaderless; groups without a coordinator are stale', async (t) => {
  const { sources, now } = sightsOf();
  const doc = assembleConsole(sources, [{ sight: { broker: 1, controller: 2, replicas: { leaders: 0, followers: 0 }, led: [], traffic: [] }, fresh: true }], now);
  t.equal(doc.topics[0]!.leaderless, 3);
  t.ok(doc.topics[0]!.partitions.every((p) => p.stale && p.leader === null));
  t.equal(doc.groups[0]!.state, 'unknown');
  t.equal(doc.groupsStale, true);
  t.ok(doc.rates.total.producedRecords.every((r) => r === 0));
});
