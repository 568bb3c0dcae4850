import type { Db } from '../db/database.js';
import { findExpiredCandidates } from '../db/card.repository.js';
import { inTransaction } from '../db/tx.js';
import { pruneIdempotencyKeys } from '../domain/admin/idempotency.service.js';
import { pruneSignInAttempts } from '../domain/admin/session.service.js';
import { expireCard } from '../domain/card-commands.js';
import type { Clock } from '../domain/clock.js';
import type { RequestLog } from '../domain/request-log.js';

/**
 * Cards read per query of a sweep: a small read at a time, so the sweep never holds the event
 * loop (SQLite runs on it) for more than a fraction of a millisecond.
 */
export const EXPIRY_BATCH = 100;

/**
 * Records deadlines that passed: unpaid cards past their payment deadline and paid cards past
 * their validity become `expired` (the API already shows them so), and old req_ids, expired
 * one-time submission keys and old sign-in attempts of the management platform are forgotten.
 */
export async function sweepExpired(db: Db, clock: Clock, limit = EXPIRY_BATCH): Promise<number> {
  const now = clock.now();
  const candidates = await findExpiredCandidates(db.kysely, now, limit);
  let changed = 0;
  for (const card of candidates) {
    if (await inTransaction(db, (tx) => expireCard(tx, card, now))) changed++;
  }
  return changed;
}

export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly requestLog: RequestLog,
    private readonly retentionMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly everyMs = 30_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.pass().catch(this.onError);
    }, this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  async pass(): Promise<void> {
    while ((await sweepExpired(this.db, this.clock)) >= EXPIRY_BATCH);
    await this.requestLog.prune(this.retentionMs);
    await pruneIdempotencyKeys(this.db, this.clock.now());
    await pruneSignInAttempts(this.db, this.clock.now());
  }
}
