/**
 * Runs an async job so that calls made while it runs share the next run: at most one run
 * is in progress and one waits. A flush uses it: a call made during an fsync may have
 * appended after that fsync began, so it must wait for the next one, and every such call
 * can share it (group commit).
 */
export class CoalescedRun {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly job: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running) {
      this.queued ??= this.running.then(
        () => this.start(),
        () => this.start(),
      );
      return this.queued;
    }
    return this.start();
  }

  /** Resolves once the running run and the waiting one (if any) have ended, whatever their outcome. */
  async settled(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running)!.catch(() => undefined);
  }

  private start(): Promise<void> {
    this.queued = undefined;
    const run = this.job().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }
}
