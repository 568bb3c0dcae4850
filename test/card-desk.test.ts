import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CardAdminService } from '../src/domain/admin/card-admin.service.js';
import { RedemptionService, type StaffUser } from '../src/domain/admin/redemption.service.js';
import { sentenceOf } from '../src/http/admin/console/messages.zh.js';
import { adminCall, makeUser, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { appError, cardAdminOf, makeTestApp, type TestApp } from './support/harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const TZ = 'Asia/Shanghai';
const STAFF: StaffUser = { userId: 'u-staff', role: 'cinema', cinemaId: '1001', username: 'staff' };

for (const engine of engines()) {
  describe(`support desk card controls (${engine.name})`, () => {
    let t: TestApp;
    let admin: CardAdminService;
    let counter: RedemptionService;
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const setup = async () => {
      t = await makeTestApp(await engine.open());
      admin = cardAdminOf(t, TZ);
      counter = new RedemptionService({ db: t.db, clock: t.clock, timeZone: TZ, secrets: t.secrets });
    };

    const paid = async (count: number, mobile = '13812345678', cinemaId = '1001') => {
      const { card } = await t.client.buyByCinema({ cinemaId, count });
      return (await t.client.payByCard({ cardNo: card.card_no, mobile })).card;
    };

    const ledgerTypes = async (cardNo: string) => (await admin.show(cardNo)).events.map((e) => e.type);

    it('freezes the remaining tickets of a partly redeemed card until unfrozen; the partner still sees active', async () => {
      await setup();
      const card = await paid(3);
      await counter.redeem(STAFF, card.card_no, card.password, 1);

      const frozen = await admin.freeze('user:desk', card.card_no, 'SMS stolen, customer called');
      expect(frozen).toMatchObject({ changed: true, card: { status: 'active', remaining: 2 } });
      expect(frozen.card.frozen_at).toBe(t.clock.now());
      expect(frozen.card.frozen_reason).toBe('SMS stolen, customer called');

      // The counter sees why before any password is typed, and a redemption is refused in Chinese.
      expect(await counter.checkCard(STAFF, card.card_no)).toMatchObject({ frozen: true, redeemable: false });
      const refused = await appError(counter.redeem(STAFF, card.card_no, card.password, 1));
      expect(refused).toMatchObject({ code: 'card_state', id: 'card.frozen', status: 409 });
      expect(sentenceOf(refused)).toContain('冻结');
      // A frozen card takes no wrong-password count either: it is refused before the password.
      await appError(counter.redeem(STAFF, card.card_no, 'wrong', 1));
      expect((await admin.show(card.card_no)).lock.wrong_tries).toBe(0);

      expect((await t.client.status({ cardNo: card.card_no })).card).toMatchObject({
        status: 'active',
        remaining: '2',
      });
      // Freezing again records nothing more.
      expect((await admin.freeze('user:desk', card.card_no, 'again')).changed).toBe(false);

      t.clock.advance(MIN);
      const thawed = await admin.unfreeze('user:desk', card.card_no, 'customer verified at the desk');
      expect(thawed).toMatchObject({ changed: true, card: { frozen_at: null, frozen_reason: null } });
      expect((await admin.unfreeze('user:desk', card.card_no, 'again')).changed).toBe(false);
      expect((await counter.redeem(STAFF, card.card_no, card.password, 2)).remaining).toBe(0);

      const detail = await admin.show(card.card_no);
      expect(detail.events.filter((e) => ['frozen', 'unfrozen'].includes(e.type))).toEqual([
        expect.objectContaining({
          type: 'frozen',
          actor: 'user:desk',
          data: expect.objectContaining({ reason: 'SMS stolen, customer called', remaining: 2 }),
        }),
        expect.objectContaining({ type: 'unfrozen', actor: 'user:desk' }),
      ]);
      expect(detail.audit.map((a) => a.action)).toEqual(['card.freeze', 'card.unfreeze']);
      expect(detail.audit[0]).toMatchObject({
        actor: 'user:desk',
        before: { status: 'active', frozen: false, remaining: 2 },
        after: { frozen: true, reason: 'SMS stolen, customer called' },
      });
    });

    it('freezes only active cards and wants a reason', async () => {
      await setup();
      const unpaid = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      const notActive = await appError(admin.freeze('user:desk', unpaid.card_no, 'why'));
      expect(notActive).toMatchObject({
        code: 'card_state',
        params: { status: 'inactive', action: 'freeze' },
      });
      expect(sentenceOf(notActive)).toBe(`卡 ${unpaid.card_no} 未激活，不能冻结`);

      const card = await paid(1);
      await counter.redeem(STAFF, card.card_no, card.password, 1);
      expect((await appError(admin.freeze('user:desk', card.card_no, 'why'))).params.status).toBe('used');

      const other = await paid(2);
      expect((await appError(admin.freeze('user:desk', other.card_no, '  '))).id).toBe('reason.required');
      expect((await appError(admin.freeze('user:desk', other.card_no, 'x'.repeat(101)))).id).toBe(
        'reason.required',
      );
      expect((await appError(admin.freeze('user:desk', '6000000000000000', 'why'))).code).toBe('not_found');
      expect(await ledgerTypes(other.card_no)).not.toContain('frozen');
    });

    it('shows the password lock and unlocks it with a reason, audited', async () => {
      await setup();
      const card = await paid(2);
      for (let i = 0; i < 5; i++) {
        await appError(counter.redeem(STAFF, card.card_no, `wrong${i}`, 1));
        t.clock.advance(MIN);
      }
      const lockedUntil = t.clock.now() - 5 * MIN + HOUR;
      expect((await admin.show(card.card_no)).lock).toEqual({
        wrong_tries: 5,
        tries_left: 0,
        locked_until: lockedUntil,
      });
      expect((await appError(counter.redeem(STAFF, card.card_no, card.password, 1))).code).toBe('locked');

      const unlocked = await admin.unlock('user:desk', card.card_no, 'customer showed ID');
      expect(unlocked).toMatchObject({
        changed: true,
        lock: { wrong_tries: 0, tries_left: 5, locked_until: null },
      });
      expect((await admin.unlock('user:desk', card.card_no, 'again')).changed).toBe(false);
      expect((await counter.redeem(STAFF, card.card_no, card.password, 1)).remaining).toBe(1);

      const detail = await admin.show(card.card_no);
      expect(detail.events.find((e) => e.type === 'password_unlocked')).toMatchObject({
        actor: 'user:desk',
        data: { reason: 'customer showed ID', wrong_tries: 5, locked_until: lockedUntil },
      });
      expect(detail.audit).toEqual([
        expect.objectContaining({
          action: 'card.unlock',
          before: { wrong_tries: 5, locked_until: lockedUntil },
          after: { wrong_tries: 0, reason: 'customer showed ID' },
        }),
      ]);
    });

    it('resets the wrong-password count when the right password redeems', async () => {
      await setup();
      const card = await paid(3);
      for (let i = 0; i < 4; i++) await appError(counter.redeem(STAFF, card.card_no, 'nope', 1));
      expect((await counter.checkCard(STAFF, card.card_no)).tries_left).toBe(1);
      await counter.redeem(STAFF, card.card_no, card.password, 1);
      expect((await counter.checkCard(STAFF, card.card_no)).tries_left).toBe(5);
      t.clock.advance(MIN);
      // Four more wrong ones do not lock it: the earlier four no longer count.
      for (let i = 0; i < 4; i++) await appError(counter.redeem(STAFF, card.card_no, 'nope', 1));
      expect((await admin.show(card.card_no)).lock).toMatchObject({ wrong_tries: 4, locked_until: null });
    });

    it('finds cards by the last 4 digits of a mobile, a number pasted with spaces, and a cinema, with names', async () => {
      await setup();
      const a = await paid(1, '13812345678', '1001');
      t.clock.advance(1_000);
      const b = await paid(1, '13900005678', '1002');
      t.clock.advance(1_000);
      const c = await paid(1, '13700001111', '1001');
      t.clock.advance(1_000);
      const k = (await t.client.buyByKind({ kindId: 'K2D', count: 1 })).card;
      const nos = async (q: Parameters<CardAdminService['search']>[0]) =>
        (await admin.search(q)).items.map((x) => x.card_no);

      expect(await nos({ mobile: '5678' })).toEqual([b.card_no, a.card_no]);
      expect(await nos({ mobile: ' 1111 ' })).toEqual([c.card_no]);
      const grouped = a.card_no.replace(/(\d{4})(?=\d)/g, '$1 ');
      expect(grouped).toContain(' ');
      expect(await nos({ cardNo: grouped })).toEqual([a.card_no]);
      expect(await nos({ cardNo: `${a.card_no.slice(0, 4)}-${a.card_no.slice(4, 8)}` })).toContain(a.card_no);
      // A kind card counts as valid at each of its cinemas (K2D includes 1001, not 1002).
      expect(await nos({ cinemaId: '1001' })).toEqual([k.card_no, c.card_no, a.card_no]);
      expect(await nos({ cinemaId: '1002' })).toEqual([b.card_no]);
      expect(await nos({ cinemaId: '1001', mobile: '5678' })).toEqual([a.card_no]);

      const found = (await admin.search({ cinemaId: '1001' })).items;
      expect(found.map((x) => x.target_name)).toEqual(['全国通兑2D券', '影城1001', '影城1001']);
      expect((await admin.show(a.card_no)).card.target_name).toBe('影城1001');

      const badMobile = await appError(admin.search({ mobile: '12345' }));
      expect(badMobile.id).toBe('card.search_mobile');
      expect(sentenceOf(badMobile)).toBe('手机号请输入完整 11 位，或只输入后 4 位');
      expect((await appError(admin.search({ cardNo: '6000 12ab' }))).code).toBe('invalid');
      expect((await appError(admin.search({ cinemaId: "1001' or 1=1" }))).code).toBe('invalid');
    });

    it('exports every card of a search, refusing a search larger than the limit', async () => {
      await setup();
      const cards = [
        await paid(1, '13812345678'),
        await paid(1, '13812345678'),
        await paid(1, '13800000000'),
      ];
      const all = await admin.searchAll({ mobile: '5678' });
      expect(all.map((x) => x.card_no).sort()).toEqual([cards[0]!.card_no, cards[1]!.card_no].sort());
      const tooMany = await appError(admin.searchAll({}, 2));
      expect(tooMany).toMatchObject({ id: 'card.export_too_many', params: { total: 3, max: 2 } });
    });

    it('freezes, unfreezes and unlocks through the JSON admin API with the same command, for staff only', async () => {
      await setup();
      const card = await paid(2);
      const op = await signIn(t, await makeUser(t, 'operator', { username: 'desk' }));
      const staff = await signIn(t, await makeUser(t, 'cinema', { username: 'counter', cinemaId: '1001' }));
      const url = (verb: string) => `/admin/api/cards/${card.card_no}/${verb}`;

      const redeem = (password: string) =>
        adminCall(t, 'POST', '/admin/api/redemption/redemptions', {
          session: staff,
          body: { cardNo: card.card_no, password, count: 1 },
        });
      expect((await redeem('wrong')).status).toBe(422);
      expect(
        (await adminCall(t, 'POST', url('freeze'), { session: staff, body: { reason: 'x' } })).status,
      ).toBe(403);

      const frozen = await adminCall(t, 'POST', url('freeze'), {
        session: op,
        body: { reason: 'SMS stolen' },
      });
      expect(frozen.status).toBe(200);
      expect(frozen.json()).toMatchObject({
        changed: true,
        card: {
          card_no: card.card_no,
          status: 'active',
          frozen_reason: 'SMS stolen',
          target_name: '影城1001',
        },
        lock: { wrong_tries: 1, tries_left: 4, locked_until: null },
      });
      const refused = await redeem(card.password);
      expect(refused.status).toBe(409);
      expect(refused.json()).toMatchObject({ error: { code: 'card_state' } });

      const shown = (await adminCall(t, 'GET', `/admin/api/cards/${card.card_no}`, { session: op })).json<{
        card: { frozen_at: number | null };
        lock: unknown;
      }>();
      expect(shown.card.frozen_at).toBe(t.clock.now());
      expect(shown.lock).toEqual({ wrong_tries: 1, tries_left: 4, locked_until: null });

      const unlocked = await adminCall(t, 'POST', url('unlock'), {
        session: op,
        body: { reason: 'verified' },
      });
      expect(unlocked.json()).toMatchObject({ changed: true, lock: { wrong_tries: 0, tries_left: 5 } });
      const thawed = await adminCall(t, 'POST', url('unfreeze'), {
        session: op,
        body: { reason: 'verified' },
      });
      expect(thawed.json()).toMatchObject({ changed: true, card: { frozen_at: null } });
      expect((await redeem(card.password)).status).toBe(201);

      const noReason = await adminCall(t, 'POST', url('freeze'), { session: op, body: { reason: '' } });
      expect(noReason.status).toBe(400);
      expect(noReason.json()).toMatchObject({ error: { code: 'invalid' } });
      const found = await adminCall(t, 'GET', '/admin/api/cards?mobile=5678&cinemaId=1001', { session: op });
      expect(found.json<{ items: { card_no: string }[] }>().items.map((x) => x.card_no)).toEqual([
        card.card_no,
      ]);
    });
  });
}
