import { type RawBuilder, sql } from 'kysely';
import type { Executor } from './executor.js';

/**
 * `case when COL < b1 then 0 when COL < b2 then 1 … end`: the index of the day an instant falls
 * in, given the n+1 day boundaries of the platform time zone (days need not be 24 h long). The
 * boundaries are integers computed by the caller and inlined as literals, so the expression is
 * the same text in SELECT and GROUP BY (PostgreSQL compares them textually).
 */
function dayIndex(column: string, bounds: readonly number[]): RawBuilder<number> {
  for (const b of bounds) if (!Number.isSafeInteger(b)) throw new Error(`bad day boundary ${b}`);
  const whens = bounds
    .slice(1)
    .map((b, i) => sql`when ${sql.ref(column)} < ${sql.lit(b)} then ${sql.lit(i)}`);
  return sql<number>`case ${sql.join(whens, sql` `)} end`;
}

function first(bounds: readonly number[]): number {
  return bounds[0]!;
}
function last(bounds: readonly number[]): number {
  return bounds[bounds.length - 1]!;
}

export interface DayPartnerFigure {
  day_idx: number;
  partner_id: string;
  n: number;
  fen: number;
}

type CardTimeColumn = 'created_at' | 'paid_at' | 'banned_at';

/**
 * Cards counted by the day `column` falls on and by partner, with the sum of their totals.
 * `paid`: only cards that were (true) or were never (false) paid.
 */
export async function cardFiguresByDay(
  db: Executor,
  column: CardTimeColumn,
  bounds: readonly number[],
  opts: { partnerId?: string; paid?: boolean } = {},
): Promise<DayPartnerFigure[]> {
  const idx = dayIndex(column, bounds);
  let q = db
    .selectFrom('cards')
    .select((eb) => [
      idx.as('day_idx'),
      'partner_id',
      eb.fn.countAll<number>().as('n'),
      eb.fn.sum<number>('total_fen').as('fen'),
    ])
    .where(column, '>=', first(bounds))
    .where(column, '<', last(bounds));
  if (opts.partnerId !== undefined) q = q.where('partner_id', '=', opts.partnerId);
  if (opts.paid === true) q = q.where('paid_at', 'is not', null);
  if (opts.paid === false) q = q.where('paid_at', 'is', null);
  const rows = await q.groupBy([idx, 'partner_id']).execute();
  return rows.map((r) => ({
    day_idx: Number(r.day_idx),
    partner_id: r.partner_id,
    n: Number(r.n),
    fen: Number(r.fen ?? 0),
  }));
}

/** Tickets redeemed (not undone) by day and by the card's partner; `n` is tickets, `fen` their price. */
export async function redeemedByDay(
  db: Executor,
  bounds: readonly number[],
  opts: { partnerId?: string } = {},
): Promise<DayPartnerFigure[]> {
  const idx = dayIndex('r.at', bounds);
  let q = db
    .selectFrom('redemptions as r')
    .innerJoin('cards as c', 'c.card_no', 'r.card_no')
    .select((eb) => [
      idx.as('day_idx'),
      'c.partner_id',
      eb.fn.sum<number>('r.count').as('n'),
      eb.fn.sum<number>(sql`${sql.ref('r.count')} * ${sql.ref('c.price_fen')}`).as('fen'),
    ])
    .where('r.undone_at', 'is', null)
    .where('r.at', '>=', first(bounds))
    .where('r.at', '<', last(bounds));
  if (opts.partnerId !== undefined) q = q.where('c.partner_id', '=', opts.partnerId);
  const rows = await q.groupBy([idx, 'c.partner_id']).execute();
  return rows.map((r) => ({
    day_idx: Number(r.day_idx),
    partner_id: r.partner_id,
    n: Number(r.n ?? 0),
    fen: Number(r.fen ?? 0),
  }));
}

export interface DaySmsFigure {
  day_idx: number;
  status: 'queued' | 'sent' | 'failed';
  /** The handset's report from the provider, where one came. */
  delivery: 'delivered' | 'undelivered' | null;
  n: number;
}

