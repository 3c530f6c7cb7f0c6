/**
 * The web console's data (`GET /v1/console`): the whole cluster as seen from any one
 * broker. This broker asks every other broker for its own sight (console-sight.ts) over
 * the broker-to-broker request path and merges the answers with its own and with the
 * metadata every broker holds (topics, replicas, committed group offsets). A broker that
 * does not answer keeps its last answer, marked stale, so the console goes on showing what
 * is known while a broker is down.
 */
import { parsePartitionKey } from '../groups/assignor.js';
import { requestOnce, type InterBrokerAccess } from '../cluster-request.js';
import { brokerLiveness, type ClusterSight } from './cluster-view.js';
import { brokerSight, type BrokerSight, type GroupSight, type LedPartition, type SightSources } from './console-sight.js';
import { RING_SAMPLES, SAMPLE_INTERVAL_MS, addCounts, topicRecord, type TrafficCounts } from './traffic.js';

/** How long a peer has to answer before its last answer is shown, marked stale. */
const PEER_TIMEOUT_MS = 1500;
/** Pages polling at once share one gathering per this many milliseconds. */
const REUSE_MS = 1000;
/** The interval that ended less than this ago is left out: other brokers' timers may not have closed it yet. */
const SAMPLE_GRACE_MS = 500;

export interface ConsolePartition {
  partition: number;
  leader: number | null;
  replicas: number[];
  inSync: number[];
  highWatermark: number | null;
  /** What is shown comes from a broker that did not answer this time (or is not known at all). */
  stale: boolean;
}

export interface ConsoleTopic {
  name: string;
  partitions: ConsolePartition[];
  leaderless: number;
  underReplicated: number;
}

export interface ConsoleGroup {
  id: string;
  state: string;
  generation: number;
  members: GroupSight['members'];
  /** Sum of the partitions' lag whose high watermark is known. */
  lag: number;
  partitions: Array<{ topic: string; partition: number; committed: number; end: number | null; lag: number | null }>;
}

/** Per-second rates over the sampled intervals, oldest first. */
export interface RateSeries {
  producedRecords: number[];
  producedBytes: number[];
  fetchedRecords: number[];
  fetchedBytes: number[];
}

export interface ConsoleDocument {
  servedBy: number;
  /** When the document was made (ms since the epoch, the serving broker's clock). */
  at: number;
  controller: number | null;
  brokers: Array<{ id: number; address: string; up: boolean; controller: boolean; leaders: number | null; followers: number | null; stale: boolean }>;
  topics: ConsoleTopic[];
  groups: ConsoleGroup[];
  /** The groups' states and members come from a controller leader that did not answer this time. */
  groupsStale: boolean;
  rates: { from: number; intervalMs: number; total: RateSeries; topics: Record<string, RateSeries> };
}

/** A broker's sight and whether it is from this gathering. */
export interface HeardSight {
  sight: BrokerSight;
  fresh: boolean;
}

export class ClusterConsole {
  /** The last sight each other broker gave. */
  private readonly lastHeard = new Map<number, BrokerSight>();
  private gathering: Promise<ConsoleDocument> | null = null;
  private lastDocument: ConsoleDocument | null = null;

  constructor(
    private readonly sources: SightSources,
    private readonly access: InterBrokerAccess,
    private readonly now: () => number = Date.now,
  ) {}

  document(): Promise<ConsoleDocument> {
    if (this.lastDocument && this.now() - this.lastDocument.at < REUSE_MS) return Promise.resolve(this.lastDocument);
    this.gathering ??= this.gather().finally(() => (this.gathering = null));
    return this.gathering;
  }

  private async gather(): Promise<ConsoleDocument> {
    const self = this.sources.config.id;
    const peers = [...this.sources.controller.state.brokers.values()].filter((b) => b.id !== self);
    for (const id of this.lastHeard.keys()) if (!peers.some((b) => b.id === id)) this.lastHeard.delete(id);
    const answers = await Promise.all(
      peers.map(async (peer): Promise<HeardSight | null> => {
        try {
          const response = await requestOnce(peer.address, { describeBroker: {} }, PEER_TIMEOUT_MS, this.access);
          const sight = JSON.parse(response.describeBroker?.sightJson ?? '') as BrokerSight;
          this.lastHeard.set(peer.id, sight);
          return { sight, fresh: true };
        } catch {
          const last = this.lastHeard.get(peer.id);
          return last ? { sight: last, fresh: false } : null;
        }
      }),
    );
    const heard = [{ sight: brokerSight(this.sources), fresh: true }, ...answers.filter((a): a is HeardSight => a !== null)];
    this.lastDocument = assembleConsole(this.sources, heard, this.now());
    return this.lastDocument;
  }
}

