import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from './deadlines.js';

describe('Deadlines', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes on the result of work that ends in time', async () => {
    const deadlines = new Deadlines(1000);
    await expect(deadlines.within(Promise.resolve(42), () => new Error('late'))).resolves.toBe(42);
    await expect(
      deadlines.within(Promise.reject(new Error('boom')), () => new Error('late')),
    ).rejects.toThrow('boom');
  });

  it('rejects work still running past its allowance, and only that work', async () => {
    vi.useFakeTimers();
    let now = 0;
    const deadlines = new Deadlines(1000, 10, () => now);
    let finishSlow: (v: string) => void = () => {};
    const slow = deadlines.within(new Promise<string>((r) => (finishSlow = r)), () => new Error('late'));
    const slowOutcome = slow.then(
      (v) => `ok ${v}`,
      (err: Error) => err.message,
    );
    now = 500;
    let finishLater: (v: string) => void = () => {};
    const later = deadlines.within(new Promise<string>((r) => (finishLater = r)), () => new Error('late'));
    now = 1005;
    await vi.advanceTimersByTimeAsync(20);
    expect(await slowOutcome).toBe('late');
    finishSlow('too late');
    finishLater('in time');
    await expect(later).resolves.toBe('in time');
  });
});
