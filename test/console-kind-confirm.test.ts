import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { UserService } from '../src/domain/admin/user.service.js';
import { Browser, PASSWORD, type Res, textOf } from './support/console-browser.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

/** The hidden fields of the form on `page` posting to `action`, as a browser would send them. */
function hiddenFields(page: string, action: string): Record<string, string[]> {
  const start = page.indexOf(`action="${action}"`);
  if (start < 0) throw new Error(`no form posting to ${action}`);
  const form = page.slice(start, page.indexOf('</form>', start));
  const fields: Record<string, string[]> = {};
  for (const m of form.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
    (fields[m[1]!] ??= []).push(m[2]!.replace(/&amp;/g, '&'));
  }
  return fields;
}

/** Presses 「确认…」 on a confirmation page (with the session's CSRF and a fresh one-time token). */
function confirm(b: Browser, page: Res, action: string) {
  const { _csrf, _once, ...rest } = hiddenFields(page.body, action);
  expect(_csrf && _once, 'the confirmation carries fresh tokens').toBeTruthy();
  return b.post(action, rest);
}

for (const engine of engines()) {
  describe(`deactivating a kind asks first (${engine.name})`, () => {
    let t: TestApp;
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const kindActive = async (kindId: string) =>
      (
        await t.db.kysely
          .selectFrom('kinds')
          .select('active')
          .where('kind_id', '=', kindId)
          .executeTakeFirst()
      )?.active;

    it('says how many sold cards of the kind are left and that they stay redeemable, and they do', async () => {
      t = await makeTestApp(await engine.open());
      await new UserService(t.db, t.clock).create(
        { actor: 'cli:test', role: 'admin' },
        { username: 'otto', password: PASSWORD, role: 'operator' },
      );
      const op = await new Browser(t).login('otto');
      const pay = async (kindId: string, count: number) => {
        const { card } = await t.client.buyByKind({ kindId, count });
        return (await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' })).card;
      };
      const partly = await pay('K2D', 2);
      await pay('K2D', 1);
      const unpaid = (await t.client.buyByKind({ kindId: 'K2D', count: 1 })).card;
      await pay('K3D', 1); // another kind: not counted
      await t.client.buyByCinema({ cinemaId: '1001', count: 1 }); // a cinema card: not counted
      const counter = new RedemptionService({
        db: t.db,
        clock: t.clock,
        timeZone: 'Asia/Shanghai',
        secrets: t.secrets,
      });
      const staff = { userId: 'u1', role: 'cinema' as const, cinemaId: '1001', username: 'staff' };
      await counter.redeem(staff, partly.card_no, partly.password, 1);
      const used = await pay('K2D', 1);
      await counter.redeem(staff, used.card_no, used.password, 1); // no tickets left: not counted

      await op.get('/admin/catalog/kinds');
      const url = '/admin/catalog/kinds/K2D/active';
      const asked = await op.post(url, { active: '0', back: '/admin/catalog/kinds' });
      expect(asked.status).toBe(200);
      const text = textOf(asked.body);
      expect(text).toContain('停用券种 K2D 全国通兑2D券');
      expect(text).toContain('渠道不能再按此券种购买新卡');
      expect(text).toContain(
        '已售出、仍有剩余票的此券种的卡：2 张；它们仍可在此券种的 4 家适用影院兑换，到期照常过期。',
      );
      expect(text).toContain('未付款、仍在支付期限内的此券种的卡：1 张；渠道仍可在期限内激活。');
      expect(asked.body).toMatch(/<a class="button secondary" href="\/admin\/catalog\/kinds">返回<\/a>/);
      expect(await kindActive('K2D')).toBe(1);

      const done = await confirm(op, asked, url);
      expect(done.status).toBe(303);
      expect(done.location).toMatch(/^\/admin\/catalog\/kinds\?ok=/);
      expect(await kindActive('K2D')).toBe(0);

      // What the confirmation said is what happens.
      await expect(t.client.buyByKind({ kindId: 'K2D', count: 1 })).rejects.toMatchObject({
        type: 'not_found',
      });
      expect((await t.client.kinds()).kinds.map((k) => k.kind_id)).not.toContain('K2D');
      expect((await counter.redeem(staff, partly.card_no, partly.password, 1)).remaining).toBe(0);
      const late = (await t.client.payByCard({ cardNo: unpaid.card_no, mobile: '13812345678' })).card;
      const other = { ...staff, cinemaId: '2001' };
      expect((await counter.redeem(other, late.card_no, late.password, 1)).remaining).toBe(0);

      // Activating again needs no confirmation.
      expect((await op.post(url, { active: '1' })).status).toBe(303);
      expect(await kindActive('K2D')).toBe(1);
    });
  });
}
