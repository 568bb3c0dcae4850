import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openSmsText } from '../src/domain/sms-template.js';
import { engines } from './support/engines.js';
import { countRows, makePartner } from './support/factories.js';
import { makeTestApp, nextReqId, refusal, type TestApp } from './support/harness.js';
import { pgStatementRecorder } from './support/pg-statements.js';

// Runs just before a payment's one statement (PostgreSQL only), e.g. to change the card meanwhile.
let beforeStore: (() => Promise<void>) | undefined;
vi.mock('../src/db/payment.repository.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/db/payment.repository.js')>();
  return {
    ...real,
    storePaymentOnce: async (...args: Parameters<typeof real.storePaymentOnce>) => {
      const hook = beforeStore;
      beforeStore = undefined;
      await hook?.();
      return real.storePaymentOnce(...args);
    },
  };
});

const MOBILE = '13812345678';
const MIN = 60_000;

const { sent, recorded } = pgStatementRecorder();

for (const engine of engines()) {
  describe(`payByCard's writes (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => {
      beforeStore = undefined;
      return t.close();
    });
    afterAll(() => engine.cleanup());

    const ledger = (cardNo: string) =>
      t.db.kysely
        .selectFrom('card_events')
        .select(['seq', 'type', 'at', 'actor', 'data'])
        .where('card_no', '=', cardNo)
        .orderBy('seq')
        .execute();
    const cardRow = (cardNo: string) =>
      t.db.kysely.selectFrom('cards').selectAll().where('card_no', '=', cardNo).executeTakeFirstOrThrow();
    const counts = async () => ({
      events: await countRows(t.db, 'card_events'),
      sms: await countRows(t.db, 'sms_messages'),
      requests: await countRows(t.db, 'requests'),
    });

    it('writes the card, its ledger, its SMS and its stored answer', async () => {
      const { card } = await t.client.buyByKind({ kindId: 'K3D', count: 2 });
      t.clock.advance(MIN);
      const now = t.clock.now();
      const reqId = nextReqId();
      const paid = await t.client.payByCard(
        { cardNo: card.card_no, mobile: MOBILE, totalPrice: '84.00' },
        { reqId },
      );
      const password = paid.card.password;
      expect(password).toMatch(/^[0-9]{8}$/);
      const validUntil = now + 30 * 86_400_000;

      const row = await cardRow(card.card_no);
      expect(row).toMatchObject({
        status: 'active',
        mobile: MOBILE,
        paid_at: now,
        valid_until: validUntil,
        sms_status: 'queued',
        updated_at: now,
      });
      expect(t.secrets.open(row.password!)).toBe(password);

      const events = await ledger(card.card_no);
      expect(events.map((e) => [e.seq, e.type])).toEqual([
        [1, 'created'],
        [2, 'activated'],
        [3, 'sms_queued'],
      ]);
      const sms = await t.db.kysely.selectFrom('sms_messages').selectAll().execute();
      expect(sms).toHaveLength(1);
      expect(sms[0]).toMatchObject({
        card_no: card.card_no,
        mobile: MOBILE,
        reason: 'activation',
        status: 'queued',
        attempts: 0,
        next_attempt_at: now,
        locked_until: 0,
        last_error: null,
        created_at: now,
        sent_at: null,
      });
      const text = openSmsText(t.secrets, sms[0]!.text);
      expect(text.text).toContain(password);
      expect(text.text).toContain(card.card_no);
      expect(text.masked).not.toContain(password);
      expect(text.params).toMatchObject({
        card_no: card.card_no,
        password,
        count: '2',
        target: '全国通兑3D券',
      });

      expect(events[1]).toEqual({
        seq: 2,
        type: 'activated',
        at: now,
        actor: 'partner:CS000001',
        data: JSON.stringify({
          status: 'active',
          paid_at: now,
          valid_until: validUntil,
          mobile: '138****5678',
        }),
      });
      expect(events[2]).toEqual({
        seq: 3,
        type: 'sms_queued',
        at: now,
        actor: 'system',
        data: JSON.stringify({
          message_id: sms[0]!.id,
          reason: 'activation',
          mobile: '138****5678',
          sms_status: 'queued',
        }),
      });

      const stored = await t.db.kysely
        .selectFrom('requests')
        .selectAll()
        .where('req_id', '=', reqId)
        .executeTakeFirstOrThrow();
      expect(stored).toMatchObject({
        partner_id: 'CS000001',
        method: 'payByCard',
        code: 200,
        created_at: now,
      });
      expect(stored.body).not.toContain(password);
      expect(JSON.parse(t.secrets.open(stored.body!))).toEqual({ card: paid.card });

      // The outbox was nudged and delivers it.
      expect(await t.app.outbox.runOnce()).toBe(1);
      expect(t.sms.sent.map((m) => m.mobile)).toEqual([MOBILE]);
      expect(t.sms.sent[0]!.text).toContain(password);
    });

    it('replays a retried payment with the same answer and writes nothing more', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const reqId = nextReqId();
      const first = await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE }, { reqId });
      const before = { ...(await counts()), card: await cardRow(card.card_no) };
      t.clock.advance(5_000);
      const again = await t.client.payByCard(
        { cardNo: card.card_no, mobile: MOBILE },
        { reqId, format: 'xml' },
      );
      expect(again).toEqual(first);
      expect({ ...(await counts()), card: await cardRow(card.card_no) }).toEqual(before);
    });

    it('refuses a concurrent second payment with another req_id, queueing one SMS', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const results = await Promise.allSettled([
        t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE }),
        t.client.payByCard({ cardNo: card.card_no, mobile: '13900000000' }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
      expect(refused.reason).toMatchObject({ code: 406, type: 'card_state' });
      expect((refused.reason as Error).message).toContain('active');
      expect(await countRows(t.db, 'sms_messages')).toBe(1);
      expect((await ledger(card.card_no)).map((e) => e.type)).toEqual(['created', 'activated', 'sms_queued']);
    });

    it('gives two concurrent payments with one req_id one effect and the same answer', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const reqId = nextReqId();
      const [a, b] = await Promise.all([
        t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE }, { reqId }),
        t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE }, { reqId }),
      ]);
      expect(b).toEqual(a);
      expect(t.secrets.open((await cardRow(card.card_no)).password!)).toBe(a.card.password);
      expect(await counts()).toMatchObject({ events: 3, sms: 1 });
      expect(await countRows(t.db, 'requests')).toBeGreaterThanOrEqual(2);
    });

    it('leaves a card unchanged when it refuses: a wrong price, a passed deadline, another partner', async () => {
      const other = await makePartner(t.db, {
        partnerId: 'AB123456',
        busId: '7654321',
        secId: 'k1',
        md5key: 'otherkey1234',
      });
      await t.app.registry.reload();
      const priced = (await t.client.buyByCinema({ cinemaId: '1001', count: 2 })).card;
      const theirs = (await t.clientFor(other).buyByCinema({ cinemaId: '1001', count: 1 })).card;
      const late = (await t.client.buyByCinema({ cinemaId: '1002', count: 1 })).card;
      const allCards = () => t.db.kysely.selectFrom('cards').selectAll().orderBy('card_no').execute();
      const before = await counts();
      const cardsBefore = await allCards();
      const wrongPrice = nextReqId();
      expect(
        await refusal(
          t.client.payByCard(
            { cardNo: priced.card_no, mobile: MOBILE, totalPrice: '69.99' },
            { reqId: wrongPrice },
          ),
        ),
      ).toEqual({ code: 406, type: 'price_mismatch' });
      t.clock.advance(30 * MIN);
      expect(await refusal(t.client.payByCard({ cardNo: late.card_no, mobile: MOBILE }))).toEqual({
        code: 406,
        type: 'card_state',
      });
      expect(await refusal(t.client.payByCard({ cardNo: theirs.card_no, mobile: MOBILE }))).toEqual({
        code: 400,
        type: 'not_found',
      });
      expect(await allCards()).toEqual(cardsBefore);
      // Only the three refusals were stored, each with its req_id.
      expect(await counts()).toEqual({ ...before, requests: before.requests + 3 });
      // The refusal is final for its req_id.
      expect(
        await refusal(
          t.client.payByCard(
            { cardNo: priced.card_no, mobile: MOBILE, totalPrice: '69.99' },
            { reqId: wrongPrice },
          ),
        ),
      ).toEqual({ code: 406, type: 'price_mismatch' });
    });

    it('pays once under a req_id bound by an earlier refusal', async () => {
      const limited = await makePartner(t.db, { partnerId: 'RL000001', busId: '1111111', rateLimit: 1 });
      await t.app.registry.reload();
      const client = t.clientFor(limited);
      const { card } = await client.buyByCinema({ cinemaId: '1001', count: 1 });
      const reqId = nextReqId();
      expect(await refusal(client.payByCard({ cardNo: card.card_no, mobile: MOBILE }, { reqId }))).toEqual({
        code: 429,
        type: 'rate_limited',
      });
      await t.app.requestLog.flush();
      expect(await countRows(t.db, 'requests')).toBe(2);
      t.clock.advance(2_000);
      const paid = await client.payByCard({ cardNo: card.card_no, mobile: MOBILE }, { reqId });
      expect(paid.card.status).toBe('active');
      t.clock.advance(2_000);
      expect(await client.payByCard({ cardNo: card.card_no, mobile: MOBILE }, { reqId })).toEqual(paid);
      expect((await ledger(card.card_no)).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(await countRows(t.db, 'sms_messages')).toBe(1);
    });

    if (engine.name === 'postgres') {
      it('answers as the transaction would when the card was paid between its read and its statement', async () => {
        const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
        let first: Awaited<ReturnType<typeof t.client.payByCard>> | undefined;
        beforeStore = async () => {
          first = await t.client.payByCard({ cardNo: card.card_no, mobile: '13900000000' });
        };
        const late = await recorded(() =>
          refusal(t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE })),
        );
        expect(late).toEqual({ code: 406, type: 'card_state' });
        expect(first!.card.status).toBe('active');
        // The statement wrote nothing; the transaction judged the card again.
        expect(sent.filter((s) => s.startsWith('with card as'))).toHaveLength(2);
        expect(sent.filter((s) => s === 'begin')).toHaveLength(2);
        expect((await ledger(card.card_no)).map((e) => e.type)).toEqual([
          'created',
          'activated',
          'sms_queued',
        ]);
        expect(await countRows(t.db, 'sms_messages')).toBe(1);
        expect(t.secrets.open((await cardRow(card.card_no)).password!)).toBe(first!.card.password);
      });

      it('writes nothing when another request took the req_id between its hold and its statement', async () => {
        const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
        const reqId = nextReqId();
        beforeStore = async () => {
          await t.db.kysely
            .insertInto('requests')
            .values({
              partner_id: 'CS000001',
              req_id: reqId,
              method: 'ban',
              params_hash: 'x',
              code: 200,
              body: '{}',
              created_at: t.clock.now(),
            })
            .execute();
        };
        const before = await cardRow(card.card_no);
        expect(
          await refusal(t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE }, { reqId })),
        ).toEqual({
          code: 409,
          type: 'duplicate_req_id',
        });
        expect(await cardRow(card.card_no)).toEqual(before);
        expect((await ledger(card.card_no)).map((e) => e.type)).toEqual(['created']);
        expect(await countRows(t.db, 'sms_messages')).toBe(0);
        // The card stays payable under a new req_id.
        expect((await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE })).card.status).toBe(
          'active',
        );
      });

      it('pays in two round trips: a read of the card and one statement', async () => {
        const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
        await t.app.requestLog.flush();
        await recorded(() => t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE }));
        // Not the payment's own: the registry version every request reads, and the req_id lookup.
        const own = sent.filter((s) => !/registry_version|left join "?answers"?/.test(s));
        expect(own).toHaveLength(2);
        expect(own[0]).toMatch(/^select \* from cards where card_no = \$1$/);
        expect(own[1]).toMatch(/^with /);
        expect((await ledger(card.card_no)).map((e) => e.type)).toEqual([
          'created',
          'activated',
          'sms_queued',
        ]);
      });
    }
  });
}
