/**
 * Majority arithmetic, kept apart from the algorithm so that it can be table-tested on its
 * own (etcd's quorum/majority.go). A configuration here is a plain list of voter ids; a
 * single-server membership change never needs joint consensus (dissertation 4.1).
 */

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * The highest index that a majority of `voters` holds, given each voter's acknowledged
 * (durable) index. With n voters, sorting the indexes in descending order, the entry at
 * position floor(n / 2) is held by floor(n / 2) + 1 voters: a majority.
 *
 *   voters 1,2,3 with match 7,5,3 → sorted 7,5,3 → position 1 → 5 (held by 1 and 2).
 *
 * An empty configuration commits nothing (0): a group always keeps at least one voter.
 */
export function committedIndex(voters: readonly number[], matchOf: (id: number) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  // Small n (1..7): an insertion sort into a fresh array beats Array.prototype.sort's setup.
  const m = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const v = matchOf(voters[i]!);
    let j = i;
    while (j > 0 && m[j - 1]! < v) {
      m[j] = m[j - 1]!;
      j--;
    }
    m[j] = v;
  }
  return m[n >> 1]!;
}

/**
 * The outcome of an election given the responses received so far (`true` = granted).
 * Won once a majority granted, lost once a majority can no longer be reached, else pending.
 * Responses from ids that are not voters are ignored.
 */
export function voteResult(voters: readonly number[], votes: ReadonlyMap<number, boolean>): VoteResult {
  const n = voters.length;
  if (n === 0) return 'won'; // etcd's convention: an empty config wins (never used by RaftNode)
  const q = (n >> 1) + 1;
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= q) return 'won';
  if (n - rejected < q) return 'lost';
  return 'pending';
}

/** True when the ids in `active` (plus nothing else) form a majority of `voters`. */
export function hasQuorum(voters: readonly number[], isActive: (id: number) => boolean): boolean {
  let active = 0;
  for (const id of voters) if (isActive(id)) active++;
  return active >= (voters.length >> 1) + 1;
}
