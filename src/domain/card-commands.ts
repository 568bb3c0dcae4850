import { randomUUID } from 'node:crypto';
import { appendCardEvent, findCard, transitionCard, type CardRow } from '../db/card.repository.js';
import { setCardFrozen, setTriesResetAt } from '../db/card-admin.repository.js';
import {
  insertRedemption,
  lockCardRow,
  markRedemptionUndone,
  type RedemptionRow,
} from '../db/redemption.repository.js';
import type { PaymentChanges } from '../db/payment.repository.js';
import type { CardStatus } from '../db/schema.js';
import type { Executor } from '../db/tx.js';
import { AppError, cardState, contractError, notFound } from '../errors.js';
import { maskMobile } from './sms-template.js';
import { effectiveStatus } from './card.presenter.js';
import { recordNotifyEvent } from './notify.js';
import { readPasswordLock } from './password-lock.js';

/**
 * The card's transitions that more than one caller drives, each once: the partner API, the
 * console, the CLI and the expiry worker all change a card's status through these. Each command
 * owns the states it may start from, writes the ledger event and the partner notification, and
 * runs inside the caller's transaction.
 */

export interface BanCard {
  cardNo: string;
  /** The ledger's actor: `partner:ID`, `user:NAME`, `cli:NAME`. */
  actor: string;
  reason: string | null;
  now: number;
  /** When set, the card must be this partner's: another partner's card is reported as not found. */
  partnerId?: string;
}

export interface CardChange {
  /** The card after the command. */
  card: CardRow;
  /** False when the card already was in the target state. */
  changed: boolean;
  /** The effective status the card had before. */
  from: CardStatus;
}

export interface ActivateCard {
  /** The card as read (by `activateCard`, in this transaction). */
  card: CardRow;
  actor: string;
  now: number;
  mobile: string;
  /** The password, sealed for the card row. */
  sealedPassword: string;
  validUntil: number;
  /** When given, the card's total price must be this (fen). */
  totalFen?: number;
}

/** What paying a card writes: its changed columns and its `activated` ledger event. */
export interface Activation {
  changes: PaymentChanges;
  event: { type: 'activated'; at: number; actor: string; data: string };
}

/**
 * Judges a payment of the card as read (refusing it as `activateCard` does) and plans its
 * writes, without writing anything.
 */
export function planActivation(cmd: ActivateCard): Activation {
  const { card, now } = cmd;
  const status = effectiveStatus(card, now);
  if (status !== 'inactive') throw cardState(card.card_no, status, 'pay');
  if (cmd.totalFen !== undefined && cmd.totalFen !== card.total_fen) {
    throw contractError('price_mismatch', `total_price does not match the card's total price`);
  }
  return {
    changes: {
      status: 'active',
      password: cmd.sealedPassword,
      mobile: cmd.mobile,
      paid_at: now,
      valid_until: cmd.validUntil,
      sms_status: 'queued',
      updated_at: now,
    },
    event: {
      type: 'activated',
      at: now,
      actor: cmd.actor,
      data: JSON.stringify({
        status: 'active',
        paid_at: now,
        valid_until: cmd.validUntil,
        mobile: maskMobile(cmd.mobile),
      }),
    },
  };
}

/** Pays (activates) an inactive card within its payment deadline; returns the paid card. */
export async function activateCard(tx: Executor, cmd: ActivateCard): Promise<CardRow> {
  const { card, now } = cmd;
  const { changes, event } = planActivation(cmd);
  if (!(await transitionCard(tx, card.card_no, ['inactive'], changes, { payDeadlineAfter: now }))) {
    throw await changedMeanwhile(tx, card.card_no, now, 'pay');
  }
  await appendCardEvent(tx, { card_no: card.card_no, ...event });
  return { ...card, ...changes };
}

/** Inactive cards and active ones of which no ticket was redeemed may be banned. */
export function mayBan(card: CardRow, status: CardStatus): boolean {
  return status === 'inactive' || (status === 'active' && card.used_count === 0);
}

/** Bans a card; banning a banned card again changes nothing. */
export async function banCard(tx: Executor, cmd: BanCard): Promise<CardChange> {
  const { cardNo, now } = cmd;
  // A concurrent payment or redemption may change the card between read and write: judge again
  // against what the card is now.
  for (let attempt = 0; attempt < 3; attempt++) {
    const card = await findCard(tx, cardNo);
    if (!card || (cmd.partnerId !== undefined && card.partner_id !== cmd.partnerId)) {
      throw notFound('card', cardNo);
    }
    const status = effectiveStatus(card, now);
    if (status === 'banned') return { card, changed: false, from: status };
    if (!mayBan(card, status)) {
      const detail = status === 'active' ? ` with ${card.used_count} tickets redeemed` : '';
      throw cardState(cardNo, status, 'ban', detail);
    }
    const changes = { status: 'banned' as const, banned_at: now, ban_reason: cmd.reason, updated_at: now };
    if (!(await transitionCard(tx, cardNo, [card.status], changes, { usedCount: 0 }))) continue;
    await appendCardEvent(tx, {
      card_no: cardNo,
      type: 'banned',
      at: now,
      actor: cmd.actor,
      data: JSON.stringify({ status: 'banned', banned_at: now, reason: cmd.reason ?? '', from: status }),
    });
    await recordNotifyEvent(tx, 'banned', { ...card, status: 'banned' }, now);
    return { card: { ...card, ...changes }, changed: true, from: status };
  }
  throw await changedMeanwhile(tx, cardNo, now, 'ban');
}

