/**
 * The test clusters' own start-up: a port picked free and taken by another process before
 * the broker binds it (tests run side by side) must not leave a cluster a broker short.
 */
import { createServer } from 'node:net';
import t from 'tap';
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
