/**
 * The consumer: `assign()` the partitions to read, or `subscribe()` with a groupId and let
 * the group assign them, then `for await` the messages. This class is the public face and
 * checks what the application asks; the reading itself is the Reader's (reader.ts), which
 * the group membership (group.ts) shares without either being exported.
 *
 * Breaking out of `for await` leaves the consumer open (iterate again to go on);
 * close() stops the fetchers and ends any running iteration.
 */
import { FlotillaError } from '../../protocol/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import { resolveConsumerOptions, type Assignment, type ConsumerOptions } from './options.js';
import type { Message } from './messages.js';
import { validateTopicName } from '../../protocol/topics.js';
import { requireStartOffset } from '../validate.js';
import { GroupMembership } from './group.js';
import { Reader } from './reader.js';

export type { Message } from './messages.js';
export type { Assignment } from './options.js';

function needsGroup(what: string): FlotillaError {
  return new FlotillaError('INVALID_REQUEST', `${what} needs a consumer group: create the consumer with client.consumer({ groupId }) and subscribe() to topics`);
}

export class Consumer implements AsyncIterable<Message> {
  private readonly reader: Reader;
  private readonly group: GroupMembership | null;
  private closed = false;

  constructor(cluster: Cluster, options: ConsumerOptions = {}) {
    const resolved = resolveConsumerOptions(options);
    this.reader = new Reader(cluster, resolved);
    this.group = resolved.groupId === undefined ? null : new GroupMembership(this.reader, resolved.groupId);
  }

  /** Replaces the assignment. Synchronous; fetching starts when iteration does. */
  assign(assignments: Assignment[]): void {
    if (this.closed) throw new FlotillaError('INVALID_REQUEST', 'assign() after consumer.close(); create a new consumer');
    if (!Array.isArray(assignments)) throw new FlotillaError('INVALID_REQUEST', 'assign() takes an array of { topic, partition, offset }');
    if (this.group?.subscribed) throw new FlotillaError('INVALID_REQUEST', 'assign() on a consumer that subscribed to a group: the group assigns its partitions');
    const seen = new Set<string>();
    for (const a of assignments) {
      validateTopicName(a?.topic);
      if (!Number.isSafeInteger(a.partition) || a.partition < 0) throw new FlotillaError('INVALID_REQUEST', `assign(): partition must be a partition number, got ${JSON.stringify(a.partition)}`);
      requireStartOffset('assign()', a.offset);
      const key = `${a.topic}/${a.partition}`;
      if (seen.has(key)) throw new FlotillaError('INVALID_REQUEST', `assign(): ${key} is listed twice`);
      seen.add(key);
    }
    this.reader.replace(assignments);
  }

  /** The partitions this consumer reads right now. */
  assignment(): Array<{ topic: string; partition: number }> {
    return this.reader.assignment();
  }

  /**
   * Per assigned partition: the next offset to fetch (null until 'earliest'/'latest' is
   * resolved) and how many fetched messages still wait to be handed out. Lets a caller
   * tell "caught up with the log" apart from "waiting for data".
   */
  progress(): Array<{ topic: string; partition: number; fetchOffset: number | null; buffered: number }> {
    return this.reader.progress();
  }

  /** Joins the group (groupId) for the topic; may be called for several topics. */
  async subscribe(subscription: { topic: string; fromBeginning?: boolean }): Promise<void> {
    if (!this.group) throw needsGroup('subscribe()');
    if (this.closed) throw new FlotillaError('INVALID_REQUEST', 'subscribe() after consumer.close(); create a new consumer');
    validateTopicName(subscription?.topic);
    await this.group.subscribe(subscription.topic, subscription.fromBeginning === true);
  }

  /** Commits, for each owned partition, the offset after the last record handed out. */
  async commit(): Promise<void> {
    if (!this.group?.subscribed) throw needsGroup('commit()');
    await this.group.commit();
  }

  async close(): Promise<void> {
    const wasClosed = this.closed;
    this.closed = true;
    this.reader.stop();
    if (!wasClosed) await this.group?.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    if (this.reader.isEmpty && !this.group?.subscribed) {
      throw new FlotillaError(
        'INVALID_REQUEST',
        this.group
          ? 'the consumer has not subscribed to any topic: call subscribe({ topic }) before iterating'
          : 'the consumer has no partitions: call assign([{ topic, partition, offset }]) (or give a groupId and subscribe) before iterating',
      );
    }
    this.reader.start();
    while (!this.closed) {
      const message = this.reader.take();
      if (message) yield message;
      else await this.reader.whenData();
    }
  }
}
