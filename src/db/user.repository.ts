import type { Executor } from './executor.js';
import type { UserTable } from './schema.js';

export async function insertUser(db: Executor, row: UserTable): Promise<void> {
  await db.insertInto('users').values(row).execute();
}

export function findUserByUsername(db: Executor, username: string): Promise<UserTable | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

export function listUsers(db: Executor): Promise<UserTable[]> {
  return db.selectFrom('users').selectAll().orderBy('username').execute();
}

export async function updateUser(
  db: Executor,
  userId: string,
  changes: Partial<Pick<UserTable, 'password_hash' | 'status' | 'last_login_at'>>,
): Promise<void> {
  await db.updateTable('users').set(changes).where('user_id', '=', userId).execute();
}

export async function countActiveAdmins(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('role', '=', 'admin')
    .where('status', '=', 'active')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Ends every session of the user (after a password reset or when disabled). */
export async function deleteUserSessions(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
}
