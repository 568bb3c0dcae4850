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
import { PollingWorker, type WorkerLogger, type WorkerLoop } from './polling-worker.js';
import type { Clock } from '../domain/clock.js';
import type { SecretBox } from '../domain/secret-box.js';
import { openSmsText } from '../domain/sms-template.js';
import type { SmsSender } from './sms-senders.js';

export interface OutboxOptions extends WorkerLoop {
  maxAttempts: number;
  /** Backoff before retry n (1-based): base × 2^(n-1), capped. */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export type OutboxLogger = WorkerLogger;

export const DEFAULT_OUTBOX: OutboxOptions = {
  maxAttempts: 10,
  // Renewed while a send runs, so it need not outlast the sender's timeout; it only bounds how
  // long a killed worker's messages wait.
  leaseMs: 15_000,
  concurrency: 20,
  pollMs: 250,
  backoffBaseMs: 2_000,
  backoffMaxMs: 600_000,
};

/** A send's outcome: null when the gateway accepted the message, else the error. */
type SendResult = string | null;

/**
 * Delivers queued SMS. Messages are written in the transaction that activates the card; this
 * worker leases due ones (several processes can run it on one PostgreSQL), sends up to
 * `concurrency` at once towards the gateway, and records each result. A send whose result could
 * not be recorded is retried with the same message id.
 */
export class SmsOutbox extends PollingWorker<SmsMessageRow, SendResult> {
  constructor(
    private readonly db: Db,
    clock: Clock,
    private readonly sender: SmsSender,
    /** Opens the sealed text of a queued message. */
    private readonly secrets: SecretBox,
    log: OutboxLogger,
    private readonly opts: OutboxOptions = DEFAULT_OUTBOX,
  ) {
    super('sms outbox', log, clock, opts);
  }

  protected claim(now: number, leaseUntil: number, limit: number): Promise<SmsMessageRow[]> {
    return this.db.claimDueSms(now, leaseUntil, limit);
  }

  protected keyOf(m: SmsMessageRow): string {
    return m.id;
  }

  protected renew(ids: string[], held: number, leaseUntil: number): Promise<string[]> {
    return this.db.renewSmsLeases(ids, held, leaseUntil);
  }

  protected describe(m: SmsMessageRow, result?: SendResult): object {
    return {
      sms_id: m.id,
      card_no: m.card_no,
      ...(result === undefined ? {} : { outcome: result ?? 'sent' }),
    };
  }

  protected async attempt(m: SmsMessageRow): Promise<SendResult> {
    try {
      const { text } = openSmsText(this.secrets, m.text);
      await this.sender.send({ id: m.id, mobile: m.mobile, text });
      return null;
    } catch (err) {
      return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
  }

  /**
   * What a delivered or failed message keeps: its text with the password masked (a resend is
   * built from the card). Undefined leaves the stored text, e.g. one sealed by a key this
   * process lacks, which stays sealed.
   */
  private settledText(m: SmsMessageRow): string | undefined {
    try {
      return openSmsText(this.secrets, m.text).masked;
    } catch {
      return undefined;
    }
  }

  protected record(m: SmsMessageRow, error: SendResult, held: number): Promise<boolean> {
    const attempts = m.attempts + 1;
    const now = this.clock.now();
    return inTransaction(this.db, async (tx) => {
      let state: 'sent' | 'failed' | 'queued';
      if (error === null) {
        if (!(await markSmsSent(tx, m.id, held, now, attempts, this.settledText(m)))) return false;
        state = 'sent';
      } else if (attempts >= this.opts.maxAttempts) {
        if (!(await markSmsFailed(tx, m.id, held, attempts, error, this.settledText(m)))) return false;
        state = 'failed';
        this.log.error({ sms_id: m.id, card_no: m.card_no, attempts, error }, 'sms delivery failed for good');
      } else {
        const backoff = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempts - 1));
        if (!(await markSmsRetry(tx, m.id, held, attempts, now + backoff, error))) return false;
        state = 'queued';
        this.log.warn(
          { sms_id: m.id, card_no: m.card_no, attempts, error },
          'sms delivery failed; will retry',
        );
      }
      if (state === 'queued') return true;
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
      return true;
    });
  }
}
