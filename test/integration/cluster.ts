/**
 * The integration tests' cluster: real broker processes (bench/process-cluster.ts), plus a
 * start-up that ties the cluster and a client to a tap test's lifetime.
 */
import { Client } from '../../client/index.js';
import { ProcessCluster, waitFor, type ProcessClusterOptions } from '../../bench/process-cluster.js';

export { CLI, ProcessCluster, freePort, waitFor, type BrokerProcess, type ProcessClusterOptions } from '../../bench/process-cluster.js';

/** The part of a tap test that `startCluster` needs: a hook run when the test ends. */
interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Starts a cluster and a client on it, waits for a controller, and closes both when the
 * test ends.
 */
export async function startCluster(
  t: Teardown,
  options: ProcessClusterOptions = {},
  clientOptions: Partial<ConstructorParameters<typeof Client>[0]> = {},
): Promise<{ cluster: ProcessCluster; client: Client }> {
  const cluster = await new ProcessCluster(options).start();
  const client = new Client({ brokers: cluster.bootstrap, requestTimeoutMs: 10_000, ...clientOptions });
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  await waitFor('a controller', async () => (await client.admin().describeCluster()).controller);
  return { cluster, client };
}
