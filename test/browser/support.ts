import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { MovTicketClient } from '../../src/client/index.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import type { Role } from '../../src/db/schema.js';
import { UserService } from '../../src/domain/admin/user.service.js';
import { systemClock } from '../../src/domain/clock.js';
import { createKeyFile } from '../../src/secret-key-file.js';
import { serve } from '../../src/server.js';
import { makeCatalog } from '../support/factories.js';

/** Debian's Chromium; `.ci/run` installs it. Playwright's own browser downloads are not used. */
export const CHROMIUM = '/usr/bin/chromium';
export const chromiumInstalled = fs.existsSync(CHROMIUM);

/** Says, once per test file, that the file's browser tests are skipped and how to run them. */
export function warnIfNoChromium(): void {
  if (chromiumInstalled) return;
  console.warn(
    `[browser tests] SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei; .ci/run does it).`,
  );
}

export const PASSWORD = 'browser-pass-123';
/** One of each role; the cinema account belongs to cinema 1001 of the test catalog. */
export const USERS = {
  admin: { username: 'ada', role: 'admin' },
  operator: { username: 'otto', role: 'operator' },
  cinema: { username: 'cici', role: 'cinema', cinemaId: '1001' },
} as const satisfies Record<string, { username: string; role: Role; cinemaId?: string }>;

/** Generous on a busy 2-core CI machine; a healthy step takes well under a second. */
export const STEP_TIMEOUT_MS = 30_000;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SCREENSHOT_DIR = path.join(ROOT, 'test-artifacts', 'screenshots');

export interface TestServer {
  /** `http://127.0.0.1:PORT` */
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * Starts the real server (`serve`) on 127.0.0.1, a free port, with SQLite in a fresh temp
 * directory holding the test catalog and the three accounts of {@link USERS}.
 */
export async function startServer(): Promise<TestServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-browser-'));
  // Seed before serving: the server loads the catalog into its registry at start.
  const db = await openDatabase({ sqlitePath: path.join(dataDir, 'movticket.sqlite') });
  try {
    await makeCatalog(db);
    const users = new UserService(db, systemClock);
    for (const u of Object.values(USERS)) {
      await users.create(
        { actor: 'cli:test', role: 'admin' },
        {
          username: u.username,
          password: PASSWORD,
          role: u.role,
          cinemaId: 'cinemaId' in u ? u.cinemaId : null,
        },
      );
    }
  } finally {
    await db.close();
  }
  const keyFile = path.join(dataDir, 'movticket.key');
  createKeyFile(keyFile);
  const config = loadConfig({
    MOVTICKET_DATA_DIR: dataDir,
    MOVTICKET_SECRET_KEY_FILE: keyFile,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    MOVTICKET_SMS: `file:${path.join(dataDir, 'sms.log')}`,
  });
  const server = await serve(config);
  return {
    baseUrl: `http://127.0.0.1:${server.port}`,
    close: async () => {
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Launches headless Chromium. Playwright gives every `launch()` a fresh temporary profile
 * (`--user-data-dir` in a new temp directory, deleted on close); it refuses the flag in `args`.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_TIMEOUT_MS,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A context of its own (cookies, session) with one page, for one user. */
export async function openPage(
  browser: Browser,
  baseUrl: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  return { context, page: await context.newPage() };
}

/**
 * Clicks a submit button (or link) and waits until the page it leads to has loaded, through any
 * redirect; returns that page's HTTP status.
 */
export async function submit(page: Page, control: Locator): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse(
      (r) =>
        r.request().isNavigationRequest() &&
        r.frame() === page.mainFrame() &&
        (r.status() < 300 || r.status() >= 400),
    ),
    page.waitForEvent('load'),
    control.click(),
  ]);
  return response.status();
}

/** Fills and sends the login form on the current page (the login page). */
export async function fillLogin(page: Page, username: string): Promise<number> {
  await page.getByLabel('用户名').fill(username);
  await page.getByLabel('密码').fill(PASSWORD);
  return submit(page, page.getByRole('button', { name: '登录' }));
}

/** Opens the login page in a new context and signs in; the page is left where the login led. */
export async function signIn(
  browser: Browser,
  baseUrl: string,
  username: string,
  opts: { screenshot?: string } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const opened = await openPage(browser, baseUrl);
  await opened.page.goto('/admin/login');
  if (opts.screenshot) await screenshot(opened.page, opts.screenshot);
  const status = await fillLogin(opened.page, username);
  if (status !== 200) throw new Error(`sign-in of ${username} answered ${status}`);
  return opened;
}

/** Saves a full-page screenshot as `test-artifacts/screenshots/NAME.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** The `<dd>` that follows the `<dt>` with exactly this text, in the page's definition lists. */
export function definition(page: Page, term: string): Locator {
  return page
    .locator('dl.kv dt')
    .filter({ hasText: new RegExp(`^\\s*${term}\\s*$`) })
    .locator('xpath=following-sibling::dd[1]');
}

/**
 * A real server and Chromium for one test file (or script): `start()` before the tests, `close()`
 * after them; every context signed in through it is closed with it.
 */
export class ChromiumSession {
  server!: TestServer;
  browser!: Browser;
  private readonly contexts: BrowserContext[] = [];

  async start(): Promise<void> {
    [this.server, this.browser] = await Promise.all([startServer(), launchChromium()]);
  }

  /** Signs `username` in on a context of its own; the page is left where the login led. */
  async signIn(username: string, opts: { screenshot?: string } = {}): Promise<Page> {
    const { context, page } = await signIn(this.browser, this.server.baseUrl, username, opts);
    this.contexts.push(context);
    return page;
  }

  /** A signed-out page on a context of its own. */
  async openPage(): Promise<Page> {
    const { context, page } = await openPage(this.browser, this.server.baseUrl);
    this.contexts.push(context);
    return page;
  }

  async close(): Promise<void> {
    for (const c of this.contexts) await c.close().catch(() => {});
    await this.browser?.close();
    await this.server?.close();
  }
}

/** A partner's key as the console shows it once, right after it is made. */
export interface ShownKey {
  secId: string;
  busId: string;
  md5key: string;
}

/** Reads the key off the page that shows it once (after `生成密钥`). */
export async function shownKey(page: Page): Promise<ShownKey> {
  return {
    secId: (await definition(page, 'sec_id').textContent())!.trim(),
    busId: (await definition(page, 'bus_id').textContent())!.trim(),
    md5key: await page.locator('#md5key').inputValue(),
  };
}

/** A channel client signing with a key made in the console (`full` mode, the console's default). */
export function channelClient(baseUrl: string, partnerId: string, key: ShownKey): MovTicketClient {
  return new MovTicketClient({ baseUrl, partnerId, ...key, signMode: 'full', retries: 0 });
}

/**
 * As an admin on `page`: makes a partner named `name` through the new-partner form and its first
 * key, and returns the partner's id and a client signing with that key.
 */
export async function newPartnerWithKey(
  page: Page,
  baseUrl: string,
  name: string,
): Promise<{ partnerId: string; channel: MovTicketClient }> {
  await page.goto('/admin/partners/new');
  await page.getByLabel('名称').fill(name);
  await submit(page, page.getByRole('button', { name: '创建渠道' }));
  const partnerId = /\/admin\/partners\/([A-Z]{2}\d{6})/.exec(page.url())![1]!;
  await submit(page, page.getByRole('button', { name: '生成密钥' }));
  return { partnerId, channel: channelClient(baseUrl, partnerId, await shownKey(page)) };
}
