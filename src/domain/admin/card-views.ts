import type { AuditRow } from '../../db/card-admin.repository.js';
import type { CardRow } from '../../db/card.repository.js';
import type { CardStatus, SmsStatus } from '../../db/schema.js';
import type { SmsMessageRow } from '../../db/sms.repository.js';
import { effectiveStatus } from '../card.presenter.js';

/** What operators see of cards: the shapes of the card pages, the admin API and the CLI. */

/** A card as operators see it: everything but the password; times epoch ms, money fen. */
export interface AdminCardView {
  card_no: string;
  partner_id: string;
  cinema_id: string | null;
  kind_id: string | null;
  order_no: string | null;
  /** Effective status now (deadlines that passed count even before the sweep records them). */
  status: CardStatus;
  count: number;
  used_count: number;
  remaining: number;
  price_fen: number;
  total_fen: number;
  mobile: string | null;
  created_at: number;
  pay_deadline: number;
  paid_at: number | null;
  valid_until: number | null;
  banned_at: number | null;
  ban_reason: string | null;
  expired_at: number | null;
  sms_status: SmsStatus;
  updated_at: number;
  /** The cinema's name (a cinema card) or the kind's (a kind card); the id when it is gone. */
  target_name: string;
  /** When customer service froze the remaining tickets; null when not frozen. */
  frozen_at: number | null;
  frozen_reason: string | null;
}

export interface LedgerEvent {
  seq: number;
  type: string;
  at: number;
  actor: string;
  data: Record<string, unknown>;
}

/** An SMS without its text (which holds the card's password). */
export interface SmsView {
  id: string;
  card_no: string;
  mobile: string;
  reason: 'activation' | 'resend';
  status: 'queued' | 'sent' | 'failed';
  attempts: number;
  last_error: string | null;
  created_at: number;
  next_attempt_at: number;
  sent_at: number | null;
  /** The provider that took it (or refused it for good), and its code when it refused. */
  provider: string | null;
  provider_code: string | null;
  /** The handset's report from the provider. */
  delivery: 'delivered' | 'undelivered' | null;
  delivery_code: string | null;
  delivered_at: number | null;
  /** A report is still being asked for. */
  receipt_pending: boolean;
}

export interface CardRedemptionView {
  redemption_id: string;
  cinema_id: string;
  cinema_name: string;
  count: number;
  user_id: string;
  username: string | null;
  at: number;
  undone_at: number | null;
  undone_by: string | null;
}

export interface AuditView {
  at: number;
  actor: string;
  action: string;
  before: unknown;
  after: unknown;
}

/** The card's wrong-password state. */
export interface LockView {
  /** Wrong passwords that count now (inside the hour, after the last reset). */
  wrong_tries: number;
  tries_left: number;
  /** Epoch ms until which the card refuses passwords; null when not locked. */
  locked_until: number | null;
}

export interface CardDetail {
  card: AdminCardView;
  lock: LockView;
  events: LedgerEvent[];
  sms: SmsView[];
  redemptions: CardRedemptionView[];
  audit: AuditView[];
}

export function viewCard(card: CardRow & { target_name?: string | null }, now: number): AdminCardView {
  return {
    card_no: card.card_no,
    partner_id: card.partner_id,
    cinema_id: card.cinema_id,
    kind_id: card.kind_id,
    order_no: card.order_no,
    status: effectiveStatus(card, now),
    count: card.count,
    used_count: card.used_count,
    remaining: card.count - card.used_count,
    price_fen: card.price_fen,
    total_fen: card.total_fen,
    mobile: card.mobile,
    created_at: card.created_at,
    pay_deadline: card.pay_deadline,
    paid_at: card.paid_at,
    valid_until: card.valid_until,
    banned_at: card.banned_at,
    ban_reason: card.ban_reason,
    expired_at: card.expired_at,
    sms_status: card.sms_status,
    updated_at: card.updated_at,
    target_name: card.target_name ?? card.cinema_id ?? card.kind_id ?? '',
    frozen_at: card.frozen_at === null ? null : Number(card.frozen_at),
    frozen_reason: card.frozen_reason,
  };
}

export function viewSms(m: SmsMessageRow): SmsView {
  return {
    id: m.id,
    card_no: m.card_no,
    mobile: m.mobile,
    reason: m.reason,
    status: m.status,
    attempts: m.attempts,
    last_error: m.last_error,
    created_at: m.created_at,
    next_attempt_at: m.next_attempt_at,
    sent_at: m.sent_at,
    provider: m.provider,
    provider_code: m.provider_code,
    delivery: m.delivery,
    delivery_code: m.delivery_code,
    delivered_at: m.delivered_at,
    receipt_pending: m.receipt_due_at !== null,
  };
}

export function viewAudit(a: AuditRow): AuditView {
  return {
    at: a.at,
    actor: a.actor,
    action: a.action,
    before: a.before === null ? null : parseObject(a.before),
    after: a.after === null ? null : parseObject(a.after),
  };
}

export function parseObject(json: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { raw: json };
  }
}
