import type { ExpressionBuilder, Selectable } from 'kysely';
import type { CardRow } from './card.repository.js';
import type { AuditLogTable, CardStatus, Database, SmsMessageTable } from './schema.js';
import type { SmsMessageRow } from './sms.repository.js';
import type { Executor } from './executor.js';

export type AuditRow = Selectable<AuditLogTable>;

export interface CardSearchQuery {
  cardNo?: string;
  /** Digits the card number starts with. */
  cardNoPrefix?: string;
  partnerId?: string;
  orderNo?: string;
  mobile?: string;
  /** The last digits of the mobile (4 of them, typed by a customer on the phone). */
  mobileSuffix?: string;
  /** Cards valid at this cinema: bought for it, or of a kind that includes it. */
  cinemaId?: string;
  /** The effective status at `now` (an unpaid card past its deadline is `expired`). */
  status?: CardStatus;
  /** created_at in [createdFrom, createdTo). */
  createdFrom?: number;
  createdTo?: number;
  now: number;
  limit: number;
  offset: number;
}

/** A card with the name of what it is for (its cinema's or its kind's), null when that is gone. */
export type CardWithTarget = CardRow & { target_name: string | null };

/** The same rule as `effectiveStatus`, as a condition on stored columns. */
function effectiveStatusIs(eb: ExpressionBuilder<Database, 'cards'>, status: CardStatus, now: number) {
  switch (status) {
    case 'inactive':
      return eb.and([eb('status', '=', 'inactive'), eb('pay_deadline', '>', now)]);
    case 'active':
      return eb.and([
        eb('status', '=', 'active'),
        eb.or([eb('valid_until', 'is', null), eb('valid_until', '>', now)]),
      ]);
    case 'expired':
      return eb.or([
        eb('status', '=', 'expired'),
        eb.and([eb('status', '=', 'inactive'), eb('pay_deadline', '<=', now)]),
        eb.and([eb('status', '=', 'active'), eb('valid_until', '<=', now)]),
      ]);
    default:
      return eb('status', '=', status);
  }
}

/** Cards matching every given filter, newest first, and how many match in all. */
export async function searchCards(
  db: Executor,
  q: CardSearchQuery,
): Promise<{ rows: CardWithTarget[]; total: number }> {
  let base = db.selectFrom('cards');
  if (q.cardNo !== undefined) base = base.where('card_no', '=', q.cardNo);
  // Only digits reach here, so the pattern holds no wildcard but the trailing one.
  if (q.cardNoPrefix !== undefined) base = base.where('card_no', 'like', `${q.cardNoPrefix}%`);
  if (q.partnerId !== undefined) base = base.where('partner_id', '=', q.partnerId);
  if (q.orderNo !== undefined) base = base.where('order_no', '=', q.orderNo);
  if (q.mobile !== undefined) base = base.where('mobile', '=', q.mobile);
  if (q.mobileSuffix !== undefined) base = base.where('mobile', 'like', `%${q.mobileSuffix}`);
  if (q.cinemaId !== undefined) {
    const cinemaId = q.cinemaId;
    base = base.where((eb) =>
      eb.or([
        eb('cinema_id', '=', cinemaId),
        eb(
          'kind_id',
          'in',
          eb.selectFrom('kind_cinemas').select('kind_id').where('cinema_id', '=', cinemaId),
        ),
      ]),
    );
  }
  if (q.status !== undefined) {
    const status = q.status;
    base = base.where((eb) => effectiveStatusIs(eb, status, q.now));
  }
  if (q.createdFrom !== undefined) base = base.where('created_at', '>=', q.createdFrom);
  if (q.createdTo !== undefined) base = base.where('created_at', '<', q.createdTo);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .select((eb) => targetName(eb).as('target_name'))
      .orderBy('created_at', 'desc')
      .orderBy('card_no', 'desc')
      .limit(q.limit)
      .offset(q.offset)
      .execute(),
    base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
  ]);
  return { rows, total: Number(count?.n ?? 0) };
}

/** The card's cinema's name, or its kind's. */
function targetName(eb: ExpressionBuilder<Database, 'cards'>) {
  return eb.fn.coalesce(
    eb.selectFrom('cinemas').select('cinema_name').whereRef('cinemas.cinema_id', '=', 'cards.cinema_id'),
    eb.selectFrom('kinds').select('kind_name').whereRef('kinds.kind_id', '=', 'cards.kind_id'),
  );
}

