import type { Db } from '../db/database.js';
import {
  findNotifyTarget,
  markNotifyDelivered,
  markNotifyFailed,
  markNotifyRetry,
  type NotifyEventRow,
} from '../db/notify.repository.js';
import { inTransaction } from '../db/tx.js';
import { PollingWorker } from './polling-worker.js';
import type { Clock } from '../domain/clock.js';
import { notifyForm } from '../domain/notify.js';
import type { OutboxLogger } from './sms-outbox.js';

export interface NotifyOutboxOptions {
  timeZone: string;
  /** A delivery succeeds on a 2xx answer within this time. */
  timeoutMs: number;
  /** Lease on a claimed event; longer than the timeout. */
  leaseMs: number;
  batchSize: number;
  pollMs: number;
  /** Backoff before retry n (1-based): base × 2^(n-1), capped. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** An event still undelivered this long after it happened is given up (`failed`). */
  giveUpAfterMs: number;
}

export const DEFAULT_NOTIFY_OUTBOX: Omit<NotifyOutboxOptions, 'timeZone'> = {
  timeoutMs: 5_000,
  leaseMs: 60_000,
  batchSize: 20,
  pollMs: 1_000,
  backoffBaseMs: 30_000,
  backoffMaxMs: 3_600_000,
  giveUpAfterMs: 24 * 3_600_000,
};

/** POSTs a form; resolves with the HTTP status, rejects when no answer came (refused, timeout). */
export type NotifyTransport = (url: string, form: [string, string][], timeoutMs: number) => Promise<number>;

export const fetchTransport: NotifyTransport = async (url, form, timeoutMs) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: new URLSearchParams(form).toString(),
    // A redirect is an answer that is not 2xx: the partner fixes its URL instead.
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.body?.cancel().catch(() => undefined);
  return res.status;
};

const MAX_ERROR = 500;

/**
 * Delivers partner notify events. Events are written in the transaction that changes the card;
 * this worker leases due ones (several processes can run it on one PostgreSQL), POSTs them
 * signed to the partner's current callback URL, and records the result: retried with backoff
 * until `giveUpAfterMs` after the event (one last try at that moment), then `failed`. A
 * delivery whose result could not be recorded is sent again with the same event_id.
 */
export class NotifyOutbox extends PollingWorker {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    log: OutboxLogger,
    private readonly opts: NotifyOutboxOptions,
    private readonly transport: NotifyTransport = fetchTransport,
  ) {
    super('notify outbox', log, opts);
  }

  /** One pass: leases due events and delivers them concurrently. Returns how many it handled. */
  async runOnce(): Promise<number> {
    const now = this.clock.now();
    const batch = await this.db.claimDueNotify(now, now + this.opts.leaseMs, this.opts.batchSize);
    await Promise.all(batch.map((e) => this.deliver(e)));
    return batch.length;
  }

  private async deliver(e: NotifyEventRow): Promise<void> {
    const attempts = e.attempts + 1;
    const target = await findNotifyTarget(this.db.kysely, e.partner_id);
    let error: string | null = null;
    let httpStatus: number | null = null;
    if (target.url === null) {
      // The partner removed its callback URL: nobody is waiting for this event any more.
      await markNotifyFailed(this.db.kysely, e.event_id, e.attempts, 'no callback URL', null);
      return;
    }
    if (target.key === null) {
      error = 'partner has no active security config to sign with';
    } else {
      try {
        const form = notifyForm(e, target.key, this.clock.now(), this.opts.timeZone);
        httpStatus = await this.transport(target.url, form, this.opts.timeoutMs);
        if (httpStatus < 200 || httpStatus > 299) error = `HTTP ${httpStatus}`;
      } catch (err) {
        error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
    }
    const now = this.clock.now();
    await inTransaction(this.db, async (tx) => {
      if (error === null) {
        await markNotifyDelivered(tx, e.event_id, now, attempts, httpStatus!);
        return;
      }
      const message = error.slice(0, MAX_ERROR);
      const deadline = e.created_at + this.opts.giveUpAfterMs;
      const log = { event_id: e.event_id, partner_id: e.partner_id, card_no: e.card_no, attempts, error };
      if (now >= deadline) {
        await markNotifyFailed(tx, e.event_id, attempts, message, httpStatus);
        this.log.error(log, 'partner notify failed for good');
        return;
      }
      const backoff = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempts - 1));
      await markNotifyRetry(tx, e.event_id, attempts, Math.min(now + backoff, deadline), message, httpStatus);
      this.log.warn(log, 'partner notify failed; will retry');
    });
  }
}
