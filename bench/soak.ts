// `npm run soak -- [--db sqlite|postgres] [--minutes M] [--rate-share S] [--interval-sec I]
//                  [--workload mixed|catalog|buy] [--connections N]`
//
// Load and soak: measures the workload's max throughput (~10 s), then offers S × max for
// M minutes in consecutive autocannon runs of I seconds, printing one row per interval
// (latency, RSS and its private part, heap, SMS queue, DB size) and a verdict on p99 drift
// and growth of private RSS.
// See the "Soak" section of bench/README.md. The signing and child-process code is a
// trimmed copy of bench/run.ts, which exports nothing.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type AutocannonInstance, type AutocannonRequest } from 'autocannon';
import pg from 'pg';
import { FORM_HEADERS, MOBILE, makeSignedForm, type SignedForm } from './signed-form.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = path.join(ROOT, 'bench', 'soak-results.json');
// /metrics asks for a bearer token; the soak's server reads it from a file in its data directory.
const METRICS_TOKEN = randomBytes(24).toString('hex');
const WARMUP_SEC = 2;
const MAX_SEC = 10;
const MAX_CONNECTIONS = 50;
const P99_DRIFT_LIMIT = 0.5;
const RSS_GROWTH_LIMIT_MB_PER_MIN = 2;
/** Mixed workload, as shares of request sequences: catalog reads, buys, buy+pay pairs. */
const MIX = { catalog: 0.7, buy: 0.2, buyPay: 0.1 } as const;

type WorkloadId = 'mixed' | 'catalog' | 'buy';

interface Options {
  db: 'sqlite' | 'postgres';
  minutes: number;
  rateShare: number;
  intervalSec: number;
  workload: WorkloadId;
  connections: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string', default: 'sqlite' },
      minutes: { type: 'string', default: '10' },
      'rate-share': { type: 'string', default: '0.7' },
      'interval-sec': { type: 'string', default: '30' },
      workload: { type: 'string', default: 'mixed' },
      connections: { type: 'string', default: String(MAX_CONNECTIONS) },
    },
    strict: true,
  });
  const { db, workload } = values;
  if (db !== 'sqlite' && db !== 'postgres') throw new Error(`--db must be sqlite or postgres, not ${db}`);
  if (workload !== 'mixed' && workload !== 'catalog' && workload !== 'buy') {
    throw new Error(`--workload must be mixed, catalog or buy, not ${workload}`);
  }
  const minutes = Number(values.minutes);
  const rateShare = Number(values['rate-share']);
  const intervalSec = Number(values['interval-sec']);
  const connections = Number(values.connections);
  if (!(minutes > 0)) throw new Error('--minutes must be > 0');
  if (!(rateShare > 0 && rateShare <= 1)) throw new Error('--rate-share must be in (0, 1]');
  if (!Number.isInteger(intervalSec) || intervalSec < 1)
    throw new Error('--interval-sec must be an integer ≥ 1');
  if (!Number.isInteger(connections) || connections < 1)
    throw new Error('--connections must be an integer ≥ 1');
  return { db, minutes, rateShare, intervalSec, workload, connections };
}

// ---------------------------------------------------------------------------
// Signed requests (as in bench/run.ts)

interface Probe {
  statuses: Map<number, number>;
  firstFailure: string | undefined;
}

function observe(probe: Probe, status: number, body: string): void {
  probe.statuses.set(status, (probe.statuses.get(status) ?? 0) + 1);
  if ((status < 200 || status > 299) && probe.firstFailure === undefined) {
    probe.firstFailure = `${status} ${body.slice(0, 300)}`;
  }
}

const CATALOG = {
  path: '/movTicket/cinemasByRegion',
  params: { region_id: '001001' },
  format: 'xml',
} as const;
const BUY = {
  path: '/movTicket/buyByCinema',
  params: { cinema_id: '1001', count: '1' },
  format: 'json',
} as const;

