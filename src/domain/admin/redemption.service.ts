import { createHash, timingSafeEqual } from 'node:crypto';
import { appendCardEvent, findCard, type CardRow } from '../../db/card.repository.js';
import type { Db } from '../../db/database.js';
import {
  findCinemaName,
  findKindName,
  findRedemption,
  insertPasswordFailure,
  isCinemaOfKind,
  listCinemaRedemptions,
  lockCardRow,
  recentPasswordFailures,
} from '../../db/redemption.repository.js';
import type { CardStatus, Role } from '../../db/schema.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import { effectiveStatus } from '../card.presenter.js';
import type { Clock } from '../clock.js';
import type { SecretBox } from '../secret-box.js';
import { AppError, badInput, cardState, forbidden, notFound } from '../../errors.js';
import { dayOf, dayRange, formatDateTime } from '../dates.js';
import { cardFrozen, redeemCard, undoRedemption, UNDO_WINDOW_MS } from '../card-commands.js';
import { countingSince, lockedUntilOf, MAX_PASSWORD_FAILURES, readPasswordLock } from '../password-lock.js';

// ---------------------------------------------------------------------------------------------
// Redemption at the cinema.

export { MAX_PASSWORD_FAILURES, PASSWORD_WINDOW_MS } from '../password-lock.js';
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
  /** Customer service froze the card's remaining tickets. */
  frozen: boolean;
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

type Attempt<T> = { ok: true; value: T } | { ok: false; error: AppError };

/** Redemption of cards by cinema staff: check, redeem with the password, undo, history. */
export class RedemptionService {
  constructor(private readonly deps: RedemptionDeps) {}

  async checkCard(user: StaffUser, cardNo: string): Promise<CardCheck> {
    const cinemaId = cinemaOf(user);
    requireCardNo(cardNo);
    const db = this.deps.db.kysely;
    const now = this.deps.clock.now();
    const card = await findCard(db, cardNo);
    if (!card) throw notFound('card', cardNo);
    // Staff of another cinema learn nothing about the card (status, count, dates, tries): the
    // console and the API both show only this refusal.
    if (!(await validAt(db, card, cinemaId))) throw notValidHere(cardNo, cinemaId);
    const [lock, targetName] = await Promise.all([readPasswordLock(db, card, now), targetNameOf(db, card)]);
    const status = effectiveStatus(card, now);
    const remaining = card.count - card.used_count;
    const lockedUntil = lock.lockedUntil;
    let reason: string | null = null;
    if (status !== 'active') reason = `card is ${status}`;
    else if (card.frozen_at !== null) reason = 'its remaining tickets are frozen by customer service';
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
      tries_left: lock.triesLeft,
      frozen: card.frozen_at !== null,
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
      throw badInput('password is required', 'field.required', { field: 'password' });
    }
    if (!Number.isInteger(count) || count < 1 || count > 50) {
      throw badInput('count must be a whole number of tickets from 1 to 50', 'redeem.count', { max: 50 });
    }
    const now = this.deps.clock.now();
    const actor = actorOf(user);
    const attempt = await inTransaction(this.deps.db, async (tx): Promise<Attempt<RedeemResult>> => {
      // Every writer of this card's tickets waits here for the one before it.
      if (!(await lockCardRow(tx, cardNo))) throw notFound('card', cardNo);
      const card = (await findCard(tx, cardNo))!;
      if (!(await validAt(tx, card, cinemaId))) throw notValidHere(cardNo, cinemaId);
      const status = effectiveStatus(card, now);
      if (status !== 'active') throw cardState(cardNo, status, 'redeem');
      if (card.frozen_at !== null) throw cardFrozen(cardNo);
      const failures = await recentPasswordFailures(
        tx,
        cardNo,
        countingSince(card, now),
        MAX_PASSWORD_FAILURES,
      );
      const lockedUntil = lockedUntilOf(failures);
      if (lockedUntil !== null) {
        throw new AppError(
          'locked',
          `card ${cardNo} is locked after ${MAX_PASSWORD_FAILURES} wrong passwords until ${this.time(lockedUntil)}`,
          { id: 'card.locked', params: { until: this.time(lockedUntil) }, details: { lockedUntil } },
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
          error: new AppError('wrong_password', message, {
            ...(lockedNow === null
              ? { id: 'card.wrong_password', params: { tries_left: triesLeft } }
              : { id: 'card.wrong_password_locked', params: { until: this.time(lockedNow) } }),
            details: { triesLeft, ...(lockedNow === null ? {} : { lockedUntil: lockedNow }) },
          }),
        };
      }
      const { redemptionId, card: redeemed } = await redeemCard(tx, {
        card,
        count,
        cinemaId,
        userId: user.userId,
        actor,
        now,
      });
      return {
        ok: true,
        value: {
          redemption_id: redemptionId,
          card_no: cardNo,
          cinema_id: cinemaId,
          count,
          used_count: redeemed.used_count,
          remaining: redeemed.count - redeemed.used_count,
          status: redeemed.status,
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
      throw badInput('redemption_id is malformed', 'field.malformed', { field: 'redemption_id' });
    }
    const now = this.deps.clock.now();
    return inTransaction(this.deps.db, async (tx) => {
      const seen = await findRedemption(tx, redemptionId);
      if (!seen) throw notFound('redemption', redemptionId);
      if (seen.cinema_id !== cinemaId) {
        throw forbidden(`redemption ${redemptionId} was made at another cinema`, 'redemption.other_cinema');
      }
      await lockCardRow(tx, seen.card_no);
      // Read again under the card's lock: a concurrent undo may have finished meanwhile.
      const r = (await findRedemption(tx, redemptionId))!;
      const restored = await undoRedemption(
        tx,
        { redemption: r, userId: user.userId, actor: actorOf(user), now },
        (ms) => this.time(ms),
      );
      return {
        redemption_id: redemptionId,
        card_no: r.card_no,
        count: r.count,
        used_count: restored.used_count,
        remaining: restored.count - restored.used_count,
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
}

function cinemaOf(user: StaffUser): string {
  if (user.role !== 'cinema' || !user.cinemaId) {
    throw forbidden('only cinema staff bound to a cinema can redeem cards', 'redeem.staff_only');
  }
  return user.cinemaId;
}

function actorOf(user: StaffUser): string {
  return `user:${user.username ?? user.userId}`;
}

function requireCardNo(cardNo: string): void {
  if (typeof cardNo !== 'string' || !CARD_NO_RE.test(cardNo)) {
    throw badInput('card_no must be 16 digits', 'card.card_no');
  }
}

/** The one refusal staff of a cinema get for a card that is not valid there. */
function notValidHere(cardNo: string, cinemaId: string): AppError {
  return forbidden(`card ${cardNo} is not valid at cinema ${cinemaId}`, 'card.not_valid_here');
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
