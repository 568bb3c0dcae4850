import type { Executor } from './executor.js';
import { fixedStatement } from './fixed.js';
import { REQUEST_COLUMNS, type RequestRow } from './request.repository.js';
import { NEW_SMS_COLUMNS, type NewSmsMessage } from './sms.repository.js';

/** A ledger event to append; its seq is given by the statement. */
export interface LedgerEvent {
  type: string;
  at: number;
  actor: string;
  data: string;
}

/** The columns a payment changes on its card. */
export interface PaymentChanges {
  status: 'active';
  password: string;
  mobile: string;
  paid_at: number;
  valid_until: number;
  sms_status: 'queued';
  updated_at: number;
}

/** Everything a payment writes, decided from the card as it was read. */
export interface PaymentWrites {
  cardNo: string;
  partnerId: string;
  /** The card's `updated_at` as read: the payment is written only while it still is. */
  readUpdatedAt: number;
  /** The card must still be payable at this instant (its payment deadline after it). */
  now: number;
  changes: PaymentChanges;
  activated: LedgerEvent;
  sms: NewSmsMessage;
  smsQueued: LedgerEvent;
}

const CHANGED = [
  'status',
  'password',
  'mobile',
  'paid_at',
  'valid_until',
  'sms_status',
  'updated_at',
] as const;

const marks = (n: number) => Array<string>(n).fill('?').join(', ');

/**
 * PostgreSQL: a payment of a card as it was read, as one statement (one round trip, one
 * implicit transaction). The card changes only while it is still as read (inactive, within its
 * deadline, `updated_at` unchanged: a concurrent payment leaves this update nothing to change
 * once it commits); only then is the req_id claimed, and only with the claim are the ledger
 * events and the SMS written. The claim is a plain insert: any row already holding the req_id
 * (a twin's answer, another request, or a binding this request may take) fails the whole
 * statement with a unique violation on `requests_pkey`, undoing the card's update, since one
 * statement can neither undo its own change nor let a later part gate an earlier one. The two
 * events take the card's next two seqs; an event appended meanwhile fails it on `card_events_pk`.
 */
const STORE_PAYMENT = fixedStatement<{ paid: number | string }>(`with card as (
    update cards set ${CHANGED.map((c) => `${c} = ?`).join(', ')}
    where card_no = ? and partner_id = ? and status = 'inactive' and pay_deadline > ? and updated_at = ?
    returning card_no
  ), claim as (
    insert into requests (${REQUEST_COLUMNS.join(', ')})
    select ${marks(REQUEST_COLUMNS.length)} from card
    returning 1
  ), ledger as (
    select coalesce(max(seq), 0) as seq from card_events where card_no = ?
  ), activated as (
    insert into card_events (card_no, seq, type, at, actor, data)
    select card.card_no, ledger.seq + 1, ?, ?, ?, ? from card, claim, ledger
    returning 1
  ), sms as (
    insert into sms_messages (${NEW_SMS_COLUMNS.join(', ')})
    select ${marks(NEW_SMS_COLUMNS.length)} from claim
    returning 1
  ), queued as (
    insert into card_events (card_no, seq, type, at, actor, data)
    select card.card_no, ledger.seq + 2, ?, ?, ?, ? from card, claim, ledger
    returning 1
  )
  select count(*) as paid from claim`);

const eventValues = (e: LedgerEvent) => [e.type, e.at, e.actor, e.data];

/**
 * Stores a payment with its request's claim in one statement (PostgreSQL only). False, with
 * nothing written, when the card is no longer as read; throws a unique violation, with nothing
 * written, when the req_id is held already (or an event took the seq meanwhile).
 */
export async function storePaymentOnce(db: Executor, claim: RequestRow, p: PaymentWrites): Promise<boolean> {
  const values = [
    ...CHANGED.map((c) => p.changes[c]),
    p.cardNo,
    p.partnerId,
    p.now,
    p.readUpdatedAt,
    ...REQUEST_COLUMNS.map((c) => claim[c]),
    p.cardNo,
    ...eventValues(p.activated),
    ...NEW_SMS_COLUMNS.map((c) => p.sms[c]),
    ...eventValues(p.smsQueued),
  ];
  const { rows } = await STORE_PAYMENT.run(db, values);
  return Number(rows[0]?.paid ?? 0) === 1;
}
