/**
 * Ends a connection whose client stopped taking its responses (--write-timeout-ms). A
 * client that pipelines requests and never reads keeps what the broker wrote for it, and
 * the response budgets (byte-budget.ts) that bound the memory also make other requests
 * wait once they are spent: without a deadline a handful of such clients hold every
 * other client back until their idle timeout, minutes later.
 *
 * The clock runs while at least one written response has not been handed to the kernel
 * yet, from the last one that was: a client that reads, however slowly, moves it on with
 * every response it takes; one that stopped gets `onTimeout` after `timeoutMs`.
 */
export class WriteTimeout {
  private unsent = 0;
  private lastTakenAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly onTimeout: (waitedMs: number) => void,
  ) {}

  /** A response is being written; `taken()` follows once the socket has handed it to the kernel. */
  writing(): void {
    if (this.unsent++ === 0) {
      this.lastTakenAt = performance.now();
      this.arm(this.timeoutMs);
    }
  }

  /** One written response is with the kernel (its write callback ran, once per write). */
  taken(): void {
    this.unsent--;
    this.lastTakenAt = performance.now();
  }

  /** The connection closed: no more checks. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(delayMs: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => this.check(), Math.max(1, delayMs));
    this.timer.unref();
  }

  private check(): void {
    this.timer = null;
    if (this.stopped || this.unsent === 0) return;
    const waited = performance.now() - this.lastTakenAt;
    if (waited >= this.timeoutMs) this.onTimeout(Math.round(waited));
    else this.arm(this.timeoutMs - waited);
  }
}
