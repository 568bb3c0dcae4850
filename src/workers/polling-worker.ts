import type { Clock } from '../domain/clock.js';

export interface WorkerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WorkerLoop {
  /**
   * Most attempts in flight at once (sends towards a gateway). An item whose attempt is over
   * while its result is being written frees its slot: recording waits for a shared commit and
   * its fsync, and a slot held through that wait would bound the rate by the disk's latency
   * instead of the gateway's (20 slots delivered ~1 250 SMS/s while 1 500 cards/s were paid).
   * Up to `LEASED_AHEAD_PER_SLOT` × `concurrency` more are leased ahead, waiting for a slot; at
   * most `RECORDING_PER_SLOT` × `concurrency` items are in hand in all.
   */
  concurrency: number;
  /** Lease on a claimed item, renewed every third of it while the item is in hand. */
  leaseMs: number;
  /** How often to look for due items while none were announced. */
  pollMs: number;
  /**
   * Least time between two leases asked for by nudges (default 0). Every lease is a write of
   * its own; under a stream of nudges (one per paid card) a short gap lets one lease take the
   * items of many, for at most this much added delay. A lease that came back full is followed
   * at once.
   */
  claimGapMs?: number;
}

/** Items in hand per attempt slot, counting those whose results are being recorded. */
export const RECORDING_PER_SLOT = 4;
/** Items leased ahead per attempt slot, waiting for one to free. */
export const LEASED_AHEAD_PER_SLOT = 2;

interface InHand<T> {
  item: T;
  key: string;
  /** The lease end this worker set last: what its writes to the row must still find. */
  until: number;
  /** The attempt is over and its result about to be recorded: no renewal any more. */
  closing: boolean;
  lost: boolean;
}

/**
 * The loop shared by the outbox workers. A pass leases due items and keeps up to `concurrency`
 * attempts under way, starting the next leased one as each attempt ends (its result is then
 * recorded beside the next attempts) and leasing ahead of the slots, so a slow attempt holds one
 * slot and not the others and no slot waits for a lease; it ends when nothing is in hand or due. While an item is in hand its lease is
 * renewed every `leaseMs / 3`, so the lease can be short (a killed worker's items come due again
 * soon) and still outlive a slow attempt. A result is recorded only where the lease is still this
 * worker's: one that stalled past its lease, while another worker took the item over, logs the
 * result instead of overwriting the new holder's. `stop()` waits for the items in hand.
 */
export abstract class PollingWorker<T, R> {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopped = true;
  /** Set by `stop()`: the pass in hand leases nothing more. */
  private draining = false;
  private wanted = false;
  private wake: (() => void) | null = null;
  /** When the last lease was asked for (Date.now()). */
  private lastClaimAt = 0;

  protected constructor(
    private readonly name: string,
    protected readonly log: WorkerLogger,
    protected readonly clock: Clock,
    private readonly loop: WorkerLoop,
  ) {}

