/**
 * Growth of the metadata quorum: up to 3 brokers vote on the metadata (5 once the cluster
 * has 5 or more); the controller leader promotes a caught-up learner while there are
 * fewer, one at a time. The rest follow the metadata as learners.
 */
import type { Logger } from 'pino';
import type { Controller } from '../controller/controller.js';
import type { MultiRaft } from '../multiraft/multiraft.js';
import { Periodic } from '../periodic.js';

const QUORUM_CHECK_MS = 250;

/** How many brokers vote on the metadata: 3 (or all, when fewer), 5 once there are 5. */
export function metadataVoterCount(brokers: number): number {
  return brokers >= 5 ? 5 : Math.min(3, brokers);
}

export class MetadataQuorum {
  private readonly checks = new Periodic(QUORUM_CHECK_MS, () => this.grow());

  constructor(
    private readonly controller: Controller,
    private readonly raft: MultiRaft,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.checks.start();
  }

  stop(): void {
    this.checks.stop();
  }

  private grow(): void {
    const group = this.controller.group;
    if (group.node.currentRole !== 'leader') return;
    const status = group.node.status();
    const wanted = metadataVoterCount(this.controller.state.brokers.size);
    if (status.membership.voters.length >= wanted) return;
    const ready = status.membership.learners.find((id) => this.controller.state.brokers.has(id) && (status.progress[id]?.match ?? -1) >= status.commit && status.progress[id]?.recentActive);
    if (ready === undefined) return;
    try {
      this.raft.withNode(group, (node) => node.proposeConfigChange({ type: 'promote', id: ready }));
      this.logger.info({ promoted: ready }, 'promoting a broker to vote on the metadata');
    } catch {
      // Another change is still committing: the next pass tries again.
    }
  }
}
