import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCards, type GenerateResult } from '../scripts/card-generator.js';
import { DEFAULT_SMS_TEMPLATE } from '../src/config.js';
import type { CardRow } from '../src/db/card.repository.js';
import type { CardStatus } from '../src/db/schema.js';
import { effectiveStatus } from '../src/domain/card.presenter.js';
import { isLuhnValid } from '../src/domain/secrets.js';
import { SecretBox } from '../src/domain/secret-box.js';
import { maskMobile, openSmsText, PASSWORD_MASK } from '../src/domain/sms-template.js';
import { replay } from './support/crash-harness.js';
import { engines } from './support/engines.js';
import { KEY, makeCatalog, makePartner } from './support/factories.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const CARDS = 20_000;
const OTHER = { partnerId: 'CS000002', busId: '2002758', secId: 'test', md5key: KEY } as const;
const STATES: CardStatus[] = ['inactive', 'active', 'used', 'expired', 'banned'];

for (const engine of engines()) {
  describe(`card generator (${engine.name})`, () => {
    let t: TestApp;
    let generated: GenerateResult;
    let cards: CardRow[];
    const secrets = SecretBox.generate();

    beforeAll(async () => {
      const db = await engine.open();
      await makeCatalog(db);
      await makePartner(db);
      await makePartner(db, { ...OTHER, prices: [{ type: 'cinema', id: '1001', fen: 2990 }] });
      generated = await generateCards(db, {
        secrets,
        cards: CARDS,
        now: Date.now(),
        seed: 7,
        cardsPerTransaction: 6_000,
        timeZone: 'Asia/Shanghai',
        smsTemplate: DEFAULT_SMS_TEMPLATE,
        payDeadlineMin: 30,
        cinemaValidDays: 90,
        sampleSize: CARDS,
      });
      t = await makeTestApp(db, { seed: false, secrets });
      cards = await db.kysely.selectFrom('cards').selectAll().execute();
    }, 60_000);
    afterAll(async () => {
      await t?.close();
      await engine.cleanup();
    });

    it('stores as many cards as asked, each with a unique 16-digit Luhn-valid number', () => {
      expect(generated.cards).toBe(CARDS);
      expect(cards).toHaveLength(CARDS);
      const numbers = new Set(cards.map((c) => c.card_no));
      expect(numbers.size).toBe(CARDS);
      const malformed = cards.filter((c) => !/^[1-9][0-9]{15}$/.test(c.card_no) || !isLuhnValid(c.card_no));
      expect(malformed).toEqual([]);
    });

    it('spreads cards over the partners, cinemas and kinds, with partner prices, in every state', () => {
      const share = (pred: (c: CardRow) => boolean) => cards.filter(pred).length / CARDS;
      expect(share((c) => c.partner_id === OTHER.partnerId)).toBeGreaterThan(0.4);
      expect(share((c) => c.partner_id === OTHER.partnerId)).toBeLessThan(0.6);
      expect(share((c) => c.kind_id !== null)).toBeGreaterThan(0.15);
      expect(new Set(cards.map((c) => c.cinema_id)).size).toBeGreaterThanOrEqual(5); // 4 active + null
      expect(cards.some((c) => c.cinema_id === '3001')).toBe(false); // inactive
      for (const c of cards.filter((c) => c.cinema_id === '1001')) {
        expect(c.price_fen).toBe(c.partner_id === OTHER.partnerId ? 2990 : 3500);
        expect(c.total_fen).toBe(c.price_fen * c.count);
      }
      const byStatus = Object.fromEntries(STATES.map((s) => [s, share((c) => c.status === s)]));
      expect(byStatus.used).toBeGreaterThan(0.4);
      expect(byStatus.active).toBeGreaterThan(0.1);
      expect(byStatus.expired).toBeGreaterThan(0.1);
      expect(byStatus.banned).toBeGreaterThan(0.01);
      expect(byStatus.inactive).toBeGreaterThan(0);
      expect(generated.byStatus).toEqual(
        Object.fromEntries(
          STATES.map((s) => [s, cards.filter((c) => c.status === s).length]).filter(([, n]) => n),
        ),
      );
    });

    it('gives each card a ledger that replays to its stored state, and the SMS and redemptions it tells of', async () => {
      const events = await t.db.kysely
        .selectFrom('card_events')
        .selectAll()
        .orderBy('card_no')
        .orderBy('seq')
        .execute();
      const sms = await t.db.kysely.selectFrom('sms_messages').selectAll().execute();
      const redemptions = await t.db.kysely.selectFrom('redemptions').selectAll().execute();
      expect(events).toHaveLength(generated.events);
      expect(sms).toHaveLength(generated.sms);
      expect(redemptions).toHaveLength(generated.redemptions);
      const group = <T extends { card_no: string }>(rows: T[]) => {
        const m = new Map<string, T[]>();
        for (const r of rows) m.set(r.card_no, [...(m.get(r.card_no) ?? []), r]);
        return m;
      };
      const ledgers = group(events);
      const smsByCard = group(sms);
      const redemptionsByCard = group(redemptions);
      const violations: string[] = [];
      for (const card of cards) {
        const c = card.card_no;
        const ledger = ledgers.get(c) ?? [];
        const replayed = replay(ledger);
        if (replayed.error) violations.push(`${c}: ${replayed.error}`);
        else if (replayed.status !== card.status || replayed.usedCount !== card.used_count) {
          violations.push(
            `${c} replays to ${replayed.status}/${replayed.usedCount}, stored ${card.status}/${card.used_count}`,
          );
        }
        if (ledger.at(-1)?.at !== card.updated_at) violations.push(`${c}: updated_at is not its last event`);
        const messages = (smsByCard.get(c) ?? []).sort((a, b) => a.created_at - b.created_at);
        const paid = card.paid_at !== null;
        if (paid !== ledger.some((e) => e.type === 'activated'))
          violations.push(`${c}: paid_at vs 'activated'`);
        if (paid !== (messages.filter((m) => m.reason === 'activation').length === 1)) {
          violations.push(`${c}: paid_at vs activation SMS`);
        }
        if (paid && (!card.password || !card.mobile || card.valid_until === null))
          violations.push(`${c}: paid, no secrets`);
        if (!paid && (card.password !== null || card.mobile !== null))
          violations.push(`${c}: unpaid with secrets`);
        if ((messages.at(-1)?.status ?? 'none') !== card.sms_status) violations.push(`${c}: sms_status`);
        const password = card.password === null ? null : secrets.open(card.password);
        if (card.password !== null && !card.password.startsWith('v1:'))
          violations.push(`${c}: password not sealed`);
        for (const m of messages) {
          // A settled message keeps its text masked; a queued one is sealed whole.
          const text = m.status === 'queued' ? openSmsText(secrets, m.text).text : m.text;
          const shown = m.status === 'queued' ? password : PASSWORD_MASK;
          if (m.mobile !== card.mobile || !text.includes(c) || !text.includes(`密码${shown ?? '-'}`)) {
            violations.push(`${c}: SMS ${m.id} does not carry the card`);
          }
          if (password !== null && m.text.includes(password))
            violations.push(`${c}: SMS ${m.id} shows the password`);
        }
        const used = (redemptionsByCard.get(c) ?? []).reduce((n, r) => n + r.count, 0);
        if (used !== card.used_count)
          violations.push(`${c}: redemptions add up to ${used}, used_count ${card.used_count}`);
        if ((card.status === 'used') !== (card.used_count === card.count))
          violations.push(`${c}: used vs used_count`);
        if (card.status === 'banned' && (card.banned_at === null || card.used_count > 0))
          violations.push(`${c}: ban`);
        if (card.status === 'expired' && card.expired_at === null) violations.push(`${c}: expired_at`);
      }
      expect(violations.slice(0, 10).join('\n')).toBe('');
    });

    it('answers status for generated cards of every state as stored', async () => {
      const byNo = new Map(cards.map((c) => [c.card_no, c]));
      const now = t.clock.now();
      for (const state of STATES) {
        const some = generated.sample
          .filter((s) => s.partner_id === 'CS000001' && s.effective === state)
          .slice(0, 3);
        expect(some.length, state).toBeGreaterThan(0);
        for (const s of some) {
          const row = byNo.get(s.card_no)!;
          const { card } = await t.client.status({ cardNo: s.card_no });
          expect(card).toMatchObject({
            card_no: s.card_no,
            status: effectiveStatus(row, now),
            used_count: String(row.used_count),
            remaining: String(row.count - row.used_count),
            mobile: maskMobile(row.mobile),
            sms_status: row.sms_status,
            order_no: row.order_no ?? '',
          });
        }
      }
      const foreign = generated.sample.find((s) => s.partner_id === OTHER.partnerId)!;
      await expect(t.client.status({ cardNo: foreign.card_no })).rejects.toMatchObject({ type: 'not_found' });
    });
  });
}
