/**
 * The cluster as this broker sees it, for its metrics and its health endpoint: which
 * brokers it reaches, and each partition's leader and in-sync replicas as far as it knows
 * them (exactly where it leads; where it follows, the leader it follows and the replicas
 * it reaches; where it holds no replica, only whether a majority of them is reachable).
 */
import type { HealthView } from '../../protocol/health.js';
import type { ControllerState } from '../controller/state.js';
import type { HostedReplicas } from '../partition/hosted.js';

export interface ClusterSight {
  readonly config: { readonly id: number };
  readonly controller: { readonly leaderId: number; readonly state: ControllerState };
  readonly replicas: HostedReplicas;
  readonly transport: { isConnected(id: number): boolean };
}

/** Every broker of the metadata, alive when this broker is connected to it (itself always). */
export function brokerLiveness(sight: ClusterSight): Array<{ id: number; address: string; alive: boolean }> {
  return [...sight.controller.state.brokers.values()]
    .sort((a, b) => a.id - b.id)
    .map((b) => ({ id: b.id, address: b.address, alive: sight.transport.isConnected(b.id) }));
}

export function healthViewOf(sight: ClusterSight): HealthView {
  const alive = (id: number) => sight.transport.isConnected(id);
  const partitions: Array<HealthView['partitions'][number]> = [];
  for (const [topic, meta] of sight.controller.state.topics) {
    for (const p of meta.partitions) {
      const replica = sight.replicas.replica(topic, p.partition);
      const reachable = p.replicas.filter(alive);
      if (replica?.isLeader) partitions.push({ leader: sight.config.id, replicas: p.replicas, inSync: replica.inSyncVoters() });
      else if (replica) partitions.push({ leader: replica.group.node.currentLeader || null, replicas: p.replicas, inSync: reachable });
      // Not hosted here: a leader can exist only where a majority of replicas is up.
      else partitions.push({ leader: reachable.length * 2 > p.replicas.length ? reachable[0]! : null, replicas: p.replicas, inSync: reachable });
    }
  }
  return { controller: sight.controller.leaderId || null, brokers: brokerLiveness(sight), partitions };
}
