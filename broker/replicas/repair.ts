/**
 * Repair of a replica whose log holds a corrupt batch (found by a read, the Raft core or
 * the scrubber): partition replicas and the metadata log alike, while the broker runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { FlotillaError } from '../../protocol/errors.js';
import type { BrokerConfig } from '../config.js';
import { CONTROLLER_GROUP, type Controller } from '../controller/controller.js';
import { CorruptSnapshot } from '../controller/snapshot-file.js';
import type { Group, MultiRaft } from '../multiraft/multiraft.js';
import type { ReplicaSet } from './replica-set.js';

export interface ReplicaRepairOptions {
  config: Pick<BrokerConfig, 'id' | 'electionTicks' | 'tickMs' | 'controllerSnapshotEntries'>;
  replicas: ReplicaSet;
  controller: Controller;
  raft: MultiRaft;
  logger: Logger;
  /** Whether the broker is stopping (no repair then). */
  stopping: () => boolean;
  /** Stops the broker and exits: a repair that could not be completed. */
  failStop: () => Promise<void>;
}

export class ReplicaRepair {
  /** Partition replicas repaired since the broker started (cut and started again). */
  repaired = 0;
  /** Repairs of the metadata log, and of the controller snapshot file, since the broker started. */
  metadataRepaired = 0;

  constructor(private readonly options: ReplicaRepairOptions) {}

  /**
   * A read of a replica's log met a corrupt batch. The replica stops serving (reads get
   * REPLICA_NOT_AVAILABLE and go to another replica), hands its leadership to a caught-up
   * follower if it leads, cuts its log before the bad batch, and starts again as a
   * follower that catches up from the leader; storage remembers the loss, so it does not
   * vote for what it no longer holds until it has caught up. The metadata log is repaired
   * the same way (`repairMetadata`).
   */
  async repair(groupId: number, corruptOffset: number): Promise<void> {
    if (this.options.stopping()) return;
    if (groupId === CONTROLLER_GROUP) return this.repairMetadata(corruptOffset);
    const { config, replicas, raft, logger } = this.options;
    const replica = [...replicas.all()].find((r) => r.group.groupId === groupId);
    if (!replica) return;
    const { topic, partition, group } = replica;
    const started = Date.now();
    await this.handOff(group, { topic, partition });
    if (!replicas.detach(replica, new FlotillaError('REPLICA_NOT_AVAILABLE', `broker ${config.id} is repairing its replica of ${topic}/${partition}; retry (another replica can serve reads)`))) return;
    await raft.quarantine(group);
    const cut = group.log.cutCorrupt(corruptOffset);
    replicas.reopen(group.logName);
    this.repaired++;
    logger.warn({ topic, partition, group: groupId, cut, ms: Date.now() - started }, 'replica repaired: log cut before the corrupt batch; catching up from the leader');
  }

  /**
   * The metadata log's repair: the same steps, but the state machine keeps the metadata it
   * applied (it never goes back, so nothing that watches it sees an older state) and the
   * group restarts from it as from a snapshot at the applied index (Controller.
   * restartFromApplied). The broker's other groups and its connections run on meanwhile;
   * metadata requests meet a follower (NOT_CONTROLLER) for the moment of the repair.
   * Any failure part-way stops the broker: the next start repairs from what is on disk.
   */
  private async repairMetadata(corruptOffset: number): Promise<void> {
    const { controller, raft, logger } = this.options;
    const group = controller.group;
    const started = Date.now();
    let cut: { lastIndexBefore: number; lastIndexAfter: number } | undefined;
    let restartedAt: number;
    try {
      controller.beginRepair();
      await this.handOff(group, { log: 'metadata' });
      await raft.quarantine(group);
      if (this.options.stopping()) return;
      cut = group.log.cutCorrupt(corruptOffset);
      restartedAt = controller.restartFromApplied();
    } catch (error) {
      if (this.options.stopping()) return;
      logger.fatal({ err: error }, 'could not repair the metadata log; stopping: the next start cuts it off and catches up from the controller leader');
      await this.options.failStop();
      return;
    }
    this.metadataRepaired++;
    logger.warn({ group: CONTROLLER_GROUP, cut, snapshot: restartedAt, ms: Date.now() - started }, 'metadata log repaired: cut before the corrupt batch, the applied metadata kept as the controller snapshot; catching up from the controller leader');
  }

  /**
   * Checks the controller snapshot file (after each scrubber pass). A running broker never
   * reads it — its metadata is in memory — but the next start would; a corrupt one is
   * replaced at once by a snapshot of the metadata as applied (a compaction now; the
   * corrupt bytes are kept beside it). If no compaction can be made now (a repair runs,
   * nothing applied yet) the file stays, and a start would set it aside and catch up.
   */
  checkControllerSnapshot(): void {
    const { controller, config, logger } = this.options;
    try {
      controller.snapshotFile.load();
      return;
    } catch (error) {
      if (!(error instanceof CorruptSnapshot)) {
        logger.warn({ err: error }, 'could not check the controller snapshot; the next scrub pass tries again');
        return;
      }
      const corrupt = readFileSync(error.path);
      if (controller.maybeCompact(config.controllerSnapshotEntries, true)) {
        const keptAs = `${error.path}.corrupt-${Date.now()}`;
        writeFileSync(keptAs, corrupt); // for a post-mortem only
        this.metadataRepaired++;
        logger.warn({ err: error.message, keptAs }, 'corrupt controller snapshot replaced by a snapshot of the metadata as applied');
      } else {
        logger.error({ err: error.message }, 'corrupt controller snapshot; it cannot be replaced now (the next scrub pass tries again)');
      }
    }
  }

  /**
   * If the group still runs here and leads, asks the most caught-up follower to take over,
   * and waits (a few election timeouts at most) for us to step down. A group the Raft core
   * already took out is silent: the others elect a leader as if we had crashed.
   */
  private async handOff(group: Group, about: Record<string, unknown>): Promise<void> {
    const { config, raft, logger } = this.options;
    if (raft.get(group.groupId) !== group || group.node.currentRole !== 'leader') return;
    const status = group.node.status();
    const target = Object.entries(status.progress)
      .map(([id, pr]) => ({ id: Number(id), match: pr.match }))
      .filter(({ id }) => id !== config.id && status.membership.voters.includes(id))
      .sort((a, b) => b.match - a.match)[0];
    if (!target) return;
    try {
      raft.withNode(group, (node) => node.transferLeadership(target.id));
    } catch (err) {
      logger.warn({ ...about, err: (err as Error).message }, 'could not hand leadership over before the repair');
      return;
    }
    const deadline = Date.now() + 3 * config.electionTicks * config.tickMs;
    while (raft.get(group.groupId) === group && group.node.currentRole === 'leader' && Date.now() < deadline) await new Promise((r) => setTimeout(r, config.tickMs));
  }
}
