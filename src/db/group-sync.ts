import fs from 'node:fs';
import { StorageUnavailable } from '../errors.js';

/**
 * fsyncs a file on libuv's thread pool, so the event loop never waits for the disk, and shares
 * each fsync among everyone who asked while it was not yet started: a request that arrives
 * while one is under way waits for the next, since the running one may have begun before the
 * caller's write.
 */
export class GroupSync {
  private fd: number | undefined;
  private syncing = false;
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private closed = false;
  private observer: ((seconds: number) => void) | undefined;

  constructor(private readonly file: string) {}

  /** `fn` gets the duration of each fsync that succeeded (seconds). */
  observe(fn: (seconds: number) => void): void {
    this.observer = fn;
  }

  /** Resolves once everything written to the file before this call is on disk. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.syncing) this.start();
    });
  }

  /** Waits for the fsync under way, then lets the file go. */
  async close(): Promise<void> {
    if (this.syncing || this.waiting.length > 0) await this.sync().catch(() => {});
    this.closed = true;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.syncing = true;
    const done = (err: NodeJS.ErrnoException | null): void => {
      this.syncing = false;
      for (const w of batch) {
        if (err) w.reject(new StorageUnavailable(err));
        else w.resolve();
      }
      if (this.waiting.length > 0) this.start();
    };
    if (this.closed) return done(new Error('closed'));
    try {
      // Opened on first use: SQLite creates the WAL with its first write.
      this.fd ??= fs.openSync(this.file, 'r');
    } catch (err) {
      return done(err as NodeJS.ErrnoException);
    }
    const started = process.hrtime.bigint();
    fs.fdatasync(this.fd, (err) => {
      if (!err) this.observer?.(Number(process.hrtime.bigint() - started) / 1e9);
      done(err);
    });
  }
}
