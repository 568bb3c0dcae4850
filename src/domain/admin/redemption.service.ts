import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { appendCardEvent, findCard, transitionCard, type CardRow } from '../../db/card.repository.js';
import type { Db } from '../../db/database.js';
import {
  findCinemaName,
  findKindName,
  findRedemption,
  insertPasswordFailure,
  insertRedemption,
  isCinemaOfKind,
  listCinemaRedemptions,
  lockCardRow,
  markRedemptionUndone,
  recentPasswordFailures,
} from '../../db/redemption.repository.js';
import type { CardStatus, Role } from '../../db/schema.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import { effectiveStatus } from '../card.presenter.js';
import type { Clock } from '../clock.js';
import { recordNotifyEvent } from '../notify.js';
import type { SecretBox } from '../secret-box.js';
import { formatYmdHis, parseTimestamp } from '../time.js';

// ---------------------------------------------------------------------------------------------
// Errors of redemption, card administration and reports (the other admin services use
// `AdminError` from audit.service.ts, whose codes lack these). Each code carries the HTTP status
// the management API should answer with; the message is safe to show to the signed-in user.

export const CARD_ERROR_STATUS = {
  invalid: 400,
  forbidden: 403,
  not_found: 404,
  card_state: 409,
  wrong_password: 422,
  locked: 423,
  rate_limited: 429,
  // Resending a card's SMS to a new mobile (card-admin.service.ts).
  reason_required: 400,
  confirmation_required: 400,
  admins_only: 403,
} as const;

export type CardErrorCode = keyof typeof CARD_ERROR_STATUS;

export interface CardErrorDetails {
  /** wrong_password: tries left before the card locks. */
  triesLeft?: number;
  /** locked / wrong_password (last try): epoch ms when the card takes passwords again. */
  lockedUntil?: number;
  /** rate_limited: seconds until another try can succeed. */
  retryAfterSec?: number;
}

/** A refusal whose message is safe to show to the signed-in user. */
export class CardError extends Error {
  readonly status: number;
  constructor(
    readonly code: CardErrorCode,
    message: string,
    readonly details: CardErrorDetails = {},
  ) {
    super(message);
    this.name = 'CardError';
    this.status = CARD_ERROR_STATUS[code];
  }
}

// ---------------------------------------------------------------------------------------------
// Calendar days (`YYYY-MM-DD`) in the platform time zone, shared by the admin services.

const DAY_RE = /^((?:19|20|21)[0-9]{2})-([0-9]{2})-([0-9]{2})$/;
const MAX_RANGE_DAYS = 366;

/** Start of the day in the zone, or null when the text is not a real `YYYY-MM-DD` date. */
export function dayStart(day: string, tz: string): number | null {
  const m = DAY_RE.exec(day);
  if (!m) return null;
  return parseTimestamp(`${m[1]}${m[2]}${m[3]}000000`, tz);
}

/** Calendar arithmetic on `YYYY-MM-DD` (independent of zone and DST). */
export function addDays(day: string, n: number): string {
  const [y, mo, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y!, mo! - 1, d! + n)).toISOString().slice(0, 10);
}

/** The `YYYY-MM-DD` an instant falls on in the zone. */
export function dayOf(ms: number, tz: string): string {
  const s = formatYmdHis(ms, tz);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
}

/** `YYYY-MM-DD HH:MM:SS` in the zone (what spreadsheets read as a date and time). */
export function formatDateTime(ms: number, tz: string): string {
  const s = formatYmdHis(ms, tz);
  return `${dayOf(ms, tz)} ${s.slice(8, 10)}:${s.slice(10, 12)}:${s.slice(12, 14)}`;
}

/** Start of the day; throws `invalid` when the text is not a date. */
export function requireDay(day: string, tz: string): number {
  const start = typeof day === 'string' ? dayStart(day, tz) : null;
  if (start === null) {
    throw new CardError('invalid', `invalid date ${String(day).slice(0, 40)}: expected YYYY-MM-DD`);
  }
  return start;
}

