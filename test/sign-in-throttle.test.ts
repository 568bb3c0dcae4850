import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Db } from '../src/db/database.js';
import { adminCall, type AdminResponse, makeUser, PASSWORD } from './support/admin.js';
import { createPgDatabase, engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';
import { Sweeper } from '../src/workers/expiry.js';

const MIN = 60_000;

/** Two handles on one fresh database, as two instances of the server would hold. */
async function sharedDatabase(
  engine: 'sqlite' | 'postgres',
  drops: (() => Promise<void>)[],
): Promise<[Db, Db]> {
  if (engine === 'postgres') {
    const { url, drop } = await createPgDatabase();
    drops.push(drop);
    const first = await openDatabase({ url, poolSize: 12 });
    return [first, await openDatabase({ url, poolSize: 12 })];
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-throttle-'));
  drops.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'movticket.sqlite');
  const first = await openDatabase({ sqlitePath: file });
  return [first, await openDatabase({ sqlitePath: file })];
}

const statuses = (responses: AdminResponse[]) => {
  const count: Record<number, number> = {};
  for (const r of responses) count[r.status] = (count[r.status] ?? 0) + 1;
  return count;
};

for (const engine of engines()) {
  // Each judged attempt costs a ~100 ms password hash, and these tests judge up to 40.
  describe(`sign-in throttling under parallel requests (${engine.name})`, { timeout: 120_000 }, () => {
    const drops: (() => Promise<void>)[] = [];
    let apps: TestApp[] = [];
    afterEach(async () => {
      await Promise.all(apps.map((a) => a.close()));
      apps = [];
    });
    afterAll(async () => {
      await Promise.all(drops.splice(0).map((d) => d()));
      await engine.cleanup();
    });

    /** Two app instances on one database. */
    const twoInstances = async (config: Parameters<typeof makeTestApp>[1] = {}) => {
      const [a, b] = await sharedDatabase(engine.name, drops);
      apps = [await makeTestApp(a, config), await makeTestApp(b, { ...config, seed: false })];
      return apps as [TestApp, TestApp];
    };
    const one = async (config: Parameters<typeof makeTestApp>[1] = {}) => {
      apps = [await makeTestApp(await engine.open(), config)];
      return apps[0]!;
    };

    const signInAs = (t: TestApp, username: string, password: string, ip = '203.0.113.7') =>
      adminCall(t, 'POST', '/admin/api/session', { body: { username, password }, ip });

    it('judges at most 5 of 40 parallel guesses at one name from one address, across two instances', async () => {
      const [a, b] = await twoInstances();
      const admin = await makeUser(a, 'admin');
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) => signInAs(i % 2 ? b : a, admin.username, `wrong-${i}`)),
      );
      // Judged guesses answer 401; the rest were refused before any password was checked.
      expect(statuses(responses)).toEqual({ 401: 5, 429: 35 });
      for (const r of responses.filter((r) => r.status === 429)) {
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(14 * 60);
      }
    });

    it('lets a right password sent among parallel guesses in only within the limit', async () => {
      const [a, b] = await twoInstances();
      const admin = await makeUser(a, 'admin');
      for (let i = 0; i < 4; i++) expect((await signInAs(a, admin.username, `wrong-${i}`)).status).toBe(401);
      // One guess is left: exactly one of these is judged. The right password signs in only if it
      // is that one; it can never be judged as a sixth attempt.
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          signInAs(i % 2 ? b : a, admin.username, i === 20 ? PASSWORD : `wrong-${i}`),
        ),
      );
      const count = statuses(responses);
      expect(count[429]).toBe(39);
      expect((count[401] ?? 0) + (count[200] ?? 0)).toBe(1);
      if (responses[20]!.status !== 200) {
        expect((await signInAs(a, admin.username, PASSWORD)).status).toBe(429);
      }
    });

    it('judges at most 20 parallel guesses from one address whatever the names, across two instances', async () => {
      const [a, b] = await twoInstances();
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) => signInAs(i % 2 ? b : a, `guess${i}`, 'wrong-password')),
      );
      expect(statuses(responses)).toEqual({ 401: 20, 429: 20 });
    });

    it('judges at most 5 parallel guesses per name and address while a third address signs in', async () => {
      const t = await one();
      const admin = await makeUser(t, 'admin');
      const responses = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => signInAs(t, admin.username, `wrong-${i}`, '10.0.0.1')),
        ...Array.from({ length: 20 }, (_, i) => signInAs(t, admin.username, `wrong-${i}`, '10.0.0.2')),
        signInAs(t, admin.username, PASSWORD, '10.0.0.3'),
      ]);
      expect(responses.at(-1)!.status).toBe(200);
      // The success may clear the name's count while the others are still arriving, so up to
      // 5 more per address could then be judged; never more than that.
      const judged = (from: number) =>
        responses.slice(from, from + 20).filter((r) => r.status === 401).length;
      expect(judged(0)).toBeGreaterThanOrEqual(5);
      expect(judged(0)).toBeLessThanOrEqual(10);
      expect(judged(20)).toBeGreaterThanOrEqual(5);
      expect(judged(20)).toBeLessThanOrEqual(10);
    });

    it('slows a name guessed from many addresses to one guess per address, never locking out its owner', async () => {
      const t = await one();
      const admin = await makeUser(t, 'admin');
      // 6 addresses × 5 failures: 30 failures at one name within the window.
      const seeded = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          signInAs(t, admin.username, `wrong-${i}`, `198.51.100.${1 + (i % 6)}`),
        ),
      );
      expect(statuses(seeded)).toEqual({ 401: 30 });
      // A new address now gets one guess, not five.
      expect((await signInAs(t, admin.username, 'wrong', '198.51.100.7')).status).toBe(401);
      const slowed = await signInAs(t, admin.username, 'wrong', '198.51.100.7');
      expect(slowed.status).toBe(429);
      expect(Number(slowed.headers['retry-after'])).toBeGreaterThan(14 * 60);
      // The owner, from an address that has not failed, still signs in at the first try.
      expect((await signInAs(t, admin.username, PASSWORD, '192.0.2.10')).status).toBe(200);
      // That success starts the name's count again: a fresh address gets five guesses again...
      for (let i = 0; i < 5; i++) {
        expect((await signInAs(t, admin.username, 'wrong', '198.51.100.8')).status).toBe(401);
      }
      // ...while the addresses that failed stay locked for their window.
      expect((await signInAs(t, admin.username, PASSWORD, '198.51.100.1')).status).toBe(429);
      t.clock.advance(15 * MIN);
      expect((await signInAs(t, admin.username, PASSWORD, '198.51.100.1')).status).toBe(200);
    });

    it('counts the client a trusted proxy saw, whatever the client wrote into X-Forwarded-For', async () => {
      // One proxy in front: the test's socket peer, 127.0.0.1, which appends the address it saw.
      const { trustProxy } = loadConfig({ MOVTICKET_TRUST_PROXY: '127.0.0.1' });
      const t = await one({ config: { trustProxy } });
      const admin = await makeUser(t, 'admin');
      const via = (xff: string, username: string, password: string) =>
        adminCall(t, 'POST', '/admin/api/session', {
          body: { username, password },
          headers: { 'x-forwarded-for': xff },
        });
      const guesses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => via(`10.1.0.${i}, 203.0.113.7`, `guess${i}`, 'wrong')),
      );
      expect(statuses(guesses)).toEqual({ 401: 20 });
      expect((await via('10.9.9.9, 203.0.113.7', admin.username, PASSWORD)).status).toBe(429);
      expect((await via('203.0.113.8, 198.51.100.1', admin.username, PASSWORD)).status).toBe(200);
    });

    it('forgets attempts older than the window on a successful sign-in and in the sweep', async () => {
      const t = await one();
      const admin = await makeUser(t, 'admin');
      const rows = async () =>
        (await t.db.kysely.selectFrom('login_attempts').select('key').execute()).map((r) => r.key);
      for (let i = 0; i < 3; i++) await signInAs(t, 'ghost', 'wrong', '10.0.0.9');
      expect(await rows()).toContain('ip:10.0.0.9');
      t.clock.advance(15 * MIN + 1);
      await signInAs(t, 'other', 'wrong', '10.0.0.8');
      expect((await signInAs(t, admin.username, PASSWORD, '10.0.0.1')).status).toBe(200);
      // Only the failure inside the window remains.
      expect((await rows()).sort()).toEqual(['ip:10.0.0.8', 'pair:10.0.0.8|other', 'user:other']);

      t.clock.advance(15 * MIN + 1);
      await new Sweeper(t.db, t.clock, t.app.requestLog, 86_400_000, (err) => {
        throw err;
      }).pass();
      expect(await rows()).toEqual([]);
      expect(await t.db.kysely.selectFrom('login_locks').selectAll().execute()).toEqual([]);
    });
  });
}
