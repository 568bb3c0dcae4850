import type { Db } from '../db/database.js';
import { appendCardEvent, updateCard } from '../db/card.repository.js';
import {
  latestSmsForCard,
  markSmsFailed,
  markSmsRetry,
  markSmsSent,
  recordSmsSentOnce,
  type SmsAcceptance,
  type SmsMessageRow,
} from '../db/sms.repository.js';
import { inTransaction } from '../db/tx.js';
import { PollingWorker, type WorkerLogger, type WorkerLoop } from './polling-worker.js';
import type { Clock } from '../domain/clock.js';
import type { SecretBox } from '../domain/secret-box.js';
import { openSmsText } from '../domain/sms-template.js';
import { SmsSendError, type SmsSender } from '../sms/types.js';
import { SmsReceipts, DEFAULT_RECEIPTS, type ReceiptOptions } from './sms-receipts.js';

export interface OutboxOptions extends WorkerLoop {
  maxAttempts: number;
  /** Backoff before retry n (1-based): base × 2^(n-1), capped. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Delivery reports: how often to ask the provider, and for how long. */
  receipts?: ReceiptOptions;
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

/** A send's outcome. */
type SendResult =
  | { ok: true; provider: string | null; ref: string | null }
  | {
      ok: false;
      error: string;
      /** No provider would deliver it: the message fails now. */
      final: boolean;
      /** The provider may have taken it. */
      uncertain: boolean;
      /** The provider's code, where one answered. */
      code: string | null;
      /** The provider that refused it, or that it must stay with (see chain.ts). */
      provider: string | null;
    };

/**
 * Delivers queued SMS. Messages are written in the transaction that activates the card; this
 * worker leases due ones (several processes can run it on one PostgreSQL), sends up to
 * `concurrency` at once towards the gateway, and records each result. A send whose result could
 * not be recorded is retried with the same message id.
 */
export class SmsOutbox extends PollingWorker<SmsMessageRow, SendResult> {
  /** The masked text of each message in hand, from opening it to send: opened once, not twice. */
  private readonly opened = new WeakMap<SmsMessageRow, string>();
  /** Asks the providers for the handsets' delivery reports; runs while the outbox runs. */
  readonly receipts: SmsReceipts;

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
    this.receipts = new SmsReceipts(db, clock, sender, log, opts.receipts ?? DEFAULT_RECEIPTS);
  }

  override start(): void {
    super.start();
    this.receipts.start();
  }

  override async stop(): Promise<void> {
    await Promise.all([super.stop(), this.receipts.stop()]);
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
      ...(result === undefined ? {} : { outcome: result.ok ? 'sent' : result.error }),
    };
  }

  protected async attempt(m: SmsMessageRow): Promise<SendResult> {
    try {
      const { text, params, masked } = openSmsText(this.secrets, m.text);
      this.opened.set(m, masked);
      const accepted = await this.sender.send({
        id: m.id,
        mobile: m.mobile,
        text,
        ...(params ? { params } : {}),
        provider: m.provider,
        createdAt: m.created_at,
        queuedForMs: this.clock.now() - m.created_at,
        ...(m.attempts >= this.opts.maxAttempts ? { verifyOnly: true } : {}),
      });
      return { ok: true, provider: accepted?.provider ?? null, ref: accepted?.ref ?? null };
    } catch (err) {
      const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      if (!(err instanceof SmsSendError)) {
        return { ok: false, error, final: false, uncertain: false, code: null, provider: m.provider };
      }
      return {
        ok: false,
        error,
        final: err.kind === 'final',
        uncertain: err.kind === 'uncertain',
        code: err.code,
        // Once an attempt may have reached a provider, the message stays with it.
        provider: m.provider ?? (err.kind === 'uncertain' || err.kind === 'final' ? err.provider : null),
      };
    }
  }

  /**
   * What a delivered or failed message keeps: its text with the password masked (a resend is
   * built from the card). Undefined leaves the stored text, e.g. one sealed by a key this
   * process lacks, which stays sealed.
   */
  private settledText(m: SmsMessageRow): string | undefined {
    if (this.opened.has(m)) return this.opened.get(m);
    try {
      return openSmsText(this.secrets, m.text).masked;
    } catch {
      return undefined;
    }
  }

  /** Who took a delivered message, and when to ask for its report. */
  private acceptance(result: { provider: string | null; ref: string | null }, now: number): SmsAcceptance {
    return {
      provider: result.provider,
      ref: result.ref,
      receiptDueAt: this.receipts.firstDue(result.provider, now),
    };
  }

  /** The data of a settled message's ledger event; `smsStatus` where it is the card's newest message. */
  private eventData(
    m: SmsMessageRow,
    attempts: number,
    result: SendResult,
    smsStatus: 'sent' | 'failed' | null,
  ): string {
    return JSON.stringify({
      message_id: m.id,
      attempts,
      ...(result.ok && result.provider ? { provider: result.provider } : {}),
      ...(!result.ok && result.final ? { provider: result.provider, provider_code: result.code } : {}),
      ...(smsStatus ? { sms_status: smsStatus } : {}),
    });
  }

  protected async record(m: SmsMessageRow, result: SendResult, held: number): Promise<boolean> {
    const attempts = m.attempts + 1;
    const now = this.clock.now();
    if (result.ok && this.db.engine === 'postgres') {
      // The common case as one statement (see recordSmsSentOnce), with the event's data both
      // ways: the statement tells whether the message is the card's newest. When an event took
      // the seq meanwhile, nothing was written and the transaction below records it.
      try {
        return await recordSmsSentOnce(this.db.kysely, {
          id: m.id,
          cardNo: m.card_no,
          held,
          now,
          attempts,
          text: this.settledText(m),
          by: this.acceptance(result, now),
          data: {
            newest: this.eventData(m, attempts, result, 'sent'),
            older: this.eventData(m, attempts, result, null),
          },
        });
      } catch (err) {
        if (!this.db.isUniqueViolation(err)) throw err;
      }
    }
    return inTransaction(this.db, async (tx) => {
      let state: 'sent' | 'failed' | 'queued';
      if (result.ok) {
        const by = this.acceptance(result, now);
        if (!(await markSmsSent(tx, m.id, held, now, attempts, this.settledText(m), by))) return false;
        state = 'sent';
      } else if (
        result.final ||
        attempts > this.opts.maxAttempts ||
        (attempts === this.opts.maxAttempts && !result.uncertain)
      ) {
        const { error, code, provider } = result;
        const refusal = { provider, code: result.final ? code : null };
        if (!(await markSmsFailed(tx, m.id, held, attempts, error, this.settledText(m), refusal)))
          return false;
        state = 'failed';
        this.log.error({ sms_id: m.id, card_no: m.card_no, attempts, error }, 'sms delivery failed for good');
      } else {
        const { error, provider } = result;
        const backoff = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempts - 1));
        if (!(await markSmsRetry(tx, m.id, held, attempts, now + backoff, error, provider))) return false;
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
        data: this.eventData(m, attempts, result, latest?.id === m.id ? state : null),
      });
      return true;
    });
  }
}
