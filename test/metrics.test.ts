import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { countCardsByStatus } from '../src/db/card.repository.js';
import { countSmsByStatus } from '../src/db/sms.repository.js';
import type { Config } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { METRICS_REFRESH_MS } from '../src/http/metrics.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

// The counting queries, spied on so a test can tell how often a scrape runs them.
vi.mock('../src/db/card.repository.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/db/card.repository.js')>();
  return { ...actual, countCardsByStatus: vi.fn(actual.countCardsByStatus) };
});
vi.mock('../src/db/sms.repository.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/db/sms.repository.js')>();
  return { ...actual, countSmsByStatus: vi.fn(actual.countSmsByStatus) };
});

const TOKEN = 'metrics-token-0123456789abcdef';
const BEARER = { authorization: `Bearer ${TOKEN}` };

for (const engine of engines()) {
  describe(`metrics and health (${engine.name})`, () => {
    let t: TestApp;
    const start = async (config: Partial<Config> = { metricsToken: TOKEN }) => {
      t = await makeTestApp(await engine.open(), { config });
      return t;
    };
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const scrape = (headers: Record<string, string> = BEARER) =>
      t.app.fastify.inject({ method: 'GET', url: '/metrics', headers });

    it('counts requests by interface and code, cards by state and the SMS queue', async () => {
      await start();
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
      await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.post('cities', { ...t.signed(), hashcode: '0'.repeat(32) });
      await t.post('nope', t.signed());
      const res = await scrape();
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('movticket_partner_requests_total{interface="buyByCinema",code="200"} 2');
      expect(res.body).toContain('movticket_partner_requests_total{interface="cities",code="401"} 1');
      expect(res.body).toContain('movticket_partner_requests_total{interface="unknown",code="404"} 1');
      expect(res.body).toMatch(/movticket_partner_request_duration_seconds_count\{interface="payByCard"\} 1/);
      expect(res.body).toContain('movticket_cards{status="inactive"} 1');
      expect(res.body).toContain('movticket_cards{status="active"} 1');
      expect(res.body).toContain('movticket_sms_messages{status="queued"} 1');
      await t.app.outbox.runOnce();
      // The state gauges are counted at most once per refresh interval.
      t.clock.advance(METRICS_REFRESH_MS);
      const after = await scrape();
      expect(after.body).toContain('movticket_sms_messages{status="sent"} 1');
      expect(after.body).toContain('movticket_sms_messages{status="queued"} 0');
    });

    it('counts cards and SMS by state once per refresh interval, not on every scrape', async () => {
      await start();
      await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const cardCounts = vi.mocked(countCardsByStatus);
      const smsCounts = vi.mocked(countSmsByStatus);
      cardCounts.mockClear();
      smsCounts.mockClear();

      const first = await scrape();
      expect(first.body).toContain('movticket_cards{status="inactive"} 1');
      await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const second = await scrape();
      expect(second.statusCode).toBe(200);
      // Served from the count the first scrape made.
      expect(second.body).toContain('movticket_cards{status="inactive"} 1');
      // Scrapes that arrive together share one count.
      await Promise.all([scrape(), scrape(), scrape()]);
      expect(cardCounts).toHaveBeenCalledTimes(1);
      expect(smsCounts).toHaveBeenCalledTimes(1);

      t.clock.advance(METRICS_REFRESH_MS - 1);
      await scrape();
      expect(cardCounts).toHaveBeenCalledTimes(1);
      t.clock.advance(1);
      const later = await scrape();
      expect(later.body).toContain('movticket_cards{status="inactive"} 2');
      expect(cardCounts).toHaveBeenCalledTimes(2);
      expect(smsCounts).toHaveBeenCalledTimes(2);
    });

    it('asks for the bearer token from MOVTICKET_METRICS_TOKEN_FILE on the main port', async () => {
      await start();
      for (const headers of [
        {},
        { authorization: `Bearer ${TOKEN.slice(0, -1)}x` },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
        { authorization: TOKEN },
      ] as Record<string, string>[]) {
        const res = await scrape(headers);
        expect(res.statusCode, JSON.stringify(headers)).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
        expect(res.body).not.toContain('movticket_');
      }
      expect((await scrape({ authorization: `bearer ${TOKEN}` })).statusCode).toBe(200);
    });

    it('does not serve /metrics on the main port without a token or a port of its own', async () => {
      await start({});
      const res = await scrape({});
      expect(res.statusCode).toBe(404);
      expect(res.body).not.toContain('movticket_');
      expect(t.app.metricsServer).toBeUndefined();
    });

    it('serves /metrics on a listener of its own when MOVTICKET_METRICS_PORT is set, and not on the main port', async () => {
      await start({ metricsPort: 0 });
      expect((await scrape({})).statusCode).toBe(404);
      const own = t.app.metricsServer!;
      const res = await own.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('movticket_cards{status="active"} 0');
      // Nothing else is served there.
      expect((await own.inject({ method: 'GET', url: '/admin' })).statusCode).toBe(404);
      expect((await own.inject({ method: 'POST', url: '/movTicket/cities' })).statusCode).toBe(404);
    });

    it('asks for the token on its own listener too when both are set', async () => {
      await start({ metricsPort: 0, metricsToken: TOKEN });
      const own = t.app.metricsServer!;
      expect((await own.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
      expect((await own.inject({ method: 'GET', url: '/metrics', headers: BEARER })).statusCode).toBe(200);
    });

    it('answers /healthz 200 while the database is reachable and 503 once it is not', async () => {
      await start();
      expect((await t.app.fastify.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      await t.db.close();
      expect((await t.app.fastify.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(503);
      t.db.close = async () => {};
    });
  });
}

describe('metrics of the SQLite write-ahead log', () => {
  let t: TestApp | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const count = (body: string): number =>
    Number(/^movticket_sqlite_wal_fsync_seconds_count (\d+)$/m.exec(body)?.[1] ?? NaN);

  it('counts the WAL fsyncs that the answer to a write waits for', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-metrics-'));
    const db = await openDatabase({ sqlitePath: path.join(dir, 'movticket.sqlite'), warn: () => {} });
    t = await makeTestApp(db, { config: { metricsToken: TOKEN } });
    const scrape = () => t!.app.fastify.inject({ method: 'GET', url: '/metrics', headers: BEARER });
    const before = count((await scrape()).body);
    expect(before).toBeGreaterThanOrEqual(0);
    await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
    const after = (await scrape()).body;
    // The buy's answer waited for at least one fsync of the WAL.
    expect(count(after)).toBeGreaterThan(before);
    expect(after).toMatch(/^movticket_sqlite_wal_fsync_seconds_bucket\{le="0\.001"\} \d+$/m);
  });

  const dbEngines = engines();
  afterAll(() => Promise.all(dbEngines.map((e) => e.cleanup())));
  for (const engine of dbEngines) {
    it(`has no such metric where no WAL is synced (${engine.name === 'sqlite' ? 'SQLite in memory' : 'PostgreSQL'})`, async () => {
      t = await makeTestApp(await engine.open(), { config: { metricsToken: TOKEN } });
      await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const res = await t.app.fastify.inject({ method: 'GET', url: '/metrics', headers: BEARER });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('movticket_partner_requests_total{interface="buyByCinema",code="200"} 1');
      expect(res.body).not.toContain('movticket_sqlite_wal_fsync_seconds');
    });
  }
});
