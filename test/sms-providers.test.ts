import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { Db } from '../src/db/database.js';
import { ManualClock } from '../src/domain/clock.js';
import { SecretBox } from '../src/domain/secret-box.js';
import type { MovTicketClient } from '../src/client/index.js';
import { senderFromConfig } from '../src/workers/sms-senders.js';
import { adminCall, makeUser, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { makeCatalog, makePartner } from './support/factories.js';
import { FakeAliyun } from './support/fake-aliyun.js';
import { fakeProviderEnv } from './support/fake-provider-env.js';
import type { FakeProvider } from './support/fake-provider.js';
import { FakeTencent } from './support/fake-tencent.js';
import { listenWithClient, type TestApp } from './support/harness.js';

const MOBILE = '13812345678';
const METRICS_TOKEN = 'sms-providers-metrics-token-0123';
const SMS_TIMEOUT_MS = 1_000;
// Past every backoff the outbox can choose (its cap is 10 minutes).
const PAST_BACKOFF_MS = 11 * 60_000;
// Past the first retries' backoff (2 s, 4 s, …), three of them still inside Tencent's five minutes.
const RETRY_WITHIN_FIVE_MINUTES_MS = 60_000;
// Past the wait before a report is first asked for.
const PAST_FIRST_RECEIPT_MS = 5 * 60_000;
const quiet = { info: () => {} };

interface Rig {
  app: App;
  db: Db;
  clock: ManualClock;
  secrets: SecretBox;
  aliyun: FakeAliyun;
  tencent: FakeTencent;
  client: MovTicketClient;
  dir: string;
}

async function makeRig(db: Db, sms: string, env: Record<string, string> = {}): Promise<Rig> {
  await makeCatalog(db);
  await makePartner(db);
  const [aliyun, tencent] = await Promise.all([FakeAliyun.start(), FakeTencent.start()]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-sms-providers-'));
  const clock = new ManualClock(Date.now());
  const config = loadConfig(
    { ...fakeProviderEnv(sms, { aliyun: aliyun.url, tencent: tencent.url }, dir), ...env },
    { smsTimeoutMs: SMS_TIMEOUT_MS, smsMaxAttempts: 5, metricsToken: METRICS_TOKEN },
  );
  const secrets = SecretBox.generate();
  const app = await buildApp({ config, db, clock, sms: senderFromConfig(config, quiet), secrets });
  const client = await listenWithClient(app, clock);
  return { app, db, clock, secrets, aliyun, tencent, client, dir };
}

const smsRows = (db: Db) => db.kysely.selectFrom('sms_messages').selectAll().orderBy('created_at').execute();

async function payCard(r: Rig, mobile = MOBILE): Promise<string> {
  const { card } = await r.client.buyByCinema({ cinemaId: '1001', count: 2 });
  await r.client.payByCard({ cardNo: card.card_no, mobile });
  return card.card_no;
}

async function cardPassword(r: Rig, cardNo: string): Promise<string> {
  const row = await r.db.kysely
    .selectFrom('cards')
    .select('password')
    .where('card_no', '=', cardNo)
    .executeTakeFirstOrThrow();
  return r.secrets.open(row.password!);
}

async function metrics(r: Rig): Promise<string> {
  const res = await r.app.fastify.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  return res.body;
}

async function consolePage(r: Rig, url: string): Promise<string> {
  // The admin helpers need only the app, the database and the clock of a TestApp.
  const t = { app: r.app, db: r.db, clock: r.clock } as unknown as TestApp;
  const session = await signIn(
    t,
    await makeUser(t, 'operator', { username: `op${randomBytes(4).toString('hex')}` }),
  );
  const page = await adminCall(t, 'GET', url, { session });
  expect(page.status).toBe(200);
  return page.body;
}

const totalAccepted = (f: FakeProvider) => [...f.acceptances.values()].reduce((a, b) => a + b, 0);

for (const engine of engines()) {
  describe(`SMS providers (${engine.name})`, () => {
    let rig: Rig | undefined;
    beforeEach(() => {
      rig = undefined;
    });
    afterEach(async () => {
      if (!rig) return;
      await Promise.all([rig.aliyun.close(), rig.tencent.close()]);
      await rig.app.close();
      await rig.db.close();
      fs.rmSync(rig.dir, { recursive: true, force: true });
    });
    afterAll(() => engine.cleanup());

    it('sends the card through Aliyun as its approved template, signed, and records the handset report', async () => {
      const r = (rig = await makeRig(await engine.open(), 'aliyun'));
      const cardNo = await payCard(r);
      expect(await r.app.outbox.runOnce()).toBe(1);
      expect(r.aliyun.stats()).toMatchObject({ distinct: 1, duplicates: 0, badSignatures: 0, malformed: 0 });
      const [sms] = [...r.aliyun.delivered.values()];
      expect(sms).toMatchObject({ mobile: MOBILE });
      expect(sms!.params).toMatchObject({ card: cardNo, pwd: await cardPassword(r, cardNo), count: '2' });
      expect(sms!.params.name).not.toBe('');
      expect(sms!.params.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      const [row] = await smsRows(r.db);
      expect(row).toMatchObject({
        status: 'sent',
        provider: 'aliyun',
        provider_ref: `${sms!.ref}^0`,
        delivery: null,
      });
      expect(row!.text).not.toContain(await cardPassword(r, cardNo));

      // Reports are asked for only once due; the handset got it.
      expect(await r.app.outbox.receipts.runOnce()).toBe(0);
      r.clock.advance(PAST_FIRST_RECEIPT_MS);
      expect(await r.app.outbox.receipts.runOnce()).toBe(1);
      expect((await smsRows(r.db))[0]).toMatchObject({
        delivery: 'delivered',
        delivery_code: 'DELIVERED',
        receipt_due_at: null,
      });
      expect(await metrics(r)).toContain('movticket_sms_delivery{result="delivered"} 1');
      const events = await r.db.kysely
        .selectFrom('card_events')
        .select('type')
        .where('card_no', '=', cardNo)
        .execute();
      expect(events.map((e) => e.type)).toContain('sms_delivered');
      expect(await consolePage(r, `/admin/cards/${cardNo}`)).toContain('已送达');
      // Asked again, nothing more is recorded.
      r.clock.advance(PAST_FIRST_RECEIPT_MS);
      expect(await r.app.outbox.receipts.runOnce()).toBe(0);
    }, 30_000);

    it('sends the card through Tencent Cloud with TC3 signing and records an undelivered report', async () => {
      const r = (rig = await makeRig(await engine.open(), 'tencent'));
      r.tencent.unreachable.add(MOBILE);
      const cardNo = await payCard(r);
      expect(await r.app.outbox.runOnce()).toBe(1);
      expect(r.tencent.stats()).toMatchObject({ distinct: 1, duplicates: 0, badSignatures: 0, malformed: 0 });
      const [sms] = [...r.tencent.delivered.values()];
      expect(sms!.params).toMatchObject({ '2': '2', '3': cardNo, '4': await cardPassword(r, cardNo) });
      expect((await smsRows(r.db))[0]).toMatchObject({
        status: 'sent',
        provider: 'tencent',
        provider_ref: sms!.ref,
      });

      r.clock.advance(PAST_FIRST_RECEIPT_MS);
      expect(await r.app.outbox.receipts.runOnce()).toBe(1);
      expect((await smsRows(r.db))[0]).toMatchObject({
        delivery: 'undelivered',
        delivery_code: '用户短信接收失败',
      });
      const body = await metrics(r);
      expect(body).toContain('movticket_sms_delivery{result="undelivered"} 1');
      expect(body).toContain('movticket_sms_messages{status="sent"} 1');
      expect(await consolePage(r, '/admin/sms')).toContain('未送达');
    }, 30_000);

    it('keeps asking while the report has not come, and stops after the configured hours', async () => {
      const r = (rig = await makeRig(await engine.open(), 'tencent', { MOVTICKET_SMS_RECEIPT_HOURS: '1' }));
      r.tencent.holdReports = true;
      await payCard(r);
      await r.app.outbox.runOnce();
      r.clock.advance(PAST_FIRST_RECEIPT_MS);
      expect(await r.app.outbox.receipts.runOnce()).toBe(0);
      expect((await smsRows(r.db))[0]!.receipt_due_at).toBeGreaterThan(r.clock.now());
      expect(await consolePage(r, '/admin/sms')).toContain('等待回执');
      r.clock.advance(2 * 3_600_000);
      expect(await r.app.outbox.receipts.runOnce()).toBe(0);
      expect((await smsRows(r.db))[0]).toMatchObject({ delivery: null, receipt_due_at: null });
    }, 30_000);

    for (const provider of ['aliyun', 'tencent'] as const) {
      it(`fails a message ${provider} refuses as an invalid number at once, with its code and a Chinese explanation`, async () => {
        const r = (rig = await makeRig(
          await engine.open(),
          provider === 'aliyun' ? 'aliyun,tencent' : 'tencent,aliyun',
        ));
        r.aliyun.invalidNumbers.add(MOBILE);
        r.tencent.invalidNumbers.add(MOBILE);
        const cardNo = await payCard(r);
        await r.app.outbox.runOnce();
        const code =
          provider === 'aliyun' ? 'isv.MOBILE_NUMBER_ILLEGAL' : 'InvalidParameterValue.IncorrectPhoneNumber';
        expect((await smsRows(r.db))[0]).toMatchObject({
          status: 'failed',
          attempts: 1,
          provider,
          provider_code: code,
        });
        // A refusal about the number is not sent on to the other provider.
        const [refusing, other] = provider === 'aliyun' ? [r.aliyun, r.tencent] : [r.tencent, r.aliyun];
        expect([refusing.sendCalls, other.sendCalls]).toEqual([1, 0]);
        expect((await r.client.status({ cardNo })).card.sms_status).toBe('failed');
        for (const page of [
          await consolePage(r, `/admin/cards/${cardNo}`),
          await consolePage(r, '/admin/sms?status=failed'),
        ]) {
          expect(page).toContain(code);
          expect(page).toContain('手机号码格式错误或不是有效的手机号');
        }
      }, 30_000);
    }

    for (const fault of ['throttle', 'fail'] as const) {
      it(`sends through the second provider when the first ${fault === 'fail' ? 'is down' : 'throttles'}`, async () => {
        const r = (rig = await makeRig(await engine.open(), 'aliyun,tencent'));
        r.aliyun.mode = fault;
        const cardNo = await payCard(r);
        expect(await r.app.outbox.runOnce()).toBe(1);
        expect(r.aliyun.delivered.size).toBe(0);
        expect(r.aliyun.stats().requests[fault]).toBe(1);
        expect([...r.tencent.delivered.values()].map((s) => FakeTencent.cardOf(s))).toEqual([cardNo]);
        expect((await smsRows(r.db))[0]).toMatchObject({ status: 'sent', provider: 'tencent', attempts: 1 });
      }, 30_000);
    }

    it('retries later through the same provider when the only one throttles, and never gives up on it at once', async () => {
      const r = (rig = await makeRig(await engine.open(), 'aliyun'));
      r.aliyun.mode = 'throttle';
      await payCard(r);
      await r.app.outbox.runOnce();
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'queued', attempts: 1, provider: null });
      expect((await smsRows(r.db))[0]!.last_error).toContain('isv.BUSINESS_LIMIT_CONTROL');
      r.aliyun.mode = 'ok';
      r.clock.advance(PAST_BACKOFF_MS);
      await r.app.outbox.runOnce();
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'sent', attempts: 2, provider: 'aliyun' });
      expect(r.aliyun.stats()).toMatchObject({ distinct: 1, duplicates: 0 });
    }, 30_000);

    for (const fault of ['slow', 'drop'] as const) {
      it(`never sends through the second provider a message the first may have taken (${fault === 'slow' ? 'answer after the timeout' : 'answer lost'}), nor twice through the first`, async () => {
        const r = (rig = await makeRig(await engine.open(), 'aliyun,tencent'));
        r.aliyun.mode = fault;
        r.aliyun.slowMs = SMS_TIMEOUT_MS * 3;
        const cardNo = await payCard(r);
        await r.app.outbox.runOnce();
        // Aliyun has the message; the sender could not know: it stays with Aliyun.
        expect(r.aliyun.delivered.size).toBe(1);
        expect(r.tencent.stats().requests.ok).toBe(0);
        expect((await smsRows(r.db))[0]).toMatchObject({ status: 'queued', attempts: 1, provider: 'aliyun' });
        // The next attempt asks Aliyun first, finds the message and sends nothing again.
        r.aliyun.mode = 'ok';
        r.clock.advance(PAST_BACKOFF_MS);
        await r.app.outbox.runOnce();
        expect((await smsRows(r.db))[0]).toMatchObject({ status: 'sent', attempts: 2, provider: 'aliyun' });
        expect(r.aliyun.stats()).toMatchObject({ distinct: 1, duplicates: 0 });
        expect(totalAccepted(r.aliyun)).toBe(1);
        expect(r.tencent.delivered.size).toBe(0);
        expect((await r.client.status({ cardNo })).card.sms_status).toBe('sent');
      }, 30_000);
    }

    it('asks the provider once more, and sends nothing, when the last allowed try may have reached it', async () => {
      // MOVTICKET_SMS_MAX_ATTEMPTS is 5 here: four sends hang, the fifth is taken but answered late.
      const r = (rig = await makeRig(await engine.open(), 'aliyun,tencent'));
      r.aliyun.mode = 'hang';
      r.aliyun.slowMs = SMS_TIMEOUT_MS * 3;
      await payCard(r);
      for (let i = 0; i < 4; i++) {
        await r.app.outbox.runOnce();
        r.clock.advance(PAST_BACKOFF_MS);
      }
      r.aliyun.mode = 'slow';
      await r.app.outbox.runOnce();
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'queued', attempts: 5, provider: 'aliyun' });
      r.aliyun.mode = 'hang';
      r.clock.advance(PAST_BACKOFF_MS);
      await r.app.outbox.runOnce();
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'sent', attempts: 6, provider: 'aliyun' });
      expect(r.aliyun.sendCalls).toBe(5);
      expect(totalAccepted(r.aliyun) + totalAccepted(r.tencent)).toBe(1);
    }, 60_000);

    it('fails a message after the last allowed try when the provider has no record of it', async () => {
      const r = (rig = await makeRig(await engine.open(), 'tencent'));
      r.tencent.mode = 'hang';
      const cardNo = await payCard(r);
      for (let i = 0; i < 6; i++) {
        await r.app.outbox.runOnce();
        r.clock.advance(PAST_BACKOFF_MS);
      }
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'failed', attempts: 6, provider: 'tencent' });
      // Five sends (each try came after Tencent's five minutes); the sixth try only asked.
      expect(r.tencent.sendCalls).toBe(5);
      expect(r.tencent.delivered.size).toBe(0);
      expect((await r.client.status({ cardNo })).card.sms_status).toBe('failed');
    }, 60_000);

    it('resends through the same provider only, once it can say it has no record of a send that timed out', async () => {
      const r = (rig = await makeRig(await engine.open(), 'tencent,aliyun'));
      r.tencent.mode = 'hang';
      await payCard(r);
      const pass = r.app.outbox.runOnce();
      expect(await pass).toBe(1);
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'queued', provider: 'tencent' });
      r.tencent.dropHanging();
      r.tencent.mode = 'ok';
      // Tencent lists a message only once its report came: soon after, "no record" proves little.
      r.clock.advance(RETRY_WITHIN_FIVE_MINUTES_MS);
      await r.app.outbox.runOnce();
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'queued', attempts: 2, provider: 'tencent' });
      expect(r.tencent.sendCalls).toBe(1);
      r.clock.advance(300_000);
      await r.app.outbox.runOnce();
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'sent', attempts: 3, provider: 'tencent' });
      expect(r.tencent.stats()).toMatchObject({ distinct: 1, duplicates: 0 });
      expect(r.aliyun.stats().requests.ok + r.aliyun.delivered.size).toBe(0);
    }, 30_000);

    it('does not send again through Tencent, within five minutes, a message whose answer was lost while its report has not come', async () => {
      const r = (rig = await makeRig(await engine.open(), 'tencent'));
      r.tencent.mode = 'drop';
      r.tencent.holdReports = true;
      await payCard(r);
      await r.app.outbox.runOnce();
      r.tencent.mode = 'ok';
      for (let i = 0; i < 3; i++) {
        r.clock.advance(RETRY_WITHIN_FIVE_MINUTES_MS);
        await r.app.outbox.runOnce();
      }
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'queued', provider: 'tencent' });
      expect(totalAccepted(r.tencent)).toBe(1);
      // The report comes: the message was accepted, and nothing went out twice.
      r.tencent.holdReports = false;
      r.clock.advance(RETRY_WITHIN_FIVE_MINUTES_MS);
      await r.app.outbox.runOnce();
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'sent', provider: 'tencent' });
      expect(totalAccepted(r.tencent)).toBe(1);
    }, 30_000);

    it('keeps a message with a provider taken off the setting, sending it through no other', async () => {
      const db = await engine.open();
      const r = (rig = await makeRig(db, 'aliyun,tencent'));
      r.aliyun.mode = 'hang';
      r.aliyun.slowMs = SMS_TIMEOUT_MS * 3;
      await payCard(r);
      await r.app.outbox.runOnce();
      expect((await smsRows(r.db))[0]).toMatchObject({ status: 'queued', provider: 'aliyun' });
      // The operator drops Aliyun: the message may be with it, so Tencent must not send it.
      const config = loadConfig(
        fakeProviderEnv('tencent', { aliyun: r.aliyun.url, tencent: r.tencent.url }, r.dir),
        {
          smsTimeoutMs: SMS_TIMEOUT_MS,
        },
      );
      const sent = senderFromConfig(config, quiet).send({
        id: (await smsRows(r.db))[0]!.id,
        mobile: MOBILE,
        text: 'x',
        params: {},
        provider: 'aliyun',
      });
      await expect(sent).rejects.toMatchObject({ kind: 'uncertain', provider: 'aliyun' });
      expect(totalAccepted(r.tencent)).toBe(0);
    }, 30_000);
  });
}

