import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { appendCardEvent } from '../src/db/card.repository.js';
import { openSmsText } from '../src/domain/sms-template.js';
import { type Accepted, type Receipt, SmsSendError } from '../src/sms/types.js';
import { type OutboxOptions, SmsOutbox } from '../src/workers/sms-outbox.js';
import type { SmsMessage, SmsSender } from '../src/workers/sms-senders.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';
import { pgStatementRecorder } from './support/pg-statements.js';

// Runs just before a delivery's one statement (PostgreSQL only), e.g. to append an event meanwhile.
let beforeRecord: (() => Promise<void>) | undefined;
vi.mock('../src/db/sms.repository.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/db/sms.repository.js')>();
  return {
    ...real,
    recordSmsSentOnce: async (...args: Parameters<typeof real.recordSmsSentOnce>) => {
      const hook = beforeRecord;
      beforeRecord = undefined;
      await hook?.();
      return real.recordSmsSentOnce(...args);
    },
  };
});

const MOBILE = '13812345678';
const RECEIPT_AFTER_MS = 30_000;

const { sent, recorded, pause, resume } = pgStatementRecorder();

/** A sender whose sends run until the test ends them: accepted (by a provider or not) or refused. */
class HeldSender implements SmsSender {
  readonly name = 'held';
  readonly sends: { message: SmsMessage; end: (outcome?: Accepted | Error) => void }[] = [];
  send(message: SmsMessage): Promise<Accepted | void> {
    return new Promise((resolve, reject) => {
      this.sends.push({ message, end: (o) => (o instanceof Error ? reject(o) : resolve(o)) });
    });
  }
  /** Present, so that an accepted message is due for its report. */
  receipt(): Promise<Receipt> {
    return Promise.resolve({ state: 'pending', ref: null });
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

const OPTS: OutboxOptions = {
  maxAttempts: 3,
  leaseMs: 60_000,
  concurrency: 10,
  // One lease per pass: a pass ends once what it leased is recorded.
  pollMs: 3_600_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 4_000,
  receipts: { pollMs: 60_000, firstAfterMs: RECEIPT_AFTER_MS, maxAgeMs: 3_600_000, batch: 10 },
};

for (const engine of engines()) {
  describe(`recording an SMS delivery (${engine.name})`, () => {
    let t: TestApp;
    let held: HeldSender;
    let warnings: string[];
    let box: SmsOutbox;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
      held = new HeldSender();
      warnings = [];
      const log = { warn: (_: object, msg: string) => warnings.push(msg), error: () => {} };
      box = new SmsOutbox(t.db, t.clock, held, t.secrets, log, OPTS);
    });
    afterEach(() => {
      beforeRecord = undefined;
      pause();
      return t.close();
    });
    afterAll(() => engine.cleanup());

    const paidCard = async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      return (await t.client.payByCard({ cardNo: card.card_no, mobile: MOBILE })).card;
    };
    const messages = () => t.db.kysely.selectFrom('sms_messages').selectAll().orderBy('created_at').execute();
    const cardRow = (cardNo: string) =>
      t.db.kysely.selectFrom('cards').selectAll().where('card_no', '=', cardNo).executeTakeFirstOrThrow();
    const ledger = (cardNo: string) =>
      t.db.kysely
        .selectFrom('card_events')
        .select(['seq', 'type', 'at', 'actor', 'data'])
        .where('card_no', '=', cardNo)
        .orderBy('seq')
        .execute();
    /** Starts a pass and waits until its `n` sends are in hand. */
    const sending = async (n: number) => {
      const pass = box.runOnce();
      await waitFor(`${n} sends to start`, () => held.sends.length === n);
      // Wrapped: an async function returning the pass itself would wait for it.
      return { pass };
    };

    it('marks the message sent, shows it on the card and appends the sms_sent event', async () => {
      const card = await paidCard();
      t.clock.advance(1_000);
      const { pass } = await sending(1);
      const [leased] = await messages();
      const cardBefore = await cardRow(card.card_no);
      const ledgerBefore = await ledger(card.card_no);
      t.clock.advance(2_000);
      const now = t.clock.now();
      await recorded(async () => {
        held.sends[0]!.end({ provider: 'aliyun', ref: 'BIZ-1' });
        expect(await pass).toBe(1);
      });

      const masked = openSmsText(t.secrets, leased!.text).masked;
      expect(masked).toContain('*');
      expect(await messages()).toEqual([
        {
          ...leased,
          status: 'sent',
          sent_at: now,
          attempts: 1,
          locked_until: 0,
          last_error: null,
          provider: 'aliyun',
          provider_ref: 'BIZ-1',
          receipt_due_at: now + RECEIPT_AFTER_MS,
          text: masked,
        },
      ]);
      expect(await cardRow(card.card_no)).toEqual({ ...cardBefore, sms_status: 'sent', updated_at: now });
      expect(await ledger(card.card_no)).toEqual([
        ...ledgerBefore,
        {
          seq: 4,
          type: 'sms_sent',
          at: now,
          actor: 'system',
          data: JSON.stringify({
            message_id: leased!.id,
            attempts: 1,
            provider: 'aliyun',
            sms_status: 'sent',
          }),
        },
      ]);
      expect(ledgerBefore.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(warnings).toEqual([]);
      if (engine.name === 'postgres') {
        expect(sent).toHaveLength(1);
        expect(sent[0]).toMatch(/^with /);
      }
    });

    it("leaves the card to a resend's newer message when the older one is recorded after it", async () => {
      const card = await paidCard();
      t.clock.advance(1_000);
      await t.client.resendSms({ cardNo: card.card_no });
      const [older, newer] = await messages();
      expect([older!.reason, newer!.reason]).toEqual(['activation', 'resend']);
      const { pass } = await sending(2);
      const send = (id: string) => held.sends.find((s) => s.message.id === id)!;
      // The newer message is refused for good first: the card shows it failed.
      send(newer!.id).end(new SmsSendError('final', 'aliyun', 'isv.MOBILE_NUMBER_ILLEGAL', 'refused'));
      await waitFor('the newer message to fail', async () => (await messages())[1]!.status === 'failed');
      expect((await cardRow(card.card_no)).sms_status).toBe('failed');
      t.clock.advance(1_000);
      const now = t.clock.now();
      const cardBefore = await cardRow(card.card_no);
      const ledgerBefore = await ledger(card.card_no);
      await recorded(async () => {
        send(older!.id).end();
        expect(await pass).toBe(2);
      });

      expect((await messages())[0]).toMatchObject({
        id: older!.id,
        status: 'sent',
        sent_at: now,
        attempts: 1,
        provider: null,
        provider_ref: null,
        receipt_due_at: null,
      });
      expect(await cardRow(card.card_no)).toEqual({ ...cardBefore, sms_status: 'failed', updated_at: now });
      expect(await ledger(card.card_no)).toEqual([
        ...ledgerBefore,
        {
          seq: ledgerBefore.length + 1,
          type: 'sms_sent',
          at: now,
          actor: 'system',
          data: JSON.stringify({ message_id: older!.id, attempts: 1 }),
        },
      ]);
      if (engine.name === 'postgres') {
        expect(sent).toHaveLength(1);
        expect(sent[0]).toMatch(/^with /);
      }
    });

    it('records nothing when another worker took the message over', async () => {
      const card = await paidCard();
      const { pass } = await sending(1);
      t.clock.advance(60_001);
      // Another worker's lease, as a claim of the expired one would set it.
      await t.db.kysely
        .updateTable('sms_messages')
        .set({ locked_until: t.clock.now() + 60_000 })
        .execute();
      const before = {
        sms: await messages(),
        card: await cardRow(card.card_no),
        ledger: await ledger(card.card_no),
      };
      await recorded(async () => {
        held.sends[0]!.end({ provider: 'aliyun', ref: 'BIZ-2' });
        expect(await pass).toBe(1);
      });
      expect({
        sms: await messages(),
        card: await cardRow(card.card_no),
        ledger: await ledger(card.card_no),
      }).toEqual(before);
      expect(warnings).toContain('sms outbox lost the lease before recording; result not recorded');
      if (engine.name === 'postgres') {
        expect(sent).toHaveLength(1);
        expect(sent[0]).toMatch(/^with /);
      }
    });

    if (engine.name === 'postgres') {
      it('falls back to the transaction when an event took the seq meanwhile, and records once', async () => {
        const card = await paidCard();
        const { pass } = await sending(1);
        const [leased] = await messages();
        const now = t.clock.now();
        let other: Promise<void> | undefined;
        beforeRecord = async () => {
          pause();
          let appended!: () => void;
          const ready = new Promise<void>((resolve) => (appended = resolve));
          // Appends the card's next event and commits it only once the statement waits on it.
          other = t.db.kysely.transaction().execute(async (tx) => {
            await appendCardEvent(tx, {
              card_no: card.card_no,
              type: 'note',
              at: now,
              actor: 'admin:x',
              data: '{}',
            });
            appended();
            await waitFor('the statement to wait on the event', async () => {
              const { rows } = await sql<{ n: number | string }>`select count(*) as n from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock'`.execute(t.db.kysely);
              return Number(rows[0]!.n) > 0;
            });
          });
          await ready;
          resume();
        };
        await recorded(async () => {
          held.sends[0]!.end({ provider: 'aliyun', ref: 'BIZ-3' });
          expect(await pass).toBe(1);
        });
        await other;
        expect(warnings).toEqual([]);
        expect(sent.filter((s) => s.startsWith('with '))).toHaveLength(1);
        expect(sent.filter((s) => s === 'begin')).toHaveLength(1);
        expect((await messages())[0]).toMatchObject({ status: 'sent', attempts: 1, provider_ref: 'BIZ-3' });
        expect((await cardRow(card.card_no)).sms_status).toBe('sent');
        const events = await ledger(card.card_no);
        expect(events.map((e) => [e.seq, e.type])).toEqual([
          [1, 'created'],
          [2, 'activated'],
          [3, 'sms_queued'],
          [4, 'note'],
          [5, 'sms_sent'],
        ]);
        expect(events[4]!.data).toBe(
          JSON.stringify({ message_id: leased!.id, attempts: 1, provider: 'aliyun', sms_status: 'sent' }),
        );
      });
    }
  });
}
