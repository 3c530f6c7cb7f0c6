/**
 * One broker's own part of the web console's picture: what only it knows exactly. The
 * partitions it leads (in-sync replicas, high watermark), its replica counts, its traffic
 * samples, and, on the controller leader, the consumer groups it coordinates. The broker
 * serving the console asks every other broker for this (the `describeBroker` request) and
 * merges the parts (console.ts).
 */
import type { GroupCoordinator } from '../groups/coordinator.js';
import type { ClusterSight } from './cluster-view.js';
import type { TrafficSample } from './traffic.js';

export interface LedPartition {
  topic: string;
  partition: number;
  /** The leader's term: of two brokers claiming a partition, the later term is the leader. */
  term: number;
  inSync: number[];
  highWatermark: number;
}

export interface GroupSight {
  id: string;
  state: string;
  generation: number;
  members: Array<{ memberId: string; clientId: string; clientAddress: string; assignment: Array<{ topic: string; partitions: number[] }> }>;
}

export interface BrokerSight {
  broker: number;
  controller: number | null;
  replicas: { leaders: number; followers: number };
  led: LedPartition[];
  traffic: readonly TrafficSample[];
  /** Present on the controller leader only: it coordinates every group. */
  groups?: GroupSight[];
}

export interface SightSources extends ClusterSight {
  readonly traffic: { samples(): readonly TrafficSample[] };
  /** The group coordinator: answers only on the controller leader. */
  readonly groups: Pick<GroupCoordinator, 'listGroups' | 'describeGroup'>;
}

export function brokerSight(sources: SightSources): BrokerSight {
  const led: LedPartition[] = [];
  let leaders = 0;
  let followers = 0;
  for (const replica of sources.replicas.all()) {
    if (!replica.isLeader) {
      followers++;
      continue;
    }
    leaders++;
    led.push({ topic: replica.topic, partition: replica.partition, term: replica.group.node.currentTerm, inSync: replica.inSyncVoters(), highWatermark: replica.highWatermark });
  }
  const sight: BrokerSight = {
    broker: sources.config.id,
    controller: sources.controller.leaderId || null,
    replicas: { leaders, followers },
    led,
    traffic: sources.traffic.samples(),
  };
  if (sources.controller.leaderId === sources.config.id) sight.groups = groupsOf(sources.groups);
  return sight;
}

function groupsOf(coordinator: SightSources['groups']): GroupSight[] {
  return (coordinator.listGroups().groups ?? []).map(({ groupId }) => {
    const id = groupId ?? '';
    const described = coordinator.describeGroup({ groupId: id });
    return {
      id,
      state: described.state ?? 'unknown',
      generation: described.generation ?? 0,
      members: (described.members ?? []).map((m) => ({
        memberId: m.memberId ?? '',
        clientId: m.clientId ?? '',
        clientAddress: m.clientAddress ?? '',
        assignment: (m.assignment ?? []).map((a) => ({ topic: a.topic ?? '', partitions: a.partitions ?? [] })),
      })),
    };
  });
}
