import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { adminCall, makeUser, postForm, type AdminResponse, type Session, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const TZ = 'Asia/Shanghai';

/** The visible text of a page, tags dropped and whitespace folded. */
const textOf = (body: string) =>
  body
    .replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

/** The fields of the form on `page` posting to `action`, as a browser would send them. */
function formFields(page: string, action: string): Record<string, string[]> {
  const start = page.indexOf(`action="${action}"`);
  if (start < 0) throw new Error(`no form posting to ${action}`);
  const form = page.slice(start, page.indexOf('</form>', start));
  const fields: Record<string, string[]> = {};
  for (const m of form.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
    (fields[m[1]!] ??= []).push(m[2]!.replace(/&amp;/g, '&').replace(/&quot;/g, '"'));
  }
  return fields;
}

/** Presses 「确认…」 on a confirmation page: posts its form as it stands. */
async function confirm(t: TestApp, s: Session, page: AdminResponse, action: string, extra = {}) {
  const { _csrf, _once, ...rest } = formFields(page.body, action);
  expect(_csrf, 'the confirmation carries a CSRF token').toBeDefined();
  return postForm(t, s, action, { ...rest, ...extra }, { once: _once![0]! });
}

for (const engine of engines()) {
  describe(`console confirmations and the support desk (${engine.name})`, () => {
    let t: TestApp;
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const paid = async (count: number, mobile = '13812345678', cinemaId = '1001') => {
      const { card } = await t.client.buyByCinema({ cinemaId, count });
      return (await t.client.payByCard({ cardNo: card.card_no, mobile })).card;
    };

    it('asks before each destructive action, stating the consequences, and acts only when confirmed', async () => {
      t = await makeTestApp(await engine.open());
      const admin = await signIn(t, await makeUser(t, 'admin', { username: 'ada' }));
      await makeUser(t, 'operator', { username: 'otto' });
      const partnerStatus = async () =>
        (
          await t.db.kysely
            .selectFrom('partners')
            .select('status')
            .where('partner_id', '=', 'CS000001')
            .executeTakeFirst()
        )?.status;

      const cases: { url: string; fields: Record<string, string>; says: string[]; button: string }[] = [
        {
          url: '/admin/partners/CS000001/suspend',
          fields: {},
          says: ['403 partner_disabled', '已售出的卡不受影响'],
          button: '确认暂停',
        },
        { url: '/admin/users/otto/disable', fields: {}, says: ['不能再登录'], button: '确认停用' },
        {
          url: '/admin/partners/CS000001/keys/revoke',
          fields: { sec_id: 'test' },
          says: ['不可撤销', '401'],
          button: '确认吊销',
        },
      ];
      for (const c of cases) {
        const asked = await postForm(t, admin, c.url, c.fields);
        expect(asked.status, c.url).toBe(200);
        const text = textOf(asked.body);
        for (const s of c.says) expect(text, c.url).toContain(s);
        expect(text).toContain(c.button);
        expect(text).toContain('返回');
        expect(asked.body).toMatch(/name="confirmed" value="1"/);
      }
      // Nothing happened yet.
      expect(await partnerStatus()).toBe('active');
      expect((await t.client.cities()).cities.length).toBeGreaterThan(0);

      const suspended = await confirm(t, admin, await postForm(t, admin, cases[0]!.url, {}), cases[0]!.url);
      expect(suspended.status).toBe(303);
      expect(await partnerStatus()).toBe('suspended');
      const disabled = await confirm(t, admin, await postForm(t, admin, cases[1]!.url, {}), cases[1]!.url);
      expect(disabled.status).toBe(303);
      const user = await t.db.kysely
        .selectFrom('users')
        .select('status')
        .where('username', '=', 'otto')
        .executeTakeFirst();
      expect(user?.status).toBe('disabled');
    });

    it("says how many sold cards a cinema's deactivation leaves and that they stay redeemable", async () => {
      t = await makeTestApp(await engine.open());
      const op = await signIn(t, await makeUser(t, 'operator'));
      await paid(2, '13812345678', '1001');
      await paid(1, '13812345678', '1001');
      await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const kind = (await t.client.buyByKind({ kindId: 'K2D', count: 1 })).card;
      await t.client.payByCard({ cardNo: kind.card_no, mobile: '13812345678' });
      await paid(1, '13812345678', '1002');

      const url = '/admin/catalog/cinemas/1001/active';
      const asked = await postForm(t, op, url, { active: '0' });
      expect(asked.status).toBe(200);
      const text = textOf(asked.body);
      expect(text).toContain('已售出、仍有剩余票的按影院购买的卡：2 张；它们仍可在此影院兑换');
      expect(text).toContain('包含此影院的券种卡（仍有剩余票）：1 张');
      expect(text).toContain('未付款、仍在支付期限内的卡：1 张');
      const active = async () =>
        (
          await t.db.kysely
            .selectFrom('cinemas')
            .select('active')
            .where('cinema_id', '=', '1001')
            .executeTakeFirst()
        )?.active;
      expect(await active()).toBe(1);
      expect((await confirm(t, op, asked, url)).status).toBe(303);
      expect(await active()).toBe(0);
      // Activating again needs no confirmation.
      expect((await postForm(t, op, url, { active: '1' })).status).toBe(303);
      expect(await active()).toBe(1);
    });

    it('warns on a partner price more than 20% from the default or above the market price, and confirms clearing one', async () => {
      t = await makeTestApp(await engine.open());
      const op = await signIn(t, await makeUser(t, 'operator'));
      const url = '/admin/partners/CS000001/prices';
      const price = async () =>
        (
          await t.db.kysely
            .selectFrom('partner_prices')
            .select('price_fen')
            .where('partner_id', '=', 'CS000001')
            .where('target_id', '=', '1001')
            .executeTakeFirst()
        )?.price_fen;
      // 1001's default is 35.00: 33.00 is close enough to set at once.
      expect((await postForm(t, op, url, { target: 'cinema:1001', price: '33.00' })).status).toBe(303);
      expect(await price()).toBe(3300);
      const low = await postForm(t, op, url, { target: 'cinema:1001', price: '20.00' });
      expect(low.status).toBe(200);
      expect(textOf(low.body)).toContain('比默认价 ¥35.00 低 43%（超过 20%）');
      expect(await price()).toBe(3300);
      expect((await confirm(t, op, low, url)).status).toBe(303);
      expect(await price()).toBe(2000);
      const market = (
        await t.db.kysely
          .selectFrom('cinemas')
          .select('market_price_fen')
          .where('cinema_id', '=', '1001')
          .executeTakeFirstOrThrow()
      ).market_price_fen;
      const above = await postForm(t, op, url, {
        target: 'cinema:1001',
        price: ((market + 100) / 100).toFixed(2),
      });
      expect(textOf(above.body)).toContain(`高于市场价 ¥${(market / 100).toFixed(2)}`);

      const clear = '/admin/partners/CS000001/prices/clear';
      const asked = await postForm(t, op, clear, { target: 'cinema:1001' });
      expect(textOf(asked.body)).toContain('按平台的默认价计价');
      expect(await price()).toBe(2000);
      expect((await confirm(t, op, asked, clear)).status).toBe(303);
      expect(await price()).toBeUndefined();
    });

    it('lets the desk find a card by the last 4 digits, see and clear its lock, freeze it after confirming, and export the search', async () => {
      t = await makeTestApp(await engine.open());
      const op = await signIn(t, await makeUser(t, 'operator'));
      const card = await paid(3, '13812349876');
      await paid(1, '13800000000');
      const counter = new RedemptionService({ db: t.db, clock: t.clock, timeZone: TZ, secrets: t.secrets });
      const staff = { userId: 'u1', role: 'cinema' as const, cinemaId: '1001', username: 'staff' };
      await counter.redeem(staff, card.card_no, card.password, 1);
      t.clock.advance(60_000);
      for (let i = 0; i < 5; i++) await counter.redeem(staff, card.card_no, 'nope', 1).catch(() => null);

      const found = await adminCall(t, 'GET', '/admin/cards?mobile=9876', { session: op });
      expect(found.body).toContain(`>${card.card_no}</a>`);
      expect(textOf(found.body)).toContain('影院 影城1001');
      expect(textOf(found.body)).toContain('导出搜索结果（CSV，1 张）');
      const spaced = card.card_no.replace(/(\d{4})(?=\d)/g, '$1 ');
      expect(
        (await adminCall(t, 'GET', `/admin/cards?card_no=${encodeURIComponent(spaced)}`, { session: op }))
          .body,
      ).toContain(`>${card.card_no}</a>`);

      const csv = await adminCall(t, 'GET', '/admin/cards.csv?mobile=9876', { session: op });
      expect(csv.status).toBe(200);
      expect(csv.headers['content-type']).toContain('text/csv');
      expect(csv.headers['content-disposition']).toMatch(/^attachment; filename="cards-\d+\.csv"$/);
      const lines = csv.body.split('\r\n');
      expect(lines[0]!.startsWith('\uFEFF卡号,渠道,渠道订单号,兑换对象类型,兑换对象,状态')).toBe(true);
      // The card number as the formula ="…" (quoted for CSV), which spreadsheets show as exact text.
      expect(lines[1]!.slice(0, 60)).toBe(
        `"=""${card.card_no}""",CS000001,,影院,影城1001（1001）,已激活,,3,1,2,35.00,105.00,`.slice(0, 60),
      );
      expect(lines[1]).toContain(',3,1,2,35.00,105.00,138****9876,');
      expect(lines).toHaveLength(3);

      const path = `/admin/cards/${card.card_no}`;
      let page = textOf((await adminCall(t, 'GET', path, { session: op })).body);
      expect(page).toMatch(/密码锁定 已锁定 锁定至 \S+ \S+ ?（一小时内密码错误 5 次）/);
      expect(page).toContain('兑换对象 影院 影城1001 1001');
      const noReason = await postForm(t, op, `${path}/unlock`, { reason: '' });
      expect(noReason.status).toBe(400);
      expect(textOf(noReason.body)).toContain('请填写 1–100 个字的原因');
      expect((await postForm(t, op, `${path}/unlock`, { reason: '来电核实身份' })).status).toBe(303);
      page = textOf((await adminCall(t, 'GET', `${path}?ok=card.unlocked`, { session: op })).body);
      expect(page).toContain('密码锁定已解除');
      expect(page).toContain('未锁定，没有密码错误记录');
      expect(page).toContain('解除密码锁定');

      const asked = await postForm(t, op, `${path}/freeze`, { reason: '短信被盗' });
      expect(asked.status).toBe(200);
      expect(textOf(asked.body)).toContain('剩余 2 张票（共 3 张，已兑换 1 张）在解冻前不能在任何影院兑换');
      expect(textOf(asked.body)).toContain('状态仍为 active');
      expect(
        (await adminCall(t, 'GET', `/admin/api/cards/${card.card_no}`, { session: op })).json<{
          card: { frozen_at: null };
        }>().card.frozen_at,
      ).toBeNull();
      expect((await confirm(t, op, asked, `${path}/freeze`)).status).toBe(303);
      page = textOf((await adminCall(t, 'GET', path, { session: op })).body);
      expect(page).toContain('剩余的票已冻结');
      expect(page).toContain('原因：短信被盗');
      expect(page).toContain('冻结剩余的票');
      const refused = await counter.redeem(staff, card.card_no, card.password, 1).catch((e: unknown) => e);
      expect(refused).toMatchObject({ id: 'card.frozen' });
      expect((await postForm(t, op, `${path}/unfreeze`, { reason: '核实后解冻' })).status).toBe(303);
      // The card's audit trail names the actions in Chinese, not by their codes.
      page = textOf((await adminCall(t, 'GET', path, { session: op })).body);
      expect(page).toContain('解冻卡');
      expect(page).not.toMatch(/card\.(freeze|unfreeze|unlock)/);
      expect((await counter.redeem(staff, card.card_no, card.password, 2)).remaining).toBe(0);
    });

    it('asks the counter to confirm an undo, and says how many tickets were redeemed and remain', async () => {
      t = await makeTestApp(await engine.open());
      const staff = await signIn(t, await makeUser(t, 'cinema', { username: 'counter', cinemaId: '1001' }));
      const card = await paid(3);
      const redeemed = await postForm(t, staff, '/admin/redeem', {
        card_no: card.card_no,
        password: card.password,
        count: '2',
      });
      expect(redeemed.status).toBe(303);
      const after = await adminCall(t, 'GET', String(redeemed.headers.location), { session: staff });
      const text = textOf(after.body);
      expect(text).toContain('兑换成功：本次兑换 2 张，此卡剩余 1 张。');
      // The card field is empty for the next customer.
      expect(after.body).toMatch(/name="card_no"\s+value=""/);
      expect(after.body).toMatch(/inputmode="numeric"/);

      const rid = /name="redemption_id" value="([^"]+)"/.exec(after.body)![1]!;
      const asked = await postForm(t, staff, '/admin/redeem/undo', { redemption_id: rid, back: 'redeem' });
      expect(asked.status).toBe(200);
      expect(textOf(asked.body)).toContain('张票退回卡上');
      expect((await t.client.status({ cardNo: card.card_no })).card.remaining).toBe('1');
      expect((await confirm(t, staff, asked, '/admin/redeem/undo')).status).toBe(303);
      expect((await t.client.status({ cardNo: card.card_no })).card.remaining).toBe('3');
    });
  });
}