/** The days from..to (inclusive) and their n+1 boundaries (a day is not always 24 h long). */
export function dayRange(fromDay: string, toDay: string, tz: string): { days: string[]; bounds: number[] } {
  const from = requireDay(fromDay, tz);
  const to = requireDay(toDay, tz);
  if (to < from) throw new CardError('invalid', `the range ends (${toDay}) before it starts (${fromDay})`);
  const days: string[] = [];
  const bounds: number[] = [];
  for (let day = fromDay; day <= toDay; day = addDays(day, 1)) {
    if (days.length >= MAX_RANGE_DAYS) {
      throw new CardError('invalid', `a range may span at most ${MAX_RANGE_DAYS} days`);
    }
    days.push(day);
    bounds.push(dayStart(day, tz)!);
  }
  bounds.push(dayStart(addDays(toDay, 1), tz)!);
  return { days, bounds };
}

// ---------------------------------------------------------------------------------------------
// Redemption at the cinema.

export const MAX_PASSWORD_FAILURES = 5;
export const PASSWORD_WINDOW_MS = 3_600_000;
export const UNDO_WINDOW_MS = 10 * 60_000;
const CARD_NO_RE = /^[0-9]{16}$/;

/** The signed-in user; only `cinema` users bound to a cinema redeem. */
export interface StaffUser {
  userId: string;
  role: Role;
  cinemaId: string | null;
  /** For the ledger's actor (`user:NAME`); the user id is used when absent. */
  username?: string;
}

/** What a card allows at the user's cinema, shown before the password is asked for. */
export interface CardCheck {
  card_no: string;
  cinema_id: string | null;
  kind_id: string | null;
  /** The cinema's or the kind's name. */
  target_name: string;
  /** Effective status now. */
  status: CardStatus;
  count: number;
  used_count: number;
  remaining: number;
  valid_until: number | null;
  /** Always true: a card not valid at the user's cinema is refused (`forbidden`) instead. */
  valid_here: true;
  /** Epoch ms until which wrong passwords lock the card; null when not locked. */
  locked_until: number | null;
  tries_left: number;
  redeemable: boolean;
  /** Why the card cannot be redeemed here now; null when it can. */
  reason: string | null;
}

export interface RedeemResult {
  redemption_id: string;
  card_no: string;
  cinema_id: string;
  count: number;
  used_count: number;
  remaining: number;
  status: CardStatus;
  at: number;
}

export interface UndoResult {
  redemption_id: string;
  card_no: string;
  count: number;
  used_count: number;
  remaining: number;
  status: CardStatus;
  undone_at: number;
}

export interface RedemptionEntry {
  redemption_id: string;
  card_no: string;
  cinema_id: string;
  count: number;
  user_id: string;
  username: string | null;
  at: number;
  undone_at: number | null;
  undone_by: string | null;
  /** Whether it can still be undone now. */
  undoable: boolean;
}

export interface DayTotals {
  day: string;
  /** Tickets redeemed, not counting undone redemptions. */
  tickets: number;
  /** Distinct cards with a standing redemption. */
  cards: number;
  redemptions: number;
  undone: number;
}

export interface RedemptionDeps {
  db: Db;
  clock: Clock;
  timeZone: string;
  /** Opens the card's sealed password to compare it with the one typed. */
  secrets: SecretBox;
}

type Attempt<T> = { ok: true; value: T } | { ok: false; error: CardError };

/** Redemption of cards by cinema staff: check, redeem with the password, undo, history. */
export class RedemptionService {
  constructor(private readonly deps: RedemptionDeps) {}

  async checkCard(user: StaffUser, cardNo: string): Promise<CardCheck> {
    const cinemaId = cinemaOf(user);
    requireCardNo(cardNo);
    const db = this.deps.db.kysely;
    const now = this.deps.clock.now();
    const card = await findCard(db, cardNo);
    if (!card) throw new CardError('not_found', `card ${cardNo} not found`);
    // Staff of another cinema learn nothing about the card (status, count, dates, tries): the
    // console and the API both show only this refusal.
    if (!(await validAt(db, card, cinemaId))) throw notValidHere(cardNo, cinemaId);
    const [failures, targetName] = await Promise.all([
      recentPasswordFailures(db, cardNo, windowStart(now), MAX_PASSWORD_FAILURES),
      targetNameOf(db, card),
    ]);
    const status = effectiveStatus(card, now);
    const remaining = card.count - card.used_count;
    const lockedUntil = lockedUntilOf(failures);
    let reason: string | null = null;
    if (status !== 'active') reason = `card is ${status}`;
    else if (lockedUntil !== null) reason = `locked after wrong passwords until ${this.time(lockedUntil)}`;
    return {
      card_no: card.card_no,
      cinema_id: card.cinema_id,
      kind_id: card.kind_id,
      target_name: targetName,
      status,
      count: card.count,
      used_count: card.used_count,
      remaining,
      valid_until: card.valid_until,
      valid_here: true,
      locked_until: lockedUntil,
      tries_left: Math.max(0, MAX_PASSWORD_FAILURES - failures.length),
      redeemable: reason === null && remaining > 0,
      reason,
    };
  }

