import pg from 'pg';
import { afterAll } from 'vitest';

/**
 * Records the statements every PostgreSQL client of this test file sends while `recorded` runs
 * (but the registry listener's `listen`), to count a request's round trips. Call at the top of the file, before any pool connects: each
 * connection binds the prototype's `query` when it connects. Restored after the file's tests.
 */
export function pgStatementRecorder() {
  const sent: string[] = [];
  let recording = false;
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  (pg.Client.prototype as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
    const text = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: unknown }).text);
    // The registry listener's own connection (re)subscribing whenever it connects: not a request's.
    if (recording && !/^listen /.test(text)) sent.push(text);
    return query.apply(this, args);
  };
  afterAll(() => {
    (pg.Client.prototype as { query: unknown }).query = query;
  });
  return {
    /** The statements sent during the last `recorded` call, in order. */
    sent,
    /** Runs `fn` with the statements the pools send recorded in `sent` (emptied first). */
    async recorded<T>(fn: () => Promise<T>): Promise<T> {
      sent.length = 0;
      recording = true;
      try {
        return await fn();
      } finally {
        recording = false;
      }
    },
    /** Stops recording, inside `recorded` too (statements a test's own hook sends). */
    pause(): void {
      recording = false;
    },
    /** Records again, inside `recorded`. */
    resume(): void {
      recording = true;
    },
  };
}
