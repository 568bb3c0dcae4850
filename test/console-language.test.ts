import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERFACE_NAMES } from '../src/http/partner/interfaces.js';
import { Browser, signInUsers, textOf } from './support/console-browser.js';
import { englishSentences, visibleText } from './support/english.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

/** The console's GET routes, from the app's own route table (so a new page is walked too). */
function consoleGetRoutes(t: TestApp): string[] {
  const tree = t.app.fastify.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(([^)]*)\)/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('');
    if (m[3]!.split(', ').includes('GET')) out.push(path);
  }
  return out.filter((p) => /^\/admin(\/|$)/.test(p) && !p.startsWith('/admin/api'));
}

/**
 * Not walked: the JSON API's reference page (/admin/docs and its OpenAPI file) is a developer's
 * reference of the English API, not an operator's screen; CSV downloads are checked by their own
 * tests (Chinese headers by default).
 */
const NOT_PAGES = [/^\/admin\/docs/, /\/download$/, /\/csv$/, /\.csv$/];

describe('the English-sentence check', () => {
  it('finds three English words in a row in text and in placeholders, not in code or machine fields', () => {
    const page =
      '<p>卡号 <span class="mono">card no here</span></p><code>must be digits</code>' +
      '<input placeholder="user name here"><p>id must be 1-32 letters</p><p>IP 白名单 API CSV</p>';
    expect(englishSentences(visibleText(page))).toEqual(['id must be', 'user name here']);
  });
});

