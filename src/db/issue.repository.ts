import { CARD_COLUMNS, type CardRow } from './card.repository.js';
import type { Executor } from './executor.js';
import { fixedStatement } from './fixed.js';
import { CLAIM_CONFLICT, REQUEST_COLUMNS, type RequestRow } from './request.repository.js';

/** The `created` event of a new card (its first, seq 1). */
export interface CreatedEvent {
  type: string;
  at: number;
  actor: string;
  data: string;
}

const marks = (n: number) => Array<string>(n).fill('?').join(', ');

/**
 * PostgreSQL: the request's req_id claim, the card and its `created` event as one statement, so
 * a buy is one round trip and one implicit transaction instead of five. The claim comes first
 * and gates the rest: when a twin holds the req_id (the rule of `claimRequest`)
 * nothing is written. A drawn card number already in use fails the whole statement with a unique
 * violation on `cards_pkey`, and an order number the partner already used one on
 * `cards_partner_order`; nothing is written then either.
 */
const STORE_ISSUED_CARD = fixedStatement<{ claimed: number | string }>(`with claim as (
    insert into requests (${REQUEST_COLUMNS.join(', ')}) values (${marks(REQUEST_COLUMNS.length)})
    ${CLAIM_CONFLICT}
    returning 1
  ), card as (
    insert into cards (${CARD_COLUMNS.join(', ')})
    select ${marks(CARD_COLUMNS.length)} where exists (select 1 from claim)
    returning card_no
  ), created as (
    insert into card_events (card_no, seq, type, at, actor, data)
    select card_no, 1, ?, ?, ?, ? from card
    returning 1
  )
  select count(*) as claimed from claim`);

/**
 * Stores a bought card with its request in one statement (PostgreSQL only). False when a twin
 * holds the req_id; throws a unique violation when the card number is taken (draw another).
 */
export async function storeIssuedCardOnce(
  db: Executor,
  claim: RequestRow,
  card: CardRow,
  event: CreatedEvent,
): Promise<boolean> {
  const values = [
    ...REQUEST_COLUMNS.map((c) => claim[c]),
    ...CARD_COLUMNS.map((c) => card[c]),
    event.type,
    event.at,
    event.actor,
    event.data,
  ];
  const { rows } = await STORE_ISSUED_CARD.run(db, values);
  return Number(rows[0]?.claimed ?? 0) === 1;
}

/** True when `err` is PostgreSQL's unique violation. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '23505';
}

/** True when `err` is the violation of a card number already in use. */
export function isCardNoTaken(err: unknown): boolean {
  return isUniqueViolation(err) && (err as { constraint?: unknown }).constraint === 'cards_pkey';
}