  /**
   * Redeems `count` tickets of the card at the user's cinema. A wrong password is recorded (and
   * kept, although the redemption is refused); the fifth within an hour locks the card until the
   * oldest of those five is an hour old.
   */
  async redeem(user: StaffUser, cardNo: string, password: string, count: number): Promise<RedeemResult> {
    const cinemaId = cinemaOf(user);
    requireCardNo(cardNo);
    if (typeof password !== 'string' || password.length === 0 || password.length > 64) {
      throw new CardError('invalid', 'password is required');
    }
    if (!Number.isInteger(count) || count < 1 || count > 50) {
      throw new CardError('invalid', 'count must be a whole number of tickets from 1 to 50');
    }
    const now = this.deps.clock.now();
    const actor = actorOf(user);
    const attempt = await inTransaction(this.deps.db, async (tx): Promise<Attempt<RedeemResult>> => {
      // Every writer of this card's tickets waits here for the one before it.
      if (!(await lockCardRow(tx, cardNo))) throw new CardError('not_found', `card ${cardNo} not found`);
      const card = (await findCard(tx, cardNo))!;
      if (!(await validAt(tx, card, cinemaId))) throw notValidHere(cardNo, cinemaId);
      const status = effectiveStatus(card, now);
      if (status !== 'active')
        throw new CardError('card_state', `card ${cardNo} is ${status}; cannot redeem`);
      const failures = await recentPasswordFailures(tx, cardNo, windowStart(now), MAX_PASSWORD_FAILURES);
      const lockedUntil = lockedUntilOf(failures);
      if (lockedUntil !== null) {
        throw new CardError(
          'locked',
          `card ${cardNo} is locked after ${MAX_PASSWORD_FAILURES} wrong passwords until ${this.time(lockedUntil)}`,
          { lockedUntil },
        );
      }
      const stored = card.password === null ? null : this.deps.secrets.open(card.password);
      if (!passwordMatches(stored, password)) {
        // Committed although the redemption is refused: that is what makes the limit hold.
        await insertPasswordFailure(tx, {
          card_no: cardNo,
          at: now,
          cinema_id: cinemaId,
          user_id: user.userId,
        });
        const all = [now, ...failures];
        const triesLeft = Math.max(0, MAX_PASSWORD_FAILURES - all.length);
        const lockedNow = lockedUntilOf(all);
        await appendCardEvent(tx, {
          card_no: cardNo,
          type: 'password_failed',
          at: now,
          actor,
          data: JSON.stringify({
            cinema_id: cinemaId,
            tries_left: triesLeft,
            ...(lockedNow === null ? {} : { locked_until: lockedNow }),
          }),
        });
        const message =
          lockedNow === null
            ? `wrong password for card ${cardNo}; ${triesLeft} ${triesLeft === 1 ? 'try' : 'tries'} left`
            : `wrong password for card ${cardNo}; locked until ${this.time(lockedNow)}`;
        return {
          ok: false,
          error: new CardError('wrong_password', message, {
            triesLeft,
            ...(lockedNow === null ? {} : { lockedUntil: lockedNow }),
          }),
        };
      }
      const remaining = card.count - card.used_count;
      if (count > remaining) {
        throw new CardError(
          'invalid',
          `card ${cardNo} has ${remaining} ${remaining === 1 ? 'ticket' : 'tickets'} left; cannot redeem ${count}`,
        );
      }
      const usedCount = card.used_count + count;
      const newStatus: CardStatus = usedCount === card.count ? 'used' : 'active';
      // Compare-and-set on used_count: of two redemptions that read the same count, one loses.
      const won = await transitionCard(
        tx,
        cardNo,
        ['active'],
        { used_count: usedCount, status: newStatus, updated_at: now },
        { usedCount: card.used_count },
      );
      if (!won) throw await this.changedMeanwhile(tx, cardNo, 'redeem');
      const redemptionId = randomUUID();
      await insertRedemption(tx, {
        redemption_id: redemptionId,
        card_no: cardNo,
        cinema_id: cinemaId,
        count,
        user_id: user.userId,
        at: now,
        undone_at: null,
        undone_by: null,
      });
      await appendCardEvent(tx, {
        card_no: cardNo,
        type: 'redeemed',
        at: now,
        actor,
        data: JSON.stringify({
          count,
          cinema_id: cinemaId,
          redemption_id: redemptionId,
          used_count: usedCount,
          status: newStatus,
        }),
      });
      await recordNotifyEvent(tx, 'redeemed', { ...card, used_count: usedCount, status: newStatus }, now);
      return {
        ok: true,
        value: {
          redemption_id: redemptionId,
          card_no: cardNo,
          cinema_id: cinemaId,
          count,
          used_count: usedCount,
          remaining: card.count - usedCount,
          status: newStatus,
          at: now,
        },
      };
    });
    if (!attempt.ok) throw attempt.error;
    return attempt.value;
  }

