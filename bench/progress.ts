/**
 * Progress for long runs: one line on stderr, rewritten in place, only when stdout and
 * stderr are terminals (SPEC section 2: quiet otherwise).
 */
export class Progress {
  private readonly enabled: boolean;
  private shown = false;

  constructor(enabled = Boolean(process.stdout.isTTY && process.stderr.isTTY)) {
    this.enabled = enabled;
  }

  update(text: string): void {
    if (!this.enabled) return;
    process.stderr.write(`\r\x1b[2K${text}`);
    this.shown = true;
  }

  /** Clears the line so that the next output starts clean. */
  done(): void {
    if (!this.enabled || !this.shown) return;
    process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }
}
