import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../../db/database.js';
import type { Role } from '../../db/schema.js';
import {
  deleteExpiredSessions,
  deleteLoginAttempts,
  deleteSession,
  findLiveSession,
  insertLoginAttempts,
  insertSession,
  recentLoginAttempts,
} from '../../db/session.repository.js';
import { inTransaction } from '../../db/tx.js';
import { updateUser } from '../../db/user.repository.js';
import type { Clock } from '../clock.js';
import type { UserService } from './user.service.js';

/** Absolute lifetime from sign-in; activity does not extend it. */
export const SESSION_TTL_MS = 12 * 3_600_000;
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** Failed sign-ins allowed per user name in the window (a success starts the count again). */
export const MAX_USER_FAILURES = 5;
/** Failed sign-ins allowed per client address in the window, whatever the names tried. */
export const MAX_IP_FAILURES = 20;

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
   * Checks the credentials unless the name or the address made too many failed attempts lately;
   * on success opens a new session (ending `previousToken`'s, if any: the id always changes).
   */
  async login(
    username: unknown,
    password: unknown,
    ip: string,
    previousToken?: string,
  ): Promise<LoginResult> {
    const now = this.clock.now();
    const name = typeof username === 'string' ? username.slice(0, 64) : '';
    const userKey = `user:${name}`;
    const ipKey = `ip:${ip.slice(0, 64)}`;
    const since = now - LOGIN_WINDOW_MS;
    const db = this.db.kysely;
    const [byUser, byIp] = await Promise.all([
      recentLoginAttempts(db, userKey, since, 100),
      recentLoginAttempts(db, ipKey, since, 100),
    ]);
    const userFailures: number[] = [];
    for (const a of byUser) {
      if (a.ok) break;
      userFailures.push(a.at);
    }
    const ipFailures = byIp.filter((a) => !a.ok).map((a) => a.at);
    const until = Math.max(
      lockedUntil(userFailures, MAX_USER_FAILURES) ?? 0,
      lockedUntil(ipFailures, MAX_IP_FAILURES) ?? 0,
    );
    if (until > now)
      return { ok: false, reason: 'throttled', retryAfterSec: Math.ceil((until - now) / 1000) };

    const user = await this.users.verifyCredentials(name, typeof password === 'string' ? password : '');
    if (!user) {
      await inTransaction(this.db, async (tx) => {
        await deleteLoginAttempts(tx, [userKey, ipKey], since);
        await insertLoginAttempts(tx, [
          { key: userKey, at: now, ok: 0 },
          { key: ipKey, at: now, ok: 0 },
        ]);
      });
      return { ok: false, reason: 'invalid' };
    }
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
      await deleteLoginAttempts(tx, [userKey, ipKey], since);
      await insertLoginAttempts(tx, [{ key: userKey, at: now, ok: 1 }]);
      await updateUser(tx, user.userId, { last_login_at: now });
    });
    return { ok: true, token, session };
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

/** Given failure times newest first: blocked until the `max`-th newest leaves the window. */
function lockedUntil(failuresNewestFirst: readonly number[], max: number): number | null {
  const nth = failuresNewestFirst[max - 1];
  return nth === undefined ? null : nth + LOGIN_WINDOW_MS;
}