/**
 * One autocannon request sequence. Request 1 is a catalog read or a buy (for `mixed`, drawn
 * at random per sequence from MIX); request 2 pays the card just bought when the sequence is
 * a buy+pay pair, and otherwise returns nothing, which restarts the sequence at request 1.
 */
function requests(workload: WorkloadId, signedForm: SignedForm, probe: Probe): AutocannonRequest[] {
  const first: AutocannonRequest = {
    method: 'POST',
    headers: FORM_HEADERS,
    setupRequest: (req, context) => {
      let kind: 'catalog' | 'buy' | 'buyPay' = workload === 'buy' ? 'buy' : 'catalog';
      if (workload === 'mixed') {
        const r = Math.random();
        kind = r < MIX.catalog ? 'catalog' : r < MIX.catalog + MIX.buy ? 'buy' : 'buyPay';
      }
      context.kind = kind;
      const t = kind === 'catalog' ? CATALOG : BUY;
      return { ...req, path: t.path, body: signedForm(t.params, t.format) };
    },
    onResponse: (status, body, context) => {
      observe(probe, status, body);
      if (context.kind !== 'buyPay' || status !== 200) return;
      const parsed = JSON.parse(body) as { data?: { card?: { card_no?: unknown } } };
      context.cardNo = parsed.data?.card?.card_no;
    },
  };
  const pay: AutocannonRequest = {
    method: 'POST',
    path: '/movTicket/payByCard',
    headers: FORM_HEADERS,
    setupRequest: (req, context) =>
      context.kind === 'buyPay' && typeof context.cardNo === 'string'
        ? { ...req, body: signedForm({ card_no: context.cardNo, mobile: MOBILE }, 'json') }
        : undefined,
    onResponse: (status, body) => observe(probe, status, body),
  };
  return workload === 'mixed' ? [first, pay] : [first];
}

// ---------------------------------------------------------------------------
// Load runs

interface RunFigures {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  statuses: Record<string, number>;
  firstFailure: string | undefined;
}

let runningLoad: AutocannonInstance | undefined;
let interrupted = false;

async function load(
  url: string,
  opts: Options,
  signedForm: SignedForm,
  run: { duration: number; connections: number; overallRate?: number },
): Promise<RunFigures> {
  if (interrupted) throw new Error('interrupted');
  const probe: Probe = { statuses: new Map(), firstFailure: undefined };
  const instance = autocannon({
    url,
    connections: run.connections,
    duration: run.duration,
    ...(run.overallRate !== undefined ? { overallRate: run.overallRate } : {}),
    requests: requests(opts.workload, signedForm, probe),
  });
  runningLoad = instance;
  try {
    const result = await instance;
    if (interrupted) throw new Error('interrupted');
    return {
      reqPerSec: result.duration > 0 ? result.requests.total / result.duration : 0,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      maxMs: result.latency.max,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      statuses: Object.fromEntries([...probe.statuses].sort(([a], [b]) => a - b)),
      firstFailure: probe.firstFailure,
    };
  } finally {
    runningLoad = undefined;
  }
}

function progress(message: string): void {
  process.stderr.write(`soak: ${message}\n`);
}

// ---------------------------------------------------------------------------
// Server child process (as in bench/run.ts)

let server: { proc: ChildProcess; pid: number; url: string } | undefined;

async function startServer(env: NodeJS.ProcessEnv): Promise<NonNullable<typeof server>> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--demo'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error('could not start movticket');
  server = { proc, pid: proc.pid, url: '' };
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-8192);
  };
  proc.stderr.on('data', keep);
  proc.stdout.on('data', keep);
  server.url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`movticket not ready after 60 s\n${tail}`)), 60_000);
    const onData = (): void => {
      const url = /movticket demo is serving on (\S+)/.exec(tail)?.[1];
      if (url) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        proc.stderr.off('data', onData);
        resolve(url);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`movticket exited (${signal ?? code}) before it was ready\n${tail}`));
    });
  });
  return server;
}

async function stopServer(): Promise<void> {
  const s = server;
  if (!s || s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => s.proc.once('exit', () => resolve()));
  s.proc.kill('SIGTERM');
  const force = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(force);
}

