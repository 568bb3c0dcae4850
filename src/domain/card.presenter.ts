import type { CardRow } from '../db/card.repository.js';
import type { CardStatus } from '../db/schema.js';
import { formatYuan } from './money.js';
import { maskMobile } from './sms-template.js';
import { formatOptional, formatYmdHis } from './time.js';
import type { WireObject } from './wire.js';

/** The state a card is in at `now`, counting deadlines that passed before the sweep recorded them. */
export function effectiveStatus(card: CardRow, now: number): CardStatus {
  if (card.status === 'inactive' && now >= card.pay_deadline) return 'expired';
  if (card.status === 'active' && card.valid_until !== null && now >= card.valid_until) return 'expired';
  return card.status;
}

/** `data.card` of buyByCinema / buyByKind. */
export function presentBoughtCard(card: CardRow, tz: string): WireObject {
  return {
    card_no: card.card_no,
    cinema_id: card.cinema_id ?? '',
    kind_id: card.kind_id ?? '',
    count: String(card.count),
    price: formatYuan(card.price_fen),
    total_price: formatYuan(card.total_fen),
    status: card.status,
    created_at: formatYmdHis(card.created_at, tz),
    pay_deadline: formatYmdHis(card.pay_deadline, tz),
  };
}

/** `data.card` of payByCard. */
export function presentPaidCard(card: CardRow, tz: string): WireObject {
  return {
    card_no: card.card_no,
    status: card.status,
    count: String(card.count),
    total_price: formatYuan(card.total_fen),
    password: card.password ?? '',
    paid_at: formatOptional(card.paid_at, tz),
    valid_until: formatOptional(card.valid_until, tz),
    sms_status: card.sms_status,
  };
}

/** `data.card` of status, ban and resendSms. The password is never shown here. */
export function presentCardStatus(card: CardRow, now: number, tz: string): WireObject {
  return {
    card_no: card.card_no,
    cinema_id: card.cinema_id ?? '',
    kind_id: card.kind_id ?? '',
    order_no: card.order_no ?? '',
    status: effectiveStatus(card, now),
    count: String(card.count),
    used_count: String(card.used_count),
    remaining: String(card.count - card.used_count),
    price: formatYuan(card.price_fen),
    total_price: formatYuan(card.total_fen),
    mobile: maskMobile(card.mobile),
    created_at: formatYmdHis(card.created_at, tz),
    pay_deadline: formatYmdHis(card.pay_deadline, tz),
    paid_at: formatOptional(card.paid_at, tz),
    valid_until: formatOptional(card.valid_until, tz),
    banned_at: formatOptional(card.banned_at, tz),
    sms_status: card.sms_status,
  };
}