describe('provider request signing', () => {
  for (const provider of ['aliyun', 'tencent'] as const) {
    it(`is refused by the ${provider} fake when signed with another secret, as the provider would`, async () => {
      const fake = provider === 'aliyun' ? await FakeAliyun.start() : await FakeTencent.start();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-sms-sign-'));
      try {
        const env = fakeProviderEnv(provider, { [provider]: fake.url }, dir);
        const m = {
          id: 'msg-1',
          mobile: MOBILE,
          text: 'x',
          params: { card_no: '1', password: '2', count: '1', valid_until: '2030-01-01', target: 't' },
        };
        await expect(senderFromConfig(loadConfig(env), quiet).send(m)).resolves.toMatchObject({ provider });
        const secretFile =
          provider === 'aliyun'
            ? env.MOVTICKET_SMS_ALIYUN_KEY_SECRET_FILE!
            : env.MOVTICKET_SMS_TENCENT_SECRET_KEY_FILE!;
        fs.writeFileSync(secretFile, 'a-wrong-secret-of-the-right-length');
        const wrong = senderFromConfig(loadConfig(env), quiet);
        await expect(wrong.send({ ...m, id: 'msg-2' })).rejects.toMatchObject({
          kind: 'failover',
          code: provider === 'aliyun' ? 'SignatureDoesNotMatch' : 'AuthFailure.SignatureFailure',
        });
        expect(fake.stats()).toMatchObject({ distinct: 1, badSignatures: 1 });
      } finally {
        await fake.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('provider settings', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-sms-settings-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = (sms: string) =>
    fakeProviderEnv(sms, { aliyun: 'http://127.0.0.1:1/', tencent: 'http://127.0.0.1:2/' }, dir);

  it('reads both providers in the order given, with their template parameters', () => {
    const config = loadConfig(env('tencent,aliyun'));
    expect(config.sms).toBe('tencent,aliyun');
    expect(config.smsAliyun?.templateParams).toContainEqual(['card', 'card_no']);
    expect(config.smsTencent?.templateParams).toEqual([
      'target',
      'count',
      'card_no',
      'password',
      'valid_until',
    ]);
    expect(senderFromConfig(config, quiet).name).toBe('tencent,aliyun');
  });

  it('refuses missing credentials, unknown placeholders, a provider named twice and plain http off this host', () => {
    expect(() => loadConfig({ ...env('aliyun'), MOVTICKET_SMS_ALIYUN_KEY_ID: '' })).toThrow(
      /MOVTICKET_SMS_ALIYUN_KEY_ID is required/,
    );
    expect(() => loadConfig({ ...env('tencent'), MOVTICKET_SMS_TENCENT_SECRET_KEY_FILE: '' })).toThrow(
      /MOVTICKET_SMS_TENCENT_SECRET_KEY_FILE is required/,
    );
    expect(() =>
      loadConfig({ ...env('tencent'), MOVTICKET_SMS_TENCENT_TEMPLATE_PARAMS: 'card_no,pin' }),
    ).toThrow(/"pin" is not one of/);
    expect(() => loadConfig(env('aliyun,aliyun'))).toThrow(/named twice/);
    expect(() => loadConfig(env('sms-gateway'))).toThrow(/MOVTICKET_SMS=sms-gateway is invalid/);
    expect(() =>
      loadConfig({ ...env('aliyun'), MOVTICKET_SMS_ALIYUN_ENDPOINT: 'http://dysmsapi.aliyuncs.com/' }),
    ).toThrow(/expected https:\/\//);
  });

  it('keeps the secrets out of the error a bad setting gives', () => {
    const e = env('aliyun');
    const secret = fs.readFileSync(e.MOVTICKET_SMS_ALIYUN_KEY_SECRET_FILE!, 'utf8');
    let message = '';
    try {
      loadConfig({ ...e, MOVTICKET_SMS_ALIYUN_TEMPLATE_PARAMS: 'x' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/MOVTICKET_SMS_ALIYUN_TEMPLATE_PARAMS/);
    expect(message).not.toContain(secret);
  });
});

describe('provider lookups', () => {
  for (const provider of ['aliyun', 'tencent'] as const) {
    it(`finds a message whose answer was lost among more than a page of the number's messages (${provider})`, async () => {
      const fake = provider === 'aliyun' ? await FakeAliyun.start() : await FakeTencent.start();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-sms-lookup-'));
      try {
        const sender = senderFromConfig(
          loadConfig(fakeProviderEnv(provider, { [provider]: fake.url }, dir)),
          quiet,
        );
        const params = { card_no: '1', password: '2', count: '1', valid_until: '2030-01-01', target: 't' };
        const since = Date.now();
        // More than a page of QuerySendDetails (50) or PullSmsSendStatusByPhoneNumber (100).
        for (let i = 0; i < 130; i++) await sender.send({ id: `m${i}`, mobile: MOBILE, text: 'x', params });
        fake.mode = 'drop';
        await expect(sender.send({ id: 'lost', mobile: MOBILE, text: 'x', params })).rejects.toMatchObject({
          kind: 'uncertain',
        });
        fake.mode = 'ok';
        // The retry finds it and sends nothing.
        await expect(
          sender.send({ id: 'lost', mobile: MOBILE, text: 'x', params, provider, createdAt: since }),
        ).resolves.toMatchObject({ provider });
        expect(fake.acceptances.get('lost')).toBe(1);
        expect(fake.sendCalls).toBe(131);
      } finally {
        await fake.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 30_000);
  }
});
