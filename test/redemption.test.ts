import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedemptionService, type StaffUser } from '../src/domain/admin/redemption.service.js';
import { dayOf } from '../src/domain/dates.js';
import type { AppError } from '../src/errors.js';
import { engines } from './support/engines.js';
import { appError, makeTestApp, type TestApp } from './support/harness.js';

const MOBILE = '13812345678';
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const TZ = 'Asia/Shanghai';

const staff = (cinemaId: string, name = `staff${cinemaId}`): StaffUser => ({
  userId: `u-${name}`,
  role: 'cinema',
  cinemaId,
  username: name,
});

for (const engine of engines()) {
  describe(`redemption at the cinema (${engine.name})`, () => {
    let t: TestApp;
    let svc: RedemptionService;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
      svc = new RedemptionService({ db: t.db, clock: t.clock, timeZone: TZ, secrets: t.secrets });
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const paidCard = async (target: { cinemaId: string } | { kindId: string }, count: number) => {
      const bought =
        'cinemaId' in target
          ? await t.client.buyByCinema({ cinemaId: target.cinemaId, count })
          : await t.client.buyByKind({ kindId: target.kindId, count });
      const paid = await t.client.payByCard({ cardNo: bought.card.card_no, mobile: MOBILE });
      return { cardNo: paid.card.card_no, password: paid.card.password };
    };

    const ledger = async (cardNo: string) =>
      (
        await t.db.kysely
          .selectFrom('card_events')
          .selectAll()
          .where('card_no', '=', cardNo)
          .orderBy('seq')
          .execute()
      ).map((e) => ({ type: e.type, actor: e.actor, data: JSON.parse(e.data) as Record<string, unknown> }));

    it('shows what a card allows at this cinema without asking for the password', async () => {
      const { cardNo } = await paidCard({ cinemaId: '1001' }, 3);
      const here = await svc.checkCard(staff('1001'), cardNo);
      expect(here).toMatchObject({
        card_no: cardNo,
        cinema_id: '1001',
        target_name: '影城1001',
        status: 'active',
        count: 3,
        used_count: 0,
        remaining: 3,
        valid_here: true,
        locked_until: null,
        tries_left: 5,
        redeemable: true,
        reason: null,
      });
      expect(here.valid_until).toBe(t.clock.now() + 90 * DAY);
      // Another cinema learns only that the card is not valid there: no status, count or dates.
      const elsewhere = await appError(svc.checkCard(staff('1002'), cardNo));
      expect(elsewhere).toMatchObject({ code: 'forbidden', status: 403, details: {} });
      expect(elsewhere.message).toBe(`card ${cardNo} is not valid at cinema 1002`);
      expect((await appError(svc.checkCard(staff('1001'), '1234567890123452'))).code).toBe('not_found');
      expect((await appError(svc.checkCard(staff('1001'), '12ab'))).code).toBe('invalid');
    });

    it('redeems tickets until none remain, then the card is used and the partner API says so', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 3);
      const first = await svc.redeem(staff('1001'), cardNo, password, 2);
      expect(first).toMatchObject({
        card_no: cardNo,
        count: 2,
        used_count: 2,
        remaining: 1,
        status: 'active',
      });
      expect((await t.client.status({ cardNo })).card).toMatchObject({
        status: 'active',
        used_count: '2',
        remaining: '1',
      });
      const second = await svc.redeem(staff('1001'), cardNo, password, 1);
      expect(second).toMatchObject({ used_count: 3, remaining: 0, status: 'used' });
      expect((await t.client.status({ cardNo })).card).toMatchObject({
        status: 'used',
        used_count: '3',
        remaining: '0',
      });
      const again = await appError(svc.redeem(staff('1001'), cardNo, password, 1));
      expect(again).toMatchObject({ code: 'card_state', status: 409 });
      expect(again.message).toContain('used');

      const redeemed = (await ledger(cardNo)).filter((e) => e.type === 'redeemed');
      expect(redeemed).toEqual([
        {
          type: 'redeemed',
          actor: 'user:staff1001',
          data: {
            count: 2,
            cinema_id: '1001',
            redemption_id: first.redemption_id,
            used_count: 2,
            status: 'active',
          },
        },
        {
          type: 'redeemed',
          actor: 'user:staff1001',
          data: {
            count: 1,
            cinema_id: '1001',
            redemption_id: second.redemption_id,
            used_count: 3,
            status: 'used',
          },
        },
      ]);
      const rows = await t.db.kysely
        .selectFrom('redemptions')
        .selectAll()
        .where('card_no', '=', cardNo)
        .execute();
      expect(rows.map((r) => r.count).sort()).toEqual([1, 2]);
    });

    it('refuses a count outside 1..remaining without redeeming anything', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 2);
      expect((await appError(svc.redeem(staff('1001'), cardNo, password, 3))).code).toBe('invalid');
      expect((await appError(svc.redeem(staff('1001'), cardNo, password, 0))).code).toBe('invalid');
      expect((await appError(svc.redeem(staff('1001'), cardNo, password, 1.5))).code).toBe('invalid');
      expect((await t.client.status({ cardNo })).card.used_count).toBe('0');
    });

    it("accepts a kind card at the kind's cinemas only", async () => {
      const { cardNo, password } = await paidCard({ kindId: 'K2D' }, 2);
      expect((await svc.checkCard(staff('1003'), cardNo)).valid_here).toBe(true);
      expect((await appError(svc.checkCard(staff('1002'), cardNo))).code).toBe('forbidden');
      const refused = await appError(svc.redeem(staff('1002'), cardNo, password, 1));
      expect(refused).toMatchObject({ code: 'forbidden', status: 403 });
      await svc.redeem(staff('1003'), cardNo, password, 1);
      await svc.redeem(staff('2001'), cardNo, password, 1);
      expect((await t.client.status({ cardNo })).card.status).toBe('used');
    });

    it('accepts a cinema card at its own cinema only', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 1);
      expect((await appError(svc.redeem(staff('1003'), cardNo, password, 1))).code).toBe('forbidden');
    });

    it('refuses expired, banned and unpaid cards', async () => {
      const expiring = await paidCard({ cinemaId: '1001' }, 1);
      const banned = await paidCard({ cinemaId: '1001' }, 1);
      await t.client.ban({ cardNo: banned.cardNo, reason: 'refund' });
      const unpaid = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });

      const b = await appError(svc.redeem(staff('1001'), banned.cardNo, banned.password, 1));
      expect(b.code).toBe('card_state');
      expect(b.message).toContain('banned');
      const u = await appError(svc.redeem(staff('1001'), unpaid.card.card_no, '00000000', 1));
      expect(u.code).toBe('card_state');

      t.clock.advance(90 * DAY);
      const e = await appError(svc.redeem(staff('1001'), expiring.cardNo, expiring.password, 1));
      expect(e.code).toBe('card_state');
      expect(e.message).toContain('expired');
      expect(await svc.checkCard(staff('1001'), expiring.cardNo)).toMatchObject({
        status: 'expired',
        redeemable: false,
      });
      // A refused card records no wrong password.
      const failures = await t.db.kysely.selectFrom('password_failures').selectAll().execute();
      expect(failures).toEqual([]);
    });

    it('locks the card for an hour after five wrong passwords, counted from the oldest of them', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 2);
      const start = t.clock.now();
      const tries: number[] = [];
      for (let i = 0; i < 5; i++) {
        if (i > 0) t.clock.advance(10 * MIN);
        const wrong = await appError(svc.redeem(staff('1001'), cardNo, '99999999', 1));
        expect(wrong.code).toBe('wrong_password');
        tries.push(wrong.details.triesLeft!);
        if (i === 4) expect(wrong.details.lockedUntil).toBe(start + HOUR);
      }
      expect(tries).toEqual([4, 3, 2, 1, 0]);

      // Now even the right password is refused, and the answer says until when.
      t.clock.advance(MIN);
      const locked = await appError(svc.redeem(staff('1001'), cardNo, password, 1));
      expect(locked).toMatchObject({ code: 'locked', status: 423, details: { lockedUntil: start + HOUR } });
      expect(await svc.checkCard(staff('1001'), cardNo)).toMatchObject({
        locked_until: start + HOUR,
        tries_left: 0,
        redeemable: false,
      });
      // Tried at another cinema's counter it is still refused there first (not valid), not counted.
      expect((await appError(svc.redeem(staff('1002'), cardNo, '11111111', 1))).code).toBe('forbidden');

      // When the first failure is an hour old, four remain in the window: one more try.
      t.clock.set(start + HOUR);
      const wrongAgain = await appError(svc.redeem(staff('1001'), cardNo, '12345678', 1));
      expect(wrongAgain.details).toEqual({ triesLeft: 0, lockedUntil: start + 10 * MIN + HOUR });
      t.clock.set(start + 10 * MIN + HOUR);
      const ok = await svc.redeem(staff('1001'), cardNo, password, 1);
      expect(ok.remaining).toBe(1);

      const failures = await t.db.kysely
        .selectFrom('password_failures')
        .selectAll()
        .where('card_no', '=', cardNo)
        .execute();
      expect(failures).toHaveLength(6);
      expect(failures.every((f) => f.cinema_id === '1001' && f.user_id === 'u-staff1001')).toBe(true);
      const logged = (await ledger(cardNo)).filter((e) => e.type === 'password_failed');
      expect(logged).toHaveLength(6);
      expect(logged[0]!.data).toEqual({ cinema_id: '1001', tries_left: 4 });
    });

    it('records at most five wrong passwords when many arrive at once', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 1);
      const results = await Promise.allSettled(
        Array.from({ length: 9 }, (_, i) => svc.redeem(staff('1001'), cardNo, `0000000${i}`.slice(-8), 1)),
      );
      const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as AppError).code : 'ok'));
      // A random password could be one of the guesses; then the guess that matches redeemed.
      const guessedRight = results.some((r) => r.status === 'fulfilled');
      if (!guessedRight) {
        expect(codes.filter((c) => c === 'wrong_password')).toHaveLength(5);
        expect(codes.filter((c) => c === 'locked')).toHaveLength(4);
        const n = await t.db.kysely
          .selectFrom('password_failures')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('card_no', '=', cardNo)
          .executeTakeFirstOrThrow();
        expect(Number(n.n)).toBe(5);
        expect((await appError(svc.redeem(staff('1001'), cardNo, password, 1))).code).toBe('locked');
      }
    });

    it('never redeems more tickets than the card holds under concurrent redemptions', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 7);
      const counts = [1, 2, 1, 3, 1, 2, 1, 1, 2, 1, 1, 3];
      const results = await Promise.allSettled(
        counts.map((n) => svc.redeem(staff('1001'), cardNo, password, n)),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [counts[i]!] : []));
      for (const r of results) {
        if (r.status === 'rejected') expect(['card_state', 'invalid']).toContain((r.reason as AppError).code);
      }
      const redeemed = won.reduce((a, b) => a + b, 0);
      expect(redeemed).toBeLessThanOrEqual(7);
      const status = (await t.client.status({ cardNo })).card;
      expect(Number(status.used_count)).toBe(redeemed);
      const rows = await t.db.kysely
        .selectFrom('redemptions')
        .selectAll()
        .where('card_no', '=', cardNo)
        .execute();
      expect(rows.reduce((a, r) => a + r.count, 0)).toBe(redeemed);
      const events = (await ledger(cardNo)).filter((e) => e.type === 'redeemed');
      expect(events).toHaveLength(won.length);
      // Every redemption saw the count the one before it left.
      const seen = events.map((e) => e.data.used_count as number);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('lets exactly as many one-ticket redemptions through as the card holds', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 4);
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () => svc.redeem(staff('1001'), cardNo, password, 1)),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
      expect((await t.client.status({ cardNo })).card).toMatchObject({
        status: 'used',
        used_count: '4',
        remaining: '0',
      });
    });

    it('undoes a redemption within 10 minutes, restoring the tickets, recorded in the ledger', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 2);
      const r = await svc.redeem(staff('1001'), cardNo, password, 2);
      expect((await t.client.status({ cardNo })).card.status).toBe('used');
      t.clock.advance(10 * MIN);
      // Another member of the same cinema's staff may undo it.
      const undone = await svc.undo(staff('1001', 'colleague'), r.redemption_id);
      expect(undone).toMatchObject({
        card_no: cardNo,
        count: 2,
        used_count: 0,
        remaining: 2,
        status: 'active',
      });
      expect((await t.client.status({ cardNo })).card).toMatchObject({
        status: 'active',
        used_count: '0',
        remaining: '2',
      });
      const row = await t.db.kysely
        .selectFrom('redemptions')
        .selectAll()
        .where('redemption_id', '=', r.redemption_id)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ undone_at: t.clock.now(), undone_by: 'u-colleague' });
      expect((await ledger(cardNo)).at(-1)).toEqual({
        type: 'redemption_undone',
        actor: 'user:colleague',
        data: {
          count: 2,
          cinema_id: '1001',
          redemption_id: r.redemption_id,
          used_count: 0,
          status: 'active',
        },
      });
      expect((await appError(svc.undo(staff('1001'), r.redemption_id))).code).toBe('card_state');
      // The tickets can be redeemed again.
      expect((await svc.redeem(staff('1001'), cardNo, password, 2)).status).toBe('used');
    });

    it('refuses to undo after 10 minutes, at another cinema, or an unknown redemption', async () => {
      const { cardNo, password } = await paidCard({ kindId: 'K2D' }, 2);
      const r = await svc.redeem(staff('1001'), cardNo, password, 1);
      expect((await appError(svc.undo(staff('1003'), r.redemption_id))).code).toBe('forbidden');
      expect((await appError(svc.undo(staff('1001'), '00000000-0000-0000-0000-000000000000'))).code).toBe(
        'not_found',
      );
      t.clock.advance(10 * MIN + 1);
      const late = await appError(svc.undo(staff('1001'), r.redemption_id));
      expect(late.code).toBe('card_state');
      expect(late.message).toContain('10 minutes');
      expect((await t.client.status({ cardNo })).card.used_count).toBe('1');
    });

    it("lists the cinema's redemptions of a day and its daily totals", async () => {
      const a = await paidCard({ cinemaId: '1001' }, 3);
      const b = await paidCard({ kindId: 'K2D' }, 2);
      const other = await paidCard({ kindId: 'K2D' }, 1);
      const today = dayOf(t.clock.now(), TZ);
      const r1 = await svc.redeem(staff('1001'), a.cardNo, a.password, 2);
      t.clock.advance(1_000);
      const r2 = await svc.redeem(staff('1001'), b.cardNo, b.password, 1);
      t.clock.advance(1_000);
      const r3 = await svc.redeem(staff('1001'), a.cardNo, a.password, 1);
      await svc.redeem(staff('1003'), other.cardNo, other.password, 1);
      await svc.undo(staff('1001'), r3.redemption_id);

      const h = await svc.history('1001', today);
      expect(h.redemptions.map((r) => [r.redemption_id, r.count, r.undone_at !== null])).toEqual([
        [r1.redemption_id, 2, false],
        [r2.redemption_id, 1, false],
        [r3.redemption_id, 1, true],
      ]);
      expect(h.redemptions[0]).toMatchObject({ user_id: 'u-staff1001', undoable: true });
      expect(h.totals).toEqual({ day: today, tickets: 3, cards: 2, redemptions: 2, undone: 1 });

      t.clock.advance(DAY);
      const tomorrow = dayOf(t.clock.now(), TZ);
      await svc.redeem(staff('1001'), b.cardNo, b.password, 1);
      const totals = await svc.dailyTotals('1001', today, tomorrow);
      expect(totals).toEqual([
        { day: today, tickets: 3, cards: 2, redemptions: 2, undone: 1 },
        { day: tomorrow, tickets: 1, cards: 1, redemptions: 1, undone: 0 },
      ]);
      expect((await svc.history('1001', today)).redemptions.every((r) => !r.undoable)).toBe(true);
      expect((await svc.history('1003', today)).totals.tickets).toBe(1);
      expect((await appError(svc.history('1001', '2025-02-30'))).code).toBe('invalid');
    });

    it('serves only cinema staff bound to a cinema', async () => {
      const { cardNo, password } = await paidCard({ cinemaId: '1001' }, 1);
      const operator: StaffUser = { userId: 'op', role: 'operator', cinemaId: null };
      expect((await appError(svc.checkCard(operator, cardNo))).code).toBe('forbidden');
      expect((await appError(svc.redeem(operator, cardNo, password, 1))).code).toBe('forbidden');
      expect(
        (await appError(svc.redeem({ ...staff('1001'), cinemaId: null }, cardNo, password, 1))).code,
      ).toBe('forbidden');
    });
  });
}
