/**
 * Consumer groups end to end on real broker processes: 3 members share 12 partitions,
 * one member dies without leaving and its partitions move to the others within the session
 * timeout, and with committed offsets no record is skipped (at-least-once). Reset-offsets is
 * refused while members exist; a member that joins later resumes from the committed offsets.
 */
import t from 'tap';
import { Client } from '../../client/index.js';
import { clusterOf } from '../../client/client.js';
import type { Consumer } from '../../client/consumer/consumer.js';
import { ProcessCluster, runCli, waitFor } from './cluster.js';

const TOPIC = 'events';
const PARTITIONS = 12;
const GROUP = 'workers';
const SESSION_TIMEOUT_MS = 3000;

interface Worker {
  name: string;
  client: Client;
  consumer: Consumer;
  seen: Array<{ partition: number; offset: number }>;
  done: Promise<void>;
}

t.test('3 consumers share 12 partitions; a dead member’s partitions move; nothing is skipped', async (t) => {
  const cluster = await new ProcessCluster({ fsync: 'never' }).start();
  const admin = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000 });
  const workers: Worker[] = [];
  t.teardown(async () => {
    for (const w of workers) await w.client.close().catch(() => undefined);
    await admin.close();
    await cluster.close();
  });
  await waitFor('a controller', async () => (await admin.admin().describeCluster()).controller);
  await admin.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 });

  const producer = admin.producer({ acks: 'all' });
  const produced = new Set<string>();
  const produce = async (from: number, count: number) => {
    const acks = await Promise.all(Array.from({ length: count }, (_, i) => producer.send({ topic: TOPIC, key: `k${from + i}`, value: `v${from + i}` })));
    for (const a of acks) produced.add(`${a.partition}/${a.offset}`);
  };
  await produce(0, 1200);

  const seenAll = new Set<string>();
  const start = async (name: string): Promise<Worker> => {
    const client = new Client({ brokers: cluster.bootstrap, clientId: name, requestTimeoutMs: 5000 });
    const consumer = client.consumer({ groupId: GROUP, sessionTimeoutMs: SESSION_TIMEOUT_MS, heartbeatIntervalMs: 300, autoCommitIntervalMs: 500, maxWaitMs: 200 });
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    const seen: Worker['seen'] = [];
    const done = (async () => {
      try {
        for await (const m of consumer) {
          seen.push({ partition: m.partition, offset: m.offset });
          seenAll.add(`${m.partition}/${m.offset}`);
        }
      } catch {
        // A member killed on purpose fails its iteration.
      }
    })();
    const worker = { name, client, consumer, seen, done };
    workers.push(worker);
    return worker;
  };

  const [a, b, c] = [await start('a'), await start('b'), await start('c')];
  const owners = (members: Worker[]) => {
    const all = members.flatMap((w) => w.consumer.assignment().map((p) => `${p.topic}/${p.partition}`));
    return { all, distinct: new Set(all).size, counts: members.map((w) => w.consumer.assignment().length) };
  };
  const stableOver = async (members: Worker[], what: string, timeoutMs: number) =>
    waitFor(what, () => {
      const o = owners(members);
      return o.all.length === PARTITIONS && o.distinct === PARTITIONS && Math.max(...o.counts) - Math.min(...o.counts) <= 1 && o;
    }, timeoutMs, 50);

  const balanced = await stableOver([a, b, c], '12 partitions spread over 3 members', 20_000);
  t.same(balanced.counts, [4, 4, 4], 'each member owns 4 partitions');
  t.equal(balanced.distinct, 12, 'each partition is owned by exactly one member');
  const described = await admin.admin().describeGroup(GROUP);
  t.equal(described.members.length, 3, 'describe shows 3 members');

  await waitFor('the first 1200 records consumed', () => [...produced].every((k) => seenAll.has(k)), 20_000);
  await Promise.all([a, b, c].map((w) => w.consumer.commit()));

  await t.rejects(admin.admin().resetOffsets(GROUP, TOPIC, 'earliest'), { message: /active member/ }, 'reset-offsets is refused while the group has members');

  // c dies: its connections are cut, it neither heartbeats nor leaves.
  const cPartitions = c.consumer.assignment().map((p) => p.partition);
  await produce(1200, 1200);
  const killedAt = Date.now();
  await clusterOf(c.client).close();
  const after = await stableOver([a, b], "the dead member's partitions moved to the others", SESSION_TIMEOUT_MS + 8000);
  const movedAfterMs = Date.now() - killedAt;
  t.ok(movedAfterMs <= SESSION_TIMEOUT_MS + 5000, `moved after ${movedAfterMs} ms (session timeout ${SESSION_TIMEOUT_MS} ms)`);
  t.same(after.counts, [6, 6], 'the survivors own 6 each');
  for (const p of cPartitions) t.ok(after.all.includes(`${TOPIC}/${p}`), `partition ${p} of the dead member was taken over`);

  await waitFor('every produced record seen by some member', () => [...produced].every((k) => seenAll.has(k)), 20_000);
  t.pass(`all ${produced.size} records were seen (at-least-once)`);

  // a and b close (commit and leave); a new member resumes from the committed offsets.
  await a.consumer.close();
  await b.consumer.close();
  const committed = await admin.admin().describeGroup(GROUP);
  t.equal(committed.members.length, 0, 'no members left');
  t.equal(committed.offsets.length, PARTITIONS, 'an offset committed for every partition');
  const committedAt = new Map(committed.offsets.map((o) => [o.partition, o.offset]));
  const before = new Set(produced);
  await produce(2400, 240);
  const d = await start('d');
  const fresh = [...produced].filter((k) => !before.has(k));
  await waitFor('the new records consumed by the rejoining member', () => fresh.every((k) => d.seen.some((s) => `${s.partition}/${s.offset}` === k)), 20_000);
  for (const s of d.seen) {
    if (s.offset < committedAt.get(s.partition)!) {
      t.fail(`partition ${s.partition}: read offset ${s.offset}, below the committed ${committedAt.get(s.partition)}`);
      break;
    }
  }
  t.ok(d.seen.length >= fresh.length, `the new member resumed from the committed offsets (read ${d.seen.length} records, ${fresh.length} new)`);
  await d.consumer.close();

  const reset = await admin.admin().resetOffsets(GROUP, TOPIC, 'earliest');
  t.equal(reset.length, PARTITIONS, 'reset-offsets works once the group is empty');
  const afterReset = await admin.admin().describeGroup(GROUP);
  t.ok(afterReset.offsets.every((o) => o.offset === 0), 'offsets reset to the start of the log');
  const groups = await admin.admin().listGroups();
  t.same(groups.map((g) => [g.groupId, g.state, g.members]), [[GROUP, 'empty', 0]]);

  // The CLI: consume --group commits what it printed; describe shows it; reset-offsets.
  const brokers = ['--brokers', cluster.bootstrap.join(',')];
  const consumed = await runCli(['consume', TOPIC, '--group', GROUP, '--count', '5', '--format', 'json', ...brokers]);
  t.equal(consumed.code, 0, `consume --group exits 0 ${consumed.stderr}`);
  const lines = consumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { partition: number; offset: number });
  t.equal(lines.length, 5, 'consume --group --count 5 prints 5 records');
  const describedCli = await runCli(['group', 'describe', GROUP, '--json', ...brokers]);
  t.equal(describedCli.code, 0, describedCli.stderr);
  const afterCli = JSON.parse(describedCli.stdout) as { members: unknown[]; offsets: Array<{ partition: number; offset: number; lag: number }> };
  t.equal(afterCli.members.length, 0, 'the CLI member left on exit');
  for (const l of lines) {
    const o = afterCli.offsets.find((x) => x.partition === l.partition)!;
    t.ok(o.offset > l.offset, `partition ${l.partition}: committed ${o.offset} is past the printed offset ${l.offset}`);
  }
  t.ok(afterCli.offsets.every((o) => typeof o.lag === 'number'), 'describe shows the lag');
  const resetCli = await runCli(['group', 'reset-offsets', GROUP, '--topic', TOPIC, '--to', 'latest', ...brokers]);
  t.equal(resetCli.code, 0, resetCli.stderr);
  const listed = await runCli(['group', 'list', ...brokers]);
  t.match(listed.stdout, new RegExp(`${GROUP}\\s+empty\\s+0`), 'group list shows the group');
  const nothing = await runCli(['consume', TOPIC, '--group', GROUP, '--format', 'json', ...brokers]);
  t.equal(nothing.code, 0, nothing.stderr);
  t.equal(nothing.stdout, '', 'after reset to latest, consume --group has nothing to print');
});
