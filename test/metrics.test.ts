import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

for (const engine of engines()) {
  describe(`metrics and health (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    it('counts requests by interface and code, cards by state and the SMS queue', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
      await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.post('cities', { ...t.signed(), hashcode: '0'.repeat(32) });
      await t.post('nope', t.signed());
      const res = await t.app.fastify.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('movticket_partner_requests_total{interface="buyByCinema",code="200"} 2');
      expect(res.body).toContain('movticket_partner_requests_total{interface="cities",code="401"} 1');
      expect(res.body).toContain('movticket_partner_requests_total{interface="unknown",code="404"} 1');
      expect(res.body).toMatch(/movticket_partner_request_duration_seconds_count\{interface="payByCard"\} 1/);
      expect(res.body).toContain('movticket_cards{status="inactive"} 1');
      expect(res.body).toContain('movticket_cards{status="active"} 1');
      expect(res.body).toContain('movticket_sms_messages{status="queued"} 1');
      await t.app.outbox.runOnce();
      const after = await t.app.fastify.inject({ method: 'GET', url: '/metrics' });
      expect(after.body).toContain('movticket_sms_messages{status="sent"} 1');
      expect(after.body).toContain('movticket_sms_messages{status="queued"} 0');
    });

    it('answers /healthz 200 while the database is reachable and 503 once it is not', async () => {
      expect((await t.app.fastify.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      await t.db.close();
      expect((await t.app.fastify.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(503);
      t.db.close = async () => {};
    });
  });
}
