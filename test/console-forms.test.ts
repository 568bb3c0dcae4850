import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_TTL_MS } from '../src/domain/admin/session.service.js';
import { UserService } from '../src/domain/admin/user.service.js';
import { Browser, createUsers, PASSWORD, textOf } from './support/console-browser.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const HOST = 'localhost:80';

for (const engine of engines()) {
  describe(`console forms and sessions (${engine.name})`, () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await makeTestApp(await engine.open());
      await createUsers(t, { pat: '1002' });
    });
    afterAll(async () => {
      await t?.close();
      await engine.cleanup();
    });

    /** Signs in through the sign-in page, sending its hidden fields back as a browser would. */
    const signIn = async (page: { body: string; headers: Record<string, unknown> }, username: string) => {
      const hidden = [...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(
        (m) => [
          m[1]!,
          m[2]!
            .replace(/&quot;/g, '"')
            .replace(/&lt;/g, '<')
            .replace(/&gt;/g, '>')
            .replace(/&amp;/g, '&'),
        ],
      );
      const loginCookie = [page.headers['set-cookie']]
        .flat()
        .map(String)
        .find((c) => c.startsWith('mt_login='));
      const res = await t.app.fastify.inject({
        method: 'POST',
        url: '/admin/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie!.split(';')[0]! },
        payload: new URLSearchParams([...hidden, ['username', username], ['password', PASSWORD]]).toString(),
      });
      return { res, hidden };
    };

    it('names every invalid field of the password form at once, marked aria-invalid', async () => {
      const cici = await new Browser(t).login('cici');
      const page = await cici.get('/admin/account/password');
      expect(page.status).toBe(200);
      expect(page.body).toContain('name="current_password"');
      const res = await cici.post('/admin/account/password', {
        current_password: '',
        password: 'short',
        password_again: 'other',
      });
      expect(res.status).toBe(400);
      expect(res.body.match(/aria-invalid="true"/g)).toHaveLength(3);
      const text = textOf(res.body);
      expect(text).toContain('当前密码为必填项');
      expect(text).toMatch(/密码至少 \d+ 个字符/);
      expect(text).toContain('两次输入的新密码不一致');
      // A wrong current password: refused, nothing changed.
      const wrong = await cici.post('/admin/account/password', {
        current_password: 'not-the-password',
        password: 'a-new-password-1',
        password_again: 'a-new-password-1',
      });
      expect(wrong.status).toBe(400);
      expect(textOf(wrong.body)).toContain('当前密码不正确');
      expect(wrong.body).toMatch(/name="current_password"[^>]*aria-invalid="true"/);
      expect((await cici.get('/admin/redeem')).status).toBe(200);
    });

    it('names every invalid field of the new-account form at once, keeping what was typed', async () => {
      const ada = await new Browser(t).login('ada');
      await ada.get('/admin/users/new');
      const res = await ada.post('/admin/users', {
        username: 'A B',
        password: 'x',
        role: 'cinema',
        cinema_id: '',
      });
      expect(res.status).toBe(400);
      for (const name of ['username', 'password', 'cinema_id']) {
        expect(res.body, name).toMatch(new RegExp(`name="${name}"[^>]*aria-invalid="true"`));
      }
      expect(res.body.match(/aria-invalid="true"/g)).toHaveLength(3);
      expect(textOf(res.body)).toContain('有 3 处需要修改');
      expect(res.body).toMatch(/name="username"[^>]*value="A B"/);
    });

    it('lets every role change its own password, ending its sessions', async () => {
      for (const name of ['pat', 'otto']) {
        const b = await new Browser(t).login(name);
        await b.get('/admin/account/password');
        const res = await b.post('/admin/account/password', {
          current_password: PASSWORD,
          password: 'brand-new-pass-9',
          password_again: 'brand-new-pass-9',
        });
        expect(res.status, name).toBe(303);
        expect(res.location).toBe('/admin/login?changed=1');
        expect(textOf((await new Browser(t).get(res.location)).body)).toContain('密码已修改，请用新密码登录');
        // The old session is over.
        expect((await b.get('/admin/account/password')).status).toBe(303);
        const users = new UserService(t.db, t.clock);
        const ok = await users.verifyCredentials(name, 'brand-new-pass-9');
        expect(ok?.username).toBe(name);
        expect(await users.verifyCredentials(name, PASSWORD)).toBeNull();
      }
    });

    it('keeps what was typed when the session expired: sign in, and the form comes back filled', async () => {
      const ada = await new Browser(t).login('ada');
      await ada.get('/admin/partners/new');
      t.clock.advance(SESSION_TTL_MS + 1);
      const sent = await ada.post(
        '/admin/partners',
        {
          name: '过期时填写的渠道',
          prefix: 'QQ',
          rate_limit: '7',
          permissions: ['buyByCinema', 'status'],
          md5key: 'secret-1',
        },
        undefined,
        { referer: `http://${HOST}/admin/partners/new`, host: HOST },
      );
      expect(sent.status).toBe(401);
      expect(textOf(sent.body)).toContain('会话已过期');
      // The sign-in page carries the fields back, but never a secret or the form's tokens.
      expect(sent.body).toContain('name="keep.name" value="过期时填写的渠道"');
      expect(sent.body).not.toContain('secret-1');
      expect(sent.body).not.toMatch(/name="keep\.(_csrf|_once|md5key)"/);
      expect(sent.body).toContain('name="next" value="/admin/partners/new"');
      // Nothing was created.
      const named = await t.db.kysely
        .selectFrom('partners')
        .select('partner_id')
        .where('name', '=', '过期时填写的渠道')
        .execute();
      expect(named).toEqual([]);

      const { res } = await signIn(sent, 'ada');
      expect(res.statusCode).toBe(303);
      const location = String(res.headers.location);
      expect(location).toMatch(/^\/admin\/partners\/new\?resumed=[A-Za-z0-9_-]+$/);
      // The token holds the fields server-side; the URL carries nothing typed.
      expect(location).not.toContain('%E8');
      const back = new Browser(t);
      back.cookie = [res.headers['set-cookie']]
        .flat()
        .map(String)
        .find((c) => c.startsWith('mt_session='))!
        .split(';')[0]!;
      const form = await back.get(location);
      expect(form.status).toBe(200);
      expect(textOf(form.body)).toContain('会话已过期，已重新登录');
      expect(form.body).toMatch(/name="name"[^>]*value="过期时填写的渠道"/);
      expect(form.body).toMatch(/name="rate_limit"[^>]*value="7"/);
      expect(form.body).toMatch(/value="buyByCinema"[^>]*checked/);
      // Once only.
      expect((await back.get(location)).body).not.toContain('过期时填写的渠道');
    });

    it('shows 403 and 404 as styled pages with a way on', async () => {
      const cici = await new Browser(t).login('cici');
      for (const [b, url, status, title] of [
        [cici, '/admin/partners', 403, '无权访问'],
        [cici, '/admin/nope', 404, '页面不存在'],
      ] as const) {
        const res = await b.get(url);
        expect(res.status, url).toBe(status);
        expect(res.body).toContain('<style>');
        expect(res.body).toMatch(/<nav[^>]*>.*href="\/admin".*返回首页/s);
        expect(textOf(res.body)).toContain(title);
      }
    });
  });
}
