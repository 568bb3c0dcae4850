import type { Db } from '../db/database.js';
import { appendCardEvent, updateCard } from '../db/card.repository.js';
import {
  latestSmsForCard,
  markSmsFailed,
  markSmsRetry,
  markSmsSent,
  type SmsMessageRow,
} from '../db/sms.repository.js';
import { inTransaction } from '../db/tx.js';
import { PollingWorker, type WorkerLogger } from './polling-worker.js';
import type { Clock } from '../domain/clock.js';
import type { SmsSender } from './sms-senders.js';

export interface OutboxOptions {
  maxAttempts: number;
  /** Lease on a claimed message; longer than the sender's timeout. */
  leaseMs: number;
  batchSize: number;
  pollMs: number;
  /** Backoff before retry n (1-based): base × 2^(n-1), capped. */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export type OutboxLogger = WorkerLogger;

export const DEFAULT_OUTBOX: OutboxOptions = {
  maxAttempts: 10,
  leaseMs: 60_000,
  batchSize: 20,
  pollMs: 250,
  backoffBaseMs: 2_000,
  backoffMaxMs: 600_000,
};

/**
 * Delivers queued SMS. Messages are written in the transaction that activates the card; this
 * worker leases due ones (several processes can run it on one PostgreSQL), sends, and records
 * the result. A send whose result could not be recorded is retried with the same message id.
 */
export class SmsOutbox extends PollingWorker {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly sender: SmsSender,
    log: OutboxLogger,
    private readonly opts: OutboxOptions = DEFAULT_OUTBOX,
  ) {
    super('sms outbox', log, opts);
  }

  /** One pass: leases due messages and sends them concurrently. Returns how many it handled. */
  async runOnce(): Promise<number> {
    const now = this.clock.now();
    const batch = await this.db.claimDueSms(now, now + this.opts.leaseMs, this.opts.batchSize);
    await Promise.all(batch.map((m) => this.deliver(m)));
    return batch.length;
  }

  private async deliver(m: SmsMessageRow): Promise<void> {
    const attempts = m.attempts + 1;
    let error: string | null = null;
    try {
      await this.sender.send({ id: m.id, mobile: m.mobile, text: m.text });
    } catch (err) {
      error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    const now = this.clock.now();
    await inTransaction(this.db, async (tx) => {
      let state: 'sent' | 'failed' | 'queued';
      if (error === null) {
        await markSmsSent(tx, m.id, now, attempts);
        state = 'sent';
      } else if (attempts >= this.opts.maxAttempts) {
        await markSmsFailed(tx, m.id, attempts, error);
        state = 'failed';
        this.log.error({ sms_id: m.id, card_no: m.card_no, attempts, error }, 'sms delivery failed for good');
      } else {
        const backoff = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempts - 1));
        await markSmsRetry(tx, m.id, attempts, now + backoff, error);
        state = 'queued';
        this.log.warn(
          { sms_id: m.id, card_no: m.card_no, attempts, error },
          'sms delivery failed; will retry',
        );
      }
      if (state === 'queued') return;
      // The card shows the state of its newest message. Updating the card row first also
      // serialises this ledger append with any other writer of the same card.
      const latest = await latestSmsForCard(tx, m.card_no);
      await updateCard(
        tx,
        m.card_no,
        latest?.id === m.id ? { sms_status: state, updated_at: now } : { updated_at: now },
      );
      await appendCardEvent(tx, {
        card_no: m.card_no,
        type: state === 'sent' ? 'sms_sent' : 'sms_failed',
        at: now,
        actor: 'system',
        data: JSON.stringify({
          message_id: m.id,
          attempts,
          ...(latest?.id === m.id ? { sms_status: state } : {}),
        }),
      });
    });
  }
}
