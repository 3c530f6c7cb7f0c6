/** A task run every `ms` milliseconds between start and stop; its timer never keeps the process alive. */
export class Periodic {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ms: number,
    private readonly task: () => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(this.task, this.ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
