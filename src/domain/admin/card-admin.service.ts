import { recordAudit } from '../../db/audit.repository.js';
import {
  listAuditFor,
  listCardSms,
  listSms,
  searchCards,
  type AuditRow,
} from '../../db/card-admin.repository.js';
import { findCard, listCardEvents, type CardRow } from '../../db/card.repository.js';
import type { Db } from '../../db/database.js';
import { listCardRedemptions } from '../../db/redemption.repository.js';
import type { CardStatus, SmsMessageTable, SmsStatus } from '../../db/schema.js';
import type { SmsMessageRow } from '../../db/sms.repository.js';
import { inTransaction } from '../../db/tx.js';
import { effectiveStatus } from '../card.presenter.js';
import type { CardService } from '../card.service.js';
import type { Clock } from '../clock.js';
import type { Registry } from '../registry.js';
import { maskMobile } from '../sms-template.js';
import type { Actor } from './audit.service.js';
import { addDays, requireDay } from '../dates.js';
import { AppError, badInput, notFound } from '../../errors.js';
import { banCard } from '../card-commands.js';
import { CONTROL } from '../validate.js';
import { currentSettings } from './settings.service.js';

export const CARD_STATUSES: readonly CardStatus[] = ['inactive', 'active', 'used', 'expired', 'banned'];
export const SMS_STATES: readonly SmsMessageTable['status'][] = ['queued', 'sent', 'failed'];
const MAX_PAGE = 500;
const DEFAULT_PAGE = 50;
const MAX_REASON = 100;
const MAX_RESEND_REASON = 200;

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

export interface CardDetail {
  card: AdminCardView;
  events: LedgerEvent[];
  sms: SmsView[];
  redemptions: CardRedemptionView[];
  audit: AuditView[];
}

export interface CardSearch {
  /** 16 digits: that card; fewer: card numbers starting with them. */
  cardNo?: string;
  partnerId?: string;
  orderNo?: string;
  /** The full mobile number the card was paid (or last resent) to. */
  mobile?: string;
  status?: CardStatus;
  /** Created on or after this day (`YYYY-MM-DD`, platform time zone). */
  since?: string;
  /** Created on or before this day (inclusive). */
  until?: string;
  limit?: number;
  offset?: number;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface SmsLogQuery {
  status?: SmsMessageTable['status'];
  cardNo?: string;
  limit?: number;
  offset?: number;
}

/** A resend; a `mobile` other than the card's sends its password to a new number. */
export interface ResendOptions {
  /** Send to this number from now on. */
  mobile?: string;
  /** Why the SMS goes to a new number (1-200 characters); required for a new number. */
  reason?: string;
  /** The operator saw the card and the new number and confirmed; required for a new number. */
  confirmed?: boolean;
}

export interface CardAdminDeps {
  db: Db;
  clock: Clock;
  timeZone: string;
  /** The channel card service; resending reuses it so both paths queue the same SMS. */
  cards: CardService;
  registry: Registry;
}

/** Card administration for operators: search, the card page, ban, resend SMS, the SMS log. */
export class CardAdminService {
  constructor(private readonly deps: CardAdminDeps) {}

  async search(q: CardSearch = {}): Promise<Page<AdminCardView>> {
    const tz = this.deps.timeZone;
    const now = this.deps.clock.now();
    const { limit, offset } = paging(q);
    let cardNo: string | undefined;
    let cardNoPrefix: string | undefined;
    if (q.cardNo !== undefined && q.cardNo !== '') {
      if (!/^[0-9]{1,16}$/.test(q.cardNo)) throw badInput('card_no must be up to 16 digits', 'card.card_no');
      if (q.cardNo.length === 16) cardNo = q.cardNo;
      else cardNoPrefix = q.cardNo;
    }
    const partnerId = optional(q.partnerId, /^[A-Z]{2}[0-9]{6}$/, 'partner_id');
    const orderNo = optional(q.orderNo, /^[A-Za-z0-9_-]{1,32}$/, 'order_no');
    const mobile = optional(q.mobile, /^1[3-9][0-9]{9}$/, 'mobile');
    if (q.status !== undefined && !CARD_STATUSES.includes(q.status)) {
      throw oneOfRefused('status', CARD_STATUSES);
    }
    const createdFrom = q.since ? requireDay(q.since, tz) : undefined;
    let createdTo: number | undefined;
    if (q.until) {
      requireDay(q.until, tz);
      createdTo = requireDay(addDays(q.until, 1), tz);
    }
    const { rows, total } = await searchCards(this.deps.db.kysely, {
      cardNo,
      cardNoPrefix,
      partnerId,
      orderNo,
      mobile,
      status: q.status,
      createdFrom,
      createdTo,
      now,
      limit,
      offset,
    });
    return { items: rows.map((r) => viewCard(r, now)), total, limit, offset };
  }

