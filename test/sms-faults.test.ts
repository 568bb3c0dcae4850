import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { Db } from '../src/db/database.js';
import { SecretBox } from '../src/domain/secret-box.js';
import { ManualClock } from '../src/domain/clock.js';
import type { MovTicketClient } from '../src/client/index.js';
import { httpSender } from '../src/workers/sms-senders.js';
import { adminCall, makeUser, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { makeCatalog, makePartner } from './support/factories.js';
import { FakeGateway, type GatewayMode } from './support/fake-gateway.js';
import { listenWithClient, type TestApp } from './support/harness.js';

const MOBILE = '13812345678';
const SMS_TIMEOUT_MS = 1_000;
// A send timeout no test outlives: a send held by the gateway is still held when the test looks.
const NEVER_MS = 120_000;
const METRICS_TOKEN = 'sms-faults-metrics-token-0123';
// Past every backoff the outbox can choose (its cap is 10 minutes).
const PAST_BACKOFF_MS = 11 * 60_000;

interface Rig {
  app: App;
  db: Db;
  clock: ManualClock;
  gateway: FakeGateway;
  /** The SDK over a real port: payByCard as a channel calls it. */
  client: MovTicketClient;
}

async function makeRig(
  db: Db,
  smsMaxAttempts: number,
  env: Record<string, string> = {},
  smsTimeoutMs = SMS_TIMEOUT_MS,
): Promise<Rig> {
  await makeCatalog(db);
  await makePartner(db);
  const gateway = await FakeGateway.start();
  const clock = new ManualClock(Date.now());
  const config = loadConfig(env, {
    sms: gateway.url,
    smsTimeoutMs,
    smsMaxAttempts,
    metricsToken: METRICS_TOKEN,
  });
  const app = await buildApp({
    config,
    db,
    clock,
    sms: httpSender(gateway.url, smsTimeoutMs),
    secrets: SecretBox.generate(),
  });
  const client = await listenWithClient(app, clock);
  return { app, db, clock, gateway, client };
}

const smsRows = (db: Db) => db.kysely.selectFrom('sms_messages').selectAll().execute();

/** Polls until `check` passes; the bound only ends a test that would otherwise hang. */
const until = (check: () => void | Promise<void>) => vi.waitFor(check, { timeout: 20_000, interval: 10 });

for (const engine of engines()) {
  describe(`SMS gateway faults (${engine.name})`, () => {
    let rig: Rig | undefined;
    beforeEach(() => {
      rig = undefined;
    });
    afterEach(async () => {
      if (!rig) return;
      // The gateway first: closing it ends the sends it holds, which the workers' stop waits for.
      await rig.gateway.close();
      await rig.app.close();
      await rig.db.close();
    });
    afterAll(() => engine.cleanup());

    const payCard = async (r: Rig) => {
      const { card } = await r.client.buyByCinema({ cinemaId: '1001', count: 1 });
      return r.client.payByCard({ cardNo: card.card_no, mobile: MOBILE });
    };

    it('answers payByCard while the gateway holds every send unanswered', async () => {
      // payByCard's latency under gateway faults is measured by `npm run soak:sms`, which judges
      // its p99; here, that a payment never waits on the gateway: the sends never end on their own.
      const r = (rig = await makeRig(await engine.open(), 10, {}, NEVER_MS));
      r.gateway.mode = 'hang';
      r.app.startWorkers();
      const cards = [(await payCard(r)).card];
      await until(() => expect(r.gateway.inFlight).toBe(1));
      for (let i = 0; i < 5; i++) cards.push((await payCard(r)).card);
      expect(cards.map((c) => [c.status, c.sms_status])).toEqual(cards.map(() => ['active', 'queued']));
      // Every payment was answered while the first message's send was still held.
      expect(r.gateway.inFlight).toBeGreaterThanOrEqual(1);
      expect(r.gateway.stats().requests).toMatchObject({ ok: 0, fail: 0, slow: 0, drop: 0 });
      const rows = await smsRows(r.db);
      expect(rows.map((m) => [m.status, m.attempts])).toEqual(cards.map(() => ['queued', 0]));
    }, 30_000);

    it('takes payments while the gateway fails, hangs, answers late and drops, then delivers every message under one id', async () => {
      const r = (rig = await makeRig(await engine.open(), 10));
      r.app.startWorkers();
      const cards: string[] = [];
      const phases: GatewayMode[] = ['fail', 'hang', 'slow', 'drop'];
      r.gateway.slowMs = SMS_TIMEOUT_MS * 1.5;
      for (const mode of phases) {
        r.gateway.mode = mode;
        // Earlier messages come due again and meet this fault too.
        r.clock.advance(PAST_BACKOFF_MS);
        for (let i = 0; i < 8; i++) {
          const { card } = await payCard(r);
          expect(card.status).toBe('active');
          cards.push(card.card_no);
        }
        // The worker runs into this fault before the next one replaces it.
        await until(() => expect(r.gateway.stats().requests[mode]).toBeGreaterThan(0));
      }
      await r.app.outbox.stop();

      for (const cardNo of cards) {
        expect((await r.client.status({ cardNo })).card.sms_status).toBe('queued');
      }
      const stats = r.gateway.stats();
      expect(stats.requests.fail).toBeGreaterThan(0);
      expect(stats.requests.hang).toBeGreaterThan(0);
      expect(stats.requests.slow).toBeGreaterThan(0);
      expect(stats.requests.drop).toBeGreaterThan(0);
      // The late answers and the dropped connections reached a gateway that kept the message.
      expect(stats.distinct).toBeGreaterThan(0);

      r.gateway.mode = 'ok';
      for (let pass = 0; pass < 10; pass++) {
        r.clock.advance(PAST_BACKOFF_MS);
        if ((await r.app.outbox.runOnce()) === 0) break;
      }
      const rows = await smsRows(r.db);
      expect(rows).toHaveLength(cards.length);
      expect(rows.filter((m) => m.status !== 'sent')).toEqual([]);
      for (const cardNo of cards) {
        expect((await r.client.status({ cardNo })).card.sms_status).toBe('sent');
      }
      const after = r.gateway.stats();
      expect([...r.gateway.delivered.keys()].sort()).toEqual(rows.map((m) => m.id).sort());
      expect(after.distinct).toBe(cards.length);
      // Messages the gateway had already taken came again under the same id and were acknowledged.
      expect(after.duplicates).toBeGreaterThan(0);
      expect(after.keyMismatches).toBe(0);
      expect(after.malformed).toBe(0);
      for (const m of r.gateway.delivered.values()) {
        expect(m.text).toMatch(/卡号\d+/);
      }
      const deliveredCards = [...r.gateway.delivered.values()].map((m) => /卡号(\d+)/.exec(m.text)![1]);
      expect(deliveredCards.sort()).toEqual([...cards].sort());
    }, 30_000);

    it('delivers the other messages while one hangs at the gateway, before the hanging one times out', async () => {
      // More messages than sends in flight at once (20 by default).
      const r = (rig = await makeRig(await engine.open(), 10, {}, NEVER_MS));
      let hung: string | undefined;
      r.gateway.modeFor = (id) => ((hung ??= id) === id ? 'hang' : 'ok');
      for (let i = 0; i < 30; i++) await payCard(r);
      const pass = r.app.outbox.runOnce();
      const sent = async () => (await smsRows(r.db)).filter((m) => m.status === 'sent').length;
      // The hanging send holds one slot; the others keep serving the rest.
      await until(async () => expect(await sent()).toBe(29));
      const waiting = (await smsRows(r.db)).filter((m) => m.status !== 'sent');
      expect(waiting).toMatchObject([{ id: hung, status: 'queued', attempts: 0 }]);
      expect(r.gateway.inFlight).toBe(1);
      // The connection fails, as the send's timeout would end it, and the pass ends.
      r.gateway.dropHanging();
      expect(await pass).toBe(30);
      expect((await smsRows(r.db)).find((m) => m.id === hung)).toMatchObject({
        status: 'queued',
        attempts: 1,
      });
      expect(r.gateway.delivered.size).toBe(29);
      expect(r.gateway.maxInFlight).toBeLessThanOrEqual(20);
    }, 30_000);

    it('never has more sends in flight towards the gateway than the configured concurrency', async () => {
      const r = (rig = await makeRig(await engine.open(), 10, { MOVTICKET_SMS_CONCURRENCY: '3' }));
      r.gateway.mode = 'slow';
      r.gateway.slowMs = () => 20 + Math.random() * 60;
      for (let i = 0; i < 12; i++) await payCard(r);
      expect(await r.app.outbox.runOnce()).toBe(12);
      expect(r.gateway.delivered.size).toBe(12);
      expect((await smsRows(r.db)).every((m) => m.status === 'sent')).toBe(true);
      // Used to the full, never beyond.
      expect(r.gateway.maxInFlight).toBe(3);
    }, 30_000);

    it('ends undeliverable messages failed after the bounded tries and shows them on the card, in metrics and in the console', async () => {
      const r = (rig = await makeRig(await engine.open(), 3));
      r.gateway.mode = 'fail';
      const cards = [(await payCard(r)).card.card_no, (await payCard(r)).card.card_no];
      for (let pass = 0; pass < 5; pass++) {
        await r.app.outbox.runOnce();
        r.clock.advance(PAST_BACKOFF_MS);
      }
      expect(r.gateway.stats().requests.fail).toBe(6);
      const rows = await smsRows(r.db);
      expect(rows.map((m) => [m.status, m.attempts])).toEqual([
        ['failed', 3],
        ['failed', 3],
      ]);
      expect(rows[0]!.last_error).toContain('500');
      for (const cardNo of cards) {
        expect((await r.client.status({ cardNo })).card.sms_status).toBe('failed');
      }
      expect(r.gateway.stats().distinct).toBe(0);

      const metrics = await r.app.fastify.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      });
      expect(metrics.body).toContain('movticket_sms_messages{status="failed"} 2');
      expect(metrics.body).toContain('movticket_sms_messages{status="queued"} 0');

      // The admin helpers need only the app, the database and the clock of a TestApp.
      const t = { app: r.app, db: r.db, clock: r.clock } as unknown as TestApp;
      const session = await signIn(t, await makeUser(t, 'operator'));
      const api = await adminCall(t, 'GET', '/admin/api/sms?status=failed', { session });
      expect(api.status).toBe(200);
      const page = api.json<{
        total: number;
        items: { card_no: string; status: string; attempts: number }[];
      }>();
      expect(page.total).toBe(2);
      expect(page.items.map((m) => m.card_no).sort()).toEqual([...cards].sort());
      expect(page.items.every((m) => m.status === 'failed' && m.attempts === 3)).toBe(true);
      const consolePage = await adminCall(t, 'GET', '/admin/sms?status=failed', { session });
      expect(consolePage.status).toBe(200);
      for (const cardNo of cards) expect(consolePage.body).toContain(cardNo);
      expect(consolePage.body).toContain('gateway answered HTTP 500');
    }, 30_000);
  });
}
