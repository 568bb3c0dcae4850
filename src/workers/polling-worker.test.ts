import { describe, expect, it, vi } from 'vitest';
import { systemClock } from '../domain/clock.js';
import { PollingWorker, RECORDING_PER_SLOT, type WorkerLoop } from './polling-worker.js';

const quiet = { warn: () => {}, error: () => {} };

/** A worker over an in-memory queue that counts its leases. */
class CountingWorker extends PollingWorker<number, void> {
  readonly queue: number[] = [];
  readonly delivered: number[] = [];
  leases = 0;

  constructor(loop: WorkerLoop) {
    super('test worker', quiet, systemClock, loop);
  }

  add(item: number): void {
    this.queue.push(item);
    this.nudge();
  }

  protected claim(_now: number, _until: number, limit: number): Promise<number[]> {
    this.leases++;
    return Promise.resolve(this.queue.splice(0, limit));
  }
  protected keyOf(item: number): string {
    return String(item);
  }
  protected renew(keys: string[]): Promise<string[]> {
    return Promise.resolve(keys);
  }
  protected attempt(): Promise<void> {
    return Promise.resolve();
  }
  protected record(item: number): Promise<boolean> {
    this.delivered.push(item);
    return Promise.resolve(true);
  }
  protected describe(item: number): object {
    return { item };
  }
}

const ITEMS = 30;

/**
 * Announces ITEMS items 1 ms apart (timers faked, so the spacing is exact), lets the worker
 * finish, and returns how many leases it asked for.
 */
async function announceOneByOne(loop: WorkerLoop): Promise<number> {
  vi.useFakeTimers();
  const worker = new CountingWorker(loop);
  try {
    worker.start();
    await vi.advanceTimersByTimeAsync(1);
    for (let i = 0; i < ITEMS; i++) {
      worker.add(i);
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(100);
    expect(worker.delivered.sort((a, b) => a - b)).toEqual([...Array(ITEMS).keys()]);
    const leases = worker.leases;
    const stopped = worker.stop();
    await vi.advanceTimersByTimeAsync(1);
    await stopped;
    return leases;
  } finally {
    vi.useRealTimers();
  }
}

describe('polling worker', () => {
  const loop = { concurrency: 100, leaseMs: 60_000, pollMs: 60_000 };

  it('leases once per announcement without a gap', async () => {
    expect(await announceOneByOne(loop)).toBeGreaterThanOrEqual(ITEMS);
  });

  it('gathers the announcements of each claim gap into one lease, delivering every item', async () => {
    // 30 ms of announcements, a lease at most every 10 ms: the first pass's, then about four.
    expect(await announceOneByOne({ ...loop, claimGapMs: 10 })).toBeLessThanOrEqual(6);
  });
});

/** A worker whose attempts and records finish only when the test lets them. */
class GatedWorker extends PollingWorker<number, void> {
  readonly queue: number[] = [];
  readonly attempted: number[] = [];
  readonly recorded: number[] = [];
  private readonly gates: (() => void)[] = [];
  private readonly attemptGates: (() => void)[] = [];
  holdAttempts = false;

  constructor(loop: WorkerLoop) {
    super('gated worker', quiet, systemClock, loop);
  }

  openRecords(): void {
    for (const open of this.gates.splice(0)) open();
  }

  openAttempts(): void {
    this.holdAttempts = false;
    for (const open of this.attemptGates.splice(0)) open();
  }

  protected claim(_now: number, _until: number, limit: number): Promise<number[]> {
    return Promise.resolve(this.queue.splice(0, limit));
  }
  protected keyOf(item: number): string {
    return String(item);
  }
  protected renew(keys: string[]): Promise<string[]> {
    return Promise.resolve(keys);
  }
  protected attempt(item: number): Promise<void> {
    this.attempted.push(item);
    if (!this.holdAttempts) return Promise.resolve();
    return new Promise((resolve) => this.attemptGates.push(resolve));
  }
  protected record(item: number): Promise<boolean> {
    return new Promise((resolve) =>
      this.gates.push(() => {
        this.recorded.push(item);
        resolve(true);
      }),
    );
  }
  protected describe(item: number): object {
    return { item };
  }
}

describe('polling worker slots', () => {
  async function withWorker(loop: WorkerLoop, items: number, test: (w: GatedWorker) => Promise<void>) {
    vi.useFakeTimers();
    const worker = new GatedWorker(loop);
    worker.queue.push(...Array.from({ length: items }, (_, i) => i));
    try {
      await test(worker);
      worker.openAttempts();
      const stopped = worker.stop();
      for (let i = 0; i < 50 && worker.recorded.length < worker.attempted.length; i++) {
        worker.openRecords();
        await vi.advanceTimersByTimeAsync(1);
      }
      await stopped;
    } finally {
      vi.useRealTimers();
    }
  }

  it('starts further attempts while earlier results are still being recorded', async () => {
    await withWorker({ concurrency: 2, leaseMs: 60_000, pollMs: 60_000 }, 6, async (worker) => {
      worker.start();
      await vi.advanceTimersByTimeAsync(5);
      // Every record waits, yet all six were attempted: a slot frees when its attempt ends.
      expect(worker.attempted).toEqual([0, 1, 2, 3, 4, 5]);
      expect(worker.recorded).toEqual([]);
      worker.openRecords();
      await vi.advanceTimersByTimeAsync(5);
      expect(worker.recorded.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    });
  });

  it('keeps at most `concurrency` attempts under way', async () => {
    await withWorker({ concurrency: 2, leaseMs: 60_000, pollMs: 60_000 }, 6, async (worker) => {
      worker.holdAttempts = true;
      worker.start();
      await vi.advanceTimersByTimeAsync(5);
      expect(worker.attempted).toEqual([0, 1]);
    });
  });

  it('holds at most RECORDING_PER_SLOT × concurrency items while their records wait', async () => {
    await withWorker({ concurrency: 1, leaseMs: 60_000, pollMs: 60_000 }, 10, async (worker) => {
      worker.start();
      await vi.advanceTimersByTimeAsync(5);
      expect(worker.attempted).toHaveLength(RECORDING_PER_SLOT);
      worker.openRecords();
      await vi.advanceTimersByTimeAsync(5);
      expect(worker.attempted).toHaveLength(2 * RECORDING_PER_SLOT);
    });
  });
});

describe('polling worker leasing ahead', () => {
  it('leases items ahead of its busy slots, and attempts them as the slots free', async () => {
    vi.useFakeTimers();
    const worker = new GatedWorker({ concurrency: 2, leaseMs: 60_000, pollMs: 60_000 });
    worker.queue.push(...Array.from({ length: 10 }, (_, i) => i));
    try {
      worker.holdAttempts = true;
      worker.start();
      await vi.advanceTimersByTimeAsync(5);
      expect(worker.attempted).toEqual([0, 1]);
      // More than the two under way left the queue: they wait in hand for a slot.
      expect(worker.queue.length).toBeLessThan(8);
      worker.openAttempts();
      for (let i = 0; i < 50 && worker.recorded.length < 10; i++) {
        worker.openRecords();
        await vi.advanceTimersByTimeAsync(1);
      }
      expect(worker.recorded.sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
      await worker.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