export interface RedeemCard {
  /** The card as read under its row lock. */
  card: CardRow;
  count: number;
  cinemaId: string;
  userId: string;
  actor: string;
  now: number;
}

export interface Redeemed {
  redemptionId: string;
  card: CardRow;
}

/** Redeems `count` tickets of an active card at a cinema. */
export async function redeemCard(tx: Executor, cmd: RedeemCard): Promise<Redeemed> {
  const { card, count, now } = cmd;
  const cardNo = card.card_no;
  const status = effectiveStatus(card, now);
  if (status !== 'active') throw cardState(cardNo, status, 'redeem');
  if (card.frozen_at !== null) throw cardFrozen(cardNo);
  const remaining = card.count - card.used_count;
  if (count > remaining) {
    throw new AppError(
      'invalid',
      `card ${cardNo} has ${remaining} ${remaining === 1 ? 'ticket' : 'tickets'} left; cannot redeem ${count}`,
      { id: 'redeem.too_many', params: { remaining, count } },
    );
  }
  const usedCount = card.used_count + count;
  const newStatus: CardStatus = usedCount === card.count ? 'used' : 'active';
  // Compare-and-set on used_count: of two redemptions that read the same count, one loses. The
  // right password was given, so the wrong ones before it no longer count.
  const won = await transitionCard(
    tx,
    cardNo,
    ['active'],
    { used_count: usedCount, status: newStatus, updated_at: now, tries_reset_at: now },
    { usedCount: card.used_count },
  );
  if (!won) throw await changedMeanwhile(tx, cardNo, now, 'redeem');
  const redemptionId = randomUUID();
  await insertRedemption(tx, {
    redemption_id: redemptionId,
    card_no: cardNo,
    cinema_id: cmd.cinemaId,
    count,
    user_id: cmd.userId,
    at: now,
    undone_at: null,
    undone_by: null,
  });
  await appendCardEvent(tx, {
    card_no: cardNo,
    type: 'redeemed',
    at: now,
    actor: cmd.actor,
    data: JSON.stringify({
      count,
      cinema_id: cmd.cinemaId,
      redemption_id: redemptionId,
      used_count: usedCount,
      status: newStatus,
    }),
  });
  const redeemed: CardRow = { ...card, used_count: usedCount, status: newStatus, tries_reset_at: now };
  await recordNotifyEvent(tx, 'redeemed', redeemed, now);
  return { redemptionId, card: redeemed };
}

export interface UndoRedemption {
  /** The redemption as read under its card's row lock. */
  redemption: RedemptionRow;
  userId: string;
  actor: string;
  now: number;
}

/** A redemption can be undone this long after it was made. */
export const UNDO_WINDOW_MS = 10 * 60_000;

/**
 * Gives a redemption's tickets back to its card within 10 minutes: a card that became used is
 * active again; an expired one stays expired. `time` formats an instant for the refusal.
 */
