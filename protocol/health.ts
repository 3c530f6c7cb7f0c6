/**
 * Cluster health (SPEC section 10) from a view of brokers and partitions, shared by the
 * broker's `GET /v1/cluster/health` and `flotilla cluster health`, which gather the view
 * differently (one broker's own sight, or every partition's leader) and judge it alike.
 */

export interface HealthView {
  /** The controller leader's id, or null when none is known. */
  controller: number | null;
  brokers: ReadonlyArray<{ id: number; alive: boolean }>;
  /** `leader` null or 0 when the partition has none; `inSync` as its leader reports it. */
  partitions: ReadonlyArray<{ leader: number | null; replicas: readonly number[]; inSync: readonly number[] }>;
}

export interface ClusterHealth {
  healthy: boolean;
  controller: number | null;
  brokersDown: number[];
  leaderlessPartitions: number;
  underReplicatedPartitions: number;
}

export function clusterHealth(view: HealthView): ClusterHealth {
  const brokersDown = view.brokers.filter((b) => !b.alive).map((b) => b.id).sort((a, b) => a - b);
  let leaderlessPartitions = 0;
  let underReplicatedPartitions = 0;
  for (const p of view.partitions) {
    if (!p.leader) leaderlessPartitions++;
    if (p.replicas.some((id) => !p.inSync.includes(id))) underReplicatedPartitions++;
  }
  return {
    healthy: view.controller !== null && brokersDown.length === 0 && leaderlessPartitions === 0 && underReplicatedPartitions === 0,
    controller: view.controller,
    brokersDown,
    leaderlessPartitions,
    underReplicatedPartitions,
  };
}