  /** The card page: the card, its whole ledger, its SMS with delivery state, redemptions and audit. */
  async show(cardNo: string): Promise<CardDetail> {
    requireCardNo(cardNo);
    const db = this.deps.db.kysely;
    const card = await findCard(db, cardNo);
    if (!card) throw notFound('card', cardNo);
    const [events, sms, redemptions, audit] = await Promise.all([
      listCardEvents(db, cardNo),
      listCardSms(db, cardNo),
      listCardRedemptions(db, cardNo),
      listAuditFor(db, 'card', cardNo),
    ]);
    return {
      card: viewCard(card, this.deps.clock.now()),
      events: events.map((e) => ({
        seq: e.seq,
        type: e.type,
        at: e.at,
        actor: e.actor,
        data: parseObject(e.data),
      })),
      sms: sms.map(viewSms),
      redemptions: redemptions.map((r) => ({
        redemption_id: r.redemption_id,
        cinema_id: r.cinema_id,
        count: r.count,
        user_id: r.user_id,
        username: r.username,
        at: r.at,
        undone_at: r.undone_at,
        undone_by: r.undone_by,
      })),
      audit: audit.map(viewAudit),
    };
  }

  /**
   * Bans a card as the partner API would (inactive, or active with no ticket redeemed), for an
   * operator: the ledger and the audit log name `actor` (`user:NAME` or `cli:NAME`). Banning a
   * banned card again changes nothing.
   */
  async ban(
    actor: string,
    cardNo: string,
    reason: string,
  ): Promise<{ card: AdminCardView; changed: boolean }> {
    requireCardNo(cardNo);
    const why = typeof reason === 'string' ? reason.trim() : '';
    if (why === '' || why.length > MAX_REASON) {
      throw reasonRequired(MAX_REASON);
    }
    const now = this.deps.clock.now();
    return inTransaction(this.deps.db, async (tx) => {
      const { card, changed, from } = await banCard(tx, { cardNo, actor, reason: why, now });
      if (changed) {
        await recordAudit(tx, {
          at: now,
          actor,
          action: 'card.ban',
          entityType: 'card',
          entityId: cardNo,
          before: { status: from, used_count: card.used_count },
          after: { status: 'banned', reason: why },
        });
      }
      return { card: viewCard(card, now), changed };
    });
  }

  /**
   * Queues the card's SMS again (to `mobile` if given) through the channel card service, so the
   * same rules apply: active cards only, at most 5 resends a card a day. Sending it to a new
   * number hands the card's password to whoever holds that number, so that takes a reason and a
   * confirmation, may be kept to admins (settings), and is audited on its own.
   */
  async resendSms(
    by: Actor,
    cardNo: string,
    opts: ResendOptions = {},
  ): Promise<{ card: AdminCardView; message_id: string }> {
    requireCardNo(cardNo);
    const to = optional(opts.mobile, /^1[3-9][0-9]{9}$/, 'mobile');
    const db = this.deps.db;
    const found = await findCard(db.kysely, cardNo);
    if (!found) throw notFound('card', cardNo);
    const newMobile = to !== undefined && to !== found.mobile;
    const reason = newMobile ? await this.newMobileReason(by, opts) : undefined;
    const snap = await this.deps.registry.current();
    const partner = snap.partners.get(found.partner_id);
    if (!partner) throw notFound('partner', found.partner_id);
    const now = this.deps.clock.now();
    return inTransaction(db, async (tx) => {
      await this.deps.cards.resendSms(tx, partner, cardNo, to, snap);
      const card = (await findCard(tx, cardNo))!;
      // The ledger's order is exact (two messages can share a millisecond).
      const queued = (await listCardEvents(tx, cardNo)).filter((e) => e.type === 'sms_queued').at(-1);
      const message = { id: String(parseObject(queued?.data ?? '{}').message_id ?? '') };
      await recordAudit(tx, {
        at: now,
        actor: by.actor,
        action: newMobile ? 'card.resend_sms_new_mobile' : 'card.resend_sms',
        entityType: 'card',
        entityId: cardNo,
        before: { mobile: maskMobile(found.mobile) },
        after: { mobile: maskMobile(card.mobile), message_id: message.id, ...(reason ? { reason } : {}) },
      });
      return { card: viewCard(card, now), message_id: message.id };
    });
  }

