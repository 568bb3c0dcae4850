import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MovTicketError } from '../src/client/index.js';
import { isLuhnValid } from '../src/domain/secrets.js';
import { parseTimestamp, startOfDay } from '../src/domain/time.js';
import { sweepExpired } from '../src/workers/expiry.js';
import { engines } from './support/engines.js';
import { makePartner } from './support/factories.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const MOBILE = '13812345678';
const MIN = 60_000;
const DAY = 86_400_000;

for (const engine of engines()) {
  describe(`card lifecycle (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const ledger = async (cardNo: string) =>
      (
        await t.db.kysely
          .selectFrom('card_events')
          .selectAll()
          .where('card_no', '=', cardNo)
          .orderBy('seq')
          .execute()
      ).map((e) => e.type);

    it('buys an inactive card by cinema with a random Luhn card number and a payment deadline', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 2, orderNo: 'ORD-1_a' });
      expect(card).toMatchObject({
        cinema_id: '1001',
        kind_id: '',
        count: '2',
        price: '35.00',
        total_price: '70.00',
        status: 'inactive',
      });
      expect(card.card_no).toMatch(/^[0-9]{16}$/);
      expect(isLuhnValid(card.card_no)).toBe(true);
      expect(card.created_at).toMatch(/^[0-9]{14}$/);
      const ts = (text: string) => parseTimestamp(text, 'Asia/Shanghai')!;
      expect(ts(card.pay_deadline) - ts(card.created_at)).toBe(30 * MIN);
      const second = await t.client.buyByCinema({ cinemaId: '1001', count: 2 });
      expect(second.card.card_no).not.toBe(card.card_no);
      const status = await t.client.status({ cardNo: card.card_no });
      expect(status.card).toMatchObject({
        status: 'inactive',
        order_no: 'ORD-1_a',
        mobile: '',
        paid_at: '',
        sms_status: 'none',
        remaining: '2',
      });
      expect(await ledger(card.card_no)).toEqual(['created']);
    });

    it('buys by kind with kind_id set and cinema_id empty', async () => {
      const { card } = await t.client.buyByKind({ kindId: 'K3D', count: 3 });
      expect(card).toMatchObject({
        cinema_id: '',
        kind_id: 'K3D',
        count: '3',
        price: '42.00',
        total_price: '126.00',
      });
      await expect(t.client.buyByKind({ kindId: 'K9X', count: 1 })).rejects.toMatchObject({
        code: 400,
        type: 'not_found',
      });
      await expect(t.client.buyByCinema({ cinemaId: '3001', count: 1 })).rejects.toMatchObject({
        type: 'not_found',
      });
    });

    it('activates on payment with a password, validity and a queued SMS, then delivers it', async () => {
      const { card } = await t.client.buyByKind({ kindId: 'K3D', count: 1 });
      const paid = await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE, totalPrice: '42.00' });
      expect(paid.card).toMatchObject({
        card_no: card.card_no,
        status: 'active',
        count: '1',
        total_price: '42.00',
        sms_status: 'queued',
      });
      expect(paid.card.password).toMatch(/^[0-9]{8}$/);
      expect(Object.keys(paid.card).sort()).toEqual(
        [
          'card_no',
          'count',
          'paid_at',
          'password',
          'sms_status',
          'status',
          'total_price',
          'valid_until',
        ].sort(),
      );
      const paidAt = Date.now();
      expect(paid.card.valid_until.slice(0, 8)).toBe(
        new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai' })
          .format(t.clock.now() + 30 * DAY)
          .replaceAll('-', ''),
      );
      expect(paidAt).toBeGreaterThan(0);
      expect(await t.app.outbox.runOnce()).toBe(1);
      expect(t.sms.sent).toHaveLength(1);
      expect(t.sms.sent[0]!.mobile).toBe(MOBILE);
      expect(t.sms.sent[0]!.text).toContain(card.card_no);
      expect(t.sms.sent[0]!.text).toContain(paid.card.password);
      expect(t.sms.sent[0]!.text).toContain('全国通兑3D券');
      const status = await t.client.status({ cardNo: card.card_no });
      expect(status.card).toMatchObject({ status: 'active', mobile: '138****5678', sms_status: 'sent' });
      expect(status.card).not.toHaveProperty('password');
      expect(await ledger(card.card_no)).toEqual(['created', 'activated', 'sms_queued', 'sms_sent']);
    });

    it('rejects a wrong total_price with price_mismatch and leaves the card inactive', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 2 });
      await expect(
        t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE, totalPrice: '69.99' }),
      ).rejects.toMatchObject({
        code: 406,
        type: 'price_mismatch',
      });
      expect((await t.client.status({ cardNo: card.card_no })).card.status).toBe('inactive');
      await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE, totalPrice: '70' });
    });

    it('refuses to pay twice, after the deadline, or a banned card (406 card_state naming the state)', async () => {
      const a = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      await t.client.payByCard({ cardNo: a.card_no, mobile: MOBILE });
      const again = await t.client.payByCard({ cardNo: a.card_no, mobile: MOBILE }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(MovTicketError);
      expect(again).toMatchObject({ code: 406, type: 'card_state' });
      expect((again as Error).message).toContain('active');

      const b = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      t.clock.advance(30 * MIN);
      await expect(t.client.payByCard({ cardNo: b.card_no, mobile: MOBILE })).rejects.toMatchObject({
        type: 'card_state',
      });
      expect((await t.client.status({ cardNo: b.card_no })).card.status).toBe('expired');
      expect(await sweepExpired(t.db, t.clock)).toBe(1);
      expect(await ledger(b.card_no)).toEqual(['created', 'expired']);

      const c = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      await t.client.ban({ cardNo: c.card_no });
      await expect(t.client.payByCard({ cardNo: c.card_no, mobile: MOBILE })).rejects.toMatchObject({
        type: 'card_state',
      });
    });

    it('expires an active card when its validity passes with tickets left', async () => {
      const { card } = await t.client.buyByKind({ kindId: 'K3D', count: 1 });
      await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE });
      t.clock.advance(30 * DAY + 1);
      expect((await t.client.status({ cardNo: card.card_no })).card.status).toBe('expired');
      await expect(t.client.ban({ cardNo: card.card_no })).rejects.toMatchObject({ type: 'card_state' });
      await expect(t.client.resendSms({ cardNo: card.card_no })).rejects.toMatchObject({
        type: 'card_state',
      });
    });

    it('bans an inactive or unused active card, idempotently, and refuses a used one', async () => {
      const a = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      const banned = await t.client.ban({ cardNo: a.card_no, reason: '用户取消订单' });
      expect(banned.card).toMatchObject({ status: 'banned' });
      expect(banned.card.banned_at).toMatch(/^[0-9]{14}$/);
      const again = await t.client.ban({ cardNo: a.card_no });
      expect(again.card).toEqual(banned.card);

      const b = (await t.client.buyByCinema({ cinemaId: '1001', count: 2 })).card;
      await t.client.payByCard({ cardNo: b.card_no, mobile: MOBILE });
      expect((await t.client.ban({ cardNo: b.card_no })).card.status).toBe('banned');

      const c = (await t.client.buyByCinema({ cinemaId: '1001', count: 2 })).card;
      await t.client.payByCard({ cardNo: c.card_no, mobile: MOBILE });
      await t.db.kysely
        .updateTable('cards')
        .set({ used_count: 1 })
        .where('card_no', '=', c.card_no)
        .execute();
      await expect(t.client.ban({ cardNo: c.card_no })).rejects.toMatchObject({
        code: 406,
        type: 'card_state',
      });
      expect(await ledger(a.card_no)).toEqual(['created', 'banned']);
    });

    it('records in the ledger which state a ban came from, as an operator ban does', async () => {
      const a = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      await t.client.ban({ cardNo: a.card_no, reason: '用户取消订单' });
      const b = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      await t.client.payByCard({ cardNo: b.card_no, mobile: MOBILE });
      await t.client.ban({ cardNo: b.card_no });
      const banEvent = async (cardNo: string) => {
        const row = await t.db.kysely
          .selectFrom('card_events')
          .select(['actor', 'data'])
          .where('card_no', '=', cardNo)
          .where('type', '=', 'banned')
          .executeTakeFirstOrThrow();
        return { actor: row.actor, data: JSON.parse(row.data) as Record<string, unknown> };
      };
      expect(await banEvent(a.card_no)).toMatchObject({
        actor: 'partner:CS000001',
        data: { status: 'banned', reason: '用户取消订单', from: 'inactive' },
      });
      expect(await banEvent(b.card_no)).toMatchObject({ data: { reason: '', from: 'active' } });
    });

    it('resends the SMS, to a new number when given, at most 5 times a day, then says until when', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1002', count: 1 });
      await expect(t.client.resendSms({ cardNo: card.card_no })).rejects.toMatchObject({
        type: 'card_state',
      });
      const paid = await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE });
      await t.app.outbox.runOnce();
      const resent = await t.client.resendSms({ cardNo: card.card_no, mobile: '13900001111' });
      expect(resent.card).toMatchObject({ mobile: '139****1111', sms_status: 'queued', status: 'active' });
      await t.app.outbox.runOnce();
      expect(t.sms.sent.map((m) => m.mobile)).toEqual([MOBILE, '13900001111']);
      expect(t.sms.sent[1]!.text).toContain(paid.card.password);
      expect(new Set(t.sms.sent.map((m) => m.id)).size).toBe(2);
      for (let i = 0; i < 4; i++) await t.client.resendSms({ cardNo: card.card_no });
      const limited = await t.client.resendSms({ cardNo: card.card_no }).catch((e: unknown) => e);
      // Its own type: waiting a second does not help, the next day (platform time zone) does.
      expect(limited).toMatchObject({ code: 429, type: 'sms_daily_limit' });
      const now = t.clock.now();
      const untilMidnight = Math.ceil((startOfDay(now, 'Asia/Shanghai') + DAY - now) / 1000);
      expect((limited as MovTicketError).retryAfter).toBe(untilMidnight);
      t.clock.advance(DAY);
      await t.client.resendSms({ cardNo: card.card_no });
    });

    it("reports another partner's card exactly like a card that does not exist", async () => {
      const other = await makePartner(t.db, {
        partnerId: 'AB123456',
        busId: '7654321',
        secId: 'k1',
        md5key: 'otherkey1234',
      });
      await t.app.registry.reload();
      const theirs = (await t.clientFor(other).buyByCinema({ cinemaId: '1001', count: 1 })).card;
      const missing = '4000000000000002';
      for (const call of [
        (cardNo: string) => t.client.status({ cardNo }),
        (cardNo: string) => t.client.payByCard({ cardNo, mobile: MOBILE }),
        (cardNo: string) => t.client.ban({ cardNo }),
        (cardNo: string) => t.client.resendSms({ cardNo }),
      ]) {
        const a = (await call(theirs.card_no).catch((e: unknown) => e)) as MovTicketError;
        const b = (await call(missing).catch((e: unknown) => e)) as MovTicketError;
        expect(a).toMatchObject({ code: 400, type: 'not_found' });
        expect(b).toMatchObject({ code: 400, type: 'not_found' });
        expect(a.message.replace(theirs.card_no, 'X')).toBe(b.message.replace(missing, 'X'));
      }
      expect(
        (
          await t.db.kysely
            .selectFrom('cards')
            .select('status')
            .where('card_no', '=', theirs.card_no)
            .executeTakeFirst()
        )?.status,
      ).toBe('inactive');
    });

    it('serves status in XML with every key, absent values empty', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const res = await t.post('status', {
        ...t.signed(undefined, { card_no: card.card_no }),
        format: 'xml',
      });
      expect(res.status).toBe(200);
      for (const key of [
        'card_no',
        'cinema_id',
        'kind_id',
        'order_no',
        'status',
        'count',
        'used_count',
        'remaining',
        'price',
        'total_price',
        'mobile',
        'created_at',
        'pay_deadline',
        'paid_at',
        'valid_until',
        'banned_at',
        'sms_status',
      ]) {
        expect(res.body).toMatch(new RegExp(`<${key}>[^<]*</${key}>`));
      }
      expect(res.body).toContain('<kind_id></kind_id>');
    });
  });
}
