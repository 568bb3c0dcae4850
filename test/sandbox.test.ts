import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { upsertCallback } from '../src/db/notify.repository.js';
import { UNDO_WINDOW_MS } from '../src/domain/card-commands.js';
import { makeUser, newOnce, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { KEY, makePartner } from './support/factories.js';
import { makeTestApp, nextReqId, type TestApp } from './support/harness.js';

// The sandbox: a channel drives its own cards (redeem, undo, expire) and sends itself a test
// callback, through signed interfaces that a server outside the sandbox does not know.

type Json = Record<string, unknown>;
const MOBILE = '13812345678';
const OTHER = { partnerId: 'AB123456', busId: '1000002', secId: 'other', md5key: 'otherkey1' };
const SIGNED_ORDER = [
  'partner_id',
  'sec_id',
  'event_id',
  'event_type',
  'card_no',
  'seq',
  'status',
  'used_count',
  'remaining',
  'occurred_at',
  'timestamp',
];

/** A channel's callback endpoint on a loopback port, answering `status`. */
async function startReceiver(status = 200) {
  const received: Record<string, string>[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push(Object.fromEntries(new URLSearchParams(body).entries()));
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('the sandbox switch', () => {
  it('is off by default, follows the demo unless set, and can be set either way', () => {
    expect(loadConfig({}).sandbox).toBe(false);
    expect(loadConfig({ MOVTICKET_DEMO: '1' }).sandbox).toBe(true);
    expect(loadConfig({}, { demo: true }).sandbox).toBe(true);
    expect(loadConfig({ MOVTICKET_DEMO: '1', MOVTICKET_SANDBOX: '0' }).sandbox).toBe(false);
    expect(loadConfig({ MOVTICKET_SANDBOX: 'yes' }).sandbox).toBe(true);
    expect(() => loadConfig({ MOVTICKET_SANDBOX: 'maybe' })).toThrow(/MOVTICKET_SANDBOX/);
  });
});

for (const engine of engines()) {
  describe(`the sandbox interfaces (${engine.name})`, () => {
    let t: TestApp;
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const call = async (name: string, params: Record<string, string>) => {
      const res = await t.post(name, { ...params, format: 'json' });
      const body = JSON.parse(res.body) as { code: number; data?: Json; error?: Json };
      expect(body.code).toBe(res.status);
      return { status: res.status, ...(body.data ?? {}), ...(body.error ?? {}) } as Json;
    };
    const sandbox = (name: string, own: Record<string, string> = {}, reqId = nextReqId()) =>
      call(`sandbox${name}`, t.signed(reqId, own));
    const paidCard = async (count: number) => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count });
      await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE });
      return card.card_no;
    };

    it('are unknown on a server outside the sandbox', async () => {
      t = await makeTestApp(await engine.open());
      const cardNo = await paidCard(1);
      for (const name of ['Redeem', 'Undo', 'Expire', 'TestEvent']) {
        expect(await sandbox(name, { card_no: cardNo }), name).toMatchObject({
          status: 404,
          type: 'no_such_method',
        });
      }
      expect((await t.client.status({ cardNo })).card).toMatchObject({ status: 'active', used_count: '0' });
    });

    it("lets an operator send a test event to a partner's callback URL from the console, in any mode", async () => {
      t = await makeTestApp(await engine.open(), { config: { callbackAllow: ['127.0.0.1'] } });
      const s = await signIn(t, await makeUser(t, 'operator'));
      const page = () =>
        t.app.fastify.inject({ url: '/admin/partners/CS000001', headers: { cookie: s.cookie } });
      const test = () =>
        t.app.fastify.inject({
          method: 'POST',
          url: '/admin/partners/CS000001/callback/test',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookie },
          payload: new URLSearchParams({ _once: newOnce(), _csrf: s.csrf }).toString(),
        });
      expect((await page()).body).not.toContain('发送测试通知');
      const none = await test();
      expect(none.statusCode).toBe(409);
      expect(none.body).toContain('还没有回调 URL');

      const receiver = await startReceiver();
      const refusing = await startReceiver(500);
      try {
        await upsertCallback(t.db.kysely, 'CS000001', receiver.url, t.clock.now());
        expect((await page()).body).toContain('发送测试通知');
        const sent = await test();
        expect(sent.statusCode).toBe(303);
        expect(sent.headers.location).toContain('ok=callback.tested');
        expect(receiver.received.map((r) => [r.event_type, r.card_no])).toEqual([
          ['test', '0000000000000000'],
        ]);

        await upsertCallback(t.db.kysely, 'CS000001', refusing.url, t.clock.now());
        const failed = await test();
        expect(failed.statusCode).toBe(409);
        expect(failed.body).toContain('测试通知未送达：HTTP 500');
      } finally {
        await receiver.close();
        await refusing.close();
      }
    });

    describe('in the sandbox', () => {
      beforeEach(async () => {
        t = await makeTestApp(await engine.open(), {
          config: { sandbox: true, callbackAllow: ['127.0.0.1'] },
        });
      });

      it('redeems, undoes and uses up a card as a cinema would, with the callbacks a cinema causes', async () => {
        const receiver = await startReceiver();
        try {
          await upsertCallback(t.db.kysely, 'CS000001', receiver.url, t.clock.now());
          const cardNo = await paidCard(3);
          expect(await sandbox('Redeem', { card_no: cardNo, count: '2' })).toMatchObject({
            status: 200,
            card: { card_no: cardNo, status: 'active', used_count: '2', remaining: '1' },
          });
          expect(await sandbox('Undo', { card_no: cardNo })).toMatchObject({
            card: { status: 'active', used_count: '0', remaining: '3' },
          });
          // count defaults to 1; a card used up is `used`, and an undo makes it active again.
          await sandbox('Redeem', { card_no: cardNo });
          expect(await sandbox('Redeem', { card_no: cardNo, count: '2' })).toMatchObject({
            card: { status: 'used', used_count: '3' },
          });
          expect(await sandbox('Redeem', { card_no: cardNo })).toMatchObject({
            status: 406,
            type: 'card_state',
          });
          expect(await sandbox('Undo', { card_no: cardNo })).toMatchObject({
            card: { status: 'active', used_count: '1' },
          });
          expect((await t.client.status({ cardNo })).card).toMatchObject({
            status: 'active',
            used_count: '1',
          });

          await t.app.notify.runOnce();
          // Sent at once, they may arrive in any order: a channel orders them by seq.
          const bySeq = [...receiver.received].sort((x, y) => Number(x.seq) - Number(y.seq));
          expect(bySeq.map((r) => [r.event_type, r.status, r.used_count])).toEqual([
            ['redeemed', 'active', '2'],
            ['redemption_undone', 'active', '0'],
            ['redeemed', 'active', '1'],
            ['redeemed', 'used', '3'],
            ['redemption_undone', 'active', '1'],
          ]);
        } finally {
          await receiver.close();
        }
      });

      it('applies a retried sandbox call once, and refuses more tickets than are left', async () => {
        const cardNo = await paidCard(2);
        const reqId = nextReqId();
        const first = await sandbox('Redeem', { card_no: cardNo }, reqId);
        expect(await sandbox('Redeem', { card_no: cardNo }, reqId)).toEqual(first);
        expect((await t.client.status({ cardNo })).card.used_count).toBe('1');
        expect(await sandbox('Redeem', { card_no: cardNo, count: '2' })).toMatchObject({
          status: 400,
          type: 'invalid_param',
        });
        expect(await sandbox('Redeem', { card_no: cardNo, count: '0' })).toMatchObject({
          status: 400,
          type: 'invalid_param',
        });
      });

      it('undoes only within the 10 minutes any undo has, and only what was redeemed', async () => {
        const cardNo = await paidCard(2);
        expect(await sandbox('Undo', { card_no: cardNo })).toMatchObject({ status: 406, type: 'card_state' });
        await sandbox('Redeem', { card_no: cardNo });
        t.clock.advance(UNDO_WINDOW_MS + 1000);
        expect(await sandbox('Undo', { card_no: cardNo })).toMatchObject({ status: 406, type: 'card_state' });
        expect((await t.client.status({ cardNo })).card.used_count).toBe('1');
      });

      it('expires an unpaid card and a paid one now, and no used or banned card', async () => {
        const unpaid = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card.card_no;
        const paid = await paidCard(2);
        for (const cardNo of [unpaid, paid]) {
          expect(await sandbox('Expire', { card_no: cardNo }), cardNo).toMatchObject({
            status: 200,
            card: { card_no: cardNo, status: 'expired' },
          });
          // Expiring an expired card changes nothing.
          expect(await sandbox('Expire', { card_no: cardNo })).toMatchObject({ card: { status: 'expired' } });
          expect((await t.client.status({ cardNo })).card.status).toBe('expired');
        }
        await expect(t.client.payByCard({ cardNo: unpaid, mobile: MOBILE })).rejects.toMatchObject({
          type: 'card_state',
        });
        const used = await paidCard(1);
        await sandbox('Redeem', { card_no: used });
        const banned = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card.card_no;
        await t.client.ban({ cardNo: banned });
        for (const cardNo of [used, banned]) {
          expect(await sandbox('Expire', { card_no: cardNo }), cardNo).toMatchObject({
            status: 406,
            type: 'card_state',
          });
        }
        const events = await t.db.kysely
          .selectFrom('card_events')
          .select(['card_no', 'type', 'actor'])
          .where('type', '=', 'expired')
          .orderBy('at')
          .execute();
        expect(events.map((e) => e.card_no).sort()).toEqual([unpaid, paid].sort());
      });

      it("answers another partner's card like a card that does not exist", async () => {
        await makePartner(t.db, OTHER);
        const cardNo = await paidCard(1);
        for (const name of ['sandboxRedeem', 'sandboxUndo', 'sandboxExpire']) {
          expect(await call(name, t.signed(undefined, { card_no: cardNo }, OTHER)), name).toMatchObject({
            status: 400,
            type: 'not_found',
          });
        }
        expect((await t.client.status({ cardNo })).card).toMatchObject({ status: 'active', used_count: '0' });
      });

      it('sends a signed test event to the callback URL and says what came back', async () => {
        expect(await sandbox('TestEvent')).toMatchObject({
          status: 200,
          event: { event_type: 'test', url: '', result: 'no_callback_url', http_status: '' },
        });
        const receiver = await startReceiver();
        const refusing = await startReceiver(500);
        try {
          await upsertCallback(t.db.kysely, 'CS000001', receiver.url, t.clock.now());
          const sent = await sandbox('TestEvent');
          expect(sent).toMatchObject({
            event: { url: receiver.url, result: 'delivered', http_status: '200', error: '' },
          });
          expect(receiver.received).toHaveLength(1);
          // A retry under the same req_id gets the first answer and sends nothing.
          const reqId = nextReqId();
          const again = await sandbox('TestEvent', {}, reqId);
          expect(await sandbox('TestEvent', {}, reqId)).toEqual(again);
          expect(receiver.received).toHaveLength(2);
          const got = receiver.received[0]!;
          expect(got).toMatchObject({
            partner_id: 'CS000001',
            sec_id: 'test',
            event_type: 'test',
            card_no: '0000000000000000',
            event_id: (sent.event as Json).event_id,
          });
          const signed = SIGNED_ORDER.map((n) => got[n]).join('') + KEY;
          expect(got.hashcode).toBe(createHash('md5').update(signed, 'utf8').digest('hex'));
          // Nothing is kept for the outbox to send again.
          expect(await t.db.kysely.selectFrom('notify_events').selectAll().execute()).toEqual([]);

          await upsertCallback(t.db.kysely, 'CS000001', refusing.url, t.clock.now());
          expect(await sandbox('TestEvent')).toMatchObject({
            event: { result: 'failed', http_status: '500', error: 'HTTP 500' },
          });
        } finally {
          await receiver.close();
          await refusing.close();
        }
      });
    });
  });
}
