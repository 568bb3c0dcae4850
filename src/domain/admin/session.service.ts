import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../db/database.js';
import type { Role } from '../../db/schema.js';
import {
  deleteExpiredSessions,
  deleteLoginAttempt,
  deleteLoginAttempts,
  deleteSession,
  findLiveSession,
  insertLoginAttempts,
  insertSession,
  lockLoginKeys,
  pruneLoginAttempts,
  recentLoginFailures,
} from '../../db/session.repository.js';
import { type Executor, inTransaction } from '../../db/tx.js';
import { updateUser } from '../../db/user.repository.js';
import type { Clock } from '../clock.js';
import type { UserService } from './user.service.js';

/** Absolute lifetime from sign-in; activity does not extend it. */
export const SESSION_TTL_MS = 12 * 3_600_000;
export const LOGIN_WINDOW_MS = 15 * 60_000;
/**
 * Failed sign-ins allowed per user name from one client address in the window; then that name
 * is locked for that address (a success of the name starts its count again).
 */
export const MAX_USER_FAILURES = 5;
/** Failed sign-ins allowed per client address in the window, whatever the names tried. */
export const MAX_IP_FAILURES = 20;
/**
 * Failures of one name from all addresses together in the window after which the name is under
 * attack: each address then gets one judged attempt at it instead of five. It slows a guesser
 * with many addresses and never locks out an address that has not failed itself.
 */
export const NAME_ATTACK_FAILURES = 30;
/** Judged attempts per name and address while the name is under attack. */
export const MAX_USER_FAILURES_UNDER_ATTACK = 1;

/** The signed-in user as the HTTP layer sees it. */
export interface SessionUser {
  userId: string;
  username: string;
  role: Role;
  cinemaId: string | null;
}

export interface LiveSession {
  user: SessionUser;
  csrfToken: string;
  expiresAt: number;
}

export type LoginResult =
  | { ok: true; token: string; session: LiveSession }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfterSec: number };

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** 32 random bytes, base64url: the cookie's value and the CSRF token. */
export const newToken = () => randomBytes(32).toString('base64url');
export const isToken = (v: unknown): v is string => typeof v === 'string' && TOKEN_RE.test(v);

/** Only the hash of the cookie's token is stored: a copy of the table signs no one in. */
const sessionIdOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** Sign-in with throttling, and the sessions of the management platform. */
export class SessionService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly users: UserService,
  ) {}

  /**
   * Checks the credentials unless the name (from this address) or the address made too many
   * failed attempts lately; on success opens a new session (ending `previousToken`'s, if any:
   * the id always changes).
   *
   * The attempt is recorded as a failure BEFORE the password is checked, in the transaction that
   * counts the earlier ones under the address's lock: requests sent in parallel, or to several
   * instances sharing the database, are each counted before any of them is judged, so no more
   * than the limits are ever judged. A success then takes its own row back.
   */
  async login(
    username: unknown,
    password: unknown,
    ip: string,
    previousToken?: string,
  ): Promise<LoginResult> {
    const now = this.clock.now();
    const name = typeof username === 'string' ? username.slice(0, 64) : '';
    const addr = ip.slice(0, 64);
    const keys = { user: `user:${name}`, ip: `ip:${addr}`, pair: `pair:${addr}|${name}` };
    const since = now - LOGIN_WINDOW_MS;
    const attemptId = randomUUID();
    /** Seconds until this attempt may be judged; 0 when it may be now. */
    const wait = async (db: Executor): Promise<number> => {
      const byIp = await recentLoginFailures(db, keys.ip, since, MAX_IP_FAILURES);
      const byUser = await recentLoginFailures(db, keys.user, since, NAME_ATTACK_FAILURES);
      const allowed =
        byUser.length >= NAME_ATTACK_FAILURES ? MAX_USER_FAILURES_UNDER_ATTACK : MAX_USER_FAILURES;
      const byPair = await recentLoginFailures(db, keys.pair, since, allowed);
      const until = Math.max(lockedUntil(byPair, allowed) ?? 0, lockedUntil(byIp, MAX_IP_FAILURES) ?? 0);
      return until > now ? Math.ceil((until - now) / 1000) : 0;
    };
    // A look without the lock turns a flood of refused attempts away without a write each.
    let retryAfterSec = await wait(this.db.kysely);
    if (retryAfterSec === 0) {
      retryAfterSec = await inTransaction(this.db, async (tx) => {
        await lockLoginKeys(tx, [keys.ip], now);
        const locked = await wait(tx);
        if (locked > 0) return locked;
        await insertLoginAttempts(
          tx,
          Object.values(keys).map((key) => ({ key, at: now, ok: 0, attempt_id: attemptId })),
        );
        return 0;
      });
    }
    if (retryAfterSec > 0) return { ok: false, reason: 'throttled', retryAfterSec };

    // The attempt already counts as a failure: a wrong password needs nothing more.
    const user = await this.users.verifyCredentials(name, typeof password === 'string' ? password : '');
    if (!user) return { ok: false, reason: 'invalid' };
    const token = newToken();
    const session: LiveSession = {
      user: { userId: user.userId, username: user.username, role: user.role, cinemaId: user.cinemaId },
      csrfToken: newToken(),
      expiresAt: now + SESSION_TTL_MS,
    };
    await inTransaction(this.db, async (tx) => {
      if (isToken(previousToken)) await deleteSession(tx, sessionIdOf(previousToken));
      await deleteExpiredSessions(tx, now);
      await insertSession(tx, {
        session_id: sessionIdOf(token),
        user_id: user.userId,
        csrf_token: session.csrfToken,
        created_at: now,
        expires_at: session.expiresAt,
      });
      // The name's count starts again, everywhere and from this address; other addresses that
      // failed at this name stay locked. The address keeps its other failures.
      await deleteLoginAttempts(tx, [keys.user, keys.pair]);
      await deleteLoginAttempt(tx, attemptId);
      await updateUser(tx, user.userId, { last_login_at: now });
    });
    // Housekeeping apart from the sign-in, so that it can never fail one; the sweeper retries.
    await this.pruneAttempts().catch(() => undefined);
    return { ok: true, token, session };
  }

  /** Forgets sign-in attempts that left the throttling window; returns how many. */
  pruneAttempts(): Promise<number> {
    return pruneSignInAttempts(this.db, this.clock.now());
  }

  /** The session the cookie's token names, or null when unknown, expired or its user disabled. */
  async resolve(token: string | undefined): Promise<LiveSession | null> {
    if (!isToken(token)) return null;
    const row = await findLiveSession(this.db.kysely, sessionIdOf(token), this.clock.now());
    if (!row) return null;
    return {
      user: { userId: row.user_id, username: row.username, role: row.role, cinemaId: row.cinema_id },
      csrfToken: row.csrf_token,
      expiresAt: row.expires_at,
    };
  }

  async logout(token: string | undefined): Promise<void> {
    if (!isToken(token)) return;
    await inTransaction(this.db, (tx) => deleteSession(tx, sessionIdOf(token)));
  }
}

/** Forgets sign-in attempts (and lock rows) that left the throttling window by `now`. */
export function pruneSignInAttempts(db: Db, now: number): Promise<number> {
  return inTransaction(db, (tx) => pruneLoginAttempts(tx, now - LOGIN_WINDOW_MS));
}

/** Given failure times newest first: blocked until the `max`-th newest leaves the window. */
function lockedUntil(failuresNewestFirst: readonly number[], max: number): number | null {
  const nth = failuresNewestFirst[max - 1];
  return nth === undefined ? null : nth + LOGIN_WINDOW_MS;
}
