import { type Insertable, type Selectable, type Updateable } from 'kysely';
import type { Executor } from './executor.js';
import { fixedStatement, runUpdate } from './fixed.js';
import type { CardEventTable, CardStatus, CardTable } from './schema.js';

export type CardRow = Selectable<CardTable>;
export type CardEventRow = Selectable<CardEventTable>;

// The statements on the partner API's write path are written as plain SQL templates: the query
// builder costs several times what SQLite needs to run them (measured ~16 µs per statement).

/** Every column of `cards`, in the order the write path's statements list them. */
export const CARD_COLUMNS = [
  'card_no',
  'partner_id',
  'cinema_id',
  'kind_id',
  'order_no',
  'status',
  'count',
  'used_count',
  'price_fen',
  'total_fen',
  'password',
  'mobile',
  'created_at',
  'pay_deadline',
  'paid_at',
  'valid_until',
  'banned_at',
  'ban_reason',
  'expired_at',
  'sms_status',
  'updated_at',
] as const satisfies readonly (keyof CardTable)[];

const FIND_CARD = fixedStatement<CardRow>('select * from cards where card_no = ?');

export async function findCard(db: Executor, cardNo: string): Promise<CardRow | undefined> {
  const { rows } = await FIND_CARD.run(db, [cardNo]);
  return rows[0];
}

// The terms repeat those of the unique index cards_partner_order (migration 010) so that both
// engines use it.
const FIND_CARD_BY_ORDER = fixedStatement<CardRow>(
  `select * from cards where partner_id = ? and order_no = ? and order_no <> '' and order_superseded = 0`,
);

/** The partner's card bought under `orderNo` (its channel's order number). */
export async function findCardByOrder(
  db: Executor,
  partnerId: string,
  orderNo: string,
): Promise<CardRow | undefined> {
  const { rows } = await FIND_CARD_BY_ORDER.run(db, [partnerId, orderNo]);
  return rows[0];
}

// Without a conflict target: a taken card number and a taken (partner_id, order_no) both make
// the insert do nothing; the caller tells them apart only when it gave an order_no.
const INSERT_CARD = fixedStatement(
  `insert into cards (${CARD_COLUMNS.join(', ')}) values (${CARD_COLUMNS.map(() => '?').join(', ')})
   on conflict do nothing`,
);

/** False when the card number or the partner's order number is taken. */
export async function insertCard(db: Executor, card: CardRow): Promise<boolean> {
  const result = await INSERT_CARD.run(
    db,
    CARD_COLUMNS.map((c) => card[c]),
  );
  return Number(result.numAffectedRows ?? 0) === 1;
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
  const conditions = [`card_no = ?`, `status in (${from.map(() => '?').join(', ')})`];
  const params: unknown[] = [cardNo, ...from];
  if (extra?.usedCount !== undefined) {
    conditions.push('used_count = ?');
    params.push(extra.usedCount);
  }
  if (extra?.payDeadlineAfter !== undefined) {
    conditions.push('pay_deadline > ?');
    params.push(extra.payDeadlineAfter);
  }
  const result = await runUpdate(db, 'cards', changes, conditions.join(' and '), params);
  return Number(result.numAffectedRows ?? 0) === 1;
}

export async function updateCard(
  db: Executor,
  cardNo: string,
  changes: Updateable<CardTable>,
): Promise<void> {
  await runUpdate(db, 'cards', changes, 'card_no = ?', [cardNo]);
}

const INSERT_EVENT = fixedStatement(
  'insert into card_events (card_no, seq, type, at, actor, data) values (?, ?, ?, ?, ?, ?)',
);

const APPEND_EVENT = fixedStatement(
  `insert into card_events (card_no, seq, type, at, actor, data)
   select ?, coalesce(max(seq), 0) + 1, ?, cast(? as bigint), ?, ? from card_events where card_no = ?`,
);

/** Appends to the card's ledger; without a seq, takes the card's next number in the same statement. */
export async function appendCardEvent(
  db: Executor,
  event: Omit<Insertable<CardEventTable>, 'seq'> & { seq?: number },
): Promise<void> {
  if (event.seq !== undefined) {
    await INSERT_EVENT.run(db, [event.card_no, event.seq, event.type, event.at, event.actor, event.data]);
    return;
  }
  await APPEND_EVENT.run(db, [event.card_no, event.type, event.at, event.actor, event.data, event.card_no]);
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
