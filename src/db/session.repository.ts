import type { Role, SessionTable, UserTable } from './schema.js';
import type { Executor } from './executor.js';

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

/**
 * Holds the throttle lock of each key until the transaction ends, so that counting the recent
 * failures and recording a new attempt happen as one step for every instance sharing the
 * database: on PostgreSQL the upsert keeps the row locked; on SQLite the transaction already
 * holds the write lock (`begin immediate`). Keys are taken in sorted order (no lock cycles).
 */
export async function lockLoginKeys(db: Executor, keys: readonly string[], now: number): Promise<void> {
  for (const key of [...new Set(keys)].sort()) {
    await db
      .insertInto('login_locks')
      .values({ key, at: now })
      .onConflict((oc) => oc.column('key').doUpdateSet({ at: now }))
      .execute();
  }
}

/** Times of the failures (attempts being judged included) under `key` after `since`, newest first. */
export async function recentLoginFailures(
  db: Executor,
  key: string,
  since: number,
  limit: number,
): Promise<number[]> {
  const rows = await db
    .selectFrom('login_attempts')
    .select('at')
    .where('key', '=', key)
    .where('at', '>', since)
    .where('ok', '=', 0)
    .orderBy('at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => r.at);
}

export async function insertLoginAttempts(
  db: Executor,
  rows: { key: string; at: number; ok: number; attempt_id: string }[],
): Promise<void> {
  if (rows.length) await db.insertInto('login_attempts').values(rows).execute();
}

/** Forgets everything recorded under these keys. */
export async function deleteLoginAttempts(db: Executor, keys: string[]): Promise<void> {
  if (!keys.length) return;
  await db.deleteFrom('login_attempts').where('key', 'in', keys).execute();
}

/** Forgets the rows of one attempt. */
export async function deleteLoginAttempt(db: Executor, attemptId: string): Promise<void> {
  await db.deleteFrom('login_attempts').where('attempt_id', '=', attemptId).execute();
}

/** Forgets attempts and lock rows made at or before `before`; returns the attempts removed. */
export async function pruneLoginAttempts(db: Executor, before: number): Promise<number> {
  const res = await db.deleteFrom('login_attempts').where('at', '<=', before).executeTakeFirst();
  await db.deleteFrom('login_locks').where('at', '<=', before).execute();
  return Number(res.numDeletedRows);
}
