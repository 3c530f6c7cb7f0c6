/**
 * The consumer-group assignor: which member should read which partition. Pure: the
 * coordinator calls it with the live members, their subscriptions, the partition counts of
 * the topics and what each member has now, and moves partitions towards the answer
 * cooperatively (a partition changes hands only after its owner released it).
 *
 * - Balanced: when every member subscribes to the same topics, partition counts per member
 *   differ by at most one. (With different subscriptions each partition goes to the least
 *   loaded member subscribed to its topic, which is balanced as far as the subscriptions let.)
 * - Sticky: a member keeps what it has, up to its share; only the surplus moves.
 * - Deterministic: the same input gives the same output (members and partitions are sorted).
 */

/** "topic/partition": the key the coordinator and assignor use for a partition. */
export type PartitionKey = string;

export function partitionKey(topic: string, partition: number): PartitionKey {
  return `${topic}/${partition}`;
}

export function parsePartitionKey(key: PartitionKey): { topic: string; partition: number } {
  const slash = key.lastIndexOf('/');
  return { topic: key.slice(0, slash), partition: Number(key.slice(slash + 1)) };
}

export interface AssignorMember {
  id: string;
  topics: readonly string[];
  /** What the member owns (or is being given) now: kept when possible. */
  current: Iterable<PartitionKey>;
}

/**
 * The target assignment: member id -> partition keys. Every partition of a subscribed topic
 * that exists (partitionCounts) goes to exactly one subscribed member.
 */
export function assign(members: readonly AssignorMember[], partitionCounts: ReadonlyMap<string, number>): Map<string, PartitionKey[]> {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const result = new Map<string, PartitionKey[]>(sorted.map((m) => [m.id, []]));
  if (sorted.length === 0) return result;

  const subscribers = new Map<string, string[]>();
  for (const m of sorted) {
    for (const topic of new Set(m.topics)) {
      if (!partitionCounts.has(topic)) continue;
      const list = subscribers.get(topic) ?? [];
      list.push(m.id);
      subscribers.set(topic, list);
    }
  }
  const all: PartitionKey[] = [];
  for (const topic of [...subscribers.keys()].sort()) {
    for (let p = 0; p < partitionCounts.get(topic)!; p++) all.push(partitionKey(topic, p));
  }
  const eligible = (member: string, key: PartitionKey) => subscribers.get(parsePartitionKey(key).topic)?.includes(member) ?? false;

  // Shares: floor(P/N) each, one more for P%N members; those that already hold the most
  // get the larger shares, so that the fewest partitions move.
  const kept = new Map<string, PartitionKey[]>();
  const valid = new Set(all);
  for (const m of sorted) kept.set(m.id, [...new Set(m.current)].filter((k) => valid.has(k) && eligible(m.id, k)).sort(comparePartitionKeys));
  const base = Math.floor(all.length / sorted.length);
  let extra = all.length % sorted.length;
  const quota = new Map<string, number>();
  for (const m of [...sorted].sort((a, b) => kept.get(b.id)!.length - kept.get(a.id)!.length)) {
    quota.set(m.id, base + (extra > 0 ? 1 : 0));
    if (extra > 0) extra--;
  }

  const owner = new Map<PartitionKey, string>();
  for (const m of sorted) {
    const mine = result.get(m.id)!;
    for (const key of kept.get(m.id)!) {
      if (mine.length >= quota.get(m.id)! || owner.has(key)) continue;
      owner.set(key, m.id);
      mine.push(key);
    }
  }
  for (const key of all) {
    if (owner.has(key)) continue;
    const candidates = subscribers.get(parsePartitionKey(key).topic)!;
    let best: string | null = null;
    for (const id of candidates) {
      if (best === null) {
        best = id;
        continue;
      }
      const load = result.get(id)!.length - quota.get(id)!;
      const bestLoad = result.get(best)!.length - quota.get(best)!;
      if (load < bestLoad || (load === bestLoad && result.get(id)!.length < result.get(best)!.length)) best = id;
    }
    owner.set(key, best!);
    result.get(best!)!.push(key);
  }
  for (const list of result.values()) list.sort(comparePartitionKeys);
  return result;
}

export function comparePartitionKeys(a: PartitionKey, b: PartitionKey): number {
  const pa = parsePartitionKey(a);
  const pb = parsePartitionKey(b);
  return pa.topic < pb.topic ? -1 : pa.topic > pb.topic ? 1 : pa.partition - pb.partition;
}
