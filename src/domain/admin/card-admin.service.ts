import { recordAudit } from '../../db/audit.repository.js';
import {
  listAuditFor,
  listCardSms,
  listSms,
  countOpenCardsAt,
  findCardWithTarget,
  searchCards,
} from '../../db/card-admin.repository.js';
import { findCard, listCardEvents, type CardRow } from '../../db/card.repository.js';
import type { Db } from '../../db/database.js';
import { listCardRedemptions } from '../../db/redemption.repository.js';
import type { CardStatus, SmsMessageTable } from '../../db/schema.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import type { CardService } from '../card.service.js';
import type { Clock } from '../clock.js';
import type { Registry } from '../registry.js';
import { maskMobile } from '../sms-template.js';
import type { Actor } from './audit.service.js';
import { addDays, requireDay } from '../dates.js';
import { AppError, badInput, notFound } from '../../errors.js';
import { banCard, type DeskChange, freezeCard, unfreezeCard, unlockCardPassword } from '../card-commands.js';
import { readPasswordLock } from '../password-lock.js';
import { CONTROL } from '../validate.js';
import { currentSettings } from './settings.service.js';
import {
  parseObject,
  viewAudit,
  viewCard,
  viewSms,
  type AdminCardView,
  type CardDetail,
  type LockView,
  type SmsView,
} from './card-views.js';

export type {
  AdminCardView,
  AuditView,
  CardDetail,
  CardRedemptionView,
  LedgerEvent,
  LockView,
  SmsView,
} from './card-views.js';

export const CARD_STATUSES: readonly CardStatus[] = ['inactive', 'active', 'used', 'expired', 'banned'];
export const SMS_STATES: readonly SmsMessageTable['status'][] = ['queued', 'sent', 'failed'];
const MAX_PAGE = 500;
const DEFAULT_PAGE = 50;
const MAX_REASON = 100;
const MAX_RESEND_REASON = 200;
/** The most cards one export holds. */
export const EXPORT_MAX = 10_000;

/** A support-desk command's outcome: the card and its password lock as they are now. */
export interface DeskResult {
  card: AdminCardView;
  lock: LockView;
  /** False when the card already was so (nothing recorded). */
  changed: boolean;
}

