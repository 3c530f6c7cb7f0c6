/** Compaction of the metadata log: a snapshot every --controller-snapshot-entries applied entries (Controller.maybeCompact). */
import type { Logger } from 'pino';
import type { Controller } from '../controller/controller.js';
import { Periodic } from '../periodic.js';

const COMPACTION_CHECK_MS = 250;

export class MetadataCompaction {
  private readonly checks = new Periodic(COMPACTION_CHECK_MS, () => this.compact());

  constructor(
    private readonly controller: Controller,
    private readonly everyEntries: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.checks.start();
  }

  stop(): void {
    this.checks.stop();
  }

  private compact(): void {
    try {
      if (this.controller.maybeCompact(this.everyEntries)) this.logger.debug('metadata log compacted');
    } catch (error) {
      this.logger.error({ err: error }, 'metadata log compaction failed; it will be retried');
    }
  }
}
