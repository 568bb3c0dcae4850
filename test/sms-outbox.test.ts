import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Db } from '../src/db/database.js';
import { DEFAULT_OUTBOX, type OutboxOptions, SmsOutbox } from '../src/workers/sms-outbox.js';
import { fileSender, httpSender, type SmsMessage, type SmsSender } from '../src/workers/sms-senders.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const MOBILE = '13812345678';
const quiet = { warn: () => {}, error: () => {} };

/** A sender whose sends run until the test ends them. */
class HeldSender implements SmsSender {
  readonly name = 'held';
  readonly sends: { message: SmsMessage; end: (err?: Error) => void }[] = [];
  send(message: SmsMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sends.push({ message, end: (err) => (err ? reject(err) : resolve()) });
    });
  }
}

/** Polls until `check` holds; the bound only ends a test that would otherwise hang. */
const waitFor = (what: string, check: () => boolean | Promise<boolean>) =>
  vi.waitFor(
    async () => {
      if (!(await check())) throw new Error(`still waiting for ${what}`);
    },
    { timeout: 20_000, interval: 5 },
  );

/** The database as a worker sees it whose renewals no longer arrive (killed, or cut off). */
const cutOff = (db: Db): Db => ({
  ...db,
  renewSmsLeases: () => Promise.reject(new Error('connection lost')),
});

