import { type Selectable, type Updateable, sql } from 'kysely';
import { fixedStatement } from './fixed.js';
import type { Executor } from './executor.js';
import type { SmsMessageTable } from './schema.js';

export type SmsMessageRow = Selectable<SmsMessageTable>;

/** A message as it is queued: nothing about providers or reports yet. */
export type NewSmsMessage = Omit<
  SmsMessageRow,
  | 'provider'
  | 'provider_ref'
  | 'provider_code'
  | 'delivery'
  | 'delivery_code'
  | 'delivered_at'
  | 'receipt_due_at'
>;

/** Every column of a queued message, in the order the write path's statements list them. */
export const NEW_SMS_COLUMNS = [
  'id',
  'card_no',
  'mobile',
  'text',
  'reason',
  'status',
  'attempts',
  'next_attempt_at',
  'locked_until',
  'last_error',
  'created_at',
  'sent_at',
] as const satisfies readonly (keyof NewSmsMessage)[];

export async function insertSmsMessage(db: Executor, m: NewSmsMessage): Promise<void> {
  await sql`insert into sms_messages
      (id, card_no, mobile, text, reason, status, attempts, next_attempt_at, locked_until, last_error, created_at, sent_at)
    values (${m.id}, ${m.card_no}, ${m.mobile}, ${m.text}, ${m.reason}, ${m.status}, ${m.attempts}, ${m.next_attempt_at},
      ${m.locked_until}, ${m.last_error}, ${m.created_at}, ${m.sent_at})`.execute(db);
}

export async function countResendsSince(db: Executor, cardNo: string, since: number): Promise<number> {
  const row = await db
    .selectFrom('sms_messages')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('card_no', '=', cardNo)
    .where('reason', '=', 'resend')
    .where('created_at', '>=', since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Records an attempt's result and ends the lease, only where the caller still holds it (`held`
 * is the lease end it set last); false when another worker has taken the message over.
 */
async function settleSms(
  db: Executor,
  id: string,
  held: number,
  changes: Updateable<SmsMessageTable>,
): Promise<boolean> {
  const result = await db
    .updateTable('sms_messages')
    .set({ ...changes, locked_until: 0 })
    .where('id', '=', id)
    .where('locked_until', '=', held)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Who took a message: the provider, its id there, and when to ask it for the report (null: never). */
export interface SmsAcceptance {
  provider: string | null;
  ref: string | null;
  receiptDueAt: number | null;
}

/** `text`: what the row keeps once settled (the password masked); undefined keeps the stored text. */
export const markSmsSent = (
  db: Executor,
  id: string,
  held: number,
  now: number,
  attempts: number,
  text: string | undefined,
  by: SmsAcceptance = { provider: null, ref: null, receiptDueAt: null },
) =>
  settleSms(db, id, held, {
    status: 'sent',
    sent_at: now,
    attempts,
    last_error: null,
    provider: by.provider,
    provider_ref: by.ref,
    receipt_due_at: by.receiptDueAt,
    ...withText(text),
  });

/** `provider`: the one the message must stay with (an attempt may have reached it), or null. */
export const markSmsRetry = (
  db: Executor,
  id: string,
  held: number,
  attempts: number,
  nextAttemptAt: number,
  error: string,
  provider: string | null = null,
) => settleSms(db, id, held, { attempts, next_attempt_at: nextAttemptAt, last_error: error, provider });

/** `refusal`: the provider that refused the message for good and its code. */
export const markSmsFailed = (
  db: Executor,
  id: string,
  held: number,
  attempts: number,
  error: string,
  text: string | undefined,
  refusal: { provider: string | null; code: string | null } = { provider: null, code: null },
) =>
  settleSms(db, id, held, {
    status: 'failed',
    attempts,
    last_error: error,
    provider: refusal.provider,
    provider_code: refusal.code,
    ...withText(text),
  });

const withText = (text: string | undefined) => (text === undefined ? {} : { text });

/** The card's newest message, whose state is the card's `sms_status`. */
const LATEST_SMS_FOR_CARD = fixedStatement<Pick<SmsMessageRow, 'id'>>(
  'select id from sms_messages where card_no = ? order by created_at desc, id desc limit 1',
);

export async function latestSmsForCard(
  db: Executor,
  cardNo: string,
): Promise<Pick<SmsMessageRow, 'id'> | undefined> {
  const { rows } = await LATEST_SMS_FOR_CARD.run(db, [cardNo]);
  return rows[0];
}

export async function countQueuedSms(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('sms_messages')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('status', '=', 'queued')
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function countSmsByStatus(db: Executor): Promise<{ status: string; n: number }[]> {
  const rows = await db
    .selectFrom('sms_messages')
    .select(['status', (eb) => eb.fn.countAll().as('n')])
    .groupBy('status')
    .execute();
  return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
}

export type ReceiptDueRow = Pick<
  SmsMessageRow,
  'id' | 'card_no' | 'mobile' | 'provider' | 'provider_ref' | 'created_at' | 'sent_at'
>;

/** Sent messages whose report is due to be asked for, the longest waiting first. */
export function findDueReceipts(db: Executor, now: number, limit: number): Promise<ReceiptDueRow[]> {
  return db
    .selectFrom('sms_messages')
    .select(['id', 'card_no', 'mobile', 'provider', 'provider_ref', 'created_at', 'sent_at'])
    .where('status', '=', 'sent')
    .where('receipt_due_at', '<=', now)
    .orderBy('receipt_due_at')
    .limit(limit)
    .execute();
}

/** Records a message's report once: false when it already had one (or is not sent). */
export async function recordDelivery(
  db: Executor,
  id: string,
  report: { delivery: 'delivered' | 'undelivered'; code: string | null; at: number; ref: string | null },
): Promise<boolean> {
  const result = await db
    .updateTable('sms_messages')
    .set((eb) => ({
      delivery: report.delivery,
      delivery_code: report.code,
      delivered_at: report.at,
      receipt_due_at: null,
      provider_ref: eb.fn.coalesce('provider_ref', sql<string | null>`${report.ref}`),
    }))
    .where('id', '=', id)
    .where('status', '=', 'sent')
    .where('delivery', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Asks again at `dueAt`, or never (null) once the report is past waiting for. */
export async function deferReceipt(db: Executor, id: string, dueAt: number | null): Promise<void> {
  await db
    .updateTable('sms_messages')
    .set({ receipt_due_at: dueAt })
    .where('id', '=', id)
    .where('delivery', 'is', null)
    .execute();
}

/** Sent messages by report: delivered, undelivered, or still without one. */
export async function countSmsByDelivery(db: Executor): Promise<{ delivery: string; n: number }[]> {
  const rows = await db
    .selectFrom('sms_messages')
    .select([
      (eb) => eb.fn.coalesce('delivery', sql<string>`'none'`).as('delivery'),
      (eb) => eb.fn.countAll().as('n'),
    ])
    .where('status', '=', 'sent')
    .groupBy('delivery')
    .execute();
  return rows.map((r) => ({ delivery: String(r.delivery), n: Number(r.n) }));
}
