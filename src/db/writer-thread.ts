import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { StorageUnavailable } from '../errors.js';

/**
 * One statement of a write job: its SQL (`?` placeholders, written in code, never taken from a
 * request), its parameters and, when given, the outcome the job ends with if the statement
 * changes no row (the job's earlier statements are then undone).
 */
export type Step = readonly [sql: string, params: readonly unknown[], ifUnchanged?: string];

/**
 * Runs a write job in the writer thread's next batch: undefined when every step applied, else
 * the `ifUnchanged` outcome of the step that changed nothing (and nothing of the job stays).
 * Durable jobs settle after the WAL's fsync.
 */
export type RunSteps = (steps: readonly Step[], durable?: boolean) => Promise<string | undefined>;

/**
 * The writer thread of a SQLite database on disk. A write whose statements are all known before it
 * runs (a buy: its req_id claim, its card, its ledger event; a payment of a card as read) needs no
 * answer from the database until it is stored, so it can run on another core: here, a worker
 * thread with a connection of its own. The jobs of one turn of the event loop are posted as one
 * message; the thread runs what was posted while it was busy as one transaction, each job in its
 * own savepoint, and one commit. A durable job is answered after `durable()`, the same fsync of the
 * WAL the main connection's batches wait for (`GroupSync`: one begun after the commit, shared by
 * every writer that committed meanwhile), while the thread goes on with the next transaction. The
 * event loop pays a message per turn instead of the statements and
 * the commit (the WAL's page writes are system calls, 3–5 µs each on the development machine).
 *
 * Other writes keep running on the main connection: SQLite lets one connection write at a time
 * (`sqlite-driver.ts` then waits for this thread's transaction without blocking the event loop).
 *
 * The worker is written as a string evaluated in the thread (CommonJS, `require` of the same
 * better-sqlite3 the process uses), so it runs alike from `dist/` and from sources under test.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
db.pragma('foreign_keys = ON');
db.pragma('temp_store = MEMORY');
db.pragma('cache_size = -4096');
db.pragma('mmap_size = 0');
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
const statements = new Map();
const prepared = (sql) => {
  let s = statements.get(sql);
  if (!s) {
    s = db.prepare(sql);
    if (statements.size >= 200) statements.clear();
    statements.set(sql, s);
  }
  return s;
};
const errorOf = (err) => ({ code: String((err && err.code) || 'ERROR'), message: String((err && err.message) || err) });

// Batches posted while this thread was busy run together: one transaction, one commit.
let pending = [];
let scheduled = false;
const runJob = (job) => {
  prepared('savepoint job').run();
  let outcome = null;
  try {
    for (const [sql, params, ifUnchanged] of job.steps) {
      const s = prepared(sql);
      const changes = s.reader ? s.all(params).length : s.run(params).changes;
      if (ifUnchanged !== undefined && ifUnchanged !== null && changes === 0) {
        outcome = ifUnchanged;
        break;
      }
    }
  } catch (err) {
    outcome = { error: errorOf(err) };
  }
  if (outcome !== null) prepared('rollback to savepoint job').run();
  prepared('release savepoint job').run();
  return outcome;
};
const drain = () => {
  scheduled = false;
  const batches = pending;
  pending = [];
  const replies = [];
  try {
    prepared('begin immediate').run();
    try {
      for (const b of batches) replies.push({ id: b.id, outcomes: b.jobs.map(runJob) });
      prepared('commit').run();
    } catch (err) {
      if (db.inTransaction) prepared('rollback').run();
      throw err;
    }
  } catch (err) {
    // Nothing of these batches was stored.
    const error = errorOf(err);
    for (const b of batches) parentPort.postMessage({ id: b.id, error });
    return;
  }
  for (const r of replies) parentPort.postMessage(r);
};

parentPort.on('message', (m) => {
  if (m.type === 'autocheckpoint') {
    db.pragma('wal_autocheckpoint = ' + Number(m.pages));
    return;
  }
  if (m.type === 'stop') {
    const stop = () => {
      if (scheduled) return setImmediate(stop);
      db.close();
      parentPort.close();
    };
    return stop();
  }
  pending.push(m);
  if (!scheduled) {
    scheduled = true;
    setImmediate(drain);
  }
});
`;

interface Job {
  steps: readonly Step[];
  durable: boolean;
  resolve: (outcome: string | undefined) => void;
  reject: (err: unknown) => void;
}

type Outcome = null | string | { error: { code: string; message: string } };

interface Reply {
  id: number;
  outcomes?: Outcome[];
  error?: { code: string; message: string };
}

export interface WriterThreadOptions {
  /** The database file (WAL mode, schema migrated). */
  file: string;
  /** Resolves once everything committed so far is on disk; none: a commit is enough. */
  durable?: () => Promise<void>;
  /** An error SQLite raised, as the main connection's driver would raise it. */
  translate: (err: Error & { code: string }) => unknown;
  /** Called once if the thread fails; every job then fails with `StorageUnavailable`. */
  onFailure: (err: unknown) => void;
}