function assertRunning(): void {
  if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) {
    throw new Error('movticket died during the soak');
  }
}

/**
 * Resident memory (MB): all of it, and its private part (heap, native allocations, SQLite's
 * page cache). File-backed pages (SQLite's memory-mapped database, capped by `mmap_size`) are
 * the difference; the kernel can drop them at any time, so a leak shows in the private part.
 */
async function rssMb(pid: number): Promise<{ rss: number; anon: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const v = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1];
    if (v === undefined) throw new Error(`no ${field} for pid ${pid}`);
    return Number(v) / 1024;
  };
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}

/** Heap used (MB) and queued SMS from the server's Prometheus metrics; undefined when absent. */
async function scrapeMetrics(url: string): Promise<{ heapMb?: number; smsQueued?: number }> {
  try {
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    if (!res.ok) return {};
    const text = await res.text();
    const heap = /^movticket_nodejs_heap_size_used_bytes\s+(\S+)/m.exec(text)?.[1];
    const sms = /^movticket_sms_messages\{status="queued"\}\s+(\S+)/m.exec(text)?.[1];
    return {
      ...(heap !== undefined ? { heapMb: Number(heap) / 1024 / 1024 } : {}),
      ...(sms !== undefined ? { smsQueued: Number(sms) } : {}),
    };
  } catch {
    return {};
  }
}

/** SQLite file plus its WAL and shared-memory files, in MB. */
async function sqliteMb(dataDir: string): Promise<number> {
  let bytes = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      bytes += (await stat(path.join(dataDir, `movticket.sqlite${suffix}`))).size;
    } catch {
      // not there (yet)
    }
  }
  return bytes / 1024 / 1024;
}

// ---------------------------------------------------------------------------
// PostgreSQL (as in bench/run.ts)

function pgUrl(database: string): string {
  const user = process.env.PGUSER || process.env.USER || os.userInfo().username;
  return `postgres://${encodeURIComponent(user)}@127.0.0.1:5432/${database}`;
}

