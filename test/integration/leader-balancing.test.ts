/**
 * Preferred-leader balancing on real broker processes: a broker stops, the others take
 * over its partitions, it returns, and they hand them back in bounded batches until no
 * broker leads a partition whose preferred replica is another one — visible in each
 * broker's `stats` line.
 */
import t from 'tap';
import { LEADER_TRANSFERS_IN_FLIGHT } from '../../broker/operations/leader-balancing.js';
import { brokerStats } from '../../bench/cluster.js';
import { startCluster, waitFor, type ProcessCluster } from './cluster.js';

interface Balancing {
  misplacedLeaders: number;
  transfersInFlight: number;
  transfersStarted: number;
  transfersCompleted: number;
  transfersFailed: number;
}

function balancingLines(cluster: ProcessCluster, id: number): Balancing[] {
  return brokerStats<{ time: number; balancing: Balancing }>(cluster, id).map((line) => line.balancing);
}

t.test('a returning broker gets its preferred leaderships back, a bounded number at a time', async (t) => {
  const partitions = 600;
  const { cluster, client } = await startCluster(t, { extraArgs: ['--stats-interval-ms', '200'] });
  const admin = client.admin();
  await admin.createTopic({ topic: 'balance', partitions, replicationFactor: 3, timeoutMs: 120_000 });
  const preferredOf3 = (await admin.describeTopic('balance')).partitions.filter((p) => p.replicas[0] === 3).length;

  // SIGTERM: broker 3 hands its leaderships to brokers 1 and 2 before it exits.
  await cluster.stop(3);
  await waitFor('brokers 1 and 2 lead every partition', async () => {
    const { partitions: described } = await admin.describeTopic('balance');
    return described.every((p) => p.leader === 1 || p.leader === 2);
  }, 60_000, 250);
  await waitFor('brokers 1 and 2 report the partitions they lead for broker 3 as misplaced', () => {
    const misplaced = [1, 2].map((id) => balancingLines(cluster, id).at(-1)?.misplacedLeaders ?? 0);
    return misplaced[0]! + misplaced[1]! === preferredOf3;
  }, 20_000, 100);

  cluster.restart(3);
  const described = await waitFor('every partition led by its preferred replica again', async () => {
    const d = await admin.describeTopic('balance');
    return d.partitions.every((p) => p.leader === p.replicas[0]) ? d : null;
  }, 90_000, 500);
  const perBroker = [1, 2, 3].map((id) => described.partitions.filter((p) => p.leader === id).length);
  t.same(perBroker, [1, 2, 3].map((id) => described.partitions.filter((p) => p.replicas[0] === id).length), `leaders per broker back to the preferred share: ${perBroker.join(', ')}`);

  const finished = await waitFor('brokers 1 and 2 report no misplaced leader and no transfer in flight', () => {
    const last = [1, 2].map((id) => balancingLines(cluster, id).at(-1));
    return last.every((b) => b && b.misplacedLeaders === 0 && b.transfersInFlight === 0) ? last as Balancing[] : null;
  }, 20_000, 100);
  const started = finished[0]!.transfersStarted + finished[1]!.transfersStarted;
  t.ok(started >= preferredOf3, `${started} transfers started for the ${preferredOf3} partitions broker 3 prefers`);
  for (const b of finished) t.equal(b.transfersStarted, b.transfersCompleted + b.transfersFailed, 'every transfer started has ended');
  const peak = Math.max(...[1, 2].flatMap((id) => balancingLines(cluster, id).map((b) => b.transfersInFlight)));
  t.ok(peak <= LEADER_TRANSFERS_IN_FLIGHT, `at most ${LEADER_TRANSFERS_IN_FLIGHT} transfers in flight in any report (peak reported: ${peak})`);
  for (const [i, id] of [1, 2].entries()) {
    t.notOk(cluster.logs(id).includes('handing leadership to the preferred replica"'), `broker ${id} logs no line per partition`);
    // Broker 3's leaderships may all have gone to one of the others on its way out.
    if (finished[i]!.transfersStarted === 0) continue;
    // Said by the next pass that finds nothing misplaced (at the latest the periodic one).
    await waitFor(`broker ${id} to log that balancing finished`, () => cluster.logs(id).includes('leader balancing finished'), 20_000, 200);
    t.pass(`broker ${id} logs when balancing finished`);
  }
});
