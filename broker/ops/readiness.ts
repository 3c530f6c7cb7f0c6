/**
 * `GET /readyz`: whether this broker can take its share of the cluster's work now — what
 * a rolling restart waits for before stopping the next broker. Ready when it listens,
 * knows the controller leader and has its metadata, and every replica it hosts has a
 * leader and is caught up. A replica it leads is; one it follows is caught up when its
 * leader counts it in sync, so the leaders are asked (a metadata request to each broker
 * leading a partition followed here, at most one per broker per check).
 */
import type { client } from '../../protocol/codec.js';
import { requestOnce, type InterBrokerAccess } from '../cluster-request.js';
import type { Controller } from '../controller/controller.js';
import type { HostedReplicas } from '../partition/hosted.js';

/** Reasons listed in an answer; the rest are counted. */
const MAX_REASONS = 20;
const ASK_LEADER_TIMEOUT_MS = 2000;

export interface ReadinessSources {
  readonly config: { readonly id: number };
  readonly controller: Pick<Controller, 'leaderId' | 'metadataCurrent' | 'addressOf'>;
  readonly replicas: HostedReplicas;
  readonly listening: () => boolean;
  /** How to reach the leaders (TLS, SASL) when asking them. */
  readonly access: InterBrokerAccess;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export async function checkReadiness(sources: ReadinessSources): Promise<Readiness> {
  const { config, controller, replicas } = sources;
  const reasons: string[] = [];
  if (!sources.listening()) reasons.push('the broker does not listen on its port yet');
  if (!controller.leaderId) reasons.push('no controller leader is known');
  else if (!controller.metadataCurrent) reasons.push('the metadata is still catching up');

  // Followed replicas, by the broker leading them.
  const byLeader = new Map<number, Array<{ topic: string; partition: number }>>();
  for (const replica of replicas.all()) {
    const name = `${replica.topic}/${replica.partition}`;
    const leader = replica.group.node.currentLeader;
    if (!leader) reasons.push(`${name} has no leader`);
    else if (replica.group.node.status().recoverTo >= 0) reasons.push(`${name} is recovering entries it lost`);
    else if (leader !== config.id) {
      let followed = byLeader.get(leader);
      if (!followed) byLeader.set(leader, (followed = []));
      followed.push({ topic: replica.topic, partition: replica.partition });
    }
  }
  const answers = await Promise.all([...byLeader].map(([leader, followed]) => notInSyncAt(sources, leader, followed)));
  reasons.push(...answers.flat());
  const shown = reasons.slice(0, MAX_REASONS);
  if (reasons.length > MAX_REASONS) shown.push(`and ${reasons.length - MAX_REASONS} more`);
  return { ready: reasons.length === 0, reasons: shown };
}

/** Why the partitions followed here under broker `leader` are not in sync there (empty: all are). */
async function notInSyncAt(sources: ReadinessSources, leader: number, followed: Array<{ topic: string; partition: number }>): Promise<string[]> {
  const self = sources.config.id;
  const address = sources.controller.addressOf(leader);
  const names = (ps: typeof followed) => ps.map((p) => `${p.topic}/${p.partition}`);
  const summary = (ps: typeof followed, why: string) => [`${ps.length === 1 ? names(ps)[0] : `${ps.length} partitions (${names(ps).slice(0, 3).join(', ')}${ps.length > 3 ? ', ...' : ''})`} ${why}`];
  if (!address) return summary(followed, `follow broker ${leader}, whose address is not known`);
  let response: client.Response;
  try {
    response = await requestOnce(address, { metadata: { topics: [...new Set(followed.map((p) => p.topic))] } }, ASK_LEADER_TIMEOUT_MS, sources.access);
  } catch (error) {
    return summary(followed, `follow broker ${leader}, which did not answer: ${(error as Error).message}`);
  }
  const seen = new Map<string, { leader: number; inSync: number[] }>();
  for (const topic of response.metadata?.topics ?? []) {
    for (const p of topic.partitions) seen.set(`${topic.topic}/${p.partition}`, { leader: p.leader, inSync: p.inSync });
  }
  const lagging = followed.filter((p) => {
    const there = seen.get(`${p.topic}/${p.partition}`);
    return !there || there.leader !== leader || !there.inSync.includes(self);
  });
  return lagging.length === 0 ? [] : summary(lagging, `not in sync at leader broker ${leader} yet`);
}
