import type { Db } from '../db/database.js';
import {
  findNotifyTarget,
  markNotifyDelivered,
  markNotifyFailed,
  markNotifyRetry,
  type NotifyEventRow,
} from '../db/notify.repository.js';
import { inTransaction } from '../db/tx.js';
import { PollingWorker, type WorkerLoop } from './polling-worker.js';
import type { Clock } from '../domain/clock.js';
import { CallbackPolicy } from '../domain/callback-policy.js';
import { notifyForm, type NotifyDelivery, testEvent, type TestDelivery } from '../domain/notify.js';
import { callbackTransport, CallbackRefusedError, type NotifyTransport } from './callback-transport.js';
import type { OutboxLogger } from './sms-outbox.js';

export interface NotifyOutboxOptions extends WorkerLoop {
  timeZone: string;
  /** A delivery succeeds on a 2xx answer within this time. */
  timeoutMs: number;
  /** Backoff before retry n (1-based): base × 2^(n-1), capped. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** An event still undelivered this long after it happened is given up (`failed`). */
  giveUpAfterMs: number;
}

export const DEFAULT_NOTIFY_OUTBOX: Omit<NotifyOutboxOptions, 'timeZone'> = {
  timeoutMs: 5_000,
  // Renewed while a delivery runs; bounds how long a killed worker's events wait.
  leaseMs: 15_000,
  concurrency: 20,
  pollMs: 1_000,
  backoffBaseMs: 30_000,
  backoffMaxMs: 3_600_000,
  giveUpAfterMs: 24 * 3_600_000,
};

const MAX_ERROR = 500;

/**
 * Delivers partner notify events. Events are written in the transaction that changes the card;
 * this worker leases due ones (several processes can run it on one PostgreSQL), POSTs them
 * signed to the partner's current callback URL, and records the result: retried with backoff
 * until `giveUpAfterMs` after the event (one last try at that moment), then `failed`. A
 * delivery whose result could not be recorded is sent again with the same event_id.
 */
/** An attempt's outcome; `noUrl` when the partner has no callback URL any more. */
interface NotifyResult {
  error: string | null;
  httpStatus: number | null;
  noUrl: boolean;
}

export class NotifyOutbox extends PollingWorker<NotifyEventRow, NotifyResult> {
  constructor(
    private readonly db: Db,
    clock: Clock,
    log: OutboxLogger,
    private readonly opts: NotifyOutboxOptions,
    // By default no callback may reach this host or a private network (see callback-policy.ts).
    private readonly transport: NotifyTransport = callbackTransport(new CallbackPolicy()),
  ) {
    super('notify outbox', log, clock, opts);
  }

  protected claim(now: number, leaseUntil: number, limit: number): Promise<NotifyEventRow[]> {
    return this.db.claimDueNotify(now, leaseUntil, limit);
  }

  protected keyOf(e: NotifyEventRow): string {
    return e.event_id;
  }

  protected renew(ids: string[], held: number, leaseUntil: number): Promise<string[]> {
    return this.db.renewNotifyLeases(ids, held, leaseUntil);
  }

  protected describe(e: NotifyEventRow, result?: NotifyResult): object {
    return {
      event_id: e.event_id,
      partner_id: e.partner_id,
      card_no: e.card_no,
      ...(result === undefined ? {} : { outcome: result.error ?? 'delivered' }),
    };
  }

  /**
   * Sends the partner's callback URL a signed `test` event now, once, outside the outbox (nothing
   * is stored or retried), and says what came back.
   */
  async sendTest(partnerId: string): Promise<TestDelivery> {
    const event = testEvent(partnerId, this.clock.now());
    const { url } = await findNotifyTarget(this.db.kysely, partnerId);
    const r = await this.attempt(event);
    return { eventId: event.event_id, url, httpStatus: r.httpStatus, error: r.error };
  }

  protected async attempt(e: NotifyDelivery): Promise<NotifyResult> {
    const target = await findNotifyTarget(this.db.kysely, e.partner_id);
    // The partner removed its callback URL: nobody is waiting for this event any more.
    if (target.url === null) return { error: 'no callback URL', httpStatus: null, noUrl: true };
    if (target.key === null) {
      return { error: 'partner has no active security config to sign with', httpStatus: null, noUrl: false };
    }
    try {
      const form = notifyForm(e, target.key, this.clock.now(), this.opts.timeZone);
      const httpStatus = await this.transport(target.url, form, this.opts.timeoutMs);
      const error = httpStatus < 200 || httpStatus > 299 ? `HTTP ${httpStatus}` : null;
      return { error, httpStatus, noUrl: false };
    } catch (err) {
      // A refusal is logged as such (its stable code first), never as a connection outcome.
      const error =
        err instanceof CallbackRefusedError
          ? err.message
          : err instanceof Error
            ? `${err.name}: ${err.message}`
            : String(err);
      return { error, httpStatus: null, noUrl: false };
    }
  }

  protected record(e: NotifyEventRow, r: NotifyResult, held: number): Promise<boolean> {
    if (r.noUrl) return markNotifyFailed(this.db.kysely, e.event_id, held, e.attempts, r.error!, null);
    const attempts = e.attempts + 1;
    const now = this.clock.now();
    return inTransaction(this.db, async (tx) => {
      if (r.error === null) return markNotifyDelivered(tx, e.event_id, held, now, attempts, r.httpStatus!);
      const message = r.error.slice(0, MAX_ERROR);
      const deadline = e.created_at + this.opts.giveUpAfterMs;
      const log = {
        event_id: e.event_id,
        partner_id: e.partner_id,
        card_no: e.card_no,
        attempts,
        error: r.error,
      };
      if (now >= deadline) {
        const recorded = await markNotifyFailed(tx, e.event_id, held, attempts, message, r.httpStatus);
        if (recorded) this.log.error(log, 'partner notify failed for good');
        return recorded;
      }
      const backoff = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempts - 1));
      const next = Math.min(now + backoff, deadline);
      const recorded = await markNotifyRetry(tx, e.event_id, held, attempts, next, message, r.httpStatus);
      if (recorded) this.log.warn(log, 'partner notify failed; will retry');
      return recorded;
    });
  }
}