async function pgAdmin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgUrl('postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------
// Report

interface Interval {
  index: number;
  elapsedSec: number;
  offeredRate: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  rssMb: number;
  /** The private part of RSS (see rssMb()). */
  anonMb: number;
  heapMb: number | undefined;
  smsQueued: number | undefined;
  dbMb: number | undefined;
  statuses: Record<string, number>;
}

const COLUMNS: [string, (r: Interval) => string][] = [
  ['#', (r) => String(r.index)],
  [
    'elapsed',
    (r) => `${Math.floor(r.elapsedSec / 60)}:${String(Math.round(r.elapsedSec % 60)).padStart(2, '0')}`,
  ],
  ['offered/s', (r) => String(r.offeredRate)],
  ['req/s', (r) => r.reqPerSec.toFixed(0)],
  ['p50 ms', (r) => r.p50Ms.toFixed(0)],
  ['p99 ms', (r) => r.p99Ms.toFixed(0)],
  ['max ms', (r) => r.maxMs.toFixed(0)],
  ['non2xx', (r) => String(r.non2xx)],
  ['errors', (r) => String(r.errors)],
  ['RSS MB', (r) => r.rssMb.toFixed(1)],
  ['anon MB', (r) => r.anonMb.toFixed(1)],
  ['heap MB', (r) => (r.heapMb === undefined ? '-' : r.heapMb.toFixed(1))],
  ['SMS queued', (r) => (r.smsQueued === undefined ? '-' : String(r.smsQueued))],
  ['DB MB', (r) => (r.dbMb === undefined ? '-' : r.dbMb.toFixed(1))],
];
const WIDTHS = COLUMNS.map(([name]) => Math.max(name.length, 8));
const row = (cells: string[]): string => cells.map((c, i) => c.padStart(WIDTHS[i] ?? 0)).join('  ');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function judge(rows: Interval[]): {
  p99FirstThirdMs: number;
  p99LastThirdMs: number;
  p99Drift: number;
  rssGrowthMbPerMin: number | undefined;
  pass: boolean;
  text: string;
} {
  const third = Math.max(1, Math.floor(rows.length / 3));
  const p99FirstThirdMs = median(rows.slice(0, third).map((r) => r.p99Ms));
  const p99LastThirdMs = median(rows.slice(-third).map((r) => r.p99Ms));
  const p99Drift = p99FirstThirdMs > 0 ? p99LastThirdMs / p99FirstThirdMs - 1 : 0;
  const tail = rows.slice(2);
  const rssGrowthMbPerMin =
    tail.length >= 2 ? slope(tail.map((r) => [r.elapsedSec / 60, r.anonMb])) : undefined;
  const fileGrowthMbPerMin =
    tail.length >= 2 ? slope(tail.map((r) => [r.elapsedSec / 60, r.rssMb - r.anonMb])) : undefined;
  const p99Ok = p99Drift <= P99_DRIFT_LIMIT;
  const rssOk = rssGrowthMbPerMin === undefined || rssGrowthMbPerMin <= RSS_GROWTH_LIMIT_MB_PER_MIN;
  const failures = rows.reduce((a, r) => a + r.non2xx + r.errors, 0);
  const drifted = [...(p99Ok ? [] : ['p99 drifted']), ...(rssOk ? [] : ['RSS grew'])];
  const text =
    `p99 drift: median of first ${third} interval(s) ${p99FirstThirdMs.toFixed(1)} ms → last ${third} ` +
    `${p99LastThirdMs.toFixed(1)} ms = ${(p99Drift * 100).toFixed(0)} % (limit +${P99_DRIFT_LIMIT * 100} %)\n` +
    `private RSS growth after interval 2 (linear fit): ` +
    (rssGrowthMbPerMin === undefined
      ? 'n/a (fewer than 4 intervals)'
      : `${rssGrowthMbPerMin.toFixed(2)} MB/min (limit ${RSS_GROWTH_LIMIT_MB_PER_MIN} MB/min)`) +
    (fileGrowthMbPerMin === undefined
      ? ''
      : `\nfile-backed RSS growth (mapped database pages, not judged): ${fileGrowthMbPerMin.toFixed(2)} MB/min`) +
    `\nnon-2xx + errors over the soak: ${failures}\n` +
    `verdict: ${drifted.length === 0 ? 'PASS' : `FAIL — ${drifted.join(', ')}`}` +
    (rssGrowthMbPerMin === undefined ? ' (RSS not judged)' : '');
  return { p99FirstThirdMs, p99LastThirdMs, p99Drift, rssGrowthMbPerMin, pass: drifted.length === 0, text };
}

// ---------------------------------------------------------------------------

const leftovers: { dataDir?: string; database?: string } = {};

async function cleanUp(): Promise<void> {
  runningLoad?.stop();
  await stopServer();
  const { dataDir, database } = leftovers;
  leftovers.dataDir = undefined;
  leftovers.database = undefined;
  if (database) await pgAdmin(`drop database if exists ${database} with (force)`);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const md5key = randomBytes(16).toString('hex');
  const signedForm = makeSignedForm(md5key);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'movticket-soak-'));
  leftovers.dataDir = dataDir;
  const startedAt = new Date();
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MOVTICKET_DATA_DIR: dataDir,
      PORT: '0',
      MOVTICKET_DEMO_KEY: md5key,
      MOVTICKET_SMS: `file:${path.join(dataDir, 'sms.log')}`,
      MOVTICKET_METRICS_TOKEN_FILE: path.join(dataDir, 'metrics-token'),
      LOG_LEVEL: 'warn',
    };
    await writeFile(env.MOVTICKET_METRICS_TOKEN_FILE!, `${METRICS_TOKEN}\n`, { mode: 0o600 });
    delete env.DATABASE_URL;
    if (opts.db === 'postgres') {
      const name = `movticket_soak_${randomBytes(6).toString('hex')}`;
      await pgAdmin(`create database ${name}`);
      leftovers.database = name;
      env.DATABASE_URL = pgUrl(name);
    }
    progress(`starting movticket on ${opts.db}`);
    const { url, pid } = await startServer(env);

    progress(`${opts.workload}: warming up ${WARMUP_SEC} s, then measuring max for ${MAX_SEC} s`);
    await load(url, opts, signedForm, { duration: WARMUP_SEC, connections: MAX_CONNECTIONS });
    const max = await load(url, opts, signedForm, { duration: MAX_SEC, connections: MAX_CONNECTIONS });
    assertRunning();
    const rate = Math.max(1, Math.round(max.reqPerSec * opts.rateShare));
    const count = Math.max(1, Math.ceil((opts.minutes * 60) / opts.intervalSec));
    process.stdout.write(
      `\nmovticket soak — ${opts.db}, workload ${opts.workload}, max ${max.reqPerSec.toFixed(0)} req/s ` +
        `(p99 ${max.p99Ms} ms) → offering ${rate} req/s (${opts.rateShare} × max) over ${opts.connections} ` +
        `connections, ${count} × ${opts.intervalSec} s; ${os.cpus().length} CPUs, node ${process.version}, ` +
        `started ${startedAt.toISOString()}\n\n` +
        row(COLUMNS.map(([name]) => name)) +
        '\n' +
        row(WIDTHS.map((w) => '-'.repeat(w))) +
        '\n',
    );

    const rows: Interval[] = [];
    const soakStart = Date.now();
    for (let i = 1; i <= count; i++) {
      const f = await load(url, opts, signedForm, {
        duration: opts.intervalSec,
        connections: opts.connections,
        overallRate: rate,
      });
      assertRunning();
      const metrics = await scrapeMetrics(url);
      const r: Interval = {
        index: i,
        elapsedSec: (Date.now() - soakStart) / 1000,
        offeredRate: rate,
        reqPerSec: f.reqPerSec,
        p50Ms: f.p50Ms,
        p99Ms: f.p99Ms,
        maxMs: f.maxMs,
        non2xx: f.non2xx,
        errors: f.errors,
        ...(await rssMb(pid).then((m) => ({ rssMb: m.rss, anonMb: m.anon }))),
        heapMb: metrics.heapMb,
        smsQueued: metrics.smsQueued,
        dbMb: opts.db === 'sqlite' ? await sqliteMb(dataDir) : undefined,
        statuses: f.statuses,
      };
      rows.push(r);
      process.stdout.write(row(COLUMNS.map(([, cell]) => cell(r))) + '\n');
      if (f.firstFailure)
        progress(`interval ${i}: statuses ${JSON.stringify(f.statuses)}; first failure: ${f.firstFailure}`);
    }
    const endedAt = new Date();
    const v = judge(rows);
    process.stdout.write(`\n${v.text}\nended ${endedAt.toISOString()}\n`);
    await writeFile(
      RESULTS_FILE,
      JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          endedAt: endedAt.toISOString(),
          machine: { cpuModel: os.cpus()[0]?.model ?? 'unknown', cpuCount: os.cpus().length },
          node: process.version,
          options: opts,
          mix: opts.workload === 'mixed' ? MIX : undefined,
          max,
          offeredRate: rate,
          intervals: rows,
          verdict: { ...v, text: undefined },
        },
        null,
        2,
      ) + '\n',
    );
    process.stdout.write(`Results written to ${path.relative(process.cwd(), RESULTS_FILE)}\n`);
    if (!v.pass) process.exitCode = 1;
  } finally {
    await cleanUp();
  }
}

// `on`, not `once`: tsx relays the same signal a second time (see bench/run.ts).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: stopping the server`);
    cleanUp().then(
      () => process.exit(130),
      (err: unknown) => {
        process.stderr.write(`clean-up failed: ${String(err)}\n`);
        process.exit(130);
      },
    );
  });
}
process.on('exit', () => server?.proc.kill('SIGKILL'));

main().catch((err: unknown) => {
  if (interrupted) return;
  process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
