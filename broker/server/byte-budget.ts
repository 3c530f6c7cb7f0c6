/**
 * Bounds the response bytes a broker holds in memory: read for a fetch, encoded, or queued
 * in a socket the client does not empty. One budget per connection
 * (--max-connection-pending-bytes) and one for the whole broker (--max-pending-response-bytes).
 */

/**
 * A count of bytes with a limit. `acquire` waits, first come first served, until the bytes
 * fit; a request larger than the whole limit is granted once nothing else is held, so
 * that nothing waits forever. `resize` corrects a holding to its actual size without waiting
 * (an encoded response is a little larger or smaller than what was set aside for it).
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: Array<{ bytes: number; grant: () => void }> = [];

  constructor(readonly limit: number) {}

  get held(): number {
    return this.used;
  }

  /** True while a holder waits: the budget is exhausted. */
  get exhausted(): boolean {
    return this.waiting.length > 0 || this.used >= this.limit;
  }

  acquire(bytes: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.used += bytes;
      return Promise.resolve();
    }
    return new Promise((grant) => this.waiting.push({ bytes, grant }));
  }

  release(bytes: number): void {
    this.used -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.grant();
    }
  }

  resize(from: number, to: number): void {
    if (to > from) this.used += to - from;
    else this.release(from - to);
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }
}

/**
 * What one request holds of its connection's budget and of the broker's, from before its
 * data is read until its response has been handed to the socket (or the connection closed).
 */
export class ResponseHolding {
  /** Held of each budget (they differ while `take` waits for the broker's). */
  private onConnection = 0;
  private onBroker = 0;
  private released = false;

  constructor(
    private readonly connection: ByteBudget,
    private readonly broker: ByteBudget,
    /** Called when the connection's budget may have changed state (to pause or resume reading it). */
    private readonly onChange: () => void,
  ) {}

  /**
   * Waits until `bytes` more fit in both budgets, then holds them. Throws once the holding
   * was released (the connection closed): what would have used the bytes must not run, or
   * every request a closed connection left queued would read its data at once, unbudgeted.
   */
  async take(bytes: number): Promise<void> {
    if (this.released) throw connectionClosed();
    const forConnection = this.connection.acquire(bytes);
    this.onChange(); // the connection may be exhausted now: stop reading it
    await forConnection;
    if (this.released) {
      this.connection.release(bytes);
      throw connectionClosed();
    }
    this.onConnection += bytes;
    await this.broker.acquire(bytes);
    if (this.released) {
      this.broker.release(bytes);
      throw connectionClosed();
    }
    this.onBroker += bytes;
  }

  /** Holds exactly `bytes` of both from now on, without waiting. */
  resize(bytes: number): void {
    this.connection.resize(this.onConnection, bytes);
    this.broker.resize(this.onBroker, bytes);
    this.onConnection = this.onBroker = bytes;
    this.onChange();
  }

  /** For good: the response left, or the connection closed. */
  release(): void {
    this.released = true;
    this.resize(0);
  }
}

function connectionClosed(): Error {
  return new Error('the connection closed before the request ran');
}
