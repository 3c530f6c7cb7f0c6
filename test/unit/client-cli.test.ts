// The `flotilla` executable as a process: exit statuses, global options anywhere,
// output shapes, against a fake broker. Needs the build (`npm test` builds first).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { FlotillaError } from '../../protocol/errors.js';
import { buildBatch } from '../../protocol/batch.js';
import { FakeBroker, produceAnswer, type FakeAnswer } from '../../client/testing/fake-broker.js';
import { parseOffset } from '../../client/cli/format.js';

const CLI = 'dist/client/cli/main.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...options.env };
    if (!options.env?.['FLOTILLA_BROKERS']) delete env['FLOTILLA_BROKERS'];
    const child = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

t.before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -p tsconfig.json\` (npm test does) before this test`);
});

let produced = 0;
const log = buildBatch([{ key: 'k0', value: 'zero', timestamp: 1000 }, { value: 'one', timestamp: 1001, headers: { h: 'v' } }, { value: 'two', timestamp: 1002 }]);
const broker: FakeBroker = new FakeBroker((request): FakeAnswer => {
  if (request.metadata) {
    return {
      metadata: {
        controllerId: 1,
        brokers: [{ id: 1, address: broker.address }],
        topics: ['alpha', 'beta'].map((topic) => ({ topic, partitions: [{ partition: 0, leader: 1, leaderTerm: 1, replicas: [1], inSync: [1] }] })),
      },
    };
  }
  if (request.describeTopic) {
    if (request.describeTopic.topic !== 'alpha') return new FlotillaError('UNKNOWN_TOPIC', `topic "${request.describeTopic.topic}" does not exist`);
    return { describeTopic: { topic: 'alpha', partitions: [{ partition: 0, leader: 1, replicas: [1], inSync: [1], highWatermark: 5, logStartOffset: 0 }], config: {} } };
  }
  if (request.describeCluster) return { describeCluster: { controllerId: 1, brokers: [{ id: 1, address: broker.address, alive: true, leaders: 2 }] } };
  if (request.listOffsets) {
    const spec = request.listOffsets.partitions[0]!.spec;
    return { listOffsets: { offsets: [{ topic: 'alpha', partition: 0, offset: spec === 1 ? 0 : 3, timestamp: -1 }] } };
  }
  if (request.fetch) {
    const offset = request.fetch.partitions[0]!.offset;
    return { fetch: { partitions: [{ topic: 'alpha', partition: 0, highWatermark: 3, logStartOffset: 0, records: offset < 3 ? log : Buffer.alloc(0) }] } };
  }
  if (request.produce) {
    return produceAnswer(request.produce, (batch) => {
      const base = produced;
      produced += batch.readInt32BE(57);
      return base;
    });
  }
  // Producers are idempotent by default: they ask for an id first.
  if (request.initProducerId) return { initProducerId: { producerId: 1, producerEpoch: 0 } };
  return new FlotillaError('INVALID_REQUEST', 'fake broker: unexpected request');
});
t.before(() => broker.listen());
t.teardown(() => broker.close());

t.test('--help exits 0 and lists the commands', async (t) => {
  const r = await run(['--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /--timeout-ms <n> +how long each request waits for its answer;[^]*\(default:\s+10000\)/, 'the global request timeout');
  for (const command of ['dev', 'broker', 'cluster', 'topic', 'partition', 'produce', 'consume', 'group', 'user', 'acl', 'bench']) t.match(r.stdout, new RegExp(`\\n  ${command}\\b`));
  const sub = await run(['consume', '--help']);
  t.equal(sub.status, 0);
  t.match(sub.stdout, /--read-from/);
  const bench = await run(['bench', '--help']);
  t.equal(bench.status, 0);
  for (const command of ['produce', 'consume', 'e2e', 'run']) t.match(bench.stdout, new RegExp(`\\n  ${command}\\b`));
});

t.test('usage errors exit 2', async (t) => {
  for (const args of [['frobnicate'], ['topic', 'create'], ['consume', 't', '--offset', 'soon'], ['produce', 't', '--acks', 'most'], ['topic', 'list', '--brokers', 'nohost'], ['topic', 'list', '--timeout-ms', '0'], ['topic', 'list', '--timeout-ms', 'soon']]) {
    const r = await run(args);
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, /^error: /, 'says what is wrong');
  }
});

t.test('user and acl misuse is a usage error naming the fix, before any request', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['user', 'create', 'bob'], /stdin is not a terminal: give the password on stdin with --password-stdin/],
    [['user', 'create', 'bob', '--password-stdin'], /the password is empty/],
    [['user', 'create', 'bob', '--mechanism', 'md5'], /md5/],
    [['--user', 'bob', 'topic', 'list'], /--password-file FILE or env FLOTILLA_PASSWORD/],
    [['acl', 'create', '--allow', 'alice', '--producer', '--topic', 'orders'], /User:NAME or User:\*, got "alice"/],
    [['acl', 'create', '--allow', 'User:alice', '--deny', 'User:bob', '--operation', 'read', '--topic', 'orders'], /exactly one of --allow/],
    [['acl', 'create', '--allow', 'User:alice', '--operation', 'read', '--topic', 'orders', '--cluster'], /exactly one of --topic T, --group G, --cluster/],
    [['acl', 'create', '--allow', 'User:alice', '--operation', 'fly', '--topic', 'orders'], /"fly" is not one of read, write/],
    [['acl', 'create', '--allow', 'User:alice', '--consumer', '--topic', 'orders'], /--consumer needs --group/],
    [['acl', 'delete'], /at least one of --principal, --topic, --group/],
  ];
  for (const [args, message] of cases) {
    const r = await run([...args, '--brokers', broker.address]);
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, message, args.join(' '));
  }
});

