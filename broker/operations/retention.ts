/**
 * Retention: each replica's log drops its oldest segments past the topic's time and size
 * limits, never beyond what is committed. Only a log of two segments or more can drop one
 * (the active segment stays), so checks visit those; finding them takes a walk of every
 * replica, done less often (at 50,000 partitions a walk every check was a visible share of
 * an idle broker's CPU).
 */
import type { Logger } from 'pino';
import { Periodic } from '../periodic.js';
import type { HostedReplicas } from '../partition/hosted.js';
import type { PartitionReplica } from '../partition/partition.js';

const RETENTION_CHECK_MS = 5000;
/** Every this many checks, a walk of every replica finds the logs that gained a segment. */
export const CHECKS_PER_WALK = 12;

export class Retention {
  private readonly checks = new Periodic(RETENTION_CHECK_MS, () => this.check());
  /** Replicas whose log had more than one segment at the last walk. */
  private candidates: PartitionReplica[] = [];
  private checksSinceWalk = CHECKS_PER_WALK;

  constructor(
    private readonly replicas: HostedReplicas,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.checks.start();
  }

  stop(): void {
    this.checks.stop();
  }

  /** One check (every RETENTION_CHECK_MS once started). */
  check(): void {
    if (++this.checksSinceWalk >= CHECKS_PER_WALK) {
      this.checksSinceWalk = 0;
      this.candidates = [];
      for (const replica of this.replicas.all()) if (replica.group.log.segmentCount() > 1) this.candidates.push(replica);
    }
    const now = Date.now();
    for (const replica of this.candidates) {
      if (replica.group.log.isClosed) continue; // removed (topic deleted, partition moved) since the walk
      try {
        replica.group.log.applyRetention(now, replica.highWatermark - 1);
      } catch (error) {
        this.logger.error({ err: error, topic: replica.topic, partition: replica.partition }, 'retention failed');
      }
    }
  }
}
