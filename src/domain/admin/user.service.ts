import { randomUUID } from 'node:crypto';
import { recordAudit } from '../../db/audit.repository.js';
import { findCinema } from '../../db/catalog-admin.repository.js';
import type { Db } from '../../db/database.js';
import type { Role, UserTable } from '../../db/schema.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import {
  countActiveAdmins,
  deleteUserSessions,
  findUserByUsername,
  insertUser,
  listUsers,
  updateUser,
} from '../../db/user.repository.js';
import type { Clock } from '../clock.js';
import { type Actor, requireRole } from './audit.service.js';
import { alreadyExists, AppError, conflict, invalid, notFound } from '../../errors.js';
import { oneOf, pattern, required, uniquely } from '../validate.js';
import { hashPassword, verifyNothing, verifyPassword } from './passwords.js';

export const ROLES: readonly Role[] = ['admin', 'operator', 'cinema'];
export const USERNAME_RULE = 'must be 3-32 lower-case letters, digits, _ . or -';
export const MIN_PASSWORD_LENGTH = 10;
const MAX_PASSWORD_LENGTH = 256;

export interface UserView {
  userId: string;
  username: string;
  role: Role;
  cinemaId: string | null;
  status: UserTable['status'];
  createdAt: number;
  lastLoginAt: number | null;
}

export interface CreateUserInput {
  username: string;
  password: string;
  role: Role;
  /** Required for, and only for, the `cinema` role. */
  cinemaId?: string | null;
}

function present(u: UserTable): UserView {
  return {
    userId: u.user_id,
    username: u.username,
    role: u.role,
    cinemaId: u.cinema_id,
    status: u.status,
    createdAt: u.created_at,
    lastLoginAt: u.last_login_at,
  };
}

function checkPassword(password: unknown): string {
  if (typeof password !== 'string') throw required('password');
  const len = [...password].length;
  if (len < MIN_PASSWORD_LENGTH) {
    throw invalid('password', `must be at least ${MIN_PASSWORD_LENGTH} characters`, 'user.password_short', {
      min: MIN_PASSWORD_LENGTH,
    });
  }
  if (len > MAX_PASSWORD_LENGTH)
    throw invalid('password', `must be at most ${MAX_PASSWORD_LENGTH} characters`);
  return password;
}

/**
 * Every rule a new account's fields break, one refusal per field in form order (a form shows
 * them all at once; `create` refuses with the first).
 */
export function newUserRefusals(input: CreateUserInput): AppError[] {
  const cinemaId = input.cinemaId || null;
  const checks: (() => unknown)[] = [
    () =>
      pattern('username', input.username, {
        re: /^[a-z0-9_.-]{3,32}$/,
        rule: USERNAME_RULE,
        id: 'user.username',
      }),
    () => checkPassword(input.password),
    () => oneOf('role', input.role, ROLES),
    () => {
      if (input.role === 'cinema' && !cinemaId)
        throw invalid('cinema_id', 'is required for the cinema role', 'user.cinema_required');
      if (input.role !== 'cinema' && cinemaId)
        throw invalid('cinema_id', 'is only for the cinema role', 'user.cinema_only');
    },
  ];
  const refusals: AppError[] = [];
  for (const check of checks) {
    try {
      check();
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      refusals.push(err);
    }
  }
  return refusals;
}