/** One card with its target's name. */
export function findCardWithTarget(db: Executor, cardNo: string): Promise<CardWithTarget | undefined> {
  return db
    .selectFrom('cards')
    .selectAll()
    .select((eb) => targetName(eb).as('target_name'))
    .where('card_no', '=', cardNo)
    .executeTakeFirst();
}

export function listCardSms(db: Executor, cardNo: string): Promise<SmsMessageRow[]> {
  return db
    .selectFrom('sms_messages')
    .selectAll()
    .where('card_no', '=', cardNo)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export interface SmsLogQuery {
  status?: SmsMessageTable['status'];
  cardNo?: string;
  limit: number;
  offset: number;
}

/** SMS messages, newest first, and how many match in all. */
export async function listSms(
  db: Executor,
  q: SmsLogQuery,
): Promise<{ rows: SmsMessageRow[]; total: number }> {
  let base = db.selectFrom('sms_messages');
  if (q.status !== undefined) base = base.where('status', '=', q.status);
  if (q.cardNo !== undefined) base = base.where('card_no', '=', q.cardNo);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit)
      .offset(q.offset)
      .execute(),
    base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
  ]);
  return { rows, total: Number(count?.n ?? 0) };
}

export function listAuditFor(db: Executor, entityType: string, entityId: string): Promise<AuditRow[]> {
  return db
    .selectFrom('audit_log')
    .selectAll()
    .where('entity_type', '=', entityType)
    .where('entity_id', '=', entityId)
    .orderBy('at')
    .orderBy('audit_id')
    .execute();
}

/** Freezes (`frozen` given) or unfreezes the card; `at` is the change's time. */
export async function setCardFrozen(
  db: Executor,
  cardNo: string,
  frozen: { at: number; reason: string } | null,
  at = frozen?.at ?? 0,
): Promise<void> {
  await db
    .updateTable('cards')
    .set({ frozen_at: frozen?.at ?? null, frozen_reason: frozen?.reason ?? null, updated_at: at })
    .where('card_no', '=', cardNo)
    .execute();
}

/** Wrong passwords at or before `at` stop counting towards the card's lock. */
export async function setTriesResetAt(db: Executor, cardNo: string, at: number): Promise<void> {
  await db
    .updateTable('cards')
    .set({ tries_reset_at: at, updated_at: at })
    .where('card_no', '=', cardNo)
    .execute();
}

/**
 * Sold cards with tickets left at a cinema at `now`: paid and neither used, expired nor banned,
 * bought for the cinema (`cinema`) or of a kind that includes it (`kind`); and unpaid ones still
 * within their payment deadline (`unpaid`, of the cinema itself).
 */
export async function countOpenCardsAt(
  db: Executor,
  cinemaId: string,
  now: number,
): Promise<{ cinema: number; kind: number; unpaid: number }> {
  const count = async (where: (eb: ExpressionBuilder<Database, 'cards'>) => ReturnType<typeof eb.and>) => {
    const row = await db
      .selectFrom('cards')
      .select((eb) => eb.fn.countAll().as('n'))
      .where(where)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  };
  const [cinema, kind, unpaid] = await Promise.all([
    count((eb) => eb.and([eb('cinema_id', '=', cinemaId), effectiveStatusIs(eb, 'active', now)])),
    count((eb) =>
      eb.and([
        eb(
          'kind_id',
          'in',
          eb.selectFrom('kind_cinemas').select('kind_id').where('cinema_id', '=', cinemaId),
        ),
        effectiveStatusIs(eb, 'active', now),
      ]),
    ),
    count((eb) => eb.and([eb('cinema_id', '=', cinemaId), effectiveStatusIs(eb, 'inactive', now)])),
  ]);
  return { cinema, kind, unpaid };
}

/**
 * Sold cards of a kind at `now`: paid with tickets left, neither used, expired nor banned
 * (`paid`); and unpaid ones still within their payment deadline (`unpaid`).
 */
export async function countOpenCardsOfKind(
  db: Executor,
  kindId: string,
  now: number,
): Promise<{ paid: number; unpaid: number }> {
  const count = async (status: 'active' | 'inactive') => {
    const row = await db
      .selectFrom('cards')
      .select((eb) => eb.fn.countAll().as('n'))
      .where((eb) => eb.and([eb('kind_id', '=', kindId), effectiveStatusIs(eb, status, now)]))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  };
  const [paid, unpaid] = await Promise.all([count('active'), count('inactive')]);
  return { paid, unpaid };
}
