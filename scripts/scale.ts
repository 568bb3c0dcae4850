// `npm run scale -- --cards N [--db sqlite|postgres] [--data-dir DIR] [--duration S]
//   [--connections N] [--status-rate R] [--cache-mb MB] [--keep] [--filled-dir DIR]`
//
// Measures the buy rate (buyByCinema at saturation, autocannon as `npm run bench` does) and
// the `status` latency (each request timed, at a fixed moderate rate, for random existing
// cards) on a database holding the demo data only; then fills N generated cards
// (scripts/card-generator.ts) and measures the same again against a fresh server process.
// PostgreSQL uses TEST_DATABASE_URL or DATABASE_URL as the server to create a scratch
// database on. Prints figures; the targets (status p99 < 5 ms, buy ≥ 80 % of the empty rate)
// are reported as PASS or MISS.
// --filled-dir measures the SQLite database already in DIR instead of filling one (DIR is kept).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon, { type AutocannonInstance } from 'autocannon';
import pg from 'pg';
import { FORM_HEADERS, makeSignedForm, type SignedForm } from '../bench/signed-form.js';
import { DEFAULT_SMS_TEMPLATE } from '../src/config.js';
import { effectiveStatus } from '../src/domain/card.presenter.js';
import {
  checkpoint,
  explainCardLookup,
  measureDiskUse,
  sampleCards,
  type DiskUse,
} from '../src/db/bulk-load.js';
import { openDatabase, type Db } from '../src/db/database.js';
import { createKeyFile, readKeyFile } from '../src/secret-key-file.js';
import { startDemoServer, type ServerProcess } from '../test/support/server-process.js';
import { generateCards, lapseTime, type GeneratedCard } from './card-generator.js';

const STATUS_P99_TARGET_MS = 5;
const BUY_RATIO_TARGET = 0.8;
const WARMUP_SEC = 2;
const TIME_ZONE = 'Asia/Shanghai';

