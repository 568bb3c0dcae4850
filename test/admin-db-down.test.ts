import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../src/db/database.js';
import { adminCall, makeUser, signIn, type Session } from './support/admin.js';
import { makeTestApp, type TestApp } from './support/harness.js';
import {
  createPrivatePostgres,
  privatePostgresSkipReason,
  type PrivatePostgres,
} from './support/private-postgres.js';

// The management platform while PostgreSQL is away, on a private throwaway cluster.
const skipReason = process.env.TEST_DATABASE_URL
  ? privatePostgresSkipReason()
  : 'TEST_DATABASE_URL is not set (PostgreSQL tests run in CI only)';
if (skipReason) console.info(`admin database-down test skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('the management platform while PostgreSQL is down', () => {
  let cluster: PrivatePostgres;
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    cluster = await createPrivatePostgres();
    const db = await openDatabase({ url: await cluster.createDatabase('movticket'), poolSize: 4 });
    t = await makeTestApp(db);
    admin = await signIn(t, await makeUser(t, 'admin'));
  }, 60_000);
  afterAll(async () => {
    await t?.close().catch(() => {});
    await cluster?.remove();
  });

  it('answers 503 unavailable in the API and the console, then serves again once it is back', async () => {
    expect((await adminCall(t, 'GET', '/admin/api/partners', { session: admin })).status).toBe(200);
    await cluster.stop('fast');
    const api = await adminCall(t, 'GET', '/admin/api/partners', { session: admin });
    expect(api.status).toBe(503);
    expect(api.json()).toEqual({
      error: { code: 'unavailable', message: 'storage is unavailable; retry later' },
    });
    expect(api.headers['retry-after']).toBeDefined();
    const page = await adminCall(t, 'GET', '/admin/partners', { session: admin });
    expect(page.status).toBe(503);
    expect(page.body).not.toMatch(/ECONNREFUSED|select |at .*\.ts/);
    await cluster.start();
    // Serves again by itself once the cluster is back.
    await vi.waitFor(
      async () =>
        expect((await adminCall(t, 'GET', '/admin/api/partners', { session: admin })).status).toBe(200),
      { timeout: 30_000, interval: 100 },
    );
  }, 60_000);
});
