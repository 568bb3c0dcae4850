import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CINEMA_CSV_COLUMNS } from '../src/domain/admin/catalog-import.js';
import { dayOf } from '../src/domain/dates.js';
import { adminCall, makeUser, type Session, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const TZ = 'Asia/Shanghai';
const MOBILE = '13812345678';

/** Every operation of the JSON API, as `METHOD path` with OpenAPI path templates. */
const OPERATIONS = [
  'POST /admin/api/session',
  'GET /admin/api/session',
  'DELETE /admin/api/session',
  'GET /admin/api/users',
  'POST /admin/api/users',
  'POST /admin/api/users/{username}/disable',
  'POST /admin/api/users/{username}/enable',
  'PUT /admin/api/users/{username}/password',
  'GET /admin/api/partners',
  'POST /admin/api/partners',
  'GET /admin/api/partners/{partnerId}',
  'PATCH /admin/api/partners/{partnerId}',
  'POST /admin/api/partners/{partnerId}/suspend',
  'POST /admin/api/partners/{partnerId}/resume',
  'POST /admin/api/partners/{partnerId}/grant',
  'POST /admin/api/partners/{partnerId}/revoke',
  'GET /admin/api/partners/{partnerId}/keys',
  'POST /admin/api/partners/{partnerId}/keys',
  'POST /admin/api/partners/{partnerId}/keys/{secId}/revoke',
  'PUT /admin/api/partners/{partnerId}/prices/{targetType}/{targetId}',
  'DELETE /admin/api/partners/{partnerId}/prices/{targetType}/{targetId}',
  'PUT /admin/api/partners/{partnerId}/callback',
  'GET /admin/api/partners/{partnerId}/notify',
  'POST /admin/api/notify/{eventId}/retry',
  'GET /admin/api/catalog',
  'POST /admin/api/catalog/cities',
  'PATCH /admin/api/catalog/cities/{codeId}',
  'POST /admin/api/catalog/regions',
  'PATCH /admin/api/catalog/regions/{codeId}',
  'POST /admin/api/catalog/cinemas',
  'PATCH /admin/api/catalog/cinemas/{cinemaId}',
  'POST /admin/api/catalog/cinemas/{cinemaId}/activate',
  'POST /admin/api/catalog/cinemas/{cinemaId}/deactivate',
  'POST /admin/api/catalog/kinds',
  'PATCH /admin/api/catalog/kinds/{kindId}',
  'POST /admin/api/catalog/kinds/{kindId}/activate',
  'POST /admin/api/catalog/kinds/{kindId}/deactivate',
  'PUT /admin/api/catalog/kinds/{kindId}/cinemas',
  'POST /admin/api/catalog/import',
  'GET /admin/api/cards',
  'GET /admin/api/cards/{cardNo}',
  'POST /admin/api/cards/{cardNo}/ban',
  'POST /admin/api/cards/{cardNo}/freeze',
  'POST /admin/api/cards/{cardNo}/unfreeze',
  'POST /admin/api/cards/{cardNo}/unlock',
  'POST /admin/api/cards/{cardNo}/resend',
  'GET /admin/api/sms',
  'GET /admin/api/reports/dashboard',
  'GET /admin/api/reports/statement',
  'GET /admin/api/reports/settlement',
  'GET /admin/api/reports/settlement/csv',
  'GET /admin/api/audit',
  'GET /admin/api/redemption/cards/{cardNo}',
  'POST /admin/api/redemption/redemptions',
  'POST /admin/api/redemption/redemptions/{redemptionId}/undo',
  'GET /admin/api/redemption/history',
  'GET /admin/api/redemption/totals',
];

for (const engine of engines()) {
  describe(`admin JSON API (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    it('walks a partner from creation to a redeemed card on its statement', async () => {
      const admin = await signIn(t, await makeUser(t, 'admin'));
      const call = (method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown, session: Session = admin) =>
        adminCall(t, method, url, { session, body });

      const created = await call('POST', '/admin/api/partners', {
        name: '渠道甲',
        prefix: 'QD',
        rateLimit: 50,
      });
      expect(created.status).toBe(201);
      const partner = created.json<{ partnerId: string; busId: string; status: string }>();
      expect(partner).toMatchObject({ partnerId: 'QD000001', status: 'active', rateLimit: 50 });

      const k1 = await call('POST', `/admin/api/partners/${partner.partnerId}/keys`);
      expect(k1.status).toBe(201);
      const key1 = k1.json<{ secId: string; md5key: string }>();
      // New keys sign in full mode unless asked otherwise.
      expect(key1).toMatchObject({ secId: 'k1', signMode: 'full', status: 'active' });
      expect(key1.md5key).toMatch(/^[0-9a-zA-Z]{16,64}$/);
      const client1 = t.clientFor({ partnerId: partner.partnerId, busId: partner.busId, ...key1 });
      expect((await client1.cities()).cities.length).toBeGreaterThan(0);

      const k2 = await call('POST', `/admin/api/partners/${partner.partnerId}/keys`, { signMode: 'basic' });
      const key2 = k2.json<{ secId: string; md5key: string }>();
      expect(key2).toMatchObject({ secId: 'k2', signMode: 'basic' });
      const client2 = t.clientFor({
        partnerId: partner.partnerId,
        busId: partner.busId,
        ...key2,
        signMode: 'basic',
      });
      await client1.kinds();
      await client2.kinds();
      // Keys are never shown again.
      const shown = await call('GET', `/admin/api/partners/${partner.partnerId}`);
      expect(shown.body).not.toContain(key1.md5key);
      expect(shown.json()).toMatchObject({ keys: [{ secId: 'k1' }, { secId: 'k2' }] });

      const revoked = await call('POST', `/admin/api/partners/${partner.partnerId}/keys/k1/revoke`);
      expect(revoked.status).toBe(200);
      expect(revoked.json()).toMatchObject({ secId: 'k1', status: 'revoked' });
      await expect(client1.cities()).rejects.toMatchObject({ code: 401 });
      await client2.cities();

      const price = await call('PUT', `/admin/api/partners/${partner.partnerId}/prices/cinema/1001`, {
        price: '36.55',
      });
      expect(price.status).toBe(200);
      expect(price.json()).toEqual({ targetType: 'cinema', targetId: '1001', priceFen: 3655 });

      const bought = await client2.buyByCinema({ cinemaId: '1001', count: 2, orderNo: 'ORD-7' });
      expect(bought.card.total_price).toBe('73.10');
      const paid = await client2.payByCard({ cardNo: bought.card.card_no, mobile: MOBILE });
      const cardNo = paid.card.card_no;

      const staff = await signIn(t, await makeUser(t, 'cinema', { cinemaId: '1001' }));
      const check = await call('GET', `/admin/api/redemption/cards/${cardNo}`, undefined, staff);
      expect(check.status).toBe(200);
      expect(check.json()).toMatchObject({
        valid_here: true,
        remaining: 2,
        redeemable: true,
        target_name: '影城1001',
      });

      const wrong = await call(
        'POST',
        '/admin/api/redemption/redemptions',
        { cardNo, password: paid.card.password === '00000000' ? '11111111' : '00000000', count: 2 },
        staff,
      );
      expect(wrong.status).toBe(422);
      expect(wrong.json()).toMatchObject({ error: { code: 'wrong_password', details: { triesLeft: 4 } } });

      const redeemed = await call(
        'POST',
        '/admin/api/redemption/redemptions',
        { cardNo, password: paid.card.password, count: 2 },
        staff,
      );
      expect(redeemed.status).toBe(201);
      expect(redeemed.json()).toMatchObject({
        card_no: cardNo,
        cinema_id: '1001',
        count: 2,
        remaining: 0,
        status: 'used',
      });
      expect((await client2.status({ cardNo })).card).toMatchObject({ status: 'used', used_count: '2' });

      const history = await call('GET', '/admin/api/redemption/history', undefined, staff);
      expect(history.json()).toMatchObject({ totals: { tickets: 2, cards: 1, redemptions: 1 } });
      const totals = await call('GET', '/admin/api/redemption/totals?cinemaId=1001', undefined, admin);
      expect(totals.json()).toMatchObject({ cinemaId: '1001', days: [{ tickets: 2 }] });

      const today = dayOf(t.clock.now(), TZ);
      const statement = await call(
        'GET',
        `/admin/api/reports/statement?partnerId=${partner.partnerId}&lang=en`,
      );
      expect(statement.status).toBe(200);
      expect(statement.headers['content-type']).toMatch(/^text\/csv/);
      expect(statement.headers['content-disposition']).toBe(
        `attachment; filename="statement-${partner.partnerId}-${today}.csv"`,
      );
      const lines = statement.body.replace(/^\uFEFF/, '').split('\r\n');
      const line = lines.find((l) => l.includes(cardNo))!;
      expect(line.split(',')).toEqual([
        'activation',
        expect.stringMatching(new RegExp(`^${today} `)),
        cardNo,
        'ORD-7',
        'cinema',
        '1001',
        '影城1001',
        '2',
        '36.55',
        '73.10',
        partner.partnerId,
      ]);
      expect(lines.at(-2)).toBe('1,73.10,0,0.00,73.10');

      const dashboard = await call('GET', `/admin/api/reports/dashboard?partnerId=${partner.partnerId}`);
      expect(dashboard.json()).toMatchObject({
        from_day: today,
        totals: { issued: 1, activated: 1, activated_fen: 7310, redeemed_tickets: 2 },
      });
      const audit = await call('GET', `/admin/api/audit?entityType=partner&entityId=${partner.partnerId}`);
      const entries = audit.json<{ entries: { action: string; actor: string }[] }>().entries;
      // The test clock stands still, so the order within one millisecond is not asserted.
      expect(entries.map((e) => e.action).sort()).toEqual([
        'key.create',
        'key.create',
        'key.revoke',
        'partner.create',
        'price.set',
      ]);
      expect(new Set(entries.map((e) => e.actor))).toEqual(new Set(['user:admin1']));
      expect(audit.body).not.toContain(key2.md5key);
    });

    it('applies partner changes to the partner API at once', async () => {
      const admin = await signIn(t, await makeUser(t, 'admin'));
      const suspend = await adminCall(t, 'POST', '/admin/api/partners/CS000001/suspend', { session: admin });
      expect(suspend.json()).toMatchObject({ status: 'suspended' });
      await expect(t.client.cities()).rejects.toMatchObject({ code: 403 });
      await adminCall(t, 'POST', '/admin/api/partners/CS000001/resume', { session: admin });
      await t.client.cities();
      const revoke = await adminCall(t, 'POST', '/admin/api/partners/CS000001/revoke', {
        session: admin,
        body: { interfaces: ['kinds'] },
      });
      expect(revoke.json<{ permissions: string[] }>().permissions).not.toContain('kinds');
      await expect(t.client.kinds()).rejects.toMatchObject({ code: 403 });
    });

    it('manages the catalog and imports cinemas from CSV, dry run first', async () => {
      const op = await signIn(t, await makeUser(t, 'operator'));
      const call = (method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, body?: unknown, headers = {}) =>
        adminCall(t, method, url, { session: op, body, headers });

      expect((await call('POST', '/admin/api/catalog/cities', { codeId: '009', name: '成都' })).status).toBe(
        201,
      );
      expect(
        (
          await call('POST', '/admin/api/catalog/regions', {
            codeId: '009001',
            cityId: '009',
            name: '锦江区',
          })
        ).status,
      ).toBe(201);
      const cinema = await call('POST', '/admin/api/catalog/cinemas', {
        cinemaId: 'CD01',
        name: '锦江影城',
        regionId: '009001',
        price: '29.90',
        marketPrice: '60',
      });
      expect(cinema.status).toBe(201);
      expect(cinema.json()).toMatchObject({
        cinemaId: 'CD01',
        cityId: '009',
        priceFen: 2990,
        marketPriceFen: 6000,
        active: true,
      });
      const regions = await t.client.regionsByCity({ cityId: '009' });
      expect(regions.regions.map((r) => r.code_id)).toEqual(['009001']);

      const off = await call('POST', '/admin/api/catalog/cinemas/CD01/deactivate');
      expect(off.json()).toMatchObject({ active: false });
      expect((await t.client.cities()).cities.map((c) => c.code_id)).not.toContain('009');

      const kind = await call('POST', '/admin/api/catalog/kinds', {
        kindId: 'KIMAX',
        name: 'IMAX券',
        price: '55',
        marketPrice: '120',
        validDays: 60,
        cinemaIds: ['1001'],
      });
      expect(kind.status).toBe(201);
      const cinemas = await call('PUT', '/admin/api/catalog/kinds/KIMAX/cinemas', {
        cinemaIds: ['1001', '1002'],
      });
      expect(cinemas.json()).toMatchObject({ cinemaIds: ['1001', '1002'] });
      expect((await t.client.cinemasByKind({ kindId: 'KIMAX' })).cinemas).toHaveLength(2);

      const file =
        [
          CINEMA_CSV_COLUMNS.join(','),
          '004,广州,gz,004001,天河区,th,GZ01,天河影城,"天河路1号, 2楼",020-1234,30.00,60.00,,1',
        ].join('\n') + '\n';
      const dry = await call('POST', '/admin/api/catalog/import?dryRun=true', file, {
        'content-type': 'text/csv',
      });
      expect(dry.status).toBe(200);
      expect(dry.json()).toMatchObject({
        dryRun: true,
        applied: false,
        created: 1,
        citiesCreated: 1,
        errors: [],
      });
      expect((await t.client.cities()).cities.map((c) => c.code_id)).not.toContain('004');

      const bad = await call('POST', '/admin/api/catalog/import', { csv: file.replace('30.00', 'abc') });
      expect(bad.json()).toMatchObject({ applied: false, errors: [{ row: 2, column: 'price' }] });

      const real = await call('POST', '/admin/api/catalog/import', { csv: file, source: 'gz.csv' });
      expect(real.json()).toMatchObject({ dryRun: false, applied: true, created: 1 });
      expect((await t.client.cities()).cities.map((c) => c.code_id)).toContain('004');
    });

    it('answers invalid, missing and conflicting input with the error envelope', async () => {
      const admin = await signIn(t, await makeUser(t, 'admin'));
      const call = (method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown, headers = {}) =>
        adminCall(t, method, url, { session: admin, body, headers });

      const typed = await call('POST', '/admin/api/partners', { name: '渠道', rateLimit: 'fast' });
      expect(typed.status).toBe(400);
      expect(typed.json()).toMatchObject({ error: { code: 'invalid', field: 'rateLimit' } });
      const missing = await call('POST', '/admin/api/partners', {});
      expect(missing.json()).toMatchObject({ error: { code: 'invalid', field: 'name' } });
      const rule = await call('POST', '/admin/api/partners', { name: '渠道', ipAllow: ['10.0.0.0/8'] });
      expect(rule.status).toBe(400);
      expect(rule.json()).toMatchObject({ error: { code: 'invalid', field: 'ip_allow' } });
      const json = await call('POST', '/admin/api/partners', '{"name":', {
        'content-type': 'application/json',
      });
      expect(json.status).toBe(400);
      expect(json.json()).toMatchObject({ error: { code: 'invalid' } });
      const media = await call('POST', '/admin/api/partners', 'name=x', { 'content-type': 'text/plain' });
      expect(media.status).toBe(415);
      const query = await call('GET', '/admin/api/cards?limit=0');
      expect(query.status).toBe(400);
      expect(query.json()).toMatchObject({ error: { field: 'limit' } });

      const unknown = await call('GET', '/admin/api/partners/ZZ999999');
      expect(unknown.status).toBe(404);
      expect(unknown.json()).toEqual({ error: { code: 'not_found', message: 'partner ZZ999999 not found' } });
      const noCard = await call('GET', '/admin/api/cards/1234567890123456');
      expect(noCard.status).toBe(404);
      const noRoute = await call('GET', '/admin/api/nothing-here');
      expect(noRoute.status).toBe(404);
      expect(noRoute.json()).toMatchObject({ error: { code: 'not_found' } });

      const user = { username: 'olga', password: 'long-enough-pw', role: 'operator' };
      expect((await call('POST', '/admin/api/users', user)).status).toBe(201);
      const again = await call('POST', '/admin/api/users', user);
      expect(again.status).toBe(409);
      expect(again.json()).toMatchObject({ error: { code: 'conflict' } });
      const short = await call('POST', '/admin/api/users', { ...user, username: 'olga2', password: 'short' });
      expect(short.json()).toMatchObject({ error: { code: 'invalid', field: 'password' } });
      const last = await call('POST', '/admin/api/users/admin1/disable');
      expect(last.status).toBe(409);
      for (const res of [typed, missing, json, unknown, again]) expect(res.body).not.toMatch(/at .*\.ts:\d+/);
    });

    it('refuses a NUL or other control character in an identifier or a search with 400, never 500', async () => {
      const admin = await signIn(t, await makeUser(t, 'admin'));
      for (const url of [
        '/admin/api/redemption/totals?cinemaId=%00',
        '/admin/api/redemption/history?cinemaId=a%01b',
        '/admin/api/partners/CS%0000001',
      ]) {
        const res = await adminCall(t, 'GET', url, { session: admin });
        expect(res.status, url).toBe(400);
        expect(res.json(), url).toMatchObject({ error: { code: 'invalid' } });
      }
    });

    it('manages accounts: a reset password ends the old sessions', async () => {
      const admin = await signIn(t, await makeUser(t, 'admin'));
      const created = await adminCall(t, 'POST', '/admin/api/users', {
        session: admin,
        body: { username: 'cine', password: 'first-password', role: 'cinema', cinemaId: '1001' },
      });
      expect(created.json()).toMatchObject({
        username: 'cine',
        role: 'cinema',
        cinemaId: '1001',
        status: 'active',
      });
      const cine = await signIn(t, { username: 'cine', password: 'first-password' });
      const reset = await adminCall(t, 'PUT', '/admin/api/users/cine/password', {
        session: admin,
        body: { password: 'second-password' },
      });
      expect(reset.status).toBe(200);
      expect((await adminCall(t, 'GET', '/admin/api/session', { session: cine })).status).toBe(401);
      await signIn(t, { username: 'cine', password: 'second-password' });
      const list = await adminCall(t, 'GET', '/admin/api/users', { session: admin });
      expect(list.json<{ users: { username: string }[] }>().users.map((u) => u.username)).toEqual([
        'admin1',
        'cine',
      ]);
      expect(list.body).not.toContain('scrypt');
    });

    it('searches, shows, bans and resends cards, and lists the SMS log', async () => {
      const op = await signIn(t, await makeUser(t, 'operator'));
      const a = await t.client.buyByCinema({ cinemaId: '1001', count: 1, orderNo: 'A-1' });
      const b = await t.client.buyByCinema({ cinemaId: '1002', count: 1 });
      const paid = await t.client.payByCard({ cardNo: b.card.card_no, mobile: MOBILE });

      const search = await adminCall(t, 'GET', '/admin/api/cards?orderNo=A-1', { session: op });
      expect(search.json()).toMatchObject({
        total: 1,
        items: [{ card_no: a.card.card_no, status: 'inactive' }],
      });
      const detail = await adminCall(t, 'GET', `/admin/api/cards/${b.card.card_no}`, { session: op });
      expect(detail.status).toBe(200);
      expect(detail.json()).toMatchObject({
        card: { status: 'active', mobile: MOBILE },
        events: expect.any(Array),
      });
      expect(detail.body).not.toContain(paid.card.password);

      const ban = await adminCall(t, 'POST', `/admin/api/cards/${a.card.card_no}/ban`, {
        session: op,
        body: { reason: '客户取消' },
      });
      expect(ban.json()).toMatchObject({ changed: true, card: { status: 'banned', ban_reason: '客户取消' } });
      expect((await t.client.status({ cardNo: a.card.card_no })).card.status).toBe('banned');

      t.clock.advance(1000);
      const resend = await adminCall(t, 'POST', `/admin/api/cards/${b.card.card_no}/resend`, { session: op });
      expect(resend.status).toBe(200);
      expect(resend.json<{ message_id: string }>().message_id).not.toBe('');
      const sms = await adminCall(t, 'GET', `/admin/api/sms?cardNo=${b.card.card_no}`, { session: op });
      expect(sms.json()).toMatchObject({ total: 2, items: [{ reason: 'resend' }, { reason: 'activation' }] });
      expect(sms.body).not.toContain(paid.card.password);
    });

    it('describes every /admin/api route in the OpenAPI document and the docs page', async () => {
      const s = await signIn(t, await makeUser(t, 'cinema', { cinemaId: '1001' }));
      const res = await adminCall(t, 'GET', '/admin/docs/openapi.json', { session: s });
      expect(res.status).toBe(200);
      const doc = res.json<{
        openapi: string;
        paths: Record<string, Record<string, { responses: Record<string, unknown>; 'x-roles': unknown }>>;
      }>();
      expect(doc.openapi).toBe('3.1.0');
      const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
      );
      expect(documented.sort()).toEqual([...OPERATIONS].sort());
      for (const op of OPERATIONS) {
        const [method, path] = op.split(' ') as [string, string];
        const url = path.replace(/\{(\w+)\}/g, ':$1');
        expect(t.app.fastify.hasRoute({ method: method as 'GET', url }), op).toBe(true);
        const described = doc.paths[path]![method.toLowerCase()]!;
        expect(
          Object.keys(described.responses).some((s) => s.startsWith('2')),
          op,
        ).toBe(true);
        expect(described['x-roles'], op).toBeTruthy();
      }
      expect(doc.paths['/admin/api/partners/{partnerId}/keys']!.post!['x-roles']).toEqual(['admin']);

      const page = await adminCall(t, 'GET', '/admin/docs', { session: s });
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('/admin/api/catalog/import');
      expect(page.body).not.toMatch(/<script|https?:\/\/(?!localhost)/);
      // The docs are pages, not API calls: a stranger is sent to the login form.
      expect((await adminCall(t, 'GET', '/admin/docs/openapi.json')).status).toBe(303);
    });
  });
}