/** Merges the brokers' sights with this broker's metadata into the console's document. */
export function assembleConsole(sources: ClusterSight, heard: readonly HeardSight[], now: number): ConsoleDocument {
  const self = sources.config.id;
  const controller = sources.controller.leaderId || null;
  const sightOf = new Map(heard.map((h) => [h.sight.broker, h]));

  const brokers = brokerLiveness(sources).map((b) => {
    const h = sightOf.get(b.id);
    return { id: b.id, address: b.address, up: b.alive, controller: b.id === controller, leaders: h?.sight.replicas.leaders ?? null, followers: h?.sight.replicas.followers ?? null, stale: !h?.fresh };
  });

  // Each partition from the broker leading it: a fresh claim over a stale one, then the later term.
  const claims = new Map<string, { led: LedPartition; leader: number; fresh: boolean }>();
  for (const { sight, fresh } of heard) {
    for (const led of sight.led) {
      const key = `${led.topic}/${led.partition}`;
      const known = claims.get(key);
      if (!known || (fresh && !known.fresh) || (fresh === known.fresh && led.term > known.led.term)) claims.set(key, { led, leader: sight.broker, fresh });
    }
  }
  const topics: ConsoleTopic[] = [...sources.controller.state.topics]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, meta]) => {
      const partitions = meta.partitions.map((p): ConsolePartition => {
        const claim = claims.get(`${name}/${p.partition}`);
        if (claim) return { partition: p.partition, leader: claim.leader, replicas: p.replicas, inSync: claim.led.inSync, highWatermark: claim.led.highWatermark, stale: !claim.fresh };
        // Nobody claims it: the leader a replica here follows, if any (in-sync replicas unknown).
        const followed = sources.replicas.replica(name, p.partition)?.group.node.currentLeader || null;
        return { partition: p.partition, leader: followed, replicas: p.replicas, inSync: [], highWatermark: null, stale: true };
      });
      return {
        name,
        partitions,
        leaderless: partitions.filter((p) => p.leader === null).length,
        underReplicated: partitions.filter((p) => p.replicas.some((id) => !p.inSync.includes(id))).length,
      };
    });

  const coordinator = heard.find((h) => h.sight.groups !== undefined && h.sight.broker === controller) ?? heard.find((h) => h.sight.groups !== undefined);
  return {
    servedBy: self,
    at: now,
    controller,
    brokers,
    topics,
    groups: groupsOf(sources, coordinator?.sight.groups ?? [], claims),
    groupsStale: !coordinator?.fresh,
    rates: ratesOf(heard, now),
  };
}

/** Every group the coordinator lists or the metadata has offsets of, with its lag per partition. */
function groupsOf(sources: ClusterSight, coordinated: readonly GroupSight[], claims: Map<string, { led: LedPartition }>): ConsoleGroup[] {
  const offsets = sources.controller.state.groupOffsets;
  const ids = [...new Set([...coordinated.map((g) => g.id), ...offsets.keys()])].sort();
  return ids.map((id) => {
    const described = coordinated.find((g) => g.id === id);
    const partitions = [...(offsets.get(id) ?? [])].map(([key, committed]) => {
      const end = claims.get(key)?.led.highWatermark ?? null;
      return { ...parsePartitionKey(key), committed, end, lag: end === null || committed < 0 ? null : Math.max(0, end - committed) };
    });
    partitions.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    return {
      id,
      state: described?.state ?? 'unknown',
      generation: described?.generation ?? 0,
      members: described?.members ?? [],
      lag: partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0),
      partitions,
    };
  });
}

/** The brokers' traffic samples added up per interval: per topic and in total, per second. */
function ratesOf(heard: readonly HeardSight[], now: number): ConsoleDocument['rates'] {
  const lastSlot = Math.floor((now - SAMPLE_GRACE_MS) / SAMPLE_INTERVAL_MS) - 1;
  const firstSlot = lastSlot - RING_SAMPLES + 1;
  const perTopic = new Map<string, Array<TrafficCounts | undefined>>();
  for (const { sight } of heard) {
    for (const sample of sight.traffic) {
      if (sample.slot < firstSlot || sample.slot > lastSlot) continue;
      for (const [topic, counts] of Object.entries(sample.topics)) {
        let series = perTopic.get(topic);
        if (!series) perTopic.set(topic, (series = new Array<TrafficCounts | undefined>(RING_SAMPLES)));
        series[sample.slot - firstSlot] = addCounts(series[sample.slot - firstSlot], counts);
      }
    }
  }
  const perSecond = 1000 / SAMPLE_INTERVAL_MS;
  const seriesOf = (counts: Array<TrafficCounts | undefined>): RateSeries => {
    const field = (i: number) => Array.from(counts, (c) => (c ? c[i]! * perSecond : 0));
    return { producedRecords: field(0), producedBytes: field(1), fetchedRecords: field(2), fetchedBytes: field(3) };
  };
  const total = new Array<TrafficCounts | undefined>(RING_SAMPLES);
  const sorted = [...perTopic].sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [, series] of sorted) series.forEach((c, i) => c && (total[i] = addCounts(total[i], c)));
  const topics = topicRecord(sorted.map(([topic, series]) => [topic, seriesOf(series)]));
  return { from: firstSlot * SAMPLE_INTERVAL_MS, intervalMs: SAMPLE_INTERVAL_MS, total: seriesOf(total), topics };
}
