import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type CardData,
  type CardStatusData,
  MovTicketClient,
  MovTicketError,
  type PaidCardData,
} from '../src/client/index.js';
import type { SecretBox } from '../src/domain/secret-box.js';
import { PASSWORD_MASK } from '../src/domain/sms-template.js';
import { createKeyFile, readKeyFile } from '../src/secret-key-file.js';
import { createPgDatabase } from './support/engines.js';
import { type ServerProcess, startDemoServer } from './support/server-process.js';

// Two `movticket serve --demo` processes share one PostgreSQL database; channels hit both at
// once. What one process does must never be undone, repeated or contradicted by the other.

const TEST_URL = process.env.TEST_DATABASE_URL;
const DEMO_KEY = `mp${randomBytes(8).toString('hex')}`;
const ORDERS = 400;
const CONCURRENCY = 20;
const CINEMAS = ['1001', '1002', '1003', '1004', '2001', '2002', '2003'];
const RUN = randomBytes(4).toString('hex'); // keeps req_ids and order numbers unique per run

/** What each order exercises; chosen by `index % 10`. */
type Scenario = 'doublePay' | 'samePay' | 'retryBuy' | 'banVsPay' | 'unpaid';
const SCENARIOS: Scenario[] = [
  'doublePay', // pay on one server, a duplicate with another req_id on the other, at once
  'doublePay',
  'doublePay',
  'doublePay',
  'samePay', // the same payByCard (same req_id) on both servers at once
  'retryBuy', // the same buy (same req_id) on both servers at once, then one payment
  'retryBuy',
  'banVsPay', // ban on one server while paying on the other
  'banVsPay',
  'unpaid', // bought on one server, read back on the other
];

type Answer<T> =
  { ok: true; data: T } | { ok: false; code: number; type: string; message: string; reqId: string };

interface PayAttempt {
  server: number;
  reqId: string;
  mobile: string;
  answer: Answer<PaidCardData>;
}

interface Order {
  index: number;
  scenario: Scenario;
  orderNo: string;
  /** Index of the server the order was bought on (alternates). */
  home: number;
  buys: Answer<CardData>[];
  cardNo?: string;
  pays: PayAttempt[];
  ban?: Answer<CardStatusData>;
  status?: Answer<CardStatusData>;
}

async function answer<T>(call: Promise<T>): Promise<Answer<T>> {
  try {
    return { ok: true, data: await call };
  } catch (err) {
    if (!(err instanceof MovTicketError)) throw err;
    return { ok: false, code: err.code, type: err.type, message: err.message, reqId: err.reqId };
  }
}

function isLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

const reqId = (tag: string, index: number) => `${RUN}${tag}${index}`;
/** Distinct per order and attempt, so the stored mobile names the payment that won. */
const mobileFor = (index: number, attempt: number) => `1${3 + attempt}${String(index).padStart(9, '0')}`;

