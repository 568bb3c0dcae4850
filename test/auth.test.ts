import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { insertSecurityConfig, updatePartner } from '../src/db/partner.repository.js';
import { bumpRegistryVersion } from '../src/db/catalog.repository.js';
import { formatTimestamp } from '../src/client/index.js';
import { loadConfig } from '../src/config.js';
import { engines } from './support/engines.js';
import { makeTestApp, nextReqId, type TestApp } from './support/harness.js';

const envelope = (body: string) =>
  JSON.parse(body) as { code: number; error?: { type: string; message: string } };

for (const engine of engines()) {
  describe(`authentication and authorization (${engine.name})`, () => {
    let t: TestApp;
    afterEach(() => t?.close());
    afterAll(() => engine.cleanup());

    const open = async (opts: Parameters<typeof makeTestApp>[1] = {}) => {
      t = await makeTestApp(await engine.open(), opts);
      return t;
    };
    const call = async (method: string, params: Record<string, string>, headers?: Record<string, string>) => {
      const res = await t.post(method, { ...params, format: 'json' }, headers);
      const body = envelope(res.body);
      expect(body.code).toBe(res.status);
      return {
        status: res.status,
        type: body.error?.type,
        message: body.error?.message ?? '',
        headers: res.headers,
      };
    };

    it('accepts the contract basic-mode signature and upper-case hashcodes', async () => {
      await open();
      const params = t.signed();
      expect((await call('cities', params)).status).toBe(200);
      const upper = t.signed();
      expect((await call('cities', { ...upper, hashcode: upper.hashcode!.toUpperCase() })).status).toBe(200);
    });

    it('rejects unknown partner or sec_id (401 unknown_partner) and a wrong hashcode (401 invalid_signature)', async () => {
      await open();
      expect(await call('cities', t.signed(undefined, {}, { partnerId: 'ZZ999999' }))).toMatchObject({
        status: 401,
        type: 'unknown_partner',
      });
      expect(await call('cities', t.signed(undefined, {}, { secId: 'nope' }))).toMatchObject({
        status: 401,
        type: 'unknown_partner',
      });
      expect(await call('cities', t.signed(undefined, {}, { md5key: 'wrongkey' }))).toMatchObject({
        status: 401,
        type: 'invalid_signature',
      });
      const p = t.signed();
      expect(await call('cities', { ...p, req_id: nextReqId() })).toMatchObject({
        status: 401,
        type: 'invalid_signature',
      });
    });

    it('in full mode signs the business parameters too', async () => {
      await open({ partner: { signMode: 'full' } });
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const ok = t.signed(undefined, { card_no: card.card_no, mobile: '13812345678' }, { signMode: 'full' });
      const tampered = { ...ok, mobile: '13900000000' };
      expect(await call('payByCard', tampered)).toMatchObject({ status: 401, type: 'invalid_signature' });
      const basic = t.signed(
        undefined,
        { card_no: card.card_no, mobile: '13812345678' },
        { signMode: 'basic' },
      );
      expect(await call('payByCard', basic)).toMatchObject({ status: 401, type: 'invalid_signature' });
      expect((await call('payByCard', ok)).status).toBe(200);
    });

    it('accepts several live sec_ids and refuses a revoked one', async () => {
      await open();
      await insertSecurityConfig(t.db.kysely, {
        partner_id: 'CS000001',
        sec_id: 'rot2',
        md5key: 'secondkey0000',
        sign_mode: 'full',
        status: 'active',
        created_at: Date.now(),
      });
      await bumpRegistryVersion(t.db.kysely);
      await t.app.registry.reload();
      expect(
        (
          await call(
            'cities',
            t.signed(undefined, {}, { secId: 'rot2', md5key: 'secondkey0000', signMode: 'full' }),
          )
        ).status,
      ).toBe(200);
      expect((await call('cities', t.signed())).status).toBe(200);
      await t.db.kysely
        .updateTable('security_configs')
        .set({ status: 'revoked' })
        .where('sec_id', '=', 'test')
        .execute();
      await bumpRegistryVersion(t.db.kysely);
      await t.app.registry.reload();
      expect(await call('cities', t.signed())).toMatchObject({ status: 401, type: 'unknown_partner' });
    });

    it('enforces the timestamp window both ways and accepts the 16-digit form', async () => {
      await open({ config: { timestampWindowSec: 300 } });
      const at = (offsetMs: number) => formatTimestamp(new Date(t.clock.now() + offsetMs), 'Asia/Shanghai');
      const resign = (timestamp: string) => Promise.resolve(t.signed(undefined, {}, { timestamp }));
      expect((await call('cities', await resign(at(-290_000)))).status).toBe(200);
      expect((await call('cities', await resign(at(290_000)))).status).toBe(200);
      expect(await call('cities', await resign(at(-310_000)))).toMatchObject({
        status: 401,
        type: 'timestamp_expired',
      });
      expect(await call('cities', await resign(at(310_000)))).toMatchObject({
        status: 401,
        type: 'timestamp_expired',
      });
      expect((await call('cities', await resign(at(0) + '42'))).status).toBe(200);
    });

    it('checks the allow-list against the client the trusted proxy saw, not a forged X-Forwarded-For', async () => {
      // One proxy in front (the test's socket peer 127.0.0.1); it appends the address it saw.
      const { trustProxy } = loadConfig({ MOVTICKET_TRUST_PROXY: '127.0.0.1' });
      await open({ partner: { ipAllow: ['203.0.113.7'] }, config: { trustProxy } });
      const via = (xff: string) => call('cities', t.signed(), { 'x-forwarded-for': xff });
      expect((await via('203.0.113.7')).status).toBe(200);
      // A client elsewhere puts the allowed address first; the proxy adds the real one.
      expect(await via('203.0.113.7, 198.51.100.9')).toMatchObject({ status: 403, type: 'ip_denied' });
      expect(await via('203.0.113.7,203.0.113.7, 198.51.100.9')).toMatchObject({
        status: 403,
        type: 'ip_denied',
      });
    });

    it('refuses a suspended partner, a foreign bus_id, a caller off the allow-list and an ungranted interface (403)', async () => {
      await open({ partner: { permissions: ['cities', 'kinds'], ipAllow: ['10.9.9.9'] } });
      expect(await call('cities', t.signed())).toMatchObject({ status: 403, type: 'ip_denied' });
      await updatePartner(t.db.kysely, 'CS000001', { ip_allow: '127.0.0.1' });
      await bumpRegistryVersion(t.db.kysely);
      await t.app.registry.reload();
      expect((await call('cities', t.signed())).status).toBe(200);
      expect(await call('regionsByCity', t.signed(undefined, { city_id: '001' }))).toMatchObject({
        status: 403,
        type: 'permission_denied',
      });
      expect(await call('cities', t.signed(undefined, {}, { busId: '0102' }))).toMatchObject({
        status: 403,
        type: 'permission_denied',
      });
      await updatePartner(t.db.kysely, 'CS000001', { status: 'suspended' });
      await bumpRegistryVersion(t.db.kysely);
      await t.app.registry.reload();
      expect(await call('cities', t.signed())).toMatchObject({ status: 403, type: 'partner_disabled' });
    });

    it('limits a partner with a rate limit (429 with Retry-After) and not others', async () => {
      await open({ partner: { rateLimit: 3 } });
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push(await call('cities', t.signed()));
      expect(statuses.map((s) => s.status)).toEqual([200, 200, 200, 429, 429]);
      expect(statuses[3]!.type).toBe('rate_limited');
      expect(Number(statuses[3]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      t.clock.advance(1_000);
      expect((await call('cities', t.signed())).status).toBe(200);
    });

    it('answers 400 unsupported_version, 404 no_such_method and 405 method_not_allowed', async () => {
      await open();
      expect(await call('cities', { ...t.signed(), ver: '2000' })).toMatchObject({
        status: 400,
        type: 'unsupported_version',
      });
      expect(await call('refund', t.signed())).toMatchObject({ status: 404, type: 'no_such_method' });
      const get = await t.app.fastify.inject({ method: 'GET', url: '/movTicket/cities?format=json' });
      expect(get.statusCode).toBe(405);
      expect(get.headers.allow).toBe('POST');
      expect(envelope(get.body).error?.type).toBe('method_not_allowed');
    });

    it('answers 504 timeout when a request cannot finish in time, and the retry gets the result', async () => {
      await open({ config: { requestTimeoutMs: 300 } });
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const reqId = nextReqId();
      // Hold the card row (PostgreSQL) or the whole database (SQLite) so payment must wait.
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const lockTaken = new Promise<void>((r) => (locked = r));
      const holder = t.db.kysely.transaction().execute(async (tx) => {
        await tx.updateTable('cards').set({ updated_at: 1 }).where('card_no', '=', card.card_no).execute();
        locked();
        await held;
      });
      await lockTaken;
      const timedOut = await t.client
        .payByCard({ cardNo: card.card_no, mobile: '13812345678' }, { reqId })
        .catch((e: unknown) => e);
      expect(timedOut).toMatchObject({ code: 504, type: 'timeout' });
      release();
      await holder;
      // The timed-out payment goes on once the lock is free; its req_id answer commits with it.
      await vi.waitFor(
        async () => {
          const row = await t.db.kysely
            .selectFrom('cards')
            .select('status')
            .where('card_no', '=', card.card_no)
            .executeTakeFirstOrThrow();
          expect(row.status).toBe('active');
        },
        { timeout: 20_000, interval: 10 },
      );
      const retried = await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' }, { reqId });
      expect(retried.card.status).toBe('active');
      expect(
        Number(
          (
            await t.db.kysely
              .selectFrom('sms_messages')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      ).toBe(1);
    });

    it.runIf(engine.name === 'postgres')(
      'answers 503 unavailable when database connections drop, then recovers',
      async () => {
        await open();
        const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
        await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.execute(
          t.db.kysely,
        );
        const results = [];
        for (let i = 0; i < 15; i++) {
          const r = await call('status', t.signed(undefined, { card_no: card.card_no }));
          results.push(r.status);
          expect(r.message).not.toMatch(/terminat|pg_|sql/i);
        }
        expect(results.every((s) => s === 200 || s === 503)).toBe(true);
        expect(results.at(-1)).toBe(200);
      },
    );
  });
}
