import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

// Rules the channel guides state (hidden catalog entries, deactivated cinemas, total_price) that
// no other test pins down.

const MOBILE = '13812345678';

for (const engine of engines()) {
  describe(`rules stated in the channel guides (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    it('answers a hidden city with an empty list, not not_found', async () => {
      // City 003 has one region whose only cinema is inactive.
      const { cities } = await t.client.cities();
      expect(cities.map((c) => c.code_id)).not.toContain('003');
      expect((await t.client.regionsByCity({ cityId: '003' })).regions).toEqual([]);
      expect((await t.client.cinemasByKind({ kindId: 'K2D', cityId: '003' })).cinemas).toEqual([]);
    });

    it('keeps selling nothing new but honours cards sold before their cinema was deactivated', async () => {
      const unpaid = await t.client.buyByCinema({ cinemaId: '1001', count: 2 });
      const paid = await t.client.buyByCinema({ cinemaId: '1001', count: 2 });
      const { card } = await t.client.payByCard({ cardNo: paid.card.card_no, mobile: MOBILE });
      await sql`update cinemas set active = 0 where cinema_id = '1001'`.execute(t.db.kysely);

      await expect(t.client.buyByCinema({ cinemaId: '1001', count: 1 })).rejects.toMatchObject({
        code: 400,
        type: 'not_found',
      });
      expect((await t.client.status({ cardNo: unpaid.card.card_no })).card.status).toBe('inactive');
      const late = await t.client.payByCard({ cardNo: unpaid.card.card_no, mobile: MOBILE });
      expect(late.card.status).toBe('active');

      const svc = new RedemptionService({
        db: t.db,
        clock: t.clock,
        timeZone: 'Asia/Shanghai',
        secrets: t.secrets,
      });
      const staff = { userId: 'u-1001', role: 'cinema' as const, cinemaId: '1001', username: 'staff1001' };
      await svc.redeem(staff, card.card_no, card.password, 2);
      expect((await t.client.status({ cardNo: card.card_no })).card).toMatchObject({
        status: 'used',
        used_count: '2',
      });
    });

    it('compares total_price by amount and refuses a malformed one as invalid_param', async () => {
      const first = await t.client.buyByCinema({ cinemaId: '1001', count: 2 });
      await expect(
        t.client.payByCard({ cardNo: first.card.card_no, mobile: MOBILE, totalPrice: '070' }),
      ).rejects.toMatchObject({ code: 400, type: 'invalid_param' });
      await expect(
        t.client.payByCard({ cardNo: first.card.card_no, mobile: MOBILE, totalPrice: '70.01' }),
      ).rejects.toMatchObject({ code: 406, type: 'price_mismatch' });
      // Empty is not "no amount to check": it is refused, and the card stays unpaid.
      await expect(
        t.client.payByCard({ cardNo: first.card.card_no, mobile: MOBILE, totalPrice: '' }),
      ).rejects.toMatchObject({ code: 400, type: 'invalid_param' });
      expect((await t.client.status({ cardNo: first.card.card_no })).card.status).toBe('inactive');
      const second = await t.client.buyByCinema({ cinemaId: '1001', count: 2 });
      const { card } = await t.client.payByCard({
        cardNo: second.card.card_no,
        mobile: MOBILE,
        totalPrice: '70.0',
      });
      expect(card).toMatchObject({ status: 'active', total_price: '70.00' });
    });
  });
}
