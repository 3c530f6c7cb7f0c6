/**
 * `flotilla dev --secure` on real processes: the cluster it starts answers the CLI with
 * exactly the flags it prints, refuses a plaintext client and a wrong password, keeps the
 * superuser's password in a file only its owner reads, and a restart on the same data
 * directory reuses the certificates and the password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Client } from '../../client/index.js';
import { CLI, freeDevBasePort, runCli, waitFor } from './cluster.js';
import { runKcat } from './kcat.js';

interface DevRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startDev(data: string, basePort: number): DevRun {
  const child = spawn(process.execPath, [CLI, 'dev', '--secure', '--base-port', String(basePort), '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits for "cluster ready"; a dev that exits first, or never gets there, fails with its output. */
async function waitReady(run: DevRun, what: string): Promise<void> {
  const exitedEarly = run.exited.then((code) => {
    throw new Error(`flotilla dev exited (${code}) before ${what}:\n${run.output()}`);
  });
  const ready = waitFor(what, () => run.output().includes('cluster ready'), 60_000).catch((err: Error) => {
    throw new Error(`${err.message}; flotilla dev printed:\n${run.output()}`);
  });
  exitedEarly.catch(() => undefined); // raced below; its rejection when the run is stopped at the end is expected
  await Promise.race([ready, exitedEarly]);
}

/** Ctrl-C, as a user would; dev stops its brokers and exits. */
async function stopDev(run: DevRun): Promise<number | null> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGINT');
  return run.exited;
}

/** The printed `npx flotilla ... cluster status` line, as the flags it gives. */
function printedFlags(output: string): string[] {
  const line = /npx flotilla (--tls-ca \S+ --user \S+ --password-file \S+) cluster status/.exec(output);
  if (!line) throw new Error(`no flotilla command line printed:\n${output}`);
  return line[1]!.split(' ');
}

t.test('flotilla dev --secure: TLS, SCRAM and a superuser, connected to with the printed flags', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'flotilla-dev-secure-'));
  const data = join(root, 'dev');
  const basePort = await freeDevBasePort();
  const runs: DevRun[] = [];
  t.teardown(async () => {
    for (const run of runs) await stopDev(run);
    rmSync(root, { recursive: true, force: true });
  });

  const first = startDev(data, basePort);
  runs.push(first);
  await waitReady(first, 'the cluster ready');
  const flags = printedFlags(first.output());
  const brokers = `127.0.0.1:${basePort},127.0.0.1:${basePort + 1},127.0.0.1:${basePort + 2}`;
  t.match(first.output(), `export FLOTILLA_BROKERS=${brokers}`, 'prints the brokers to use');
  t.match(first.output(), /kafkajs: new Kafka\(\{ brokers: \['127\.0\.0\.1:\d+'.*ssl: \{ ca: .*sasl: \{ mechanism: 'scram-sha-256'/, 'prints the kafkajs options');
  t.match(first.output(), /kcat: kcat -b \S+ -X security\.protocol=SASL_SSL -X sasl\.mechanisms=SCRAM-SHA-256 -X sasl\.username=admin/, 'prints the kcat options');
  t.match(first.output(), `http://127.0.0.1:${basePort + 1000}/`, 'prints the console URLs');

  const [, ca, , user, , passwordFile] = flags as [string, string, string, string, string, string];
  t.equal(user, 'admin');
  t.equal(statSync(passwordFile).mode & 0o777, 0o600, 'the password file is readable by its owner alone');
  const password = readFileSync(passwordFile, 'utf8');
  t.ok(password.length >= 20, 'a generated password');
  t.notOk(first.output().includes(password), 'the password itself is never printed');

  const env = { FLOTILLA_BROKERS: brokers };
  const status = await runCli([...flags, 'cluster', 'status'], { env });
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /controller/);
  const created = await runCli([...flags, 'topic', 'create', 'orders', '--partitions', '2', '--replication', '3'], { env });
  t.equal(created.code, 0, created.stderr);
  const produced = await runCli([...flags, 'produce', 'orders', '--key-separator', ','], { env, stdin: 'a,1\nb,2\nc,3\n' });
  t.equal(produced.code, 0, produced.stderr);
  const consume = () => runCli([...flags, 'consume', 'orders', '--offset', 'earliest', '--count', '3', '--format', 'json'], { env });
  const consumed = await consume();
  t.equal(consumed.code, 0, consumed.stderr);
  t.same(consumed.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { value: string }).value).sort(), ['1', '2', '3']);

  // A client that shows its certificate and also logs in with SASL (as Kafka's SASL_SSL
  // clients may): the SASL user is the principal, natively and on the Kafka port.
  const cert = join(data, 'certs', 'client-admin.crt');
  const key = join(data, 'certs', 'client-admin.key');
  const both = await runCli([...flags, '--tls-cert', cert, '--tls-key', key, 'topic', 'list'], { env });
  t.equal(both.code, 0, `certificate and SASL together, natively: ${both.stderr}`);
  t.match(both.stdout, /orders/);
  const kafkaBootstrap = /kcat: kcat -b (\S+)/.exec(first.output())![1]!.split(',');
  const listed = await runKcat(kafkaBootstrap, [
    '-X', 'security.protocol=SASL_SSL', '-X', 'sasl.mechanisms=SCRAM-SHA-256', '-X', `sasl.username=${user}`, '-X', `sasl.password=${password}`,
    '-X', `ssl.ca.location=${ca}`, '-X', `ssl.certificate.location=${cert}`, '-X', `ssl.key.location=${key}`, '-L',
  ]);
  t.match(listed, /topic "orders"/, 'and through kcat (SASL_SSL with a client certificate)');

  // Refused: a plaintext client, and the right user with a wrong password.
  const plaintext = new Client({ brokers: [`127.0.0.1:${basePort}`], requestTimeoutMs: 3_000, connectTimeoutMs: 2_000, maxRetryBackoffMs: 200 });
  await t.rejects(plaintext.admin().listTopics(), 'a plaintext client gets nothing');
  await plaintext.close();
  const wrongFile = join(root, 'wrong.password');
  writeFileSync(wrongFile, `${password}x`);
  const wrong = await runCli(['--tls-ca', ca, '--user', user, '--password-file', wrongFile, 'topic', 'list'], { env });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /AUTHENTICATION_FAILED/);
  const noPassword = await runCli(['--tls-ca', ca, 'topic', 'list'], { env });
  t.equal(noPassword.code, 1, 'TLS without authentication is refused too');

  t.equal(await stopDev(first), 0, 'Ctrl-C stops the cluster');
  const caBefore = readFileSync(ca, 'utf8');

  // A restart on the same data directory: same CA, same password, the same flags work.
  const second = startDev(data, basePort);
  runs.push(second);
  await waitReady(second, 'the restarted cluster ready');
  t.same(printedFlags(second.output()), flags, 'the same flags');
  t.equal(readFileSync(ca, 'utf8'), caBefore, 'the same CA');
  t.equal(readFileSync(passwordFile, 'utf8'), password, 'the same password');
  const again = await consume();
  t.equal(again.code, 0, again.stderr);
  t.equal(again.stdout.trim().split('\n').length, 3, 'the records written before the restart, read with the same flags');
  t.equal(await stopDev(second), 0);
});
