import type { Db } from '../db/database.js';
import { appendCardEvent, updateCard } from '../db/card.repository.js';
import { deferReceipt, findDueReceipts, recordDelivery, type ReceiptDueRow } from '../db/sms.repository.js';
import { inTransaction } from '../db/tx.js';
import type { Clock } from '../domain/clock.js';
import type { SmsSender } from '../sms/types.js';
import type { WorkerLogger } from './polling-worker.js';

export interface ReceiptOptions {
  /** How often to look for messages whose report is due, and the wait before asking again. */
  pollMs: number;
  /** The wait after acceptance before the first question (a report takes seconds to come). */
  firstAfterMs: number;
  /** After this long without a report, stop asking: the message's delivery stays unknown. */
  maxAgeMs: number;
  /** Most messages asked about per pass. */
  batch: number;
}

export const DEFAULT_RECEIPTS: ReceiptOptions = {
  pollMs: 60_000,
  firstAfterMs: 30_000,
  maxAgeMs: 72 * 3_600_000,
  batch: 200,
};

/**
 * Pulls the handsets' delivery reports from the providers (Aliyun QuerySendDetails, Tencent
 * PullSmsSendStatusByPhoneNumber) for sent messages, and records each report once: on the
 * message, and as an `sms_delivered` / `sms_undelivered` card event. Pulling needs no public
 * callback URL, and asking about a message again is harmless, so several processes may run it.
 */
export class SmsReceipts {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = true;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly sender: SmsSender,
    private readonly log: WorkerLogger,
    private readonly opts: ReceiptOptions = DEFAULT_RECEIPTS,
  ) {}

  /** When to first ask about a message the provider just accepted; null when it sends no reports. */
  firstDue(provider: string | null, now: number): number | null {
    return provider !== null && this.sender.receipt ? now + this.opts.firstAfterMs : null;
  }

  start(): void {
    if (!this.sender.receipt) return;
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass over the due messages; returns how many reports it recorded. */
  async runOnce(): Promise<number> {
    const ask = this.sender.receipt?.bind(this.sender);
    if (!ask) return 0;
    const now = this.clock.now();
    const due = await findDueReceipts(this.db.kysely, now, this.opts.batch);
    let recorded = 0;
    for (const m of due) {
      try {
        const r = await ask({
          id: m.id,
          mobile: m.mobile,
          provider: m.provider ?? '',
          ref: m.provider_ref,
          since: m.created_at,
          now,
        });
        if (r.state === 'delivered' || r.state === 'undelivered') {
          if (await this.record(m, { delivery: r.state, code: r.code, at: r.at ?? now, ref: r.ref }))
            recorded++;
        } else {
          await deferReceipt(this.db.kysely, m.id, this.nextDue(m, now));
        }
      } catch (err) {
        this.log.warn(
          { sms_id: m.id, provider: m.provider, error: err instanceof Error ? err.message : String(err) },
          'sms delivery report not available; will ask again',
        );
        await deferReceipt(this.db.kysely, m.id, this.nextDue(m, now));
      }
    }
    return recorded;
  }

  private nextDue(m: ReceiptDueRow, now: number): number | null {
    return (m.sent_at ?? m.created_at) + this.opts.maxAgeMs <= now ? null : now + this.opts.pollMs;
  }

  private record(
    m: ReceiptDueRow,
    report: { delivery: 'delivered' | 'undelivered'; code: string | null; at: number; ref: string | null },
  ): Promise<boolean> {
    const now = this.clock.now();
    return inTransaction(this.db, async (tx) => {
      if (!(await recordDelivery(tx, m.id, report))) return false;
      // Updating the card row first serialises this ledger append with other writers of the card.
      await updateCard(tx, m.card_no, { updated_at: now });
      await appendCardEvent(tx, {
        card_no: m.card_no,
        type: report.delivery === 'delivered' ? 'sms_delivered' : 'sms_undelivered',
        at: now,
        actor: 'system',
        data: JSON.stringify({
          message_id: m.id,
          provider: m.provider,
          code: report.code,
          reported_at: report.at,
        }),
      });
      return true;
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.runOnce()
        .catch((err: unknown) =>
          this.log.error(
            { error: err instanceof Error ? err.message : String(err) },
            'sms delivery report pass failed',
          ),
        )
        .finally(() => {
          this.running = null;
          this.schedule();
        });
    }, this.opts.pollMs);
  }
}
