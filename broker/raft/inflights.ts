/**
 * The window of append messages sent to one follower and not yet acknowledged
 * (etcd's tracker/inflights.go). Each slot remembers the last index a message carried and
 * its size in bytes; an acknowledgement of index i frees every slot up to i.
 *
 * Sizing: with maxBytesPerMsg = 1 MiB and a window of 256 messages, at most 256 MiB per
 * follower may be in flight; on a 1 Gbit/s link (125 MB/s) with a 2 ms round trip the
 * bandwidth-delay product is 250 KB, so a window of 8 x 64 KiB messages already keeps the
 * link busy. The default (256) is generous for tiny batches; the byte cap binds first for
 * large ones.
 */
export class Inflights {
  /** Ring buffer of last indexes and sizes; `start` is the oldest slot. */
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private size = 0;
  private bytes = 0;

  /**
   * @param capacity maximum number of messages in flight (>= 1)
   * @param maxBytes maximum bytes in flight, 0 for no byte limit
   */
  constructor(
    readonly capacity: number,
    readonly maxBytes = 0,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`inflight capacity must be >= 1, got ${capacity}`);
    this.indexes = [];
    this.sizes = [];
  }

  /** Records a message whose last entry is `index` (increasing from call to call). */
  add(index: number, bytes: number): void {
    if (this.full()) throw new Error('inflights: add() on a full window; check full() first');
    const at = (this.start + this.size) % this.capacity;
    this.indexes[at] = index;
    this.sizes[at] = bytes;
    this.size++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is <= `index` (the follower acknowledged it). */
  freeLE(index: number): void {
    while (this.size > 0 && this.indexes[this.start]! <= index) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.capacity;
      this.size--;
    }
    if (this.size === 0) this.start = 0;
  }

  /** Frees the oldest message (a heartbeat response proves the follower is alive). */
  freeFirstOne(): void {
    if (this.size === 0) return;
    this.freeLE(this.indexes[this.start]!);
  }

  full(): boolean {
    return this.size === this.capacity || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  count(): number {
    return this.size;
  }

  inflightBytes(): number {
    return this.bytes;
  }

  reset(): void {
    this.start = 0;
    this.size = 0;
    this.bytes = 0;
  }
}
