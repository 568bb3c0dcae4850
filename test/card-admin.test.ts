import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CardAdminService } from '../src/domain/admin/card-admin.service.js';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { addDays, dayOf } from '../src/domain/dates.js';
import { SettingsService } from '../src/domain/admin/settings.service.js';
import { adminCall, makeUser, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { KEY, makePartner } from './support/factories.js';
import { appError, cardAdminOf, makeTestApp, type TestApp } from './support/harness.js';

const MIN = 60_000;
const TZ = 'Asia/Shanghai';

for (const engine of engines()) {
  describe(`card administration (${engine.name})`, () => {
    let t: TestApp;
    let admin: CardAdminService;
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const setup = async (config: Parameters<typeof makeTestApp>[1] = {}) => {
      t = await makeTestApp(await engine.open(), config);
      admin = cardAdminOf(t, TZ);
    };

    const paid = async (cinemaId: string, count: number, mobile: string, orderNo?: string) => {
      const { card } = await t.client.buyByCinema({ cinemaId, count, orderNo });
      return (await t.client.payByCard({ cardNo: card.card_no, mobile })).card;
    };

    it('finds cards by number, partner, order, mobile, status and creation date, newest first', async () => {
      await setup();
      await makePartner(t.db, { partnerId: 'CS000002', busId: '1002759' });
      await t.app.registry.reload();
      const other = t.clientFor({ partnerId: 'CS000002', busId: '1002759', secId: 'test', md5key: KEY });

      const a = await paid('1001', 2, '13812345678', 'ORD-A');
      t.clock.advance(1_000);
      const b = (await t.client.buyByKind({ kindId: 'K2D', count: 1, orderNo: 'ORD-B' })).card;
      t.clock.advance(1_000);
      const c = (await other.buyByCinema({ cinemaId: '1002', count: 1, orderNo: 'ORD-A' })).card;
      await other.payByCard({ cardNo: c.card_no, mobile: '13900000000' });

      const nos = async (q: Parameters<CardAdminService['search']>[0]) =>
        (await admin.search(q)).items.map((x) => x.card_no);

      expect(await nos({})).toEqual([c.card_no, b.card_no, a.card_no]);
      expect(await nos({ partnerId: 'CS000001' })).toEqual([b.card_no, a.card_no]);
      expect(await nos({ orderNo: 'ORD-A' })).toEqual([c.card_no, a.card_no]);
      expect(await nos({ orderNo: 'ORD-A', partnerId: 'CS000002' })).toEqual([c.card_no]);
      expect(await nos({ mobile: '13812345678' })).toEqual([a.card_no]);
      expect(await nos({ mobile: '13812340000' })).toEqual([]);
      expect(await nos({ cardNo: a.card_no })).toEqual([a.card_no]);
      expect(await nos({ cardNo: a.card_no.slice(0, 12) })).toContain(a.card_no);
      expect(await nos({ status: 'active' })).toEqual([c.card_no, a.card_no]);
      expect(await nos({ status: 'inactive' })).toEqual([b.card_no]);

      const today = dayOf(t.clock.now(), TZ);
      expect(await nos({ since: today, until: today })).toHaveLength(3);
      expect(await nos({ until: addDays(today, -1) })).toEqual([]);
      expect(await nos({ since: addDays(today, 1) })).toEqual([]);

      const page = await admin.search({ limit: 2, offset: 1 });
      expect(page).toMatchObject({ total: 3, limit: 2, offset: 1 });
      expect(page.items.map((x) => x.card_no)).toEqual([b.card_no, a.card_no]);
      expect(page.items[1]).toMatchObject({
        partner_id: 'CS000001',
        cinema_id: '1001',
        order_no: 'ORD-A',
        status: 'active',
        count: 2,
        remaining: 2,
        total_fen: 7000,
        mobile: '13812345678',
      });
      expect(page.items[1]).not.toHaveProperty('password');

      // An unpaid card past its deadline is found as expired, before any sweep records it.
      t.clock.advance(30 * MIN);
      expect(await nos({ status: 'inactive' })).toEqual([]);
      expect(await nos({ status: 'expired' })).toEqual([b.card_no]);

      expect((await appError(admin.search({ mobile: '12345' }))).code).toBe('invalid');
      expect((await appError(admin.search({ since: '2025-13-01' }))).code).toBe('invalid');
      expect((await appError(admin.search({ cardNo: '12%' }))).code).toBe('invalid');
      expect((await appError(admin.search({ limit: 501 }))).code).toBe('invalid');
    });

    it('shows a card with its whole ledger, SMS delivery state and redemptions, never the password', async () => {
      await setup();
      const card = await paid('1001', 2, '13812345678');
      await t.app.outbox.runOnce();
      const r = await new RedemptionService({
        db: t.db,
        clock: t.clock,
        timeZone: TZ,
        secrets: t.secrets,
      }).redeem(
        { userId: 'u1', role: 'cinema', cinemaId: '1001', username: 'staff' },
        card.card_no,
        card.password,
        1,
      );
      const detail = await admin.show(card.card_no);
      expect(detail.card).toMatchObject({ card_no: card.card_no, status: 'active', used_count: 1 });
      expect(detail.events.map((e) => e.type)).toEqual([
        'created',
        'activated',
        'sms_queued',
        'sms_sent',
        'redeemed',
      ]);
      expect(detail.events[0]).toMatchObject({ seq: 1, actor: 'partner:CS000001' });
      expect(detail.events[4]!.data).toMatchObject({ redemption_id: r.redemption_id, used_count: 1 });
      expect(detail.sms).toHaveLength(1);
      expect(detail.sms[0]).toMatchObject({
        reason: 'activation',
        status: 'sent',
        mobile: '13812345678',
        attempts: 1,
      });
      expect(detail.redemptions).toEqual([
        expect.objectContaining({ redemption_id: r.redemption_id, count: 1 }),
      ]);
      expect(JSON.stringify(detail)).not.toContain(card.password);
      expect((await appError(admin.show('1234567890123452'))).code).toBe('not_found');
    });

    it('bans a card for an operator with a reason; the partner API then shows it banned', async () => {
      await setup();
      const card = await paid('1001', 1, '13812345678');
      const inactive = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;

      const { card: banned, changed } = await admin.ban('user:alice', card.card_no, '  chargeback  ');
      expect(changed).toBe(true);
      expect(banned).toMatchObject({ status: 'banned', ban_reason: 'chargeback', banned_at: t.clock.now() });
      expect((await t.client.status({ cardNo: card.card_no })).card).toMatchObject({ status: 'banned' });
      const detail = await admin.show(card.card_no);
      expect(detail.events.at(-1)).toMatchObject({
        type: 'banned',
        actor: 'user:alice',
        data: { status: 'banned', reason: 'chargeback' },
      });
      expect(detail.audit).toEqual([
        expect.objectContaining({
          actor: 'user:alice',
          action: 'card.ban',
          before: { status: 'active', used_count: 0 },
          after: { status: 'banned', reason: 'chargeback' },
        }),
      ]);

      // Again: nothing changes and nothing more is recorded.
      expect((await admin.ban('user:bob', card.card_no, 'again')).changed).toBe(false);
      expect((await admin.show(card.card_no)).audit).toHaveLength(1);

      expect((await admin.ban('user:alice', inactive.card_no, 'never paid')).card.status).toBe('banned');
      expect((await t.client.status({ cardNo: inactive.card_no })).card.status).toBe('banned');
      // Paying a banned card is refused by the partner API.
      await expect(
        t.client.payByCard({ cardNo: inactive.card_no, mobile: '13812345678' }),
      ).rejects.toMatchObject({
        type: 'card_state',
      });

      expect((await appError(admin.ban('user:alice', card.card_no, ''))).code).toBe('invalid');
      expect((await appError(admin.ban('user:alice', card.card_no, 'x'.repeat(101)))).code).toBe('invalid');
    });

    it('refuses to ban a card with a redeemed ticket or an expired one', async () => {
      await setup();
      const card = await paid('1001', 2, '13812345678');
      await new RedemptionService({ db: t.db, clock: t.clock, timeZone: TZ, secrets: t.secrets }).redeem(
        { userId: 'u1', role: 'cinema', cinemaId: '1001' },
        card.card_no,
        card.password,
        1,
      );
      const used = await appError(admin.ban('user:alice', card.card_no, 'fraud'));
      expect(used).toMatchObject({ code: 'card_state', status: 409 });
      const unpaid = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      t.clock.advance(30 * MIN);
      expect((await appError(admin.ban('user:alice', unpaid.card_no, 'late'))).code).toBe('card_state');
      expect((await t.client.status({ cardNo: card.card_no })).card.status).toBe('active');
    });

    const alice = { actor: 'user:alice', role: 'operator' as const };
    const ada = { actor: 'user:ada', role: 'admin' as const };
    const toNew = (mobile: string, reason = 'customer changed phone') => ({
      mobile,
      reason,
      confirmed: true,
    });

    it('resends the SMS, to a new number with a reason and a confirmation, within the daily limit', async () => {
      await setup();
      const card = await paid('1001', 1, '13812345678');
      await t.app.outbox.runOnce();
      t.clock.advance(1_000);
      const res = await admin.resendSms(alice, card.card_no, toNew('13900001111', '  顾客换了手机号  '));
      expect(res.card).toMatchObject({ mobile: '13900001111', sms_status: 'queued' });
      expect((await t.client.status({ cardNo: card.card_no })).card).toMatchObject({
        mobile: '139****1111',
        sms_status: 'queued',
      });
      await t.app.outbox.runOnce();
      expect(t.sms.sent.at(-1)).toMatchObject({ id: res.message_id, mobile: '13900001111' });
      expect(t.sms.sent.at(-1)!.text).toContain(card.password);
      const detail = await admin.show(card.card_no);
      expect(detail.sms.map((m) => [m.reason, m.status, m.mobile])).toEqual([
        ['activation', 'sent', '13812345678'],
        ['resend', 'sent', '13900001111'],
      ]);
      // Who, which card, the new number masked, and why.
      expect(detail.audit).toEqual([
        expect.objectContaining({
          actor: 'user:alice',
          action: 'card.resend_sms_new_mobile',
          before: { mobile: '138****5678' },
          after: { mobile: '139****1111', message_id: res.message_id, reason: '顾客换了手机号' },
        }),
      ]);
      const row = await t.db.kysely
        .selectFrom('audit_log')
        .selectAll()
        .where('entity_id', '=', card.card_no)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ entity_type: 'card', actor: 'user:alice' });
      expect(`${row.before}${row.after}`).not.toContain('13900001111');

      // To the number it has (given or not): no reason or confirmation needed.
      t.clock.advance(1_000);
      await admin.resendSms(alice, card.card_no);
      t.clock.advance(1_000);
      await admin.resendSms(alice, card.card_no, { mobile: '13900001111' });
      expect((await admin.show(card.card_no)).audit.map((a) => a.action)).toEqual([
        'card.resend_sms_new_mobile',
        'card.resend_sms',
        'card.resend_sms',
      ]);
      for (let i = 0; i < 2; i++) await admin.resendSms(alice, card.card_no);
      const limited = await appError(admin.resendSms(alice, card.card_no));
      expect(limited).toMatchObject({ code: 'rate_limited', status: 429 });

      const unpaid = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      expect((await appError(admin.resendSms(alice, unpaid.card_no))).code).toBe('card_state');
      expect((await appError(admin.resendSms(alice, card.card_no, toNew('123')))).code).toBe('invalid');
    });

    it('refuses to send the password to a new number without a reason of 1-200 characters or a confirmation', async () => {
      await setup();
      const card = await paid('1001', 1, '13812345678');
      const cases: [Parameters<CardAdminService['resendSms']>[2], string, number][] = [
        [{ mobile: '13900001111' }, 'confirmation_required', 400],
        [{ mobile: '13900001111', reason: 'lost phone', confirmed: false }, 'confirmation_required', 400],
        [{ mobile: '13900001111', confirmed: true }, 'reason_required', 400],
        [{ mobile: '13900001111', reason: '   ', confirmed: true }, 'reason_required', 400],
        [{ mobile: '13900001111', reason: 'x'.repeat(201), confirmed: true }, 'reason_required', 400],
        [{ mobile: '13900001111', reason: 'a\u0000b', confirmed: true }, 'reason_required', 400],
      ];
      for (const [opts, code, status] of cases) {
        expect(
          await appError(admin.resendSms(alice, card.card_no, opts)),
          JSON.stringify(opts),
        ).toMatchObject({
          code,
          status,
        });
      }
      // Nothing was queued, changed or recorded.
      const detail = await admin.show(card.card_no);
      expect(detail.card.mobile).toBe('13812345678');
      expect(detail.sms).toHaveLength(1);
      expect(detail.audit).toEqual([]);
      await admin.resendSms(alice, card.card_no, toNew('13900001111', 'x'.repeat(200)));
      expect((await admin.show(card.card_no)).card.mobile).toBe('13900001111');
    });

    it('lets an admin restrict sending to a new number to admins, at once and without a restart', async () => {
      await setup();
      // A service of its own: what it stores is what every other reads, with no restart.
      const settings = new SettingsService(t.db, t.clock);
      const card = await paid('1001', 1, '13812345678');
      expect(await settings.get()).toEqual({ resendNewMobile: 'operators' });
      // Only admins may change it.
      const denied = await appError(settings.set(alice, { resendNewMobile: 'admins' }));
      expect(denied).toMatchObject({ code: 'forbidden', status: 403 });
      const bad = await appError(settings.set(ada, { resendNewMobile: 'everyone' as 'admins' }));
      expect(bad).toMatchObject({ code: 'invalid', status: 400 });

      expect(await settings.set(ada, { resendNewMobile: 'admins' })).toEqual({ resendNewMobile: 'admins' });
      const refused = await appError(admin.resendSms(alice, card.card_no, toNew('13900001111')));
      expect(refused).toMatchObject({ code: 'admins_only', status: 403 });
      // Plain resends stay open to operators; admins may still send to a new number.
      await admin.resendSms(alice, card.card_no);
      await admin.resendSms(ada, card.card_no, toNew('13900001111'));
      expect((await admin.show(card.card_no)).card.mobile).toBe('13900001111');

      const audit = await t.db.kysely
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'settings.update')
        .execute();
      expect(audit.map((a) => [a.actor, a.entity_id, a.before, a.after])).toEqual([
        ['user:ada', 'resend_new_mobile', '{"value":"operators"}', '{"value":"admins"}'],
      ]);
      await settings.set(ada, { resendNewMobile: 'operators' });
      await admin.resendSms(alice, card.card_no, toNew('13900002222'));
    });

    it('asks the admin API for confirm: true and a reason before sending to a new mobile, with stable codes', async () => {
      await setup();
      const card = await paid('1001', 1, '13812345678');
      const op = await signIn(t, await makeUser(t, 'operator'));
      const url = `/admin/api/cards/${card.card_no}/resend`;
      const post = (body: unknown) => adminCall(t, 'POST', url, { session: op, body });
      const cases: [unknown, number, string][] = [
        [{ mobile: '13900001111' }, 400, 'confirmation_required'],
        [{ mobile: '13900001111', reason: 'lost phone', confirm: false }, 400, 'confirmation_required'],
        [{ mobile: '13900001111', confirm: true }, 400, 'reason_required'],
        [{ mobile: '13900001111', confirm: true, reason: 'x'.repeat(201) }, 400, 'reason_required'],
        [{ mobile: '13900001111', confirm: 'yes', reason: 'lost phone' }, 400, 'invalid'],
      ];
      for (const [body, status, code] of cases) {
        const res = await post(body);
        expect(res.status, JSON.stringify(body)).toBe(status);
        expect(res.json<{ error: { code: string } }>().error.code, JSON.stringify(body)).toBe(code);
      }
      expect((await admin.show(card.card_no)).card.mobile).toBe('13812345678');
      const ok = await post({ mobile: '13900001111', confirm: true, reason: 'lost phone' });
      expect(ok.status).toBe(200);
      expect(ok.json()).toMatchObject({ card: { mobile: '13900001111', sms_status: 'queued' } });
      // The card's own number needs neither.
      expect((await post({})).status).toBe(200);
      expect((await post({ mobile: '13900001111' })).status).toBe(200);

      await new SettingsService(t.db, t.clock).set(ada, { resendNewMobile: 'admins' });
      const refused = await post({ mobile: '13900002222', confirm: true, reason: 'lost phone' });
      expect(refused.status).toBe(403);
      expect(refused.json()).toMatchObject({ error: { code: 'admins_only' } });
      const boss = await signIn(t, await makeUser(t, 'admin'));
      const byAdmin = await adminCall(t, 'POST', url, {
        session: boss,
        body: { mobile: '13900002222', confirm: true, reason: 'verified by phone' },
      });
      expect(byAdmin.status).toBe(200);
    });

    it('lists SMS messages by delivery state, newest first, without their text', async () => {
      await setup({ config: { smsMaxAttempts: 1 } });
      const a = await paid('1001', 1, '13812345678');
      t.sms.failing = true;
      await t.app.outbox.runOnce();
      t.sms.failing = false;
      t.clock.advance(1_000);
      const b = await paid('1002', 1, '13812345679');
      t.clock.advance(1_000);
      const c = await paid('1003', 1, '13812345670');
      await t.app.outbox.runOnce();
      t.clock.advance(1_000);
      const d = await paid('1001', 1, '13812345671');

      const failed = await admin.smsLog({ status: 'failed' });
      expect(failed.items.map((m) => m.card_no)).toEqual([a.card_no]);
      expect(failed.items[0]!.last_error).toContain('gateway down');
      expect((await admin.smsLog({ status: 'sent' })).items.map((m) => m.card_no)).toEqual([
        c.card_no,
        b.card_no,
      ]);
      expect((await admin.smsLog({ status: 'queued' })).items.map((m) => m.card_no)).toEqual([d.card_no]);
      const all = await admin.smsLog({ limit: 3 });
      expect(all.total).toBe(4);
      expect(all.items.map((m) => m.card_no)).toEqual([d.card_no, c.card_no, b.card_no]);
      expect(all.items[0]).not.toHaveProperty('text');
      expect((await admin.smsLog({ cardNo: b.card_no })).items).toHaveLength(1);
      expect((await admin.show(a.card_no)).card.sms_status).toBe('failed');
    });
  });
}
