import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { Executor } from './executor.js';
import { type DirectRun, runDirectlyIn, stopRunningDirectly } from './fixed.js';

// Run as they are, not built per job.
const SAVEPOINT = CompiledQuery.raw('savepoint job');
const RELEASE = CompiledQuery.raw('release savepoint job');
const ROLLBACK_TO = CompiledQuery.raw('rollback to savepoint job');

interface Job {
  fn: (tx: Executor) => Promise<unknown>;
  /** Whether its promise waits for the fsync (see `run`). */
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for a single-writer database (SQLite): write jobs that arrive together run one
 * after another inside one transaction, each in its own savepoint, so a job that fails is
 * rolled back alone while the others share one commit. A job's promise settles only after the
 * commit and then `durable()` (the WAL's fsync, run off the event loop), so nobody is told
 * "done" before it is on disk.
 *
 * A batch with durable work waits for the fsync under way, collecting what arrives meanwhile: its
 * jobs would wait for the next fsync anyway, and one commit of many jobs writes the pages they
 * share (the tables' last pages, the indexes on time) once instead of once per small batch. A
 * batch of only non-durable jobs runs at once.
 */
export class WriteBatcher {
  private queue: Job[] = [];
  private draining = false;
  /** The fsync asked for last, until it ends. */
  private syncing: Promise<void> | null = null;

  constructor(
    private readonly kysely: Kysely<Database>,
    /** Resolves once everything committed so far is on disk; none: a commit is enough. */
    private readonly durable?: () => Promise<void>,
    private readonly maxBatch = 64,
    /** Runs the batch's fixed statements on its connection directly (SQLite). */
    private readonly direct?: DirectRun,
  ) {}

  private exec(tx: Executor, query: CompiledQuery): Promise<unknown> {
    return this.direct ? this.direct(query.sql, query.parameters) : tx.executeQuery(query);
  }

  /**
   * Runs `fn` in the next batch. With `durable` false its promise settles at the commit: for
   * writes a power cut may lose without harm (the req_ids of answered reads), so that a batch of
   * only such writes costs no fsync.
   */
  run<T>(fn: (tx: Executor) => Promise<T>, durable = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, durable, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        // Let the jobs of this turn of the event loop join the batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    for (let first = true; this.queue.length > 0; first = false) {
      // Between batches the event loop gets a turn: the statements run synchronously, so
      // batches drained back to back would hold it (and every answer waiting on the network)
      // for as long as the queue lasts. In paired buy+pay runs at half rate this took the
      // event loop's longest delay from 14 ms to 8 ms.
      if (!first) await new Promise((resolve) => setImmediate(resolve));
      if (this.syncing && this.queue.some((job) => job.durable)) {
        await this.syncing;
        // Let the answers that fsync released go out, and the jobs they let in join.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const batch = this.queue.splice(0, this.maxBatch);
      const outcomes: { ok: boolean; value: unknown }[] = [];
      try {
        await this.kysely.transaction().execute(async (tx) => {
          if (this.direct) runDirectlyIn(tx, this.direct);
          try {
            for (const job of batch) {
              await this.exec(tx, SAVEPOINT);
              try {
                const value = await job.fn(tx);
                await this.exec(tx, RELEASE);
                outcomes.push({ ok: true, value });
              } catch (err) {
                await this.exec(tx, ROLLBACK_TO);
                await this.exec(tx, RELEASE);
                outcomes.push({ ok: false, value: err });
              }
            }
          } finally {
            stopRunningDirectly(tx);
          }
        });
      } catch (err) {
        // The commit itself failed: nothing of the batch was stored.
        for (const job of batch) job.reject(err);
        continue;
      }
      const settle = (syncError?: unknown): void =>
        batch.forEach((job, i) => {
          const o = outcomes[i]!;
          if (!o.ok) job.reject(o.value);
          else if (syncError !== undefined) job.reject(syncError);
          else job.resolve(o.value);
        });
      if (this.durable && batch.some((job) => job.durable)) {
        const sync = this.durable().then(() => settle(), settle);
        this.syncing = sync;
        void sync.finally(() => {
          if (this.syncing === sync) this.syncing = null;
        });
      } else settle();
    }
    this.draining = false;
  }
}
