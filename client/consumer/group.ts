/**
 * A consumer's membership in a consumer group (SPEC section 3). The coordinator (the
 * controller leader) assigns partitions; this side follows:
 *
 * - Heartbeats run on their own timer, never blocked by the application's handling of
 *   records, and carry the generation whose assignment this member has applied.
 * - On an assignment change: stop fetching revoked partitions, commit their positions,
 *   mark the generation applied and heartbeat at once (that confirms the release, so the
 *   coordinator can hand them on); start fetching new ones from the committed offset
 *   (FetchOffsets), else earliest or latest per the subscription's fromBeginning.
 * - commit() stores, for each owned partition, the offset after the last record handed to
 *   the application. autoCommit also commits every autoCommitIntervalMs and on close().
 * - UNKNOWN_GROUP on a heartbeat (session expired, or a new coordinator after a controller
 *   failover): rejoin with the same member id and the partitions still read; the coordinator
 *   keeps them with us when nobody else took them, and the answer revokes the rest.
 *
 * Assignment changes, commits and joins run one at a time (a promise chain); heartbeats run
 * beside them.
 */
import { FlotillaError } from '../../protocol/errors.js';
import { asFlotillaError } from '../cluster/retry.js';
import type { GroupAssignment, TopicPartitionList } from '../network/api.js';
import type { Reader } from './reader.js';