export interface CardSearch {
  /** 16 digits: that card; fewer: card numbers starting with them. Spaces and dashes are ignored. */
  cardNo?: string;
  partnerId?: string;
  orderNo?: string;
  /** The full mobile number the card was paid (or last resent) to, or its last 4 digits. */
  mobile?: string;
  /** Cards valid at this cinema: bought for it, or of a kind that includes it. */
  cinemaId?: string;
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
    // A number pasted from an SMS or a spreadsheet comes grouped: "6000 1234 5678 9012".
    const typedNo = typeof q.cardNo === 'string' ? q.cardNo.replace(/[\s-]/g, '') : '';
    if (typedNo !== '') {
      if (!/^[0-9]{1,16}$/.test(typedNo)) throw badInput('card_no must be up to 16 digits', 'card.card_no');
      if (typedNo.length === 16) cardNo = typedNo;
      else cardNoPrefix = typedNo;
    }
    const partnerId = optional(q.partnerId, /^[A-Z]{2}[0-9]{6}$/, 'partner_id');
    const orderNo = optional(q.orderNo, /^[A-Za-z0-9_-]{1,32}$/, 'order_no');
    const typedMobile = typeof q.mobile === 'string' ? q.mobile.replace(/\s/g, '') : '';
    let mobile: string | undefined;
    let mobileSuffix: string | undefined;
    if (/^[0-9]{4}$/.test(typedMobile)) mobileSuffix = typedMobile;
    else if (/^1[3-9][0-9]{9}$/.test(typedMobile)) mobile = typedMobile;
    else if (typedMobile !== '') {
      throw badInput('mobile must be a whole mobile number or its last 4 digits', 'card.search_mobile', {
        field: 'mobile',
      });
    }
    const cinemaId = optional(q.cinemaId, /^[A-Za-z0-9_-]{1,32}$/, 'cinema_id');
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
      mobileSuffix,
      cinemaId,
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
    const card = await findCardWithTarget(db, cardNo);
    if (!card) throw notFound('card', cardNo);
    const now = this.deps.clock.now();
    const [events, sms, redemptions, audit, lock] = await Promise.all([
      listCardEvents(db, cardNo),
      listCardSms(db, cardNo),
      listCardRedemptions(db, cardNo),
      listAuditFor(db, 'card', cardNo),
      readPasswordLock(db, card, now),
    ]);
    return {
      card: viewCard(card, now),
      lock: { wrong_tries: lock.wrongTries, tries_left: lock.triesLeft, locked_until: lock.lockedUntil },
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
        cinema_name: r.cinema_name ?? r.cinema_id,
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
   * Freezes an active card's remaining tickets (e.g. after its SMS was stolen): no cinema can
   * redeem them until it is unfrozen; the card stays `active` for its partner. Audited; freezing
   * a frozen card changes nothing.
   */
  freeze(actor: string, cardNo: string, reason: string): Promise<DeskResult> {
    return this.desk('card.freeze', actor, cardNo, reason, async (tx, cmd) => {
      const { card, changed, from } = await freezeCard(tx, cmd);
      const before = { status: from, frozen: false, remaining: card.count - card.used_count };
      return { card, changed, before, after: { frozen: true, reason: cmd.reason } };
    });
  }

  /** Lets cinemas redeem a frozen card again. Audited; an unfrozen card changes nothing. */
  unfreeze(actor: string, cardNo: string, reason: string): Promise<DeskResult> {
    return this.desk('card.unfreeze', actor, cardNo, reason, async (tx, cmd) => {
      const { card, changed } = await unfreezeCard(tx, cmd);
      return { card, changed, before: { frozen: true }, after: { frozen: false, reason: cmd.reason } };
    });
  }

  /**
   * Clears the card's wrong-password count, which lifts a lock. Audited with how many wrong
   * passwords counted and until when the card was locked; a card with none changes nothing.
   */
  unlock(actor: string, cardNo: string, reason: string): Promise<DeskResult> {
    return this.desk('card.unlock', actor, cardNo, reason, async (tx, cmd) => {
      const { card, cleared, lockedUntil } = await unlockCardPassword(tx, cmd);
      return {
        card,
        changed: cleared > 0,
        before: { wrong_tries: cleared, locked_until: lockedUntil },
        after: { wrong_tries: 0, reason: cmd.reason },
      };
    });
  }

  /** One support-desk command in a transaction, audited when it changed the card. */
  private async desk(
    action: string,
    actor: string,
    cardNo: string,
    reason: string,
    run: (
      tx: Executor,
      cmd: DeskChange,
    ) => Promise<{ card: CardRow; changed: boolean; before: object; after: object }>,
  ): Promise<DeskResult> {
    requireCardNo(cardNo);
    const why = typeof reason === 'string' ? reason.trim() : '';
    if (why === '' || [...why].length > MAX_REASON || CONTROL.test(why)) throw reasonRequired(MAX_REASON);
    const now = this.deps.clock.now();
    const done = await inTransaction(this.deps.db, async (tx) => {
      const r = await run(tx, { cardNo, actor, reason: why, now });
      if (r.changed) {
        await recordAudit(tx, {
          at: now,
          actor,
          action,
          entityType: 'card',
          entityId: cardNo,
          before: r.before,
          after: r.after,
        });
      }
      return r;
    });
    const detail = await this.show(cardNo);
    return { card: detail.card, lock: detail.lock, changed: done.changed };
  }

  /**
   * Every card of a search (newest first) for an export, at most `max`; refuses a search with
   * more so that a file never silently lacks cards.
   */
  async searchAll(q: Omit<CardSearch, 'limit' | 'offset'>, max = EXPORT_MAX): Promise<AdminCardView[]> {
    const first = await this.search({ ...q, limit: MAX_PAGE, offset: 0 });
    if (first.total > max) {
      throw badInput(
        `the search matches ${first.total} cards; export at most ${max}`,
        'card.export_too_many',
        {
          total: first.total,
          max,
        },
      );
    }
    const items = [...first.items];
    while (items.length < first.total) {
      const next = await this.search({ ...q, limit: MAX_PAGE, offset: items.length });
      if (next.items.length === 0) break;
      items.push(...next.items);
    }
    return items;
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

  /**
   * Cards with tickets left at a cinema (what deactivating it would leave behind): its own paid
   * cards, paid kind cards that include it, and its unpaid cards still within their deadline.
   */
  openCardsAt(cinemaId: string): Promise<{ cinema: number; kind: number; unpaid: number }> {
    return countOpenCardsAt(this.deps.db.kysely, cinemaId, this.deps.clock.now());
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
