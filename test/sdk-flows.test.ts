import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engines } from './support/engines.js';
import { KEY } from './support/factories.js';
import { makeTestApp, type TestApp } from './support/harness.js';

for (const engine of engines()) {
  describe(`both purchase flows through the SDK in XML (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const xmlClient = () =>
      t.clientFor({ partnerId: 'CS000001', busId: '1002758', secId: 'test', md5key: KEY }, { format: 'xml' });

    it('walks cities → regions → cinemas → buy → pay → status, and kinds → cinemas → buy → ban', async () => {
      const c = xmlClient();
      const { cities } = await c.cities();
      const { regions } = await c.regionsByCity({ cityId: cities[0]!.code_id });
      const { cinemas } = await c.cinemasByRegion({ regionId: regions[0]!.code_id });
      const bought = await c.buyByCinema({ cinemaId: cinemas[0]!.cinema_id, count: 2, orderNo: 'X-1' });
      expect(bought.card.total_price).toBe('70.00');
      const paid = await c.payByCard({
        cardNo: bought.card.card_no,
        mobile: '13812345678',
        totalPrice: '70.00',
      });
      expect(paid.card.password).toMatch(/^[0-9]{8}$/);
      const status = await c.status({ cardNo: bought.card.card_no });
      expect(status.card).toMatchObject({
        status: 'active',
        order_no: 'X-1',
        used_count: '0',
        remaining: '2',
      });
      const resent = await c.resendSms({ cardNo: bought.card.card_no });
      expect(resent.card.sms_status).toBe('queued');

      const { kinds } = await c.kinds();
      const kindCinemas = await c.cinemasByKind({ kindId: kinds[0]!.kind_id });
      expect(kindCinemas.cinemas.length).toBeGreaterThan(0);
      const byKind = await c.buyByKind({ kindId: kinds[0]!.kind_id, count: 1 });
      const banned = await c.ban({ cardNo: byKind.card.card_no, reason: '测试作废' });
      expect(banned.card.status).toBe('banned');
      // The JSON client sees the same card the same way.
      expect((await t.client.status({ cardNo: byKind.card.card_no })).card).toEqual(banned.card);
    });

    it('hides internal failures behind 500 internal with no SQL or stack', async () => {
      await sql`drop table card_events`.execute(t.db.kysely);
      const res = await t.post('buyByCinema', {
        ...t.signed(undefined, { cinema_id: '1001', count: '1' }),
        format: 'json',
      });
      expect(res.status).toBe(500);
      const body = JSON.parse(res.body) as { code: number; error: { type: string; message: string } };
      expect(body).toMatchObject({ code: 500, error: { type: 'internal' } });
      expect(body.error.message).not.toMatch(/card_events|sql|table|at \w+ \(/i);
      const cards = await t.db.kysely.selectFrom('cards').select('card_no').execute();
      expect(cards).toEqual([]);
    });
  });
}
