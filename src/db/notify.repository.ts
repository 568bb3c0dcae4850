import type { Selectable, Updateable } from 'kysely';
import type { Executor } from './executor.js';
import type { NotifyEventTable, PartnerCallbackTable } from './schema.js';

export type NotifyEventRow = Selectable<NotifyEventTable>;

export function findCallback(db: Executor, partnerId: string): Promise<PartnerCallbackTable | undefined> {
  return db
    .selectFrom('partner_callbacks')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .executeTakeFirst();
}

export async function upsertCallback(
  db: Executor,
  partnerId: string,
  url: string,
  at: number,
): Promise<void> {
  await db
    .insertInto('partner_callbacks')
    .values({ partner_id: partnerId, url, updated_at: at })
    .onConflict((oc) => oc.column('partner_id').doUpdateSet({ url, updated_at: at }))
    .execute();
}

export async function deleteCallback(db: Executor, partnerId: string): Promise<void> {
  await db.deleteFrom('partner_callbacks').where('partner_id', '=', partnerId).execute();
}

/** The sequence number of the card's newest ledger entry (0 when it has none). */
export async function latestCardEventSeq(db: Executor, cardNo: string): Promise<number> {
  const row = await db
    .selectFrom('card_events')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('card_no', '=', cardNo)
    .executeTakeFirst();
  return Number(row?.seq ?? 0);
}

export async function insertNotifyEvent(db: Executor, row: NotifyEventRow): Promise<void> {
  await db.insertInto('notify_events').values(row).execute();
}

/**
 * Where and with which key to deliver a partner's events now: its current callback URL and its
 * oldest active security config (null when the partner has none).
 */
export async function findNotifyTarget(
  db: Executor,
  partnerId: string,
): Promise<{ url: string | null; key: { secId: string; md5key: string } | null }> {
  const callback = await findCallback(db, partnerId);
  const key = await db
    .selectFrom('security_configs')
    .select(['sec_id', 'md5key'])
    .where('partner_id', '=', partnerId)
    .where('status', '=', 'active')
    .orderBy('created_at')
    .orderBy('sec_id')
    .limit(1)
    .executeTakeFirst();
  return { url: callback?.url ?? null, key: key ? { secId: key.sec_id, md5key: key.md5key } : null };
}

/**
 * Records an attempt's result and ends the lease, only where the caller still holds it (`held`
 * is the lease end it set last); false when another worker has taken the event over.
 */
async function settleNotify(
  db: Executor,
  eventId: string,
  held: number,
  changes: Updateable<NotifyEventTable>,
): Promise<boolean> {
  const result = await db
    .updateTable('notify_events')
    .set({ ...changes, locked_until: 0 })
    .where('event_id', '=', eventId)
    .where('locked_until', '=', held)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export const markNotifyDelivered = (
  db: Executor,
  eventId: string,
  held: number,
  at: number,
  attempts: number,
  httpStatus: number,
) =>
  settleNotify(db, eventId, held, {
    status: 'delivered',
    delivered_at: at,
    attempts,
    last_error: null,
    last_status: httpStatus,
  });

export const markNotifyRetry = (
  db: Executor,
  eventId: string,
  held: number,
  attempts: number,
  nextAttemptAt: number,
  error: string,
  httpStatus: number | null,
) =>
  settleNotify(db, eventId, held, {
    attempts,
    next_attempt_at: nextAttemptAt,
    last_error: error,
    last_status: httpStatus,
  });

export const markNotifyFailed = (
  db: Executor,
  eventId: string,
  held: number,
  attempts: number,
  error: string,
  httpStatus: number | null,
) =>
  settleNotify(db, eventId, held, { status: 'failed', attempts, last_error: error, last_status: httpStatus });

export function findNotifyEvent(db: Executor, eventId: string): Promise<NotifyEventRow | undefined> {
  return db.selectFrom('notify_events').selectAll().where('event_id', '=', eventId).executeTakeFirst();
}

/** Queues the event for an attempt at `now` whatever its state (a lease in progress is kept). */
export async function requeueNotifyEvent(db: Executor, eventId: string, now: number): Promise<void> {
  await db
    .updateTable('notify_events')
    .set({ status: 'queued', next_attempt_at: now })
    .where('event_id', '=', eventId)
    .execute();
}

/** The partner's newest events first. */
export function listNotifyEvents(db: Executor, partnerId: string, limit: number): Promise<NotifyEventRow[]> {
  return db
    .selectFrom('notify_events')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .orderBy('created_at', 'desc')
    .orderBy('event_id', 'desc')
    .limit(limit)
    .execute();
}
