/**
 * The broker's Prometheus metrics (SPEC section 10; the list and meanings are in the
 * README, "Operations"). Counters and histograms are fed where things happen: the
 * dispatcher's hook (requests, bytes produced and fetched), storage (fsync), partitions
 * (append to commit), Raft decisions (leadership changes). Gauges are computed when
 * scraped, from what the broker already keeps: nothing here runs on a timer.
 *
 * Labels name topics, never partitions, unless `--metrics-detail partition`: by default the
 * number of series does not grow with partitions.
 */
import { statfsSync } from 'node:fs';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { clusterHealth } from '../../protocol/health.js';
import type { BrokerConfig } from '../config.js';
import type { GroupEvent } from '../multiraft/multiraft.js';
import type { RecoveryStats } from '../multiraft/recovery-scheduler.js';
import type { ProduceObserver } from '../partition/partition.js';
import { asFlotillaError, type RequestHook } from '../requests/dispatcher.js';
import type { ScrubStats } from '../storage/scrubber.js';
import { brokerLiveness, healthViewOf, type ClusterSight } from './cluster-view.js';
import { recordsIn, TrafficHistory } from './traffic.js';

export type MetricsDetail = 'topic' | 'partition';

/** What the gauges read at scrape time. */
export interface MetricsSources extends ClusterSight {
  readonly config: Pick<BrokerConfig, 'id' | 'dataDir'>;
  readonly raft: { recoveryStats(): RecoveryStats | undefined };
  readonly scrubber: { stats(): ScrubStats };
  readonly clients: { readonly connectionCount: number };
  readonly repairs: { readonly repaired: number; readonly metadataRepaired: number };
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

export class BrokerMetrics {
  readonly registry = new Registry();
  /** The same bytes, with records, over the last minutes: the console's rates. */
  readonly traffic = new TrafficHistory();
  private readonly requests: Counter<'api' | 'code'>;
  private readonly requestSeconds: Histogram<'api'>;
  private readonly produced: Counter<'topic' | 'partition'>;
  private readonly fetched: Counter<'topic' | 'partition'>;
  private readonly fsyncSeconds: Histogram;
  private readonly commitSeconds: Histogram;
  private readonly leadershipChanges: Counter;
  private readonly kafkaFetches: Counter<'served'>;

  /** `sources` is read only when scraped, so the metrics can exist before the parts they read. */
  constructor(private readonly detail: MetricsDetail, sources: () => MetricsSources) {
    const registers = [this.registry];
    const byPartition = detail === 'partition';
    const dataLabels = byPartition ? (['topic', 'partition'] as const) : (['topic'] as const);
    collectDefaultMetrics({ register: this.registry, prefix: 'flotilla_' });

    this.requests = new Counter({ name: 'flotilla_requests_total', help: 'Client requests answered, by request type and error code (OK when none).', labelNames: ['api', 'code'], registers });
    this.requestSeconds = new Histogram({ name: 'flotilla_request_duration_seconds', help: 'Seconds from a decoded request to its answer, by request type (fetches include their long poll).', labelNames: ['api'], buckets: LATENCY_BUCKETS, registers });
    this.produced = new Counter({ name: 'flotilla_produced_bytes_total', help: 'Record-batch bytes appended by producers at partitions led here.', labelNames: [...dataLabels], registers });
    this.fetched = new Counter({ name: 'flotilla_fetched_bytes_total', help: 'Record-batch bytes served to fetches from replicas here.', labelNames: [...dataLabels], registers });
    this.fsyncSeconds = new Histogram({ name: 'flotilla_storage_fsync_seconds', help: 'Seconds of each fdatasync of a log segment or the term-and-vote journal.', buckets: FSYNC_BUCKETS, registers });
    this.commitSeconds = new Histogram({ name: 'flotilla_append_commit_seconds', help: 'Seconds from a leader appending an acks=all write to its commit (a majority holds it durably).', buckets: LATENCY_BUCKETS, registers });
    this.kafkaFetches = new Counter({ name: 'flotilla_kafka_fetch_partitions_total', help: 'Partitions of Kafka fetches: read here as their leader or as a follower (follower fetching), or answered with a preferred read replica in the client\'s rack.', labelNames: ['served'], registers });
    this.leadershipChanges = new Counter({ name: 'flotilla_raft_leadership_changes_total', help: 'Elections this broker won (partitions and the metadata group); the sum over brokers counts every leadership change.', registers });

    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], collect: (g: Gauge<L>, s: MetricsSources) => void) =>
      new Gauge<L>({ name, help, labelNames, registers, collect() { this.reset(); collect(this, sources()); } });

