import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { AppError } from '../src/errors.js';
import { ReportService, STATEMENT_COLUMNS, statementCsv } from '../src/domain/admin/report.service.js';
import { parseYuan } from '../src/domain/money.js';
import { parseTimestamp } from '../src/domain/time.js';
import type { MovTicketClient } from '../src/client/index.js';
import { engines } from './support/engines.js';
import { KEY, makePartner } from './support/factories.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const TZ = 'Asia/Shanghai';
const at = (ymdhis: string) => parseTimestamp(ymdhis, TZ)!;
const MOBILE = '13812345678';

/** Signed fen from a yuan string ("-35.00" → -3500). */
const fen = (yuan: string) => (yuan.startsWith('-') ? -parseYuan(yuan.slice(1))! : parseYuan(yuan)!);

for (const engine of engines()) {
  describe(`reports (${engine.name})`, () => {
    let t: TestApp;
    let other: MovTicketClient;
    let reports: ReportService;
    // Card numbers by role in the scenario below.
    const cards: Record<string, string> = {};

    const buyPaid = async (
      client: MovTicketClient,
      target: { cinemaId: string } | { kindId: string },
      count: number,
      orderNo?: string,
    ) => {
      const { card } =
        'cinemaId' in target
          ? await client.buyByCinema({ cinemaId: target.cinemaId, count, orderNo })
          : await client.buyByKind({ kindId: target.kindId, count, orderNo });
      return (await client.payByCard({ cardNo: card.card_no, mobile: MOBILE })).card;
    };

    // 2025-03-14 (D-1), 2025-03-15 (D), 2025-03-16 (D+1), Asia/Shanghai.
    beforeEach(async () => {
      t = await makeTestApp(await engine.open(), {
        partner: { prices: [{ type: 'cinema', id: '1003', fen: 3333 }] },
      });
      await makePartner(t.db, { partnerId: 'CS000002', busId: '1002759' });
      await t.app.registry.reload();
      other = t.clientFor({ partnerId: 'CS000002', busId: '1002759', secId: 'test', md5key: KEY });
      reports = new ReportService({ db: t.db, timeZone: TZ });
      const redemption = new RedemptionService({
        db: t.db,
        clock: t.clock,
        timeZone: TZ,
        secrets: t.secrets,
      });
      const staff = { userId: 'u1', role: 'cinema' as const, cinemaId: '1001' };

      t.clock.set(at('20250314120000'));
      cards.yesterdayVoided = (await buyPaid(t.client, { cinemaId: '1001' }, 1)).card_no; // 35.00
      const kept = await buyPaid(t.client, { cinemaId: '1001' }, 1); // 35.00
      cards.yesterdayKept = kept.card_no;
      await t.app.outbox.runOnce();

      t.clock.set(at('20250315000000'));
      const first = await buyPaid(t.client, { cinemaId: '1001' }, 2, 'ORD-1'); // 70.00
      cards.first = first.card_no;
      t.clock.set(at('20250315100000'));
      cards.kind = (await buyPaid(t.client, { kindId: 'K3D' }, 3)).card_no; // 3 × 42.00
      cards.voided = (await buyPaid(t.client, { cinemaId: '1002' }, 1)).card_no; // 38.00
      cards.ownPrice = (await buyPaid(t.client, { cinemaId: '1003' }, 3, '-cmd')).card_no; // 3 × 33.33
      cards.otherPartner = (await buyPaid(other, { cinemaId: '1001' }, 1)).card_no;
      await t.app.outbox.runOnce();
      t.clock.set(at('20250315120000'));
      await t.client.ban({ cardNo: cards.voided, reason: 'refund' });
      await t.client.ban({ cardNo: cards.yesterdayVoided, reason: 'refund' });
      cards.bannedUnpaid = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card.card_no;
      await t.client.ban({ cardNo: cards.bannedUnpaid });
      cards.unpaid = (await t.client.buyByCinema({ cinemaId: '1001', count: 4 })).card.card_no;
      await redemption.redeem(staff, first.card_no, first.password, 1);
      const undone = await redemption.redeem(staff, kept.card_no, kept.password, 1);
      await redemption.undo(staff, undone.redemption_id);

      t.clock.set(at('20250315235959') + 999);
      cards.lastMoment = (await buyPaid(t.client, { cinemaId: '1001' }, 1)).card_no; // 35.00, SMS queued
      t.clock.set(at('20250316000000'));
      cards.tomorrow = (await buyPaid(t.client, { cinemaId: '1001' }, 1)).card_no;
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    it("lists the day's activations and voids of one partner, with totals exact to the fen", async () => {
      const st = await reports.statement('CS000001', '2025-03-15');
      expect(st).toMatchObject({
        partner_id: 'CS000001',
        day: '2025-03-15',
        filename: 'statement-CS000001-2025-03-15.csv',
        activations: 5,
        activation_fen: 7000 + 12600 + 3800 + 9999 + 3500,
        voids: 2,
        void_fen: -(3800 + 3500),
        net_fen: 36899 - 7300,
      });
      expect(st.csv.startsWith('\uFEFF')).toBe(true);
      expect(st.csv.endsWith('\r\n')).toBe(true);
      const lines = st.csv.slice(1).split('\r\n');
      expect(lines.pop()).toBe('');
      expect(lines[0]).toBe(STATEMENT_COLUMNS.join(','));
      const blank = lines.indexOf('');
      const rows = lines.slice(1, blank).map((l) => l.split(','));
      expect(lines.slice(blank + 1)).toEqual([
        'activations,activation_amount,voids,void_amount,net_amount',
        '5,368.99,2,-73.00,295.99',
      ]);

      const byCard = (no: string, type: string) => rows.find((r) => r[2] === no && r[0] === type);
      expect(byCard(cards.first!, 'activation')).toEqual([
        'activation',
        '2025-03-15 00:00:00',
        cards.first,
        'ORD-1',
        'cinema',
        '1001',
        '影城1001',
        '2',
        '35.00',
        '70.00',
      ]);
      expect(byCard(cards.kind!, 'activation')!.slice(4)).toEqual([
        'kind',
        'K3D',
        '全国通兑3D券',
        '3',
        '42.00',
        '126.00',
      ]);
      expect(byCard(cards.ownPrice!, 'activation')!.slice(3)).toEqual([
        "'-cmd",
        'cinema',
        '1003',
        '影城1003',
        '3',
        '33.33',
        '99.99',
      ]);
      expect(byCard(cards.voided!, 'activation')).toBeDefined();
      expect(byCard(cards.voided!, 'void')!.slice(7)).toEqual(['1', '38.00', '-38.00']);
      // Paid the day before, voided today: only the void is on today's statement.
      expect(byCard(cards.yesterdayVoided!, 'activation')).toBeUndefined();
      expect(byCard(cards.yesterdayVoided!, 'void')![1]).toBe('2025-03-15 12:00:00');
      expect(byCard(cards.lastMoment!, 'activation')![1]).toBe('2025-03-15 23:59:59');
      for (const absent of ['otherPartner', 'tomorrow', 'bannedUnpaid', 'unpaid', 'yesterdayKept']) {
        expect(rows.some((r) => r[2] === cards[absent])).toBe(false);
      }
      expect(rows).toHaveLength(7);
      // Every line is count × unit price, and the lines add up to the totals.
      for (const r of rows) {
        const sign = r[0] === 'void' ? -1 : 1;
        expect(fen(r[9]!)).toBe(sign * Number(r[7]) * fen(r[8]!));
      }
      expect(rows.reduce((s, r) => s + fen(r[9]!), 0)).toBe(st.net_fen);
      // Oldest first.
      const times = rows.map((r) => r[1]!);
      expect(times).toEqual([...times].sort());
    });

    it('gives the statement as lines in fen, the CSV rendered from them', async () => {
      const st = await reports.statement('CS000001', '2025-03-15');
      expect(st.lines).toHaveLength(7);
      expect(st.lines.find((l) => l.card_no === cards.first && l.type === 'activation')).toEqual({
        type: 'activation',
        at: at('20250315000000'),
        card_no: cards.first,
        order_no: 'ORD-1',
        target_type: 'cinema',
        target_id: '1001',
        target_name: '影城1001',
        count: 2,
        unit_price_fen: 3500,
        amount_fen: 7000,
      });
      // Text is kept as stored: the apostrophe that disarms a formula belongs to the CSV only.
      expect(st.lines.find((l) => l.card_no === cards.ownPrice)!.order_no).toBe('-cmd');
      expect(st.lines.find((l) => l.card_no === cards.voided && l.type === 'void')!.amount_fen).toBe(-3800);
      expect(st.lines.reduce((s, l) => s + l.amount_fen, 0)).toBe(st.net_fen);
      expect(statementCsv(st)).toBe(st.csv);
      expect(statementCsv(st)).toContain(`${cards.ownPrice},'-cmd,cinema`);
    });

    it("keeps other days and other partners off a partner's statement", async () => {
      const yesterday = await reports.statement('CS000001', '2025-03-14');
      expect(yesterday).toMatchObject({ activations: 2, activation_fen: 7000, voids: 0, net_fen: 7000 });
      const other = await reports.statement('CS000002', '2025-03-15');
      expect(other).toMatchObject({
        activations: 1,
        activation_fen: 3500,
        voids: 0,
        void_fen: 0,
        net_fen: 3500,
      });
      expect(other.csv).toContain(cards.otherPartner);
      expect(other.csv).not.toContain(cards.first);
      const empty = await reports.statement('CS000002', '2025-03-14');
      expect(empty.csv).toBe(
        `\uFEFF${STATEMENT_COLUMNS.join(',')}\r\n\r\nactivations,activation_amount,voids,void_amount,net_amount\r\n0,0.00,0,0.00,0.00\r\n`,
      );
    });

    it('refuses an unknown partner or a malformed day', async () => {
      const refusal = (p: Promise<unknown>) =>
        p.then(
          () => null,
          (err: AppError) => err.code,
        );
      expect(await refusal(reports.statement('CS999999', '2025-03-15'))).toBe('not_found');
      expect(await refusal(reports.statement('cs1', '2025-03-15'))).toBe('invalid');
      expect(await refusal(reports.statement('CS000001', '2025-02-29'))).toBe('invalid');
      expect(await refusal(reports.dashboard('2025-03-15', '2025-03-14'))).toBe('invalid');
      expect(await refusal(reports.dashboard('2024-01-01', '2025-03-14'))).toBe('invalid');
    });

    it('counts cards issued, activated, voided and redeemed per day and partner, and SMS delivery', async () => {
      const d = await reports.dashboard('2025-03-14', '2025-03-16');
      const zero = {
        issued: 0,
        issued_fen: 0,
        activated: 0,
        activated_fen: 0,
        voided: 0,
        voided_fen: 0,
        banned_unpaid: 0,
        redeemed_tickets: 0,
        redeemed_fen: 0,
      };
      expect(d.rows).toEqual([
        {
          day: '2025-03-14',
          partner_id: 'CS000001',
          ...zero,
          issued: 2,
          issued_fen: 7000,
          activated: 2,
          activated_fen: 7000,
        },
        {
          day: '2025-03-15',
          partner_id: 'CS000001',
          issued: 7,
          issued_fen: 7000 + 12600 + 3800 + 9999 + 3500 + 14000 + 3500,
          activated: 5,
          activated_fen: 36899,
          voided: 2,
          voided_fen: 7300,
          banned_unpaid: 1,
          redeemed_tickets: 1,
          redeemed_fen: 3500,
        },
        {
          day: '2025-03-15',
          partner_id: 'CS000002',
          ...zero,
          issued: 1,
          issued_fen: 3500,
          activated: 1,
          activated_fen: 3500,
        },
        {
          day: '2025-03-16',
          partner_id: 'CS000001',
          ...zero,
          issued: 1,
          issued_fen: 3500,
          activated: 1,
          activated_fen: 3500,
        },
      ]);
      expect(d.days.map((x) => [x.day, x.issued, x.activated, x.sms])).toEqual([
        [
          '2025-03-14',
          2,
          2,
          {
            sent: 2,
            failed: 0,
            queued: 0,
            delivery_rate: 1,
            delivered: 0,
            undelivered: 0,
            received_rate: null,
          },
        ],
        [
          '2025-03-15',
          8,
          6,
          {
            sent: 5,
            failed: 0,
            queued: 1,
            delivery_rate: 5 / 6,
            delivered: 0,
            undelivered: 0,
            received_rate: null,
          },
        ],
        [
          '2025-03-16',
          1,
          1,
          {
            sent: 0,
            failed: 0,
            queued: 1,
            delivery_rate: 0,
            delivered: 0,
            undelivered: 0,
            received_rate: null,
          },
        ],
      ]);
      expect(d.partners.map((p) => [p.partner_id, p.activated, p.activated_fen])).toEqual([
        ['CS000001', 8, 7000 + 36899 + 3500],
        ['CS000002', 1, 3500],
      ]);
      expect(d.totals).toMatchObject({
        issued: 11,
        activated: 9,
        voided: 2,
        banned_unpaid: 1,
        redeemed_tickets: 1,
      });
      expect(d.sms).toEqual({
        sent: 7,
        failed: 0,
        queued: 2,
        delivery_rate: 7 / 9,
        delivered: 0,
        undelivered: 0,
        received_rate: null,
      });

      const one = await reports.dashboard('2025-03-15', '2025-03-15', { partnerId: 'CS000002' });
      expect(one.rows).toHaveLength(1);
      expect(one.totals).toMatchObject({ issued: 1, activated: 1, activated_fen: 3500 });
      expect(one.sms).toEqual({
        sent: 1,
        failed: 0,
        queued: 0,
        delivery_rate: 1,
        delivered: 0,
        undelivered: 0,
        received_rate: null,
      });

      const quiet = await reports.dashboard('2025-03-10', '2025-03-11');
      expect(quiet.rows).toEqual([]);
      expect(quiet.days.map((x) => x.sms.delivery_rate)).toEqual([null, null]);
    });
  });
}
