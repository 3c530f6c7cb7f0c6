/**
 * Kafka's classic consumer-group protocol, coordinated (like native groups) by the
 * controller leader. Assignment is the client's: the coordinator gathers every member's
 * protocol metadata in JoinGroup, picks a protocol all of them support, gives the leader
 * everyone's metadata, and hands out the leader's assignment bytes in SyncGroup.
 *
 * Membership lives in memory here and, like Kafka's group metadata, is stored at every
 * Stable generation: the leader's SyncGroup is answered once a controller command
 * (`storeKafkaGroup`) holding the generation, members and assignments has committed. A new
 * coordinator (after a controller failover) takes the groups over from that record, so
 * their members' heartbeats and commits carry on; each member's session starts again
 * there. Committed offsets are controller commands too (the native `commitOffsets`), and
 * share the native groups' offsets table. A group id is either native or Kafka while it
 * has members, never both.
 *
 * States as Kafka's: Empty → PreparingRebalance (a join, leave or expiry; members learn it
 * from REBALANCE_IN_PROGRESS and rejoin) → CompletingRebalance (every member rejoined, or
 * the rebalance timeout removed those that did not; the generation is new) → Stable (the
 * leader's SyncGroup brought the assignment).
 */
import { randomUUID } from 'node:crypto';
import type { CoordinatorController } from '../groups/coordinator.js';
import type { KafkaGroupRecord } from '../controller/state.js';
import { FlotillaError } from '../../protocol/errors.js';
import { KafkaError } from './errors.js';

type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';

export interface JoinRequest {
  groupId: string;
  memberId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: ReadonlyArray<{ name: string; metadata: Buffer }>;
  clientId: string;
  clientHost: string;
  /** Kafka's group.instance.id (KIP-345, JoinGroup v5): a static member, which a restart under the same id replaces. */
  instanceId?: string | null;
}

export interface JoinAnswer {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leader: string;
  memberId: string;
  members: Array<{ memberId: string; groupInstanceId: string | null; metadata: Buffer }>;
}

export interface SyncAnswer {
  errorCode: number;
  assignment: Buffer;
}

export interface CommitRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  instanceId?: string | null;
  offsets: ReadonlyArray<{ topic: string; partition: number; offset: number; metadata: string | null }>;
}

export interface GroupDescription {
  errorCode: number;
  groupId: string;
  groupState: string;
  protocolType: string;
  protocolData: string;
  members: Array<{ memberId: string; clientId: string; clientHost: string; memberMetadata: Buffer; memberAssignment: Buffer }>;
}

interface CommittedOffset {
  partition: number;
  offset: number;
  metadata: string;
}

interface Member {
  id: string;
  /** A static member's group.instance.id, else null. */
  instanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: ReadonlyArray<{ name: string; metadata: Buffer }>;
  deadline: number;
  assignment: Buffer;
  /** The answer to its JoinGroup, while the rebalance waits for the others. */
  awaitingJoin: ((answer: JoinAnswer) => void) | null;
  /** The answer to its SyncGroup, while the leader's assignment has not come. */
  awaitingSync: ((answer: SyncAnswer) => void) | null;
}

interface Group {
  id: string;
  state: GroupState;
  generation: number;
  protocolType: string;
  protocolName: string;
  leader: string;
  members: Map<string, Member>;
  /** Static members: group.instance.id -> the member id it has now. */
  statics: Map<string, string>;
  rebalanceTimer: NodeJS.Timeout | null;
  /** The generation whose assignment is being stored (the syncs wait for it), or -1. */
  storing: number;
  /** A store was proposed (or the group was taken over stored): emptied, it must be dropped. */
  stored: boolean;
}

const EMPTY = Buffer.alloc(0);
/** The largest group record stored: Kafka's bound on a record of its offsets topic (`max.message.bytes`, 1 MiB). */
const MAX_GROUP_RECORD_BYTES = 1024 * 1024;
const MIN_SESSION_TIMEOUT_MS = 100;
/** Kafka's default group.max.session.timeout.ms (clients with long pauses ask for minutes). */
const MAX_SESSION_TIMEOUT_MS = 1_800_000;
/** Kafka codes only groups use. */
export const GroupError = {
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_GROUP_ID: 24,
  OFFSET_METADATA_TOO_LARGE: 12,
  INVALID_COMMIT_OFFSET_SIZE: 28,
  FENCED_INSTANCE_ID: 82,
} as const;
/** Kafka's `offset.metadata.max.bytes`: the string a commit may carry beside each offset. */
const MAX_OFFSET_METADATA_BYTES = 4096;

