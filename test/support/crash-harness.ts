import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MovTicketClient, MovTicketError } from '../../src/client/index.js';
import { openDatabase, type Db } from '../../src/db/database.js';
import { ReportService } from '../../src/domain/admin/report.service.js';
import type { SecretBox } from '../../src/domain/secret-box.js';
import { openSmsText, PASSWORD_MASK } from '../../src/domain/sms-template.js';
import { DEMO_KEY_FILE, readKeyFile } from '../../src/secret-key-file.js';
import { createPgDatabase } from './engines.js';
import { type ServerProcess, startDemoServer } from './server-process.js';
import { prng } from './prng.js';

// Crash-safety harness: a load of buys, payments and bans against a real `serve --demo`
// process that is killed with SIGKILL at seeded random moments and restarted on the same
// data; afterwards the database, the SMS file and the day's statement are checked against
// what the clients were answered.

const CINEMAS = ['1001', '1002', '1003', '1004', '2001', '2002', '2003'];
const TIME_ZONE = 'Asia/Shanghai';
const PARTNER = 'CS000001';

export interface CrashOptions {
  engine: 'sqlite' | 'postgres';
  /** Base URL of a PostgreSQL server (a database of its own is created and dropped). */
  pgUrl?: string;
  crashes: number;
  /** Each incarnation serves load for a random time in [min, max] ms before it is killed. */
  liveMs: [number, number];
  concurrency: number;
  seed: number;
  /** How long to wait for the SMS outbox to drain after the last restart. */
  drainMs: number;
  /** Keep waiting (up to drainMs) for messages leased by a killed process to be sent after the lease. */
  waitOutLeases?: boolean;
  /** The server's MOVTICKET_SMS_LEASE_MS (its default when not given). */
  smsLeaseMs?: number;
  /** Called with progress lines (optional). */
  log?: (line: string) => void;
}

/** `none`: no answer (connection reset, client timeout); `5xx`: an error answer that may hide a commit. */
export type Outcome = 'ok' | 'refused' | '5xx' | 'none';

/** A request and what it was answered. */
export interface Tracked {
  outcome: Outcome;
  error?: string;
  /** The answer's code (0 when none came) and error type. */
  code?: number;
  type?: string;
  /** When it was sent (epoch ms) and how long the answer took. */
  sentAt?: number;
  ms?: number;
}

/** One request of the buy → pay → ban load. */
export interface LoadRequest extends Tracked {
  kind: 'buy' | 'pay' | 'ban';
  reqId: string;
  orderNo: string;
  cardNo?: string;
  /** The card's total price from the buy answer. */
  fen?: number;
}

export interface CrashReport extends BookReport {
  engine: string;
  seed: number;
  crashes: number;
  killExits: (number | string)[];
  finalExit: number | string;
  seconds: number;
}

/** What {@link checkBooks} found. */
export interface BookReport {
  requests: { sent: number; answered: number; refused: number; uncertain5xx: number; unanswered: number };
  byKind: Record<string, Record<Outcome, number>>;
  refusals: string[];
  cards: number;
  paidAnswered: number;
  paidInDb: number;
  voidsAnswered: number;
  voidsInDb: number;
  statement: { day: string; activation_fen: number; void_fen: number; net_fen: number }[];
  statementNetFen: number;
  answeredNetFen: number;
  /** Bounds from requests whose outcome is unknown: answered − unanswered bans ≤ net ≤ answered + unanswered pays. */
  boundsFen: [number, number];
  sms: {
    rows: number;
    sent: number;
    queued: number;
    /** Queued messages still leased by a killed process when the drain ended. */
    strandedByLease: number;
    fileLines: number;
    distinctIds: number;
    duplicateLines: number;
    duplicateIds: string[];
  };
  violations: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function toFen(yuan: string): number {
  const [int, frac = ''] = yuan.split('.');
  return Number(int) * 100 + Number(frac.padEnd(2, '0').slice(0, 2));
}

function dayOf(ms: number): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE }).format(new Date(ms));
}

