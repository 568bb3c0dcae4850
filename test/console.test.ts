import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { dayOf } from '../src/domain/dates.js';
import { INTERFACE_NAMES } from '../src/http/partner/interfaces.js';
import { Browser, PASSWORD, signInUsers, textOf, type Res } from './support/console-browser.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const TZ = 'Asia/Shanghai';

for (const engine of engines()) {
  describe(`console (${engine.name})`, () => {
    let t: TestApp;
    let admin: Browser;
    let operator: Browser;
    let cinema: Browser;

    // One app and three signed-in users for the file: password hashing is slow on purpose.
    beforeAll(async () => {
      t = await makeTestApp(await engine.open());
      ({ admin, operator, cinema } = await signInUsers(t));
    });
    afterAll(async () => {
      await t?.close();
      await engine.cleanup();
    });

    const createPartner = async (name: string) => {
      // As the new-partner form sends it: every interface ticked.
      const res = await admin.post('/admin/partners', {
        name,
        prefix: 'MT',
        rate_limit: '0',
        permissions: INTERFACE_NAMES,
      });
      expect(res.status, res.body.slice(0, 300)).toBe(303);
      const id = /^\/admin\/partners\/([A-Z]{2}[0-9]{6})\?ok=partner\.created$/.exec(res.location)?.[1];
      expect(id).toBeDefined();
      return id!;
    };

    it('serves each page to the roles that may use it and refuses the others', async () => {
      const staffPages = [
        '/admin/partners',
        '/admin/partners/new',
        '/admin/partners/CS000001',
        '/admin/catalog',
        '/admin/catalog/cinemas/new',
        '/admin/catalog/cinemas/1001',
        '/admin/catalog/kinds',
        '/admin/catalog/kinds/new',
        '/admin/catalog/kinds/K2D',
        '/admin/catalog/cities',
        '/admin/catalog/cities/001',
        '/admin/catalog/regions',
        '/admin/catalog/regions/001001',
        '/admin/catalog/import',
        '/admin/cards',
        '/admin/sms',
        '/admin/statements',
        '/admin/statements?partner=CS000001',
        '/admin/audit',
        '/admin/tester',
        '/admin/tester?partner=CS000001&iface=buyByCinema',
      ];
      const adminPages = [
        '/admin/users',
        '/admin/users/new',
        '/admin/users/otto/password',
        '/admin/settings',
      ];
      const cinemaPages = ['/admin/redeem', '/admin/redeem/history'];
      const expectations: [Browser, string[], string[]][] = [
        [admin, ['/admin', ...staffPages, ...adminPages], cinemaPages],
        [operator, ['/admin', ...staffPages], [...adminPages, ...cinemaPages]],
        [cinema, cinemaPages, [...staffPages, ...adminPages]],
      ];
      for (const [browser, allowed, refused] of expectations) {
        for (const url of allowed) {
          const res = await browser.get(url);
          expect(res.status, url).toBe(200);
          expect(res.headers['content-type'], url).toMatch(/^text\/html; charset=utf-8/);
          expect(res.body, url).toContain('<h1>');
          expect(res.body, url).toContain('退出');
        }
        for (const url of refused) expect((await browser.get(url)).status, url).toBe(403);
      }
      // Cinema staff have no dashboard: /admin takes them to redemption.
      expect((await cinema.get('/admin')).location).toBe('/admin/redeem');
      // Signed out: every page sends to the login page.
      const anonymous = new Browser(t);
      const res = await anonymous.get('/admin/partners');
      expect(res.status).toBe(303);
      expect(res.location).toMatch(/^\/admin\/login/);
    });

    it('shows each role only the navigation it may use', async () => {
      const nav = (body: string) => /<nav>(.*?)<\/nav>/s.exec(body)![1]!;
      expect(nav((await admin.get('/admin')).body)).toContain('/admin/users');
      const op = nav((await operator.get('/admin')).body);
      expect(op).toContain('/admin/partners');
      expect(op).not.toContain('/admin/users');
      expect(op).not.toContain('/admin/redeem');
      const ci = nav((await cinema.get('/admin/redeem')).body);
      expect(ci).toContain('/admin/redeem');
      expect(ci).not.toContain('/admin/partners');
    });

    it('refuses a form without or with a wrong _csrf and changes nothing', async () => {
      const name = `csrf-check-${Date.now()}`;
      expect((await admin.post('/admin/partners', { name }, null)).status).toBe(403);
      expect((await admin.post('/admin/partners', { name }, 'x'.repeat(43))).status).toBe(403);
      // Another user's token is no good either.
      expect((await admin.post('/admin/partners', { name }, operator.csrf)).status).toBe(403);
      expect(
        (await cinema.post('/admin/redeem', { card_no: '1'.repeat(16), password: 'x' }, null)).status,
      ).toBe(403);
      expect((await admin.get('/admin/partners')).body).not.toContain(name);
      // Every state-changing console form, sent without the token, is refused and changes nothing.
      const staffPosts = [
        '/admin/partners/CS000001/edit',
        '/admin/partners/CS000001/suspend',
        '/admin/partners/CS000001/resume',
        '/admin/partners/CS000001/permissions',
        '/admin/partners/CS000001/keys',
        '/admin/partners/CS000001/keys/revoke',
        '/admin/partners/CS000001/prices',
        '/admin/partners/CS000001/prices/clear',
        '/admin/catalog/cinemas',
        '/admin/catalog/cinemas/1001',
        '/admin/catalog/cinemas/1001/active',
        '/admin/catalog/kinds',
        '/admin/catalog/kinds/K2D',
        '/admin/catalog/kinds/K2D/cinemas',
        '/admin/catalog/kinds/K2D/active',
        '/admin/catalog/cities',
        '/admin/catalog/cities/001',
        '/admin/catalog/regions',
        '/admin/catalog/regions/001001',
        '/admin/catalog/import',
        '/admin/cards/1234567890123456/ban',
        '/admin/cards/1234567890123456/resend',
        '/admin/tester',
        '/admin/users',
        '/admin/users/otto/disable',
        '/admin/users/otto/enable',
        '/admin/users/otto/password',
        '/admin/settings',
      ];
      for (const url of staffPosts) {
        expect((await admin.post(url, { active: '0', sec_id: 'test', confirm: '1' }, null)).status, url).toBe(
          403,
        );
      }
      for (const url of ['/admin/redeem', '/admin/redeem/undo']) {
        expect((await cinema.post(url, {}, null)).status, url).toBe(403);
      }
      const still = await admin.get('/admin/partners/CS000001');
      expect(textOf(still.body)).toContain('暂停渠道');
      expect(still.body).toContain('>test<');

      // A POST of a role that may not use the form is refused before anything else.
      expect(
        (await operator.post('/admin/users', { username: 'eve', password: PASSWORD, role: 'admin' })).status,
      ).toBe(403);
    });

    it('walks a partner from creation to a redeemed card on its statement', async () => {
      // Partner and key, by an admin.
      const partnerId = await createPartner('联调渠道');
      const created = await admin.post(`/admin/partners/${partnerId}/keys`, { sign_mode: 'basic' });
      expect(created.status).toBe(200);
      expect(created.headers['cache-control']).toBe('no-store');
      expect(textOf(created.body)).toContain('只在本页显示这一次');
      const md5key = /id="md5key"[^>]*value="([0-9a-f]{32})"/.exec(created.flat)?.[1];
      const busId = /bus_id<\/dt><dd class="mono">([0-9]+)</.exec(created.flat)?.[1];
      expect(md5key).toBeDefined();
      expect(busId).toBeDefined();
      // Shown once: not on the partner page, its audit entries, or anywhere later.
      for (const url of [
        `/admin/partners/${partnerId}`,
        `/admin/audit?entity_id=${partnerId}`,
        '/admin/partners',
      ]) {
        const page = await admin.get(url);
        expect(page.status).toBe(200);
        expect(page.body).not.toContain(md5key);
      }
      expect((await admin.get(`/admin/partners/${partnerId}`)).body).toContain('>k1<');
      // An operator sees the partner but not its keys, and may not make one.
      const opView = await operator.get(`/admin/partners/${partnerId}`);
      expect(opView.body).not.toContain('新建密钥');
      expect((await operator.post(`/admin/partners/${partnerId}/keys`, { sign_mode: 'basic' })).status).toBe(
        403,
      );

      // The channel buys and pays through the SDK with the new key.
      const client = t.clientFor({ partnerId, busId: busId!, secId: 'k1', md5key: md5key! });
      const { card } = await client.buyByCinema({ cinemaId: '1001', count: 2, orderNo: 'WALK-1' });
      const paid = await client.payByCard({ cardNo: card.card_no, mobile: '13812345678' });

      // Operators find it and see its ledger.
      const search = await operator.get(`/admin/cards?partner=${partnerId}&order_no=WALK-1`);
      expect(search.status).toBe(200);
      expect(search.body).toContain(`/admin/cards/${card.card_no}`);
      expect(search.body).toContain('138****5678');
      const detail = await operator.get(`/admin/cards/${card.card_no}`);
      expect(detail.status).toBe(200);
      const detailText = textOf(detail.body);
      expect(detailText).toContain('创建');
      expect(detailText).toContain('支付激活');
      expect(detailText).toContain('已激活');
      expect(detail.body).not.toContain(paid.card.password);

      // Cinema staff check it, get the password wrong once, then redeem one ticket.
      const check = await cinema.get(`/admin/redeem?card_no=${card.card_no}`);
      expect(check.status).toBe(200);
      expect(textOf(check.body)).toContain('确认兑换');
      const wrong = await cinema.post('/admin/redeem', {
        card_no: card.card_no,
        password: '00000000',
        count: '1',
      });
      expect(wrong.status).toBe(422);
      expect(textOf(wrong.body)).toContain('密码错误，还可尝试 4 次');
      const ok = await cinema.follow(
        await cinema.post('/admin/redeem', {
          card_no: card.card_no,
          password: paid.card.password,
          count: '1',
        }),
      );
      expect(textOf(ok.body)).toContain('兑换成功');
      expect(ok.flat).toMatch(/<strong>1<\/strong> \/ 2 张/);
      // Their own redemption can be undone within 10 minutes, and redeemed again.
      const rid = /name="redemption_id" value="([^"]+)"/.exec(ok.flat)?.[1];
      expect(rid).toBeDefined();
      const undone = await cinema.follow(
        await cinema.post('/admin/redeem/undo', { redemption_id: rid!, back: 'redeem', confirmed: '1' }),
      );
      expect(textOf(undone.body)).toContain('兑换已撤销');
      await cinema.follow(
        await cinema.post('/admin/redeem', {
          card_no: card.card_no,
          password: paid.card.password,
          count: '1',
        }),
      );
      const history = await cinema.get('/admin/redeem/history');
      expect(textOf(history.body)).toMatch(/1 张票，1 张卡，1 笔（另有 1 笔已撤销）/);

      // The ledger now shows the redemption; the statement lists the activation.
      expect(textOf((await admin.get(`/admin/cards/${card.card_no}`)).body)).toContain('撤销兑换');
      const today = dayOf(t.clock.now(), TZ);
      const statement = await operator.get(`/admin/statements?partner=${partnerId}&day=${today}`);
      expect(statement.status).toBe(200);
      expect(statement.body).toContain(card.card_no);
      expect(textOf(statement.body)).toContain('激活');
      const csv = await operator.get(`/admin/statements/download?partner=${partnerId}&day=${today}`);
      expect(csv.status).toBe(200);
      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      expect(csv.headers['content-disposition']).toBe(
        `attachment; filename="statement-${partnerId}-${today}.csv"`,
      );
      expect(csv.body).toContain(card.card_no);
      // And the dashboard counts it.
      const dashboard = await admin.get(`/admin?partner=${partnerId}`);
      expect(dashboard.body).toContain('<svg');
      expect(dashboard.body).toContain(partnerId);
    });

    it('makes new keys sign in full mode unless basic is chosen', async () => {
      const partnerId = await createPartner('签名方式');
      const page = await admin.get(`/admin/partners/${partnerId}`);
      expect(page.flat).toMatch(/<option value="full"\s+selected>/);
      expect(page.flat).not.toMatch(/<option value="basic"\s+selected>/);
      const created = await admin.post(`/admin/partners/${partnerId}/keys`, {});
      expect(created.status).toBe(200);
      const keys = await admin.get(`/admin/partners/${partnerId}`);
      expect(keys.flat).toMatch(/<td class="mono">k1<\/td>\s*<td>full<\/td>/);
    });

    it('escapes a hostile partner name on every page that shows it', async () => {
      const hostile = '<script>alert(1)</script>';
      const partnerId = await createPartner(hostile);
      for (const url of [
        '/admin/partners',
        `/admin/partners/${partnerId}`,
        `/admin/audit?entity_id=${partnerId}`,
        '/admin/cards',
      ]) {
        const page = await operator.get(url);
        expect(page.status, url).toBe(200);
        expect(page.body, url).not.toContain(hostile);
      }
      expect((await operator.get('/admin/partners')).body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      // Script runs only with the page's nonce.
      const csp = String((await operator.get('/admin/partners')).headers['content-security-policy']);
      expect(csp).toMatch(/script-src 'nonce-[^']+'/);
    });

    it('shows a refused form again with the input kept and the error beside its field', async () => {
      const res = await operator.post('/admin/partners', {
        name: '保留输入的渠道',
        ip_allow: '10.0.0.1\nnot-an-ip',
        permissions: ['cities', 'status'],
      });
      expect(res.status).toBe(400);
      expect(res.body).toContain('value="保留输入的渠道"');
      expect(res.body).toContain('not-an-ip');
      expect(res.flat).toMatch(/<small class="err">IP 白名单中的 not-an-ip 不是 IPv4 或 IPv6 地址<\/small>/);
      expect(res.flat).toMatch(/value="cities" checked/);
      expect(res.flat).not.toMatch(/value="kinds" checked/);
    });

    it('edits permissions, suspends and sets prices on the partner page', async () => {
      const partnerId = await createPartner('权限测试');
      const page = `/admin/partners/${partnerId}`;
      let res = await operator.follow(
        await operator.post(`${page}/permissions`, { permissions: ['cities', 'kinds'] }),
      );
      expect(textOf(res.body)).toContain('接口权限已更新');
      expect(res.flat).toMatch(/value="cities" checked/);
      expect(res.flat).not.toMatch(/value="buyByCinema" checked/);
      res = await operator.follow(await operator.post(`${page}/suspend`, { confirmed: '1' }));
      expect(textOf(res.body)).toContain('已暂停');
      res = await operator.follow(
        await operator.post(`${page}/prices`, { target: 'cinema:1001', price: '33.50' }),
      );
      expect(textOf(res.body)).toContain('¥33.50');
      const bad = await operator.post(`${page}/prices`, { target: 'cinema:1001', price: 'abc' });
      expect(bad.status).toBe(400);
      expect(bad.body).toContain('value="abc"');
      res = await operator.follow(
        await operator.post(`${page}/prices/clear`, { target: 'cinema:1001', confirmed: '1' }),
      );
      expect(textOf(res.body)).toContain('没有专属价格');
    });

    it('imports cinemas from an uploaded file, dry run first, with a per-row error report', async () => {
      const header =
        'city_id,city_name,city_remark,region_id,region_name,region_remark,cinema_id,cinema_name,address,tel,price,market_price,valid_days,active';
      const good = `${header}\n009,成都,cd,009001,锦江区,jj,9001,影城9001,春熙路 1 号,028-1,30.00,60.00,90,1\n`;
      const dry = await operator.upload(
        '/admin/catalog/import',
        { dry_run: '1' },
        { field: 'file', name: 'c.csv', content: good },
      );
      expect(dry.status).toBe(200);
      expect(textOf(dry.body)).toContain('试运行通过');
      expect((await operator.get('/admin/catalog?q=9001')).body).not.toContain('影城9001');
      // The file's text comes back in the form, ready for the real run.
      expect(dry.body).toContain('春熙路 1 号');
      const real = await operator.post('/admin/catalog/import', { csv: good });
      expect(real.status).toBe(200);
      expect(textOf(real.body)).toContain('导入完成');
      expect((await operator.get('/admin/catalog?q=9001')).body).toContain('影城9001');

      const bad = `${header}\n009,成都,,009001,,,9002,,addr,,abc,60.00,90,1\n`;
      const report = await operator.post('/admin/catalog/import', { csv: bad });
      expect(report.status).toBe(400);
      expect(textOf(report.body)).toContain('没有导入任何数据');
      expect(report.flat).toMatch(/<td class="num">2<\/td><td class="mono">cinema_name<\/td>/);
      expect(report.flat).toMatch(/<td class="num">2<\/td><td class="mono">price<\/td>/);
    });

    it('bans a card through the confirmation form and resends nothing for it', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1002', count: 1 });
      const confirm = await operator.get(`/admin/cards/${card.card_no}/ban`);
      expect(confirm.status).toBe(200);
      expect(textOf(confirm.body)).toContain('确认作废');
      const empty = await operator.post(`/admin/cards/${card.card_no}/ban`, { reason: '' });
      expect(empty.status).toBe(400);
      const banned = await operator.follow(
        await operator.post(`/admin/cards/${card.card_no}/ban`, { reason: '测试作废' }),
      );
      expect(textOf(banned.body)).toContain('卡已作废');
      expect(textOf(banned.body)).toContain('测试作废');
      expect(banned.body).not.toContain('重发短信');
      expect((await operator.get('/admin/cards/0000000000000000')).status).toBe(404);
    });

    it('sends the SMS to a new mobile only after a confirmation page with a reason, audited', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
      const path = `/admin/cards/${card.card_no}`;
      const queued = async () =>
        (
          await t.db.kysely
            .selectFrom('sms_messages')
            .select('mobile')
            .where('card_no', '=', card.card_no)
            .execute()
        )
          .map((m) => m.mobile)
          // Queued in one millisecond of the test's clock: which came first is not the point.
          .sort();

      await operator.get(path);
      // The first step only asks: the card, the new number, a reason, and the button.
      const ask = await operator.post(`${path}/resend`, { mobile: '13900001234' });
      expect(ask.status).toBe(200);
      const askText = textOf(ask.body);
      expect(askText).toContain(card.card_no);
      expect(askText).toContain('13900001234');
      expect(askText).toContain('确认发送到新手机号');
      expect(askText).toContain('原因');
      expect(ask.body).toMatch(/name="confirmed" value="1"/);
      expect(await queued()).toEqual(['13812345678']);

      // Confirmed without a reason: asked again, in Chinese, nothing sent.
      const noReason = await operator.post(`${path}/resend`, {
        mobile: '13900001234',
        confirmed: '1',
        reason: ' ',
      });
      expect(noReason.status).toBe(400);
      expect(textOf(noReason.body)).toContain('请填写 1–200 个字的原因');
      expect(textOf(noReason.body)).toContain('确认发送到新手机号');
      expect(await queued()).toEqual(['13812345678']);

      const sent = await operator.follow(
        await operator.post(`${path}/resend`, {
          mobile: '13900001234',
          confirmed: '1',
          reason: '顾客手机丢失',
        }),
      );
      expect(textOf(sent.body)).toContain('短信已排队发送到新手机号');
      expect(await queued()).toEqual(['13812345678', '13900001234']);
      const audit = textOf((await admin.get(`/admin/audit?entity_id=${card.card_no}`)).body);
      expect(audit).toContain('发送短信到新手机号');
      expect(audit).toContain('user:otto');
      expect(audit).toContain('139****1234');
      expect(audit).toContain('顾客手机丢失');

      // To the card's own number, one click as before.
      await operator.follow(await operator.post(`${path}/resend`, {}));
      expect(await queued()).toEqual(['13812345678', '13900001234', '13900001234']);
    });

    it('lets an admin keep sending to a new mobile to admins, in effect at once', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
      const path = `/admin/cards/${card.card_no}`;
      expect((await operator.get('/admin/settings')).status).toBe(403);
      const form = await admin.get('/admin/settings');
      expect(textOf(form.body)).toContain('仅管理员');
      expect((await operator.post('/admin/settings', { resend_new_mobile: 'admins' })).status).toBe(403);
      const saved = await admin.follow(await admin.post('/admin/settings', { resend_new_mobile: 'admins' }));
      expect(textOf(saved.body)).toContain('设置已保存');
      try {
        // Operators lose the field and are refused, in Chinese, before any confirmation.
        const page = await operator.get(path);
        expect(page.body).not.toContain('name="mobile"');
        expect(textOf(page.body)).toContain('发送到新手机号仅限管理员');
        const refused = await operator.post(`${path}/resend`, {
          mobile: '13900005678',
          confirmed: '1',
          reason: 'x',
        });
        expect(refused.status).toBe(403);
        expect(textOf(refused.body)).toContain('只有管理员可以把短信发送到新手机号');
        // Resending to the card's own number stays open to them.
        expect((await operator.post(`${path}/resend`, {})).status).toBe(303);
        // Admins still can, through the same confirmation.
        expect((await admin.get(path)).body).toContain('name="mobile"');
        expect((await admin.post(`${path}/resend`, { mobile: '13900005678' })).status).toBe(200);
        expect(
          (
            await admin.post(`${path}/resend`, {
              mobile: '13900005678',
              confirmed: '1',
              reason: '核实身份后更换',
            })
          ).status,
        ).toBe(303);
        const bad = await admin.post('/admin/settings', { resend_new_mobile: 'everyone' });
        expect(bad.status).toBe(400);
        expect(textOf(bad.body)).toContain('发送到新手机号的权限须为以下之一');
      } finally {
        await admin.post('/admin/settings', { resend_new_mobile: 'operators' });
      }
      const audit = textOf((await admin.get('/admin/audit?action=settings.update')).body);
      expect(audit).toContain('user:ada');
    });

    it('signs and sends a test request with a pasted key or, for admins, the stored one', async () => {
      const key = 'e10adc3949ba59abbe56e057f20f883e'; // the default partner's key (test factories)
      const pasted = await operator.post('/admin/tester', {
        partner: 'CS000001',
        iface: 'regionsByCity',
        sec_id: 'test',
        key_source: 'pasted',
        md5key: key,
        sign_mode: 'basic',
        p_city_id: '001',
        format: 'json',
      });
      expect(pasted.status).toBe(200);
      expect(pasted.body).toContain('HTTP <strong>200</strong>');
      expect(pasted.body).toContain('朝阳区');
      expect(pasted.body).toContain('‹md5key›');
      expect(pasted.body).not.toContain(key);
      // Operators may not have the server sign with a stored key.
      const stored = {
        partner: 'CS000001',
        iface: 'kinds',
        sec_id: 'test',
        key_source: 'stored',
        format: 'xml',
      };
      expect((await operator.post('/admin/tester', stored)).status).toBe(403);
      const byAdmin = await admin.post('/admin/tester', stored);
      expect(byAdmin.status).toBe(200);
      expect(byAdmin.body).toContain('HTTP <strong>200</strong>');
      expect(byAdmin.body).toContain('全国通兑2D券');
      expect(byAdmin.body).not.toContain(key);
    });

    it('tells cinema staff in Chinese how many password tries are left and until when a card is locked', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
      const wrong = () =>
        cinema.post('/admin/redeem', { card_no: card.card_no, password: '00000000', count: '1' });
      for (let left = 4; left >= 1; left--) {
        expect(textOf((await wrong()).body)).toContain(`密码错误，还可尝试 ${left} 次`);
      }
      const until = /已锁定至 ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8})/;
      const fifth = await wrong();
      expect(fifth.status).toBe(422);
      expect(textOf(fifth.body)).toMatch(/密码错误。错误次数过多，此卡已锁定至 [0-9]{4}-/);
      const locked = await wrong();
      expect(locked.status).toBe(423);
      expect(textOf(locked.body)).toContain('此卡因密码错误次数过多已锁定至');
      expect(until.exec(textOf(locked.body))?.[1]).toBe(until.exec(textOf(fifth.body))?.[1]);
    });

    it("tells cinema staff only that another cinema's card is not valid here, in the console and the API", async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1002', count: 3 });
      const paid = (await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' })).card;
      const redemption = new RedemptionService({
        db: t.db,
        clock: t.clock,
        timeZone: TZ,
        secrets: t.secrets,
      });
      const theirs = await redemption.checkCard(
        { userId: 'u-1002', role: 'cinema', cinemaId: '1002', username: 'staff1002' },
        card.card_no,
      );
      const secretsOfTheCard = [
        '已激活',
        '剩余',
        '有效期至',
        '密码可尝试',
        '影城1002',
        '影院 1002',
        '确认兑换',
        dayOf(theirs.valid_until!, TZ),
      ];
      const onlyRefusal = (res: Res, what: string) => {
        expect(res.status, what).toBe(403);
        const text = textOf(res.body);
        expect(text, what).toContain('此卡不能在本影院兑换');
        for (const s of secretsOfTheCard) expect(text, `${what}: ${s}`).not.toContain(s);
        expect(res.body, what).not.toMatch(/<strong>3<\/strong> \/ 3/);
      };
      onlyRefusal(await cinema.get(`/admin/redeem?card_no=${card.card_no}`), 'lookup');
      onlyRefusal(
        await cinema.post('/admin/redeem', { card_no: card.card_no, password: paid.password, count: '1' }),
        'redeem',
      );
      onlyRefusal(
        await cinema.post('/admin/redeem', { card_no: card.card_no, password: '00000000', count: '1' }),
        'redeem with a wrong password',
      );
      // Nothing was redeemed or counted as a wrong password.
      expect((await t.client.status({ cardNo: card.card_no })).card.used_count).toBe('0');
      expect(
        await t.db.kysely
          .selectFrom('password_failures')
          .selectAll()
          .where('card_no', '=', card.card_no)
          .execute(),
      ).toEqual([]);

      // Another cinema's redemption cannot be undone from here, and says so in Chinese.
      const r = await redemption.redeem(
        { userId: 'u-1002', role: 'cinema', cinemaId: '1002', username: 'staff1002' },
        card.card_no,
        paid.password,
        1,
      );
      const undo = await cinema.post('/admin/redeem/undo', {
        redemption_id: r.redemption_id,
        back: 'history',
      });
      expect(undo.status).toBe(403);
      expect(textOf(undo.body)).toContain('这笔兑换不是本影院的，不能撤销');
      expect(textOf(undo.body)).not.toContain(card.card_no);

      // The JSON API refuses the same lookup with 403 and nothing about the card.
      const api = await t.app.fastify.inject({
        method: 'GET',
        url: `/admin/api/redemption/cards/${card.card_no}`,
        headers: { cookie: cinema.cookie },
      });
      expect(api.statusCode).toBe(403);
      expect(api.json()).toEqual({
        error: { code: 'forbidden', message: `card ${card.card_no} is not valid at cinema 1001` },
      });
    });

    it('answers malformed queries and ids with a page in the console frame, never a 500', async () => {
      const cases: [Browser, string, number][] = [
        [admin, '/admin?to=abc', 400],
        [admin, '/admin?from=2025-02-01&to=2025-01-01', 400],
        [admin, '/admin/audit?until=abc', 400],
        [admin, '/admin/cards?since=2025-13-40', 400],
        [admin, '/admin/cards?card_no=12ab', 400],
        [admin, '/admin/sms?status=lost', 400],
        [admin, '/admin/statements?partner=XX&day=bad', 400],
        [admin, '/admin/statements/download?partner=ZZ999999&day=2025-01-01', 404],
        [admin, '/admin/partners/not-an-id', 400],
        [admin, '/admin/partners/ZZ999999', 404],
        [admin, '/admin/catalog/cinemas/nope', 404],
        [admin, '/admin/cards/123', 400],
        [admin, '/admin/tester?partner=nope&iface=nothing', 200],
        [admin, '/admin/users/nobody/password', 404],
        [cinema, '/admin/redeem?card_no=abc', 400],
        [cinema, '/admin/redeem?card_no=9999999999999999', 404],
        [cinema, '/admin/redeem/history?day=bad', 400],
      ];
      for (const [browser, url, status] of cases) {
        const res = await browser.get(url);
        expect(res.status, url).toBe(status);
        expect(res.headers['content-type'], url).toMatch(/^text\/html/);
        if (status !== 404 || !url.includes('download')) expect(res.body, url).toContain('退出');
      }
    });

    it('answers an unknown console address with a Chinese page, and the API with its JSON code', async () => {
      const page = await admin.get('/admin/no-such-page?x=1');
      expect(page.status).toBe(404);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('页面不存在：/admin/no-such-page');
      expect(page.body).not.toMatch(/not found/i);
      const api = await admin.get('/admin/api/no-such-thing');
      expect(api.status).toBe(404);
      expect(JSON.parse(api.body)).toMatchObject({ error: { code: 'not_found' } });
    });

    it('lets admins create, disable and enable accounts', async () => {
      const res = await admin.post('/admin/users', { username: 'x', password: 'short', role: 'operator' });
      expect(res.status).toBe(400);
      expect(res.body).toContain('value="x"');
      const list = await admin.follow(
        await admin.post('/admin/users', {
          username: 'cinema2',
          password: PASSWORD,
          role: 'cinema',
          cinema_id: '2001',
        }),
      );
      expect(textOf(list.body)).toContain('账号已创建');
      expect(list.body).toContain('cinema2');
      const disabled = await admin.follow(
        await admin.post('/admin/users/cinema2/disable', { confirmed: '1' }),
      );
      expect(textOf(disabled.body)).toContain('账号已停用');
      const enabled = await admin.follow(await admin.post('/admin/users/cinema2/enable', {}));
      expect(textOf(enabled.body)).toContain('账号已启用');
    });
  });
}
