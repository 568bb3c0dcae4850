import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { updateCinema } from '../src/db/partner.repository.js';
import { bumpRegistryVersion } from '../src/db/catalog.repository.js';
import { engines } from './support/engines.js';
import { makeTestApp, nextReqId, type TestApp } from './support/harness.js';
import { countRows } from './support/factories.js';

const MOBILE = '13812345678';

for (const engine of engines()) {
  describe(`req_id idempotency and races (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const count = (table: 'cards' | 'sms_messages' | 'requests' | 'answers') => countRows(t.db, table);

    it('answers a retried buy with the original card, in the format asked now', async () => {
      const reqId = nextReqId();
      const first = await t.client.buyByCinema({ cinemaId: '1001', count: 2 }, { reqId });
      t.clock.advance(5_000);
      const again = await t.client.buyByCinema({ cinemaId: '1001', count: 2 }, { reqId, format: 'xml' });
      expect(again).toEqual(first);
      expect(await count('cards')).toBe(1);
    });

    it('rejects a req_id reused with other parameters or another interface (409)', async () => {
      const reqId = nextReqId();
      await t.client.buyByCinema({ cinemaId: '1001', count: 2 }, { reqId });
      await expect(t.client.buyByCinema({ cinemaId: '1001', count: 3 }, { reqId })).rejects.toMatchObject({
        code: 409,
        type: 'duplicate_req_id',
      });
      await expect(t.client.buyByKind({ kindId: 'K2D', count: 2 }, { reqId })).rejects.toMatchObject({
        code: 409,
      });
      await expect(t.client.cities({ reqId })).rejects.toMatchObject({ code: 409 });
      expect(await count('cards')).toBe(1);
    });

    it('keeps req_ids per partner', async () => {
      const { makePartner } = await import('./support/factories.js');
      const other = await makePartner(t.db, {
        partnerId: 'AB123456',
        busId: '7654321',
        secId: 'k1',
        md5key: 'otherkey1234',
      });
      await t.app.registry.reload();
      const reqId = nextReqId();
      const a = await t.client.buyByCinema({ cinemaId: '1001', count: 1 }, { reqId });
      const b = await t.clientFor(other).buyByCinema({ cinemaId: '1001', count: 1 }, { reqId });
      expect(a.card.card_no).not.toBe(b.card.card_no);
    });

    it("binds a refused payment's req_id, so the corrected payment needs a new req_id", async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const reqId = nextReqId();
      await expect(
        t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE, totalPrice: '1.00' }, { reqId }),
      ).rejects.toMatchObject({
        type: 'price_mismatch',
      });
      const corrected = { cardNo: card.card_no, mobile: MOBILE, totalPrice: '35.00' };
      await expect(t.client.payByCard(corrected, { reqId })).rejects.toMatchObject({
        type: 'duplicate_req_id',
      });
      const paid = await t.client.payByCard(corrected);
      expect(paid.card.status).toBe('active');
    });

    it('replays a read with its original data even after the catalog changed', async () => {
      const reqId = nextReqId();
      const first = await t.client.cinemasByRegion({ regionId: '001001' }, { reqId });
      await t.app.requestLog.flush();
      await updateCinema(t.db.kysely, '1001', { price_fen: 9900 });
      await bumpRegistryVersion(t.db.kysely);
      await t.app.registry.reload();
      const replayed = await t.client.cinemasByRegion({ regionId: '001001' }, { reqId });
      expect(replayed).toEqual(first);
      const fresh = await t.client.cinemasByRegion({ regionId: '001001' });
      expect(fresh.cinemas[0]!.price).toBe('99.00');
    });

    it('stores a catalog answer served under many req_ids once, and replays each of them', async () => {
      const reqIds = Array.from({ length: 12 }, () => nextReqId());
      const answers = [];
      for (const reqId of reqIds)
        answers.push(await t.client.cinemasByRegion({ regionId: '001001' }, { reqId }));
      await t.app.requestLog.flush();
      const stored = await t.db.kysely.selectFrom('answers').selectAll().execute();
      expect(stored).toHaveLength(1);
      const rows = await t.db.kysely.selectFrom('requests').select(['body', 'answer_hash']).execute();
      expect(rows).toHaveLength(12);
      expect(rows.every((r) => r.body === null && r.answer_hash === stored[0]!.hash)).toBe(true);
      // A new app process: nothing of the answer is left in memory.
      const t2 = await makeTestApp(t.db, { seed: false });
      try {
        for (const [i, reqId] of reqIds.entries())
          expect(await t2.client.cinemasByRegion({ regionId: '001001' }, { reqId })).toEqual(answers[i]);
        await expect(t2.client.cities({ reqId: reqIds[0]! })).rejects.toMatchObject({
          type: 'duplicate_req_id',
        });
      } finally {
        await t2.app.close();
      }
    });

    it('keeps a card status answer with its request', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await t.client.status({ cardNo: card.card_no });
      await t.app.requestLog.flush();
      const rows = await t.db.kysely
        .selectFrom('requests')
        .select(['method', 'body', 'answer_hash'])
        .execute();
      const status = rows.find((r) => r.method === 'status')!;
      expect(status.answer_hash).toBeNull();
      expect(JSON.parse(status.body!)).toMatchObject({ card: { card_no: card.card_no } });
      expect(await count('answers')).toBe(0);
    });

    it('prunes a shared answer only after the last request pointing at it is forgotten', async () => {
      const day = 86_400_000;
      const early = nextReqId();
      await t.client.cinemasByRegion({ regionId: '001001' }, { reqId: early });
      await t.app.requestLog.flush();
      t.clock.advance(5 * day);
      const late = nextReqId();
      const lateAnswer = await t.client.cinemasByRegion({ regionId: '001001' }, { reqId: late });
      await t.app.requestLog.flush();
      t.clock.advance(3 * day); // early is 8 days old, late 3 days
      expect(await t.app.requestLog.prune(7 * day)).toBe(1);
      expect(await count('answers')).toBe(1);
      expect(await t.client.cinemasByRegion({ regionId: '001001' }, { reqId: late })).toEqual(lateAnswer);
      t.clock.advance(5 * day); // late is 8 days old
      expect(await t.app.requestLog.prune(7 * day)).toBe(1);
      expect(await count('requests')).toBe(0);
      expect(await count('answers')).toBe(0);
    });

    it('30 parallel buys with one req_id make one card and give all callers the same answer', async () => {
      const reqId = nextReqId();
      const results = await Promise.all(
        Array.from({ length: 30 }, () => t.client.buyByCinema({ cinemaId: '1002', count: 4 }, { reqId })),
      );
      expect(new Set(results.map((r) => r.card.card_no)).size).toBe(1);
      expect(await count('cards')).toBe(1);
    });

    it('30 parallel payments of one card with different req_ids activate it once and queue one SMS', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, () => t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE })),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok).toHaveLength(1);
      expect(rejected.map((r) => (r.reason as { type: string }).type)).toEqual(Array(29).fill('card_state'));
      expect(await count('sms_messages')).toBe(1);
      await t.app.outbox.runOnce();
      await t.app.outbox.runOnce();
      expect(t.sms.sent).toHaveLength(1);
      const events = await t.db.kysely
        .selectFrom('card_events')
        .select('type')
        .where('card_no', '=', card.card_no)
        .execute();
      expect(events.filter((e) => e.type === 'activated')).toHaveLength(1);
    });

    it('30 parallel retries of one payment get the same password', async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      const reqId = nextReqId();
      const results = await Promise.all(
        Array.from({ length: 30 }, () =>
          t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE }, { reqId }),
        ),
      );
      expect(new Set(results.map((r) => r.card.password)).size).toBe(1);
      expect(await count('sms_messages')).toBe(1);
    });
  });
}
