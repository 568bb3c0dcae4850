export interface WorkerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The loop shared by the outbox workers: one pass at a time, again at once while passes come
 * back full or someone nudged, else after `pollMs`; `stop()` waits for the pass in hand.
 */
export abstract class PollingWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopped = true;
  private wanted = false;

  protected constructor(
    private readonly name: string,
    protected readonly log: WorkerLogger,
    private readonly loop: { pollMs: number; batchSize: number },
  ) {}

  /** One pass; returns how many items it handled. */
  abstract runOnce(): Promise<number>;

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and waits for the pass in hand. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Asks for a pass soon (after new work was written). */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) this.wanted = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, ms);
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.running) return;
    let handled = 0;
    try {
      handled = await (this.running = this.runOnce());
    } catch (err) {
      this.log.warn({ err }, `${this.name} pass failed`);
    } finally {
      this.running = null;
    }
    if (this.stopped) return;
    const again = this.wanted || handled >= this.loop.batchSize;
    this.wanted = false;
    this.schedule(again ? 0 : this.loop.pollMs);
  }
}