/** A client of the demo partner that never retries, so every answer is seen. */
export function demoClient(baseUrl: string, md5key: string, timeoutMs: number): MovTicketClient {
  return new MovTicketClient({
    baseUrl,
    partnerId: PARTNER,
    secId: 'test',
    busId: '1002758',
    md5key,
    format: 'json',
    retries: 0,
    timeoutMs,
  });
}

/** Runs a client call and classifies its answer. */
export async function outcomeOf<T>(
  call: Promise<T>,
): Promise<{ outcome: Outcome; data?: T; error?: string; code: number; type?: string }> {
  try {
    return { outcome: 'ok', data: await call, code: 200 };
  } catch (err) {
    if (!(err instanceof MovTicketError)) return { outcome: 'none', error: String(err), code: 0 };
    const error = `${err.code} ${err.type}: ${err.message}`;
    const answer = { error, code: err.code, type: err.type };
    if (err.code === 0) return { outcome: 'none', ...answer };
    return { outcome: err.code >= 500 ? '5xx' : 'refused', ...answer };
  }
}

/** Sends `call()` for `req`, recording its outcome, answer and timing on it. */
export async function track<T>(req: Tracked, call: () => Promise<T>): Promise<T | undefined> {
  req.sentAt = Date.now();
  const started = performance.now();
  const r = await outcomeOf(call());
  req.ms = performance.now() - started;
  Object.assign(req, { outcome: r.outcome, error: r.error, code: r.code, type: r.type });
  return r.data;
}

/** Replays a card's ledger; returns the status and used_count it leads to, or a reason it cannot. */
export function replay(events: { seq: number; type: string; data: string }[]): {
  status?: string;
  usedCount: number;
  error?: string;
} {
  let status: string | undefined;
  let usedCount = 0;
  for (const [i, e] of events.entries()) {
    if (e.seq !== i + 1) return { usedCount, error: `seq ${e.seq} at position ${i + 1}` };
    const data = JSON.parse(e.data) as { status?: string; used_count?: number };
    switch (e.type) {
      case 'created':
        if (i !== 0) return { usedCount, error: `'created' at seq ${e.seq}` };
        status = 'inactive';
        break;
      case 'activated':
        if (status !== 'inactive') return { usedCount, error: `'activated' from ${status}` };
        status = 'active';
        break;
      case 'banned':
        if (status !== 'inactive' && status !== 'active')
          return { usedCount, error: `'banned' from ${status}` };
        status = 'banned';
        break;
      case 'expired':
        status = 'expired';
        break;
      case 'redeemed':
      case 'redemption_undone':
        usedCount = data.used_count ?? usedCount;
        status = data.status ?? status;
        break;
      default:
        break; // sms_queued, sms_sent, sms_failed, password_failed: no status change
    }
    if (i === 0 && e.type !== 'created') return { usedCount, error: `first event is '${e.type}'` };
  }
  return { status, usedCount };
}

export interface LoadContext {
  client: () => MovTicketClient;
  /** Every request sent is pushed here. */
  requests: LoadRequest[];
  random: () => number;
  /** Prefix of req_ids and order numbers, unique to the run. */
  run: string;
  nextSeq: () => number;
  stopping: () => boolean;
  /** Resolves when requests may be sent (the crash run holds them while the server is down). */
  ready: () => Promise<void>;
}

/**
 * One client of the load until `stopping()`: buy a cinema card, pay 90 % of them, ban 25 % of
 * the paid ones, each with a req_id of its own.
 */
