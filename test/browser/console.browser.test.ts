import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MovTicketError } from '../../src/client/index.js';
import { dayOf } from '../../src/domain/dates.js';
import {
  channelClient,
  chromiumInstalled,
  ChromiumSession,
  definition,
  fillLogin,
  screenshot,
  shownKey,
  type ShownKey,
  submit,
  USERS,
  warnIfNoChromium,
} from './support.js';

// The management console in a real browser against a real server: real clicks on the rendered forms.

warnIfNoChromium();

describe.skipIf(!chromiumInstalled)('management console in Chromium', () => {
  const chromium = new ChromiumSession();
  beforeAll(() => chromium.start());
  afterAll(() => chromium.close());

  const as = (user: { username: string }, screenshotName?: string) =>
    chromium.signIn(user.username, { screenshot: screenshotName });

  // Keys made in the console sign in `full` mode unless `basic` is chosen.
  const channel = (partnerId: string, key: ShownKey) =>
    channelClient(chromium.server.baseUrl, partnerId, key);

  it('walks a partner from console-made keys through a rotation, a sale and a redemption to its statement', async () => {
    // An admin signs in and lands on the dashboard.
    const admin = await as(USERS.admin, '01-login');
    expect(new URL(admin.url()).pathname).toBe('/admin');
    await admin.getByRole('heading', { level: 1, name: '概览' }).waitFor();
    await screenshot(admin, '02-dashboard');

    // A new partner, through the list page and the new-partner form.
    await submit(admin, admin.getByRole('link', { name: '渠道', exact: true }));
    await submit(admin, admin.getByRole('link', { name: '新建渠道' }));
    await admin.getByLabel('名称').fill('浏览器联调渠道');
    expect(await submit(admin, admin.getByRole('button', { name: '创建渠道' }))).toBe(200);
    expect(await admin.getByRole('status').textContent()).toContain('渠道已创建');
    const partnerId = /^\/admin\/partners\/([A-Z]{2}\d{6})$/.exec(new URL(admin.url()).pathname)?.[1];
    expect(partnerId).toBeDefined();
    const partnerUrl = admin.url().replace(/\?.*$/, '');

    // Its first key: the md5key is read from the page that shows it once.
    const createKey = async () => {
      await admin.goto(partnerUrl);
      expect(await submit(admin, admin.getByRole('button', { name: '生成密钥' }))).toBe(200);
      expect(await admin.getByRole('alert').textContent()).toContain('只在本页显示这一次');
      return shownKey(admin);
    };
    const k1 = await createKey();
    await screenshot(admin, '04-key-created');
    expect(k1.secId).toBe('k1');
    expect(k1.md5key).toMatch(/^[0-9a-f]{32}$/);
    expect(k1.busId).toMatch(/^\d+$/);
    const oldKey = channel(partnerId!, k1);
    expect((await oldKey.cities()).cities.map((c) => c.code_name)).toContain('北京');

    // Rotation: a second key; both work until the old one is revoked on the partner page.
    const k2 = await createKey();
    expect(k2.secId).toBe('k2');
    expect(k2.md5key).not.toBe(k1.md5key);
    const newKey = channel(partnerId!, k2);
    await newKey.cities();
    await oldKey.cities();

    await submit(admin, admin.getByRole('link', { name: `‹ 返回渠道 ${partnerId}` }));
    const keyRow = (secId: string) =>
      admin.getByRole('row').filter({ has: admin.getByRole('cell', { name: secId, exact: true }) });
    await screenshot(admin, '03-partner-keys');
    expect(await admin.content()).not.toContain(k1.md5key);
    expect(await submit(admin, keyRow('k1').getByRole('button', { name: '吊销…' }))).toBe(200);
    expect(await submit(admin, admin.getByRole('button', { name: '确认吊销' }))).toBe(200);
    expect(await admin.getByRole('status').textContent()).toContain('密钥已吊销');
    expect(await keyRow('k1').textContent()).toContain('已吊销');
    expect(await keyRow('k2').getByRole('button', { name: '吊销' }).count()).toBe(1);

    const refused = await oldKey.cities().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(MovTicketError);
    expect((refused as MovTicketError).code).toBe(401);

    // The channel sells a two-ticket card of cinema 1001 (35.00 each) with the new key.
    const { card } = await newKey.buyByCinema({ cinemaId: '1001', count: 2, orderNo: 'BROWSER-1' });
    const paid = await newKey.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
    const password = paid.card.password;
    expect(password).toMatch(/^\d{8}$/);
    const today = dayOf(Date.now(), 'Asia/Shanghai');

    // Cinema staff of 1001 sign in, look the card up, mistype the password, then redeem both tickets.
    const cinema = await as(USERS.cinema);
    expect(new URL(cinema.url()).pathname).toBe('/admin/redeem');
    await cinema.getByLabel('卡号').fill(card.card_no);
    await submit(cinema, cinema.getByRole('button', { name: '查询' }));
    expect(await definition(cinema, '剩余').textContent()).toMatch(/2\s*\/\s*2 张/);
    await cinema.getByLabel('卡密码').fill(password === '00000000' ? '11111111' : '00000000');
    expect(await submit(cinema, cinema.getByRole('button', { name: '确认兑换' }))).toBe(422);
    expect(await cinema.getByRole('alert').textContent()).toContain('密码错误，还可尝试 4 次');
    await screenshot(cinema, '05-redeem-wrong-password');
    await cinema.getByLabel('卡密码').fill(password);
    await cinema.getByLabel('兑换张数').selectOption('2');
    expect(await submit(cinema, cinema.getByRole('button', { name: '确认兑换' }))).toBe(200);
    expect(await cinema.getByRole('status').textContent()).toContain('兑换成功');
    expect(await definition(cinema, '剩余').textContent()).toMatch(/0\s*\/\s*2 张/);
    await screenshot(cinema, '06-redeem-result');

    expect((await newKey.status({ cardNo: card.card_no })).card.status).toBe('used');

    // An operator finds the card, then the partner's statement of today: the card and 70.00 to the fen.
    const operator = await as(USERS.operator);
    await submit(operator, operator.getByRole('link', { name: '卡券', exact: true }));
    await operator.getByLabel('卡号').fill(card.card_no);
    await submit(operator, operator.getByRole('button', { name: '搜索' }));
    await submit(operator, operator.getByRole('link', { name: card.card_no }));
    expect(new URL(operator.url()).pathname).toBe(`/admin/cards/${card.card_no}`);
    const detail = await operator.locator('main').innerText();
    expect(detail).toContain('已用完');
    expect(detail).not.toContain(password);
    await screenshot(operator, '07-card-detail');

    await submit(operator, operator.getByRole('link', { name: '对账单', exact: true }));
    await operator.getByLabel('渠道').selectOption(partnerId!);
    await operator.getByLabel('开始日期').fill(today);
    await operator.getByLabel('结束日期').fill(today);
    expect(await submit(operator, operator.getByRole('button', { name: '预览' }))).toBe(200);
    const line = operator.getByRole('row').filter({ hasText: card.card_no });
    const cells = (await line.getByRole('cell').allInnerTexts()).map((s) => s.trim());
    expect(cells[0]).toBe('激活');
    expect(cells).toContain('BROWSER-1');
    expect(cells.slice(-3)).toEqual(['2', '35.00', '70.00']);
    const stat = (k: string) =>
      operator.locator('.stat').filter({ has: operator.locator('.k', { hasText: k }) });
    expect((await stat('激活').innerText()).replace(/\s+/g, ' ')).toBe('激活 1 ¥70.00');
    expect(await stat('净额').locator('.v').innerText()).toBe('¥70.00');
    await screenshot(operator, '08-statement');
  }, 90_000);

  it('sends a signed-out visitor to the login page and back to the page asked for', async () => {
    const page = await chromium.openPage();
    const res = await page.goto('/admin/partners');
    expect(res?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/admin/partners');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('电影票管理平台');
    expect(await fillLogin(page, USERS.operator.username)).toBe(200);
    expect(new URL(page.url()).pathname).toBe('/admin/partners');
    await page.getByRole('heading', { level: 1, name: '渠道' }).waitFor();
  });

  it('refuses the staff pages to cinema staff', async () => {
    const cinema = await as(USERS.cinema);
    const nav = await cinema.locator('header nav').innerText();
    expect(nav).toContain('兑换');
    expect(nav).not.toContain('渠道');
    const res = await cinema.goto('/admin/partners');
    expect(res?.status()).toBe(403);
    expect(await cinema.getByRole('heading', { level: 1 }).textContent()).toBe('无权访问');
    await screenshot(cinema, '09-cinema-refused');
  });
});
