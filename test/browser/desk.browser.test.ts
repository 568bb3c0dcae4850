import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MovTicketClient } from '../../src/client/index.js';
import { INTERFACE_NAMES } from '../../src/http/partner/interfaces.js';
import {
  chromiumInstalled,
  ChromiumSession,
  definition,
  screenshot,
  submit,
  USERS,
  warnIfNoChromium,
} from './support.js';

// The support desk and the cinema counter in a real browser: a stolen-SMS call handled end to end,
// and the counter on a phone-sized screen.

warnIfNoChromium();

const PHONE = { width: 390, height: 844 };

/** Every visible control on the page whose right edge lies beyond the viewport (named for the failure). */
async function offscreenControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const out: string[] = [];
    for (const el of document.querySelectorAll('a, button, input, select, textarea, label')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > width + 0.5 || r.left < -0.5) {
        out.push(
          `${el.tagName.toLowerCase()} "${(el.textContent ?? '').trim() || el.getAttribute('name')}" ${Math.round(r.left)}..${Math.round(r.right)} of ${width}`,
        );
      }
    }
    return out;
  });
}

/** Whether the document is wider than the viewport (a sideways scroll bar). */
const scrollsSideways = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

describe.skipIf(!chromiumInstalled)('support desk and counter in Chromium', () => {
  const chromium = new ChromiumSession();
  beforeAll(() => chromium.start());
  afterAll(() => chromium.close());

  const as = async (user: { username: string }, viewport?: { width: number; height: number }) => {
    const page = await chromium.signIn(user.username);
    if (viewport) await page.setViewportSize(viewport);
    return page;
  };

  /** A channel with a key made through the JSON admin API as the admin. */
  const channel = async (): Promise<MovTicketClient> => {
    const admin = await as(USERS.admin);
    const api = admin.request;
    const csrf = (await (await api.get('/admin/api/session')).json()) as { csrfToken: string };
    const headers = { 'x-csrf-token': csrf.csrfToken };
    const data = { name: '客服联调渠道', permissions: [...INTERFACE_NAMES] };
    const p = (await (await api.post('/admin/api/partners', { headers, data })).json()) as {
      partnerId: string;
      busId: string;
    };
    const key = (await (
      await api.post(`/admin/api/partners/${p.partnerId}/keys`, { headers, data: {} })
    ).json()) as {
      secId: string;
      md5key: string;
      signMode: 'basic' | 'full';
    };
    return new MovTicketClient({
      baseUrl: chromium.server.baseUrl,
      partnerId: p.partnerId,
      busId: p.busId,
      secId: key.secId,
      md5key: key.md5key,
      signMode: key.signMode,
      retries: 0,
    });
  };

  it('finds a card by the last 4 digits of the mobile, sees its lock, unlocks it and freezes the remaining tickets', async () => {
    const client = await channel();
    const { card } = await client.buyByCinema({ cinemaId: '1001', count: 3, orderNo: 'DESK-1' });
    const paid = await client.payByCard({ cardNo: card.card_no, mobile: '13812347788' });
    const password = paid.card.password;

    // At the counter: one ticket redeemed, then the (thief's) wrong passwords lock the card.
    const counter = await as(USERS.cinema);
    await counter.getByLabel('卡号').fill(card.card_no);
    await submit(counter, counter.getByRole('button', { name: '查询' }));
    await counter.getByLabel('卡密码').fill(password);
    await counter.getByLabel('兑换张数').selectOption('1');
    expect(await submit(counter, counter.getByRole('button', { name: '确认兑换' }))).toBe(200);
    for (let i = 0; i < 5; i++) {
      await counter.getByLabel('卡号').fill(card.card_no);
      await submit(counter, counter.getByRole('button', { name: '查询' }));
      if ((await counter.getByLabel('卡密码').count()) === 0) break;
      await counter.getByLabel('卡密码').fill(password === '00000000' ? '11111111' : '00000000');
      await submit(counter, counter.getByRole('button', { name: '确认兑换' }));
    }

    // The customer calls the desk with the last 4 digits of the mobile.
    const desk = await as(USERS.operator);
    await submit(desk, desk.getByRole('link', { name: '卡券', exact: true }));
    await desk.getByLabel('手机号').fill('7788');
    await desk.getByLabel('影院').selectOption('1001');
    expect(await submit(desk, desk.getByRole('button', { name: '搜索' }))).toBe(200);
    const row = desk.getByRole('row').filter({ hasText: card.card_no });
    expect(await row.innerText()).toContain('影城1001');
    await screenshot(desk, 'desk-01-search-by-mobile');
    await submit(desk, row.getByRole('link', { name: card.card_no }));

    expect(await definition(desk, '密码锁定').innerText()).toMatch(
      /已锁定\s*锁定至 .+（一小时内密码错误 5 次）/,
    );
    expect(await definition(desk, '兑换对象').innerText()).toContain('影城1001');
    await screenshot(desk, 'desk-02-card-locked');

    const unlock = desk.locator('#desk-unlock');
    await unlock.getByLabel('原因').fill('来电核实为持卡人');
    expect(await submit(desk, unlock.getByRole('button', { name: '解除锁定' }))).toBe(200);
    expect(await desk.getByRole('status').innerText()).toContain('密码锁定已解除');
    expect(await definition(desk, '密码锁定').innerText()).toBe('未锁定，没有密码错误记录');

    const freeze = desk.locator('#desk-freeze');
    await freeze.getByLabel('原因').fill('短信被盗，顾客要求止付');
    expect(await submit(desk, freeze.getByRole('button', { name: '冻结…' }))).toBe(200);
    const consequences = await desk.locator('main').innerText();
    expect(consequences).toContain('剩余 2 张票（共 3 张，已兑换 1 张）在解冻前不能在任何影院兑换');
    await screenshot(desk, 'desk-03-freeze-confirm');
    expect(await submit(desk, desk.getByRole('button', { name: '确认冻结' }))).toBe(200);
    expect(await desk.getByRole('status').innerText()).toContain('剩余的票已冻结');
    expect(await definition(desk, '冻结').innerText()).toContain('短信被盗，顾客要求止付');
    await screenshot(desk, 'desk-04-card-frozen');

    // The channel still sees an active card; the counter is refused in Chinese.
    expect((await client.status({ cardNo: card.card_no })).card).toMatchObject({
      status: 'active',
      remaining: '2',
    });
    await counter.getByLabel('卡号').fill(card.card_no);
    await submit(counter, counter.getByRole('button', { name: '查询' }));
    expect(await counter.locator('main').innerText()).toContain('此卡剩余的票已被客服冻结');
    expect(await counter.getByLabel('卡密码').count()).toBe(0);
  }, 120_000);

  it('serves the counter on a 390×844 phone: numeric keypads, a password toggle, counts, an empty card field and no sideways scroll', async () => {
    const client = await channel();
    const { card } = await client.buyByCinema({ cinemaId: '1001', count: 3 });
    const password = (await client.payByCard({ cardNo: card.card_no, mobile: '13812345678' })).card.password;

    const phone = await as(USERS.cinema, PHONE);
    expect(new URL(phone.url()).pathname).toBe('/admin/redeem');
    expect(await scrollsSideways(phone)).toBe(false);
    const cardField = phone.getByLabel('卡号');
    expect(await cardField.getAttribute('inputmode')).toBe('numeric');
    await cardField.fill(card.card_no);
    await submit(phone, phone.getByRole('button', { name: '查询' }));

    const pw = phone.getByLabel('卡密码');
    expect(await pw.getAttribute('inputmode')).toBe('numeric');
    await pw.fill(password);
    // Masked until 显示密码 is ticked, with no script.
    const security = () =>
      pw.evaluate((el) => getComputedStyle(el).getPropertyValue('-webkit-text-security'));
    expect(await security()).toBe('disc');
    await phone.getByLabel('显示密码').check();
    expect(await security()).toBe('none');
    await screenshot(phone, 'counter-01-phone-password-shown');
    expect(await offscreenControls(phone)).toEqual([]);
    expect(await scrollsSideways(phone)).toBe(false);

    await phone.getByLabel('兑换张数').selectOption('2');
    expect(await submit(phone, phone.getByRole('button', { name: '确认兑换' }))).toBe(200);
    expect(await phone.getByRole('status').innerText()).toContain('兑换成功：本次兑换 2 张，此卡剩余 1 张。');
    expect(await phone.getByLabel('卡号').inputValue()).toBe('');
    await screenshot(phone, 'counter-02-phone-redeemed');

    // The history and its undo button fit the screen.
    const mine = phone.locator('table.stack tr').filter({ hasText: card.card_no });
    const undo = mine.getByRole('button', { name: '撤销…' });
    await undo.scrollIntoViewIfNeeded();
    const box = (await undo.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
    expect(await offscreenControls(phone)).toEqual([]);
    expect(await scrollsSideways(phone)).toBe(false);
    // On the phone each cell is a line that names itself (the column heads are hidden).
    const count = mine.locator('td[data-label="张数"]');
    expect(await count.innerText()).toBe('2');
    expect(await count.evaluate((el) => getComputedStyle(el, '::before').content)).toBe('"张数"');
    expect(await phone.locator('table.stack thead').first().isVisible()).toBe(false);

    expect(await submit(phone, undo)).toBe(200);
    expect(await phone.locator('main').innerText()).toContain('2 张票退回卡上');
    expect(await offscreenControls(phone)).toEqual([]);
    expect(await submit(phone, phone.getByRole('button', { name: '确认撤销' }))).toBe(200);
    expect(await phone.getByRole('status').innerText()).toContain('兑换已撤销');
    expect((await client.status({ cardNo: card.card_no })).card.remaining).toBe('3');

    await submit(phone, phone.getByRole('link', { name: '兑换记录', exact: true }));
    expect(await scrollsSideways(phone)).toBe(false);
    expect(await offscreenControls(phone)).toEqual([]);
    await screenshot(phone, 'counter-03-phone-history');
  }, 120_000);
});
