/** A min-heap of items by time, ties in insertion order: the simulators' event queues. */
export class Timeline<T> {
  private at: number[] = [];
  private seq: number[] = [];
  private items: T[] = [];
  private n = 0;
  private counter = 0;

  get size(): number {
    return this.n;
  }

  /** Time of the earliest item (Infinity when empty). */
  peekAt(): number {
    return this.n > 0 ? this.at[0]! : Infinity;
  }

  push(at: number, item: T): void {
    let i = this.n++;
    const s = this.counter++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.at[p]! < at || (this.at[p] === at && this.seq[p]! < s)) break;
      this.at[i] = this.at[p]!;
      this.seq[i] = this.seq[p]!;
      this.items[i] = this.items[p]!;
      i = p;
    }
    this.at[i] = at;
    this.seq[i] = s;
    this.items[i] = item;
  }

  pop(): T {
    const top = this.items[0]!;
    const n = --this.n;
    const at = this.at[n]!;
    const s = this.seq[n]!;
    const item = this.items[n]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (this.at[r]! < this.at[l]! || (this.at[r] === this.at[l] && this.seq[r]! < this.seq[l]!)) ? r : l;
      if (at < this.at[c]! || (at === this.at[c] && s < this.seq[c]!)) break;
      this.at[i] = this.at[c]!;
      this.seq[i] = this.seq[c]!;
      this.items[i] = this.items[c]!;
      i = c;
    }
    this.at[i] = at;
    this.seq[i] = s;
    this.items[i] = item;
    this.items.length = n;
    this.at.length = n;
    this.seq.length = n;
    return top;
  }
}
