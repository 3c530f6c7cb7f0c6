/**
 * The broker's log of its groups' Raft decisions. At info, what an operator follows: a
 * replica becoming leader (an election won), a leader stepping down and why, a log
 * truncated (entries a new leader did not have), a membership change, and a replica that
 * holds again what it had lost; each with the topic and partition (or the metadata log),
 * the term, and the broker (the logger's own field). Every other decision (campaigns,
 * refused votes and why, lost elections, quiesce and wake) at debug. Records never appear.
 */
import type { Logger } from 'pino';
import type { GroupEvent } from './multiraft.js';

/** What a group id stands for: a topic partition, or the metadata log. */
export type GroupName = { topic: string; partition: number } | { metadata: true };

const INFO: Partial<Record<GroupEvent['event'], string>> = {
  elected: 'replica became leader',
  'step-down': 'leader stepped down',
  truncated: 'log truncated to follow the leader',
  membership: 'group membership changed',
  recovered: 'replica recovered the entries it had lost',
};

export function logGroupDecisions(
  logger: Logger,
  nameOf: (groupId: number) => GroupName | undefined,
  termOf: (groupId: number) => number | undefined,
): (groupId: number, event: GroupEvent) => void {
  return (groupId, event) => {
    const message = INFO[event.event];
    if (message === undefined && !logger.isLevelEnabled('debug')) return;
    const { event: what, ...details } = event;
    const fields = { group: groupId, ...nameOf(groupId), term: termOf(groupId), ...details };
    if (message !== undefined) logger.info(fields, message);
    else logger.debug(fields, `raft: ${what}`);
  };
}

/**
 * Group id → name from the topic table, rebuilt on a miss — at most once a second unless
 * the number of topics changed — so that a burst of events costs one pass, not one each.
 */
export class GroupNames {
  private names = new Map<number, GroupName>();
  private builtAt = -Infinity;
  private builtFromTopics = -1;

  constructor(
    private readonly metadataGroup: number,
    private readonly topics: () => ReadonlyMap<string, { partitions: ReadonlyArray<{ partition: number; groupId: number }> }>,
  ) {}

  nameOf(groupId: number): GroupName | undefined {
    if (groupId === this.metadataGroup) return { metadata: true };
    const name = this.names.get(groupId);
    if (name !== undefined) return name;
    const topics = this.topics();
    if (topics.size === this.builtFromTopics && Date.now() - this.builtAt < 1000) return undefined;
    this.names = new Map();
    for (const [topic, meta] of topics) {
      for (const p of meta.partitions) this.names.set(p.groupId, { topic, partition: p.partition });
    }
    this.builtAt = Date.now();
    this.builtFromTopics = topics.size;
    return this.names.get(groupId);
  }
}