/** Accounts of the management platform. Only admins manage accounts. */
export class UserService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(by: Actor, input: CreateUserInput): Promise<UserView> {
    requireRole(by, ['admin'], 'manage accounts');
    const [first] = newUserRefusals(input);
    if (first) throw first;
    const username = input.username;
    const password = input.password;
    const cinemaId = input.cinemaId || null;
    const passwordHash = await hashPassword(password);
    return uniquely(this.db, 'user', username, () =>
      inTransaction(this.db, async (tx) => {
        if (await findUserByUsername(tx, username)) throw alreadyExists('user', username);
        if (cinemaId && !(await findCinema(tx, cinemaId))) throw notFound('cinema', cinemaId);
        const row: UserTable = {
          user_id: randomUUID(),
          username,
          password_hash: passwordHash,
          role: input.role,
          cinema_id: cinemaId,
          status: 'active',
          created_at: this.clock.now(),
          last_login_at: null,
        };
        await insertUser(tx, row);
        const view = present(row);
        await this.audit(tx, by, 'user.create', view, null, view);
        return view;
      }),
    );
  }

  async list(by: Actor): Promise<UserView[]> {
    requireRole(by, ['admin'], 'manage accounts');
    return (await listUsers(this.db.kysely)).map(present);
  }

  async disable(by: Actor, username: string): Promise<UserView> {
    return this.setStatus(by, username, 'disabled');
  }

  async enable(by: Actor, username: string): Promise<UserView> {
    return this.setStatus(by, username, 'active');
  }

  /** Sets a new password and ends the user's sessions. */
  async resetPassword(by: Actor, username: string, password: string): Promise<UserView> {
    requireRole(by, ['admin'], 'manage accounts');
    const passwordHash = await hashPassword(checkPassword(password));
    return inTransaction(this.db, async (tx) => {
      const user = await this.require(tx, username);
      await updateUser(tx, user.user_id, { password_hash: passwordHash });
      await deleteUserSessions(tx, user.user_id);
      const view = present(user);
      // The hash is not recorded; the entry says only that the password changed.
      await this.audit(tx, by, 'user.password', view, null, null);
      return view;
    });
  }

  /**
   * A signed-in user changes their own password: the current one must be right. Every session
   * of the account ends (the user signs in again with the new password). All refusals at once
   * would need the current password checked first; a wrong one is refused on its own.
   */
  async changeOwnPassword(by: Actor, username: string, current: string, next: string): Promise<UserView> {
    if (!by.actor) throw required('actor');
    const checked = checkPassword(next);
    const user = await this.verifyCredentials(username, typeof current === 'string' ? current : '');
    if (!user) {
      throw invalid('current_password', 'is not the current password', 'user.current_password');
    }
    const passwordHash = await hashPassword(checked);
    return inTransaction(this.db, async (tx) => {
      const row = await this.require(tx, username);
      await updateUser(tx, row.user_id, { password_hash: passwordHash });
      await deleteUserSessions(tx, row.user_id);
      const view = present(row);
      await this.audit(tx, by, 'user.password', view, null, null);
      return view;
    });
  }

  /**
   * The active user with this name and password, else null — the same answer, in about the
   * same time, for an unknown name, a wrong password or a disabled account.
   */
  async verifyCredentials(username: string, password: string): Promise<UserView | null> {
    const user =
      typeof username === 'string' && username.length <= 64
        ? await findUserByUsername(this.db.kysely, username)
        : undefined;
    if (!user || typeof password !== 'string' || password.length > 4 * MAX_PASSWORD_LENGTH) {
      await verifyNothing(typeof password === 'string' ? password.slice(0, MAX_PASSWORD_LENGTH) : '');
      return null;
    }
    const ok = await verifyPassword(password, user.password_hash);
    return ok && user.status === 'active' ? present(user) : null;
  }

  private async setStatus(by: Actor, username: string, status: UserTable['status']): Promise<UserView> {
    requireRole(by, ['admin'], 'manage accounts');
    return inTransaction(this.db, async (tx) => {
      const user = await this.require(tx, username);
      const before = present(user);
      if (user.status === status) return before;
      if (status === 'disabled' && user.role === 'admin' && (await countActiveAdmins(tx)) <= 1) {
        throw conflict(
          `user ${username} is the last active admin; create or enable another admin first`,
          'user.last_admin',
          { username },
        );
      }
      await updateUser(tx, user.user_id, { status });
      if (status === 'disabled') await deleteUserSessions(tx, user.user_id);
      const after = { ...before, status };
      await this.audit(tx, by, status === 'disabled' ? 'user.disable' : 'user.enable', before, before, after);
      return after;
    });
  }

  private async require(tx: Executor, username: string): Promise<UserTable> {
    const user = typeof username === 'string' ? await findUserByUsername(tx, username) : undefined;
    if (!user) throw notFound('user', username);
    return user;
  }

  private audit(tx: Executor, by: Actor, action: string, user: UserView, before: unknown, after: unknown) {
    return recordAudit(tx, {
      at: this.clock.now(),
      actor: by.actor,
      action,
      entityType: 'user',
      entityId: user.username,
      before,
      after,
    });
  }
}