  /** Undoes a redemption made at the user's cinema within the last 10 minutes. */
  async undo(user: StaffUser, redemptionId: string): Promise<UndoResult> {
    const cinemaId = cinemaOf(user);
    if (typeof redemptionId !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(redemptionId)) {
      throw new CardError('invalid', 'redemption_id is malformed');
    }
    const now = this.deps.clock.now();
    return inTransaction(this.deps.db, async (tx) => {
      const seen = await findRedemption(tx, redemptionId);
      if (!seen) throw new CardError('not_found', `redemption ${redemptionId} not found`);
      if (seen.cinema_id !== cinemaId) {
        throw new CardError('forbidden', `redemption ${redemptionId} was made at another cinema`);
      }
      await lockCardRow(tx, seen.card_no);
      // Read again under the card's lock: a concurrent undo may have finished meanwhile.
      const r = (await findRedemption(tx, redemptionId))!;
      if (r.undone_at !== null) {
        throw new CardError('card_state', `redemption ${redemptionId} was already undone`);
      }
      if (now - r.at > UNDO_WINDOW_MS) {
        throw new CardError(
          'card_state',
          `redemption ${redemptionId} was made at ${this.time(r.at)}; it can be undone only within 10 minutes`,
        );
      }
      const card = await findCard(tx, r.card_no);
      if (!card || card.used_count < r.count) {
        throw new CardError('card_state', `card ${r.card_no} no longer holds this redemption`);
      }
      const usedCount = card.used_count - r.count;
      // A card that became used is active again; an expired one stays expired.
      const newStatus: CardStatus = card.status === 'used' ? 'active' : card.status;
      const won = await transitionCard(
        tx,
        r.card_no,
        [card.status],
        { used_count: usedCount, status: newStatus, updated_at: now },
        { usedCount: card.used_count },
      );
      if (!won || !(await markRedemptionUndone(tx, redemptionId, now, user.userId))) {
        throw await this.changedMeanwhile(tx, r.card_no, 'undo the redemption');
      }
      await appendCardEvent(tx, {
        card_no: r.card_no,
        type: 'redemption_undone',
        at: now,
        actor: actorOf(user),
        data: JSON.stringify({
          count: r.count,
          cinema_id: r.cinema_id,
          redemption_id: redemptionId,
          used_count: usedCount,
          status: newStatus,
        }),
      });
      const restored: CardRow = { ...card, used_count: usedCount, status: newStatus };
      await recordNotifyEvent(
        tx,
        'redemption_undone',
        { ...restored, status: effectiveStatus(restored, now) },
        now,
      );
      return {
        redemption_id: redemptionId,
        card_no: r.card_no,
        count: r.count,
        used_count: usedCount,
        remaining: card.count - usedCount,
        status: effectiveStatus(restored, now),
        undone_at: now,
      };
    });
  }

