import { describe, expect, it, vi } from 'vitest';
import { systemClock } from '../domain/clock.js';
import { PollingWorker, type WorkerLoop } from './polling-worker.js';

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
