/**
 * Deadlines for many concurrent pieces of work with one timer: every piece gets the same time
 * allowance, so pieces end up in the set in deadline order and a sweep stops at the first one
 * still in time. Costs O(1) per piece instead of a timer and a race of promises each.
 */
export class Deadlines {
  private readonly open = new Set<{ at: number; expire: () => void }>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly allowanceMs: number,
    /** How late past its deadline a piece may be rejected. */
    private readonly granularityMs = Math.max(5, Math.min(100, allowanceMs / 20)),
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `work`, or `onExpiry()`'s error once the allowance has passed. `work` goes on either way. */
  within<T>(work: Promise<T>, onExpiry: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = { at: this.now() + this.allowanceMs, expire: () => reject(onExpiry()) };
      this.open.add(entry);
      this.sweeper ??= setInterval(() => this.sweep(), this.granularityMs).unref();
      work.then(
        (value) => {
          this.open.delete(entry);
          resolve(value);
        },
        (err: unknown) => {
          this.open.delete(entry);
          reject(err);
        },
      );
    });
  }

  private sweep(): void {
    const now = this.now();
    for (const entry of this.open) {
      if (entry.at > now) break;
      this.open.delete(entry);
      entry.expire();
    }
    if (this.open.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
