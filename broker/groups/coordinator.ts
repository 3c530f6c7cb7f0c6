/**
 * The consumer-group coordinator. It runs at the controller leader: one place, already
 * elected, already replicated. Like Kafka's coordinator, membership is soft state in
 * memory here (members, their topics, session deadlines, generation, assignment);
 * committed offsets are hard state, controller commands applied into ControllerState, so
 * they survive controller failover and restarts. After a failover, members' heartbeats get
 * NOT_CONTROLLER (or, at the new controller, UNKNOWN_GROUP) and they rejoin with their
 * member id and the partitions they still read; an unknown member id is a new join.
 *
 * Assignment is computed here (KIP-848 spirit) and moved cooperatively: the assignor gives
 * the target; a partition leaves a member's assignment at once (it is "revoking" until
 * released) but joins another member's only once nobody holds it, that is after its
 * previous owner confirmed the release (a heartbeat whose generation is at least the one
 * that took it away: the member stopped fetching it and committed) or left, or its session
 * expired. Members that are not affected keep fetching throughout. The generation
 * increments on every assignment change.
 */
import { randomUUID } from 'node:crypto';
import { FlotillaError } from '../../protocol/errors.js';
import { toErrorInfo, type Init, type client } from '../../protocol/codec.js';
import type { ControllerCommand, ControllerState, GroupOffset } from '../controller/state.js';
import { assign, comparePartitionKeys, parsePartitionKey, partitionKey, type PartitionKey } from './assignor.js';

export interface CoordinatorController {
  readonly isLeader: boolean;
  /** The leader has applied what its predecessor committed (see Controller.leaderCaughtUp). */
  readonly leaderCaughtUp: boolean;
  /** The metadata group's term (Controller.term): a change means leadership was lost in between. */
  readonly term: number;
  stillCatchingUp(): FlotillaError;
  readonly state: ControllerState;
  notController(): FlotillaError;
  propose(command: ControllerCommand, timeoutMs: number): Promise<void>;
}

