import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Moves SQLite's WAL checkpoints off the request thread. A checkpoint copies the WAL into the
 * database file and fsyncs both; run by the connection that commits (SQLite's auto-checkpoint),
 * it stalls whichever request's commit crossed the threshold for tens of milliseconds. Here a
 * worker thread with a connection of its own runs a PASSIVE checkpoint every `intervalMs`:
 * passive never waits for the writer and never makes it wait, so requests see no fsync at all.
 *
 * The worker is written as a string evaluated in the thread (CommonJS, `require` of the same
 * better-sqlite3 the process uses), so it runs alike from `dist/` and from sources under test.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 0');
db.pragma('cache_size = -1024');
db.pragma('mmap_size = 0');
const checkpoint = db.prepare('pragma wal_checkpoint(PASSIVE)');
let busy = false;
const tick = () => {
  if (busy) return;
  busy = true;
  try {
    checkpoint.get();
  } catch (err) {
    // SQLITE_BUSY: another checkpoint is running; the next tick tries again.
    if (!/BUSY|LOCKED/.test(String(err && err.code))) throw err;
  } finally {
    busy = false;
  }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    tick();
    db.close();
    parentPort.close();
  }
});
`;

export interface CheckpointerOptions {
  /** The database file (WAL mode). */
  file: string;
  intervalMs?: number;
  /** Called when the thread fails; the caller falls back to checkpointing on its own connection. */
  onFailure: (err: unknown) => void;
}

export class Checkpointer {
  private readonly worker: Worker;
  private failed = false;
  private stopped: Promise<void> | null = null;

  constructor(opts: CheckpointerOptions) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file: opts.file, intervalMs: opts.intervalMs ?? 100, driver },
      // The thread's heap holds one small statement: keep it small.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    this.worker.unref();
    const fail = (err: unknown) => {
      if (this.failed || this.stopped) return;
      this.failed = true;
      opts.onFailure(err);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`checkpoint thread exited with code ${code}`)));
  }

  /** Runs a last checkpoint and ends the thread. */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      if (this.failed) return resolve();
      this.worker.once('exit', () => resolve());
      // Unreferenced, the thread would let a process that only waits for it exit early, before
      // whatever was to follow the close (a CLI command's output and exit code).
      this.worker.ref();
      this.worker.postMessage('stop');
    });
    return this.stopped;
  }
}