  /** The cinema's redemptions on a day (oldest first), undone ones included and marked, with the day's totals. */
  async history(
    cinemaId: string,
    day: string,
  ): Promise<{ day: string; redemptions: RedemptionEntry[]; totals: DayTotals }> {
    const { bounds } = dayRange(day, day, this.deps.timeZone);
    const now = this.deps.clock.now();
    const rows = await listCinemaRedemptions(this.deps.db.kysely, cinemaId, bounds[0]!, bounds[1]!);
    const redemptions = rows.map((r) => ({
      redemption_id: r.redemption_id,
      card_no: r.card_no,
      cinema_id: r.cinema_id,
      count: r.count,
      user_id: r.user_id,
      username: r.username,
      at: r.at,
      undone_at: r.undone_at,
      undone_by: r.undone_by,
      undoable: r.undone_at === null && now - r.at <= UNDO_WINDOW_MS,
    }));
    return { day, redemptions, totals: totalsOf(day, redemptions) };
  }

  /** Per-day totals of the cinema's redemptions from..to (inclusive), every day listed. */
  async dailyTotals(cinemaId: string, fromDay: string, toDay: string): Promise<DayTotals[]> {
    const tz = this.deps.timeZone;
    const { days, bounds } = dayRange(fromDay, toDay, tz);
    const rows = await listCinemaRedemptions(this.deps.db.kysely, cinemaId, bounds[0]!, bounds.at(-1)!);
    const byDay = new Map<string, typeof rows>();
    for (const r of rows) {
      const d = dayOf(r.at, tz);
      byDay.set(d, [...(byDay.get(d) ?? []), r]);
    }
    return days.map((d) => totalsOf(d, byDay.get(d) ?? []));
  }

  private time(ms: number): string {
    return formatDateTime(ms, this.deps.timeZone);
  }

  private async changedMeanwhile(tx: Executor, cardNo: string, action: string): Promise<CardError> {
    const current = await findCard(tx, cardNo);
    const status = current ? effectiveStatus(current, this.deps.clock.now()) : 'unknown';
    return new CardError('card_state', `card ${cardNo} changed meanwhile (now ${status}); cannot ${action}`);
  }
}

function cinemaOf(user: StaffUser): string {
  if (user.role !== 'cinema' || !user.cinemaId) {
    throw new CardError('forbidden', 'only cinema staff bound to a cinema can redeem cards');
  }
  return user.cinemaId;
}

function actorOf(user: StaffUser): string {
  return `user:${user.username ?? user.userId}`;
}

function requireCardNo(cardNo: string): void {
  if (typeof cardNo !== 'string' || !CARD_NO_RE.test(cardNo)) {
    throw new CardError('invalid', 'card_no must be 16 digits');
  }
}

/** The one refusal staff of a cinema get for a card that is not valid there. */
function notValidHere(cardNo: string, cinemaId: string): CardError {
  return new CardError('forbidden', `card ${cardNo} is not valid at cinema ${cinemaId}`);
}

/** A cinema card is valid at its cinema only; a kind card at the kind's cinemas. */
async function validAt(db: Executor, card: CardRow, cinemaId: string): Promise<boolean> {
  if (card.cinema_id !== null) return card.cinema_id === cinemaId;
  if (card.kind_id !== null) return isCinemaOfKind(db, card.kind_id, cinemaId);
  return false;
}

async function targetNameOf(db: Executor, card: CardRow): Promise<string> {
  if (card.cinema_id !== null) return (await findCinemaName(db, card.cinema_id)) ?? card.cinema_id;
  if (card.kind_id !== null) return (await findKindName(db, card.kind_id)) ?? card.kind_id;
  return '';
}

/** Failures strictly inside the last hour count. */
function windowStart(now: number): number {
  return now - PASSWORD_WINDOW_MS + 1;
}

/** Given failure times newest first: locked until the fifth newest is an hour old. */
function lockedUntilOf(failuresNewestFirst: readonly number[]): number | null {
  const fifth = failuresNewestFirst[MAX_PASSWORD_FAILURES - 1];
  return fifth === undefined ? null : fifth + PASSWORD_WINDOW_MS;
}

/** Constant-time: both sides are hashed to equal length before comparing. */
function passwordMatches(stored: string | null, given: string): boolean {
  const a = createHash('sha256')
    .update(stored ?? '')
    .digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b) && stored !== null;
}

function totalsOf(
  day: string,
  rows: readonly { card_no: string; count: number; undone_at: number | null }[],
): DayTotals {
  const standing = rows.filter((r) => r.undone_at === null);
  return {
    day,
    tickets: standing.reduce((sum, r) => sum + r.count, 0),
    cards: new Set(standing.map((r) => r.card_no)).size,
    redemptions: standing.length,
    undone: rows.length - standing.length,
  };
}