export async function undoRedemption(
  tx: Executor,
  cmd: UndoRedemption,
  time: (ms: number) => string,
): Promise<CardRow> {
  const { redemption: r, now } = cmd;
  if (r.undone_at !== null) {
    throw new AppError('card_state', `redemption ${r.redemption_id} was already undone`, {
      id: 'redemption.undone',
    });
  }
  if (now - r.at > UNDO_WINDOW_MS) {
    throw new AppError(
      'card_state',
      `redemption ${r.redemption_id} was made at ${time(r.at)}; it can be undone only within 10 minutes`,
      { id: 'redemption.too_late', params: { at: time(r.at) } },
    );
  }
  const card = await findCard(tx, r.card_no);
  if (!card || card.used_count < r.count) {
    throw new AppError('card_state', `card ${r.card_no} no longer holds this redemption`, {
      id: 'redemption.gone',
    });
  }
  const usedCount = card.used_count - r.count;
  const newStatus: CardStatus = card.status === 'used' ? 'active' : card.status;
  const won = await transitionCard(
    tx,
    r.card_no,
    [card.status],
    { used_count: usedCount, status: newStatus, updated_at: now },
    { usedCount: card.used_count },
  );
  if (!won || !(await markRedemptionUndone(tx, r.redemption_id, now, cmd.userId))) {
    throw await changedMeanwhile(tx, r.card_no, now, 'undo the redemption');
  }
  await appendCardEvent(tx, {
    card_no: r.card_no,
    type: 'redemption_undone',
    at: now,
    actor: cmd.actor,
    data: JSON.stringify({
      count: r.count,
      cinema_id: r.cinema_id,
      redemption_id: r.redemption_id,
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
  return restored;
}

/**
 * Records that a card's deadline passed: an unpaid card past its payment deadline or a paid one
 * past its validity becomes `expired` (the API already shows it so). False when the card changed
 * since `card` was read.
 */
export async function expireCard(tx: Executor, card: CardRow, now: number): Promise<boolean> {
  if (card.status === 'expired' || effectiveStatus(card, now) !== 'expired') return false;
  const won = await transitionCard(tx, card.card_no, [card.status], {
    status: 'expired',
    expired_at: now,
    updated_at: now,
  });
  if (!won) return false;
  await appendCardEvent(tx, {
    card_no: card.card_no,
    type: 'expired',
    at: now,
    actor: 'system',
    data: JSON.stringify({ status: 'expired', from: card.status, expired_at: now }),
  });
  await recordNotifyEvent(tx, 'expired', { ...card, status: 'expired' }, now);
  return true;
}

/** The refusal to redeem a card whose remaining tickets customer service froze. */
export const cardFrozen = (cardNo: string) =>
  new AppError('card_state', `card ${cardNo} is frozen by customer service; cannot redeem`, {
    id: 'card.frozen',
    params: { card_no: cardNo },
  });

/** A support desk's change of one card, with the reason the ledger and the audit log keep. */
export interface DeskChange {
  cardNo: string;
  /** The ledger's actor: `user:NAME`, `cli:NAME`. */
  actor: string;
  reason: string;
  now: number;
}

/** The card read under its row lock, so a redemption running at the counter waits for the change. */
async function lockedCard(tx: Executor, cardNo: string): Promise<CardRow> {
  if (!(await lockCardRow(tx, cardNo))) throw notFound('card', cardNo);
  return (await findCard(tx, cardNo))!;
}

/**
 * Freezes the remaining tickets of an active card (partly redeemed or not), e.g. after its SMS
 * was stolen: the card stays `active` for its partner and keeps its deadline, but no cinema can
 * redeem it until it is unfrozen. Freezing a frozen card changes nothing.
 */
export async function freezeCard(tx: Executor, cmd: DeskChange): Promise<CardChange> {
  const { cardNo, now } = cmd;
  const card = await lockedCard(tx, cardNo);
  const status = effectiveStatus(card, now);
  if (card.frozen_at !== null) return { card, changed: false, from: status };
  if (status !== 'active') throw cardState(cardNo, status, 'freeze');
  await setCardFrozen(tx, cardNo, { at: now, reason: cmd.reason });
  await appendCardEvent(tx, {
    card_no: cardNo,
    type: 'frozen',
    at: now,
    actor: cmd.actor,
    data: JSON.stringify({ frozen_at: now, reason: cmd.reason, remaining: card.count - card.used_count }),
  });
  return {
    card: { ...card, frozen_at: now, frozen_reason: cmd.reason, updated_at: now },
    changed: true,
    from: status,
  };
}

/** Lets cinemas redeem a frozen card's remaining tickets again; an unfrozen card changes nothing. */
export async function unfreezeCard(tx: Executor, cmd: DeskChange): Promise<CardChange> {
  const { cardNo, now } = cmd;
  const card = await lockedCard(tx, cardNo);
  const status = effectiveStatus(card, now);
  if (card.frozen_at === null) return { card, changed: false, from: status };
  await setCardFrozen(tx, cardNo, null, now);
  await appendCardEvent(tx, {
    card_no: cardNo,
    type: 'unfrozen',
    at: now,
    actor: cmd.actor,
    data: JSON.stringify({ frozen_at: card.frozen_at, reason: cmd.reason }),
  });
  return {
    card: { ...card, frozen_at: null, frozen_reason: null, updated_at: now },
    changed: true,
    from: status,
  };
}

/**
 * Clears the card's wrong-password count (and so its lock) after a support desk checked who is
 * asking. The failures stay recorded; they just no longer count. A card with no counting wrong
 * password changes nothing. Returns how many wrong passwords were cleared.
 */
export async function unlockCardPassword(
  tx: Executor,
  cmd: DeskChange,
): Promise<{ card: CardRow; cleared: number; lockedUntil: number | null }> {
  const { cardNo, now } = cmd;
  const card = await lockedCard(tx, cardNo);
  const lock = await readPasswordLock(tx, card, now);
  if (lock.wrongTries === 0) return { card, cleared: 0, lockedUntil: null };
  await setTriesResetAt(tx, cardNo, now);
  await appendCardEvent(tx, {
    card_no: cardNo,
    type: 'password_unlocked',
    at: now,
    actor: cmd.actor,
    data: JSON.stringify({
      reason: cmd.reason,
      wrong_tries: lock.wrongTries,
      ...(lock.lockedUntil === null ? {} : { locked_until: lock.lockedUntil }),
    }),
  });
  return { card: { ...card, tries_reset_at: now }, cleared: lock.wrongTries, lockedUntil: lock.lockedUntil };
}

/** The refusal when the card kept changing under a command: its status now. */
export async function changedMeanwhile(tx: Executor, cardNo: string, now: number, action: string) {
  const current = await findCard(tx, cardNo);
  return cardState(cardNo, current ? effectiveStatus(current, now) : 'unknown', action);
}