    gauge('flotilla_controller_is_leader', '1 on the controller leader, 0 elsewhere.', [], (g, s) => g.set(s.controller.leaderId === s.config.id ? 1 : 0));
    gauge('flotilla_brokers', 'Brokers of the cluster by whether this broker reaches them.', ['state'], (g, s) => {
      const brokers = brokerLiveness(s);
      g.set({ state: 'up' }, brokers.filter((b) => b.alive).length);
      g.set({ state: 'down' }, brokers.filter((b) => !b.alive).length);
    });
    gauge('flotilla_replicas', 'Partition replicas hosted here by Raft role (candidates count as followers).', ['role'], (g, s) => {
      let leaders = 0;
      let all = 0;
      for (const r of s.replicas.all()) {
        all++;
        if (r.isLeader) leaders++;
      }
      g.set({ role: 'leader' }, leaders);
      g.set({ role: 'follower' }, all - leaders);
    });
    gauge('flotilla_partitions_under_replicated', 'Partitions led here with a replica that is not in sync; the cluster total is the sum over brokers.', [], (g, s) => {
      let count = 0;
      for (const r of s.replicas.all()) if (r.underReplicated) count++;
      g.set(count);
    });
    gauge('flotilla_partitions_leaderless', 'Partitions without a leader, counted by the controller leader (0 elsewhere).', [], (g, s) => {
      g.set(s.controller.leaderId === s.config.id ? clusterHealth(healthViewOf(s)).leaderlessPartitions : 0);
    });
    gauge('flotilla_recoveries', 'Catch-ups of lagging followers led here: holding a recovery permit (active) or waiting for one.', ['state'], (g, s) => {
      const stats = s.raft.recoveryStats();
      g.set({ state: 'active' }, stats?.active ?? 0);
      g.set({ state: 'waiting' }, stats?.waiting ?? 0);
    });
    gauge('flotilla_client_connections', 'Client connections open now.', [], (g, s) => g.set(s.clients.connectionCount));
    gauge('flotilla_consumer_group_lag', 'Records between a consumer group\'s committed offset and the high watermark, at partitions led here.', ['group', ...dataLabels], (g, s) => {
      for (const [group, offsets] of s.controller.state.groupOffsets) {
        for (const [key, committed] of offsets) {
          const slash = key.lastIndexOf('/');
          const topic = key.slice(0, slash);
          const partition = Number(key.slice(slash + 1));
          const replica = s.replicas.replica(topic, partition);
          if (!replica?.isLeader || committed < 0) continue; // a Kafka client's -1 or -2: no position yet
          const labels = byPartition ? { group, topic, partition: String(partition) } : { group, topic };
          g.inc(labels, Math.max(0, replica.highWatermark - committed));
        }
      }
    });
    gauge('flotilla_disk_free_bytes', 'Bytes available to the broker on the file system of its data directory.', [], (g, s) => {
      const fsStats = statfsSync(s.config.dataDir);
      g.set(fsStats.bavail * fsStats.bsize);
    });
    const counterOf = (name: string, help: string, read: (s: MetricsSources) => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read(sources())); } });
    counterOf('flotilla_scrubber_corrupt_batches_total', 'Corrupt batches the background scrubber found.', (s) => s.scrubber.stats().corrupt);
    counterOf('flotilla_scrubber_passes_total', 'Passes of the background scrubber over every sealed segment.', (s) => s.scrubber.stats().passes);
    counterOf('flotilla_replica_repairs_total', 'Partition replicas repaired after a corrupt batch (log cut, caught up from the leader).', (s) => s.repairs.repaired);
    counterOf('flotilla_metadata_repairs_total', 'Repairs of the metadata: its log cut after a corrupt batch and caught up, or a corrupt controller snapshot file replaced.', (s) => s.repairs.metadataRepaired);
  }

  /** How the partitions of one Kafka fetch were served (broker/kafka/apis.ts). */
  countKafkaFetches(served: Record<'leader' | 'follower' | 'redirected', number>): void {
    for (const [how, count] of Object.entries(served)) if (count > 0) this.kafkaFetches.inc({ served: how }, count);
  }

  /** The dispatcher hook: counts every request by type and outcome, its duration, and its bytes. */
  readonly requestHook: RequestHook = async (type, _context, next, request) => {
    const started = performance.now();
    let code = 'OK';
    try {
      const response = await next();
      if (type === 'fetch' && response) this.countFetched(response as { partitions: Array<{ topic: string; partition: number; records?: Uint8Array }> });
      return response;
    } catch (error) {
      code = asFlotillaError(error).code;
      throw error;
    } finally {
      this.requests.inc({ api: type, code });
      this.requestSeconds.observe({ api: type }, (performance.now() - started) / 1000);
    }
  };

  /**
   * Hears the batches the replicas take as leaders, whatever the acks and the listener: only
   * what was appended counts (not a refused or unknown partition, which a produce with acks
   * none would not say), so no name a client makes up becomes a series.
   */
  readonly produceObserver: ProduceObserver = {
    appended: (topic, partition, batch) => {
      this.produced.inc(this.dataLabels(topic, partition), batch.length);
      this.traffic.produced(topic, recordsIn(batch), batch.length);
    },
    committed: (seconds) => this.commitSeconds.observe(seconds),
  };

  private countFetched(response: { partitions: Array<{ topic: string; partition: number; records?: Uint8Array }> }): void {
    for (const p of response.partitions) {
      if (!p.records || p.records.length === 0) continue;
      this.fetched.inc(this.dataLabels(p.topic, p.partition), p.records.length);
      this.traffic.fetched(p.topic, recordsIn(p.records), p.records.length);
    }
  }

  private dataLabels(topic: string, partition: number): { topic: string; partition?: string } {
    return this.detail === 'partition' ? { topic, partition: String(partition) } : { topic };
  }

  observeFsync(seconds: number): void {
    this.fsyncSeconds.observe(seconds);
  }

  /** A Raft decision of any group here. */
  onGroupEvent(event: GroupEvent): void {
    if (event.event === 'elected') this.leadershipChanges.inc();
  }

  /** `trace`, with every decision also counted here. */
  counting(trace: (groupId: number, event: GroupEvent) => void): (groupId: number, event: GroupEvent) => void {
    return (groupId, event) => {
      this.onGroupEvent(event);
      trace(groupId, event);
    };
  }

  /** The Prometheus text exposition and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
