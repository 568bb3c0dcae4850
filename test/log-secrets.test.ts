import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ManualClock } from '../src/domain/clock.js';
import { generateKeyText, SecretBox } from '../src/domain/secret-box.js';
import { computeHashcode, formatTimestamp, MovTicketClient } from '../src/client/index.js';
import { consoleSender } from '../src/workers/sms-senders.js';
import { adminCall, cookieSet, makeUser, PASSWORD, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { KEY, makeCatalog, makePartner } from './support/factories.js';
import type { TestApp } from './support/harness.js';
import { startDemoServer } from './support/server-process.js';

const MOBILE_A = '13812345678';
const MOBILE_B = '15987654321';
const NEW_USER_PASSWORD = 'another-secret-pass-77';
const WRONG_PASSWORD = 'wrong-horse-guess-99';

/** Collects every log line the app writes. */
function memoryStream(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

for (const engine of engines()) {
  describe(`secrets in logs (${engine.name})`, () => {
    afterAll(() => engine.cleanup());

    it('never logs an md5key, a card password, a full mobile, an admin password or a session token', async () => {
      const db = await engine.open();
      await makeCatalog(db);
      await makePartner(db);
      const clock = new ManualClock(Date.now());
      const keyText = generateKeyText();
      const box = SecretBox.fromKeyFile(keyText);
      const logs = memoryStream();
      // The console sender logs through the app's own logger, as `movticket serve` does.
      const sink: { log?: App['fastify']['log'] } = {};
      const sms = consoleSender({ info: (obj, msg) => sink.log!.info(obj, msg) });
      const app = await buildApp({
        config: loadConfig({}, {}),
        db,
        clock,
        sms,
        secrets: box,
        logger: { level: 'debug', stream: logs.stream },
      });
      sink.log = app.fastify.log;
      await app.fastify.ready();
      const fetchViaInject: typeof fetch = async (input, init) => {
        const url = new URL(
          typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
        );
        const res = await app.fastify.inject({
          method: (init?.method ?? 'GET') as 'POST',
          url: url.pathname + url.search,
          headers: Object.fromEntries(new Headers(init?.headers).entries()),
          payload: init?.body as string | undefined,
        });
        return new Response(res.body, {
          status: res.statusCode,
          headers: res.headers as Record<string, string>,
        });
      };
      const clientFor = (
        md5key: string,
        secId = 'test',
        format: 'json' | 'xml' = 'json',
        signMode: 'basic' | 'full' = 'basic',
      ) =>
        new MovTicketClient({
          baseUrl: 'http://test.invalid',
          partnerId: 'CS000001',
          busId: '1002758',
          secId,
          md5key,
          signMode,
          format,
          fetch: fetchViaInject,
          now: () => new Date(clock.now()),
          retries: 0,
        });
      // The admin helpers need only `app` and the service dependencies.
      const t = { app, db, clock } as unknown as TestApp;
      const secrets = new Map<string, string>([
        ['default md5key', KEY],
        ['secret key', keyText],
        ['admin password', PASSWORD],
        ['new user password', NEW_USER_PASSWORD],
        ['wrong admin password', WRONG_PASSWORD],
        ['mobile A', MOBILE_A],
        ['mobile B', MOBILE_B],
      ]);

      try {
        // Partner flow: catalog, buy, pay with a mobile, status, resend to a new number, ban.
        const client = clientFor(KEY);
        await client.cities();
        await client.regionsByCity({ cityId: '001' });
        await client.kinds();
        const { card } = await client.buyByCinema({ cinemaId: '1001', count: 2 });
        const { card: kindCard } = await clientFor(KEY, 'test', 'xml').buyByKind({ kindId: 'K2D', count: 1 });
        await client.payByCard({ cardNo: card.card_no, mobile: MOBILE_A, totalPrice: '70.00' });
        await client.payByCard({ cardNo: kindCard.card_no, mobile: MOBILE_A });
        await client.status({ cardNo: card.card_no });
        await client.resendSms({ cardNo: card.card_no, mobile: MOBILE_B });
        await client.ban({ cardNo: kindCard.card_no, reason: 'lost' });

        // Errors: wrong signature, wrong key, wrong state, a bad mobile, a price mismatch, bad input.
        await expect(clientFor('0'.repeat(32)).cities()).rejects.toMatchObject({ type: 'invalid_signature' });
        await expect(client.payByCard({ cardNo: kindCard.card_no, mobile: MOBILE_B })).rejects.toMatchObject({
          type: 'card_state',
        });
        await expect(client.payByCard({ cardNo: card.card_no, mobile: MOBILE_B })).rejects.toMatchObject({
          type: 'card_state',
        });
        await expect(
          client.payByCard({ cardNo: '6281234567890123', mobile: '1381234567x' }),
        ).rejects.toThrow();
        const { card: third } = await client.buyByCinema({ cinemaId: '1001', count: 1 });
        await expect(
          client.payByCard({ cardNo: third.card_no, mobile: MOBILE_B, totalPrice: '1.00' }),
        ).rejects.toMatchObject({ type: 'price_mismatch' });
        const common = {
          partner_id: 'CS000001',
          sec_id: 'test',
          bus_id: '1002758',
          req_id: 'leak1',
          ver: '1000',
          timestamp: formatTimestamp(new Date(clock.now()), 'Asia/Shanghai'),
        };
        const t2signed = (cardNo: string): Record<string, string> => {
          const fields = { ...common, req_id: 'leak2', card_no: cardNo, mobile: MOBILE_B };
          const hashcode = computeHashcode(
            'basic',
            Object.entries(fields).map(([name, value]) => ({ name, value })),
            KEY,
          );
          return { ...fields, hashcode };
        };
        const bad = await app.fastify.inject({
          method: 'POST',
          url: '/movTicket/payByCard',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            ...common,
            card_no: third.card_no,
            mobile: MOBILE_B,
            hashcode: computeHashcode(
              'basic',
              Object.entries(common).map(([name, value]) => ({ name, value })),
              KEY.replace(/./, 'f'),
            ),
          }).toString(),
        });
        expect(bad.statusCode).toBe(401);

        // SMS delivery through the console sender.
        expect(await app.outbox.runOnce()).toBeGreaterThan(0);

        // Admin: a failed and a good sign-in, a key, a user, a password change, a redemption.
        const failed = await adminCall(t, 'POST', '/admin/api/session', {
          body: { username: 'admin1', password: WRONG_PASSWORD },
        });
        expect(failed.status).toBe(401);
        const adminUser = await makeUser(t, 'admin');
        const session = await signIn(t, adminUser);
        secrets.set('session cookie', session.cookie.split('=')[1]!);
        secrets.set('csrf token', session.csrf);
        const key = await adminCall(t, 'POST', '/admin/api/partners/CS000001/keys', {
          session,
          body: { secId: 'k2', signMode: 'full' },
        });
        expect(key.status).toBe(201);
        const created = key.json<{ md5key: string }>().md5key;
        expect(created).toMatch(/^[0-9a-f]{32}$/);
        secrets.set('created md5key', created);
        await clientFor(created, 'k2', 'json', 'full').status({ cardNo: card.card_no });
        await expect(
          clientFor(
            created.replace(/./, (c) => (c === '0' ? '1' : '0')),
            'k2',
            'json',
            'full',
          ).kinds(),
        ).rejects.toThrow();
        const user = await adminCall(t, 'POST', '/admin/api/users', {
          session,
          body: { username: 'cashier1', password: NEW_USER_PASSWORD, role: 'cinema', cinemaId: '1001' },
        });
        expect(user.status).toBe(201);
        const reset = await adminCall(t, 'PUT', '/admin/api/users/cashier1/password', {
          session,
          body: { password: NEW_USER_PASSWORD.toUpperCase() },
        });
        expect(reset.status).toBeLessThan(300);
        secrets.set('reset password', NEW_USER_PASSWORD.toUpperCase());
        const cashier = await signIn(t, { username: 'cashier1', password: NEW_USER_PASSWORD.toUpperCase() });
        secrets.set('cashier session', cashier.cookie.split('=')[1]!);

        const rows = await db.kysely.selectFrom('cards').select(['card_no', 'password']).execute();
        const password = box.open(rows.find((r) => r.card_no === card.card_no)!.password!);
        for (const r of rows) if (r.password) secrets.set(`card password ${r.card_no}`, box.open(r.password));
        const wrong = await adminCall(t, 'POST', '/admin/api/redemption/redemptions', {
          session: cashier,
          body: { cardNo: card.card_no, password: password.split('').reverse().join('') + '9', count: 1 },
        });
        expect(wrong.status).toBeGreaterThanOrEqual(400);
        const redeemed = await adminCall(t, 'POST', '/admin/api/redemption/redemptions', {
          session: cashier,
          body: { cardNo: card.card_no, password, count: 1 },
        });
        expect(redeemed.status).toBe(201);
        const signOut = await adminCall(t, 'DELETE', '/admin/api/session', { session });
        expect(signOut.status).toBeLessThan(300);
        expect(cookieSet(signOut, 'mt_session')).toBeDefined();

        // Storage lost: the failures are logged with their error objects, next to secret-bearing requests.
        await db.close();
        const lost = await app.fastify.inject({
          method: 'POST',
          url: '/movTicket/payByCard',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams(t2signed(third.card_no)).toString(),
        });
        expect(lost.statusCode).toBeGreaterThanOrEqual(500);
        const lostSignIn = await adminCall(t, 'POST', '/admin/api/session', {
          body: { username: 'admin1', password: PASSWORD },
        });
        expect(lostSignIn.status).toBeGreaterThanOrEqual(500);
        const lostRedeem = await adminCall(t, 'POST', '/admin/api/redemption/redemptions', {
          session: cashier,
          body: { cardNo: card.card_no, password, count: 1 },
        });
        expect(lostRedeem.status).toBeGreaterThanOrEqual(500);
      } finally {
        await app.close().catch(() => {});
        await db.close().catch(() => {});
      }

      const text = logs.text();
      // The run did log (debug lines of reads, info lines of mutations and errors, the SMS line).
      expect(text).toContain('partner request');
      expect(text).toContain('sms (console sender, not sent)');
      // A secret counts as leaked when it stands on its own: an 8-digit card password may occur
      // by chance inside a longer number such as a log line's epoch-millisecond time.
      const lower = text.toLowerCase();
      const escape = (v: string) => v.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const leaked = [...secrets].filter(([, value]) =>
        new RegExp(`(?<![0-9a-z])${escape(value)}(?![0-9a-z])`).test(lower),
      );
      expect(leaked.map(([what]) => what)).toEqual([]);
    }, 60_000);
  });
}

