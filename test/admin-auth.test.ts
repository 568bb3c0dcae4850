import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import Fastify, { type InjectOptions } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { registerAdminAuth } from '../src/http/admin/auth/index.js';
import { requireRole, verifyCsrf } from '../src/http/admin/auth/guards.js';
import { installBodyParsers, uploadedFile } from '../src/http/admin/body.js';
import { createAdminDeps } from '../src/http/admin/deps.js';
import { sendError } from '../src/http/admin/errors.js';
import {
  adminCall,
  cookieSet,
  makeUser,
  PASSWORD,
  type Session,
  setCookies,
  signIn,
} from './support/admin.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** A multipart body of text fields and files. */
async function multipart(
  parts: Record<string, string | { filename: string; type: string; text: string }>,
): Promise<{ body: Buffer; contentType: string }> {
  const fd = new FormData();
  for (const [name, v] of Object.entries(parts)) {
    if (typeof v === 'string') fd.append(name, v);
    else fd.append(name, new Blob([v.text], { type: v.type }), v.filename);
  }
  const req = new Request('http://x.invalid/', { method: 'POST', body: fd });
  return { body: Buffer.from(await req.arrayBuffer()), contentType: req.headers.get('content-type')! };
}

for (const engine of engines()) {
  describe(`admin sign-in, sessions, roles and CSRF (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const inject = (opts: InjectOptions) => t.app.fastify.inject(opts);

    /** GET /admin/login: the pre-session cookie and the form's hidden token. */
    const loginForm = async (query = '') => {
      const res = await inject({ method: 'GET', url: `/admin/login${query}` });
      const token = /name="_csrf" value="([^"]+)"/.exec(res.body)?.[1];
      return { res, cookie: cookieSet(res, 'mt_login')!, token: token! };
    };

    const postLogin = (
      fields: Record<string, string>,
      cookie: string,
      headers: Record<string, string> = {},
    ) =>
      inject({
        method: 'POST',
        url: '/admin/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
        payload: form(fields),
      });

    const whoAmI = (session: Session) => adminCall(t, 'GET', '/admin/api/session', { session });

    it('answers 401 to the API and redirects pages to the login form when no one is signed in', async () => {
      const api = await adminCall(t, 'GET', '/admin/api/partners');
      expect(api.status).toBe(401);
      expect(api.json()).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } });
      const write = await adminCall(t, 'POST', '/admin/api/partners', { body: { name: 'x' } });
      expect(write.status).toBe(401);
      const page = await inject({ method: 'GET', url: '/admin/docs?x=1' });
      expect(page.statusCode).toBe(303);
      expect(page.headers.location).toBe(`/admin/login?next=${encodeURIComponent('/admin/docs?x=1')}`);
    });

    it('signs in through the form, rotates the session id, and sets strict cookie flags', async () => {
      const admin = await makeUser(t, 'admin');
      const before = await signIn(t, admin);
      const { res, cookie, token } = await loginForm(
        `?next=${encodeURIComponent('/admin/cards?status=used')}`,
      );
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toContain('用户名');
      expect(cookie).toBe(`mt_login=${token}`);
      expect(setCookies(res)[0]).toMatch(/; Path=\/admin\/login;.*HttpOnly; SameSite=Strict/);

      const login = await postLogin(
        { _csrf: token, username: admin.username, password: PASSWORD, next: '/admin/cards?status=used' },
        `${cookie}; ${before.cookie}`,
      );
      expect(login.statusCode).toBe(303);
      expect(login.headers.location).toBe('/admin/cards?status=used');
      const line = setCookies(login).find((c) => c.startsWith('mt_session='))!;
      expect(line).toMatch(/^mt_session=[A-Za-z0-9_-]{43}; /);
      expect(line).toContain('; HttpOnly');
      expect(line).toContain('; SameSite=Strict');
      expect(line).toContain('; Path=/admin;');
      expect(line).toContain(`; Max-Age=${12 * 3600}`);
      expect(line).not.toContain('Secure');
      const after = line.split(';')[0]!;
      expect(after).not.toBe(before.cookie);
      // The session the browser presented at sign-in is gone; only the new one works.
      expect((await whoAmI(before)).status).toBe(401);
      const now = await adminCall(t, 'GET', '/admin/api/session', { headers: { cookie: after } });
      expect(now.status).toBe(200);
      expect(now.json()).toMatchObject({ user: { username: admin.username, role: 'admin', cinemaId: null } });
      expect(now.json<{ csrfToken: string }>().csrfToken).not.toBe(before.csrf);
    });

    it('never redirects off /admin after signing in', async () => {
      const admin = await makeUser(t, 'admin');
      for (const next of [
        '//evil.example/admin',
        'https://evil.example/admin',
        '/admin/../movTicket/cities',
        '/\\evil',
      ]) {
        const { cookie, token } = await loginForm();
        const res = await postLogin(
          { _csrf: token, username: admin.username, password: PASSWORD, next },
          cookie,
        );
        expect(res.statusCode).toBe(303);
        expect(res.headers.location).toBe('/admin');
      }
    });

    it('marks the session cookie Secure when the request came over https', async () => {
      await t.close();
      t = await makeTestApp(await engine.open(), { config: { trustProxy: ['127.0.0.1'] } });
      const admin = await makeUser(t, 'admin');
      const res = await adminCall(t, 'POST', '/admin/api/session', {
        body: { username: admin.username, password: PASSWORD },
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(res.status).toBe(200);
      expect(setCookies(res).find((c) => c.startsWith('mt_session='))).toMatch(
        /; HttpOnly; Secure; SameSite=Strict$/,
      );
    });

    it('refuses a login form posted without its pre-session token', async () => {
      const admin = await makeUser(t, 'admin');
      const { cookie, token } = await loginForm();
      const fields = { username: admin.username, password: PASSWORD };
      for (const [body, cookies] of [
        [{ ...fields }, cookie],
        [{ ...fields, _csrf: token }, ''],
        [{ ...fields, _csrf: randomBytes(32).toString('base64url') }, cookie],
      ] as const) {
        const res = await postLogin(body, cookies);
        expect(res.statusCode).toBe(403);
        expect(cookieSet(res, 'mt_session')).toBeUndefined();
      }
      const crossSite = await postLogin({ ...fields, _csrf: token }, cookie, {
        origin: 'https://evil.example',
      });
      expect(crossSite.statusCode).toBe(403);
      expect(cookieSet(crossSite, 'mt_session')).toBeUndefined();
    });

    it('gives an unknown user and a wrong password the same answer', async () => {
      const admin = await makeUser(t, 'admin');
      const wrong = await adminCall(t, 'POST', '/admin/api/session', {
        body: { username: admin.username, password: 'not-the-password' },
      });
      const unknown = await adminCall(t, 'POST', '/admin/api/session', {
        body: { username: 'nobody', password: 'not-the-password' },
      });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(wrong.body).toBe(unknown.body);
      expect(wrong.json()).toEqual({
        error: { code: 'invalid_credentials', message: 'invalid username or password' },
      });
      expect(cookieSet(wrong, 'mt_session')).toBeUndefined();

      const { cookie, token } = await loginForm();
      const pageWrong = await postLogin({ _csrf: token, username: 'x', password: 'y' }, cookie);
      const pageUnknown = await postLogin({ _csrf: token, username: 'x', password: 'y' }, cookie);
      expect(pageWrong.statusCode).toBe(401);
      expect(pageWrong.body).toContain('用户名或密码错误');
      expect(pageUnknown.body).toBe(pageWrong.body);
    });

    it('refuses forged and expired sessions', async () => {
      const admin = await makeUser(t, 'admin');
      const session = await signIn(t, admin);
      for (const cookie of [
        `mt_session=${randomBytes(32).toString('base64url')}`,
        'mt_session=../../etc',
        `mt_session=${session.cookie.slice('mt_session='.length).toUpperCase()}`,
      ]) {
        const res = await adminCall(t, 'GET', '/admin/api/session', { headers: { cookie } });
        expect(res.status).toBe(401);
      }
      t.clock.advance(12 * HOUR - 1000);
      expect((await whoAmI(session)).status).toBe(200);
      t.clock.advance(1000);
      expect((await whoAmI(session)).status).toBe(401);
      const page = await inject({ method: 'GET', url: '/admin/docs', headers: { cookie: session.cookie } });
      expect(page.statusCode).toBe(303);
    });

    it('ends the session on sign-out, through the API or the form', async () => {
      const admin = await makeUser(t, 'admin');
      const a = await signIn(t, admin);
      expect((await adminCall(t, 'DELETE', '/admin/api/session', { session: a, csrf: false })).status).toBe(
        403,
      );
      const out = await adminCall(t, 'DELETE', '/admin/api/session', { session: a });
      expect(out.status).toBe(204);
      expect(setCookies(out).find((c) => c.startsWith('mt_session='))).toMatch(/^mt_session=; .*Max-Age=0/);
      expect((await whoAmI(a)).status).toBe(401);

      const b = await signIn(t, admin);
      const wrong = await inject({
        method: 'POST',
        url: '/admin/logout',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: b.cookie },
        payload: form({ _csrf: a.csrf }),
      });
      expect(wrong.statusCode).toBe(403);
      expect((await whoAmI(b)).status).toBe(200);
      const logout = await inject({
        method: 'POST',
        url: '/admin/logout',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: b.cookie },
        payload: form({ _csrf: b.csrf }),
      });
      expect(logout.statusCode).toBe(303);
      expect(logout.headers.location).toBe('/admin/login');
      expect(cookieSet(logout, 'mt_session')).toBe('mt_session=');
      expect((await whoAmI(b)).status).toBe(401);
    });

    it('refuses a change without the session’s own CSRF token', async () => {
      const admin = await makeUser(t, 'admin');
      const a = await signIn(t, admin);
      const b = await signIn(t, admin);
      expect(a.csrf).not.toBe(b.csrf);
      const create = (csrf: string | false) =>
        adminCall(t, 'POST', '/admin/api/partners', { session: a, csrf, body: { name: '渠道' } });
      for (const csrf of [false, '', 'x', b.csrf, `${a.csrf}x`, a.csrf.slice(0, -1)] as const) {
        const res = await create(csrf);
        expect(res.status).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'csrf' } });
      }
      expect((await adminCall(t, 'GET', '/admin/api/partners', { session: a })).json()).toEqual({
        partners: [expect.anything()],
      });
      expect((await create(a.csrf)).status).toBe(201);
      // A form body cannot stand in for the header on the JSON API: it takes JSON only.
      const formBody = await adminCall(t, 'POST', '/admin/api/partners', {
        session: a,
        csrf: false,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ name: 'x', _csrf: a.csrf }),
      });
      expect(formBody.status).toBe(415);
    });

    it('refuses cross-origin changes even with the right token', async () => {
      const admin = await makeUser(t, 'admin');
      const s = await signIn(t, admin);
      const create = (headers: Record<string, string>) =>
        adminCall(t, 'POST', '/admin/api/partners', { session: s, headers, body: { name: '渠道' } });
      const hostile: Record<string, string>[] = [
        { origin: 'https://evil.example' },
        { origin: 'null' },
        { origin: 'http://localhost.evil.example' },
        { 'sec-fetch-site': 'cross-site' },
      ];
      for (const headers of hostile) {
        const res = await create(headers);
        expect(res.status).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'cross_origin' } });
      }
      expect((await create({ origin: 'http://localhost:80' })).status).toBe(201);
      expect((await create({ origin: 'http://localhost', 'sec-fetch-site': 'same-origin' })).status).toBe(
        201,
      );
      // Reading is not a change.
      const read = await adminCall(t, 'GET', '/admin/api/partners', {
        session: s,
        headers: { origin: 'https://evil.example' },
      });
      expect(read.status).toBe(200);
      const login = await adminCall(t, 'POST', '/admin/api/session', {
        body: { username: admin.username, password: PASSWORD },
        headers: { origin: 'https://evil.example' },
      });
      expect(login.status).toBe(403);
    });

    it('keeps operators away from accounts and keys', async () => {
      const op = await signIn(t, await makeUser(t, 'operator'));
      for (const [method, url, body] of [
        ['GET', '/admin/api/users', undefined],
        ['POST', '/admin/api/users', { username: 'mallory', password: 'long-enough-pw', role: 'admin' }],
        ['POST', '/admin/api/users/operator1/disable', undefined],
        ['PUT', '/admin/api/users/operator1/password', { password: 'long-enough-pw' }],
        ['GET', '/admin/api/partners/CS000001/keys', undefined],
        ['POST', '/admin/api/partners/CS000001/keys', {}],
        ['POST', '/admin/api/partners/CS000001/keys/test/revoke', undefined],
      ] as const) {
        const res = await adminCall(t, method, url, { session: op, body });
        expect(res.status, `${method} ${url}`).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'forbidden' } });
      }
      const partner = await adminCall(t, 'GET', '/admin/api/partners/CS000001', { session: op });
      expect(partner.status).toBe(200);
      expect(partner.json()).toMatchObject({ partnerId: 'CS000001', keys: null });
      expect(
        (await adminCall(t, 'POST', '/admin/api/partners/CS000001/suspend', { session: op })).status,
      ).toBe(200);
    });

    it('lets a cinema account redeem at its own cinema only', async () => {
      const staff = await signIn(t, await makeUser(t, 'cinema', { cinemaId: '1001' }));
      const bought = await t.client.buyByCinema({ cinemaId: '1002', count: 1 });
      const paid = await t.client.payByCard({ cardNo: bought.card.card_no, mobile: '13812345678' });
      const cardNo = paid.card.card_no;
      for (const [method, url, body] of [
        ['GET', '/admin/api/partners', undefined],
        ['GET', '/admin/api/catalog', undefined],
        ['GET', `/admin/api/cards/${cardNo}`, undefined],
        ['GET', '/admin/api/cards', undefined],
        ['POST', `/admin/api/cards/${cardNo}/ban`, { reason: 'x' }],
        ['GET', '/admin/api/sms', undefined],
        ['GET', '/admin/api/reports/statement?partnerId=CS000001', undefined],
        ['GET', '/admin/api/reports/dashboard', undefined],
        ['GET', '/admin/api/audit', undefined],
        ['GET', '/admin/api/users', undefined],
        ['GET', '/admin/api/redemption/history?cinemaId=1002', undefined],
        ['GET', '/admin/api/redemption/totals?cinemaId=1002', undefined],
        ['GET', `/admin/api/redemption/cards/${cardNo}`, undefined],
        ['POST', '/admin/api/redemption/redemptions', { cardNo, password: paid.card.password, count: 1 }],
      ] as const) {
        const res = await adminCall(t, method, url, { session: staff, body });
        expect(res.status, `${method} ${url}`).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'forbidden' } });
      }
      const own = await adminCall(t, 'GET', '/admin/api/redemption/history', { session: staff });
      expect(own.status).toBe(200);
      expect((await t.client.status({ cardNo })).card.status).toBe('active');
    });

    it('ends the sessions of a disabled account at once', async () => {
      const admin = await signIn(t, await makeUser(t, 'admin'));
      const staff = await signIn(t, await makeUser(t, 'cinema', { cinemaId: '1001' }));
      expect((await whoAmI(staff)).status).toBe(200);
      const res = await adminCall(t, 'POST', '/admin/api/users/cinema1/disable', { session: admin });
      expect(res.status).toBe(200);
      expect(res.json()).toMatchObject({ username: 'cinema1', status: 'disabled' });
      expect((await whoAmI(staff)).status).toBe(401);
      const again = await adminCall(t, 'POST', '/admin/api/session', {
        body: { username: 'cinema1', password: PASSWORD },
      });
      expect(again.status).toBe(401);
    });

    it('locks a name after 5 failures for 15 minutes from the address that failed, not elsewhere', async () => {
      const admin = await makeUser(t, 'admin');
      const attempt = (password: string, ip = '10.0.0.1') =>
        adminCall(t, 'POST', '/admin/api/session', { body: { username: admin.username, password }, ip });
      for (let i = 0; i < 5; i++) expect((await attempt('wrong-password')).status).toBe(401);
      const blocked = await attempt(PASSWORD);
      expect(blocked.status).toBe(429);
      expect(blocked.json()).toMatchObject({ error: { code: 'rate_limited' } });
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(14 * 60);
      expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(15 * 60);
      expect(cookieSet(blocked, 'mt_session')).toBeUndefined();

      // The form says so too, in Chinese, with the time to try again (Asia/Shanghai).
      const { cookie, token } = await loginForm();
      const page = await inject({
        method: 'POST',
        url: '/admin/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        payload: form({ _csrf: token, username: admin.username, password: PASSWORD }),
        remoteAddress: '10.0.0.1',
      });
      expect(page.statusCode).toBe(429);
      expect(Number(page.headers['retry-after'])).toBeGreaterThan(14 * 60);
      const retryAt = new Date(t.clock.now() + Number(page.headers['retry-after']) * 1000 + 59_999);
      const hhmm = new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Asia/Shanghai',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(retryAt);
      expect(page.body).toContain(`登录失败次数过多，请于 ${hhmm} 后再试`);

      // Someone failing from elsewhere does not lock the real admin out.
      expect((await attempt(PASSWORD, '10.0.0.2')).status).toBe(200);
      t.clock.advance(15 * MIN);
      expect((await attempt(PASSWORD)).status).toBe(200);
    });

    it('starts counting a name’s failures again after a success', async () => {
      const admin = await makeUser(t, 'admin');
      const attempt = (password: string) =>
        adminCall(t, 'POST', '/admin/api/session', { body: { username: admin.username, password } });
      for (let i = 0; i < 4; i++) expect((await attempt('wrong-password')).status).toBe(401);
      expect((await attempt(PASSWORD)).status).toBe(200);
      for (let i = 0; i < 4; i++) expect((await attempt('wrong-password')).status).toBe(401);
      expect((await attempt(PASSWORD)).status).toBe(200);
    });

    it('throttles an address after 20 failures whatever the names tried', async () => {
      const admin = await makeUser(t, 'admin');
      const guesses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          adminCall(t, 'POST', '/admin/api/session', {
            body: { username: `guess${i}`, password: 'wrong-password' },
            ip: '203.0.113.7',
          }),
        ),
      );
      expect(guesses.map((r) => r.status)).toEqual(Array(20).fill(401));
      const blocked = await adminCall(t, 'POST', '/admin/api/session', {
        body: { username: admin.username, password: PASSWORD },
        ip: '203.0.113.7',
      });
      expect(blocked.status).toBe(429);
      expect(blocked.headers['retry-after']).toBeDefined();
      const elsewhere = await adminCall(t, 'POST', '/admin/api/session', {
        body: { username: admin.username, password: PASSWORD },
        ip: '198.51.100.1',
      });
      expect(elsewhere.status).toBe(200);
    }, 90_000);

    it('guards pages: login redirect, a 无权访问 page for the wrong role, CSRF on multipart forms', async () => {
      // A page module registered the way the console registers its own.
      const pages = Fastify();
      const deps = createAdminDeps({
        db: t.db,
        clock: t.clock,
        config: loadConfig({}),
        registry: t.app.registry,
        cards: t.app.cards,
        outbox: t.app.outbox,
        notify: t.app.notify,
        secrets: t.secrets,
      });
      installBodyParsers(pages, { forms: true });
      pages.setErrorHandler((err, request, reply) => sendError(request, reply, err));
      await registerAdminAuth(pages, deps);
      pages.get('/admin/staff-only', { preHandler: requireRole('admin', 'operator') }, async () => 'ok');
      pages.post(
        '/admin/upload',
        { preHandler: [requireRole('admin', 'operator'), verifyCsrf] },
        async (request) => {
          const file = uploadedFile(request.body, 'file');
          return { filename: file?.filename, text: file?.data.toString('utf8') };
        },
      );
      await pages.ready();
      try {
        const anonymous = await pages.inject({ method: 'GET', url: '/admin/staff-only' });
        expect(anonymous.statusCode).toBe(303);
        expect(anonymous.headers.location).toBe('/admin/login?next=%2Fadmin%2Fstaff-only');
        // The guard runs before the body is read: a malformed upload still gets the redirect.
        const unread = await pages.inject({
          method: 'POST',
          url: '/admin/upload',
          headers: { 'content-type': 'multipart/form-data; boundary=----x' },
          payload: 'not multipart',
        });
        expect(unread.statusCode).toBe(303);

        const cinema = await signIn(t, await makeUser(t, 'cinema', { cinemaId: '1001' }));
        const denied = await pages.inject({
          method: 'GET',
          url: '/admin/staff-only',
          headers: { cookie: cinema.cookie },
        });
        expect(denied.statusCode).toBe(403);
        expect(denied.headers['content-type']).toMatch(/^text\/html/);
        expect(denied.body).toContain('无权访问');

        const op = await signIn(t, await makeUser(t, 'operator'));
        const upload = async (fields: Record<string, string>) => {
          const { body, contentType } = await multipart({
            ...fields,
            file: { filename: 'cinemas.csv', type: 'text/csv', text: 'city_id,名称\n001,北京' },
          });
          return pages.inject({
            method: 'POST',
            url: '/admin/upload',
            headers: { cookie: op.cookie, 'content-type': contentType },
            payload: body,
          });
        };
        const noToken = await upload({});
        expect(noToken.statusCode).toBe(403);
        expect(noToken.body).toContain('页面已失效');
        expect((await upload({ _csrf: cinema.csrf })).statusCode).toBe(403);
        const ok = await upload({ _csrf: op.csrf });
        expect(ok.statusCode).toBe(200);
        expect(ok.json()).toEqual({ filename: 'cinemas.csv', text: 'city_id,名称\n001,北京' });
      } finally {
        await pages.close();
      }
    });

    it('reads a multipart logout form in the app itself', async () => {
      const s = await signIn(t, await makeUser(t, 'admin'));
      const { body, contentType } = await multipart({ _csrf: s.csrf });
      const res = await inject({
        method: 'POST',
        url: '/admin/logout',
        headers: { cookie: s.cookie, 'content-type': contentType },
        payload: body,
      });
      expect(res.statusCode).toBe(303);
      expect((await whoAmI(s)).status).toBe(401);
    });

    /** A multipart body of `count` small text fields (plus `extra`). */
    const manyFields = (count: number, extra: Record<string, string> = {}) =>
      multipart({ ...extra, ...Object.fromEntries(Array.from({ length: count }, (_, i) => [`f${i}`, 'x'])) });

    it('refuses an upload from a stranger or the wrong role before reading its body', async () => {
      // Not multipart at all beyond its header: parsing it would answer 400.
      const garbage = {
        'content-type': 'multipart/form-data; boundary=----x',
      };
      const payload = 'this is not a multipart body';
      const anonymous = await inject({
        method: 'POST',
        url: '/admin/catalog/import',
        headers: garbage,
        payload,
      });
      expect(anonymous.statusCode).toBe(303);
      expect(anonymous.headers.location).toBe('/admin/login');
      const cinema = await signIn(t, await makeUser(t, 'cinema', { cinemaId: '1001' }));
      const denied = await inject({
        method: 'POST',
        url: '/admin/catalog/import',
        headers: { ...garbage, cookie: cinema.cookie },
        payload,
      });
      expect(denied.statusCode).toBe(403);
      expect(denied.body).toContain('无权访问');
      // The public sign-in routes take no multipart body from a stranger, nor a large one.
      const login = await inject({ method: 'POST', url: '/admin/login', headers: garbage, payload });
      expect(login.statusCode).toBe(401);
      const big = await adminCall(t, 'POST', '/admin/api/session', {
        body: { username: 'x'.repeat(20_000), password: 'y' },
      });
      expect(big.status).toBe(413);
    });

    it('answers a stranger’s upload while its body is still being sent', async () => {
      await t.app.fastify.listen({ port: 0, host: '127.0.0.1' });
      const { port } = t.app.fastify.server.address() as { port: number };
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      const answered = new Promise<void>((resolve) => {
        socket.on('data', () => {
          if (answer.includes('\r\n\r\n')) resolve();
        });
      });
      // Announces 5 MiB but sends only its first bytes; the answer must not wait for the rest.
      socket.write(
        'POST /admin/catalog/import HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
          'Content-Type: multipart/form-data; boundary=----x\r\n' +
          `Content-Length: ${5 * 1024 * 1024 - 1}\r\n\r\n------x\r\n`,
      );
      await answered;
      socket.destroy();
      expect(answer).toMatch(/^HTTP\/1\.1 303 /);
      expect(answer).toMatch(/\r\nlocation: \/admin\/login\r\n/i);
    });

    it('refuses an upload with too many parts, files or too large a field, in Chinese, not a 500', async () => {
      const op = await signIn(t, await makeUser(t, 'operator'));
      const upload = async (body: { body: Buffer; contentType: string }) =>
        inject({
          method: 'POST',
          url: '/admin/catalog/import',
          headers: { cookie: op.cookie, 'content-type': body.contentType },
          payload: body.body,
        });
      const many = await upload(await manyFields(5000, { _csrf: op.csrf }));
      expect(many.statusCode).toBe(400);
      expect(many.headers['content-type']).toMatch(/^text\/html/);
      expect(many.body).toContain('表单内容过多：最多 100 项');
      const files = await multipart({
        _csrf: op.csrf,
        ...Object.fromEntries(
          Array.from({ length: 11 }, (_, i) => [
            `file${i}`,
            { filename: `${i}.csv`, type: 'text/csv', text: 'a' },
          ]),
        ),
      });
      const tooManyFiles = await upload(files);
      expect(tooManyFiles.statusCode).toBe(400);
      expect(tooManyFiles.body).toContain('一次最多上传 10 个文件');
      const field = await upload(await multipart({ _csrf: op.csrf, csv: 'x'.repeat(1024 * 1024 + 1) }));
      expect(field.statusCode).toBe(400);
      expect(field.body).toContain('超过 1 MiB');
      // Within the limits the form still works.
      const fine = await upload(await manyFields(90, { _csrf: op.csrf, csv: 'not,a,cinema,file' }));
      expect(fine.body).not.toContain('表单内容过多');
      // The JSON API takes no multipart body at all: a JSON error, not a 500.
      const api = await inject({
        method: 'POST',
        url: '/admin/api/partners',
        headers: {
          cookie: op.cookie,
          'x-csrf-token': op.csrf,
          'content-type': (await manyFields(1)).contentType,
        },
        payload: (await manyFields(5000)).body,
      });
      expect(api.statusCode).toBe(415);
      expect(api.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });
    });
  });
}
