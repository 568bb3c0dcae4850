import { type Insertable, type Selectable, type Updateable, sql } from 'kysely';
import type { Executor } from './tx.js';
import type { CardEventTable, CardStatus, CardTable } from './schema.js';

export type CardRow = Selectable<CardTable>;
export type CardEventRow = Selectable<CardEventTable>;

export function findCard(db: Executor, cardNo: string): Promise<CardRow | undefined> {
  return db.selectFrom('cards').selectAll().where('card_no', '=', cardNo).executeTakeFirst();
}

/** False when the card number is taken (the caller draws another). */
export async function insertCard(db: Executor, card: Insertable<CardTable>): Promise<boolean> {
  const result = await db
    .insertInto('cards')
    .values(card)
    .onConflict((oc) => oc.column('card_no').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}

/**
 * Applies a change only while the card is still in one of `from` (compare-and-set), so of
 * racing writers exactly one wins. Returns whether this call won.
 */
export async function transitionCard(
  db: Executor,
  cardNo: string,
  from: readonly CardStatus[],
  changes: Updateable<CardTable>,
  extra?: { usedCount?: number; payDeadlineAfter?: number },
): Promise<boolean> {
  let q = db.updateTable('cards').set(changes).where('card_no', '=', cardNo).where('status', 'in', from);
  if (extra?.usedCount !== undefined) q = q.where('used_count', '=', extra.usedCount);
  if (extra?.payDeadlineAfter !== undefined) q = q.where('pay_deadline', '>', extra.payDeadlineAfter);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function updateCard(
  db: Executor,
  cardNo: string,
  changes: Updateable<CardTable>,
): Promise<void> {
  await db.updateTable('cards').set(changes).where('card_no', '=', cardNo).execute();
}

/** Appends to the card's ledger; without a seq, takes the card's next number in the same statement. */
export async function appendCardEvent(
  db: Executor,
  event: Omit<Insertable<CardEventTable>, 'seq'> & { seq?: number },
): Promise<void> {
  if (event.seq !== undefined) {
    await db
      .insertInto('card_events')
      .values({ ...event, seq: event.seq })
      .execute();
    return;
  }
  await sql`insert into card_events (card_no, seq, type, at, actor, data)
    select ${event.card_no}, coalesce(max(seq), 0) + 1, ${event.type}, cast(${event.at} as bigint), ${event.actor}, ${event.data}
    from card_events where card_no = ${event.card_no}`.execute(db);
}

export function listCardEvents(db: Executor, cardNo: string): Promise<CardEventRow[]> {
  return db.selectFrom('card_events').selectAll().where('card_no', '=', cardNo).orderBy('seq').execute();
}

/** Cards whose payment deadline or validity has passed, for the expiry sweep. */
export async function findExpiredCandidates(db: Executor, now: number, limit: number): Promise<CardRow[]> {
  const unpaid = await db
    .selectFrom('cards')
    .selectAll()
    .where('status', '=', 'inactive')
    .where('pay_deadline', '<=', now)
    .limit(limit)
    .execute();
  const lapsed = await db
    .selectFrom('cards')
    .selectAll()
    .where('status', '=', 'active')
    .where('valid_until', '<=', now)
    .limit(limit)
    .execute();
  return [...unpaid, ...lapsed];
}

export async function countCardsByStatus(db: Executor): Promise<{ status: string; n: number }[]> {
  const rows = await db
    .selectFrom('cards')
    .select(['status', (eb) => eb.fn.countAll().as('n')])
    .groupBy('status')
    .execute();
  return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
}
