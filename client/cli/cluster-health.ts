/**
 * `flotilla cluster health [--wait]`: SPEC section 10's health, judged from every
 * partition's leader. It speaks the client protocol to each broker (the addresses it
 * already knows; a broker's HTTP port may be off or unknown here) and takes each
 * partition's in-sync replicas from the broker that leads it, the only one that knows
 * them: one broker's own sight cannot tell whether a follower elsewhere has caught up.
 * Prints the health as one JSON object; exit 0 when healthy, 1 when not.
 */
import { requestOnce } from '../../broker/cluster-request.js';
import { clusterHealth, type ClusterHealth, type HealthView } from '../../protocol/health.js';
import { sleep } from '../cluster/retry.js';
import { errorLine, Exit, withClient, writeOut, type GlobalOptions } from './context.js';

const POLL_MS = 500;

export async function clusterHealthCommand(globals: GlobalOptions, options: { wait: boolean; waitMs: number }): Promise<number> {
  const deadline = Date.now() + options.waitMs;
  let health: ClusterHealth | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      health = await gatherHealth(globals);
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (!options.wait || health?.healthy || Date.now() >= deadline) break;
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
  }
  if (!health) {
    process.stderr.write(`${errorLine(lastError)}\n`);
    return Exit.ERROR;
  }
  await writeOut(`${JSON.stringify(health)}\n`);
  if (!health.healthy && options.wait) process.stderr.write(`the cluster was not healthy within ${options.waitMs} ms\n`);
  return health.healthy ? Exit.OK : Exit.ERROR;
}

/** The brokers of the cluster, then every broker's metadata; a broker that does not answer is down. */
async function gatherHealth(globals: GlobalOptions): Promise<ClusterHealth> {
  const cluster = await withClient({ ...globals, timeoutMs: Math.min(globals.timeoutMs, 5000) }, (client) => client.admin().describeCluster());
  const timeoutMs = Math.min(globals.timeoutMs, 3000);
  const answers = await Promise.all(
    cluster.brokers.map(async (b) => {
      try {
        return { id: b.id, metadata: (await requestOnce(b.address, { metadata: { topics: [] } }, timeoutMs)).metadata };
      } catch {
        return { id: b.id, metadata: undefined };
      }
    }),
  );
  // Each partition as its leader reports it (a leader reports itself); the rest as any broker knows it.
  const partitions = new Map<string, HealthView['partitions'][number]>();
  for (const { id, metadata } of answers) {
    for (const topic of metadata?.topics ?? []) {
      for (const p of topic.partitions) {
        const key = `${topic.topic}/${p.partition}`;
        if (p.leader === id) partitions.set(key, { leader: id, replicas: p.replicas, inSync: p.inSync });
        else if (!partitions.has(key)) partitions.set(key, { leader: null, replicas: p.replicas, inSync: [] });
      }
    }
  }
  const answered = new Set(answers.filter((a) => a.metadata).map((a) => a.id));
  return clusterHealth({
    controller: cluster.controller,
    brokers: cluster.brokers.map((b) => ({ id: b.id, alive: b.alive && answered.has(b.id) })),
    partitions: [...partitions.values()],
  });
}
