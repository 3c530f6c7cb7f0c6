/**
 * The broker's log of its groups' Raft decisions: a replica becoming leader or stepping
 * down at info, with topic, partition and term; every other decision (campaigns, refused
 * votes and why, lost elections, truncations, membership changes, quiesce and wake) at debug.
 */
import type { Logger } from 'pino';
import type { GroupEvent } from './multiraft.js';

/** What a group id stands for: a topic partition, or the metadata log. */
export type GroupName = { topic: string; partition: number } | { metadata: true };

export function logGroupDecisions(logger: Logger, nameOf: (groupId: number) => GroupName | undefined): (groupId: number, event: GroupEvent) => void {
  return (groupId, event) => {
    const roleChange = event.event === 'elected' || event.event === 'step-down';
    if (!roleChange && !logger.isLevelEnabled('debug')) return;
    const { event: what, ...details } = event;
    const fields = { group: groupId, ...nameOf(groupId), ...details };
    if (event.event === 'elected') logger.info(fields, 'replica became leader');
    else if (event.event === 'step-down') logger.info(fields, 'leader stepped down');
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