for (const engine of engines()) {
  describe(`SMS outbox (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const paidCard = async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      return (await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE })).card;
    };
    const outbox = (maxAttempts = 3) =>
      new SmsOutbox(t.db, t.clock, t.sms, t.secrets, quiet, {
        maxAttempts,
        leaseMs: 60_000,
        concurrency: 10,
        pollMs: 50,
        backoffBaseMs: 1_000,
        backoffMaxMs: 4_000,
      });
    const message = () => t.db.kysely.selectFrom('sms_messages').selectAll().executeTakeFirstOrThrow();
    const sentEvents = async () =>
      (await t.db.kysely.selectFrom('card_events').select('type').execute()).filter(
        (e) => e.type === 'sms_sent',
      ).length;

    it('never fails a payment when the gateway is down, retries with backoff and delivers once it recovers', async () => {
      t.sms.failing = true;
      const card = await paidCard();
      expect(card.status).toBe('active');
      const box = outbox(5);
      expect(await box.runOnce()).toBe(1);
      expect(await box.runOnce()).toBe(0); // backing off
      t.clock.advance(1_000);
      expect(await box.runOnce()).toBe(1);
      t.clock.advance(1_999);
      expect(await box.runOnce()).toBe(0);
      t.sms.failing = false;
      t.clock.advance(1);
      expect(await box.runOnce()).toBe(1);
      expect(t.sms.sent).toHaveLength(1);
      expect(t.sms.attempts).toBe(3);
      const row = await t.db.kysely.selectFrom('sms_messages').selectAll().executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'sent', attempts: 3, last_error: null });
      expect((await t.client.status({ cardNo: card.card_no })).card.sms_status).toBe('sent');
    });

    it('marks a message failed after the bounded number of tries and shows it on the card', async () => {
      t.sms.failing = true;
      const card = await paidCard();
      const box = outbox(3);
      for (let i = 0; i < 3; i++) {
        await box.runOnce();
        t.clock.advance(10_000);
      }
      expect(await box.runOnce()).toBe(0);
      const row = await t.db.kysely.selectFrom('sms_messages').selectAll().executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'failed', attempts: 3 });
      expect(row.last_error).toContain('gateway down');
      expect((await t.client.status({ cardNo: card.card_no })).card.sms_status).toBe('failed');
      // A resend queues a fresh message.
      t.sms.failing = false;
      await t.client.resendSms({ cardNo: card.card_no });
      await box.runOnce();
      expect((await t.client.status({ cardNo: card.card_no })).card.sms_status).toBe('sent');
    });

    it('does not send a message leased by another worker until its lease expires', async () => {
      await paidCard();
      const now = t.clock.now();
      const claimed = await t.db.claimDueSms(now, now + 60_000, 10);
      expect(claimed).toHaveLength(1);
      expect(await outbox().runOnce()).toBe(0);
      t.clock.advance(60_001);
      expect(await outbox().runOnce()).toBe(1);
      expect(t.sms.sent.map((m) => m.id)).toEqual([claimed[0]!.id]);
    });

    it('renews the lease of a message while its send runs, so a second worker does not take it', async () => {
      const card = await paidCard();
      const held = new HeldSender();
      // A lease of 300 ms renewed every 100 ms of real time, against the test's clock.
      const opts: OutboxOptions = { ...DEFAULT_OUTBOX, leaseMs: 300, pollMs: 50 };
      const first = new SmsOutbox(t.db, t.clock, held, t.secrets, quiet, opts);
      const pass = first.runOnce();
      await waitFor('the send to start', () => held.sends.length === 1);
      // Each step stays inside the lease as last renewed; from the second on, the send has run
      // past the lease it was claimed with.
      for (let i = 0; i < 5; i++) {
        t.clock.advance(200);
        expect(await outbox().runOnce()).toBe(0);
        const renewedTo = t.clock.now() + 300;
        await waitFor('a renewal', async () => (await message()).locked_until === renewedTo);
      }
      expect(t.sms.attempts).toBe(0);
      held.sends[0]!.end();
      expect(await pass).toBe(1);
      expect(await message()).toMatchObject({ status: 'sent', attempts: 1, locked_until: 0 });
      expect((await t.client.status({ cardNo: card.card_no })).card.sms_status).toBe('sent');
      expect(await outbox().runOnce()).toBe(0);
      expect(t.sms.attempts).toBe(0);
      expect(held.sends).toHaveLength(1);
    });

    it("sends a killed worker's message once its 15 s lease has run out", async () => {
      const card = await paidCard();
      const held = new HeldSender();
      // Leases with the default lease, then neither renews, records nor leases anything more.
      const killed = new SmsOutbox(cutOff(t.db), t.clock, held, t.secrets, quiet, {
        ...DEFAULT_OUTBOX,
        pollMs: 3_600_000,
      });
      const pass = killed.runOnce();
      await waitFor('the send to start', () => held.sends.length === 1);
      t.clock.advance(14_999);
      expect(await outbox().runOnce()).toBe(0);
      t.clock.advance(2);
      expect(await outbox().runOnce()).toBe(1);
      expect(t.sms.sent.map((m) => m.id)).toEqual([held.sends[0]!.message.id]);
      expect((await t.client.status({ cardNo: card.card_no })).card.sms_status).toBe('sent');
      held.sends[0]!.end(new Error('killed'));
      await pass;
      expect(await message()).toMatchObject({ status: 'sent', attempts: 1, last_error: null });
    });

    it('does not let a worker that lost its lease overwrite the new holder', async () => {
      const card = await paidCard();
      const warnings: string[] = [];
      const log = { warn: (_: object, msg: string) => warnings.push(msg), error: () => {} };
      const opts: OutboxOptions = { ...DEFAULT_OUTBOX, leaseMs: 300, pollMs: 3_600_000 };
      // The first worker runs on another machine whose clock is 50 ms ahead; its renewals do
      // not reach the database for a while, and its send hangs past the lease.
      let reachable = false;
      const firstDb: Db = {
        ...t.db,
        renewSmsLeases: (...args) =>
          reachable ? t.db.renewSmsLeases(...args) : Promise.reject(new Error('connection lost')),
      };
      const stalled = new HeldSender();
      const first = new SmsOutbox(firstDb, { now: () => t.clock.now() + 50 }, stalled, t.secrets, log, opts);
      const firstPass = first.runOnce();
      await waitFor('the first send to start', () => stalled.sends.length === 1);
      t.clock.advance(351);
      const taker = new HeldSender();
      const second = new SmsOutbox(t.db, t.clock, taker, t.secrets, quiet, opts);
      const secondPass = second.runOnce();
      await waitFor('the second send to start', () => taker.sends.length === 1);
      const taken = await message();
      expect(taken.locked_until).toBe(t.clock.now() + 300);

      // Back in reach, the first worker finds its lease gone and leaves the second's alone.
      reachable = true;
      await waitFor('the first worker to notice', () =>
        warnings.includes('sms outbox lost a lease while the attempt runs'),
      );
      expect(await message()).toEqual(taken);
      // Its send fails late; recording that would requeue the message under the second's feet.
      stalled.sends[0]!.end(new Error('gateway timeout'));
      expect(await firstPass).toBe(1);
      expect(await message()).toEqual(taken);
      expect(warnings).toContain('sms outbox lost the lease before recording; result not recorded');
      expect(await outbox().runOnce()).toBe(0);

      taker.sends[0]!.end();
      expect(await secondPass).toBe(1);
      expect(await message()).toMatchObject({ status: 'sent', attempts: 1, last_error: null });
      expect((await t.client.status({ cardNo: card.card_no })).card.sms_status).toBe('sent');
      expect(await sentEvents()).toBe(1);
      expect(t.sms.attempts).toBe(0);
    });
  });
}

describe('SMS senders', () => {
  let server: http.Server;
  let received: { id: string; mobile: string; text: string; key: string | undefined }[] = [];
  let mode: 'ok' | 'fail' | 'hang' = 'ok';
  let url = '';
  beforeEach(async () => {
    received = [];
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (mode === 'hang') return;
        if (mode === 'fail') {
          res.writeHead(502).end('bad gateway');
          return;
        }
        received.push({
          ...(JSON.parse(body) as { id: string; mobile: string; text: string }),
          key: req.headers['idempotency-key'] as string,
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('posts JSON with a stable message id to an http gateway', async () => {
    mode = 'ok';
    await httpSender(url, 1_000).send({ id: 'm-1', mobile: MOBILE, text: '您好' });
    expect(received).toEqual([{ id: 'm-1', mobile: MOBILE, text: '您好', key: 'm-1' }]);
  });

  it('treats a non-2xx answer and a hang past the timeout as failures', async () => {
    mode = 'fail';
    await expect(httpSender(url, 1_000).send({ id: 'm-2', mobile: MOBILE, text: 'x' })).rejects.toThrow(
      /502/,
    );
    // The gateway never answers nor closes: only the sender's own timeout can end the send.
    mode = 'hang';
    await expect(httpSender(url, 200).send({ id: 'm-3', mobile: MOBILE, text: 'x' })).rejects.toThrow(
      /timeout/i,
    );
  });

  it('appends one JSON line per message to a file', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mt-sms-')), 'sms.jsonl');
    const sender = fileSender(file);
    await sender.send({ id: 'a', mobile: MOBILE, text: 'one' });
    await sender.send({ id: 'b', mobile: MOBILE, text: 'two' });
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; text: string });
    expect(lines.map((l) => [l.id, l.text])).toEqual([
      ['a', 'one'],
      ['b', 'two'],
    ]);
  });
});
