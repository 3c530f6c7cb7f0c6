/** Retention: each replica's log drops its oldest segments past the topic's time and size limits, never beyond what is committed. */
import type { Logger } from 'pino';
import { Periodic } from '../periodic.js';
import type { HostedReplicas } from '../partition/hosted.js';

const RETENTION_CHECK_MS = 5000;

export class Retention {
  private readonly checks = new Periodic(RETENTION_CHECK_MS, () => this.apply());

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

  private apply(): void {
    const now = Date.now();
    for (const replica of this.replicas.all()) {
      try {
        replica.group.log.applyRetention(now, replica.highWatermark - 1);
      } catch (error) {
        this.logger.error({ err: error, topic: replica.topic, partition: replica.partition }, 'retention failed');
      }
    }
  }
}
