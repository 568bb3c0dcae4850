import fs from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { englishSentences } from '../support/english.js';
import { readCsvAsSpreadsheet } from '../support/spreadsheet.js';
import {
  chromiumInstalled,
  ChromiumSession,
  newPartnerWithKey,
  screenshot,
  submit,
  USERS,
  warnIfNoChromium,
} from './support.js';

// Finance and language in a real browser: a month's statement downloaded and read as a
// spreadsheet reads it, and every page each role can reach checked for English sentences.

warnIfNoChromium();

/** The text a person reads on the page, without machine fields (see test/support/english.ts). */
async function readableText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const body = document.body.cloneNode(true) as HTMLElement;
    for (const el of body.querySelectorAll('script,style,code,pre,kbd,textarea,.mono')) el.remove();
    const attrs = [...body.querySelectorAll('[placeholder],[title],[aria-label],[alt]')].flatMap((el) =>
      ['placeholder', 'title', 'aria-label', 'alt'].map((a) => el.getAttribute(a) ?? ''),
    );
    // Element boundaries become spaces (a detached node has no layout for innerText).
    const text = body.innerHTML.replace(/<[^>]*>/g, ' ');
    const decode = document.createElement('textarea');
    decode.innerHTML = `${text} | ${attrs.join(' | ')}`;
    return decode.value.replace(/\s+/g, ' ');
  });
}

describe.skipIf(!chromiumInstalled)('finance and language in Chromium', () => {
  const chromium = new ChromiumSession();
  let partnerId = '';
  const cardNos: string[] = [];

  beforeAll(async () => {
    await chromium.start();
    // A partner made in the console, its key read off the page, and three paid cards.
    const admin = await chromium.signIn(USERS.admin.username);
    const made = await newPartnerWithKey(admin, chromium.server.baseUrl, '财务渠道');
    partnerId = made.partnerId;
    const channel = made.channel;
    for (const count of [1, 2, 3]) {
      const { card } = await channel.buyByCinema({ cinemaId: '1001', count });
      await channel.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
      cardNos.push(card.card_no);
    }
  }, 120_000);
  afterAll(() => chromium.close());

  it("downloads this month's statement whose card numbers a spreadsheet keeps exact", async () => {
    const page = await chromium.signIn(USERS.operator.username);
    await submit(page, page.getByRole('link', { name: '对账单', exact: true }));
    await page.getByLabel('渠道').selectOption(partnerId);
    expect(await submit(page, page.getByRole('button', { name: '预览' }))).toBe(200);
    expect(await submit(page, page.getByRole('link', { name: '本月', exact: true }))).toBe(200);
    const from = await page.getByLabel('开始日期').inputValue();
    const to = await page.getByLabel('结束日期').inputValue();
    expect(from).toMatch(/^\d{4}-\d{2}-01$/);
    expect(to.slice(0, 7)).toBe(from.slice(0, 7));
    expect(await page.locator('h2').first().innerText()).toContain(`${from} 至 ${to}`);
    await screenshot(page, 'finance-01-month-statement');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /^下载 CSV/ }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`statement-${partnerId}-${from}_${to}.csv`);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    const sheet = readCsvAsSpreadsheet(csv);
    expect(sheet[0]!.slice(0, 3)).toEqual(['类型', '时间', '卡号']);
    const shown = sheet.filter((r) => r[0] === '激活').map((r) => r[2]);
    expect(shown.sort()).toEqual([...cardNos].sort());
    for (const no of shown) expect(no).toMatch(/^\d{16}$/);
    // The totals: 1 + 2 + 3 tickets at 35.00.
    const totals = sheet[sheet.length - 1]!;
    expect(totals).toEqual([3, 210, 0, 0, 210]);

    // The machines' version keeps English names.
    const en = await page.request.get(
      `/admin/statements/download?partner=${partnerId}&from=${from}&to=${to}&lang=en`,
    );
    expect((await en.text()).replace(/^\uFEFF/, '').split('\r\n')[0]).toBe(
      'type,time,card_no,order_no,target_type,target_id,target_name,count,unit_price,amount,partner_id',
    );
  }, 90_000);

  it('shows no English sentence on any page each role can reach', async () => {
    for (const user of [USERS.admin, USERS.operator, USERS.cinema]) {
      const page = await chromium.signIn(user.username);
      // Every page reachable by links from the landing page, breadth first.
      const seen = new Set<string>();
      const queue = [new URL(page.url()).pathname, '/admin/nope', '/admin/account/password'];
      const found: string[] = [];
      while (queue.length && seen.size < 120) {
        const url = queue.shift()!;
        if (seen.has(url)) continue;
        seen.add(url);
        await page.goto(url);
        found.push(...englishSentences(await readableText(page)).map((s) => `${url}: ${s}`));
        const links = await page
          .locator('a[href^="/admin"]')
          .evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).getAttribute('href')!));
        for (const href of links) {
          const path = href.split('#')[0]!;
          if (/download|\/csv|\.csv|\/docs|logout|[?&]page=|resumed=/.test(path)) continue;
          if (!seen.has(path)) queue.push(path);
        }
      }
      expect(found, user.username).toEqual([]);
      expect(seen.size, user.username).toBeGreaterThan(user.role === 'cinema' ? 3 : 15);
      await page.goto('/admin/nope');
      await screenshot(page, `finance-02-not-found-${user.role}`);
    }
  }, 300_000);
});