/** SMS messages created in the range, by day and current delivery state. */
export async function smsByDay(
  db: Executor,
  bounds: readonly number[],
  opts: { partnerId?: string } = {},
): Promise<DaySmsFigure[]> {
  const idx = dayIndex('m.created_at', bounds);
  let q = db
    .selectFrom('sms_messages as m')
    .select((eb) => [idx.as('day_idx'), 'm.status', 'm.delivery', eb.fn.countAll<number>().as('n')])
    .where('m.created_at', '>=', first(bounds))
    .where('m.created_at', '<', last(bounds));
  if (opts.partnerId !== undefined) {
    const partnerId = opts.partnerId;
    q = q.where('m.card_no', 'in', (eb) =>
      eb.selectFrom('cards').select('card_no').where('partner_id', '=', partnerId),
    );
  }
  const rows = await q.groupBy([idx, 'm.status', 'm.delivery']).execute();
  return rows.map((r) => ({
    day_idx: Number(r.day_idx),
    status: r.status,
    delivery: r.delivery,
    n: Number(r.n),
  }));
}

/** Every partner's name by id (statements of all partners name them). */
export async function listPartnerNames(db: Executor): Promise<Map<string, string>> {
  const rows = await db.selectFrom('partners').select(['partner_id', 'name']).execute();
  return new Map(rows.map((r) => [r.partner_id, r.name]));
}

export interface SettlementFigure {
  day_idx: number;
  /** The card's kind; null for a card sold for this cinema itself. */
  kind_id: string | null;
  kind_name: string | null;
  tickets: number;
  redemptions: number;
  /** Tickets × the card's unit price. */
  fen: number;
}

/** The cinema's standing (not undone) redemptions, by day and by the redeemed card's kind. */
export async function settlementByDay(
  db: Executor,
  cinemaId: string,
  bounds: readonly number[],
): Promise<SettlementFigure[]> {
  const idx = dayIndex('r.at', bounds);
  const rows = await db
    .selectFrom('redemptions as r')
    .innerJoin('cards as c', 'c.card_no', 'r.card_no')
    .leftJoin('kinds as k', 'k.kind_id', 'c.kind_id')
    .select((eb) => [
      idx.as('day_idx'),
      'c.kind_id',
      'k.kind_name',
      eb.fn.sum<number>('r.count').as('tickets'),
      eb.fn.countAll<number>().as('redemptions'),
      eb.fn.sum<number>(sql`${sql.ref('r.count')} * ${sql.ref('c.price_fen')}`).as('fen'),
    ])
    .where('r.cinema_id', '=', cinemaId)
    .where('r.undone_at', 'is', null)
    .where('r.at', '>=', first(bounds))
    .where('r.at', '<', last(bounds))
    .groupBy([idx, 'c.kind_id', 'k.kind_name'])
    .execute();
  return rows.map((r) => ({
    day_idx: Number(r.day_idx),
    kind_id: r.kind_id,
    kind_name: r.kind_name,
    tickets: Number(r.tickets ?? 0),
    redemptions: Number(r.redemptions),
    fen: Number(r.fen ?? 0),
  }));
}

export async function findPartnerName(db: Executor, partnerId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('partners')
    .select('name')
    .where('partner_id', '=', partnerId)
    .executeTakeFirst();
  return row?.name;
}

export interface StatementEntryRow {
  partner_id: string;
  card_no: string;
  order_no: string | null;
  cinema_id: string | null;
  kind_id: string | null;
  cinema_name: string | null;
  kind_name: string | null;
  count: number;
  price_fen: number;
  total_fen: number;
  /** paid_at for an activation, banned_at for a void. */
  at: number;
}

/**
 * The partner's (or, without one, every partner's) activations (paid in [from, to)) or voids
 * (banned in [from, to) after payment), oldest first.
 */
export async function listStatementEntries(
  db: Executor,
  kind: 'activation' | 'void',
  partnerId: string | undefined,
  from: number,
  to: number,
): Promise<StatementEntryRow[]> {
  const column = kind === 'activation' ? 'c.paid_at' : 'c.banned_at';
  let q = db
    .selectFrom('cards as c')
    .leftJoin('cinemas as ci', 'ci.cinema_id', 'c.cinema_id')
    .leftJoin('kinds as k', 'k.kind_id', 'c.kind_id')
    .select([
      'c.partner_id',
      'c.card_no',
      'c.order_no',
      'c.cinema_id',
      'c.kind_id',
      'ci.cinema_name',
      'k.kind_name',
      'c.count',
      'c.price_fen',
      'c.total_fen',
      `${column} as at`,
    ])
    .where(column, '>=', from)
    .where(column, '<', to);
  if (partnerId !== undefined) q = q.where('c.partner_id', '=', partnerId);
  if (kind === 'void') q = q.where('c.paid_at', 'is not', null);
  const rows = await q.orderBy(column).orderBy('c.card_no').execute();
  return rows.map((r) => ({ ...r, at: Number(r.at) }));
}
