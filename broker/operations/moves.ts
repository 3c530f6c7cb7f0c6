/**
 * Partition moves, driven by each moving partition's leader as Raft membership changes,
 * one at a time: add the new replicas as learners, promote each once it has caught up,
 * hand leadership away if this broker is leaving, remove the old replicas; then tell the
 * controller. Voters never drop below the old majority of caught-up replicas.
 */
import type { Logger } from 'pino';
import { FlotillaError } from '../../protocol/errors.js';
import { controllerRequest, type InterBrokerAccess } from '../cluster-request.js';
import type { BrokerConfig } from '../config.js';
import type { Controller } from '../controller/controller.js';
import type { ControllerState, PartitionAssignment } from '../controller/state.js';
import type { MultiRaft } from '../multiraft/multiraft.js';
import type { HostedReplicas } from '../partition/hosted.js';
import type { PartitionReplica } from '../partition/partition.js';
import { Periodic } from '../periodic.js';
import type { ConfigChange } from '../raft/membership.js';
import type { Status } from '../raft/raft.js';

/** How often partition leaders take the next step of a partition move. */
const MOVE_STEP_MS = 250;

export interface PartitionMovesOptions {
  config: Pick<BrokerConfig, 'id'>;
  controller: Controller;
  replicas: HostedReplicas;
  raft: MultiRaft;
  logger: Logger;
  /** How to reach the controller: TLS and SASL, when on. */
  access: InterBrokerAccess;
}

export class PartitionMoves {
  private readonly steps = new Periodic(MOVE_STEP_MS, () => this.step());
  /** Partitions whose move-completed report is on its way to the controller. */
  private readonly reporting = new Set<string>();

  constructor(private readonly options: PartitionMovesOptions) {}

  start(): void {
    this.steps.start();
  }

  stop(): void {
    this.steps.stop();
  }

  /** The next step of every move of a partition led here. */
  private step(): void {
    const { replicas, logger } = this.options;
    for (const { topic, assignment } of this.movingPartitions()) {
      const replica = replicas.replica(topic, assignment.partition);
      if (!replica?.isLeader || assignment.groupId !== replica.group.groupId) continue;
      try {
        if (this.stepMove(replica, assignment.replicas)) this.reportDone(replica, assignment.replicas);
      } catch (error) {
        // LEADER_NOT_AVAILABLE (a change still committing), NOT_ENOUGH_REPLICAS (not caught up): next step.
        if (!(error instanceof FlotillaError) || !error.retriable) logger.warn({ err: error, topic: replica.topic, partition: replica.partition }, 'partition move step failed');
      }
    }
  }

  /**
   * The partitions being moved, found again only when placement changed: an idle broker's
   * step then costs nothing per partition.
   */
  private movingPartitions(): Array<{ topic: string; assignment: PartitionAssignment }> {
    const { state } = this.options.controller;
    if (this.moving.state !== state || this.moving.changes !== state.placementChanges) {
      const list: Array<{ topic: string; assignment: PartitionAssignment }> = [];
      for (const meta of state.topics.values()) for (const assignment of meta.partitions) if (assignment.previous) list.push({ topic: meta.name, assignment });
      this.moving = { state, changes: state.placementChanges, list };
    }
    return this.moving.list;
  }

  private moving: { state?: ControllerState; changes: number; list: Array<{ topic: string; assignment: PartitionAssignment }> } = { changes: -1, list: [] };

  /** Takes the next membership step towards `target`; true when the voters are `target`. */
  private stepMove(replica: PartitionReplica, target: number[]): boolean {
    const { config, raft, logger } = this.options;
    const status = replica.group.node.status();
    const step = nextMoveStep(status, target, config.id);
    if (step.kind === 'done') return true;
    if (step.kind === 'change') {
      raft.withNode(replica.group, (node) => node.proposeConfigChange(step.change));
      logger.info({ topic: replica.topic, partition: replica.partition, term: status.term, change: step.change }, 'partition move step');
    } else if (step.kind === 'handOver') {
      raft.withNode(replica.group, (node) => node.transferLeadership(step.to));
      logger.info({ topic: replica.topic, partition: replica.partition, term: status.term, to: step.to }, 'partition move: handing leadership to a remaining replica');
    }
    return false;
  }

  private reportDone(replica: PartitionReplica, target: number[]): void {
    const { controller, logger } = this.options;
    const key = `${replica.topic}/${replica.partition}`;
    if (this.reporting.has(key)) return;
    this.reporting.add(key);
    const addresses = [controller.addressOf(controller.leaderId), ...[...controller.state.brokers.values()].map((b) => b.address)].filter((a): a is string => !!a);
    controllerRequest(addresses, { movePartition: { topic: replica.topic, partition: replica.partition, replicas: target, completed: true } }, 10_000, this.options.access)
      .then(() => logger.info({ topic: replica.topic, partition: replica.partition, replicas: target }, 'partition move completed'))
      .catch((error) => logger.warn({ err: error, topic: replica.topic, partition: replica.partition }, 'could not report a finished move; retrying'))
      .finally(() => this.reporting.delete(key));
  }
}

type MoveStep =
  | { kind: 'change'; change: ConfigChange }
  | { kind: 'handOver'; to: number }
  | { kind: 'wait' }
  | { kind: 'done' };

/**
 * One membership change at a time towards `target`: add the new replicas as learners,
 * promote each once it holds everything committed, then remove the old replicas (handing
 * leadership to a caught-up target first if the leader itself leaves).
 */
export function nextMoveStep(status: Status, target: number[], self: number): MoveStep {
  const { voters, learners } = status.membership;
  const caughtUp = (id: number) => (status.progress[id]?.match ?? -1) >= status.commit;
  const missing = target.find((id) => !voters.includes(id) && !learners.includes(id));
  if (missing !== undefined) return { kind: 'change', change: { type: 'addLearner', id: missing } };
  const ready = learners.find((id) => target.includes(id) && caughtUp(id));
  if (ready !== undefined) return { kind: 'change', change: { type: 'promote', id: ready } };
  if (learners.some((id) => target.includes(id))) return { kind: 'wait' };
  const strayLearner = learners.find((id) => !target.includes(id));
  if (strayLearner !== undefined) return { kind: 'change', change: { type: 'remove', id: strayLearner } };
  const leaving = voters.find((id) => !target.includes(id));
  if (leaving === self) {
    const successor = target.find((id) => id !== self && caughtUp(id) && status.progress[id]?.recentActive);
    return successor === undefined ? { kind: 'wait' } : { kind: 'handOver', to: successor };
  }
  if (leaving !== undefined) return { kind: 'change', change: { type: 'remove', id: leaving } };
  return { kind: 'done' };
}
