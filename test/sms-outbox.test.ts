import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmsOutbox } from '../src/workers/sms-outbox.js';
import { fileSender, httpSender } from '../src/workers/sms-senders.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const MOBILE = '13812345678';
const quiet = { warn: () => {}, error: () => {} };

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
      new SmsOutbox(t.db, t.clock, t.sms, quiet, {
        maxAttempts,
        leaseMs: 60_000,
        batchSize: 10,
        pollMs: 50,
        backoffBaseMs: 1_000,
        backoffMaxMs: 4_000,
      });

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
    mode = 'hang';
    const started = Date.now();
    await expect(httpSender(url, 200).send({ id: 'm-3', mobile: MOBILE, text: 'x' })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
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
