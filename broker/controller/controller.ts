/**
 * The controller: Raft group 0, whose state machine is the cluster metadata
 * (ControllerState). Every broker replicates it; its leader accepts metadata commands.
 * Applying a command tells the broker what changed (start or remove partition groups).
 */
import { buildBatch, isControlBatch, records } from '../../protocol/batch.js';
import { FlotillaError } from '../../protocol/errors.js';
import type { Entry } from '../raft/log.js';
import type { SoftState } from '../raft/raft.js';
import type { ConfigChange, Membership } from '../raft/membership.js';
import type { Snapshot } from '../raft/types.js';
import { CommitWaiter } from '../multiraft/commit-waiter.js';
import type { Group, MultiRaft, StateMachine } from '../multiraft/multiraft.js';
import { ControllerState, type ControllerCommand, type ControllerEvent } from './state.js';

export const CONTROLLER_GROUP = 0;
export const CONTROLLER_LOG = '__controller';

export class Controller implements StateMachine {
  state: ControllerState;
  group!: Group;
  leaderId = 0;
  private applied = -1;
  private readonly commits = new CommitWaiter();
  /** Leader: next producer id to hand out, ahead of the applied state while allocations commit. */
  private nextProducerId = 0;

  constructor(
    private readonly raft: MultiRaft,
    initial: ControllerState,
    private readonly onEvent: (event: ControllerEvent) => void,
  ) {
    this.state = initial;
  }

  get isLeader(): boolean {
    return this.group.node.currentRole === 'leader';
  }

  apply(entries: Entry[]): void {
    for (const entry of entries) {
      if (!isControlBatch(entry.data)) {
        for (const record of records(entry.data)) {
          if (!record.value) continue;
          const command = JSON.parse(record.value.toString('utf8')) as ControllerCommand;
          this.onEvent(this.state.apply(command));
        }
      }
      this.applied = entry.index;
    }
    this.commits.onApplied(entries);
  }

  restore(snapshot: Snapshot): void {
    this.state = ControllerState.fromJSON(JSON.parse(snapshot.data.toString('utf8')));
    this.applied = snapshot.index;
    this.commits.onSkipped(snapshot.index);
    for (const topic of this.state.topics.values()) this.onEvent({ type: 'topicCreated', topic });
  }

  snapshot() {
    return { index: this.applied, data: Buffer.from(JSON.stringify(this.state.toJSON())) };
  }

  onSoftState(state: SoftState): void {
    this.leaderId = state.leaderId;
  }

  notController(): FlotillaError {
    const leader = this.leaderId ? this.state.brokers.get(this.leaderId) : undefined;
    return new FlotillaError(
      'NOT_CONTROLLER',
      leader ? `broker is not the controller; the controller is broker ${leader.id} at ${leader.address}` : 'no controller is elected right now; retry shortly',
      leader ? { leaderId: leader.id, leaderAddress: leader.address } : {},
    );
  }

  /** Proposes a command at the controller leader and resolves once it is committed and applied here. */
  async propose(command: ControllerCommand, timeoutMs: number): Promise<void> {
    if (!this.isLeader) throw this.notController();
    let proposal: { index: number; term: number };
    try {
      proposal = this.raft.propose(this.group, buildBatch([{ value: JSON.stringify(command) }]));
    } catch (error) {
      if (error instanceof FlotillaError && error.code === 'NOT_LEADER') throw this.notController();
      throw error;
    }
    await this.commits.wait(proposal.index, proposal.term, timeoutMs);
  }

  /**
   * Hands out a cluster-unique producer id: taken at the leader (ahead of the applied
   * state, so that concurrent requests differ) and committed before it is returned.
   */
  async allocateProducerId(timeoutMs: number): Promise<number> {
    if (!this.isLeader) throw this.notController();
    const producerId = Math.max(this.nextProducerId, this.state.nextProducerId);
    this.nextProducerId = producerId + 1;
    await this.propose({ type: 'allocateProducerId', producerId }, timeoutMs);
    return producerId;
  }

  /**
   * Applies one membership change to the metadata group and waits for it to commit,
   * retrying while another change is still committing. Returns without proposing when
   * `done` already holds.
   */
  async changeMembership(change: ConfigChange, done: (m: Membership) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.isLeader) throw this.notController();
      if (done(this.group.node.members)) return;
      try {
        const proposal = this.raft.withNode(this.group, (node) => node.proposeConfigChange(change));
        await this.commits.wait(proposal.index, proposal.term, Math.max(1, deadline - Date.now()));
        return;
      } catch (error) {
        if (!(error instanceof FlotillaError) || !error.retriable || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  close(error: FlotillaError): void {
    this.commits.failAll(error);
  }
}
