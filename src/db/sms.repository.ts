import { type Selectable, type Updateable, sql } from 'kysely';
import type { Executor } from './executor.js';
import type { SmsMessageTable } from './schema.js';

export type SmsMessageRow = Selectable<SmsMessageTable>;

export async function insertSmsMessage(db: Executor, m: SmsMessageRow): Promise<void> {
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

/** `text`: what the row keeps once settled (the password masked); undefined keeps the stored text. */
export const markSmsSent = (
  db: Executor,
  id: string,
  held: number,
  now: number,
  attempts: number,
  text: string | undefined,
) => settleSms(db, id, held, { status: 'sent', sent_at: now, attempts, last_error: null, ...withText(text) });

export const markSmsRetry = (
  db: Executor,
  id: string,
  held: number,
  attempts: number,
  nextAttemptAt: number,
  error: string,
) => settleSms(db, id, held, { attempts, next_attempt_at: nextAttemptAt, last_error: error });

export const markSmsFailed = (
  db: Executor,
  id: string,
  held: number,
  attempts: number,
  error: string,
  text: string | undefined,
) => settleSms(db, id, held, { status: 'failed', attempts, last_error: error, ...withText(text) });

const withText = (text: string | undefined) => (text === undefined ? {} : { text });

/** The card's newest message, whose state is the card's `sms_status`. */
export function latestSmsForCard(
  db: Executor,
  cardNo: string,
): Promise<Pick<SmsMessageRow, 'id'> | undefined> {
  return db
    .selectFrom('sms_messages')
    .select('id')
    .where('card_no', '=', cardNo)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
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
