/**
 * The --stats-interval-ms line: groups (quiesced, led, their followers lagging), peer
 * traffic per second, CPU share of one core, memory, recovery permits, elections, open
 * files against their budget, scrub progress, repairs after corruption, leader balancing.
 */
import type { Logger } from 'pino';
import type { MultiRaft } from './multiraft/multiraft.js';
import type { BalancingStats } from './operations/leader-balancer.js';
import { Periodic } from './periodic.js';
import type { LogManager } from './storage/index.js';
import type { Scrubber } from './storage/scrubber.js';
import type { PeerTransport } from './transport/peers.js';

export interface StatsSources {
  raft: MultiRaft;
  transport: PeerTransport;
  logs: LogManager;
  scrubber: Scrubber;
  balancing: { stats(): BalancingStats };
  repairs: { readonly repaired: number; readonly metadataRepaired: number };
}

export class StatsReporter {
  private readonly reports: Periodic | null;
  private last = { at: Date.now(), cpu: process.cpuUsage(), frames: 0, raftMessages: 0, groupHeartbeats: 0 };

  /** Reports every `intervalMs`; never when it is 0. */
  constructor(
    private readonly sources: StatsSources,
    intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.reports = intervalMs > 0 ? new Periodic(intervalMs, () => this.report()) : null;
  }

  start(): void {
    this.reports?.start();
  }

  stop(): void {
    this.reports?.stop();
  }

  private report(): void {
    const { raft, transport, logs, scrubber, balancing, repairs } = this.sources;
    const now = Date.now();
    const cpu = process.cpuUsage();
    const seconds = Math.max(0.001, (now - this.last.at) / 1000);
    const { frames, raftMessages, groupHeartbeats, droppedMessages } = transport.stats;
    const { groups, quiesced, leaders, laggingFollowers } = raft.summary();
    const cpuMicros = cpu.user + cpu.system - this.last.cpu.user - this.last.cpu.system;
    this.logger.info({
      groups, quiesced, leaders, laggingFollowers,
      peerFramesPerSec: Math.round((frames - this.last.frames) / seconds),
      raftMessagesPerSec: Math.round((raftMessages - this.last.raftMessages) / seconds),
      groupHeartbeatsPerSec: Math.round((groupHeartbeats - this.last.groupHeartbeats) / seconds),
      peerMessagesDropped: droppedMessages,
      cpuPercent: Math.round((cpuMicros / 1e6 / seconds) * 1000) / 10,
      rssMiB: Math.round(process.memoryUsage.rss() / 1048576),
      heapMiB: Math.round(process.memoryUsage().heapUsed / 1048576),
      recoveries: raft.recoveryStats(),
      elections: raft.electionStats(),
      ...logs.files.stats(),
      scrub: scrubber.stats(),
      repairs: { replicas: repairs.repaired, metadata: repairs.metadataRepaired },
      balancing: balancing.stats(),
    }, 'stats');
    this.last = { at: now, cpu, frames, raftMessages, groupHeartbeats };
  }
}