const { values } = parseArgs({
  options: {
    cards: { type: 'string', default: '10000000' },
    db: { type: 'string', default: 'sqlite' },
    'data-dir': { type: 'string' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    'status-rate': { type: 'string', default: '200' },
    'cache-mb': { type: 'string', default: '4096' },
    keep: { type: 'boolean', default: false },
    'filled-dir': { type: 'string' },
  },
  strict: true,
});
const engine = values.db;
if (engine !== 'sqlite' && engine !== 'postgres') throw new Error('--db must be sqlite or postgres');
const positive = (name: string, v: string | undefined): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number ≥ 1`);
  return n;
};
const opts = {
  cards: positive('cards', values.cards),
  duration: positive('duration', values.duration),
  connections: positive('connections', values.connections),
  statusRate: positive('status-rate', values['status-rate']),
  cacheMb: positive('cache-mb', values['cache-mb']),
};
const pgServer = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
if (engine === 'postgres' && !pgServer)
  throw new Error('set TEST_DATABASE_URL=postgres://… for --db postgres');
/** A data dir holding an already filled SQLite database, measured instead of filling one. */
const filledDir = values['filled-dir'];
if (filledDir !== undefined && engine !== 'sqlite') throw new Error('--filled-dir is for SQLite');

const progress = (message: string) =>
  process.stderr.write(`scale ${new Date().toISOString().slice(11, 19)}: ${message}\n`);
const load1 = () => os.loadavg()[0] ?? 0;

interface Measured<T> {
  figures: T;
  load: [number, number];
}

async function measured<T>(run: () => Promise<T>): Promise<Measured<T>> {
  const before = load1();
  const figures = await run();
  return { figures, load: [before, load1()] };
}

// ---------------------------------------------------------------------------
// Buy rate: saturation with autocannon, as bench/run.ts measures it.

let runningLoad: AutocannonInstance | undefined;

interface BuyFigures {
  reqPerSec: number;
  non2xx: number;
  errors: number;
  cardNos: string[];
}

async function buyRun(url: string, signedForm: SignedForm, duration: number): Promise<BuyFigures> {
  const cardNos: string[] = [];
  const instance = autocannon({
    url,
    connections: opts.connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/movTicket/buyByCinema',
        headers: FORM_HEADERS,
        setupRequest: (req) => ({ ...req, body: signedForm({ cinema_id: '1001', count: '1' }, 'json') }),
        onResponse: (status, body) => {
          if (status !== 200 || cardNos.length >= 50_000) return;
          const parsed = JSON.parse(body) as { data?: { card?: { card_no?: unknown } } };
          if (typeof parsed.data?.card?.card_no === 'string') cardNos.push(parsed.data.card.card_no);
        },
      },
    ],
  });
  runningLoad = instance;
  let firstError: unknown;
  // Typed without its events in bench/autocannon.d.ts; it is an EventEmitter.
  (instance as unknown as NodeJS.EventEmitter).on('reqError', (err: unknown) => (firstError ??= err));
  const result = await instance;
  if (firstError !== undefined) progress(`buyByCinema: first error ${String(firstError)}`);
  runningLoad = undefined;
  return { reqPerSec: result.requests.average, non2xx: result.non2xx, errors: result.errors, cardNos };
}

async function measureBuy(server: ServerProcess, signedForm: SignedForm): Promise<Measured<BuyFigures>> {
  progress(`buyByCinema: warming up ${WARMUP_SEC} s`);
  await buyRun(server.baseUrl, signedForm, WARMUP_SEC);
  progress(`buyByCinema: measuring ${opts.duration} s at ${opts.connections} connections`);
  return measured(() => buyRun(server.baseUrl, signedForm, opts.duration));
}

// ---------------------------------------------------------------------------
// Status latency: an open loop at a fixed rate, every request timed on its own.

interface StatusFigures {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: number;
  /** Answers whose status differs from what the card was generated in. */
  mismatches: number;
  firstProblem: string | undefined;
  /** From the server's own latency histogram (/metrics): share of status requests handled within the target. */
  serverWithinTarget: number;
  /** The histogram bucket the server's p99 falls in, e.g. `≤ 2.5` (ms). */
  serverP99: string;
}

type StatusCard = Pick<GeneratedCard, 'card_no' | 'effective' | 'lapsesAt'>;

/** Cumulative counts of the server's status latency histogram, by upper bound in seconds. */
async function serverHistogram(server: ServerProcess): Promise<Map<number, number>> {
  const res = await fetch(new URL('/metrics', server.baseUrl), { headers: server.metricsHeaders });
  const text = await res.text();
  const buckets = new Map<number, number>();
  const line = /^movticket_partner_request_duration_seconds_bucket\{([^}]*)\} (\S+)$/gm;
  for (const [, labels = '', value] of text.matchAll(line)) {
    if (!labels.includes('interface="status"')) continue;
    const le = /le="([^"]+)"/.exec(labels)?.[1] ?? '';
    buckets.set(le === '+Inf' ? Infinity : Number(le), Number(value));
  }
  return buckets;
}

function serverFigures(before: Map<number, number>, after: Map<number, number>) {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = delta(Infinity);
  const p99Bound = bounds.find((le) => delta(le) >= 0.99 * total) ?? Infinity;
  return {
    serverWithinTarget: total > 0 ? delta(STATUS_P99_TARGET_MS / 1000) / total : NaN,
    serverP99: p99Bound === Infinity ? '> 10000' : `≤ ${p99Bound * 1000}`,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function statusRun(
  baseUrl: string,
  signedForm: SignedForm,
  cards: readonly StatusCard[],
  seconds: number,
): Promise<Omit<StatusFigures, 'serverWithinTarget' | 'serverP99'>> {
  const url = new URL('/movTicket/status', baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const latencies: number[] = [];
  let failures = 0;
  let mismatches = 0;
  let firstProblem: string | undefined;
  const pending = new Set<Promise<void>>();
  const one = (card: (typeof cards)[number]) =>
    new Promise<void>((resolve) => {
      const body = signedForm({ card_no: card.card_no }, 'json');
      const started = performance.now();
      const req = http.request(
        url,
        { method: 'POST', agent, headers: { ...FORM_HEADERS, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            latencies.push(performance.now() - started);
            if (res.statusCode !== 200) {
              failures++;
              firstProblem ??= `${res.statusCode} ${text.slice(0, 200)}`;
            } else {
              const status = (JSON.parse(text) as { data?: { card?: { status?: string } } }).data?.card
                ?.status;
              // A card whose deadline passed since it was drawn answers expired, as it should.
              const lapsed = card.lapsesAt !== null && Date.now() >= card.lapsesAt;
              if (status !== (lapsed ? 'expired' : card.effective)) {
                mismatches++;
                firstProblem ??= `card ${card.card_no} answered ${status}, generated ${card.effective}`;
              }
            }
            resolve();
          });
        },
      );
      req.on('error', (err) => {
        failures++;
        firstProblem ??= String(err);
        resolve();
      });
      req.end(body);
    });
  const started = performance.now();
  const total = Math.round(seconds * opts.statusRate);
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * opts.statusRate));
      for (; sent < due; sent++) {
        const p = one(cards[Math.floor(Math.random() * cards.length)]!);
        pending.add(p);
        void p.then(() => pending.delete(p));
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? NaN,
    failures,
    mismatches,
    firstProblem,
  };
}

async function measureStatus(
  server: ServerProcess,
  signedForm: SignedForm,
  cards: readonly StatusCard[],
): Promise<Measured<StatusFigures>> {
  progress(`status: warming up ${WARMUP_SEC} s at ${opts.statusRate} req/s over ${cards.length} cards`);
  await statusRun(server.baseUrl, signedForm, cards, WARMUP_SEC);
  // Scraped outside the measured window: /metrics counts the cards by state.
  const before = await serverHistogram(server);
  progress(`status: measuring ${opts.duration} s at ${opts.statusRate} req/s`);
  const m = await measured(async () => {
    const client = await statusRun(server.baseUrl, signedForm, cards, opts.duration);
    return { ...client, ...serverFigures(before, await serverHistogram(server)) };
  });
  if (m.figures.failures > 0 || m.figures.mismatches > 0) {
    progress(
      `WARNING status: ${m.figures.failures} failures, ${m.figures.mismatches} mismatches; first: ${m.figures.firstProblem}`,
    );
  }
  return m;
}

// ---------------------------------------------------------------------------

interface PhaseResult {
  label: string;
  cards: number;
  diskBytes: number;
  diskDetail: string;
  fillSec: number | undefined;
  buy: Measured<BuyFigures>;
  status: Measured<StatusFigures>;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

function renderTable(rows: PhaseResult[], emptyRate: number): string {
  const header = [
    'database',
    'cards',
    'disk MB',
    'B/card',
    'fill s',
    'status p50 ms',
    'status p99 ms',
    'server ≤5 ms',
    'server p99 ms',
    'buy req/s',
    'ratio',
    `p99<${STATUS_P99_TARGET_MS}?`,
    `ratio≥${BUY_RATIO_TARGET}?`,
    'load avg',
  ];
  const body = rows.map((r, i) => {
    const ratio = r.buy.figures.reqPerSec / emptyRate;
    const empty = rows[0]!;
    const perCard = i === 0 ? '-' : ((r.diskBytes - empty.diskBytes) / (r.cards - empty.cards)).toFixed(0);
    return [
      r.label,
      String(r.cards),
      mb(r.diskBytes),
      perCard,
      r.fillSec === undefined ? '-' : r.fillSec.toFixed(0),
      r.status.figures.p50Ms.toFixed(2),
      r.status.figures.p99Ms.toFixed(2),
      `${(r.status.figures.serverWithinTarget * 100).toFixed(1)} %`,
      r.status.figures.serverP99,
      r.buy.figures.reqPerSec.toFixed(0),
      ratio.toFixed(2),
      r.status.figures.p99Ms < STATUS_P99_TARGET_MS ? 'PASS' : 'MISS',
      i === 0 ? '-' : ratio >= BUY_RATIO_TARGET ? 'PASS' : 'MISS',
      i === 0
        ? `${r.buy.load[0].toFixed(2)}→${r.status.load[1].toFixed(2)}`
        : `${r.status.load[0].toFixed(2)}→${r.buy.load[1].toFixed(2)}`,
    ];
  });
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const cleanups: (() => Promise<unknown>)[] = [];
let server: ServerProcess | undefined;

async function createPgDatabase(): Promise<string> {
  const name = `movticket_scale_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgServer });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  if (!values.keep) {
    cleanups.push(async () => {
      const c = new pg.Client({ connectionString: pgServer });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    });
  }
  const u = new URL(pgServer!);
  u.pathname = `/${name}`;
  return u.toString();
}