t.test('global options work before and after the subcommand, and from FLOTILLA_BROKERS', async (t) => {
  const after = await run(['topic', 'list', '--json', '--brokers', broker.address]);
  t.equal(after.status, 0, after.stderr);
  t.same(JSON.parse(after.stdout), ['alpha', 'beta']);
  const before = await run(['--brokers', broker.address, 'topic', 'list']);
  t.equal(before.stdout, 'alpha\nbeta\n');
  const env = await run(['topic', 'list'], { env: { FLOTILLA_BROKERS: broker.address } });
  t.equal(env.stdout, 'alpha\nbeta\n');
});

t.test('topic describe --json and cluster status --json print the SPEC shapes', async (t) => {
  const d = await run(['topic', 'describe', 'alpha', '--json', '--brokers', broker.address]);
  t.equal(d.status, 0, d.stderr);
  t.same(JSON.parse(d.stdout), { topic: 'alpha', partitions: [{ partition: 0, leader: 1, replicas: [1], inSync: [1], highWatermark: 5, logStartOffset: 0 }] });
  const c = await run(['cluster', 'status', '--json', '--brokers', broker.address]);
  t.equal(c.status, 0, c.stderr);
  t.same(JSON.parse(c.stdout), { controller: 1, brokers: [{ id: 1, address: broker.address, alive: true, leaders: 2 }] });
});

t.test('an error exits 1 with one line: error: CODE: message', async (t) => {
  const r = await run(['topic', 'describe', 'gamma', '--brokers', broker.address]);
  t.equal(r.status, 1);
  t.match(r.stderr, /^error: UNKNOWN_TOPIC: topic "gamma" does not exist\n$/);
});

t.test('produce sends one record per stdin line and reports on stderr', async (t) => {
  const before = produced;
  const lines = Array.from({ length: 5000 }, (_, i) => `k${i % 7}:line ${i}`).join('\n') + '\n';
  const r = await run(['produce', 'alpha', '--key-separator', ':', '--brokers', broker.address], { stdin: lines });
  t.equal(r.status, 0, r.stderr);
  t.equal(produced - before, 5000);
  t.match(r.stderr, /produced 5000 of 5000 records to alpha/);
  t.equal(r.stdout, '', 'stdout stays quiet');
});

t.test('consume reads to the end of the log and stops; --count and json lines', async (t) => {
  const all = await run(['consume', 'alpha', '--partition', '0', '--brokers', broker.address]);
  t.equal(all.status, 0, all.stderr);
  t.equal(all.stdout, 'zero\none\ntwo\n');
  const json = await run(['consume', 'alpha', '--partition', '0', '--format', 'json', '--count', '2', '--brokers', broker.address]);
  t.same(
    json.stdout.trim().split('\n').map((l) => JSON.parse(l)),
    [
      { topic: 'alpha', partition: 0, offset: 0, timestamp: 1000, key: 'k0', value: 'zero', headers: {} },
      { topic: 'alpha', partition: 0, offset: 1, timestamp: 1001, key: null, value: 'one', headers: { h: 'v' } },
    ],
  );
  const latest = await run(['consume', 'alpha', '--partition', '0', '--offset', 'latest', '--brokers', broker.address]);
  t.equal(latest.status, 0);
  t.equal(latest.stdout, '', 'nothing after the end without --follow');
});

t.test('--offset and --to take earliest, latest, an offset, @MS or an ISO 8601 time', async (t) => {
  t.equal(parseOffset('earliest'), 'earliest');
  t.equal(parseOffset('latest'), 'latest');
  t.equal(parseOffset('42'), 42);
  t.same(parseOffset('@1700000000123'), { timestamp: 1700000000123 });
  t.same(parseOffset('2026-12-03T10:00:00Z'), { timestamp: Date.UTC(2026, 11, 3, 10) });
  t.same(parseOffset('2026-12-03T10:00:00.250+01:00'), { timestamp: Date.UTC(2026, 11, 3, 9, 0, 0, 250) });
  for (const bad of ['soon', '@', '@-5', '-1', '2026-13-45T99:00:00Z', '1.5']) t.throws(() => parseOffset(bad), { code: 'commander.invalidArgument' }, bad);
});
