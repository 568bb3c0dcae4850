/**
 * The console's main screens for docs/operations.md: starts a real server with the test catalog
 * and one account of each role (as the browser tests do), makes a partner, a key, paid cards and
 * a redemption, and saves small PNGs of the screens each role uses daily under docs/images/.
 * Needs Debian's Chromium (`apt-get install chromium fonts-wqy-microhei`).
 *
 *   npx tsx scripts/screenshots.ts [--out docs/images]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { ChromiumSession, newPartnerWithKey, submit, USERS } from '../test/browser/support.js';

const { values: args } = parseArgs({ options: { out: { type: 'string', default: 'docs/images' } } });
const out = path.resolve(args.out!);
fs.mkdirSync(out, { recursive: true });

/** A viewport-sized shot (not the full page) keeps the files small. */
async function shot(page: Page, name: string, width = 1100, height = 680): Promise<void> {
  await page.setViewportSize({ width, height });
  await page.screenshot({ path: path.join(out, `${name}.png`) });
  console.log(`${name}.png`);
}

const chromium = new ChromiumSession();
await chromium.start();
try {
  const admin = await chromium.signIn(USERS.admin.username);
  await shot(admin, 'dashboard');
  const { partnerId, channel } = await newPartnerWithKey(admin, chromium.server.baseUrl, '示例渠道');
  const paid = [];
  for (const count of [2, 1, 3]) {
    const { card } = await channel.buyByCinema({ cinemaId: '1001', count, orderNo: `DEMO-${count}` });
    paid.push((await channel.payByCard({ cardNo: card.card_no, mobile: '13812345678' })).card);
  }
  await admin.goto(`/admin/partners/${partnerId}`);
  await shot(admin, 'partner');

  // Cinema staff redeem one ticket at the counter (phone size).
  const cinema = await chromium.signIn(USERS.cinema.username);
  await cinema.setViewportSize({ width: 390, height: 844 });
  await cinema.getByLabel('卡号').fill(paid[0]!.card_no);
  await submit(cinema, cinema.getByRole('button', { name: '查询' }));
  await cinema.getByLabel('卡密码').fill(paid[0]!.password);
  await submit(cinema, cinema.getByRole('button', { name: '确认兑换' }));
  await shot(cinema, 'redeem', 390, 844);
  await cinema.goto('/admin/settlement');
  await submit(cinema, cinema.getByRole('link', { name: '本月', exact: true }));
  await shot(cinema, 'settlement-cinema', 390, 844);

  // Operators: card search, this month's statement, the audit log.
  const operator = await chromium.signIn(USERS.operator.username);
  await operator.goto(`/admin/cards?q=${paid[1]!.card_no}`);
  await operator.goto(`/admin/cards/${paid[0]!.card_no}`);
  await shot(operator, 'card');
  await operator.goto(`/admin/statements?partner=${partnerId}`);
  await submit(operator, operator.getByRole('link', { name: '本月', exact: true }));
  await shot(operator, 'statement', 1100, 900);
  await operator.goto('/admin/settlement?cinema=1001');
  await submit(operator, operator.getByRole('link', { name: '本月', exact: true }));
  await shot(operator, 'settlement');
  await operator.goto('/admin/audit');
  await shot(operator, 'audit');
  await operator.goto('/admin/account/password');
  await shot(operator, 'password', 1100, 480);
  await operator.goto('/admin/nope');
  await shot(operator, 'not-found', 1100, 480);
} finally {
  await chromium.close();
}