describe('demo credentials at start-up', () => {
  it('prints the md5key and admin password to the terminal (stderr when stdout is not one), never into the log stream', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-demo-secrets-'));
    const server = await startDemoServer({ MOVTICKET_DATA_DIR: dir, LOG_LEVEL: 'debug' });
    try {
      // Something is logged: a request, and the start-up lines.
      expect((await fetch(`${server.baseUrl}/movTicket/cities`, { method: 'POST' })).status).toBe(400);
    } finally {
      expect(await server.stop()).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const md5key = server.md5key;
    const password = /user admin, password (\S+)/.exec(server.stderr())?.[1];
    expect(md5key).toMatch(/^[0-9a-f]{32}$/);
    expect(password).toBeDefined();
    // The terminal shows them (stdout is a pipe here, so the banner is on stderr) ...
    expect(server.stderr()).toContain(`md5key      ${md5key}`);
    expect(server.stderr()).toContain(`MOVTICKET_MD5KEY=${md5key}`);
    // ... the log stream carries JSON lines, and neither secret in any of them or between them.
    const logLines = server
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string });
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.some((l) => l.msg === 'partner request')).toBe(true);
    expect(server.stdout()).not.toContain(md5key);
    expect(server.stdout()).not.toContain(password!);
    expect(server.stdout()).not.toContain('movticket demo is serving');
  }, 60_000);
});
