import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedemptionService } from '../src/domain/admin/redemption.service.js';
import { AppError } from '../src/errors.js';
import { ReportService } from '../src/domain/admin/report.service.js';
import { STATEMENT_COLUMNS, settlementCsv, statementCsv } from '../src/domain/admin/statement-csv.js';
import { readCsvAsSpreadsheet } from './support/spreadsheet.js';
import { parseYuan } from '../src/domain/money.js';
import { parseTimestamp } from '../src/domain/time.js';
import type { MovTicketClient } from '../src/client/index.js';
import { engines } from './support/engines.js';
import { KEY, makePartner } from './support/factories.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const TZ = 'Asia/Shanghai';
const at = (ymdhis: string) => parseTimestamp(ymdhis, TZ)!;
const MOBILE = '13812345678';
/** Cinema staff of 1001 (redeems at the counter, sees only 1001's settlement). */
const STAFF_1001 = { userId: 'u1', role: 'cinema' as const, cinemaId: '1001' };

/** Signed fen from a yuan string ("-35.00" → -3500). */
const fen = (yuan: string) => (yuan.startsWith('-') ? -parseYuan(yuan.slice(1))! : parseYuan(yuan)!);

for (const engine of engines()) {
  describe(`reports (${engine.name})`, () => {
    let t: TestApp;
    let other: MovTicketClient;
    let reports: ReportService;
    let redemption: RedemptionService;
    // Card numbers by role in the scenario below.
    const cards: Record<string, string> = {};
    let kindPassword = '';

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
      redemption = new RedemptionService({
        db: t.db,
        clock: t.clock,
        timeZone: TZ,
        secrets: t.secrets,
      });

      t.clock.set(at('20250314120000'));
      cards.yesterdayVoided = (await buyPaid(t.client, { cinemaId: '1001' }, 1)).card_no; // 35.00
      const kept = await buyPaid(t.client, { cinemaId: '1001' }, 1); // 35.00
      cards.yesterdayKept = kept.card_no;
      await t.app.outbox.runOnce();

      t.clock.set(at('20250315000000'));
      const first = await buyPaid(t.client, { cinemaId: '1001' }, 2, 'ORD-1'); // 70.00
      cards.first = first.card_no;
      t.clock.set(at('20250315100000'));
      const kindCard = await buyPaid(t.client, { kindId: 'K3D' }, 3); // 3 × 42.00
      cards.kind = kindCard.card_no;
      kindPassword = kindCard.password;
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
      await redemption.redeem(STAFF_1001, first.card_no, first.password, 1);
      const undone = await redemption.redeem(STAFF_1001, kept.card_no, kept.password, 1);
      await redemption.undo(STAFF_1001, undone.redemption_id);

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
        from_day: '2025-03-15',
        to_day: '2025-03-15',
        filename: 'statement-CS000001-2025-03-15.csv',
        activations: 5,
        activation_fen: 7000 + 12600 + 3800 + 9999 + 3500,
        voids: 2,
        void_fen: -(3800 + 3500),
        net_fen: 36899 - 7300,
      });
      const csv = statementCsv(st, 'en');
      expect(csv.startsWith('\uFEFF')).toBe(true);
      expect(csv.endsWith('\r\n')).toBe(true);
      const lines = csv.slice(1).split('\r\n');
      expect(lines.pop()).toBe('');
      expect(lines[0]).toBe(STATEMENT_COLUMNS.en.join(','));
      const blank = lines.indexOf('');
      const rows = lines.slice(1, blank).map((l) => l.split(','));
      expect(lines.slice(blank + 1)).toEqual([
        'day,activations,activation_amount,voids,void_amount,net_amount',
        '2025-03-15,5,368.99,2,-73.00,295.99',
        '',
        'partner_id,partner_name,activations,activation_amount,voids,void_amount,net_amount',
        expect.stringMatching(/^CS000001,.*,5,368\.99,2,-73\.00,295\.99$/),
        '',
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
        'CS000001',
      ]);
      expect(byCard(cards.kind!, 'activation')!.slice(4)).toEqual([
        'kind',
        'K3D',
        '全国通兑3D券',
        '3',
        '42.00',
        '126.00',
        'CS000001',
      ]);
      expect(byCard(cards.ownPrice!, 'activation')!.slice(3)).toEqual([
        "'-cmd",
        'cinema',
        '1003',
        '影城1003',
        '3',
        '33.33',
        '99.99',
        'CS000001',
      ]);
      expect(byCard(cards.voided!, 'activation')).toBeDefined();
      expect(byCard(cards.voided!, 'void')!.slice(7)).toEqual(['1', '38.00', '-38.00', 'CS000001']);
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
        partner_id: 'CS000001',
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
      expect(statementCsv(st, 'en')).toContain(`${cards.ownPrice},'-cmd,cinema`);
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
      expect(statementCsv(other)).toContain(cards.otherPartner);
      expect(statementCsv(other)).not.toContain(cards.first);
      const empty = await reports.statement('CS000002', '2025-03-14');
      expect(statementCsv(empty, 'en')).toBe(
        `\uFEFF${STATEMENT_COLUMNS.en.join(',')}\r\n\r\n` +
          'day,activations,activation_amount,voids,void_amount,net_amount\r\n2025-03-14,0,0.00,0,0.00,0.00\r\n\r\n' +
          'partner_id,partner_name,activations,activation_amount,voids,void_amount,net_amount\r\n\r\n' +
          'activations,activation_amount,voids,void_amount,net_amount\r\n0,0.00,0,0.00,0.00\r\n',
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
      expect(await refusal(reports.statement('CS000001', '2025-03-15', '2025-03-14'))).toBe('invalid');
      expect(await refusal(reports.statement(undefined, '2024-01-01', '2025-03-14'))).toBe('invalid');
      expect(await refusal(reports.dashboard('2025-03-15', '2025-03-14'))).toBe('invalid');
      expect(await refusal(reports.dashboard('2024-01-01', '2025-03-14'))).toBe('invalid');
    });

    it('covers a range of days and every partner, with totals per day and per partner', async () => {
      const st = await reports.statement(undefined, '2025-03-14', '2025-03-16');
      expect(st).toMatchObject({ partner_id: null, from_day: '2025-03-14', to_day: '2025-03-16' });
      expect(st.filename).toBe('statement-all-2025-03-14_2025-03-16.csv');
      expect(st.days.map((d) => [d.day, d.activations, d.voids, d.net_fen])).toEqual([
        ['2025-03-14', 2, 0, 7000],
        ['2025-03-15', 6, 2, 36899 + 3500 - 7300],
        ['2025-03-16', 1, 0, 3500],
      ]);
      expect(st.partners.map((p) => [p.partner_id, p.activations, p.voids, p.net_fen])).toEqual([
        ['CS000001', 8, 2, 7000 + 36899 + 3500 - 7300],
        ['CS000002', 1, 0, 3500],
      ]);
      expect(st.net_fen).toBe(st.days.reduce((s, d) => s + d.net_fen, 0));
      expect(st.net_fen).toBe(st.partners.reduce((s, p) => s + p.net_fen, 0));
      expect(st.lines.filter((l) => l.partner_id === 'CS000002').map((l) => l.card_no)).toEqual([
        cards.otherPartner,
      ]);
      // A month of one partner: the same lines as its days one by one.
      const month = await reports.statement('CS000001', '2025-03-01', '2025-03-31');
      let byDays = 0;
      for (const day of ['2025-03-14', '2025-03-15', '2025-03-16']) {
        byDays += (await reports.statement('CS000001', day)).net_fen;
      }
      expect(month.net_fen).toBe(byDays);
      expect(month.days).toHaveLength(31);
      expect(month.filename).toBe('statement-CS000001-2025-03-01_2025-03-31.csv');
    });

    it('writes Chinese headers and type names, and card numbers a spreadsheet keeps exact', async () => {
      const st = await reports.statement('CS000001', '2025-03-15');
      const sheet = readCsvAsSpreadsheet(statementCsv(st));
      expect(sheet[0]).toEqual([
        '类型',
        '时间',
        '卡号',
        '订单号',
        '对象类型',
        '对象编号',
        '对象名称',
        '张数',
        '单价',
        '金额',
        '渠道编号',
      ]);
      const first = sheet.find((r) => r[2] === cards.first)!;
      expect(first).toBeDefined();
      expect(first.slice(0, 2)).toEqual(['激活', '2025-03-15 00:00:00']);
      expect(first[4]).toBe('影院');
      expect(sheet.find((r) => r[2] === cards.kind)![4]).toBe('券种');
      expect(sheet.find((r) => r[2] === cards.voided && r[0] === '冲销')).toBeDefined();
      // Every card number survives as the 16 digits it is.
      const cardCells = sheet
        .slice(
          1,
          sheet.findIndex((r) => r.length === 1 && r[0] === ''),
        )
        .map((r) => r[2]);
      expect(cardCells).toHaveLength(7);
      for (const c of cardCells) expect(c).toMatch(/^[0-9]{16}$/);
      expect(new Set(cardCells)).toEqual(new Set(st.lines.map((l) => l.card_no)));
      // The machines' version, read the same way, would lose the last digit: why people get ="…".
      const en = readCsvAsSpreadsheet(statementCsv(st, 'en'));
      expect(en.find((r) => r[2] === cards.first)).toBeUndefined();
      expect(
        statementCsv(st, 'en')
          .split('\r\n')
          .some((l) => l.startsWith(`activation,2025-03-15 00:00:00,${cards.first},`)),
      ).toBe(true);
      expect(sheet.some((r) => r.join(',') === '日期,激活卡数,激活金额,冲销卡数,冲销金额,净额')).toBe(true);
    });

    it("settles a cinema's standing redemptions per day and kind, its own cinema only for its staff", async () => {
      t.clock.set(at('20250316090000'));
      // K3D is valid at 1002; its staff redeem there (a settlement of 1002, below).
      const staff2 = { userId: 'u2', role: 'cinema' as const, cinemaId: '1002' };
      await redemption.redeem(staff2, cards.kind!, kindPassword, 2);

      // A cinema card of 1002, one ticket redeemed the same day.
      const own = (await t.client.buyByCinema({ cinemaId: '1002', count: 2 })).card;
      const paid = (await t.client.payByCard({ cardNo: own.card_no, mobile: MOBILE })).card;
      await redemption.redeem(staff2, paid.card_no, paid.password, 1);

      const s = await reports.settlement({ role: 'operator' }, '1002', '2025-03-14', '2025-03-16');
      expect(s).toMatchObject({ cinema_id: '1002', cinema_name: '影城1002', tickets: 3, redemptions: 2 });
      expect(s.amount_fen).toBe(3800 + 2 * 4200);
      expect(s.rows).toEqual([
        { day: '2025-03-16', kind_id: null, kind_name: null, tickets: 1, redemptions: 1, amount_fen: 3800 },
        {
          day: '2025-03-16',
          kind_id: 'K3D',
          kind_name: '全国通兑3D券',
          tickets: 2,
          redemptions: 1,
          amount_fen: 8400,
        },
      ]);
      expect(s.days.map((d) => [d.day, d.tickets, d.amount_fen])).toEqual([
        ['2025-03-14', 0, 0],
        ['2025-03-15', 0, 0],
        ['2025-03-16', 3, 12200],
      ]);
      expect(s.kinds.map((k) => [k.kind_id, k.tickets])).toEqual([
        [null, 1],
        ['K3D', 2],
      ]);
      const sheet = readCsvAsSpreadsheet(settlementCsv(s));
      expect(sheet[0]).toEqual(['日期', '券种编号', '券种名称', '张数', '兑换笔数', '金额']);
      expect(sheet[1]).toEqual(['2025-03-16', '', '本影院卡', 1, 1, 38]);
      expect(settlementCsv(s, 'en').split('\r\n')[2]).toBe('2025-03-16,K3D,全国通兑3D券,2,1,84.00');
      // 1001: the first card's ticket of the 15th (the undone one not counted).
      expect((await reports.settlement({ role: 'admin' }, '1001', '2025-03-15')).rows).toEqual([
        { day: '2025-03-15', kind_id: null, kind_name: null, tickets: 1, redemptions: 1, amount_fen: 3500 },
      ]);

      // Its own staff may see it; another cinema's staff may not; unknown cinemas are not found.
      expect((await reports.settlement(STAFF_1001, '1001', '2025-03-15')).tickets).toBe(1);
      const refusal = (p: Promise<unknown>) =>
        p.then(
          () => null,
          (err: AppError) => [err.code, err.id],
        );
      expect(await refusal(reports.settlement(STAFF_1001, '1002', '2025-03-15'))).toEqual([
        'forbidden',
        'settlement.other_cinema',
      ]);
      expect(await refusal(reports.settlement({ role: 'admin' }, '9999', '2025-03-15'))).toEqual([
        'not_found',
        'not_found',
      ]);
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
