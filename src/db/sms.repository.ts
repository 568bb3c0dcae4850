import { type Selectable, type Updateable, sql } from 'kysely';
import { fixedStatement, runUpdate } from './fixed.js';
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

const INSERT_SMS = fixedStatement(
  `insert into sms_messages (${NEW_SMS_COLUMNS.join(', ')}) values (${NEW_SMS_COLUMNS.map(() => '?').join(', ')})`,
);

export async function insertSmsMessage(db: Executor, m: NewSmsMessage): Promise<void> {
  await INSERT_SMS.run(
    db,
    NEW_SMS_COLUMNS.map((c) => m[c]),
  );
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
  const result = await runUpdate(
    db,
    'sms_messages',
    { ...changes, locked_until: 0 },
    'id = ? and locked_until = ?',
    [id, held],
  );
  return Number(result.numAffectedRows ?? 0) === 1;
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

/** A delivery to record (`markSmsSent`'s arguments) and its `sms_sent` event's data both ways. */
export interface SentSms {
  id: string;
  cardNo: string;
  /** The lease end the recording worker holds. */
  held: number;
  now: number;
  attempts: number;
  /** What the row keeps (the password masked); undefined keeps the stored text. */
  text: string | undefined;
  by: SmsAcceptance;
  /** The event's data when the message is the card's newest (with its `sms_status`), and when not. */
  data: { newest: string; older: string };
}

/**
 * PostgreSQL: a delivery recorded as one statement (one round trip, one implicit transaction)
 * instead of a transaction of four: `markSmsSent`; the card's `sms_status` when the message is
 * its newest (the order of `latestSmsForCard`) and its `updated_at` always (`updateCard`); its
 * `sms_sent` event with the next seq (`appendCardEvent`). The lease gates the rest: when the
 * message is no longer leased until `held`, nothing is written. The rows are locked in the
 * transaction's order (the message, then the card, then the event's key: the event is made from
 * the card's updated row). The statement reads the ledger as it was when it began, so an event
 * appended meanwhile fails it with a unique violation on `card_events_pk`, and nothing is written.
 */
const RECORD_SMS_SENT = fixedStatement<{ recorded: number | string }>(`with sent as (
    update sms_messages set status = 'sent', sent_at = ?, attempts = ?, last_error = null, provider = ?,
      provider_ref = ?, receipt_due_at = ?, text = coalesce(?, text), locked_until = 0
    where id = ? and locked_until = ?
    returning id
  ), latest as (
    select id = ? as newest from sms_messages where card_no = ? order by created_at desc, id desc limit 1
  ), card as (
    update cards set sms_status = case when latest.newest then 'sent' else cards.sms_status end, updated_at = ?
    from sent, latest
    where cards.card_no = ?
    returning cards.card_no
  ), ledger as (
    select coalesce(max(seq), 0) as seq from card_events where card_no = ?
  ), appended as (
    insert into card_events (card_no, seq, type, at, actor, data)
    select card.card_no, ledger.seq + 1, 'sms_sent', ?, 'system', case when latest.newest then ? else ? end
    from card, latest, ledger
  )
  select count(*) as recorded from sent`);

/**
 * Records a delivery in one statement (PostgreSQL only). False, with nothing written, when the
 * lease is no longer `held`; throws a unique violation, with nothing written, when an event took
 * the seq meanwhile.
 */
export async function recordSmsSentOnce(db: Executor, s: SentSms): Promise<boolean> {
  const { rows } = await RECORD_SMS_SENT.run(db, [
    s.now,
    s.attempts,
    s.by.provider,
    s.by.ref,
    s.by.receiptDueAt,
    s.text ?? null,
    s.id,
    s.held,
    s.id,
    s.cardNo,
    s.now,
    s.cardNo,
    s.cardNo,
    s.now,
    s.data.newest,
    s.data.older,
  ]);
  return Number(rows[0]?.recorded ?? 0) === 1;
}

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
