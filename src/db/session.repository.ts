import type { Role, SessionTable, UserTable } from './schema.js';
import type { Executor } from './tx.js';

/** A live session with its (active) user. */
export interface SessionUserRow {
  session_id: string;
  csrf_token: string;
  expires_at: number;
  user_id: string;
  username: string;
  role: Role;
  cinema_id: string | null;
}

export async function insertSession(db: Executor, row: SessionTable): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

/** The session unless it expired or its user is disabled. */
export function findLiveSession(
  db: Executor,
  sessionId: string,
  now: number,
): Promise<SessionUserRow | undefined> {
  return db
    .selectFrom('sessions')
    .innerJoin('users', 'users.user_id', 'sessions.user_id')
    .select([
      'sessions.session_id',
      'sessions.csrf_token',
      'sessions.expires_at',
      'users.user_id',
      'users.username',
      'users.role',
      'users.cinema_id',
    ])
    .where('sessions.session_id', '=', sessionId)
    .where('sessions.expires_at', '>', now)
    .where('users.status', '=', 'active' satisfies UserTable['status'])
    .executeTakeFirst();
}

export async function deleteSession(db: Executor, sessionId: string): Promise<void> {
  await db.deleteFrom('sessions').where('session_id', '=', sessionId).execute();
}

export async function deleteExpiredSessions(db: Executor, now: number): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
}

/** Attempts under `key` after `since`, newest first. */
export function recentLoginAttempts(
  db: Executor,
  key: string,
  since: number,
  limit: number,
): Promise<{ at: number; ok: number }[]> {
  return db
    .selectFrom('login_attempts')
    .select(['at', 'ok'])
    .where('key', '=', key)
    .where('at', '>', since)
    .orderBy('at', 'desc')
    .limit(limit)
    .execute();
}

export async function insertLoginAttempts(
  db: Executor,
  rows: { key: string; at: number; ok: number }[],
): Promise<void> {
  if (rows.length) await db.insertInto('login_attempts').values(rows).execute();
}

/** Forgets attempts under these keys made at or before `before`. */
export async function deleteLoginAttempts(db: Executor, keys: string[], before: number): Promise<void> {
  if (!keys.length) return;
  await db.deleteFrom('login_attempts').where('key', 'in', keys).where('at', '<=', before).execute();
}
