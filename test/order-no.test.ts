import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engines } from './support/engines.js';
import { makePartner } from './support/factories.js';
import { makeTestApp, nextReqId, type TestApp } from './support/harness.js';

// order_no is the channel's order: one card per order and partner, and `status` finds it.

type Json = Record<string, unknown>;
const OTHER = { partnerId: 'AB123456', busId: '1000002', secId: 'other', md5key: 'otherkey1' };

for (const engine of engines()) {
  describe(`order_no as the channel's order (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const call = async (name: string, params: Record<string, string>, format = 'json') => {
      const res = await t.post(name, { ...params, format });
      if (format === 'xml') return { status: res.status, body: res.body } as Json;
      const body = JSON.parse(res.body) as { code: number; data?: Json; error?: Json };
      expect(body.code).toBe(res.status);
      return { status: res.status, ...(body.data ?? {}), ...(body.error ?? {}) } as Json;
    };
    const buy = (reqId: string, own: Record<string, string>, name = 'buyByCinema') =>
      call(name, t.signed(reqId, own));
    const cardOf = (answer: Json) => (answer.card as { card_no: string }).card_no;

    it('refuses a second buy of the same order with order_exists naming the card, in JSON and XML', async () => {
      const first = await buy(nextReqId(), { cinema_id: '1001', count: '2', order_no: 'ORD-1' });
      expect(first.status).toBe(200);
      const cardNo = cardOf(first);

      const again = await buy(nextReqId(), { cinema_id: '1002', count: '1', order_no: 'ORD-1' });
      expect(again).toMatchObject({ status: 409, type: 'order_exists', card_no: cardNo });
      expect(again.message).toContain('ORD-1');
      // The order is the partner's, whichever interface bought it.
      expect(
        await buy(nextReqId(), { kind_id: 'K2D', count: '1', order_no: 'ORD-1' }, 'buyByKind'),
      ).toMatchObject({ status: 409, type: 'order_exists', card_no: cardNo });
      const xml = await call(
        'buyByKind',
        t.signed(nextReqId(), { kind_id: 'K2D', count: '1', order_no: 'ORD-1' }),
        'xml',
      );
      expect(xml.status).toBe(409);
      expect(xml.body).toMatch(
        new RegExp(
          `<error><message>[^<]*ORD-1[^<]*</message><type>order_exists</type><card_no>${cardNo}</card_no></error>`,
        ),
      );
      const cards = await t.db.kysely.selectFrom('cards').select('card_no').execute();
      expect(cards.map((c) => c.card_no)).toEqual([cardNo]);
    });

    it('answers a retried buy with its req_id as before, and a refused one with the same refusal', async () => {
      const reqId = nextReqId();
      const first = await buy(reqId, { cinema_id: '1001', count: '2', order_no: 'ORD-2' });
      expect(await buy(reqId, { cinema_id: '1001', count: '2', order_no: 'ORD-2' })).toEqual(first);

      const refusedId = nextReqId();
      const refused = await buy(refusedId, { cinema_id: '1001', count: '2', order_no: 'ORD-2' });
      expect(refused).toMatchObject({ status: 409, type: 'order_exists', card_no: cardOf(first) });
      expect(await buy(refusedId, { cinema_id: '1001', count: '2', order_no: 'ORD-2' })).toEqual(refused);
      // The refused req_id stays bound to that request.
      expect(await buy(refusedId, { cinema_id: '1001', count: '1', order_no: 'ORD-3' })).toMatchObject({
        status: 409,
        type: 'duplicate_req_id',
      });
    });

    it('lets another partner use the same order_no, and buys without order_no as often as asked', async () => {
      await makePartner(t.db, OTHER);
      const mine = await buy(nextReqId(), { cinema_id: '1001', count: '1', order_no: 'SHARED' });
      const theirs = await call(
        'buyByCinema',
        t.signed(nextReqId(), { cinema_id: '1001', count: '1', order_no: 'SHARED' }, OTHER),
      );
      expect([mine.status, theirs.status]).toEqual([200, 200]);
      expect(cardOf(theirs)).not.toBe(cardOf(mine));
      for (let i = 0; i < 2; i++) {
        expect((await buy(nextReqId(), { cinema_id: '1001', count: '1' })).status).toBe(200);
      }
    });

    it('sells an order once when several buys of it race', async () => {
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          buy(nextReqId(), { cinema_id: i % 2 ? '1001' : '1002', count: '1', order_no: 'RACE' }),
        ),
      );
      const sold = answers.filter((a) => a.status === 200);
      expect(sold).toHaveLength(1);
      const cardNo = cardOf(sold[0]!);
      for (const a of answers.filter((x) => x.status !== 200)) {
        expect(a).toMatchObject({ status: 409, type: 'order_exists', card_no: cardNo });
      }
      const n = await t.db.kysely
        .selectFrom('cards')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst();
      expect(Number(n!.n)).toBe(1);
    });

    it('answers status by order_no with the card status body that card_no gets', async () => {
      const bought = await buy(nextReqId(), { cinema_id: '1001', count: '2', order_no: 'ORD_4' });
      const cardNo = cardOf(bought);
      await t.client.payByCard({ cardNo, mobile: '13812345678' });
      const byCard = await call('status', t.signed(undefined, { card_no: cardNo }));
      const byOrder = await call('status', t.signed(undefined, { order_no: 'ORD_4' }));
      expect(byOrder).toEqual(byCard);
      expect(byOrder).toMatchObject({ status: 200, card: { card_no: cardNo, order_no: 'ORD_4' } });
      const xml = await call('status', t.signed(undefined, { order_no: 'ORD_4' }), 'xml');
      expect(xml.body).toContain(`<card_no>${cardNo}</card_no>`);
    });

    it('signs order_no after card_no in full mode', async () => {
      await makePartner(t.db, { ...OTHER, signMode: 'full' });
      const full = { ...OTHER, signMode: 'full' as const };
      const bought = await call(
        'buyByKind',
        t.signed(nextReqId(), { kind_id: 'K2D', count: '1', order_no: 'F1' }, full),
      );
      const got = await call('status', t.signed(undefined, { order_no: 'F1' }, full));
      expect(got).toMatchObject({ status: 200, card: { card_no: cardOf(bought) } });
      // A signature over another value of order_no does not pass.
      const forged = { ...t.signed(undefined, { order_no: 'F2' }, full), order_no: 'F1' };
      expect(await call('status', forged)).toMatchObject({ status: 401, type: 'invalid_signature' });
    });

    it('answers an unknown or foreign order_no as not_found, and wants exactly one of card_no and order_no', async () => {
      await makePartner(t.db, OTHER);
      const card = cardOf(await buy(nextReqId(), { cinema_id: '1001', count: '1', order_no: 'MINE' }));
      expect(await call('status', t.signed(undefined, { order_no: 'NOPE' }))).toMatchObject({
        status: 400,
        type: 'not_found',
      });
      expect(await call('status', t.signed(undefined, { order_no: 'MINE' }, OTHER))).toMatchObject({
        status: 400,
        type: 'not_found',
      });
      const cases: Record<string, string>[] = [
        {},
        { card_no: card, order_no: 'MINE' },
        { card_no: '', order_no: '' },
      ];
      for (const own of cases) {
        const got = await call('status', t.signed(undefined, own));
        expect(got, JSON.stringify(own)).toMatchObject({ status: 400, type: 'invalid_param' });
        expect(got.message).toMatch(/card_no.*order_no/);
      }
      expect(await call('status', t.signed(undefined, { order_no: 'a b' }))).toMatchObject({
        status: 400,
        type: 'invalid_param',
      });
    });
  });
}
