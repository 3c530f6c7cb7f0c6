/**
 * The network partitions both simulators inject: which directed links a partition of
 * `kind` cuts. Pure (no randomness), so each simulator draws `a` and `victim` from its own
 * generator in its own order and seeds replay as before.
 */
export const PARTITION_KINDS = ['symmetric', 'asymmetric', 'isolate-in', 'isolate-out'] as const;
export type PartitionKind = (typeof PARTITION_KINDS)[number];

/** The [from, to] links cut: between side `a` and the rest, or into or out of `victim`. */
export function cutLinks(kind: PartitionKind, ids: readonly number[], a: readonly number[], victim: number): Array<[number, number]> {
  const cut: Array<[number, number]> = [];
  for (const x of ids) {
    for (const y of ids) {
      if (x === y) continue;
      const inA = a.includes(x);
      const toA = a.includes(y);
      const cuts = kind === 'symmetric' ? inA !== toA : kind === 'asymmetric' ? inA && !toA : kind === 'isolate-in' ? y === victim : x === victim;
      if (cuts) cut.push([x, y]);
    }
  }
  return cut;
}
