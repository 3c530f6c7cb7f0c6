/**
 * The test clusters' own start-up: a port picked free and taken by another process before
 * the broker binds it (tests run side by side) must not leave a cluster a broker short;
 * a test process that ends, by SIGTERM (a runner's timeout) or SIGKILL, must not leave its
 * brokers running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import t, { type Test } from 'tap';
import { Client } from '../../client/index.js';
import { ProcessCluster, freePort, waitFor } from './cluster.js';

/** Hands broker 2 a port another process already listens on, the first time only. */
class SquattedCluster extends ProcessCluster {
  readonly handedOut: string[] = [];
  constructor(private readonly squatted: string) {
    super({ brokers: 3 });
  }

  protected override async addressFor(id: number): Promise<string> {
    const address = id === 2 && !this.handedOut.includes(this.squatted) ? this.squatted : await super.addressFor(id);
    this.handedOut.push(address);
    return address;
  }
}

t.test('a broker whose port was taken meanwhile: the cluster starts again on new ports, every broker up', async (t) => {
  const squatter = createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  const cluster = new SquattedCluster(`127.0.0.1:${port}`);
  t.teardown(() => cluster.close());
  await cluster.start();

  t.equal(cluster.handedOut.length, 6, 'two rounds of addresses were handed out');
  t.not(cluster.brokers.get(2)!.address, `127.0.0.1:${port}`, 'broker 2 listens elsewhere now');
  t.ok([1, 2, 3].every((id) => cluster.running(id)), 'every broker runs');
  const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000 });
  t.teardown(() => client.close());
  await waitFor('every broker alive in the metadata', async () => {
    const status = await client.admin().describeCluster();
    return status.controller !== null && status.brokers.length === 3 && status.brokers.every((b) => b.alive);
  });
  t.pass('a controller, and all three brokers alive');
});

/** A child process that starts a 2-broker cluster and reports its brokers' pids and data folder. */
async function clusterInAChild(t: Test): Promise<{ child: ChildProcess; pids: number[]; root: string }> {
  const script = `
    const { ProcessCluster } = await import(${JSON.stringify(new URL('../../bench/process-cluster.js', import.meta.url).href)});
    const cluster = await new ProcessCluster({ brokers: 2, fsync: 'never' }).start();
    console.log(JSON.stringify({ pids: [...cluster.brokers.values()].map((b) => b.child.pid), root: cluster.root }));
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const started = await new Promise<{ pids: number[]; root: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`the cluster's process exited (${code}) before starting it`)));
  });
  t.ok(started.pids.every(alive), 'its brokers run');
  return { child, ...started };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('a test process ended by SIGTERM (a runner timeout) takes its brokers and their data with it', async (t) => {
  const { child, pids, root } = await clusterInAChild(t);
  child.kill('SIGTERM');
  await waitFor('the brokers to be gone', () => pids.every((pid) => !alive(pid)), 30_000);
  t.pass('every broker is gone');
  t.notOk(existsSync(root), 'and so is their data');
});

t.test('a test process ended by SIGKILL, which it cannot catch, still takes its brokers with it', async (t) => {
  const { child, pids, root } = await clusterInAChild(t);
  // Nothing of the child's runs now, so the data folder stays: this test removes it.
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  child.kill('SIGKILL');
  await waitFor('the brokers to be gone', () => pids.every((pid) => !alive(pid)), 30_000);
  t.pass('every broker is gone');
});
