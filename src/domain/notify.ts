import { randomUUID } from 'node:crypto';
import {
  findCallback,
  insertNotifyEvent,
  latestCardEventSeq,
  type NotifyEventRow,
} from '../db/notify.repository.js';
import type { CardStatus, NotifyEventType, NotifyStatus } from '../db/schema.js';
import type { Executor } from '../db/tx.js';
import { md5Hex } from './sign.js';
import { formatYmdHis } from './time.js';
import { timeOrderedId } from './time-ordered-id.js';

/*
 * Partner notify: when a card is redeemed (or a redemption undone), expires or is banned, and
 * its partner has a callback URL at that moment, an event row is written in the transaction
 * that changed the card; the notify outbox worker POSTs it to the partner's callback URL.
 *
 * On the wire (application/x-www-form-urlencoded, UTF-8), in this order:
 *   partner_id, sec_id, event_id, event_type, card_no, seq, status, used_count, remaining,
 *   occurred_at, timestamp, hashcode
 * hashcode = md5(values of every parameter above but hashcode, in that order + md5key), lower-
 * case hex: the contract's `full` signing rule, with the md5key of `sec_id`, the partner's oldest
 * active security config at the time of sending. `event_id` is stable across retries (the
 * partner drops duplicates by it); `seq` increases with every change of the card, so a partner
 * applies an event only when its seq is above the last one it applied for that card (retries
 * may deliver events out of order). `occurred_at` and `timestamp` (the time of this attempt)
 * are YmdHis in the platform time zone.
 */

export const NOTIFY_PARAMS = [
  'partner_id',
  'sec_id',
  'event_id',
  'event_type',
  'card_no',
  'seq',
  'status',
  'used_count',
  'remaining',
  'occurred_at',
  'timestamp',
] as const;

export type NotifyParam = (typeof NOTIFY_PARAMS)[number];

export const NOTIFY_EVENT_TYPES: readonly NotifyEventType[] = [
  'redeemed',
  'redemption_undone',
  'expired',
  'banned',
];

/** The card's state an event reports, stored as the event's payload. */
export interface NotifyPayload {
  /** The card ledger's sequence number of the change. */
  seq: number;
  status: CardStatus;
  used_count: number;
  remaining: number;
  /** Epoch ms. */
  occurred_at: number;
}

/** The card after the change, as the service that changed it knows it. */
export interface ChangedCard {
  card_no: string;
  partner_id: string;
  /** The status the partner's `status` call would show now. */
  status: CardStatus;
  count: number;
  used_count: number;
}

/**
 * Records a notify event for the card's partner in the caller's transaction, after the change
 * and its ledger entry were written. Returns the event id, or null when the partner has no
 * callback URL (then nothing is recorded).
 */
export async function recordNotifyEvent(
  tx: Executor,
  type: NotifyEventType,
  card: ChangedCard,
  now: number,
): Promise<string | null> {
  if (!(await findCallback(tx, card.partner_id))) return null;
  const payload: NotifyPayload = {
    seq: await latestCardEventSeq(tx, card.card_no),
    status: card.status,
    used_count: card.used_count,
    remaining: card.count - card.used_count,
    occurred_at: now,
  };
  const eventId = timeOrderedId(now);
  await insertNotifyEvent(tx, {
    event_id: eventId,
    partner_id: card.partner_id,
    card_no: card.card_no,
    type,
    payload: JSON.stringify(payload),
    status: 'queued',
    attempts: 0,
    next_attempt_at: now,
    locked_until: 0,
    last_error: null,
    last_status: null,
    created_at: now,
    delivered_at: null,
  });
  return eventId;
}

export function parsePayload(json: string): NotifyPayload {
  const v = JSON.parse(json) as Partial<NotifyPayload>;
  return {
    seq: Number(v.seq ?? 0),
    status: (v.status ?? 'active') as CardStatus,
    used_count: Number(v.used_count ?? 0),
    remaining: Number(v.remaining ?? 0),
    occurred_at: Number(v.occurred_at ?? 0),
  };
}

/** md5 of the values in NOTIFY_PARAMS order followed by the md5key. */
export function signNotify(params: Readonly<Record<NotifyParam, string>>, md5key: string): string {
  let s = '';
  for (const name of NOTIFY_PARAMS) s += params[name];
  return md5Hex(s + md5key);
}

/** An event as delivered: a stored one, or a `test` event sent once on request (never stored). */
export type NotifyDelivery = Pick<NotifyEventRow, 'event_id' | 'partner_id' | 'card_no' | 'payload'> & {
  type: NotifyEventType | 'test';
};

/** The card number of a `test` event: no card's. */
export const TEST_EVENT_CARD_NO = '0000000000000000';

/** A `test` event for the partner: it only shows the channel what a signed callback looks like. */
export function testEvent(partnerId: string, now: number): NotifyDelivery {
  const payload: NotifyPayload = { seq: 0, status: 'active', used_count: 0, remaining: 0, occurred_at: now };
  return {
    event_id: `test-${randomUUID()}`,
    partner_id: partnerId,
    card_no: TEST_EVENT_CARD_NO,
    type: 'test',
    payload: JSON.stringify(payload),
  };
}

/** What came of sending a test event. */
export interface TestDelivery {
  eventId: string;
  /** The callback URL it went to; null when the partner has none. */
  url: string | null;
  /** The answer's HTTP status; null when none came. */
  httpStatus: number | null;
  /** Why it did not count as delivered (no 2xx, refused address, timeout…); null when delivered. */
  error: string | null;
}

/** The signed form of one delivery attempt, parameters in wire order, hashcode last. */
export function notifyForm(
  event: NotifyDelivery,
  key: { secId: string; md5key: string },
  now: number,
  timeZone: string,
): [string, string][] {
  const p = parsePayload(event.payload);
  const params: Record<NotifyParam, string> = {
    partner_id: event.partner_id,
    sec_id: key.secId,
    event_id: event.event_id,
    event_type: event.type,
    card_no: event.card_no,
    seq: String(p.seq),
    status: p.status,
    used_count: String(p.used_count),
    remaining: String(p.remaining),
    occurred_at: formatYmdHis(p.occurred_at, timeZone),
    timestamp: formatYmdHis(now, timeZone),
  };
  return [
    ...NOTIFY_PARAMS.map((n): [string, string] => [n, params[n]]),
    ['hashcode', signNotify(params, key.md5key)],
  ];
}

// ---- the management platform's view

export interface NotifyEventView {
  eventId: string;
  partnerId: string;
  cardNo: string;
  type: NotifyEventType;
  /** The card's state the event reports. */
  seq: number;
  cardStatus: CardStatus;
  usedCount: number;
  remaining: number;
  occurredAt: number;
  status: NotifyStatus;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  lastStatus: number | null;
  createdAt: number;
  deliveredAt: number | null;
}

export function presentNotifyEvent(e: NotifyEventRow): NotifyEventView {
  const p = parsePayload(e.payload);
  return {
    eventId: e.event_id,
    partnerId: e.partner_id,
    cardNo: e.card_no,
    type: e.type,
    seq: p.seq,
    cardStatus: p.status,
    usedCount: p.used_count,
    remaining: p.remaining,
    occurredAt: p.occurred_at,
    status: e.status,
    attempts: e.attempts,
    nextAttemptAt: e.next_attempt_at,
    lastError: e.last_error,
    lastStatus: e.last_status,
    createdAt: e.created_at,
    deliveredAt: e.delivered_at,
  };
}