const key = (topic: string, partition: number) => `${topic}/${partition}`;
function parse(k: string): { topic: string; partition: number } {
  const slash = k.lastIndexOf('/');
  return { topic: k.slice(0, slash), partition: Number(k.slice(slash + 1)) };
}
function toLists(keys: Iterable<string>): TopicPartitionList[] {
  const byTopic = new Map<string, number[]>();
  for (const k of keys) {
    const { topic, partition } = parse(k);
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

export class GroupMembership {
  private memberId = '';
  /** The generation whose assignment is applied here (sent with every heartbeat). */
  private applied = 0;
  private readonly topics = new Map<string, boolean>();
  private latest: GroupAssignment | null = null;
  private pending = false;
  private serial: Promise<void> = Promise.resolve();
  private heartbeating = false;
  private heartbeatAgain = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  private readonly lastCommitted = new Map<string, number>();
  private closed = false;

  constructor(
    /** The consumer's reading, shared with it: which partitions, and the positions handed out. */
    private readonly reader: Reader,
    readonly groupId: string,
  ) {}

  private get cluster() {
    return this.reader.cluster;
  }

  private get options() {
    return this.reader.options;
  }

  /** Adds a topic to the subscription and (re)joins with it; resolves once joined. */
  async subscribe(topic: string, fromBeginning: boolean): Promise<void> {
    if (this.closed) throw new FlotillaError('INVALID_REQUEST', 'subscribe() after consumer.close(); create a new consumer');
    await this.cluster.topic(topic); // UNKNOWN_TOPIC surfaces here
    this.topics.set(topic, fromBeginning);
    await this.run(() => this.join());
    if (!this.heartbeatTimer) {
      this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatIntervalMs);
      if (this.options.autoCommit) {
        this.commitTimer = setInterval(() => {
          void this.commit().catch((err) => this.cluster.logger.debug({ group: this.groupId, err: asFlotillaError(err).message }, 'auto-commit failed'));
        }, this.options.autoCommitIntervalMs);
      }
    }
  }

  get subscribed(): boolean {
    return this.topics.size > 0;
  }

  /** Commits the position of every owned partition that moved since the last commit. */
  commit(): Promise<void> {
    return this.run(() => this.commitKeys(this.owned()));
  }

  /** Stops heartbeating, commits (autoCommit) and leaves the group. Fetchers are already stopped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.commitTimer) clearInterval(this.commitTimer);
    if (!this.memberId) return;
    await this.serial.catch(() => undefined);
    const deadline = Date.now() + Math.min(this.cluster.options.requestTimeoutMs, 5000);
    if (this.options.autoCommit) {
      await this.commitKeys(this.owned(), deadline).catch((err) => this.cluster.logger.warn({ group: this.groupId, err: asFlotillaError(err).message }, 'commit on close failed'));
    }
    await this.cluster
      .controllerRequest({ type: 'leaveGroup', groupId: this.groupId, memberId: this.memberId }, deadline)
      .catch((err) => this.cluster.logger.debug({ group: this.groupId, err: asFlotillaError(err).message }, 'leave failed; the session expires instead'));
  }

  // -----------------------------------------------------------------------------------

  private run(task: () => Promise<void>): Promise<void> {
    const result = this.serial.then(task);
    this.serial = result.catch(() => undefined);
    return result;
  }

  private owned(): string[] {
    return this.reader.assignment().map((a) => key(a.topic, a.partition));
  }

  private async join(): Promise<void> {
    if (this.closed) return;
    const { result } = await this.cluster.controllerRequest(
      {
        type: 'joinGroup',
        groupId: this.groupId,
        memberId: this.memberId,
        topics: [...this.topics.keys()],
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        owned: toLists(this.owned()),
      },
      Date.now() + this.cluster.options.requestTimeoutMs,
    );
    this.memberId = result.memberId;
    // A join answer is applied whatever its generation (a new coordinator counts anew).
    await this.apply(result);
  }

  private async heartbeat(): Promise<void> {
    if (this.closed || !this.memberId) return;
    if (this.heartbeating) {
      this.heartbeatAgain = true;
      return;
    }
    this.heartbeating = true;
    try {
      const { result } = await this.cluster.controllerRequest(
        { type: 'heartbeat', groupId: this.groupId, memberId: this.memberId, generation: this.applied },
        Date.now() + Math.max(this.options.heartbeatIntervalMs, Math.floor(this.options.sessionTimeoutMs / 2)),
      );
      if (result.generation !== this.applied) {
        this.latest = result;
        this.pending = true;
        void this.run(() => this.applyLatest()).catch((err) => this.cluster.logger.debug({ group: this.groupId, err: asFlotillaError(err).message }, 'applying the assignment failed; retrying'));
      }
    } catch (err) {
      const error = asFlotillaError(err);
      if (this.closed) return;
      if (error.code === 'UNKNOWN_GROUP') {
        this.cluster.logger.info({ group: this.groupId, member: this.memberId }, 'not a member any more (session expired or coordinator changed): rejoining');
        await this.run(() => this.join()).catch((e) => this.cluster.logger.debug({ group: this.groupId, err: asFlotillaError(e).message }, 'rejoin failed'));
      } else {
        this.cluster.logger.debug({ group: this.groupId, code: error.code }, 'heartbeat failed');
      }
    } finally {
      this.heartbeating = false;
      if (this.heartbeatAgain && !this.closed) {
        this.heartbeatAgain = false;
        setImmediate(() => void this.heartbeat());
      }
    }
  }

  private async applyLatest(): Promise<void> {
    if (!this.pending || !this.latest || this.closed) return;
    this.pending = false;
    try {
      await this.apply(this.latest);
    } catch (err) {
      this.pending = true;
      throw err;
    }
  }

  private async apply(target: GroupAssignment): Promise<void> {
    const wanted = new Set(target.assignment.flatMap((a) => a.partitions.map((p) => key(a.topic, p))));
    const owned = new Set(this.owned());
    const revoked = [...owned].filter((k) => !wanted.has(k));
    const added = [...wanted].filter((k) => !owned.has(k));
    if (revoked.length > 0) {
      this.reader.remove(revoked);
      await this.commitKeys(revoked).catch((err) => this.cluster.logger.warn({ group: this.groupId, err: asFlotillaError(err).message }, 'commit of revoked partitions failed'));
      for (const k of revoked) {
        this.reader.forgetPosition(k);
        this.lastCommitted.delete(k);
      }
    }
    if (added.length > 0) {
      const { result } = await this.cluster.controllerRequest({ type: 'fetchOffsets', groupId: this.groupId, partitions: toLists(added) }, Date.now() + this.cluster.options.requestTimeoutMs);
      const committed = new Map(result.map((o) => [key(o.topic, o.partition), o.offset]));
      this.reader.add(
        added.map((k) => {
          const { topic, partition } = parse(k);
          const offset = committed.get(k) ?? -1;
          if (offset >= 0) this.lastCommitted.set(k, offset);
          return { topic, partition, offset: offset >= 0 ? offset : this.topics.get(topic) ? ('earliest' as const) : ('latest' as const) };
        }),
      );
    }
    this.applied = target.generation;
    if (revoked.length > 0 || added.length > 0) {
      this.cluster.logger.info({ group: this.groupId, generation: target.generation, revoked: revoked.length, added: added.length }, 'group assignment applied');
    }
    // Confirm the release now rather than at the next tick: others wait for these partitions.
    if (revoked.length > 0) void this.heartbeat();
  }

  private async commitKeys(keys: string[], deadline = Date.now() + this.cluster.options.requestTimeoutMs): Promise<void> {
    if (!this.memberId) return;
    const offsets = keys
      .map((k) => ({ k, offset: this.reader.positionOf(k) }))
      .filter((o): o is { k: string; offset: number } => o.offset !== undefined && this.lastCommitted.get(o.k) !== o.offset);
    if (offsets.length === 0) return;
    await this.cluster.controllerRequest(
      { type: 'commitOffsets', groupId: this.groupId, memberId: this.memberId, generation: this.applied, offsets: offsets.map((o) => ({ ...parse(o.k), offset: o.offset })) },
      deadline,
    );
    for (const o of offsets) this.lastCommitted.set(o.k, o.offset);
  }
}