export interface CoordinatorOptions {
  controller: CoordinatorController;
  logger?: { info(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  /** How often expired sessions are looked for. */
  checkIntervalMs?: number;
  now?: () => number;
  proposeTimeoutMs?: number;
  /** Whether a group of this id is in use by another protocol (Kafka's): a group is one or the other. */
  claimedElsewhere?: (groupId: string) => boolean;
}

interface Member {
  id: string;
  clientId: string;
  clientAddress: string;
  topics: string[];
  sessionTimeoutMs: number;
  deadline: number;
  /** What the member is told it owns. */
  assignment: Set<PartitionKey>;
  /** Taken away but not yet confirmed released: key -> the generation that took it away. */
  revoking: Map<PartitionKey, number>;
}

interface GroupState {
  id: string;
  generation: number;
  members: Map<string, Member>;
}

const MIN_SESSION_TIMEOUT_MS = 100;
const MAX_SESSION_TIMEOUT_MS = 300_000;
const DEFAULT_SESSION_TIMEOUT_MS = 10_000;

type TopicPartitionsInit = Init<client.TopicPartitions>;

function toTopicPartitions(keys: Iterable<PartitionKey>): TopicPartitionsInit[] {
  const byTopic = new Map<string, number[]>();
  for (const key of [...keys].sort(comparePartitionKeys)) {
    const { topic, partition } = parsePartitionKey(key);
    const list = byTopic.get(topic) ?? [];
    list.push(partition);
    byTopic.set(topic, list);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

function unknownMember(group: string, member: string): FlotillaError {
  return new FlotillaError('UNKNOWN_GROUP', `member "${member}" is not in consumer group "${group}" (its session expired, it left, or the coordinator changed); rejoin`);
}

export class GroupCoordinator {
  private readonly groups = new Map<string, GroupState>();
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly options: CoordinatorOptions) {
    this.now = options.now ?? Date.now;
  }

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
    this.groups.clear();
  }

  /** Expires silent members; drops all soft state when this broker is not the controller leader. */
  tick(): void {
    if (!this.controller.isLeader) {
      if (this.groups.size > 0) this.options.logger?.info({ groups: this.groups.size }, 'no longer the controller: dropping consumer group membership');
      this.groups.clear();
      return;
    }
    const now = this.now();
    for (const group of this.groups.values()) {
      let removed = false;
      for (const member of [...group.members.values()]) {
        if (member.deadline <= now) {
          group.members.delete(member.id);
          removed = true;
          this.options.logger?.info({ group: group.id, member: member.id, sessionTimeoutMs: member.sessionTimeoutMs }, 'consumer group member session expired');
        }
      }
      if (removed) this.reconcile(group);
    }
    for (const [id, group] of this.groups) if (group.members.size === 0) this.groups.delete(id);
  }

  /** Whether a native group of this id has members. */
  hasMembers(groupId: string): boolean {
    return (this.groups.get(groupId)?.members.size ?? 0) > 0;
  }

  private requireLeader(): void {
    if (!this.controller.isLeader) throw this.controller.notController();
  }

  // ----------------------------------------------------------------------------- members

  join(request: client.JoinGroupRequest, clientId: string, clientAddress: string): Init<client.JoinGroupResponse> {
    this.requireLeader();
    // Until then a Kafka group stored by the predecessor is not known here (claimedElsewhere).
    if (!this.controller.leaderCaughtUp) throw this.controller.stillCatchingUp();
    if (!request.groupId) throw new FlotillaError('INVALID_REQUEST', 'JoinGroup needs a group id');
    if (this.options.claimedElsewhere?.(request.groupId)) {
      throw new FlotillaError('INVALID_REQUEST', `consumer group "${request.groupId}" has Kafka members; a group is either native or Kafka, never both`);
    }
    const sessionTimeoutMs = Math.min(MAX_SESSION_TIMEOUT_MS, Math.max(MIN_SESSION_TIMEOUT_MS, request.sessionTimeoutMs || DEFAULT_SESSION_TIMEOUT_MS));
    let group = this.groups.get(request.groupId);
    if (!group) this.groups.set(request.groupId, (group = { id: request.groupId, generation: 0, members: new Map() }));
    let member = request.memberId ? group.members.get(request.memberId) : undefined;
    const topics = [...new Set(request.topics)].sort();
    if (member) {
      member.topics = topics;
      member.sessionTimeoutMs = sessionTimeoutMs;
      member.clientAddress = clientAddress;
    } else {
      const id = request.memberId || `${clientId || 'consumer'}-${randomUUID()}`;
      member = { id, clientId, clientAddress, topics, sessionTimeoutMs, deadline: 0, assignment: new Set(), revoking: new Map() };
      // A rejoin (new coordinator, or a session that expired): keep what it still reads
      // when nobody else holds it, so that a coordinator change moves nothing.
      const held = this.held(group);
      for (const tp of request.owned) {
        if (!topics.includes(tp.topic)) continue;
        for (const p of tp.partitions) {
          const key = partitionKey(tp.topic, p);
          if (!held.has(key)) member.assignment.add(key);
        }
      }
      group.members.set(id, member);
      this.options.logger?.info({ group: group.id, member: id, topics, kept: member.assignment.size }, 'consumer group member joined');
    }
    member.deadline = this.now() + sessionTimeoutMs;
    this.reconcile(group);
    return {
      memberId: member.id,
      generation: group.generation,
      assignment: toTopicPartitions(member.assignment),
      heartbeatIntervalMs: Math.max(1, Math.floor(sessionTimeoutMs / 3)),
    };
  }

  heartbeat(request: client.HeartbeatRequest): Init<client.HeartbeatResponse> {
    this.requireLeader();
    const group = this.groups.get(request.groupId);
    const member = group?.members.get(request.memberId);
    if (!group || !member) throw unknownMember(request.groupId, request.memberId);
    member.deadline = this.now() + member.sessionTimeoutMs;
    // The member applied `generation`: what was taken away by then is released. (A
    // generation from the future is one of an earlier coordinator: it confirms nothing.)
    if (request.generation <= group.generation) {
      for (const [key, generation] of member.revoking) if (generation <= request.generation) member.revoking.delete(key);
    }
    this.reconcile(group);
    return { generation: group.generation, assignment: toTopicPartitions(member.assignment) };
  }

  leave(request: client.LeaveGroupRequest): void {
    this.requireLeader();
    const group = this.groups.get(request.groupId);
    if (!group || !group.members.delete(request.memberId)) return;
    this.options.logger?.info({ group: group.id, member: request.memberId }, 'consumer group member left');
    if (group.members.size === 0) this.groups.delete(group.id);
    else this.reconcile(group);
  }

  /** Every partition held by some member (assigned or not yet released), and by whom. */
  private held(group: GroupState): Map<PartitionKey, Member> {
    const held = new Map<PartitionKey, Member>();
    for (const m of group.members.values()) {
      for (const key of m.assignment) held.set(key, m);
      for (const key of m.revoking.keys()) held.set(key, m);
    }
    return held;
  }

  /** Moves the group one step towards the assignor's target; bumps the generation on change. */
  private reconcile(group: GroupState): void {
    if (group.members.size === 0) return;
    const counts = new Map<string, number>();
    for (const m of group.members.values()) {
      for (const topic of m.topics) {
        const meta = this.controller.state.topics.get(topic);
        if (meta) counts.set(topic, meta.partitions.length);
      }
    }
    const members = [...group.members.values()];
    const target = assign(members.map((m) => ({ id: m.id, topics: m.topics, current: m.assignment })), counts);
    const next = group.generation + 1;
    let changed = false;
    for (const m of members) {
      const wanted = new Set(target.get(m.id));
      for (const key of m.assignment) {
        if (wanted.has(key)) continue;
        m.assignment.delete(key);
        m.revoking.set(key, next);
        changed = true;
      }
    }
    const held = this.held(group);
    for (const m of members) {
      for (const key of target.get(m.id) ?? []) {
        if (m.assignment.has(key)) continue;
        const holder = held.get(key);
        if (holder === m) m.revoking.delete(key);
        else if (holder) continue; // waits for the release
        m.assignment.add(key);
        held.set(key, m);
        changed = true;
      }
    }
    if (changed) {
      group.generation = next;
      this.options.logger?.debug({ group: group.id, generation: next }, 'consumer group assignment changed');
    }
  }

  private stateOf(group: GroupState | undefined): string {
    if (!group || group.members.size === 0) return 'empty';
    for (const m of group.members.values()) if (m.revoking.size > 0) return 'rebalancing';
    let assigned = 0;
    const topics = new Set<string>();
    for (const m of group.members.values()) {
      assigned += m.assignment.size;
      for (const t of m.topics) topics.add(t);
    }
    let total = 0;
    for (const t of topics) total += this.controller.state.topics.get(t)?.partitions.length ?? 0;
    return assigned < total ? 'rebalancing' : 'stable';
  }

  // ----------------------------------------------------------------------------- offsets

  async commitOffsets(request: client.CommitOffsetsRequest): Promise<Init<client.CommitOffsetsResponse>> {
    this.requireLeader();
    const group = this.groups.get(request.groupId);
    const member = group?.members.get(request.memberId);
    if (!group || !member) throw unknownMember(request.groupId, request.memberId);
    const accepted: GroupOffset[] = [];
    const out: Array<Init<client.PartitionOffset>> = [];
    for (const o of request.offsets) {
      const key = partitionKey(o.topic, o.partition);
      const base = { topic: o.topic, partition: o.partition, offset: o.offset };
      if (!Number.isSafeInteger(o.offset) || o.offset < 0) {
        out.push({ ...base, error: toErrorInfo(new FlotillaError('INVALID_REQUEST', `offset must be >= 0, got ${o.offset}`)) });
      } else if (!member.assignment.has(key) && !member.revoking.has(key)) {
        out.push({ ...base, error: toErrorInfo(new FlotillaError('REBALANCE_IN_PROGRESS', `${key} is not owned by member "${member.id}" of group "${group.id}" any more; it moved to another member`)) });
      } else {
        accepted.push({ topic: o.topic, partition: o.partition, offset: o.offset });
        out.push(base);
      }
    }
    if (accepted.length > 0) await this.controller.propose({ type: 'commitOffsets', group: group.id, offsets: accepted }, this.options.proposeTimeoutMs ?? 10_000);
    return { offsets: out };
  }

  fetchOffsets(request: client.FetchOffsetsRequest): Init<client.FetchOffsetsResponse> {
    this.requireLeader();
    // A new leader's state may not hold the last commits yet: a consumer would resume before them.
    if (!this.controller.leaderCaughtUp) throw this.controller.stillCatchingUp();
    const committed = this.controller.state.groupOffsets.get(request.groupId) ?? new Map<string, number>();
    if (request.partitions.length === 0) {
      return { offsets: [...committed].sort(([a], [b]) => comparePartitionKeys(a, b)).map(([key, offset]) => ({ ...parsePartitionKey(key), offset })) };
    }
    return {
      offsets: request.partitions.flatMap((tp) => tp.partitions.map((partition) => ({ topic: tp.topic, partition, offset: committed.get(partitionKey(tp.topic, partition)) ?? -1 }))),
    };
  }

  async resetOffsets(request: client.ResetOffsetsRequest): Promise<Init<client.ResetOffsetsResponse>> {
    this.requireLeader();
    const group = this.groups.get(request.groupId);
    if (group && group.members.size > 0) {
      throw new FlotillaError('INVALID_REQUEST', `consumer group "${request.groupId}" has ${group.members.size} active member(s); stop its consumers (or wait for their sessions to expire) before resetting its offsets`);
    }
    const meta = this.controller.state.topics.get(request.topic);
    if (!meta) throw new FlotillaError('UNKNOWN_TOPIC', `topic "${request.topic}" does not exist`);
    const count = meta.partitions.length;
    let offsets: GroupOffset[];
    if (request.offsets.length > 0) {
      offsets = request.offsets.map((o) => ({ topic: request.topic, partition: o.partition, offset: o.offset }));
    } else if (request.spec === 3 /* OFFSET_EXACT */) {
      const partitions = request.partitions.length > 0 ? request.partitions : meta.partitions.map((p) => p.partition);
      offsets = partitions.map((partition) => ({ topic: request.topic, partition, offset: request.value }));
    } else {
      throw new FlotillaError('INVALID_REQUEST', 'ResetOffsets to earliest or latest needs the per-partition offsets (the client resolves them at the partition leaders)');
    }
    for (const o of offsets) {
      if (o.partition >= count) throw new FlotillaError('UNKNOWN_PARTITION', `topic "${request.topic}" has partitions 0-${count - 1}; there is no partition ${o.partition}`);
      if (!Number.isSafeInteger(o.offset) || o.offset < 0) throw new FlotillaError('INVALID_REQUEST', `offset must be >= 0, got ${o.offset}`);
    }
    await this.controller.propose({ type: 'resetOffsets', group: request.groupId, offsets }, this.options.proposeTimeoutMs ?? 10_000);
    return { offsets };
  }

  // ------------------------------------------------------------------------------ admin

  listGroups(): Init<client.ListGroupsResponse> {
    this.requireLeader();
    const ids = new Set([...this.groups.keys(), ...this.controller.state.groupOffsets.keys()]);
    return {
      groups: [...ids].sort().map((id) => {
        const group = this.groups.get(id);
        return { groupId: id, state: this.stateOf(group), members: group?.members.size ?? 0 };
      }),
    };
  }

  describeGroup(request: client.DescribeGroupRequest): Init<client.DescribeGroupResponse> {
    this.requireLeader();
    const group = this.groups.get(request.groupId);
    const committed = this.controller.state.groupOffsets.get(request.groupId);
    if (!group && !committed) throw new FlotillaError('UNKNOWN_GROUP', `consumer group "${request.groupId}" does not exist (no members and no committed offsets)`);
    return {
      groupId: request.groupId,
      state: this.stateOf(group),
      generation: group?.generation ?? 0,
      members: [...(group?.members.values() ?? [])]
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .map((m) => ({ memberId: m.id, clientId: m.clientId, clientAddress: m.clientAddress, assignment: toTopicPartitions(m.assignment) })),
      offsets: [...(committed ?? [])].sort(([a], [b]) => comparePartitionKeys(a, b)).map(([key, offset]) => ({ ...parsePartitionKey(key), offset })),
    };
  }
}