export async function runBuyPayBan(ctx: LoadContext): Promise<void> {
  const { random, run, requests } = ctx;
  while (!ctx.stopping()) {
    await ctx.ready();
    if (ctx.stopping()) break;
    const n = ctx.nextSeq();
    const orderNo = `crash-${run}-${n}`;
    const buy: LoadRequest = { kind: 'buy', reqId: `${run}b${n}`, orderNo, outcome: 'none' };
    requests.push(buy);
    const count = 1 + Math.floor(random() * 3);
    const cinemaId = CINEMAS[Math.floor(random() * CINEMAS.length)]!;
    const bought = await track(buy, () =>
      ctx.client().buyByCinema({ cinemaId, count, orderNo }, { reqId: buy.reqId }),
    );
    if (!bought) continue;
    const cardNo = bought.card.card_no;
    const fen = toFen(bought.card.total_price);
    Object.assign(buy, { cardNo, fen });
    if (random() < 0.1 || ctx.stopping()) continue; // left unpaid
    await ctx.ready();
    const mobile = `139${String(n).padStart(8, '0')}`;
    const pay: LoadRequest = { kind: 'pay', reqId: `${run}p${n}`, orderNo, cardNo, fen, outcome: 'none' };
    requests.push(pay);
    await track(pay, () => ctx.client().payByCard({ cardNo, mobile }, { reqId: pay.reqId }));
    if (pay.outcome !== 'ok' || random() >= 0.25 || ctx.stopping()) continue;
    await ctx.ready();
    const ban: LoadRequest = { kind: 'ban', reqId: `${run}x${n}`, orderNo, cardNo, fen, outcome: 'none' };
    requests.push(ban);
    await track(ban, () => ctx.client().ban({ cardNo, reason: 'crash test' }, { reqId: ban.reqId }));
  }
}

/**
 * Waits for the SMS outbox to drain. Messages a killed process had claimed stay leased until
 * their lease ends (≥ 60 s): when only such messages are left and nothing moved for 2 s, stops
 * waiting unless asked to wait out the lease (up to `drainMs`).
 */
export async function drainSms(db: Db, drainMs: number, waitOutLeases: boolean): Promise<void> {
  const deadline = Date.now() + drainMs;
  let lastSeen = '';
  let stillSince = Date.now();
  for (;;) {
    const queued = await db.kysely
      .selectFrom('sms_messages')
      .select(['id', 'locked_until'])
      .where('status', '=', 'queued')
      .orderBy('id')
      .execute();
    if (queued.length === 0 || Date.now() > deadline) break;
    const seen = queued.map((m) => m.id).join();
    if (seen !== lastSeen) [lastSeen, stillSince] = [seen, Date.now()];
    const allLeased = queued.every((m) => m.locked_until > Date.now());
    if (!waitOutLeases && allLeased && Date.now() - stillSince > 2_000) break;
    await sleep(250);
  }
}

/**
 * Checks the database, the SMS file and the day's statement against what the clients were
 * answered (call after the load stopped and the outbox drained).
 */
