import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyHash, IdempotencyService } from '../src/domain/admin/idempotency.service.js';
import { Sweeper } from '../src/workers/expiry.js';
import {
  adminCall,
  makeUser,
  newOnce,
  onceOf,
  PASSWORD,
  postForm,
  type Session,
  signIn,
} from './support/admin.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';
import { countRows } from './support/factories.js';

const DAY = 86_400_000;
const textOf = (body: string) => body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ');

/**
 * The form's token, which a double click or a reload sends twice. (A page without one — the
 * console before one-time tokens — gets a made-up one, so that the double itself is what fails.)
 */
function formToken(page: string, action: string): string {
  try {
    return onceOf(page, action);
  } catch {
    return newOnce();
  }
}

for (const engine of engines()) {
  describe(`one-time submissions (${engine.name})`, () => {
    let t: TestApp;
    let admin: Session;
    let admin2: Session;
    let cinema: Session;

    beforeAll(async () => {
      t = await makeTestApp(await engine.open());
      const [a, c] = [await makeUser(t, 'admin'), await makeUser(t, 'cinema', { cinemaId: '1001' })];
      admin = await signIn(t, a);
      admin2 = await signIn(t, await makeUser(t, 'admin', { username: 'admin2' }));
      cinema = await signIn(t, c);
    });
    afterAll(async () => {
      await t?.close();
      await engine.cleanup();
    });

    const get = (session: Session, url: string) => adminCall(t, 'GET', url, { session });
    const count = (table: 'partners' | 'redemptions' | 'security_configs' | 'idempotency_keys') =>
      countRows(t.db, table);
    const paidCard = async (count: number) => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count });
      const paid = await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
      return { cardNo: card.card_no, password: paid.card.password };
    };
    const redemptionsOf = async (cardNo: string) =>
      (await t.db.kysely.selectFrom('redemptions').select('count').where('card_no', '=', cardNo).execute())
        .length;

    describe('console forms', () => {
      it('redeems one ticket for two parallel 确认兑换 submissions of one form', async () => {
        const card = await paidCard(3);
        const page = await get(cinema, `/admin/redeem?card_no=${card.cardNo}`);
        expect(textOf(page.body)).toContain('确认兑换');
        const once = formToken(page.body, '/admin/redeem');
        const fields = { card_no: card.cardNo, password: card.password, count: '1' };
        const [a, b] = await Promise.all([
          postForm(t, cinema, '/admin/redeem', fields, { once }),
          postForm(t, cinema, '/admin/redeem', fields, { once }),
        ]);
        expect(await redemptionsOf(card.cardNo)).toBe(1);
        expect([a.status, b.status]).toEqual([303, 303]);
        expect(a.headers.location).toBe(b.headers.location);
        expect(String(a.headers.location)).toMatch(/^\/admin\/redeem\?done=[0-9a-f-]{36}$/);
        const after = await get(cinema, String(a.headers.location));
        expect(after.body.replace(/\s+/g, ' ')).toMatch(/<strong>2<\/strong> \/ 3 张/);
      });

      it('answers a second 确认兑换 with the same token by the first result, redeeming once', async () => {
        const card = await paidCard(2);
        const once = formToken(
          (await get(cinema, `/admin/redeem?card_no=${card.cardNo}`)).body,
          '/admin/redeem',
        );
        const fields = { card_no: card.cardNo, password: card.password, count: '1' };
        const first = await postForm(t, cinema, '/admin/redeem', fields, { once });
        const second = await postForm(t, cinema, '/admin/redeem', fields, { once });
        expect(first.status).toBe(303);
        expect(second.status).toBe(303);
        expect(second.headers.location).toBe(first.headers.location);
        expect(second.headers['idempotent-replayed']).toBe('true');
        expect(first.headers['idempotent-replayed']).toBeUndefined();
        expect(await redemptionsOf(card.cardNo)).toBe(1);
        // A new form (a new token) redeems again.
        const again = await postForm(t, cinema, '/admin/redeem', fields);
        expect(again.status).toBe(303);
        expect(await redemptionsOf(card.cardNo)).toBe(2);
      });

      it('replays a refused form (wrong password) without counting a second wrong try', async () => {
        const card = await paidCard(1);
        const once = newOnce();
        const fields = { card_no: card.cardNo, password: '00000000', count: '1' };
        const first = await postForm(t, cinema, '/admin/redeem', fields, { once });
        const second = await postForm(t, cinema, '/admin/redeem', fields, { once });
        expect(first.status).toBe(422);
        expect(second.status).toBe(422);
        expect(textOf(first.body)).toContain('密码错误，还可尝试 4 次');
        expect(second.body).toBe(first.body);
        const failures = await t.db.kysely
          .selectFrom('password_failures')
          .select('at')
          .where('card_no', '=', card.cardNo)
          .execute();
        expect(failures).toHaveLength(1);
      });

      it('creates one partner for 创建渠道 submitted twice, in parallel and in a row', async () => {
        const before = await count('partners');
        const page = await get(admin, '/admin/partners/new');
        const once = formToken(page.body, '/admin/partners');
        const fields = { name: '双击渠道', prefix: 'MT', rate_limit: '0', permissions: ['buyByCinema'] };
        const [a, b] = await Promise.all([
          postForm(t, admin, '/admin/partners', fields, { once }),
          postForm(t, admin, '/admin/partners', fields, { once }),
        ]);
        const c = await postForm(t, admin, '/admin/partners', fields, { once });
        expect(await count('partners')).toBe(before + 1);
        for (const res of [a, b, c]) {
          expect(res.status).toBe(303);
          expect(res.headers.location).toBe(a.headers.location);
        }
        expect(String(a.headers.location)).toMatch(/^\/admin\/partners\/MT[0-9]{6}\?ok=partner\.created$/);
      });

      it('shows the same new key on a reload of the key-created page, makes one key, stores no md5key', async () => {
        const partner = await adminCall(t, 'POST', '/admin/api/partners', {
          session: admin,
          body: { name: '密钥渠道' },
        });
        const partnerId = partner.json<{ partnerId: string }>().partnerId;
        const page = await get(admin, `/admin/partners/${partnerId}`);
        const once = formToken(page.body, `/admin/partners/${partnerId}/keys`);
        const first = await postForm(
          t,
          admin,
          `/admin/partners/${partnerId}/keys`,
          { sign_mode: 'basic' },
          { once },
        );
        const reload = await postForm(
          t,
          admin,
          `/admin/partners/${partnerId}/keys`,
          { sign_mode: 'basic' },
          { once },
        );
        const keys = await t.db.kysely
          .selectFrom('security_configs')
          .select('sec_id')
          .where('partner_id', '=', partnerId)
          .execute();
        expect(keys).toEqual([{ sec_id: 'k1' }]);
        expect(first.status).toBe(200);
        expect(reload.status).toBe(200);
        const md5key = /id="md5key"[^>]*value="([0-9a-f]{32})"/.exec(first.body.replace(/\s+/g, ' '))?.[1];
        expect(md5key).toBeDefined();
        expect(reload.body).toBe(first.body);
        expect(reload.headers['content-security-policy']).toBe(first.headers['content-security-policy']);
        // Neither the key nor the token is stored in a readable form.
        const rows = await t.db.kysely.selectFrom('idempotency_keys').selectAll().execute();
        const dump = JSON.stringify(rows);
        expect(dump).not.toContain(md5key);
        expect(dump).not.toContain(once);
        expect(dump).not.toContain(Buffer.from(md5key!).toString('base64'));
      });

      it('refuses a console form without the one-time token, in Chinese, and changes nothing', async () => {
        const before = await count('partners');
        const res = await postForm(t, admin, '/admin/partners', { name: '无标记渠道' }, { once: null });
        expect(res.status).toBe(400);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(textOf(res.body)).toContain('页面缺少防重复提交标记，请刷新页面后重新提交。');
        const bad = await postForm(t, admin, '/admin/partners', { name: '无标记渠道' }, { once: 'short' });
        expect(bad.status).toBe(400);
        expect(await count('partners')).toBe(before);
        const card = await paidCard(1);
        const refused = await postForm(
          t,
          cinema,
          '/admin/redeem',
          { card_no: card.cardNo, password: card.password, count: '1' },
          { once: null },
        );
        expect(refused.status).toBe(400);
        expect(await redemptionsOf(card.cardNo)).toBe(0);
      });

      it('puts a fresh token in every post form of a page, except that sign-out needs none', async () => {
        const pages = [
          [admin, '/admin/partners/CS000001'],
          [admin, '/admin/partners/new'],
          [admin, '/admin/catalog/cinemas/1001'],
          [admin, '/admin/catalog/import'],
          [admin, '/admin/users'],
          [admin, '/admin/users/new'],
          [admin, '/admin/tester?partner=CS000001&iface=buyByCinema'],
          [cinema, '/admin/redeem'],
        ] as const;
        const seen = new Set<string>();
        for (const [session, url] of pages) {
          const body = (await get(session, url)).body;
          const forms = body.split(/<form method="post"/).slice(1);
          expect(forms.length, url).toBeGreaterThan(0);
          for (const form of forms) {
            const token = /name="_once" value="([A-Za-z0-9_-]{22})"/.exec(form.split('</form>')[0]!)?.[1];
            expect(token, `${url}: ${form.slice(0, 80)}`).toBeDefined();
            expect(seen.has(token!)).toBe(false);
            seen.add(token!);
          }
        }
        // Signing out works without one (it changes nothing a second time).
        const s = await signIn(t, { username: 'admin2', password: PASSWORD });
        const out = await adminCall(t, 'POST', '/admin/logout', {
          session: s,
          csrf: false,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `_csrf=${s.csrf}`,
        });
        expect(out.status).toBe(303);
        expect(out.headers.location).toBe('/admin/login');
      });

      it('shows 此操作正在处理 while the first submission of the token is still running elsewhere', async () => {
        const before = await count('partners');
        const once = newOnce();
        const service = new IdempotencyService(t.db, t.clock);
        const user = await t.db.kysely
          .selectFrom('users')
          .select('user_id')
          .where('username', '=', 'admin1')
          .executeTakeFirstOrThrow();
        // Another instance claimed this form's token and has not finished.
        const claim = await service.claim({
          userId: user.user_id,
          scope: 'form',
          key: once,
          method: 'POST',
          path: '/admin/partners',
          requestHash: '',
        });
        expect(claim.kind).toBe('claimed');
        const res = await postForm(t, admin, '/admin/partners', { name: '处理中' }, { once });
        expect(res.status).toBe(409);
        expect(textOf(res.body)).toContain('此操作正在处理，请稍候刷新');
        expect(await count('partners')).toBe(before);
        // The same token sent to another form is refused too.
        const other = await postForm(t, admin, '/admin/users', { username: 'x' }, { once });
        expect(other.status).toBe(409);
        expect(textOf(other.body)).toContain('请刷新页面后重新提交');
        // A claim that never finished is, after a while, reported as interrupted: never re-run.
        t.clock.advance(6 * 60_000);
        const stale = await postForm(t, admin, '/admin/partners', { name: '处理中' }, { once });
        expect(stale.status).toBe(409);
        expect(textOf(stale.body)).toContain('此操作的处理已中断，结果未知');
        expect(await count('partners')).toBe(before);
      });

      it('keeps tokens per user: another user’s identical token is a submission of its own', async () => {
        const before = await count('partners');
        const once = newOnce();
        const a = await postForm(t, admin, '/admin/partners', { name: '甲' }, { once });
        const b = await postForm(t, admin2, '/admin/partners', { name: '乙' }, { once });
        expect(a.status).toBe(303);
        expect(b.status).toBe(303);
        expect(b.headers.location).not.toBe(a.headers.location);
        expect(await count('partners')).toBe(before + 2);
      });
    });

    describe('Idempotency-Key on the JSON API', () => {
      const create = (session: Session, key: string | undefined, body: object, url = '/admin/api/partners') =>
        adminCall(t, 'POST', url, {
          session,
          body,
          headers: key === undefined ? {} : { 'idempotency-key': key },
        });

      it('answers a repeated request with the stored response and runs it once', async () => {
        const before = await count('partners');
        const key = crypto.randomUUID();
        const first = await create(admin, key, { name: '幂等渠道' });
        const second = await create(admin, key, { name: '幂等渠道' });
        expect(first.status).toBe(201);
        expect(first.headers['idempotent-replayed']).toBeUndefined();
        expect(second.status).toBe(201);
        expect(second.headers['idempotent-replayed']).toBe('true');
        expect(second.headers['content-type']).toBe(first.headers['content-type']);
        expect(second.json()).toEqual(first.json());
        expect(await count('partners')).toBe(before + 1);
      });

      it('refuses the same key with another body or path: 409 idempotency_key_reused', async () => {
        const before = await count('partners');
        const key = crypto.randomUUID();
        expect((await create(admin, key, { name: '甲渠道' })).status).toBe(201);
        const otherBody = await create(admin, key, { name: '乙渠道' });
        expect(otherBody.status).toBe(409);
        expect(otherBody.json()).toEqual({
          error: { code: 'idempotency_key_reused', message: expect.stringContaining('Idempotency-Key') },
        });
        expect(otherBody.json<{ error: { message: string } }>().error.message).toMatch(/[\u4e00-\u9fff]/);
        const otherPath = await create(
          admin,
          key,
          { name: '甲渠道' },
          '/admin/api/partners/CS000001/suspend',
        );
        expect(otherPath.status).toBe(409);
        expect(otherPath.json()).toMatchObject({ error: { code: 'idempotency_key_reused' } });
        expect(await count('partners')).toBe(before + 1);
      });

      it('runs one of two concurrent requests with one key; the other replays or is told it is in progress', async () => {
        const before = await count('partners');
        const key = crypto.randomUUID();
        const results = await Promise.all([
          create(admin, key, { name: '并发渠道' }),
          create(admin, key, { name: '并发渠道' }),
        ]);
        expect(await count('partners')).toBe(before + 1);
        const fresh = results.filter(
          (r) => r.status === 201 && r.headers['idempotent-replayed'] === undefined,
        );
        expect(fresh).toHaveLength(1);
        const other = results.find((r) => r !== fresh[0])!;
        if (other.status === 409) {
          expect(other.json()).toMatchObject({ error: { code: 'idempotency_key_in_progress' } });
        } else {
          expect(other.status).toBe(201);
          expect(other.json()).toEqual(fresh[0]!.json());
        }
      });

      it('answers 409 idempotency_key_in_progress while the first request is still running', async () => {
        const before = await count('partners');
        const key = crypto.randomUUID();
        const user = await t.db.kysely
          .selectFrom('users')
          .select('user_id')
          .where('username', '=', 'admin1')
          .executeTakeFirstOrThrow();
        const claim = await new IdempotencyService(t.db, t.clock).claim({
          userId: user.user_id,
          scope: 'api',
          key,
          method: 'POST',
          path: '/admin/api/partners',
          requestHash: bodyHash({ name: '进行中' }),
        });
        expect(claim.kind).toBe('claimed');
        const res = await create(admin, key, { name: '进行中' });
        expect(res.status).toBe(409);
        expect(res.headers['retry-after']).toBe('1');
        expect(res.json()).toMatchObject({ error: { code: 'idempotency_key_in_progress' } });
        expect(await count('partners')).toBe(before);
      });

      it('changes nothing without the header, and refuses a key too short to be unguessable', async () => {
        const before = await count('partners');
        expect((await create(admin, undefined, { name: '无键' })).status).toBe(201);
        expect((await create(admin, undefined, { name: '无键' })).status).toBe(201);
        expect(await count('partners')).toBe(before + 2);
        const short = await create(admin, 'abc', { name: '短键' });
        expect(short.status).toBe(400);
        expect(short.json()).toMatchObject({ error: { code: 'invalid', field: 'Idempotency-Key' } });
        expect(await count('partners')).toBe(before + 2);
      });

      it('replays a created key with its md5key without storing the md5key readably', async () => {
        const partnerId = (await create(admin, undefined, { name: '接口密钥' })).json<{ partnerId: string }>()
          .partnerId;
        const key = crypto.randomUUID();
        const url = `/admin/api/partners/${partnerId}/keys`;
        const first = await create(admin, key, { signMode: 'basic' }, url);
        const second = await create(admin, key, { signMode: 'basic' }, url);
        expect(first.status).toBe(201);
        expect(second.status).toBe(201);
        const md5key = first.json<{ md5key: string }>().md5key;
        expect(second.json()).toEqual(first.json());
        expect(
          await t.db.kysely
            .selectFrom('security_configs')
            .select('sec_id')
            .where('partner_id', '=', partnerId)
            .execute(),
        ).toEqual([{ sec_id: 'k1' }]);
        const dump = JSON.stringify(await t.db.kysely.selectFrom('idempotency_keys').selectAll().execute());
        expect(dump).not.toContain(md5key);
        expect(dump).not.toContain(key);
      });

      it('documents the header on every change of the OpenAPI document, and only there', async () => {
        type Op = { parameters: { name: string; in: string }[]; responses: Record<string, unknown> };
        const doc = (await get(admin, '/admin/docs/openapi.json')).json<{
          info: { description: string };
          paths: Record<string, Record<string, Op>>;
        }>();
        const takesKey = (op: Op) =>
          op.parameters.some((p) => p.name === 'Idempotency-Key' && p.in === 'header');
        const create = doc.paths['/admin/api/partners']!.post!;
        expect(takesKey(create)).toBe(true);
        expect(create.responses['409']).toBeDefined();
        expect(takesKey(doc.paths['/admin/api/partners/{partnerId}/keys']!.post!)).toBe(true);
        expect(takesKey(doc.paths['/admin/api/partners']!.get!)).toBe(false);
        // Signing in and out are not changes a key can guard.
        expect(takesKey(doc.paths['/admin/api/session']!.post!)).toBe(false);
        for (const [path, ops] of Object.entries(doc.paths)) {
          for (const [method, op] of Object.entries(ops)) {
            if (method !== 'get' && path !== '/admin/api/session')
              expect(takesKey(op), `${method} ${path}`).toBe(true);
          }
        }
        expect(doc.info.description).toContain('Idempotency-Key');
      });

      it('keeps keys 24 hours, then the periodic sweep forgets them', async () => {
        const key = crypto.randomUUID();
        expect((await create(admin, key, { name: '过期渠道' })).status).toBe(201);
        expect((await create(admin, crypto.randomUUID(), { name: '另一渠道' })).status).toBe(201);
        const sweeper = new Sweeper(t.db, t.clock, t.app.requestLog, 7 * DAY, (err) => {
          throw err;
        });
        t.clock.advance(DAY - 60_000);
        await sweeper.pass();
        // Still kept (sessions last 12 hours; keys belong to the user, not to the session).
        const later = await signIn(t, { username: 'admin1', password: PASSWORD });
        expect((await create(later, key, { name: '过期渠道' })).headers['idempotent-replayed']).toBe('true');
        t.clock.advance(2 * 60_000);
        // Expired, even before the sweep: the key is a new request.
        const before = await count('partners');
        const fresh = await create(later, key, { name: '过期渠道' });
        expect(fresh.status).toBe(201);
        expect(fresh.headers['idempotent-replayed']).toBeUndefined();
        expect(await count('partners')).toBe(before + 1);
        // The sweep forgets every expired key and keeps the one just used.
        await sweeper.pass();
        expect(await count('idempotency_keys')).toBe(1);
      });
    });
  });
}