async function runPool(count: number, concurrency: number, work: (index: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function runOrder(clients: MovTicketClient[], order: Order): Promise<void> {
  const { index, home } = order;
  const here = clients[home]!;
  const there = clients[1 - home]!;
  const params = {
    cinemaId: CINEMAS[index % CINEMAS.length]!,
    count: 1 + (index % 3),
    orderNo: order.orderNo,
  };
  if (order.scenario === 'retryBuy') {
    const id = reqId('b', index);
    order.buys = await Promise.all([
      answer(here.buyByCinema(params, { reqId: id })),
      answer(there.buyByCinema(params, { reqId: id })),
    ]);
  } else {
    order.buys = [await answer(here.buyByCinema(params, { reqId: reqId('b', index) }))];
  }
  const bought = order.buys[0]!;
  if (!bought.ok) return;
  const cardNo = bought.data.card.card_no;
  order.cardNo = cardNo;
  const pay = async (server: number, id: string, mobile: string): Promise<PayAttempt> => ({
    server,
    reqId: id,
    mobile,
    answer: await answer(clients[server]!.payByCard({ cardNo, mobile }, { reqId: id })),
  });
  switch (order.scenario) {
    case 'doublePay':
      order.pays = await Promise.all([
        pay(home, reqId('p', index), mobileFor(index, 0)),
        pay(1 - home, reqId('q', index), mobileFor(index, 1)),
      ]);
      break;
    case 'samePay':
      order.pays = await Promise.all([
        pay(home, reqId('p', index), mobileFor(index, 0)),
        pay(1 - home, reqId('p', index), mobileFor(index, 0)),
      ]);
      break;
    case 'retryBuy':
      order.pays = [await pay(1 - home, reqId('p', index), mobileFor(index, 0))];
      break;
    case 'banVsPay': {
      const [ban, paid] = await Promise.all([
        answer(here.ban({ cardNo, reason: 'load test' }, { reqId: reqId('x', index) })),
        pay(1 - home, reqId('p', index), mobileFor(index, 0)),
      ]);
      order.ban = ban;
      order.pays = [paid];
      break;
    }
    case 'unpaid':
      order.status = await answer(there.status({ cardNo }, { reqId: reqId('s', index) }));
      break;
  }
}

interface CardRow {
  card_no: string;
  order_no: string | null;
  partner_id: string;
  status: string;
  mobile: string | null;
  password: string | null;
  sms_status: string;
}
interface EventRow {
  card_no: string;
  seq: number;
  type: string;
  data: string;
}
interface SmsRow {
  id: string;
  card_no: string;
  mobile: string;
  text: string;
  reason: string;
  status: string;
}
interface SmsLine {
  id: string;
  mobile: string;
  text: string;
  at: string;
}

describe.skipIf(!TEST_URL)('two server processes on one PostgreSQL database', () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let pool: pg.Pool | undefined;
  let tmpDir: string | undefined;
  const servers: ServerProcess[] = [];
  const smsFiles: string[] = [];
  /** The key file both servers share, as instances of one deployment must. */
  let secrets: SecretBox | undefined;
  let clients: MovTicketClient[] = [];
  let orders: Order[] | undefined;

  const query = async <R extends object>(text: string, values: unknown[] = []): Promise<R[]> =>
    (await pool!.query<R>(text, values)).rows;
  const loaded = (): Order[] => {
    if (!orders) throw new Error('the load run did not complete');
    return orders;
  };
  /** The order's single card (every buy must have succeeded). */
  const cardOf = (order: Order): string => {
    if (!order.cardNo) throw new Error(`order ${order.orderNo} has no card`);
    return order.cardNo;
  };

  beforeAll(async () => {
    database = await createPgDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'movticket-mp-'));
    const keyFile = path.join(tmpDir, 'movticket.key');
    createKeyFile(keyFile);
    secrets = readKeyFile(keyFile);
    const start = (name: string) => {
      const smsFile = path.join(tmpDir!, `sms-${name}.jsonl`);
      smsFiles.push(smsFile);
      return startDemoServer({
        DATABASE_URL: database!.url,
        MOVTICKET_DEMO_KEY: DEMO_KEY,
        MOVTICKET_SMS: `file:${smsFile}`,
        MOVTICKET_DATA_DIR: path.join(tmpDir!, `data-${name}`),
        MOVTICKET_SECRET_KEY_FILE: keyFile,
        LOG_LEVEL: 'warn',
      });
    };
    // One after the other: the first seeds the empty database, the second must find the data.
    servers.push(await start('a'));
    servers.push(await start('b'));
    clients = servers.map(
      (s) =>
        new MovTicketClient({
          baseUrl: s.baseUrl,
          partnerId: 'CS000001',
          secId: 'test',
          busId: '1002758',
          md5key: DEMO_KEY,
          format: 'json',
          retries: 0,
          timeoutMs: 30_000,
        }),
    );
  }, 90_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop(10_000)));
    await pool?.end();
    await database?.drop();
    if (tmpDir) await fs.rm(tmpDir, { recursive: true, force: true });
  }, 60_000);

  it('lets the second server use the demo data the first one seeded', async () => {
    expect(servers.map((s) => s.md5key)).toEqual([DEMO_KEY, DEMO_KEY]);
    const [first, second] = await Promise.all(clients.map((c) => c.cities()));
    expect(first!.cities.map((c) => c.code_id)).toEqual(['001', '002']);
    expect(second).toEqual(first);
    const [counts] = await query<{ partners: number; cinemas: number; kinds: number; seeded: string }>(
      `select (select count(*)::int from partners) as partners, (select count(*)::int from cinemas) as cinemas,
              (select count(*)::int from kinds) as kinds,
              (select value from meta where key = 'demo_seeded') as seeded`,
    );
    expect(counts).toEqual({ partners: 1, cinemas: 7, kinds: 2, seeded: '1' });
  });

  it('answers interleaved buys, payments and bans on both servers with 200 or 406 card_state only', async () => {
    const run: Order[] = Array.from({ length: ORDERS }, (_, index) => ({
      index,
      scenario: SCENARIOS[index % SCENARIOS.length]!,
      orderNo: `mp-${RUN}-${index}`,
      home: index % 2,
      buys: [],
      pays: [],
    }));
    const started = Date.now();
    await runPool(ORDERS, CONCURRENCY, (i) => runOrder(clients, run[i]!));
    const seconds = (Date.now() - started) / 1000;
    orders = run;

    const failures = run.flatMap((o) =>
      [...o.buys, ...o.pays.map((p) => p.answer), ...(o.ban ? [o.ban] : []), ...(o.status ? [o.status] : [])]
        .filter((a) => !a.ok)
        .map((a) => ({ order: o.orderNo, scenario: o.scenario, ...a })),
    );
    const unexpected = failures.filter((f) => !(f.code === 406 && f.type === 'card_state'));
    expect(unexpected).toEqual([]);
    // Buys never race with anything that could refuse them.
    expect(run.filter((o) => o.buys.some((b) => !b.ok)).map((o) => o.orderNo)).toEqual([]);
    const requests = run.reduce(
      (n, o) => n + o.buys.length + o.pays.length + (o.ban ? 1 : 0) + (o.status ? 1 : 0),
      0,
    );
    console.info(
      `multi-process load: ${ORDERS} orders, ~${requests} requests in ${seconds.toFixed(1)} s, ` +
        `${failures.length} answered 406 card_state`,
    );
  }, 120_000);

  it('issues unique 16-digit Luhn card numbers, one card per order, with the number the buyer got', async () => {
    const run = loaded();
    expect(await query(`select card_no, count(*) from cards group by card_no having count(*) > 1`)).toEqual(
      [],
    );
    const cards = await query<CardRow>(`select * from cards`);
    expect(cards).toHaveLength(ORDERS);
    for (const card of cards) {
      expect(card.card_no).toMatch(/^[0-9]{16}$/);
      expect(isLuhn(card.card_no), `Luhn ${card.card_no}`).toBe(true);
      expect(card.partner_id).toBe('CS000001');
    }
    const byOrder = new Map(cards.map((c) => [c.order_no, c.card_no]));
    expect(byOrder.size).toBe(ORDERS);
    for (const order of run) expect(byOrder.get(order.orderNo), order.orderNo).toBe(cardOf(order));
  });

  it('answers a buy sent to both servers with one req_id with the same card, stored once', async () => {
    const retried = loaded().filter((o) => o.scenario === 'retryBuy');
    expect(retried.length).toBeGreaterThan(0);
    for (const order of retried) {
      const [a, b] = order.buys;
      expect(a!.ok && b!.ok, order.orderNo).toBe(true);
      if (!a!.ok || !b!.ok) continue;
      expect(b!.data, order.orderNo).toEqual(a!.data);
      const rows = await query<{ card_no: string }>(`select card_no from cards where order_no = $1`, [
        order.orderNo,
      ]);
      expect(rows.map((r) => r.card_no)).toEqual([a!.data.card.card_no]);
      expect(order.pays[0]?.answer.ok, `payment of ${order.orderNo}`).toBe(true);
    }
  });

  it('activates a card paid on both servers at once exactly once', async () => {
    const run = loaded();
    const cards = new Map((await query<CardRow>(`select * from cards`)).map((c) => [c.card_no, c]));
    for (const order of run.filter((o) => o.scenario === 'doublePay')) {
      const wins = order.pays.filter((p) => p.answer.ok);
      const losses = order.pays.filter((p) => !p.answer.ok);
      expect(wins, order.orderNo).toHaveLength(1);
      expect(losses, order.orderNo).toHaveLength(1);
      expect(losses[0]!.answer).toMatchObject({
        code: 406,
        type: 'card_state',
        message: expect.stringMatching(/\bactive\b/),
      });
      const won = wins[0]!;
      const card = cards.get(cardOf(order))!;
      expect(card.status).toBe('active');
      expect(card.mobile).toBe(won.mobile);
      if (won.answer.ok) expect(secrets!.open(card.password!)).toBe(won.answer.data.card.password);
    }
    for (const order of run.filter((o) => o.scenario === 'samePay')) {
      const [a, b] = order.pays.map((p) => p.answer);
      expect(a!.ok && b!.ok, order.orderNo).toBe(true);
      if (a!.ok && b!.ok) expect(b!.data).toEqual(a!.data);
      expect(cards.get(cardOf(order))!.status).toBe('active');
    }

    // Across every scenario: a 200 payment means one activation and one activation SMS; no
    // 200 payment means neither.
    const events = await query<EventRow>(`select card_no, seq, type, data from card_events`);
    const sms = await query<SmsRow>(`select * from sms_messages`);
    for (const order of run) {
      const cardNo = cardOf(order);
      const paid = order.pays.find((p) => p.answer.ok);
      const activations = events.filter((e) => e.card_no === cardNo && e.type === 'activated');
      const messages = sms.filter((m) => m.card_no === cardNo);
      if (!paid) {
        expect(activations, order.orderNo).toHaveLength(0);
        expect(messages, order.orderNo).toHaveLength(0);
        continue;
      }
      expect(activations, order.orderNo).toHaveLength(1);
      expect(
        messages.map((m) => [m.reason, m.mobile]),
        order.orderNo,
      ).toEqual([['activation', paid.mobile]]);
      const card = cards.get(cardNo)!;
      const bannedAfter = order.ban?.ok === true;
      expect(card.status, order.orderNo).toBe(bannedAfter ? 'banned' : 'active');
      expect(card.mobile).toBe(paid.mobile);
    }
  });

  it('settles a ban racing a payment in one state that agrees with both answers', async () => {
    const run = loaded();
    const cards = new Map((await query<CardRow>(`select * from cards`)).map((c) => [c.card_no, c]));
    const events = await query<EventRow>(`select card_no, seq, type, data from card_events order by seq`);
    const raced = run.filter((o) => o.scenario === 'banVsPay');
    const tally = { banFirst: 0, payFirstBanLost: 0, payThenBan: 0 };
    for (const order of raced) {
      const cardNo = cardOf(order);
      const ban = order.ban!;
      const pay = order.pays[0]!.answer;
      const card = cards.get(cardNo)!;
      const types = events.filter((e) => e.card_no === cardNo).map((e) => e.type);
      // An unused card can be banned whether the payment won or not (contract 5.10).
      expect(ban.ok, order.orderNo).toBe(true);
      if (ban.ok) {
        expect(ban.data.card.status).toBe('banned');
        expect(card.status, order.orderNo).toBe('banned');
        expect(types.filter((t) => t === 'banned')).toHaveLength(1);
      } else {
        expect([ban.code, ban.type]).toEqual([406, 'card_state']);
        expect(types).not.toContain('banned');
      }
      if (pay.ok) {
        expect(types.filter((t) => t === 'activated')).toHaveLength(1);
      } else {
        expect([pay.code, pay.type]).toEqual([406, 'card_state']);
        expect(pay.message).toMatch(/\bbanned\b/);
        expect(types).not.toContain('activated');
      }
      if (ban.ok && pay.ok) {
        // Both succeeded: the payment came first and a paid, unused card may be banned.
        expect(types.indexOf('activated')).toBeLessThan(types.indexOf('banned'));
        tally.payThenBan++;
      } else if (ban.ok) {
        tally.banFirst++;
      } else {
        tally.payFirstBanLost++;
      }
    }
    console.info(`ban vs pay outcomes: ${JSON.stringify(tally)}`);
  });

  it('shows a card bought on one server to the other at once', () => {
    for (const order of loaded().filter((o) => o.scenario === 'unpaid')) {
      const status = order.status!;
      expect(status.ok, order.orderNo).toBe(true);
      if (status.ok) {
        expect(status.data.card).toMatchObject({ card_no: order.cardNo, status: 'inactive' });
      }
    }
  });

  it('delivers every activation SMS exactly once across both outboxes', async () => {
    const run = loaded();
    await vi.waitFor(
      async () => {
        const [row] = await query<{ n: number }>(
          `select count(*)::int as n from sms_messages where status = 'queued'`,
        );
        expect(row!.n, 'messages still queued').toBe(0);
      },
      { timeout: 50_000, interval: 200 },
    );

    const lines: SmsLine[] = [];
    const perFile: number[] = [];
    for (const file of smsFiles) {
      const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return ''; // this process happened to deliver nothing
        throw err;
      });
      const fileLines = text.split('\n').filter((l) => l !== '');
      perFile.push(fileLines.length);
      for (const line of fileLines) lines.push(JSON.parse(line) as SmsLine);
    }
    const sms = await query<SmsRow>(`select * from sms_messages`);
    expect(sms.filter((m) => m.status !== 'sent')).toEqual([]);
    const paidCards = run.filter((o) => o.pays.some((p) => p.answer.ok)).map(cardOf);
    expect(
      sms
        .filter((m) => m.reason === 'activation')
        .map((m) => m.card_no)
        .sort(),
    ).toEqual([...paidCards].sort());

    const deliveries = new Map<string, number>();
    for (const line of lines) deliveries.set(line.id, (deliveries.get(line.id) ?? 0) + 1);
    expect([...deliveries].filter(([, n]) => n > 1)).toEqual([]);
    expect([...deliveries.keys()].sort()).toEqual(sms.map((m) => m.id).sort());
    const byId = new Map(sms.map((m) => [m.id, m]));
    for (const line of lines) {
      const message = byId.get(line.id)!;
      expect(line.mobile).toBe(message.mobile);
      // Delivered messages keep their text with the password masked.
      const password = /密码([0-9]{8})/.exec(line.text)?.[1];
      expect(password).toBeDefined();
      expect(line.text.replace(`密码${password}`, `密码${PASSWORD_MASK}`)).toBe(message.text);
      expect(line.text).toContain(message.card_no);
    }
    const smsStatus = await query<{ card_no: string; sms_status: string }>(
      `select card_no, sms_status from cards where card_no = any($1)`,
      [paidCards],
    );
    expect(smsStatus.filter((c) => c.sms_status !== 'sent')).toEqual([]);
    console.info(`sms delivered per process: ${perFile.join(' + ')} = ${lines.length}`);
  }, 60_000);

  it("keeps each card's ledger contiguous from 1, starting with 'created', one entry per SMS step", async () => {
    const cards = await query<{ card_no: string }>(`select card_no from cards`);
    const events = await query<EventRow>(
      `select card_no, seq, type, data from card_events order by card_no, seq`,
    );
    const ledgers = new Map<string, EventRow[]>(cards.map((c) => [c.card_no, []]));
    for (const e of events) {
      const ledger = ledgers.get(e.card_no);
      expect(ledger, `events of unknown card ${e.card_no}`).toBeDefined();
      ledger?.push(e);
    }
    for (const [cardNo, ledger] of ledgers) {
      expect(
        ledger.map((e) => e.seq),
        cardNo,
      ).toEqual(ledger.map((_, i) => i + 1));
      expect(ledger[0]?.type, cardNo).toBe('created');
      expect(
        ledger.filter((e) => e.type === 'created'),
        cardNo,
      ).toHaveLength(1);
      // Each message is queued once and recorded as sent once, whichever process sent it.
      const steps = ledger
        .filter((e) => e.type === 'sms_queued' || e.type === 'sms_sent')
        .map((e) => `${e.type}:${(JSON.parse(e.data) as { message_id: string }).message_id}`);
      expect(new Set(steps).size, cardNo).toBe(steps.length);
      const queued = steps.filter((s) => s.startsWith('sms_queued:')).length;
      expect(steps.length, cardNo).toBe(queued * 2);
    }
  });

  it('stops both servers gracefully on SIGTERM', async () => {
    const exits = await Promise.all(servers.map((s) => s.stop(15_000)));
    expect(exits, servers.map((s) => s.output()).join('\n----\n')).toEqual([0, 0]);
  }, 40_000);
});
