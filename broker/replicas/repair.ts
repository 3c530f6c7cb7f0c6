/**
 * Repair of a replica whose log holds a corrupt batch (found by a read or the scrubber).
 */
import type { Logger } from 'pino';
import { FlotillaError } from '../../protocol/errors.js';
import type { BrokerConfig } from '../config.js';
import { CONTROLLER_GROUP } from '../controller/controller.js';
import type { MultiRaft } from '../multiraft/multiraft.js';
import type { PartitionReplica } from '../partition/partition.js';
import type { ReplicaSet } from './replica-set.js';

export interface ReplicaRepairOptions {
  config: Pick<BrokerConfig, 'id' | 'electionTicks' | 'tickMs'>;
  replicas: ReplicaSet;
  raft: MultiRaft;
  logger: Logger;
  /** Whether the broker is stopping (no repair then). */
  stopping: () => boolean;
  /** Stops the broker and exits: rot in the metadata log. */
  failStop: () => Promise<void>;
}

export class ReplicaRepair {
  /** Replicas repaired since the broker started (cut and started again). */
  repaired = 0;

  constructor(private readonly options: ReplicaRepairOptions) {}

  /**
   * A read of a replica's log met a corrupt batch. The replica stops serving (reads get
   * REPLICA_NOT_AVAILABLE and go to another replica), hands its leadership to a caught-up
   * follower if it leads, cuts its log before the bad batch, and starts again as a
   * follower that catches up from the leader; storage remembers the loss, so it does not
   * vote for what it no longer holds until it has caught up. The metadata log is repaired
   * the same way at the next start: a running broker stops rather than run its controller
   * without its log.
   */
  async repair(groupId: number, corruptOffset: number): Promise<void> {
    const { config, replicas, raft, logger } = this.options;
    if (groupId === CONTROLLER_GROUP) {
      logger.fatal({ group: groupId }, 'corrupt batch in the metadata log; stopping: the next start cuts it off and catches up from the controller leader');
      await this.options.failStop();
      return;
    }
    const replica = [...replicas.all()].find((r) => r.group.groupId === groupId);
    if (!replica || this.options.stopping()) return;
    const { topic, partition, group } = replica;
    const started = Date.now();
    if (group.node.currentRole === 'leader') await this.handOff(replica);
    if (!replicas.detach(replica, new FlotillaError('REPLICA_NOT_AVAILABLE', `broker ${config.id} is repairing its replica of ${topic}/${partition}; retry (another replica can serve reads)`))) return;
    await raft.quarantine(group);
    const cut = group.log.cutCorrupt(corruptOffset);
    replicas.reopen(group.logName);
    this.repaired++;
    logger.warn({ topic, partition, group: groupId, cut, ms: Date.now() - started }, 'replica repaired: log cut before the corrupt batch; catching up from the leader');
  }

  /** Asks the most caught-up follower to take over, and waits (a few election timeouts at most) for us to step down. */
  private async handOff(replica: PartitionReplica): Promise<void> {
    const { config, raft, logger } = this.options;
    const status = replica.group.node.status();
    const target = Object.entries(status.progress)
      .map(([id, pr]) => ({ id: Number(id), match: pr.match }))
      .filter(({ id }) => id !== config.id && status.membership.voters.includes(id))
      .sort((a, b) => b.match - a.match)[0];
    if (!target) return;
    try {
      raft.withNode(replica.group, (node) => node.transferLeadership(target.id));
    } catch (err) {
      logger.warn({ topic: replica.topic, partition: replica.partition, err: (err as Error).message }, 'could not hand leadership over before the repair');
      return;
    }
    const deadline = Date.now() + 3 * config.electionTicks * config.tickMs;
    while (replica.group.node.currentRole === 'leader' && Date.now() < deadline) await new Promise((r) => setTimeout(r, config.tickMs));
  }
}