for (const engine of engines()) {
  describe(`console language (${engine.name})`, () => {
    let t: TestApp;
    let admin: Browser;
    let operator: Browser;
    let cinema: Browser;
    let partnerId = '';
    let cardNo = '';

    beforeAll(async () => {
      t = await makeTestApp(await engine.open());
      ({ admin, operator, cinema } = await signInUsers(t));
      // Data on every page: a partner with a key and a price, cards in several states, a
      // redemption, an SMS, audit entries of several kinds, an import.
      const created = await admin.post('/admin/partners', {
        name: '测试渠道',
        prefix: 'MT',
        rate_limit: '0',
        permissions: INTERFACE_NAMES,
      });
      partnerId = /\/admin\/partners\/([A-Z]{2}[0-9]{6})/.exec(created.location)![1]!;
      await admin.post(`/admin/partners/${partnerId}/keys`, { sign_mode: 'full' });
      await admin.post(`/admin/partners/${partnerId}/prices`, { target: 'cinema:1001', price: '36.00' });
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 2, orderNo: 'ORD-1' });
      const paid = (await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' })).card;
      cardNo = paid.card_no;
      await t.app.outbox.runOnce();
      await cinema.get('/admin/redeem');
      await cinema.post('/admin/redeem', { card_no: cardNo, password: paid.password, count: '1' });
      const other = (await t.client.buyByCinema({ cinemaId: '1002', count: 1 })).card;
      await t.client.ban({ cardNo: other.card_no, reason: '退款' });
      await operator.get('/admin/catalog/cinemas/1003');
      await operator.post('/admin/catalog/cinemas/1003', {
        name: '影城1003',
        city_id: '001',
        region_id: '001001',
        address: '地址',
        tel: '010-1',
        price: '30.00',
        market_price: '60.00',
        valid_days: '90',
      });
    });
    afterAll(async () => {
      await t?.close();
      await engine.cleanup();
    });

    const urlOf = (route: string): string =>
      route
        .replace(/\/partners\/:[a-zA-Z]+/, `/partners/${partnerId}`)
        .replace(/\/cinemas\/:[a-zA-Z]+/, '/cinemas/1001')
        .replace(/\/cities\/:[a-zA-Z]+/, '/cities/001')
        .replace(/\/regions\/:[a-zA-Z]+/, '/regions/001001')
        .replace(/\/kinds\/:[a-zA-Z]+/, '/kinds/K2D')
        .replace(/\/cards\/:[a-zA-Z]+/, `/cards/${cardNo}`)
        .replace(/\/users\/:[a-zA-Z]+/, '/users/otto');

    const expectChinese = (what: string, body: string) => {
      expect(englishSentences(visibleText(body)), what).toEqual([]);
    };

    it('shows no English sentence on any console page, to any role, refused or not', async () => {
      const routes = consoleGetRoutes(t).filter((r) => !NOT_PAGES.some((n) => n.test(r)));
      // The route table is read correctly: the known pages are among them.
      for (const known of ['/admin', '/admin/partners/:id', '/admin/statements', '/admin/redeem/history']) {
        expect(routes).toContain(known);
      }
      let pages = 0;
      for (const browser of [admin, operator, cinema]) {
        for (const route of routes) {
          const url = urlOf(route);
          const res = await browser.get(url);
          if (res.status === 303) continue; // /admin for cinema staff, the login page when signed in
          expect(res.headers['content-type'], url).toMatch(/^text\/html/);
          expectChinese(
            `${url} as ${browser === admin ? 'admin' : browser === operator ? 'operator' : 'cinema'}`,
            res.body,
          );
          pages++;
        }
      }
      expect(pages).toBeGreaterThan(60);
      // Pages with query parameters that fill them.
      for (const url of [
        `/admin/statements?partner=${partnerId}&from=2000-01-01&to=2000-12-31`,
        `/admin/statements?from=${'2026-12-01'}&to=2026-12-31`,
        `/admin/settlement?cinema=1001`,
        `/admin/cards?q=${cardNo}`,
        `/admin/tester?partner=${partnerId}&iface=buyByCinema`,
        `/admin/audit?entity_id=${partnerId}`,
        '/admin/audit?action=partner.create',
      ]) {
        expectChinese(url, (await admin.get(url)).body);
      }
      expectChinese('login page', (await new Browser(t).get('/admin/login')).body);
      expectChinese('settlement as cinema staff', (await cinema.get('/admin/settlement')).body);
    });

    it('shows the refusals of the HTTP layer (body type, size, syntax) on a console form in Chinese only', async () => {
      await admin.get('/admin');
      for (const [type, payload] of [
        ['application/xml', '<x/>'],
        ['application/x-www-form-urlencoded', `name=${'x'.repeat(2_000_000)}`],
        ['application/json', '{'],
      ] as const) {
        const res = await t.app.fastify.inject({
          method: 'POST',
          url: '/admin/partners',
          headers: { 'content-type': type, cookie: admin.cookie },
          payload,
        });
        expect(res.statusCode, type).toBeGreaterThanOrEqual(400);
        expect(res.headers['content-type'], type).toMatch(/^text\/html/);
        expectChinese(`POST /admin/partners as ${type}`, res.body);
      }
    });

    it('says every refusal a console user meets in Chinese', async () => {
      const refusals: [Browser, string, Record<string, string | string[]> | null][] = [
        [admin, '/admin/nope', null],
        [admin, '/admin/statements?partner=XX&day=bad', null],
        [admin, '/admin/statements?from=2025-03-02&to=2025-03-01', null],
        [admin, '/admin/statements?from=2020-01-01&to=2025-03-01', null],
        [admin, '/admin/statements?partner=ZZ999999&day=2025-01-01', null],
        [admin, '/admin/settlement?cinema=9999', null],
        [admin, '/admin/audit?until=abc', null],
        [admin, '/admin/cards/123', null],
        [admin, '/admin/partners/ZZ999999', null],
        [cinema, '/admin/partners', null],
        [admin, '/admin/partners', { name: '', prefix: 'x1', rate_limit: 'abc', permissions: [] }],
        [admin, '/admin/users', { username: 'A', password: '1', role: 'cinema' }],
        [admin, '/admin/users/ada/disable', {}],
        [
          admin,
          '/admin/catalog/kinds',
          { kind_id: '', name: '', price: '0', market_price: 'x', valid_days: 'y' },
        ],
        [admin, `/admin/partners/${partnerId}/prices`, { target: 'cinema:1001', price: '-1' }],
        [admin, `/admin/partners/${partnerId}/callback`, { callback_url: 'ftp://user:pw@x' }],
        [
          admin,
          `/admin/partners/${partnerId}/edit`,
          { name: '测试渠道', ip_allow: 'not-an-ip', rate_limit: '0' },
        ],
        [admin, `/admin/catalog/import`, { csv: 'city_id\n1\n' }],
        [admin, `/admin/catalog/import`, { csv: '' }],
        [admin, `/admin/catalog/import`, { csv: '"a,b\n' }],
        [
          admin,
          `/admin/catalog/import`,
          {
            csv:
              'city_id,city_name,city_remark,region_id,region_name,region_remark,cinema_id,cinema_name,address,tel,price,market_price,valid_days,active\n' +
              '001,上海,,001002,朝阳区,,9002,,addr,,abc,60.00,90,x\n' +
              '001,北京,,001001,海淀区,,9002,影城,addr,,30.00,60.00,90,1,extra\n',
          },
        ],
        [
          operator,
          '/admin/tester',
          { partner: partnerId, iface: 'buyByCinema', sec_id: '', md5key: '', params: 'x' },
        ],
        [cinema, '/admin/redeem', { card_no: '12', password: '', count: '0' }],
        [cinema, '/admin/redeem', { card_no: cardNo, password: 'wrong', count: '1' }],
        [cinema, '/admin/redeem/undo', { redemption_id: '00000000-0000-0000-0000-000000000000' }],
      ];
      for (const [browser, url, form] of refusals) {
        if (form === null) {
          const res = await browser.get(url);
          expect(res.status, url).toBeGreaterThanOrEqual(400);
          expectChinese(url, res.body);
        } else {
          await browser.get(url.startsWith('/admin/redeem') ? '/admin/redeem' : '/admin');
          let res = await browser.post(url, form);
          if (res.body.includes('name="confirmed"')) {
            // A confirmation page comes first: it too is read, then confirmed.
            expectChinese(`POST ${url} (confirmation)`, res.body);
            res = await browser.post(url, { ...form, confirmed: '1' });
          }
          const body = res.status === 303 ? (await browser.get(res.location)).body : res.body;
          // A refusal is shown (not, say, a CSRF page or a success), and in Chinese.
          expect(body, `POST ${url}`).toMatch(/class="(error|err)"|class="warn"|<td>[^<]*[\u4e00-\u9fff]/);
          expect(res.status, `POST ${url}`).not.toBe(403);
          expectChinese(`POST ${url}`, body);
        }
      }
    });

    it('describes audit entries and ledger data in Chinese, money in yuan, with actions by name', async () => {
      const audit = await admin.get(`/admin/audit?entity_id=${partnerId}`);
      const text = textOf(audit.body);
      expect(text).toContain('新建渠道');
      expect(text).toContain('设置渠道价格');
      expect(text).toContain('36.00 元');
      expect(audit.body).not.toContain('price_fen');
      // The filter names the actions.
      expect(audit.body).toMatch(/<option value="price\.set"[^>]*>\s*设置渠道价格\s*<\/option>/);
      const edited = textOf((await admin.get('/admin/audit?action=cinema.update')).body);
      expect(edited).toMatch(/价格：\s*33\.00 元 → 30\.00 元/);
      const ledger = await admin.get(`/admin/cards/${cardNo}`);
      expect(ledger.body).not.toContain('price_fen');
      expect(textOf(ledger.body)).toMatch(/总额：\s*70\.00 元/);
    });
  });
}
