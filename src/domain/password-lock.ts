import type { CardRow } from '../db/card.repository.js';
import { recentPasswordFailures } from '../db/redemption.repository.js';
import type { Executor } from '../db/tx.js';

/** Wrong passwords a card takes within an hour before it locks. */
export const MAX_PASSWORD_FAILURES = 5;
export const PASSWORD_WINDOW_MS = 3_600_000;

/** A card's wrong-password state: the counted failures (newest first) and what they mean. */
export interface PasswordLock {
  failures: number[];
  /** Wrong passwords that count now (inside the hour, after the last reset). */
  wrongTries: number;
  triesLeft: number;
  /** Epoch ms until which the card refuses passwords; null when not locked. */
  lockedUntil: number | null;
}

/**
 * Failures strictly inside the last hour count, and only those after the card's count was
 * reset (a successful redemption or a support desk's unlock).
 */
export function countingSince(card: Pick<CardRow, 'tries_reset_at'>, now: number): number {
  return Math.max(now - PASSWORD_WINDOW_MS + 1, Number(card.tries_reset_at) + 1);
}

/** Given failure times newest first: locked until the fifth newest is an hour old. */
export function lockedUntilOf(failuresNewestFirst: readonly number[]): number | null {
  const fifth = failuresNewestFirst[MAX_PASSWORD_FAILURES - 1];
  return fifth === undefined ? null : fifth + PASSWORD_WINDOW_MS;
}

export function lockOf(failuresNewestFirst: readonly number[]): PasswordLock {
  return {
    failures: [...failuresNewestFirst],
    wrongTries: failuresNewestFirst.length,
    triesLeft: Math.max(0, MAX_PASSWORD_FAILURES - failuresNewestFirst.length),
    lockedUntil: lockedUntilOf(failuresNewestFirst),
  };
}

/** The card's wrong-password state at `now`. */
export async function readPasswordLock(db: Executor, card: CardRow, now: number): Promise<PasswordLock> {
  const failures = await recentPasswordFailures(
    db,
    card.card_no,
    countingSince(card, now),
    MAX_PASSWORD_FAILURES,
  );
  return lockOf(failures);
}
