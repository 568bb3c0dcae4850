import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LISTENER_APPLICATION_NAME } from '../src/db/registry-listener.js';
import { adminCall, makeUser, type Session, signIn } from './support/admin.js';
import { sharedEngines } from './support/engines.js';
import { makeTestApp, refusal, type TestApp } from './support/harness.js';

// Two instances of the service on one database, as behind a load balancer: a change made through
// one instance's management API is seen by the other before its next partner request. On
// PostgreSQL the other instance also hears of it at once (LISTEN/NOTIFY) and reloads without
// waiting for a request; its version check covers a notification that is late or lost.

// Only a hang guard: the other instance normally hears within milliseconds.
const HEARD = { timeout: 15_000, interval: 20 };

for (const engine of sharedEngines()) {
  describe(`two instances on one database (${engine.name})`, () => {
    let a: TestApp;
    let b: TestApp;
    let admin: Session;
    beforeEach(async () => {
      const [dbA, dbB] = await engine.open();
      a = await makeTestApp(dbA);
      b = await makeTestApp(dbB, { seed: false, secrets: a.secrets });
      admin = await signIn(a, await makeUser(a, 'admin'));
      // Both have answered with the registry as it was.
      expect((await a.client.cities()).cities.length).toBeGreaterThan(0);
      expect((await b.client.cities()).cities.length).toBeGreaterThan(0);
    });
    afterEach(async () => {
      await b.close();
      await a.close();
    });
    afterAll(() => engine.cleanup());

    const viaA = async (method: 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown) => {
      const res = await adminCall(a, method, url, { session: admin, body });
      expect(res.status, res.body).toBe(200);
    };

    it('refuses on the other instance a key revoked through one', async () => {
      await viaA('POST', '/admin/api/partners/CS000001/keys/test/revoke');
      expect(await refusal(b.client.cities())).toEqual({ code: 401, type: 'unknown_partner' });
    });

    it('refuses on the other instance a partner suspended through one, and serves it once resumed', async () => {
      await viaA('POST', '/admin/api/partners/CS000001/suspend');
      expect(await refusal(b.client.buyByCinema({ cinemaId: '1001', count: 1 }))).toEqual({
        code: 403,
        type: 'partner_disabled',
      });
      await viaA('POST', '/admin/api/partners/CS000001/resume');
      expect((await b.client.buyByCinema({ cinemaId: '1001', count: 1 })).card.count).toBe('1');
    });

    it('charges on the other instance a price changed through one', async () => {
      await viaA('PUT', '/admin/api/partners/CS000001/prices/cinema/1001', { price: '39.50' });
      const { card } = await b.client.buyByCinema({ cinemaId: '1001', count: 2 });
      expect(card).toMatchObject({ price: '39.50', total_price: '79.00' });
    });

    it('lists on the other instance the catalog as edited through one', async () => {
      const listed = async () =>
        (await b.client.cinemasByRegion({ regionId: '001001' })).cinemas.map((c) => c.cinema_id);
      expect(await listed()).toContain('1001');
      await viaA('POST', '/admin/api/catalog/cinemas/1001/deactivate');
      expect(await listed()).not.toContain('1001');
      expect(await refusal(b.client.buyByCinema({ cinemaId: '1001', count: 1 }))).toMatchObject({
        code: 400,
      });
    });

    if (engine.name !== 'postgres') return;

    it('reloads on the other instance as soon as the change commits, before any request', async () => {
      const before = b.app.registry.snapshot;
      expect(before.partners.get('CS000001')?.status).toBe('active');
      await viaA('POST', '/admin/api/partners/CS000001/suspend');
      await vi.waitFor(() => {
        expect(b.app.registry.snapshot.partners.get('CS000001')?.status).toBe('suspended');
      }, HEARD);
    });

    it('listens again after its listening connection was cut, and hears what changed meanwhile', async () => {
      const cut = await sql<{ cut: boolean }>`
        select pg_terminate_backend(pid) as cut from pg_stat_activity
        where application_name = ${LISTENER_APPLICATION_NAME} and datname = current_database()`.execute(
        a.db.kysely,
      );
      expect(cut.rows.length).toBeGreaterThanOrEqual(2); // one per instance
      await viaA('PUT', '/admin/api/partners/CS000001/prices/cinema/1001', { price: '36.00' });
      await vi.waitFor(() => {
        expect(b.app.registry.snapshot.partners.get('CS000001')?.prices.get('cinema:1001')).toBe(3600);
      }, HEARD);
      await viaA('PUT', '/admin/api/partners/CS000001/prices/cinema/1001', { price: '37.00' });
      await vi.waitFor(() => {
        expect(b.app.registry.snapshot.partners.get('CS000001')?.prices.get('cinema:1001')).toBe(3700);
      }, HEARD);
    });
  });
}