export interface KafkaGroupsOptions {
  controller: CoordinatorController;
  /** Whether a native group of this id has members (then the id is not free for Kafka). */
  nativeGroupActive: (groupId: string) => boolean;
  logger?: { info(obj: object, msg: string): void };
  checkIntervalMs?: number;
  proposeTimeoutMs?: number;
}

export class KafkaGroups {
  private readonly groups = new Map<string, Group>();
  private timer: NodeJS.Timeout | null = null;
  /** The metadata term in which the stored groups were taken over (once per leadership, when caught up), or -1. */
  private takenOverTerm = -1;

  constructor(private readonly options: KafkaGroupsOptions) {}

  private get controller(): CoordinatorController {
    return this.options.controller;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.options.checkIntervalMs ?? 200);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.dropAll();
  }

  /** Whether a Kafka group of this id has members (then the id is not free for native). */
  isActive(groupId: string): boolean {
    this.refusal();
    return (this.groups.get(groupId)?.members.size ?? 0) > 0;
  }

  /**
   * NONE when this broker coordinates groups (the controller leader, caught up with what its
   * predecessor committed), COORDINATOR_LOAD_IN_PROGRESS while a new one is not (its
   * committed offsets may lag: a consumer would resume before its last commit), else
   * NOT_COORDINATOR.
   */
  refusal(): number {
    if (!this.controller.isLeader) return GroupError.NOT_COORDINATOR;
    if (!this.controller.leaderCaughtUp) return GroupError.COORDINATOR_LOAD_IN_PROGRESS;
    if (this.takenOverTerm !== this.controller.term) {
      // Leadership lost and won back between two ticks: what is in memory may be older than what was stored meanwhile.
      if (this.takenOverTerm !== -1) this.dropAll();
      this.takeOver();
    }
    return KafkaError.NONE;
  }

  /**
   * Carries on the groups its predecessor stored (what this broker applied before is all
   * the metadata now that it has caught up): each at its last Stable generation, its
   * members' sessions starting now.
   */
  private takeOver(): void {
    this.takenOverTerm = this.controller.term;
    let count = 0;
    for (const record of this.controller.state.kafkaGroups.values()) {
      if (this.options.nativeGroupActive(record.id)) {
        this.options.logger?.info({ group: record.id }, 'a stored Kafka group is not taken over: native members hold its id');
        continue;
      }
      this.groups.set(record.id, restored(record));
      count++;
    }
    if (count > 0) this.options.logger?.info({ groups: count }, 'Kafka groups taken over at their last stable generation');
  }

  /** Expires silent members; drops every group (answering waiters) when no longer the coordinator. */
  tick(): void {
    if (!this.controller.isLeader) return this.dropAll();
    const now = Date.now();
    for (const group of [...this.groups.values()]) {
      const expired = [...group.members.values()].filter((m) => !m.awaitingJoin && m.deadline <= now);
      for (const member of expired) {
        this.options.logger?.info({ group: group.id, member: member.id, sessionTimeoutMs: member.sessionTimeoutMs }, 'Kafka group member session expired');
        this.remove(group, member);
      }
    }
  }

  private dropAll(): void {
    this.takenOverTerm = -1;
    for (const group of this.groups.values()) {
      if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
      for (const member of group.members.values()) this.answerWaiters(member, GroupError.NOT_COORDINATOR);
    }
    this.groups.clear();
  }

  private answerWaiters(member: Member, errorCode: number): void {
    member.awaitingJoin?.({ errorCode, generationId: -1, protocolName: '', leader: '', memberId: member.id, members: [] });
    member.awaitingSync?.({ errorCode, assignment: EMPTY });
    member.awaitingJoin = member.awaitingSync = null;
  }

  // --------------------------------------------------------------------------- membership

  join(request: JoinRequest): Promise<JoinAnswer> | JoinAnswer {
    const fail = (errorCode: number): JoinAnswer => ({ errorCode, generationId: -1, protocolName: '', leader: '', memberId: request.memberId, members: [] });
    const refusal = this.refusal();
    if (refusal !== KafkaError.NONE) return fail(refusal);
    if (!request.groupId) return fail(GroupError.INVALID_GROUP_ID);
    if (request.sessionTimeoutMs < MIN_SESSION_TIMEOUT_MS || request.sessionTimeoutMs > MAX_SESSION_TIMEOUT_MS) return fail(GroupError.INVALID_SESSION_TIMEOUT);
    if (this.options.nativeGroupActive(request.groupId)) return fail(GroupError.INCONSISTENT_GROUP_PROTOCOL);
    let group = this.groups.get(request.groupId);
    if (!group) {
      group = { id: request.groupId, state: 'Empty', generation: 0, protocolType: '', protocolName: '', leader: '', members: new Map(), statics: new Map(), rebalanceTimer: null, storing: -1, stored: false };
      this.groups.set(group.id, group);
    }
    if (group.members.size > 0 && (request.protocolType !== group.protocolType || !this.someProtocolCommon(group, request.protocols))) {
      return fail(GroupError.INCONSISTENT_GROUP_PROTOCOL);
    }
    let member: Member | undefined;
    const staticId = request.instanceId ? group.statics.get(request.instanceId) : undefined;
    if (request.memberId) {
      if (staticId !== undefined && staticId !== request.memberId) return fail(GroupError.FENCED_INSTANCE_ID);
      member = group.members.get(request.memberId);
      if (!member) return fail(GroupError.UNKNOWN_MEMBER_ID);
    } else if (staticId !== undefined && group.members.has(staticId)) {
      return this.replaceStatic(group, group.members.get(staticId)!, request);
    } else {
      member = this.newMember(group, request);
    }
    if (group.members.size === 1) group.protocolType = request.protocolType;
    member.sessionTimeoutMs = request.sessionTimeoutMs;
    member.rebalanceTimeoutMs = request.rebalanceTimeoutMs > 0 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs;
    member.protocols = request.protocols;
    member.deadline = Date.now() + member.sessionTimeoutMs;
    // A join answered before (a retried request) is replaced: the latest one waits.
    this.answerWaiters(member, KafkaError.REBALANCE_IN_PROGRESS);
    const joined = new Promise<JoinAnswer>((resolve) => (member.awaitingJoin = resolve));
    this.prepareRebalance(group);
    this.completeJoinIfReady(group);
    return joined;
  }

  private newMember(group: Group, request: JoinRequest): Member {
    const instanceId = request.instanceId || null;
    const id = `${instanceId ?? (request.clientId || 'consumer')}-${randomUUID()}`;
    const member: Member = { id, instanceId, clientId: request.clientId, clientHost: request.clientHost, sessionTimeoutMs: 0, rebalanceTimeoutMs: 0, protocols: [], deadline: 0, assignment: EMPTY, awaitingJoin: null, awaitingSync: null };
    group.members.set(id, member);
    if (instanceId !== null) group.statics.set(instanceId, id);
    this.options.logger?.info({ group: group.id, member: id, instance: instanceId ?? undefined }, 'Kafka group member joined');
    return member;
  }

  /**
   * A static member back under a new member id (a restart: it sent no LeaveGroup): it takes
   * its predecessor's place, which is fenced (FENCED_INSTANCE_ID). In a Stable group, with
   * the same subscription, it carries on at the current generation with its assignment and
   * without a rebalance, once its new member id is stored; otherwise it rejoins as usual.
   */
  private replaceStatic(group: Group, previous: Member, request: JoinRequest): Promise<JoinAnswer> | JoinAnswer {
    const instanceId = request.instanceId!;
    const id = `${instanceId}-${randomUUID()}`;
    const metadataOf = (m: Pick<Member, 'protocols'>) => m.protocols.find((p) => p.name === group.protocolName)?.metadata;
    const unchanged = group.state === 'Stable' && metadataOf(previous)?.equals(metadataOf(request) ?? EMPTY) === true;
    this.answerWaiters(previous, GroupError.FENCED_INSTANCE_ID);
    const member: Member = {
      ...previous,
      id,
      clientId: request.clientId,
      clientHost: request.clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs > 0 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
      protocols: request.protocols,
      deadline: Date.now() + request.sessionTimeoutMs,
    };
    group.members.delete(previous.id);
    group.members.set(id, member);
    group.statics.set(instanceId, id);
    if (group.leader === previous.id) group.leader = id;
    this.options.logger?.info({ group: group.id, instance: instanceId, member: id, replaced: previous.id, rebalance: !unchanged }, 'Kafka static group member replaced');
    if (!unchanged) {
      const joined = new Promise<JoinAnswer>((resolve) => (member.awaitingJoin = resolve));
      this.prepareRebalance(group);
      this.completeJoinIfReady(group);
      return joined;
    }
    const answer = (errorCode: number): JoinAnswer => ({
      errorCode,
      generationId: errorCode === KafkaError.NONE ? group.generation : -1,
      protocolName: group.protocolName,
      leader: group.leader,
      memberId: id,
      // A leader is given every member, as in a rebalance; its SyncGroup gets the current assignment back (Stable).
      members: errorCode === KafkaError.NONE && id === group.leader ? this.joinedMembers(group) : [],
    });
    return this.storeRecord(group).then(answer);
  }

  /** Every member with its metadata for the chosen protocol: what JoinGroup gives the leader. */
  private joinedMembers(group: Group): JoinAnswer['members'] {
    return [...group.members.values()].map((m) => ({ memberId: m.id, groupInstanceId: m.instanceId, metadata: m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? EMPTY }));
  }

  sync(groupId: string, generationId: number, memberId: string, assignments: ReadonlyArray<{ memberId: string; assignment: Buffer }>, instanceId: string | null = null): Promise<SyncAnswer> | SyncAnswer {
    const fail = (errorCode: number): SyncAnswer => ({ errorCode, assignment: EMPTY });
    const found = this.member(groupId, memberId, generationId, instanceId);
    if (typeof found === 'number') return fail(found);
    const { group, member } = found;
    if (group.state === 'PreparingRebalance') return fail(KafkaError.REBALANCE_IN_PROGRESS);
    if (group.state === 'Stable') return { errorCode: KafkaError.NONE, assignment: member.assignment };
    member.awaitingSync?.(fail(KafkaError.REBALANCE_IN_PROGRESS));
    const synced = new Promise<SyncAnswer>((resolve) => (member.awaitingSync = resolve));
    if (member.id === group.leader && group.storing !== group.generation) void this.store(group, new Map(assignments.map((a) => [a.memberId, a.assignment])));
    return synced;
  }

  /**
   * Stores the leader's assignment with the generation (so that a new coordinator can carry
   * the group on), then answers every sync: Stable. If the store fails, the syncs are
   * refused and the group rebalances, as Kafka's coordinator does.
   */
  private async store(group: Group, given: ReadonlyMap<string, Buffer>): Promise<void> {
    const generation = group.generation;
    for (const m of group.members.values()) m.assignment = given.get(m.id) ?? EMPTY;
    group.storing = generation;
    const errorCode = await this.storeRecord(group);
    if (group.storing === generation) group.storing = -1;
    // A rebalance, a departure or a lost leadership overtook the store: its waiters were answered then.
    if (this.groups.get(group.id) !== group || group.generation !== generation || group.state !== 'CompletingRebalance') return;
    for (const m of group.members.values()) {
      m.awaitingSync?.({ errorCode, assignment: errorCode === KafkaError.NONE ? m.assignment : EMPTY });
      m.awaitingSync = null;
    }
    if (errorCode === KafkaError.NONE) group.state = 'Stable';
    else this.prepareRebalance(group);
  }

  /**
   * Stores the group as it is now (generation, members, assignments) through the
   * controller: NONE once committed, else the Kafka error to answer. A record over 1 MiB is
   * refused as Kafka's coordinator refuses one over its offsets topic's limit.
   */
  private async storeRecord(group: Group): Promise<number> {
    const record = toRecord(group);
    const recordBytes = Buffer.byteLength(JSON.stringify(record));
    if (recordBytes > MAX_GROUP_RECORD_BYTES) {
      this.options.logger?.info({ group: group.id, recordBytes, limit: MAX_GROUP_RECORD_BYTES }, "a Kafka group is too large to store (its members' subscriptions and assignments); refused");
      return KafkaError.UNKNOWN_SERVER_ERROR;
    }
    group.stored = true;
    try {
      await this.controller.propose({ type: 'storeKafkaGroup', group: record }, this.options.proposeTimeoutMs ?? 10_000);
      return KafkaError.NONE;
    } catch (error) {
      if (!this.controller.isLeader) return GroupError.NOT_COORDINATOR;
      return error instanceof FlotillaError && error.code === 'RECORD_TOO_LARGE' ? KafkaError.UNKNOWN_SERVER_ERROR : GroupError.COORDINATOR_NOT_AVAILABLE;
    }
  }

  heartbeat(groupId: string, generationId: number, memberId: string, instanceId: string | null = null): number {
    const found = this.member(groupId, memberId, generationId, instanceId);
    if (typeof found === 'number') return found;
    if (found.group.state === 'PreparingRebalance') return KafkaError.REBALANCE_IN_PROGRESS;
    return KafkaError.NONE;
  }

  /** Each member's answer: NONE, or UNKNOWN_MEMBER_ID for one the group does not have. */
  leave(groupId: string, leaving: ReadonlyArray<{ memberId: string; instanceId?: string | null }>): { errorCode: number; members: number[] } {
    const refusal = this.refusal();
    if (refusal !== KafkaError.NONE) return { errorCode: refusal, members: leaving.map(() => refusal) };
    const group = this.groups.get(groupId);
    const members = leaving.map(({ memberId, instanceId }) => {
      // A static member may leave by its instance id alone (the member id unknown to the client).
      const staticId = instanceId ? group?.statics.get(instanceId) : undefined;
      if (staticId !== undefined && memberId && staticId !== memberId) return GroupError.FENCED_INSTANCE_ID;
      const member = group?.members.get(staticId ?? memberId);
      if (!group || !member) return GroupError.UNKNOWN_MEMBER_ID;
      this.options.logger?.info({ group: groupId, member: member.id }, 'Kafka group member left');
      this.remove(group, member);
      return KafkaError.NONE;
    });
    return { errorCode: members.length === 1 ? members[0]! : KafkaError.NONE, members };
  }

  /** The group and member when `generationId` is current and the member known (refreshing its session), else the Kafka error. */
  private member(groupId: string, memberId: string, generationId: number, instanceId: string | null = null): { group: Group; member: Member } | number {
    const refusal = this.refusal();
    if (refusal !== KafkaError.NONE) return refusal;
    const group = this.groups.get(groupId);
    // A static member whose instance id another member id took since (it restarted) is fenced.
    const staticId = instanceId === null ? undefined : group?.statics.get(instanceId);
    if (staticId !== undefined && staticId !== memberId) return GroupError.FENCED_INSTANCE_ID;
    const member = group?.members.get(memberId);
    if (!group || !member) return GroupError.UNKNOWN_MEMBER_ID;
    member.deadline = Date.now() + member.sessionTimeoutMs;
    if (generationId !== group.generation) return GroupError.ILLEGAL_GENERATION;
    return { group, member };
  }

  private remove(group: Group, member: Member): void {
    this.answerWaiters(member, GroupError.UNKNOWN_MEMBER_ID);
    detach(group, member);
    if (group.members.size === 0) {
      if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
      this.forget(group);
      return;
    }
    this.prepareRebalance(group);
    this.completeJoinIfReady(group);
  }

  /** A group left without members: gone here, and its stored record dropped (if that fails, a successor expires its members). */
  private forget(group: Group): void {
    this.groups.delete(group.id);
    // A store still committing counts: the drop is appended after it.
    if (!group.stored && !this.controller.state.kafkaGroups.has(group.id)) return;
    this.controller.propose({ type: 'dropKafkaGroup', group: group.id }, this.options.proposeTimeoutMs ?? 10_000).catch((error: unknown) => {
      this.options.logger?.info({ group: group.id, err: error instanceof Error ? error.message : String(error) }, 'could not drop an empty Kafka group from the metadata; a later coordinator expires its members');
    });
  }

  private someProtocolCommon(group: Group, protocols: JoinRequest['protocols']): boolean {
    return protocols.some((p) => [...group.members.values()].every((m) => m.protocols.length === 0 || m.protocols.some((q) => q.name === p.name)));
  }

  /** Starts a rebalance: waiting syncs are told so; members that do not rejoin within the rebalance timeout are removed. */
  private prepareRebalance(group: Group): void {
    if (group.state === 'PreparingRebalance') return;
    for (const m of group.members.values()) {
      m.awaitingSync?.({ errorCode: KafkaError.REBALANCE_IN_PROGRESS, assignment: EMPTY });
      m.awaitingSync = null;
    }
    group.state = 'PreparingRebalance';
    const timeoutMs = Math.max(...[...group.members.values()].map((m) => m.rebalanceTimeoutMs));
    group.rebalanceTimer = setTimeout(() => {
      group.rebalanceTimer = null;
      for (const m of [...group.members.values()]) {
        if (m.awaitingJoin) continue;
        this.options.logger?.info({ group: group.id, member: m.id }, 'Kafka group member did not rejoin within the rebalance timeout');
        detach(group, m);
      }
      if (group.members.size === 0) this.forget(group);
      else this.completeJoinIfReady(group);
    }, timeoutMs);
    group.rebalanceTimer.unref();
  }

  /** Once every member rejoined: a new generation, a protocol all support, the leader gets everyone's metadata. */
  private completeJoinIfReady(group: Group): void {
    if (group.state !== 'PreparingRebalance') return;
    const members = [...group.members.values()];
    if (members.some((m) => !m.awaitingJoin)) return;
    if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
    group.rebalanceTimer = null;
    if (!group.members.has(group.leader)) group.leader = members[0]!.id;
    const leader = group.members.get(group.leader)!;
    group.protocolName = leader.protocols.find((p) => members.every((m) => m.protocols.some((q) => q.name === p.name)))?.name ?? '';
    group.generation++;
    group.state = 'CompletingRebalance';
    for (const m of members) {
      m.assignment = EMPTY;
      m.deadline = Date.now() + m.sessionTimeoutMs;
      const answer = {
        errorCode: KafkaError.NONE,
        generationId: group.generation,
        protocolName: group.protocolName,
        leader: group.leader,
        memberId: m.id,
        members: m.id === group.leader ? this.joinedMembers(group) : [],
      };
      const resolve = m.awaitingJoin!;
      m.awaitingJoin = null;
      resolve(answer);
    }
    this.options.logger?.info({ group: group.id, generation: group.generation, members: members.length, protocol: group.protocolName }, 'Kafka group rebalanced');
  }

  // ------------------------------------------------------------------------------ offsets

  /**
   * Commits through the controller (the native groups' replicated offsets). A member
   * commits with its current generation; generation -1 with no member id is a commit from
   * outside the group (an admin), allowed while the group has no members.
   */
  async commit(request: CommitRequest): Promise<number[]> {
    const all = (code: number) => request.offsets.map(() => code);
    const refusal = this.refusal();
    if (refusal !== KafkaError.NONE) return all(refusal);
    const group = this.groups.get(request.groupId);
    if (request.generationId < 0 && !request.memberId) {
      if (group || this.options.nativeGroupActive(request.groupId)) return all(GroupError.UNKNOWN_MEMBER_ID);
    } else {
      const found = this.member(request.groupId, request.memberId, request.generationId, request.instanceId ?? null);
      if (typeof found === 'number') return all(found);
      if (found.group.state === 'CompletingRebalance') return all(KafkaError.REBALANCE_IN_PROGRESS);
    }
    const codes = request.offsets.map((o) => {
      const partitions = this.controller.state.topics.get(o.topic)?.partitions.length ?? 0;
      if (o.partition < 0 || o.partition >= partitions) return KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
      // -1 and -2 (latest, earliest) are stored as given, as Kafka does: kafkajs's
      // admin.resetOffsets commits them, and its consumers resolve them when they start.
      if (!Number.isSafeInteger(o.offset) || o.offset < -2) return KafkaError.OFFSET_OUT_OF_RANGE;
      if (o.metadata && Buffer.byteLength(o.metadata) > MAX_OFFSET_METADATA_BYTES) return GroupError.OFFSET_METADATA_TOO_LARGE;
      return KafkaError.NONE;
    });
    const accepted = request.offsets.filter((_, i) => codes[i] === KafkaError.NONE).map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, ...(o.metadata ? { metadata: o.metadata } : {}) }));
    if (accepted.length === 0) return codes;
    try {
      await this.controller.propose({ type: 'commitOffsets', group: request.groupId, offsets: accepted }, this.options.proposeTimeoutMs ?? 10_000);
    } catch (error) {
      // A commit too large for one metadata entry (thousands of partitions with long metadata) fails as Kafka's would.
      const failed = error instanceof FlotillaError && error.code === 'RECORD_TOO_LARGE' ? GroupError.INVALID_COMMIT_OFFSET_SIZE : GroupError.NOT_COORDINATOR;
      return codes.map((c) => (c === KafkaError.NONE ? failed : c));
    }
    return codes;
  }

  /** Committed offsets (-1: none) with their metadata; `partitions` null lists every one the group committed. */
  fetchOffsets(groupId: string, partitions: ReadonlyArray<{ topic: string; partitions: readonly number[] }> | null): Array<{ topic: string; partitions: CommittedOffset[] }> {
    const committed = this.controller.state.groupOffsets.get(groupId) ?? new Map<string, number>();
    const metadata = this.controller.state.groupOffsetMetadata.get(groupId);
    const at = (topic: string, partition: number): CommittedOffset => {
      const key = `${topic}/${partition}`;
      return { partition, offset: committed.get(key) ?? -1, metadata: metadata?.get(key) ?? '' };
    };
    if (partitions !== null) return partitions.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => at(t.topic, p)) }));
    const byTopic = new Map<string, CommittedOffset[]>();
    for (const key of committed.keys()) {
      const cut = key.lastIndexOf('/');
      const topic = key.slice(0, cut);
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), at(topic, Number(key.slice(cut + 1)))]);
    }
    return [...byTopic].map(([topic, list]) => ({ topic, partitions: list.sort((a, b) => a.partition - b.partition) }));
  }

  // -------------------------------------------------------------------------------- admin

  /** Kafka groups with members, and ids with committed offsets and no native members. */
  list(): Array<{ groupId: string; protocolType: string }> {
    const ids = new Set([...this.groups.keys(), ...this.controller.state.groupOffsets.keys()]);
    return [...ids]
      .filter((id) => this.groups.has(id) || !this.options.nativeGroupActive(id))
      .sort()
      .map((groupId) => ({ groupId, protocolType: this.groups.get(groupId)?.protocolType ?? 'consumer' }));
  }

  describe(groupId: string): GroupDescription {
    const group = this.groups.get(groupId);
    if (!group) {
      const state = this.controller.state.groupOffsets.has(groupId) ? 'Empty' : 'Dead';
      return { errorCode: KafkaError.NONE, groupId, groupState: state, protocolType: '', protocolData: '', members: [] };
    }
    const stable = group.state === 'Stable';
    return {
      errorCode: KafkaError.NONE,
      groupId,
      groupState: group.state,
      protocolType: group.protocolType,
      protocolData: stable ? group.protocolName : '',
      members: [...group.members.values()].map((m) => ({
        memberId: m.id,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: stable ? m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? EMPTY : EMPTY,
        memberAssignment: stable ? m.assignment : EMPTY,
      })),
    };
  }
}

