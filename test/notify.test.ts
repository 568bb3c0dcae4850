import { createHash } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PartnerAdminService } from '../src/domain/admin/partner-admin.service.js';
import { RedemptionService, type StaffUser } from '../src/domain/admin/redemption.service.js';
import { formatYmdHis } from '../src/domain/time.js';
import { sweepExpired } from '../src/workers/expiry.js';
import { upsertCallback } from '../src/db/notify.repository.js';
import { CallbackPolicy } from '../src/domain/callback-policy.js';
import { callbackTransport, type Resolver } from '../src/workers/callback-transport.js';
import { DEFAULT_NOTIFY_OUTBOX, NotifyOutbox } from '../src/workers/notify-outbox.js';
import { adminCall, makeUser, newOnce, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { KEY } from './support/factories.js';
import { cardAdminOf, makeTestApp, type TestApp } from './support/harness.js';

const TZ = 'Asia/Shanghai';
const MOBILE = '13812345678';
const MIN = 60_000;
const HOUR = 60 * MIN;
const ROOT = { actor: 'cli:test', role: 'admin' as const };
const quiet = { warn: () => {}, error: () => {} };
/** The test receivers listen on loopback: the operator's allowance that lets callbacks reach them. */
const LOOPBACK_ALLOWED = ['127.0.0.1'];
/** A resolver that answers every name with `addresses`, as DNS under someone else's control may. */
const resolvesTo =
  (...addresses: string[]): Resolver =>
  async () =>
    addresses.map((address) => ({ address, family: net.isIP(address) }));
const WIRE_ORDER = [
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
  'hashcode',
];

interface Received {
  contentType: string | undefined;
  /** Parameters in the order they were sent. */
  entries: [string, string][];
  params: Record<string, string>;
  /** The HTTP status the receiver answered. */
  answered: number;
}

/** A partner's callback endpoint on a real port; answers `status`. */
async function startReceiver() {
  const received: Received[] = [];
  const state = { status: 200, location: '' };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const entries = [...new URLSearchParams(body).entries()];
      received.push({
        contentType: req.headers['content-type'],
        entries,
        params: Object.fromEntries(entries),
        answered: state.status,
      });
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      if (state.location) headers.location = state.location;
      res.writeHead(state.status, headers).end(state.status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
  return {
    url,
    received,
    state,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A loopback port that only counts the connections made to it. */
async function startListener() {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** What the partner computes: md5 of every value but hashcode, in the order sent, + its md5key. */
function partnerSignature(entries: [string, string][], md5key: string): string {
  const signed = entries.filter(([k]) => k !== 'hashcode').map(([, v]) => v);
  return createHash('md5')
    .update(signed.join('') + md5key, 'utf8')
    .digest('hex');
}

const staff = (cinemaId: string): StaffUser => ({
  userId: `u-${cinemaId}`,
  role: 'cinema',
  cinemaId,
  username: `staff${cinemaId}`,
});

for (const engine of engines()) {
  describe(`partner notify (${engine.name})`, () => {
    let t: TestApp;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let partners: PartnerAdminService;
    let outbox: NotifyOutbox;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open(), { config: { callbackAllow: LOOPBACK_ALLOWED } });
      receiver = await startReceiver();
      partners = new PartnerAdminService(t.db, t.clock, new CallbackPolicy(LOOPBACK_ALLOWED));
      outbox = outboxWith(callbackTransport(new CallbackPolicy(LOOPBACK_ALLOWED)));
    });
    afterEach(async () => {
      await t.close();
      await receiver.close();
    });
    afterAll(() => engine.cleanup());

    const outboxWith = (transport: ConstructorParameters<typeof NotifyOutbox>[4]) =>
      new NotifyOutbox(t.db, t.clock, quiet, { ...DEFAULT_NOTIFY_OUTBOX, timeZone: TZ }, transport);
    const events = () => t.db.kysely.selectFrom('notify_events').selectAll().orderBy('created_at').execute();
    const eventOf = (id: string) =>
      t.db.kysely
        .selectFrom('notify_events')
        .selectAll()
        .where('event_id', '=', id)
        .executeTakeFirstOrThrow();
    const newCard = async (count = 1) =>
      (await t.client.buyByCinema({ cinemaId: '1001', count })).card.card_no;
    const paidCard = async (count = 1) => {
      const cardNo = await newCard(count);
      const paid = await t.client.payByCard({ cardNo, mobile: MOBILE });
      return { cardNo, password: paid.card.password };
    };

    it('POSTs one signed event with a stable event_id when the partner bans a card', async () => {
      await partners.setCallback(ROOT, 'CS000001', receiver.url);
      const cardNo = await newCard(2);
      await t.client.ban({ cardNo });
      // Banning a banned card again changes nothing, so it tells the partner nothing new.
      await t.client.ban({ cardNo });
      const [row, ...more] = await events();
      expect(more).toHaveLength(0);
      expect(row).toMatchObject({
        partner_id: 'CS000001',
        card_no: cardNo,
        type: 'banned',
        status: 'queued',
      });

      expect(await outbox.runOnce()).toBe(1);
      expect(receiver.received).toHaveLength(1);
      const got = receiver.received[0]!;
      expect(got.contentType).toMatch(/^application\/x-www-form-urlencoded/);
      expect(got.entries.map(([k]) => k)).toEqual(WIRE_ORDER);
      expect(got.params).toMatchObject({
        partner_id: 'CS000001',
        sec_id: 'test',
        event_id: row!.event_id,
        event_type: 'banned',
        card_no: cardNo,
        status: 'banned',
        used_count: '0',
        remaining: '2',
        occurred_at: formatYmdHis(row!.created_at, TZ),
        timestamp: formatYmdHis(t.clock.now(), TZ),
      });
      expect(Number(got.params.seq)).toBeGreaterThan(1);
      expect(got.params.hashcode).toBe(partnerSignature(got.entries, KEY));
      expect(got.params.hashcode).not.toBe(partnerSignature(got.entries, 'another-key'));

      expect(await eventOf(row!.event_id)).toMatchObject({
        status: 'delivered',
        attempts: 1,
        last_status: 200,
        last_error: null,
        delivered_at: t.clock.now(),
      });
      t.clock.advance(HOUR);
      expect(await outbox.runOnce()).toBe(0);
      expect(receiver.received).toHaveLength(1);
    });

    it('retries a failing receiver with backoff under the same event_id and delivers once it recovers', async () => {
      await partners.setCallback(ROOT, 'CS000001', receiver.url);
      receiver.state.status = 500;
      const cardNo = await newCard();
      await t.client.ban({ cardNo });
      const { event_id: eventId, created_at: created } = (await events())[0]!;

      expect(await outbox.runOnce()).toBe(1);
      expect(await eventOf(eventId)).toMatchObject({
        status: 'queued',
        attempts: 1,
        last_status: 500,
        last_error: 'HTTP 500',
        next_attempt_at: created + 30_000,
      });
      expect(await outbox.runOnce()).toBe(0); // backing off
      t.clock.advance(29_999);
      expect(await outbox.runOnce()).toBe(0);
      t.clock.advance(1);
      expect(await outbox.runOnce()).toBe(1);
      expect((await eventOf(eventId)).next_attempt_at).toBe(t.clock.now() + 60_000);
      t.clock.advance(60_000);
      receiver.state.status = 200;
      expect(await outbox.runOnce()).toBe(1);
      t.clock.advance(HOUR);
      expect(await outbox.runOnce()).toBe(0);

      expect(receiver.received.map((r) => r.answered)).toEqual([500, 500, 200]);
      expect(new Set(receiver.received.map((r) => r.params.event_id))).toEqual(new Set([eventId]));
      // Each attempt is signed afresh for its own timestamp.
      for (const r of receiver.received) expect(r.params.hashcode).toBe(partnerSignature(r.entries, KEY));
      expect(receiver.received[1]!.params.timestamp).not.toBe(receiver.received[0]!.params.timestamp);
      expect(await eventOf(eventId)).toMatchObject({ status: 'delivered', attempts: 3, last_status: 200 });
      expect(await events()).toHaveLength(1);
    });

    it("takes over a stalled worker's event after the 15 s lease and keeps the stalled worker's late answer out", async () => {
      await partners.setCallback(ROOT, 'CS000001', receiver.url);
      const cardNo = await newCard();
      await t.client.ban({ cardNo });
      const { event_id: eventId } = (await events())[0]!;
      // Its POST hangs and its renewals do not reach the database.
      let answer: (status: number) => void = () => {};
      const hanging = new Promise<number>((resolve) => (answer = resolve));
      let posts = 0;
      const stalled = new NotifyOutbox(
        { ...t.db, renewNotifyLeases: () => Promise.reject(new Error('connection lost')) },
        t.clock,
        quiet,
        { ...DEFAULT_NOTIFY_OUTBOX, timeZone: TZ, pollMs: HOUR },
        () => (posts++, hanging),
      );
      const pass = stalled.runOnce();
      await vi.waitFor(() => expect(posts).toBe(1), { timeout: 20_000 });
      t.clock.advance(14_999);
      expect(await outbox.runOnce()).toBe(0);
      t.clock.advance(2);
      expect(await outbox.runOnce()).toBe(1);
      expect(await eventOf(eventId)).toMatchObject({ status: 'delivered', attempts: 1, last_status: 200 });
      answer(500);
      expect(await pass).toBe(1);
      expect(await eventOf(eventId)).toMatchObject({ status: 'delivered', attempts: 1, last_status: 200 });
      expect(receiver.received).toHaveLength(1);
    });

    it('gives up 24 hours after the event, and a manual retry delivers it again with the same event_id', async () => {
      await partners.setCallback(ROOT, 'CS000001', receiver.url);
      receiver.state.status = 503;
      const cardNo = await newCard();
      await t.client.ban({ cardNo });
      const [first] = await events();
      const eventId = first!.event_id;
      for (let pass = 0; pass < 100; pass++) {
        expect(await outbox.runOnce()).toBe(1);
        const row = await eventOf(eventId);
        if (row.status !== 'queued') break;
        expect(row.next_attempt_at).toBeGreaterThan(t.clock.now());
        expect(row.next_attempt_at - t.clock.now()).toBeLessThanOrEqual(HOUR);
        t.clock.set(row.next_attempt_at);
      }
      const failed = await eventOf(eventId);
      expect(failed).toMatchObject({ status: 'failed', last_status: 503, last_error: 'HTTP 503' });
      // The last try is at the 24-hour mark; backoff 30 s doubling, capped at an hour.
      expect(t.clock.now()).toBe(failed.created_at + 24 * HOUR);
      expect(failed.attempts).toBe(31);
      expect(receiver.received).toHaveLength(31);
      t.clock.advance(HOUR);
      expect(await outbox.runOnce()).toBe(0);

      receiver.state.status = 200;
      const view = await partners.retryNotify({ actor: 'user:otto', role: 'operator' }, eventId);
      expect(view).toMatchObject({ eventId, status: 'queued', nextAttemptAt: t.clock.now() });
      expect(await outbox.runOnce()).toBe(1);
      expect(await eventOf(eventId)).toMatchObject({ status: 'delivered', attempts: 32, last_status: 200 });
      expect(new Set(receiver.received.map((r) => r.params.event_id))).toEqual(new Set([eventId]));
      const audit = await t.db.kysely
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'notify.retry')
        .execute();
      expect(audit).toMatchObject([{ actor: 'user:otto', entity_type: 'partner', entity_id: 'CS000001' }]);
      expect(JSON.parse(audit[0]!.before!)).toMatchObject({ event_id: eventId, status: 'failed' });
    });

    it('records redemption, its undo and expiry in the transaction that changes the card', async () => {
      await partners.setCallback(ROOT, 'CS000001', receiver.url);
      const redemption = new RedemptionService({
        db: t.db,
        clock: t.clock,
        timeZone: TZ,
        secrets: t.secrets,
      });
      const { cardNo, password } = await paidCard(2);
      const redeemed = await redemption.redeem(staff('1001'), cardNo, password, 2);
      await redemption.undo(staff('1001'), redeemed.redemption_id);
      // A wrong password changes nothing a partner sees.
      await expect(redemption.redeem(staff('1001'), cardNo, 'wrong', 1)).rejects.toThrow();
      const unpaid = await newCard();
      t.clock.advance(31 * MIN);
      expect(await sweepExpired(t.db, t.clock)).toBe(1);

      expect(await outbox.runOnce()).toBe(3);
      const byType = Object.fromEntries(receiver.received.map((r) => [r.params.event_type, r.params]));
      expect(Object.keys(byType).sort()).toEqual(['expired', 'redeemed', 'redemption_undone']);
      expect(byType.redeemed).toMatchObject({
        card_no: cardNo,
        status: 'used',
        used_count: '2',
        remaining: '0',
      });
      expect(byType.redemption_undone).toMatchObject({
        card_no: cardNo,
        status: 'active',
        used_count: '0',
        remaining: '2',
      });
      expect(Number(byType.redemption_undone!.seq)).toBeGreaterThan(Number(byType.redeemed!.seq));
      expect(byType.expired).toMatchObject({
        card_no: unpaid,
        status: 'expired',
        used_count: '0',
        remaining: '1',
      });
      for (const r of receiver.received) expect(r.params.hashcode).toBe(partnerSignature(r.entries, KEY));
      expect((await events()).every((e) => e.status === 'delivered')).toBe(true);
    });

    it('records an operator ban too, and nothing for a change that fails', async () => {
      await partners.setCallback(ROOT, 'CS000001', receiver.url);
      const cards = cardAdminOf(t, TZ);
      const unused = await newCard();
      await cards.ban('user:otto', unused, 'fraud');
      const { cardNo, password } = await paidCard(1);
      await new RedemptionService({ db: t.db, clock: t.clock, timeZone: TZ, secrets: t.secrets }).redeem(
        staff('1001'),
        cardNo,
        password,
        1,
      );
      await expect(cards.ban('user:otto', cardNo, 'too late')).rejects.toThrow(/cannot ban/);
      expect((await events()).map((e) => [e.type, e.card_no])).toEqual([
        ['banned', unused],
        ['redeemed', cardNo],
      ]);
    });

    it("delivers on its own once the app's workers run, soon after the partner's ban", async () => {
      await partners.setCallback(ROOT, 'CS000001', receiver.url);
      t.app.startWorkers();
      const cardNo = await newCard();
      await t.client.ban({ cardNo });
      await vi.waitFor(() => expect(receiver.received).toHaveLength(1), { timeout: 20_000 });
      expect(receiver.received[0]!.params).toMatchObject({ event_type: 'banned', card_no: cardNo });
      await vi.waitFor(async () => expect((await events())[0]!.status).toBe('delivered'), {
        timeout: 20_000,
      });
    });

    it('records nothing for a partner without a callback URL, and fails queued events once it is removed', async () => {
      await t.client.ban({ cardNo: await newCard() });
      expect(await events()).toHaveLength(0);

      await partners.setCallback(ROOT, 'CS000001', receiver.url);
      await t.client.ban({ cardNo: await newCard() });
      await partners.setCallback(ROOT, 'CS000001', '');
      await t.client.ban({ cardNo: await newCard() });
      const rows = await events();
      expect(rows).toHaveLength(1);
      expect(await outbox.runOnce()).toBe(1);
      expect(receiver.received).toHaveLength(0);
      expect(await eventOf(rows[0]!.event_id)).toMatchObject({
        status: 'failed',
        last_error: 'no callback URL',
      });

      const audit = await t.db.kysely
        .selectFrom('audit_log')
        .select(['before', 'after'])
        .where('action', '=', 'partner.callback')
        .orderBy('at')
        .execute();
      expect(audit.map((a) => [JSON.parse(a.before!), JSON.parse(a.after!)])).toEqual([
        [{ callbackUrl: null }, { callbackUrl: receiver.url }],
        [{ callbackUrl: receiver.url }, { callbackUrl: null }],
      ]);
    });

    it('refuses callback URLs that are not absolute http(s) URLs without credentials', async () => {
      for (const bad of [
        'ftp://x.example/n',
        'notify',
        'http://user:pw@x.example/n',
        `https://x.example/${'a'.repeat(600)}`,
      ]) {
        await expect(partners.setCallback(ROOT, 'CS000001', bad), bad).rejects.toMatchObject({
          code: 'invalid',
          field: 'callback_url',
        });
      }
      await expect(partners.setCallback(ROOT, 'ZZ000009', receiver.url)).rejects.toMatchObject({
        code: 'not_found',
      });
      await expect(
        partners.setCallback({ actor: 'user:cici', role: 'cinema' }, 'CS000001', receiver.url),
      ).rejects.toMatchObject({ code: 'forbidden' });
    });

    it('refuses callback URLs into this host or a private network, in every spelling, by default', async () => {
      const strict = new PartnerAdminService(t.db, t.clock);
      const refused: [string, string][] = [
        ['http://127.0.0.1:8080/notify', '127.0.0.1'],
        ['http://127.1/notify', '127.0.0.1'],
        ['http://[::1]/notify', '::1'],
        ['http://localhost:8080/notify', 'localhost'],
        ['https://LOCALHOST./notify', 'localhost'],
        ['http://admin.localhost/notify', 'admin.localhost'],
        ['http://0x7f000001/notify', '127.0.0.1'],
        ['http://2130706433/notify', '127.0.0.1'],
        ['http://0177.0.0.1/notify', '127.0.0.1'],
        ['http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
        ['http://10.0.0.5/notify', '10.0.0.5'],
        ['http://172.16.3.4/notify', '172.16.3.4'],
        ['http://172.31.255.254/notify', '172.31.255.254'],
        ['http://192.168.1.1/notify', '192.168.1.1'],
        ['http://100.64.0.1/notify', '100.64.0.1'],
        ['http://[fc00::1]/notify', 'fc00::1'],
        ['http://[fd12:3456::1]/notify', 'fd12:3456::1'],
        ['http://[fe80::1]/notify', 'fe80::1'],
        ['http://[::ffff:127.0.0.1]/notify', '::ffff:7f00:1'],
        ['http://[::ffff:10.1.2.3]/notify', '::ffff:a01:203'],
        ['http://0.0.0.0/notify', '0.0.0.0'],
        ['http://0/notify', '0.0.0.0'],
        ['http://[::]/notify', '::'],
      ];
      for (const [url, address] of refused) {
        const err = await strict.setCallback(ROOT, 'CS000001', url).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, url).toMatchObject({ code: 'invalid', field: 'callback_url' });
        expect((err as Error).message, url).toMatch(
          new RegExp(`^callback_url must not point to this host or a private network: \\S+ is a .+ address`),
        );
        expect((err as Error).message, url).toContain(` ${address} is a `);
      }
      expect(await strict.notifyLog(ROOT, 'CS000001')).toMatchObject({ callbackUrl: null });
      // Public addresses and names (checked again when sending) are fine.
      for (const url of ['https://notify.partner.example.com/n', 'http://8.8.8.8/n', 'http://172.32.0.1/n']) {
        expect((await strict.setCallback(ROOT, 'CS000001', url)).callbackUrl).toBe(url);
      }
      // The operator's allowance lets named hosts and ranges through, and only those.
      const allowing = new PartnerAdminService(
        t.db,
        t.clock,
        new CallbackPolicy(['notify.lan', '10.20.0.0/16', 'localhost']),
      );
      for (const url of ['http://10.20.9.9/n', 'http://localhost:9/n', 'http://NOTIFY.LAN/n']) {
        await expect(allowing.setCallback(ROOT, 'CS000001', url), url).resolves.toBeTruthy();
      }
      await expect(allowing.setCallback(ROOT, 'CS000001', 'http://10.21.0.1/n')).rejects.toMatchObject({
        field: 'callback_url',
      });
    });

    it('refuses such a URL through the admin API, and in Chinese on the console', async () => {
      const s = await signIn(t, await makeUser(t, 'operator'));
      const api = await adminCall(t, 'PUT', '/admin/api/partners/CS000001/callback', {
        session: s,
        body: { url: 'http://169.254.169.254/latest/meta-data/' },
      });
      expect(api.status).toBe(400);
      expect(api.json()).toMatchObject({
        error: {
          code: 'invalid',
          field: 'callback_url',
          message: expect.stringMatching(/169\.254\.169\.254 is a link-local address/),
        },
      });
      const page = await t.app.fastify.inject({
        method: 'POST',
        url: '/admin/partners/CS000001/callback',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookie },
        payload: new URLSearchParams({
          _csrf: s.csrf,
          _once: newOnce(),
          callback_url: 'http://10.0.0.5/notify',
        }).toString(),
      });
      expect(page.statusCode).toBe(400);
      expect(page.body).toContain('回调 URL 不能指向本机或内网：10.0.0.5 是内网地址');
      expect(await partners.notifyLog(ROOT, 'CS000001')).toMatchObject({ callbackUrl: null });
    });

    it('refuses at delivery a host name that resolves to this host, and connects to nothing', async () => {
      const listener = await startListener();
      try {
        // The name passes when it is set; what it resolves to is only known when sending.
        await new PartnerAdminService(t.db, t.clock).setCallback(
          ROOT,
          'CS000001',
          `http://notify.partner.example:${listener.port}/n`,
        );
        await t.client.ban({ cardNo: await newCard() });
        const { event_id: eventId } = (await events())[0]!;
        const strict = (resolver: Resolver) => outboxWith(callbackTransport(new CallbackPolicy(), resolver));

        expect(await strict(resolvesTo('127.0.0.1')).runOnce()).toBe(1);
        expect(await eventOf(eventId)).toMatchObject({
          status: 'queued',
          attempts: 1,
          last_status: null,
          last_error: 'callback_refused: notify.partner.example → 127.0.0.1 is a loopback address; not sent',
        });
        // Every address is checked: one public answer does not let the private one through.
        t.clock.advance(HOUR);
        expect(await strict(resolvesTo('93.184.216.34', '::ffff:127.0.0.1')).runOnce()).toBe(1);
        expect((await eventOf(eventId)).last_error).toBe(
          'callback_refused: notify.partner.example → ::ffff:127.0.0.1 is a loopback address; not sent',
        );
        // A URL stored before the rules existed is checked when sending too (system resolver).
        await upsertCallback(t.db.kysely, 'CS000001', `http://localhost:${listener.port}/n`, t.clock.now());
        t.clock.advance(HOUR);
        expect(await outboxWith(undefined).runOnce()).toBe(1);
        expect((await eventOf(eventId)).last_error).toBe(
          'callback_refused: localhost is a loopback address; not sent',
        );
        await upsertCallback(
          t.db.kysely,
          'CS000001',
          `http://[::ffff:7f00:1]:${listener.port}/n`,
          t.clock.now(),
        );
        t.clock.advance(HOUR);
        expect(await outboxWith(undefined).runOnce()).toBe(1);
        expect((await eventOf(eventId)).last_error).toMatch(
          /^callback_refused: ::ffff:7f00:1 is a loopback address/,
        );
        expect(listener.connections()).toBe(0);

        // The console says it was refused, in Chinese, not as a connection outcome.
        const s = await signIn(t, await makeUser(t, 'operator'));
        const page = await t.app.fastify.inject({
          url: '/admin/partners/CS000001',
          headers: { cookie: s.cookie },
        });
        expect(page.body).toContain('已拒绝投递：::ffff:7f00:1 是本机回环地址，未发送（callback_refused）');
        expect((await partners.notifyLog(ROOT, 'CS000001')).events[0]).toMatchObject({
          lastStatus: null,
          lastError: expect.stringMatching(/^callback_refused: /),
        });
      } finally {
        await listener.close();
      }
    });

    it('delivers to a name or range the operator allowed, to the address it checked', async () => {
      await new PartnerAdminService(t.db, t.clock).setCallback(
        ROOT,
        'CS000001',
        receiver.url.replace('127.0.0.1', 'notify.partner.example'),
      );
      const cardNo = await newCard();
      await t.client.ban({ cardNo });
      const byRange = callbackTransport(new CallbackPolicy(['127.0.0.0/8']), resolvesTo('127.0.0.1'));
      expect(await outboxWith(byRange).runOnce()).toBe(1);
      expect(receiver.received.map((r) => r.params.card_no)).toEqual([cardNo]);

      const second = await newCard();
      await t.client.ban({ cardNo: second });
      const byName = callbackTransport(
        new CallbackPolicy(['notify.partner.example']),
        resolvesTo('127.0.0.1'),
      );
      expect(await outboxWith(byName).runOnce()).toBe(1);
      expect(receiver.received.map((r) => r.params.card_no)).toEqual([cardNo, second]);
      expect((await events()).every((e) => e.status === 'delivered')).toBe(true);
    });

    it('does not follow a redirect, wherever it points', async () => {
      const listener = await startListener();
      try {
        await partners.setCallback(ROOT, 'CS000001', receiver.url);
        receiver.state.status = 302;
        receiver.state.location = `http://127.0.0.1:${listener.port}/internal`;
        await t.client.ban({ cardNo: await newCard() });
        expect(await outbox.runOnce()).toBe(1);
        expect((await events())[0]).toMatchObject({
          status: 'queued',
          last_status: 302,
          last_error: 'HTTP 302',
        });
        expect(receiver.received).toHaveLength(1);
        expect(listener.connections()).toBe(0);
      } finally {
        await listener.close();
      }
    });

    it('sets the callback, lists the delivery log and retries through the admin API', async () => {
      const s = await signIn(t, await makeUser(t, 'operator'));
      const bad = await adminCall(t, 'PUT', '/admin/api/partners/CS000001/callback', {
        session: s,
        body: { url: 'javascript:alert(1)' },
      });
      expect(bad.status).toBe(400);
      expect(bad.json()).toMatchObject({ error: { code: 'invalid', field: 'callback_url' } });
      const set = await adminCall(t, 'PUT', '/admin/api/partners/CS000001/callback', {
        session: s,
        body: { url: receiver.url },
      });
      expect(set.status).toBe(200);
      expect(set.json()).toEqual({ partnerId: 'CS000001', callbackUrl: receiver.url });

      receiver.state.status = 500;
      const cardNo = await newCard();
      await t.client.ban({ cardNo });
      await outbox.runOnce();
      const log = await adminCall(t, 'GET', '/admin/api/partners/CS000001/notify', { session: s });
      expect(log.status).toBe(200);
      const body = log.json<{ callbackUrl: string; events: { eventId: string }[] }>();
      expect(body).toMatchObject({
        partnerId: 'CS000001',
        callbackUrl: receiver.url,
        events: [
          {
            cardNo,
            type: 'banned',
            cardStatus: 'banned',
            status: 'queued',
            attempts: 1,
            lastStatus: 500,
            lastError: 'HTTP 500',
          },
        ],
      });
      const eventId = body.events[0]!.eventId;

      receiver.state.status = 204;
      const retried = await adminCall(t, 'POST', `/admin/api/notify/${eventId}/retry`, { session: s });
      expect(retried.status).toBe(200);
      expect(retried.json()).toMatchObject({ eventId, status: 'queued', nextAttemptAt: t.clock.now() });
      expect(await outbox.runOnce()).toBe(1);
      expect(await eventOf(eventId)).toMatchObject({ status: 'delivered', last_status: 204 });
      const unknown = '00000000-0000-4000-8000-000000000000';
      expect((await adminCall(t, 'POST', `/admin/api/notify/${unknown}/retry`, { session: s })).status).toBe(
        404,
      );
      expect(
        (await adminCall(t, 'POST', `/admin/api/notify/${eventId}/retry`, { session: s, csrf: false }))
          .status,
      ).toBe(403);
      const cinema = await signIn(t, await makeUser(t, 'cinema', { cinemaId: '1001' }));
      expect(
        (await adminCall(t, 'GET', '/admin/api/partners/CS000001/notify', { session: cinema })).status,
      ).toBe(403);
    });

    it('shows the callback URL and the notify log on the console partner page with a retry button', async () => {
      const s = await signIn(t, await makeUser(t, 'operator'));
      const form = (url: string, fields: Record<string, string>) =>
        t.app.fastify.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookie },
          payload: new URLSearchParams({ _once: newOnce(), ...fields }).toString(),
        });
      const saved = await form('/admin/partners/CS000001/callback', {
        _csrf: s.csrf,
        callback_url: receiver.url,
      });
      expect(saved.statusCode).toBe(303);
      const refused = await form('/admin/partners/CS000001/callback', {
        _csrf: s.csrf,
        callback_url: 'ftp://x',
      });
      expect(refused.statusCode).toBe(400);
      expect(refused.body).toContain('ftp://x');

      receiver.state.status = 500;
      const cardNo = await newCard();
      await t.client.ban({ cardNo });
      await outbox.runOnce();
      const page = await t.app.fastify.inject({
        url: '/admin/partners/CS000001',
        headers: { cookie: s.cookie },
      });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain(`value="${receiver.url}"`);
      expect(page.body).toContain(cardNo);
      expect(page.body).toContain('HTTP 500');
      const eventId = (await events())[0]!.event_id;
      expect(page.body).toContain(`name="event_id" value="${eventId}"`);
      expect(page.body).toContain('重试');

      expect((await form('/admin/partners/CS000001/notify/retry', { event_id: eventId })).statusCode).toBe(
        403,
      );
      t.clock.advance(1_000);
      const retry = await form('/admin/partners/CS000001/notify/retry', { _csrf: s.csrf, event_id: eventId });
      expect(retry.statusCode).toBe(303);
      expect((await eventOf(eventId)).next_attempt_at).toBe(t.clock.now());
    });
  });
}