export class WriterThread {
  private readonly worker: Worker;
  /** Jobs of this turn of the event loop, posted together at its end. */
  private queue: Job[] = [];
  private readonly posted = new Map<number, Job[]>();
  private nextId = 1;
  private failure: unknown = null;
  private stopped: Promise<void> | null = null;

  constructor(private readonly opts: WriterThreadOptions) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file: opts.file, driver },
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
    });
    // Referenced only while jobs are under way: an idle writer keeps no process alive.
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.settle(reply));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`writer thread exited with code ${code}`)));
  }

  readonly run: RunSteps = (steps, durable = true) =>
    new Promise((resolve, reject) => {
      if (this.failure !== null || this.stopped) {
        reject(new StorageUnavailable(this.failure ?? new Error('writer thread stopped')));
        return;
      }
      this.queue.push({ steps, durable, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.post());
    });

  /** Tells the thread's connection to checkpoint by itself (the checkpoint thread failed). */
  checkpointItself(pages: number): void {
    if (this.failure === null && !this.stopped) this.worker.postMessage({ type: 'autocheckpoint', pages });
  }

  /** Lets the jobs under way end, then ends the thread (jobs asked for after this fail). */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      this.post();
      if (this.failure !== null) return resolve();
      this.worker.once('exit', () => resolve());
      this.worker.ref();
      this.worker.postMessage({ type: 'stop' });
    });
    return this.stopped;
  }

  private post(): void {
    if (this.queue.length === 0 || this.failure !== null) return;
    const jobs = this.queue;
    this.queue = [];
    const id = this.nextId++;
    this.posted.set(id, jobs);
    if (this.posted.size === 1) this.worker.ref();
    this.worker.postMessage({ id, jobs: jobs.map((job) => ({ steps: job.steps, durable: job.durable })) });
  }

  private settle(reply: Reply): void {
    const jobs = this.posted.get(reply.id) ?? [];
    this.posted.delete(reply.id);
    if (this.posted.size === 0 && !this.stopped) this.worker.unref();
    if (reply.error) {
      // The thread's transaction failed as a whole: nothing of it was stored.
      const err = this.errorOf(reply.error);
      for (const job of jobs) job.reject(err);
      return;
    }
    const settle = (syncError?: unknown): void =>
      jobs.forEach((job, i) => {
        const outcome = reply.outcomes![i]!;
        if (outcome !== null && typeof outcome === 'object') job.reject(this.errorOf(outcome.error));
        else if (syncError !== undefined && job.durable) job.reject(syncError);
        else job.resolve(outcome ?? undefined);
      });
    if (this.opts.durable && jobs.some((job) => job.durable))
      this.opts.durable().then(() => settle(), settle);
    else settle();
  }

  private errorOf(e: { code: string; message: string }): unknown {
    return this.opts.translate(Object.assign(new Error(e.message), { code: e.code }));
  }

  private fail(err: unknown): void {
    if (this.failure !== null) return;
    this.failure = err;
    // Stopped, the thread exits once its jobs are answered; a job left then was lost with it.
    if (!this.stopped) this.opts.onFailure(err);
    const unavailable = new StorageUnavailable(err);
    for (const jobs of this.posted.values()) for (const job of jobs) job.reject(unavailable);
    for (const job of this.queue) job.reject(unavailable);
    this.posted.clear();
    this.queue = [];
  }
}
