import type { Insertable, Selectable } from 'kysely';
import type { Executor } from './executor.js';
import type { PasswordFailureTable, RedemptionTable } from './schema.js';

export type RedemptionRow = Selectable<RedemptionTable>;
export type RedemptionWithUser = RedemptionRow & { username: string | null };

/**
 * Takes the card row's write lock for the rest of the transaction with an update that changes
 * nothing, so that everything touching a card's tickets or password tries (redeem, undo, a wrong
 * password) runs one writer at a time, and the ledger append that follows is serialised too.
 * False when there is no such card.
 */
export async function lockCardRow(db: Executor, cardNo: string): Promise<boolean> {
  const result = await db
    .updateTable('cards')
    .set((eb) => ({ updated_at: eb.ref('updated_at') }))
    .where('card_no', '=', cardNo)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function isCinemaOfKind(db: Executor, kindId: string, cinemaId: string): Promise<boolean> {
  const row = await db
    .selectFrom('kind_cinemas')
    .select('cinema_id')
    .where('kind_id', '=', kindId)
    .where('cinema_id', '=', cinemaId)
    .executeTakeFirst();
  return row !== undefined;
}

export async function findCinemaName(db: Executor, cinemaId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('cinemas')
    .select('cinema_name')
    .where('cinema_id', '=', cinemaId)
    .executeTakeFirst();
  return row?.cinema_name;
}

export async function findKindName(db: Executor, kindId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('kinds')
    .select('kind_name')
    .where('kind_id', '=', kindId)
    .executeTakeFirst();
  return row?.kind_name;
}

/** Times of the card's wrong passwords at or after `since`, newest first. */
export async function recentPasswordFailures(
  db: Executor,
  cardNo: string,
  since: number,
  limit: number,
): Promise<number[]> {
  const rows = await db
    .selectFrom('password_failures')
    .select('at')
    .where('card_no', '=', cardNo)
    .where('at', '>=', since)
    .orderBy('at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => Number(r.at));
}

export async function insertPasswordFailure(
  db: Executor,
  row: Insertable<PasswordFailureTable>,
): Promise<void> {
  await db.insertInto('password_failures').values(row).execute();
}

export async function insertRedemption(db: Executor, row: Insertable<RedemptionTable>): Promise<void> {
  await db.insertInto('redemptions').values(row).execute();
}

export function findRedemption(db: Executor, redemptionId: string): Promise<RedemptionRow | undefined> {
  return db
    .selectFrom('redemptions')
    .selectAll()
    .where('redemption_id', '=', redemptionId)
    .executeTakeFirst();
}

/** Marks a redemption undone unless it already is; returns whether this call did. */
export async function markRedemptionUndone(
  db: Executor,
  redemptionId: string,
  at: number,
  by: string,
): Promise<boolean> {
  const result = await db
    .updateTable('redemptions')
    .set({ undone_at: at, undone_by: by })
    .where('redemption_id', '=', redemptionId)
    .where('undone_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Redemptions at a cinema in [from, to), oldest first, with the redeeming user's name. */
export function listCinemaRedemptions(
  db: Executor,
  cinemaId: string,
  from: number,
  to: number,
): Promise<RedemptionWithUser[]> {
  return db
    .selectFrom('redemptions as r')
    .leftJoin('users as u', 'u.user_id', 'r.user_id')
    .selectAll('r')
    .select('u.username')
    .where('r.cinema_id', '=', cinemaId)
    .where('r.at', '>=', from)
    .where('r.at', '<', to)
    .orderBy('r.at')
    .orderBy('r.redemption_id')
    .execute();
}

/** A card's redemptions, oldest first, with the redeeming user's and the cinema's names. */
export function listCardRedemptions(
  db: Executor,
  cardNo: string,
): Promise<(RedemptionWithUser & { cinema_name: string | null })[]> {
  return db
    .selectFrom('redemptions as r')
    .leftJoin('users as u', 'u.user_id', 'r.user_id')
    .leftJoin('cinemas as c', 'c.cinema_id', 'r.cinema_id')
    .selectAll('r')
    .select(['u.username', 'c.cinema_name'])
    .where('r.card_no', '=', cardNo)
    .orderBy('r.at')
    .orderBy('r.redemption_id')
    .execute();
}