export async function checkBooks(
  db: Db,
  requests: LoadRequest[],
  smsFile: string,
  started: number,
  secrets: SecretBox,
): Promise<BookReport> {
  const k = db.kysely;
  const violations: string[] = [];
  // ---- what the database holds
  const cards = await k.selectFrom('cards').selectAll().execute();
  const events = await k
    .selectFrom('card_events')
    .select(['card_no', 'seq', 'type', 'data'])
    .orderBy('card_no')
    .orderBy('seq')
    .execute();
  const sms = await k.selectFrom('sms_messages').selectAll().execute();
  const smsText = await fs.readFile(smsFile, 'utf8').catch(() => '');
  const lines = smsText
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { id: string; mobile: string; text: string });

  const cardsByNo = new Map(cards.map((c) => [c.card_no, c]));
  const ledgers = new Map<string, typeof events>();
  for (const e of events) {
    const ledger = ledgers.get(e.card_no) ?? [];
    ledger.push(e);
    ledgers.set(e.card_no, ledger);
  }
  const smsByCard = new Map<string, typeof sms>();
  for (const m of sms) smsByCard.set(m.card_no, [...(smsByCard.get(m.card_no) ?? []), m]);
  const deliveries = new Map<string, number>();
  for (const line of lines) deliveries.set(line.id, (deliveries.get(line.id) ?? 0) + 1);
  const smsById = new Map(sms.map((m) => [m.id, m]));
  const now = Date.now();

  // No card number repeats, in the table or among the answers.
  if (cardsByNo.size !== cards.length) violations.push(`duplicate card_no in cards table`);
  const answeredBuys = requests.filter((r) => r.kind === 'buy' && r.outcome === 'ok');
  const answeredCardNos = new Set(answeredBuys.map((r) => r.cardNo));
  if (answeredCardNos.size !== answeredBuys.length) violations.push(`a card number was answered twice`);
  for (const r of answeredBuys) {
    const card = cardsByNo.get(r.cardNo!);
    if (!card) violations.push(`buy ${r.reqId} answered 200 with ${r.cardNo}, which is not stored`);
    else if (card.order_no !== r.orderNo) violations.push(`card ${r.cardNo} has order_no ${card.order_no}`);
  }

  // No card is half-done; each ledger replays to the stored state.
  for (const card of cards) {
    const c = card.card_no;
    const ledger = ledgers.get(c) ?? [];
    const activated = ledger.filter((e) => e.type === 'activated').length;
    const activationSms = (smsByCard.get(c) ?? []).filter((m) => m.reason === 'activation');
    const paid = card.paid_at !== null;
    if (card.status === 'inactive' && (paid || card.password !== null || card.valid_until !== null)) {
      violations.push(`card ${c} inactive but has payment fields`);
    }
    if (card.status === 'active' && (!paid || !card.password || !card.valid_until || !card.mobile)) {
      violations.push(`card ${c} active without password/paid_at/valid_until/mobile`);
    }
    if (card.status === 'banned' && card.banned_at === null)
      violations.push(`card ${c} banned without banned_at`);
    if (paid !== (activated === 1) || activated > 1) {
      violations.push(`card ${c}: paid_at ${card.paid_at} but ${activated} 'activated' events`);
    }
    if (paid !== (activationSms.length === 1) || activationSms.length > 1) {
      violations.push(`card ${c}: paid_at ${card.paid_at} but ${activationSms.length} activation SMS rows`);
    }
    if (paid && card.sms_status === 'none') violations.push(`card ${c} paid with sms_status none`);
    const replayed = replay(ledger);
    if (replayed.error) violations.push(`card ${c} ledger: ${replayed.error}`);
    else if (replayed.status !== card.status || replayed.usedCount !== card.used_count) {
      violations.push(
        `card ${c} ledger replays to ${replayed.status}/${replayed.usedCount}, stored ${card.status}/${card.used_count}`,
      );
    }
    // Each queued message is recorded sent at most once in the ledger.
    const sentSteps = ledger
      .filter((e) => e.type === 'sms_sent')
      .map((e) => (JSON.parse(e.data) as { message_id?: string }).message_id);
    if (new Set(sentSteps).size !== sentSteps.length)
      violations.push(`card ${c}: an SMS recorded sent twice`);
  }
  for (const e of events)
    if (!cardsByNo.has(e.card_no)) violations.push(`event of unknown card ${e.card_no}`);

  // Answered payments and bans are durable; refused ones did nothing.
  const bans = new Map(requests.filter((r) => r.kind === 'ban').map((r) => [r.cardNo!, r]));
  let strandedByLease = 0;
  for (const pay of requests.filter((r) => r.kind === 'pay')) {
    const card = cardsByNo.get(pay.cardNo!);
    if (!card) continue; // reported above
    if (pay.outcome === 'refused' && card.paid_at !== null) {
      violations.push(`pay ${pay.reqId} refused (${pay.error}) yet card ${card.card_no} is paid`);
    }
    if (pay.outcome !== 'ok') continue;
    const ban = bans.get(card.card_no);
    const allowed =
      ban === undefined || ban.outcome === 'refused'
        ? ['active']
        : ban.outcome === 'ok'
          ? ['banned']
          : ['active', 'banned'];
    if (!allowed.includes(card.status) || card.paid_at === null) {
      violations.push(`pay ${pay.reqId} answered 200 but card ${card.card_no} is ${card.status}`);
    }
    const message = (smsByCard.get(card.card_no) ?? []).find((m) => m.reason === 'activation');
    if (!message) continue; // reported above
    if (message.status === 'queued' && message.locked_until > now) {
      strandedByLease++;
      continue;
    }
    if (message.status !== 'sent')
      violations.push(`SMS ${message.id} of ${card.card_no} is ${message.status}`);
    if (!deliveries.has(message.id)) violations.push(`SMS ${message.id} of ${card.card_no} never delivered`);
  }
  for (const line of lines) {
    const m = smsById.get(line.id);
    if (!m) {
      violations.push(`delivered SMS ${line.id} is not in sms_messages`);
      continue;
    }
    // A settled message keeps its text with the password masked; a queued one holds it sealed.
    const sealed = cardsByNo.get(m.card_no)?.password;
    const password = sealed ? secrets.open(sealed) : '';
    const stored =
      m.status === 'queued' ? openSmsText(secrets, m.text).text : m.text.split(PASSWORD_MASK).join(password);
    if (m.mobile !== line.mobile || stored !== line.text || !line.text.includes(`密码${password}`))
      violations.push(`SMS ${line.id} text differs`);
    if (m.status !== 'queued' && password !== '' && m.text.includes(password))
      violations.push(`SMS ${line.id} keeps the password after delivery`);
  }
  for (const m of sms) {
    if (m.status === 'queued' && !(m.locked_until > now))
      violations.push(`SMS ${m.id} still queued, not leased`);
    if (m.status === 'failed') violations.push(`SMS ${m.id} failed: ${m.last_error}`);
  }

  // The statement against the answers, to the fen.
  const days = [...new Set([dayOf(started), dayOf(Date.now())])];
  const reports = new ReportService({ db, timeZone: TIME_ZONE });
  const statement = [];
  for (const day of days) {
    const totals = await reports.statement(PARTNER, day);
    statement.push({
      day,
      activation_fen: totals.activation_fen,
      void_fen: totals.void_fen,
      net_fen: totals.net_fen,
    });
  }
  const statementNetFen = statement.reduce((s, d) => s + d.net_fen, 0);
  const sum = (kind: LoadRequest['kind'], outcomes: Outcome[]) =>
    requests.filter((r) => r.kind === kind && outcomes.includes(r.outcome)).reduce((s, r) => s + r.fen!, 0);
  const paidCards = new Set(
    requests.filter((r) => r.kind === 'pay' && r.outcome === 'ok').map((r) => r.cardNo),
  );
  const answeredNetFen = sum('pay', ['ok']) - sum('ban', ['ok']);
  const boundsFen: [number, number] = [
    answeredNetFen - sum('ban', ['none', '5xx']),
    answeredNetFen + sum('pay', ['none', '5xx']),
  ];
  if (statementNetFen < boundsFen[0] || statementNetFen > boundsFen[1]) {
    violations.push(`statement net ${statementNetFen} fen outside [${boundsFen[0]}, ${boundsFen[1]}]`);
  }
  // Exactly: what the statement holds must be the cards the database says were paid/voided.
  const dbNet = cards.reduce(
    (s, c) =>
      s +
      (c.paid_at !== null ? c.total_fen : 0) -
      (c.paid_at !== null && c.banned_at !== null ? c.total_fen : 0),
    0,
  );
  if (dbNet !== statementNetFen)
    violations.push(`statement net ${statementNetFen} ≠ paid − voided cards ${dbNet}`);

  const byKind: Record<string, Record<Outcome, number>> = {};
  for (const r of requests) {
    byKind[r.kind] ??= { ok: 0, refused: 0, '5xx': 0, none: 0 };
    byKind[r.kind]![r.outcome]++;
  }
  const count = (o: Outcome) => requests.filter((r) => r.outcome === o).length;
  const duplicateIds = [...deliveries].filter(([, n]) => n > 1).map(([id]) => id);
  return {
    requests: {
      sent: requests.length,
      answered: count('ok') + count('refused'),
      refused: count('refused'),
      uncertain5xx: count('5xx'),
      unanswered: count('none'),
    },
    byKind,
    refusals: requests
      .filter((r) => r.outcome === 'refused' || r.outcome === '5xx')
      .map((r) => `${r.kind} ${r.error}`),
    cards: cards.length,
    paidAnswered: paidCards.size,
    paidInDb: cards.filter((c) => c.paid_at !== null).length,
    voidsAnswered: requests.filter((r) => r.kind === 'ban' && r.outcome === 'ok').length,
    voidsInDb: cards.filter((c) => c.paid_at !== null && c.banned_at !== null).length,
    statement,
    statementNetFen,
    answeredNetFen,
    boundsFen,
    sms: {
      rows: sms.length,
      sent: sms.filter((m) => m.status === 'sent').length,
      queued: sms.filter((m) => m.status === 'queued').length,
      strandedByLease,
      fileLines: lines.length,
      distinctIds: deliveries.size,
      duplicateLines: lines.length - deliveries.size,
      duplicateIds,
    },
    violations,
  };
}

