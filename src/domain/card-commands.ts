import { appendCardEvent, findCard, transitionCard, type CardRow } from '../db/card.repository.js';
import type { CardStatus } from '../db/schema.js';
import type { Executor } from '../db/tx.js';
import { cardState, notFound } from '../errors.js';
import { effectiveStatus } from './card.presenter.js';
import { recordNotifyEvent } from './notify.js';

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

/** The refusal when the card kept changing under a command: its status now. */
export async function changedMeanwhile(tx: Executor, cardNo: string, now: number, action: string) {
  const current = await findCard(tx, cardNo);
  return cardState(cardNo, current ? effectiveStatus(current, now) : 'unknown', action);
}
