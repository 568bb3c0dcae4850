import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { updateCinema } from '../src/db/partner.repository.js';
import { bumpRegistryVersion } from '../src/db/catalog.repository.js';
import { MAX_RESENDS_PER_DAY } from '../src/domain/card.service.js';
import { engines } from './support/engines.js';
import type { PartnerSpec } from './support/factories.js';
import { makeTestApp, nextReqId, type TestApp } from './support/harness.js';

const MOBILE = '13812345678';
const STRANGER = '13900000000';
const UNKNOWN_CARD = '9999999999999999';

interface Answer {
  status: number;
  body: string;
  code: number;
  type?: string;
  message?: string;
  data?: Record<string, unknown>;
}

for (const engine of engines()) {
  describe(`req_id binding (${engine.name})`, () => {
    let t: TestApp;
    const open = async (partner: PartnerSpec = {}) =>
      (t = await makeTestApp(await engine.open(), { partner }));
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const count = async (table: 'cards' | 'sms_messages', where?: { mobile: string }) => {
      let q = t.db.kysely.selectFrom(table).select((eb) => eb.fn.countAll().as('n'));
      if (where) q = q.where('mobile', '=', where.mobile);
      return Number((await q.executeTakeFirstOrThrow()).n);
    };

    /** Posts the form as JSON; `format` is not signed, so it does not change the signature. */
    const call = async (target: TestApp, method: string, params: Record<string, string>): Promise<Answer> => {
      const res = await target.post(method, { ...params, format: 'json' });
      const env = JSON.parse(res.body) as {
        code: number;
        data?: Record<string, unknown>;
        error?: { type: string; message: string };
      };
      return { status: res.status, body: res.body, code: env.code, ...env.error, data: env.data };
    };

    /** A card of the default partner, paid (active) with its SMS queued to MOBILE. */
    const activeCard = async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE });
      return card.card_no;
    };

    it('refuses a refused status request re-sent as resendSms to another mobile (basic mode)', async () => {
      await open();
      const cardNo = await activeCard();
      // basic mode signs neither the interface nor card_no nor mobile.
      const seen = t.signed(nextReqId(), { card_no: UNKNOWN_CARD });
      expect(await call(t, 'status', seen)).toMatchObject({ status: 400, type: 'not_found' });
      const forged = { ...seen, card_no: cardNo, mobile: STRANGER };
      expect(await call(t, 'resendSms', forged)).toMatchObject({ status: 409, type: 'duplicate_req_id' });
      expect(await count('sms_messages', { mobile: STRANGER })).toBe(0);
      expect(await count('sms_messages')).toBe(1);
    });

    it('refuses a rate-limited resendSms re-sent unchanged as ban (full mode)', async () => {
      await open({ signMode: 'full' });
      const cardNo = await activeCard();
      for (let i = 0; i < MAX_RESENDS_PER_DAY; i++) await t.client.resendSms({ cardNo });
      // resendSms(card_no, mobile absent) and ban(card_no, reason absent) sign the same string.
      const seen = t.signed(nextReqId(), { card_no: cardNo }, { signMode: 'full' });
      expect(await call(t, 'resendSms', seen)).toMatchObject({ status: 429, type: 'sms_daily_limit' });
      expect(await call(t, 'ban', seen)).toMatchObject({ status: 409, type: 'duplicate_req_id' });
      expect((await t.client.status({ cardNo })).card.status).toBe('active');
    });

    it('refuses a buyByCinema re-split from count=1 into count=15 under the same req_id (full mode)', async () => {
      await open({ signMode: 'full', rateLimit: 1 });
      await t.client.cities();
      // cinema_id+count+order_no: "1001" + "1" + "5ab" reads the same as "1001" + "15" + "ab".
      const seen = t.signed(
        nextReqId(),
        { cinema_id: '1001', count: '1', order_no: '5ab' },
        { signMode: 'full' },
      );
      expect(await call(t, 'buyByCinema', seen)).toMatchObject({ status: 429, type: 'rate_limited' });
      t.clock.advance(2_000);
      const resplit = { ...seen, count: '15', order_no: 'ab' };
      expect(await call(t, 'buyByCinema', resplit)).toMatchObject({ status: 409, type: 'duplicate_req_id' });
      t.clock.advance(2_000);
      const retried = await call(t, 'buyByCinema', seen);
      expect(retried).toMatchObject({ status: 200, data: { card: { count: '1' } } });
      const cards = await t.db.kysely.selectFrom('cards').select(['count', 'order_no']).execute();
      expect(cards).toEqual([{ count: 1, order_no: '5ab' }]);
    });

    it('replays a refused read identically, from another process too, and binds its req_id', async () => {
      await open();
      const params = t.signed(nextReqId(), { card_no: UNKNOWN_CARD });
      const first = await call(t, 'status', params);
      expect(first).toMatchObject({ status: 400, type: 'not_found' });
      expect(await call(t, 'status', params)).toEqual(first);
      await t.app.requestLog.flush();
      const t2 = await makeTestApp(t.db, { seed: false });
      try {
        expect(await call(t2, 'status', params)).toEqual(first);
        expect(await call(t2, 'status', { ...params, card_no: '1111111111111111' })).toMatchObject({
          status: 409,
          type: 'duplicate_req_id',
        });
      } finally {
        await t2.app.close();
      }
    });

    it('replays a refused buy identically even after the refusal no longer holds', async () => {
      await open();
      const reqId = nextReqId();
      const refusal = t.client.buyByCinema({ cinemaId: '3001', count: 1 }, { reqId });
      await expect(refusal).rejects.toMatchObject({ code: 400, type: 'not_found' });
      const params = t.signed(reqId, { cinema_id: '3001', count: '1' });
      const first = await call(t, 'buyByCinema', params);
      expect(first).toMatchObject({ status: 400, type: 'not_found' });
      await updateCinema(t.db.kysely, '3001', { active: 1 });
      await bumpRegistryVersion(t.db.kysely);
      await t.app.registry.reload();
      expect(await call(t, 'buyByCinema', params)).toEqual(first);
      expect(await count('cards')).toBe(0);
      // The cinema sells now, under a new req_id.
      await t.client.buyByCinema({ cinemaId: '3001', count: 1 });
      expect(await count('cards')).toBe(1);
    });

    it('replays a payment refused for its price, and refuses a corrected price under the same req_id', async () => {
      await open();
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const reqId = nextReqId();
      const wrong = { cardNo: card.card_no, mobile: MOBILE, totalPrice: '1.00' };
      const refused = { code: 406, type: 'price_mismatch' };
      await expect(t.client.payByCard(wrong, { reqId })).rejects.toMatchObject(refused);
      await expect(t.client.payByCard(wrong, { reqId })).rejects.toMatchObject(refused);
      await expect(t.client.payByCard({ ...wrong, totalPrice: '35.00' }, { reqId })).rejects.toMatchObject({
        code: 409,
        type: 'duplicate_req_id',
      });
      expect((await t.client.payByCard({ ...wrong, totalPrice: '35.00' })).card.status).toBe('active');
    });

    it('runs an identical retry of a rate-limited request, and refuses other params under its req_id', async () => {
      await open({ rateLimit: 1 });
      await t.client.cities();
      const reqId = nextReqId();
      const buy = { cinemaId: '1001', count: 2 };
      await expect(t.client.buyByCinema(buy, { reqId })).rejects.toMatchObject({ code: 429 });
      await t.app.requestLog.flush();
      t.clock.advance(2_000);
      await expect(t.client.buyByCinema({ ...buy, count: 3 }, { reqId })).rejects.toMatchObject({
        code: 409,
      });
      t.clock.advance(2_000);
      const bought = await t.client.buyByCinema(buy, { reqId });
      expect(bought.card.count).toBe('2');
      t.clock.advance(2_000);
      expect(await t.client.buyByCinema(buy, { reqId })).toEqual(bought);
      expect(await count('cards')).toBe(1);
    });

    it('binds a req_id refused by the permission and parameter checks, and judges an identical retry afresh', async () => {
      await open({ permissions: ['cities', 'status', 'resendSms', 'buyByCinema', 'payByCard'] });
      const cardNo = await activeCard();
      const denied = t.signed(nextReqId(), { card_no: cardNo });
      expect(await call(t, 'ban', denied)).toMatchObject({ status: 403, type: 'permission_denied' });
      expect(await call(t, 'resendSms', { ...denied, mobile: STRANGER })).toMatchObject({ status: 409 });

      const missing = t.signed(nextReqId(), { card_no: cardNo });
      expect(await call(t, 'payByCard', missing)).toMatchObject({ status: 400, type: 'invalid_param' });
      expect(await call(t, 'payByCard', missing)).toMatchObject({ status: 400, type: 'invalid_param' });
      expect(await call(t, 'resendSms', missing)).toMatchObject({ status: 409 });
      expect(await count('sms_messages')).toBe(1);
    });

    it('makes one card of two identical buys in parallel after a rate-limited first try', async () => {
      await open({ rateLimit: 2 });
      await t.client.cities();
      await t.client.cities();
      const params = t.signed(nextReqId(), { cinema_id: '1002', count: '3' });
      expect(await call(t, 'buyByCinema', params)).toMatchObject({ status: 429 });
      // The binding is stored, so both retries must upgrade the same stored row.
      await t.app.requestLog.flush();
      t.clock.advance(1_000);
      const [a, b] = await Promise.all([call(t, 'buyByCinema', params), call(t, 'buyByCinema', params)]);
      expect(a).toMatchObject({ status: 200 });
      expect(b).toEqual(a);
      expect(await count('cards')).toBe(1);
    });

    it('answers two identical refused payments in parallel with one stored refusal', async () => {
      await open();
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const params = t.signed(nextReqId(), { card_no: card.card_no, mobile: MOBILE, total_price: '1.00' });
      const [a, b] = await Promise.all([call(t, 'payByCard', params), call(t, 'payByCard', params)]);
      expect(a).toMatchObject({ status: 406, type: 'price_mismatch' });
      expect(b).toEqual(a);
      expect(await call(t, 'payByCard', params)).toEqual(a);
      expect(await count('sms_messages')).toBe(0);
    });
  });
}