/** Runs the whole crash scenario and checks the invariants; never throws for a violation. */
export async function runCrashScenario(opts: CrashOptions): Promise<CrashReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  // Separate streams: the kill moments depend on the seed only, not on how requests interleave.
  const killRandom = prng(opts.seed);
  const random = prng(opts.seed ^ 0x9e3779b9);
  const run = randomBytes(3).toString('hex');
  const demoKey = `crash${randomBytes(6).toString('hex')}`;
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'movticket-crash-'));
  const smsFile = path.join(tmpDir, 'sms.jsonl');
  const dataDir = path.join(tmpDir, 'data');
  let pgDb: { url: string; drop: () => Promise<void> } | undefined;
  if (opts.engine === 'postgres') {
    if (!opts.pgUrl) throw new Error('postgres needs a database URL');
    const previous = process.env.TEST_DATABASE_URL;
    process.env.TEST_DATABASE_URL = opts.pgUrl;
    try {
      pgDb = await createPgDatabase();
    } finally {
      if (previous === undefined) delete process.env.TEST_DATABASE_URL;
      else process.env.TEST_DATABASE_URL = previous;
    }
  }
  const env: Record<string, string> = {
    MOVTICKET_DEMO_KEY: demoKey,
    MOVTICKET_SMS: `file:${smsFile}`,
    MOVTICKET_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...(opts.smsLeaseMs ? { MOVTICKET_SMS_LEASE_MS: String(opts.smsLeaseMs) } : {}),
  };

  let server: ServerProcess | undefined;
  let client: MovTicketClient | undefined;
  let upNow: Promise<void> = Promise.resolve();
  let markUp: () => void = () => {};
  const start = async () => {
    server = await startDemoServer(env, { readyTimeoutMs: 60_000 });
    client = demoClient(server.baseUrl, demoKey, 8_000);
    markUp();
  };
  const goDown = () => {
    upNow = new Promise<void>((resolve) => (markUp = resolve));
  };

  const requests: LoadRequest[] = [];
  let stopping = false;
  let seq = 0;
  const load: LoadContext = {
    client: () => client!,
    requests,
    random,
    run,
    nextSeq: () => seq++,
    stopping: () => stopping,
    ready: () => upNow,
  };

  const killExits: (number | string)[] = [];
  let finalExit: number | string = 'not stopped';
  let db: Db | undefined;
  const violations: string[] = [];
  try {
    await start();
    const workers = Array.from({ length: opts.concurrency }, () => runBuyPayBan(load));
    for (let i = 0; i < opts.crashes; i++) {
      const [min, max] = opts.liveMs;
      await sleep(min + killRandom() * (max - min));
      goDown();
      process.kill(server!.pid, 'SIGKILL');
      killExits.push(await server!.stop(5_000));
      log(`crash ${i + 1}/${opts.crashes} after ${requests.length} requests`);
      await start();
    }
    // Some load on the last incarnation too, then let every client finish its request.
    await sleep(opts.liveMs[0]);
    stopping = true;
    await Promise.all(workers);

    db = await openDatabase(
      pgDb ? { url: pgDb.url, poolSize: 2 } : { sqlitePath: path.join(dataDir, 'movticket.sqlite') },
    );
    await drainSms(db, opts.drainMs, opts.waitOutLeases ?? false);
    finalExit = await server!.stop(15_000);
    if (finalExit !== 0) violations.push(`last server exited with ${finalExit} on SIGTERM`);

    const secrets = readKeyFile(path.join(dataDir, DEMO_KEY_FILE));
    const books = await checkBooks(db, requests, smsFile, started, secrets);
    violations.push(...books.violations);
    return {
      engine: opts.engine,
      seed: opts.seed,
      crashes: killExits.length,
      killExits,
      ...books,
      violations,
      finalExit,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    stopping = true;
    markUp();
    await server?.stop(5_000);
    await db?.close();
    await pgDb?.drop();
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
}