interface Filled {
  total: number;
  disk: DiskUse;
  fillSec: number | undefined;
  sample: StatusCard[];
  plan: string;
  summary: string;
}

/** Fills `db` with cards sealed by the key in `keyFile` (made when absent), as the server reads it. */
async function fill(db: Db, keyFile: string): Promise<Filled> {
  progress(`filling ${opts.cards} cards`);
  let lastReport = 0;
  createKeyFile(keyFile, { ifAbsent: true });
  const generated = await generateCards(db, {
    secrets: readKeyFile(keyFile),
    cards: opts.cards,
    now: Date.now(),
    timeZone: TIME_ZONE,
    smsTemplate: DEFAULT_SMS_TEMPLATE,
    payDeadlineMin: 30,
    cinemaValidDays: 90,
    sampleSize: 50_000,
    sqliteCacheMb: opts.cacheMb,
    onProgress: (done, total) => {
      if (performance.now() - lastReport < 30_000 && done < total) return;
      lastReport = performance.now();
      progress(`  ${done} / ${total} cards, load average ${load1().toFixed(2)}`);
    },
  });
  progress(`filled in ${(generated.ms / 1000).toFixed(0)} s`);
  const checkpointStarted = performance.now();
  await checkpoint(db);
  const checkpointSec = (performance.now() - checkpointStarted) / 1000;
  const { total } = await sampleCards(db, 1);
  return {
    total,
    disk: await measureDiskUse(db),
    fillSec: generated.ms / 1000,
    sample: generated.sample,
    plan: await explainCardLookup(db, generated.sample[0]!.card_no),
    summary:
      `generated: ${generated.cards} cards, ${generated.events} ledger events, ${generated.sms} SMS, ` +
      `${generated.redemptions} redemptions; states ${JSON.stringify(generated.byStatus)}; ` +
      `final checkpoint ${checkpointSec.toFixed(0)} s`,
  };
}