  /** Leases up to `limit` due items until `leaseUntil`. */
  protected abstract claim(now: number, leaseUntil: number, limit: number): Promise<T[]>;
  protected abstract keyOf(item: T): string;
  /** Of `keys`, moves the leases still ending at `held` to `leaseUntil`; returns those keys. */
  protected abstract renew(keys: string[], held: number, leaseUntil: number): Promise<string[]>;
  /** One delivery attempt; a failed delivery is a result, not an exception. */
  protected abstract attempt(item: T): Promise<R>;
  /** Records the result where the lease still ends at `held`; false when it did not. */
  protected abstract record(item: T, result: R, held: number): Promise<boolean>;
  /** Log fields naming the item and the result. */
  protected abstract describe(item: T, result?: R): object;

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and waits for the items in hand. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.draining = true;
    this.wake?.();
    try {
      await this.running;
    } finally {
      this.draining = false;
    }
  }

  /** Asks for due items soon (after new work was written). */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wanted = true;
      this.wake?.();
    } else this.schedule(0);
  }

  /** One pass, until nothing is in hand or due; returns how many items it leased. */
  async runOnce(): Promise<number> {
    // A set, not a map by key: a worker that stalled past its own lease can lease the item again.
    const inHand = new Set<InHand<T>>();
    const attempts = new Set<Promise<void>>();
    let renewal: Promise<void> | null = null;
    const heartbeat = setInterval(
      () => {
        renewal ??= this.renewAll(inHand).finally(() => (renewal = null));
      },
      Math.max(1, Math.floor(this.loop.leaseMs / 3)),
    );
    heartbeat.unref();
    let handled = 0;
    const slots = this.loop.concurrency;
    /** In hand with the attempt under way. */
    let attempting = 0;
    /** Leased, waiting for a slot: a lease takes a while (it waits for a commit), so it runs ahead. */
    const ready: InHand<T>[] = [];
    const startReady = (): void => {
      while (attempting < slots && ready.length > 0) {
        const h = ready.shift()!;
        attempting++;
        const attempted = () => {
          attempting--;
          startReady();
          this.wake?.();
        };
        const done: Promise<void> = this.deliver(h, () => renewal, attempted).finally(() => {
          inHand.delete(h);
          attempts.delete(done);
          this.wake?.();
        });
        attempts.add(done);
      }
    };
    /** How many to lease now: every slot busy with LEASED_AHEAD_PER_SLOT more waiting, within the cap. */
    const toLease = () =>
      Math.min(
        (1 + LEASED_AHEAD_PER_SLOT) * slots - attempting - ready.length,
        RECORDING_PER_SLOT * slots - inHand.size,
      );
    // Whether the last lease came back full: then more may be due at once.
    let more = false;
    let pollAt = 0;
    try {
      for (;;) {
        const free = toLease();
        const wall = Date.now();
        const leasable = free > 0 && !this.draining && (more || this.wanted || wall >= pollAt);
        const gapEnds = this.lastClaimAt + (this.loop.claimGapMs ?? 0);
        if (leasable && !more && wall < gapEnds) {
          // Announced work waits for the gap to pass, gathering what else is announced.
          await this.pause(gapEnds - wall);
          continue;
        }
        if (leasable) {
          this.wanted = false;
          this.lastClaimAt = wall;
          const now = this.clock.now();
          const until = now + this.loop.leaseMs;
          const items = await this.claim(now, until, free);
          more = items.length === free;
          pollAt = Date.now() + this.loop.pollMs;
          handled += items.length;
          for (const item of items) {
            const h: InHand<T> = { item, key: this.keyOf(item), until, closing: false, lost: false };
            inHand.add(h);
            ready.push(h);
          }
          startReady();
        }
        if (inHand.size === 0) {
          if (this.draining || !(more || this.wanted)) break;
          continue;
        }
        // Full or stopping: wait for a slot to free. Otherwise also for the next poll or a nudge.
        const full = this.draining || toLease() <= 0;
        await this.pause(full ? null : pollAt - Date.now());
      }
    } finally {
      await Promise.all(attempts);
      clearInterval(heartbeat);
    }
    return handled;
  }

  private async deliver(
    h: InHand<T>,
    renewing: () => Promise<void> | null,
    /** Frees the attempt's slot (called once, when the attempt is over). */
    attempted: () => void,
  ): Promise<void> {
    let result: R;
    try {
      result = await this.attempt(h.item);
    } catch (err) {
      // Nothing to record: the item comes due again when its lease runs out.
      this.log.warn({ err, ...this.describe(h.item) }, `${this.name} attempt failed`);
      return;
    } finally {
      attempted();
    }
    h.closing = true;
    // A renewal under way may still move the lease end this worker holds.
    await renewing();
    try {
      if (!(await this.record(h.item, result, h.until))) {
        this.log.warn(
          this.describe(h.item, result),
          `${this.name} lost the lease before recording; result not recorded`,
        );
      }
    } catch (err) {
      this.log.warn({ err, ...this.describe(h.item, result) }, `${this.name} could not record a result`);
    }
  }

  private async renewAll(inHand: Set<InHand<T>>): Promise<void> {
    const byLease = new Map<number, InHand<T>[]>();
    for (const h of inHand) {
      if (h.closing || h.lost) continue;
      byLease.set(h.until, [...(byLease.get(h.until) ?? []), h]);
    }
    for (const [held, group] of byLease) {
      const until = Math.max(held, this.clock.now() + this.loop.leaseMs);
      try {
        const renewed = new Set(
          await this.renew(
            group.map((h) => h.key),
            held,
            until,
          ),
        );
        for (const h of group) {
          if (renewed.has(h.key)) h.until = until;
          else {
            h.lost = true;
            this.log.warn(this.describe(h.item), `${this.name} lost a lease while the attempt runs`);
          }
        }
      } catch (err) {
        // The database may be back before the lease runs out; the next beat tries again.
        this.log.warn({ err }, `${this.name} could not renew leases`);
      }
    }
  }

  /** Waits up to `ms` (null: no limit) for a slot to free, a nudge or `stop()`. */
  private pause(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === null ? null : setTimeout(() => done(), Math.max(0, ms));
      const done = () => {
        if (timer) clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      this.wake = done;
    });
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
    try {
      await (this.running = this.runOnce());
    } catch (err) {
      this.log.warn({ err }, `${this.name} pass failed`);
    } finally {
      this.running = null;
    }
    if (this.stopped) return;
    const again = this.wanted;
    this.wanted = false;
    this.schedule(again ? 0 : this.loop.pollMs);
  }
}
