import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/database.js';
import type { Actor } from '../src/domain/admin/audit.service.js';
import { hashPassword, setHashCostForTests, verifyPassword } from '../src/domain/admin/passwords.js';
import { UserService } from '../src/domain/admin/user.service.js';
import { ManualClock } from '../src/domain/clock.js';
import { engines } from './support/engines.js';
import { makeCatalog } from './support/factories.js';
import { TEST_HASH_COST } from './support/setup.js';

const admin: Actor = { actor: 'cli:root', role: 'admin' };
const operator: Actor = { actor: 'user:olga', role: 'operator' };
const PASSWORD = 'correct horse battery';

describe('password hashing', () => {
  // At the production cost, not the test setup's.
  beforeAll(() => setHashCostForTests());
  afterAll(() => setHashCostForTests(TEST_HASH_COST));

  it('stores scrypt$N$r$p$salt$hash with a fresh salt and verifies only the right password', async () => {
    const a = await hashPassword(PASSWORD);
    const b = await hashPassword(PASSWORD);
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword(PASSWORD, a)).toBe(true);
    expect(await verifyPassword(`${PASSWORD}!`, a)).toBe(false);
    const parts = a.split('$');
    const tampered = [...parts.slice(0, 5), Buffer.alloc(32).toString('base64url')].join('$');
    expect(await verifyPassword(PASSWORD, tampered)).toBe(false);
    for (const malformed of [
      '',
      'plain',
      'scrypt$1$8$1$abc$def',
      'bcrypt$32768$8$1$x$y',
      `scrypt$33554432$8$1$${parts[4]}$${parts[5]}`,
    ]) {
      expect(await verifyPassword(PASSWORD, malformed)).toBe(false);
    }
  });
});