/** An already filled database: its cards sampled at random, since no generator run knows them. */
async function existing(db: Db): Promise<Filled> {
  progress('sampling the filled database');
  const { total, sample } = await sampleCards(db, 50_000);
  const now = Date.now();
  return {
    total,
    disk: await measureDiskUse(db),
    fillSec: undefined,
    sample: sample.map((c) => ({
      card_no: c.card_no,
      effective: effectiveStatus({ ...c, status: c.status } as Parameters<typeof effectiveStatus>[0], now),
      lapsesAt: lapseTime(c),
    })),
    plan: await explainCardLookup(db, sample[0]!.card_no),
    summary: `measured the filled database in ${filledDir}`,
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = load1();
  const md5key = randomBytes(16).toString('hex');
  const signedForm = makeSignedForm(md5key);
  const dataDir = values['data-dir'] ?? (await mkdtemp(path.join(os.tmpdir(), 'movticket-scale-')));
  if (!values.keep) cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const databaseUrl = engine === 'postgres' ? await createPgDatabase() : undefined;
  const env: Record<string, string> = {
    MOVTICKET_DATA_DIR: dataDir,
    MOVTICKET_DEMO_KEY: md5key,
    MOVTICKET_SMS: `file:${path.join(dataDir, 'sms.jsonl')}`,
    LOG_LEVEL: 'warn',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  const openDb = (dir = dataDir) =>
    openDatabase(databaseUrl ? { url: databaseUrl } : { sqlitePath: path.join(dir, 'movticket.sqlite') });
  const start = async () => (server = await startDemoServer(env, { readyTimeoutMs: 300_000 }));
  const stop = async () => {
    await server?.stop();
    server = undefined;
  };
  progress(`${engine} in ${databaseUrl ?? dataDir}; load average ${loadAtStart.toFixed(2)}`);

  // Empty database: the demo data, and the cards the buy run itself makes.
  const empty = await start();
  const emptyBuy = await measureBuy(empty, signedForm);
  const bought = emptyBuy.figures.cardNos.map((card_no) => ({
    card_no,
    effective: 'inactive' as const,
    lapsesAt: null,
  }));
  if (bought.length === 0) {
    throw new Error(
      `the buy run on the empty database made no card: ${JSON.stringify({ ...emptyBuy.figures, cardNos: 0 })}`,
    );
  }
  const emptyStatus = await measureStatus(empty, signedForm, bought);
  await stop();
  let db = await openDb();
  await checkpoint(db);
  const emptyDisk = await measureDiskUse(db);
  const emptyCards = (await sampleCards(db, 1)).total;
  if (filledDir !== undefined) {
    await db.close();
    db = await openDb(filledDir);
    env.MOVTICKET_DATA_DIR = filledDir;
  }
  const filled =
    filledDir === undefined
      ? await fill(db, path.join(env.MOVTICKET_DATA_DIR!, 'secret.key'))
      : await existing(db);
  await db.close();

  const full = await start();
  // Status first, so it meets the page cache the fill and the restart left, not one the buy run warmed.
  const fullStatus = await measureStatus(full, signedForm, filled.sample);
  const fullBuy = await measureBuy(full, signedForm);
  await stop();

  const rows: PhaseResult[] = [
    {
      label: 'empty (demo data)',
      cards: emptyCards,
      diskBytes: emptyDisk.bytes,
      diskDetail: emptyDisk.detail,
      fillSec: undefined,
      buy: emptyBuy,
      status: emptyStatus,
    },
    {
      label: 'filled',
      cards: filled.total,
      diskBytes: filled.disk.bytes,
      diskDetail: filled.disk.detail,
      fillSec: filled.fillSec,
      buy: fullBuy,
      status: fullStatus,
    },
  ];
  const cpus = os.cpus();
  const statusLine = (name: string, f: StatusFigures) =>
    `${name} ${f.requests} requests (max ${f.maxMs.toFixed(1)} ms, ${f.failures} failed, ${f.mismatches} mismatched)`;
  process.stdout.write(
    `\nmovticket scale — ${engine}, ${startedAt.toISOString()} → ${new Date().toISOString()}, ` +
      `${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}\n` +
      `buy: ${opts.duration} s at ${opts.connections} connections (autocannon, after ${WARMUP_SEC} s warm-up); ` +
      `status: ${opts.duration} s at ${opts.statusRate} req/s, each request timed by the client, random existing cards ` +
      `(empty: the cards its buy run made; filled: ${filled.sample.length} cards spread over the whole table)\n\n` +
      renderTable(rows, emptyBuy.figures.reqPerSec) +
      '\n\n' +
      `${filled.summary}\n` +
      `disk: empty ${emptyDisk.detail}; filled ${filled.disk.detail}\n` +
      `B/card = (filled − empty disk) / (filled − empty cards). server ≤5 ms / p99 = the server's own ` +
      `latency histogram for status (/metrics buckets). load avg = 1-min load average at the start of the ` +
      `first → end of the last run of the row.\n` +
      `buy: empty ${emptyBuy.figures.non2xx} non-2xx / ${emptyBuy.figures.errors} errors, filled ${fullBuy.figures.non2xx} / ${fullBuy.figures.errors}; ` +
      `status: ${statusLine('empty', emptyStatus.figures)}, ${statusLine('filled', fullStatus.figures)}\n` +
      `card lookup plan: ${filled.plan}\n` +
      `load average ${loadAtStart.toFixed(2)} at the start, ${load1().toFixed(2)} at the end\n`,
  );
}

async function cleanUp(): Promise<void> {
  runningLoad?.stop();
  await server?.stop().catch(() => {});
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

main()
  .catch((err: unknown) => {
    process.stderr.write(
      `scale failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  })
  .finally(() => {
    if (!interrupted) return cleanUp();
  });