/** Takes a member out of its group, and its instance id with it. */
function detach(group: Group, member: Member): void {
  group.members.delete(member.id);
  if (member.instanceId !== null && group.statics.get(member.instanceId) === member.id) group.statics.delete(member.instanceId);
}

/** What the controller keeps of a group: its Stable generation, members and assignments. */
function toRecord(group: Group): KafkaGroupRecord {
  return {
    id: group.id,
    generation: group.generation,
    protocolType: group.protocolType,
    protocolName: group.protocolName,
    leader: group.leader,
    members: [...group.members.values()].map((m) => ({
      id: m.id,
      ...(m.instanceId !== null ? { instanceId: m.instanceId } : {}),
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      // The chosen protocol's alone, as Kafka stores it: the others are not needed to carry on.
      protocols: m.protocols.filter((p) => p.name === group.protocolName).map((p) => ({ name: p.name, metadata: p.metadata.toString('base64') })),
      assignment: m.assignment.toString('base64'),
    })),
  };
}

/** A stored group as a new coordinator carries it on: Stable, every session starting now. */
function restored(record: KafkaGroupRecord): Group {
  const now = Date.now();
  const members = new Map<string, Member>();
  const statics = new Map<string, string>();
  for (const m of record.members) {
    if (m.instanceId !== undefined) statics.set(m.instanceId, m.id);
    members.set(m.id, {
      id: m.id,
      instanceId: m.instanceId ?? null,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      protocols: m.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata, 'base64') })),
      deadline: now + m.sessionTimeoutMs,
      assignment: Buffer.from(m.assignment, 'base64'),
      awaitingJoin: null,
      awaitingSync: null,
    });
  }
  const { id, generation, protocolType, protocolName, leader } = record;
  return { id, state: 'Stable', generation, protocolType, protocolName, leader, members, statics, rebalanceTimer: null, storing: -1, stored: true };
}