for (const engine of engines()) {
  describe(`user accounts (${engine.name})`, () => {
    let db: Db;
    let clock: ManualClock;
    let users: UserService;
    beforeEach(async () => {
      db = await engine.open();
      await makeCatalog(db);
      clock = new ManualClock(Date.UTC(2025, 0, 2));
      users = new UserService(db, clock);
    });
    afterEach(() => db.close());
    afterAll(() => engine.cleanup());

    const auditRows = () => db.kysely.selectFrom('audit_log').selectAll().orderBy('at').execute();
    const addSession = (userId: string) =>
      db.kysely
        .insertInto('sessions')
        .values({ session_id: `s-${userId}`, user_id: userId, csrf_token: 'c', created_at: 0, expires_at: 1 })
        .execute();
    const sessionCount = async () => (await db.kysely.selectFrom('sessions').selectAll().execute()).length;

    it('creates accounts and verifies credentials, answering null alike for every wrong part', async () => {
      const root = await users.create(admin, { username: 'root', password: PASSWORD, role: 'admin' });
      expect(root).toMatchObject({
        username: 'root',
        role: 'admin',
        cinemaId: null,
        status: 'active',
        createdAt: clock.now(),
      });
      const desk = await users.create(admin, {
        username: 'desk.1001',
        password: PASSWORD,
        role: 'cinema',
        cinemaId: '1001',
      });
      expect(desk.cinemaId).toBe('1001');

      expect(await users.verifyCredentials('root', PASSWORD)).toEqual(root);
      expect(await users.verifyCredentials('root', 'wrong password')).toBeNull();
      expect(await users.verifyCredentials('nobody', PASSWORD)).toBeNull();
      expect(await users.verifyCredentials('', '')).toBeNull();
      const stored = await db.kysely
        .selectFrom('users')
        .select('password_hash')
        .where('username', '=', 'root')
        .executeTakeFirstOrThrow();
      expect(stored.password_hash).toMatch(/^scrypt\$/);
      expect(stored.password_hash).not.toContain(PASSWORD);

      expect((await users.list(admin)).map((u) => [u.username, u.role])).toEqual([
        ['desk.1001', 'cinema'],
        ['root', 'admin'],
      ]);
      const rows = await auditRows();
      expect(rows.map((r) => [r.action, r.entity_id, r.actor])).toEqual([
        ['user.create', 'root', 'cli:root'],
        ['user.create', 'desk.1001', 'cli:root'],
      ]);
      expect(JSON.parse(rows[0]!.after!)).toMatchObject({ username: 'root', role: 'admin' });
      expect(JSON.stringify(rows)).not.toMatch(/scrypt|correct horse/);
    });

    it('validates username, password, role and cinema binding', async () => {
      const base = { username: 'alice', password: PASSWORD, role: 'operator' as const };
      const cases: [Parameters<UserService['create']>[1], string, string][] = [
        [{ ...base, username: 'Al' }, 'invalid', 'username'],
        [{ ...base, username: 'Alice' }, 'invalid', 'username'],
        [{ ...base, username: 'a'.repeat(33) }, 'invalid', 'username'],
        [{ ...base, password: 'short1234' }, 'invalid', 'password'],
        [{ ...base, role: 'root' as never }, 'invalid', 'role'],
        [{ ...base, role: 'cinema' }, 'invalid', 'cinema_id'],
        [{ ...base, cinemaId: '1001' }, 'invalid', 'cinema_id'],
      ];
      for (const [input, code, field] of cases) {
        await expect(users.create(admin, input)).rejects.toMatchObject({ code, field });
      }
      await expect(users.create(admin, { ...base, role: 'cinema', cinemaId: '9999' })).rejects.toMatchObject({
        code: 'not_found',
        message: 'cinema 9999 not found',
      });
      await users.create(admin, base);
      await expect(users.create(admin, base)).rejects.toMatchObject({
        code: 'conflict',
        message: 'user alice already exists',
      });
      await expect(users.create(operator, { ...base, username: 'bob' })).rejects.toMatchObject({
        code: 'forbidden',
        status: 403,
      });
      await expect(users.list(operator)).rejects.toMatchObject({ code: 'forbidden' });
    });

    it('disables and enables an account, ending its sessions, but never the last active admin', async () => {
      await users.create(admin, { username: 'root', password: PASSWORD, role: 'admin' });
      const olga = await users.create(admin, { username: 'olga', password: PASSWORD, role: 'operator' });
      await addSession(olga.userId);
      expect((await users.disable(admin, 'olga')).status).toBe('disabled');
      expect(await sessionCount()).toBe(0);
      expect(await users.verifyCredentials('olga', PASSWORD)).toBeNull();
      await users.enable(admin, 'olga');
      expect(await users.verifyCredentials('olga', PASSWORD)).toMatchObject({ username: 'olga' });

      await expect(users.disable(admin, 'root')).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringContaining('last active admin'),
      });
      await users.create(admin, { username: 'root2', password: PASSWORD, role: 'admin' });
      await users.disable(admin, 'root');
      expect(await users.verifyCredentials('root', PASSWORD)).toBeNull();
      await expect(users.disable(admin, 'ghost')).rejects.toMatchObject({ code: 'not_found' });

      const disable = (await auditRows()).find((r) => r.action === 'user.disable' && r.entity_id === 'olga')!;
      expect(JSON.parse(disable.before!)).toMatchObject({ status: 'active' });
      expect(JSON.parse(disable.after!)).toMatchObject({ status: 'disabled' });
    });

    it('resets a password: the old one stops working and sessions end', async () => {
      const olga = await users.create(admin, { username: 'olga', password: PASSWORD, role: 'operator' });
      await addSession(olga.userId);
      await expect(users.resetPassword(admin, 'olga', 'too short')).rejects.toMatchObject({
        field: 'password',
      });
      await users.resetPassword(admin, 'olga', 'another long secret');
      expect(await users.verifyCredentials('olga', PASSWORD)).toBeNull();
      expect(await users.verifyCredentials('olga', 'another long secret')).toMatchObject({
        username: 'olga',
      });
      expect(await sessionCount()).toBe(0);
      const rows = await auditRows();
      expect(rows.at(-1)).toMatchObject({
        action: 'user.password',
        entity_id: 'olga',
        before: null,
        after: null,
      });
      expect(JSON.stringify(rows)).not.toMatch(/scrypt|another long secret/);
    });
  });
}