  /** The checks of a resend to a new number, in the order a form meets them; returns the reason. */
  private async newMobileReason(by: Actor, opts: ResendOptions): Promise<string> {
    const { resendNewMobile } = await currentSettings(this.deps.db.kysely);
    if (resendNewMobile === 'admins' && by.role !== 'admin') {
      throw new AppError('admins_only', "only admins may resend a card's SMS to a new mobile", {
        id: 'card.resend_admins_only',
      });
    }
    if (opts.confirmed !== true) {
      throw new AppError('confirmation_required', 'confirm sending the SMS to the new mobile', {
        id: 'card.resend_confirm',
      });
    }
    const reason = typeof opts.reason === 'string' ? opts.reason.trim() : '';
    if (reason.length === 0 || [...reason].length > MAX_RESEND_REASON || CONTROL.test(reason)) {
      throw new AppError('reason_required', `a reason of 1 to ${MAX_RESEND_REASON} characters is required`, {
        id: 'reason.required',
        params: { max: MAX_RESEND_REASON },
      });
    }
    return reason;
  }

  /** SMS messages, newest first, optionally of one state or one card. */
  async smsLog(q: SmsLogQuery = {}): Promise<Page<SmsView>> {
    const { limit, offset } = paging(q);
    if (q.status !== undefined && !SMS_STATES.includes(q.status)) {
      throw oneOfRefused('status', SMS_STATES);
    }
    if (q.cardNo !== undefined) requireCardNo(q.cardNo);
    const { rows, total } = await listSms(this.deps.db.kysely, {
      status: q.status,
      cardNo: q.cardNo,
      limit,
      offset,
    });
    return { items: rows.map(viewSms), total, limit, offset };
  }
}

function viewCard(card: CardRow, now: number): AdminCardView {
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
  };
}

function viewSms(m: SmsMessageRow): SmsView {
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

function viewAudit(a: AuditRow): AuditView {
  return {
    at: a.at,
    actor: a.actor,
    action: a.action,
    before: a.before === null ? null : parseObject(a.before),
    after: a.after === null ? null : parseObject(a.after),
  };
}

function parseObject(json: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { raw: json };
  }
}

function requireCardNo(cardNo: string): void {
  if (typeof cardNo !== 'string' || !/^[0-9]{16}$/.test(cardNo)) {
    throw badInput('card_no must be 16 digits', 'card.card_no');
  }
}

function optional(value: string | undefined, re: RegExp, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!re.test(value)) {
    throw badInput(`${name} is malformed: ${value.slice(0, 40)}`, `field.malformed`, { field: name });
  }
  return value;
}

function paging(q: { limit?: number; offset?: number }): { limit: number; offset: number } {
  const limit = q.limit ?? DEFAULT_PAGE;
  const offset = q.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new AppError('invalid', `limit must be from 1 to ${MAX_PAGE}`);
  }
  if (!Number.isInteger(offset) || offset < 0) throw new AppError('invalid', 'offset must be 0 or more');
  return { limit, offset };
}

const reasonRequired = (max: number) =>
  badInput(`a reason of 1 to ${max} characters is required`, 'reason.required', { max });

/** Not a form field of its own (a filter), so no `field`. */
const oneOfRefused = (name: string, options: readonly string[]) =>
  badInput(`${name} must be one of ${options.join(', ')}`, 'field.one_of', {
    field: name,
    options: options.join(', '),
  });
