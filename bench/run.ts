// `npm run bench -- [--db sqlite|postgres] [--duration SECONDS] [--connections N] [--instances 1|2]
//                  [--only catalog,buy,buyPay] [--cpu-prof DIR] [--repeat N] [--full-only]`
//
// Measures a bare node:http server (the ceiling) and then movticket on the same
// machine, in child processes so neither shares an event loop with autocannon.
// See bench/README.md for how to read the table.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, {
  type AutocannonInstance,
  type AutocannonRequest,
  type AutocannonResult,
} from 'autocannon';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { percentile, runPaced } from './paced.js';
import { FORM_HEADERS, MOBILE, makeSignedForm, type SignedForm } from './signed-form.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = path.join(ROOT, 'bench', 'results.json');
const WARMUP_SEC = 2;
const HALF_RATE_P99_TARGET_MS = 10;
const LOOP_DELAY_MAX_TARGET_MS = 10;
const PROBE = ['--import', './bench/server-probe.mjs'];
/** movticket runs with the node flags of `npm run serve` and the systemd unit. */
const SERVER_FLAGS = ['--max-semi-space-size=8'];

interface Options {
  db: 'sqlite' | 'postgres';
  duration: number;
  connections: number;
  /** 2: also runs the workloads through HAProxy over two instances on the same database. */
  instances: 1 | 2;
  /** The movticket rows to run (all when unset); the reference rows always run. */
  only: Set<Workload['id']> | undefined;
  /** Where the movticket server writes a V8 CPU profile (`node --cpu-prof`) when it stops. */
  cpuProfDir: string | undefined;
  /**
   * Rounds of (ceiling, then every row against that ceiling); each row is reported by its round
   * of median ratio, with every round's ratio beside it.
   */
  repeat: number;
  /** Skips the half-rate runs: throughput, CPU and memory only (a quicker comparison). */
  fullOnly: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string', default: 'sqlite' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      instances: { type: 'string', default: '1' },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
      repeat: { type: 'string', default: '1' },
      'full-only': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const db = values.db;
  if (db !== 'sqlite' && db !== 'postgres') throw new Error(`--db must be sqlite or postgres, not ${db}`);
  const duration = Number(values.duration);
  if (!Number.isInteger(duration) || duration < 1) {
    throw new Error('--duration must be a whole number of seconds ≥ 1');
  }
  const connections = Number(values.connections);
  if (!Number.isInteger(connections) || connections < 1) {
    throw new Error('--connections must be an integer ≥ 1');
  }
  const instances = Number(values.instances);
  if (instances !== 1 && instances !== 2) throw new Error('--instances must be 1 or 2');
  if (instances === 2 && db !== 'postgres') throw new Error('--instances 2 needs --db postgres');
  let only: Options['only'];
  if (values.only !== undefined) {
    const known = new Set<string>(WORKLOADS.map((w) => w.id));
    const ids = values.only.split(',').filter((id) => id !== '');
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0 || ids.length === 0) {
      throw new Error(`--only takes a list of ${[...known].join(', ')}; not ${values.only}`);
    }
    only = new Set(ids as Workload['id'][]);
  }
  const cpuProfDir = values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 9) throw new Error('--repeat must be 1 to 9');
  if (repeat > 1 && instances === 2) throw new Error('--repeat needs --instances 1');
  return { db, duration, connections, instances, only, cpuProfDir, repeat, fullOnly: values['full-only'] };
}

// ---------------------------------------------------------------------------
// Signed requests

/** What one autocannon run observed beyond autocannon's own figures. */
interface Probe {
  statuses: Map<number, number>;
  firstFailure: string | undefined;
  /** Completed units of work: responses, or paid cards for the buy+pay workload. */
  units: number;
}

function newProbe(): Probe {
  return { statuses: new Map(), firstFailure: undefined, units: 0 };
}

function observe(probe: Probe, status: number, body: string): void {
  probe.statuses.set(status, (probe.statuses.get(status) ?? 0) + 1);
  if ((status < 200 || status > 299) && probe.firstFailure === undefined) {
    probe.firstFailure = `${status} ${body.slice(0, 300)}`;
  }
}

function partnerRequest(
  signedForm: SignedForm,
  method: string,
  params: (context: Record<string, unknown>) => Record<string, string> | undefined,
  format: 'xml' | 'json',
  onResponse: NonNullable<AutocannonRequest['onResponse']>,
): AutocannonRequest {
  return {
    method: 'POST',
    path: `/movTicket/${method}`,
    headers: FORM_HEADERS,
    setupRequest: (req, context) => {
      const p = params(context);
      return p && { ...req, body: signedForm(p, format) };
    },
    onResponse,
  };
}

interface Workload {
  id: 'ceiling' | 'clientLimit' | 'catalog' | 'buy' | 'buyPay';
  label: string;
  /** Minimum throughput as a share of the ceiling; undefined for the reference rows. */
  targetRatio: number | undefined;
  /** Whether to also measure p99 when offered half the measured rate. */
  halfRate: boolean;
  /** A fresh request sequence for one autocannon run, counting into `probe`. */
  requests: (signedForm: SignedForm, probe: Probe) => AutocannonRequest[];
}

const countResponse =
  (probe: Probe) =>
  (status: number, body: string): void => {
    observe(probe, status, body);
    probe.units++;
  };

const catalogRequests: Workload['requests'] = (signedForm, probe) => [
  partnerRequest(signedForm, 'cinemasByRegion', () => ({ region_id: '001001' }), 'xml', countResponse(probe)),
];

const WORKLOADS: Workload[] = [
  {
    id: 'catalog',
    label: 'cinemasByRegion (XML)',
    targetRatio: 0.35,
    halfRate: true,
    requests: catalogRequests,
  },
  {
    id: 'buy',
    label: 'buyByCinema (JSON)',
    targetRatio: 0.2,
    halfRate: true,
    requests: (signedForm, probe) => [
      partnerRequest(
        signedForm,
        'buyByCinema',
        () => ({ cinema_id: '1001', count: '1' }),
        'json',
        countResponse(probe),
      ),
    ],
  },
  {
    id: 'buyPay',
    label: 'buy+pay pairs (pairs/s)',
    targetRatio: 0.1,
    halfRate: true,
    requests: (signedForm, probe) => [
      partnerRequest(
        signedForm,
        'buyByCinema',
        () => ({ cinema_id: '1001', count: '1' }),
        'json',
        (status, body, context) => {
          observe(probe, status, body);
          if (status !== 200) return;
          const parsed = JSON.parse(body) as { data?: { card?: { card_no?: unknown } } };
          context.cardNo = parsed.data?.card?.card_no;
        },
      ),
      partnerRequest(
        signedForm,
        'payByCard',
        // Without a card from request 1, autocannon starts the pair over.
        (context) =>
          typeof context.cardNo === 'string' ? { card_no: context.cardNo, mobile: MOBILE } : undefined,
        'json',
        (status, body) => {
          observe(probe, status, body);
          if (status === 200) probe.units++;
        },
      ),
    ],
  },
];

/**
 * Reference rows, measured against the node:http hello server. The ceiling replays one
 * representative signed form (no per-request work on either side); the client limit
 * builds and signs every request as the real workloads do, showing how far the load
 * generator itself can go on this machine.
 */
const CEILING: Workload = {
  id: 'ceiling',
  label: 'node:http hello (ceiling)',
  targetRatio: undefined,
  halfRate: true,
  requests: (signedForm, probe) => [
    {
      method: 'POST',
      path: '/movTicket/cinemasByRegion',
      headers: FORM_HEADERS,
      body: signedForm({ region_id: '001001' }, 'xml'),
      onResponse: countResponse(probe),
    },
  ],
};

const CLIENT_LIMIT: Workload = {
  id: 'clientLimit',
  label: 'hello, signed per request',
  targetRatio: undefined,
  halfRate: false,
  requests: catalogRequests,
};

// ---------------------------------------------------------------------------
// Load runs

interface RunFigures {
  /** Mean of autocannon's per-second request samples. */
  reqPerSec: number;
  /** Completed units per second (pairs/s for buy+pay, else responses/s). */
  unitsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statuses: Record<string, number>;
  /** What the server saw during the run (see bench/server-probe.mjs). */
  server: ServerFigures;
}

interface ServerFigures {
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Server CPU time (user + system) per response. */
  cpuUsPerRequest: number;
  /** The main thread's share (Linux); undefined where the probe cannot tell. */
  mainThreadCpuUsPerRequest?: number;
  /** Bytes written to storage per response: the process's write_bytes (SQLite), WAL bytes (PostgreSQL). */
  diskBytesPerRequest: number;
  /** The longest garbage-collection pause, and all pauses together per second of the run. */
  gcMaxMs: number;
  gcMsPerSecond: number;
}

async function load(
  child: Child,
  workload: Workload,
  signedForm: SignedForm,
  run: { phase: string; duration: number; connections: number; pacedRate?: number },
): Promise<RunFigures> {
  if (interrupted) throw new Error('interrupted');
  const probe = newProbe();
  const before = await serverCounters(child);
  let figures: RunFigures;
  if (run.pacedRate === undefined) {
    const instance = autocannon({
      url: child.url,
      connections: run.connections,
      duration: run.duration,
      requests: workload.requests(signedForm, probe),
    });
    runningLoad = instance;
    let result: AutocannonResult;
    try {
      result = await instance;
    } finally {
      runningLoad = undefined;
    }
    const responses = result.requests.total;
    figures = {
      reqPerSec: result.requests.average,
      unitsPerSec: result.duration > 0 ? probe.units / result.duration : 0,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      statuses: Object.fromEntries([...probe.statuses].sort(([a], [b]) => a - b)),
      server: await serverFigures(child, before, responses, result.duration),
    };
  } else {
    const result = await runPaced({
      url: child.url,
      rate: run.pacedRate,
      durationSec: run.duration,
      connections: run.connections,
      requests: workload.requests(signedForm, probe),
    });
    const responses = result.latenciesMs.length;
    if (result.maxStartLagMs > 5) {
      warn(
        `${workload.label}, ${run.phase}: the load generator started a unit ${result.maxStartLagMs.toFixed(1)} ms late`,
      );
    }
    let non2xx = 0;
    for (const [status, n] of probe.statuses) if (status < 200 || status > 299) non2xx += n;
    figures = {
      reqPerSec: responses / result.durationSec,
      unitsPerSec: probe.units / result.durationSec,
      p50Ms: percentile(result.latenciesMs, 50),
      p99Ms: percentile(result.latenciesMs, 99),
      non2xx,
      errors: result.errors,
      timeouts: 0,
      statuses: Object.fromEntries([...probe.statuses].sort(([a], [b]) => a - b)),
      server: await serverFigures(child, before, responses, result.durationSec),
    };
  }
  if (interrupted) throw new Error('interrupted');
  if (figures.non2xx > 0 || figures.errors > 0 || figures.timeouts > 0) {
    warn(
      `${workload.label}, ${run.phase}: non-2xx ${figures.non2xx}, errors ${figures.errors}, ` +
        `timeouts ${figures.timeouts}; statuses ${JSON.stringify(figures.statuses)}` +
        (probe.firstFailure ? `; first failure: ${probe.firstFailure}` : ''),
    );
  }
  return figures;
}

/** The autocannon run in progress, stopped on Ctrl-C so the server can shut down. */
let runningLoad: AutocannonInstance | undefined;
/** Set on Ctrl-C: no further load runs start. */
let interrupted = false;

const warnings: string[] = [];

function warn(message: string): void {
  warnings.push(message);
  process.stderr.write(`WARNING: ${message}\n`);
}

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

// ---------------------------------------------------------------------------
// Child processes

interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  url: string;
}

const children = new Set<Child>();

/**
 * Spawns `node <args>` with the probe loaded and an IPC channel to it, and resolves once its
 * output shows `ready` (whose group 1 is the base URL).
 */
async function startChild(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  timeoutMs = 60_000,
): Promise<Child> {
  const proc = spawn(process.execPath, [...PROBE, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const { stdout, stderr } = proc;
  if (proc.pid === undefined || !stdout || !stderr) throw new Error(`could not start ${name}`);
  const child: Child = { name, proc, pid: proc.pid, url: '' };
  children.add(child);
  proc.once('exit', () => children.delete(child));
  // Keep the last output for diagnostics, and keep draining so the child never blocks on a full pipe.
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-8192);
  };
  try {
    child.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready after ${timeoutMs} ms`)), timeoutMs);
      const onData = (chunk: Buffer): void => {
        keep(chunk);
        const match = ready.exec(tail);
        if (match?.[1]) {
          clearTimeout(timer);
          stdout.off('data', onData);
          stderr.off('data', onData);
          stdout.on('data', keep);
          stderr.on('data', keep);
          resolve(match[1]);
        }
      };
      // The demo banner goes to stderr when stdout is not a terminal.
      stdout.on('data', onData);
      stderr.on('data', onData);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${signal ?? code}) before it was ready`));
      });
    });
  } catch (err) {
    await stopChild(child);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- ${name} output ---\n${tail}`);
  }
  return child;
}

function isRunning(child: Child): boolean {
  return child.proc.exitCode === null && child.proc.signalCode === null;
}

async function stopChild(child: Child): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.proc.once('exit', () => resolve()));
  child.proc.kill('SIGTERM');
  const force = setTimeout(() => child.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(force);
}

async function stopAllChildren(): Promise<void> {
  await Promise.all([...children].map(stopChild));
}

interface Counters {
  writeBytes: number;
  walLsn: string | undefined;
}

/** Resets the probe's delay histogram and CPU clock, and reads the write counters. */
async function serverCounters(child: Child): Promise<Counters> {
  await ask(child, 'reset');
  return { writeBytes: await writeBytes(child), walLsn: await currentWalLsn() };
}

async function serverFigures(
  child: Child,
  before: Counters,
  responses: number,
  seconds: number,
): Promise<ServerFigures> {
  const read = (await ask(child, 'read')) as {
    loopDelayP99Ms: number;
    loopDelayMaxMs: number;
    cpuUs: number;
    mainThreadUs?: number;
    gcMaxMs: number;
    gcTotalMs: number;
  };
  const per = (n: number): number => (responses > 0 ? n / responses : 0);
  const disk =
    before.walLsn !== undefined
      ? await walBytesSince(before.walLsn)
      : (await writeBytes(child)) - before.writeBytes;
  return {
    loopDelayP99Ms: read.loopDelayP99Ms,
    loopDelayMaxMs: read.loopDelayMaxMs,
    cpuUsPerRequest: per(read.cpuUs),
    ...(read.mainThreadUs === undefined ? {} : { mainThreadCpuUsPerRequest: per(read.mainThreadUs) }),
    diskBytesPerRequest: per(disk),
    gcMaxMs: read.gcMaxMs,
    gcMsPerSecond: seconds > 0 ? read.gcTotalMs / seconds : 0,
  };
}

/** One question to the probe in the child (bench/server-probe.mjs), answered over IPC. */
function ask(child: Child, question: 'reset' | 'read'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.name}: no answer from the probe`)), 10_000);
    const onMessage = (message: unknown): void => {
      const m = message as { probe?: string } | null;
      if (m?.probe !== question) return;
      clearTimeout(timer);
      child.proc.off('message', onMessage);
      resolve(m as Record<string, unknown>);
    };
    child.proc.on('message', onMessage);
    child.proc.send({ probe: question });
  });
}

async function writeBytes(child: Child): Promise<number> {
  const io = await readFile(`/proc/${child.pid}/io`, 'utf8');
  return Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? 0);
}

/** Set while the server runs on PostgreSQL: its writes are the WAL the server generates. */
let walDatabase: string | undefined;

/** Counts the SMS the server has queued and not yet sent (set once the server's database is known). */
let smsQueuedNow: (() => Promise<number>) | undefined;

/** Queued and in no worker's hands: leased messages (being sent, or leased ahead) are not behind. */
const COUNT_QUEUED_SMS = (param: string) =>
  `select count(*) as n from sms_messages where status = 'queued' and locked_until <= ${param}`;

function sqliteSmsQueued(file: string): () => Promise<number> {
  return () => {
    const db = new Sqlite(file, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare(COUNT_QUEUED_SMS('?')).get(Date.now()) as { n: number };
      return Promise.resolve(Number(row.n));
    } finally {
      db.close();
    }
  };
}

function pgSmsQueued(url: string): () => Promise<number> {
  return async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const { rows } = await c.query<{ n: string }>(COUNT_QUEUED_SMS('$1'), [Date.now()]);
      return Number(rows[0]!.n);
    } finally {
      await c.end();
    }
  };
}

async function currentWalLsn(): Promise<string | undefined> {
  if (walDatabase === undefined) return undefined;
  const c = new pg.Client({ connectionString: walDatabase });
  await c.connect();
  try {
    const { rows } = await c.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    return rows[0]!.lsn;
  } finally {
    await c.end();
  }
}

async function walBytesSince(lsn: string): Promise<number> {
  const c = new pg.Client({ connectionString: walDatabase });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: string }>(
      'select pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text as n',
      [lsn],
    );
    return Number(rows[0]!.n);
  } finally {
    await c.end();
  }
}

/** Resident memory by kind, from /proc and the probe. */
async function memoryOf(child: Child): Promise<Memory> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? 0) / 1024;
  const read = (await ask(child, 'read')) as { heapTotalMb: number; heapUsedMb: number; externalMb: number };
  return {
    rssMb: kb('VmRSS'),
    anonMb: kb('RssAnon'),
    fileMb: kb('RssFile'),
    heapTotalMb: read.heapTotalMb,
    heapUsedMb: read.heapUsedMb,
    externalMb: read.externalMb,
  };
}

interface Memory {
  rssMb: number;
  /** Anonymous memory: the V8 heap, SQLite's page cache, malloc'd buffers. */
  anonMb: number;
  /** File-backed pages: the node binary, shared libraries, any mapped database file. */
  fileMb: number;
  heapTotalMb: number;
  heapUsedMb: number;
  externalMb: number;
}

function assertRunning(child: Child): void {
  if (!isRunning(child)) throw new Error(`${child.name} (pid ${child.pid}) died during the benchmark`);
}

// ---------------------------------------------------------------------------
// PostgreSQL

/** The local server with trust auth; the user is spelled out because `USER` may be unset. */
function pgUrl(database: string): string {
  const user = process.env.PGUSER || process.env.USER || os.userInfo().username;
  return `postgres://${encodeURIComponent(user)}@127.0.0.1:5432/${database}`;
}

async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `movticket_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl('postgres') });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: pgUrl(name),
    drop: async () => {
      const c = new pg.Client({ connectionString: pgUrl('postgres') });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Report

interface WorkloadResult {
  id: Workload['id'];
  label: string;
  /** Requests/s, or pairs/s for buy+pay. */
  throughput: number;
  unit: 'req/s' | 'pairs/s';
  max: RunFigures;
  halfRate: (RunFigures & { offeredRate: number }) | undefined;
  /** Right after the full-speed run. */
  memory: Memory;
  /**
   * buy+pay: SMS queued and not yet leased right after the full-speed run (those in the outbox's
   * hands are not counted). Above 0 the outbox fell behind the payments, and the pairs figure
   * leaves out the sending of those messages.
   */
  smsQueued?: number;
  ratio: number;
  targetRatio: number | undefined;
  ratioPass: boolean | undefined;
  halfRateP99Pass: boolean | undefined;
  loopDelayPass: boolean | undefined;
  /** With `--repeat`: every round's throughput, ceiling and ratio (this result is the median's). */
  rounds?: { throughput: number; ceiling: number; ratio: number }[];
}

/** The result of median ratio (ceiling rows: median throughput), carrying every round's figures. */
function medianRound(results: WorkloadResult[], ceilings: number[]): WorkloadResult {
  const key = (r: WorkloadResult) => (r.targetRatio === undefined ? r.throughput : r.ratio);
  const order = results.map((r, i) => i).sort((a, b) => key(results[a]!) - key(results[b]!));
  const median = results[order[Math.floor((order.length - 1) / 2)]!]!;
  return {
    ...median,
    rounds: results.map((r, i) => ({ throughput: r.throughput, ceiling: ceilings[i]!, ratio: r.ratio })),
  };
}

function verdict(pass: boolean | undefined): string {
  return pass === undefined ? '-' : pass ? 'PASS' : 'MISS';
}

function renderTable(rows: WorkloadResult[]): string {
  const fixed = (n: number, digits: number): string => n.toFixed(digits);
  const header = [
    'workload',
    'req/s',
    'ratio',
    'target',
    'ratio?',
    'p99 ms',
    'p99@half ms',
    `≤${HALF_RATE_P99_TARGET_MS}?`,
    'loop p99/max ms',
    'loop@half p99/max',
    `≤${LOOP_DELAY_MAX_TARGET_MS}?`,
    'gc max ms',
    'CPU µs/req all/main',
    'disk B/req',
    'RSS MB',
  ];
  const loop = (f: RunFigures | undefined): string =>
    f ? `${fixed(f.server.loopDelayP99Ms, 1)}/${fixed(f.server.loopDelayMaxMs, 1)}` : '-';
  const body = rows.map((r) => [
    r.label,
    fixed(r.throughput, 0),
    fixed(r.ratio, 3),
    r.targetRatio === undefined ? '-' : `≥ ${fixed(r.targetRatio, 2)}`,
    verdict(r.ratioPass),
    fixed(r.max.p99Ms, 1),
    r.halfRate ? fixed(r.halfRate.p99Ms, 1) : '-',
    verdict(r.halfRateP99Pass),
    loop(r.max),
    loop(r.halfRate),
    verdict(r.loopDelayPass),
    `${fixed(r.max.server.gcMaxMs, 1)}/${r.halfRate ? fixed(r.halfRate.server.gcMaxMs, 1) : '-'}`,
    `${fixed(r.max.server.cpuUsPerRequest, 0)}/${
      r.max.server.mainThreadCpuUsPerRequest === undefined
        ? '-'
        : fixed(r.max.server.mainThreadCpuUsPerRequest, 0)
    }`,
    fixed(r.max.server.diskBytesPerRequest, 0),
    fixed(r.memory.rssMb, 1),
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function renderSmsQueued(rows: WorkloadResult[]): string {
  const pairs = rows.filter((r) => r.smsQueued !== undefined);
  if (pairs.length === 0) return '';
  return `SMS queued and not yet taken by the outbox right after the buy+pay full-speed run: ${pairs.map((r) => r.smsQueued).join(', ')}\n\n`;
}

/** Each row's ratio in every round, with the ceiling it was measured against (the table shows the median round). */
function renderRounds(rows: WorkloadResult[]): string {
  const lines = rows
    .filter((r) => r.rounds && (r.targetRatio !== undefined || r.rounds.length > 1))
    .map(
      (r) =>
        `  ${r.label}: ` +
        r
          .rounds!.map((x) =>
            r.targetRatio === undefined
              ? x.throughput.toFixed(0)
              : `${x.ratio.toFixed(3)} (${x.throughput.toFixed(0)} / ${x.ceiling.toFixed(0)})`,
          )
          .join(', '),
    );
  if (lines.length === 0) return '';
  return (
    `rounds (ceiling: req/s; rows: ratio (throughput / the ceiling measured just before the row); ` +
    `the table shows each row's median round):\n${lines.join('\n')}\n\n`
  );
}

/**
 * The ceiling at full speed right before a row, so that the row's ratio is to the machine as it
 * was then: on a shared virtual machine the ceiling moved by half from one minute to the next.
 */
async function ceilingNextTo(
  hello: Child,
  workload: Workload,
  signedForm: SignedForm,
  opts: Options,
): Promise<number> {
  progress(`${CEILING.label}, before ${workload.label}: measuring ${opts.duration} s`);
  const max = await load(hello, CEILING, signedForm, {
    phase: 'max rate',
    duration: opts.duration,
    connections: opts.connections,
  });
  assertRunning(hello);
  return max.reqPerSec;
}

// ---------------------------------------------------------------------------

async function measureWorkload(
  child: Child,
  workload: Workload,
  signedForm: SignedForm,
  opts: Options,
  ceiling: number | undefined,
): Promise<WorkloadResult> {
  const { duration, connections } = opts;
  progress(`${workload.label}: warming up ${WARMUP_SEC} s`);
  await load(child, workload, signedForm, { phase: 'warm-up', duration: WARMUP_SEC, connections });
  assertRunning(child);
  progress(`${workload.label}: measuring ${duration} s at ${connections} connections`);
  const max = await load(child, workload, signedForm, { phase: 'max rate', duration, connections });
  assertRunning(child);
  const memory = await memoryOf(child);
  const pairs = workload.id === 'buyPay';
  const smsQueued = pairs && smsQueuedNow ? await smsQueuedNow() : undefined;
  if (smsQueued) {
    warn(
      `${workload.label}: ${smsQueued} SMS queued and not yet taken by the outbox after the full-speed run: it fell behind, and the pairs figure leaves their sending out`,
    );
  }
  const throughput = pairs ? max.unitsPerSec : max.reqPerSec;
  let halfRate: WorkloadResult['halfRate'];
  if (workload.halfRate && !opts.fullOnly) {
    // Units (requests, or buy+pay pairs) started evenly: half of what full speed completed.
    const offeredRate = Math.max(1, Math.round(throughput / 2));
    progress(
      `${workload.label}: measuring ${duration} s, ${offeredRate} ${pairs ? 'pairs' : 'requests'}/s paced`,
    );
    const figures = await load(child, workload, signedForm, {
      phase: 'half rate',
      duration,
      connections,
      pacedRate: offeredRate,
    });
    assertRunning(child);
    halfRate = { ...figures, offeredRate };
  }
  const ratio = ceiling ? throughput / ceiling : 1;
  return {
    id: workload.id,
    label: workload.label,
    throughput,
    unit: pairs ? 'pairs/s' : 'req/s',
    max,
    halfRate,
    memory,
    ...(smsQueued === undefined ? {} : { smsQueued }),
    ratio,
    targetRatio: workload.targetRatio,
    ratioPass: workload.targetRatio === undefined ? undefined : ratio >= workload.targetRatio,
    halfRateP99Pass:
      halfRate && workload.targetRatio !== undefined ? halfRate.p99Ms <= HALF_RATE_P99_TARGET_MS : undefined,
    loopDelayPass:
      workload.targetRatio === undefined
        ? undefined
        : Math.max(max.server.loopDelayMaxMs, halfRate?.server.loopDelayMaxMs ?? 0) <=
          LOOP_DELAY_MAX_TARGET_MS,
  };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const loadAtStart = os.loadavg()[0] ?? 0;
  if (loadAtStart > os.cpus().length / 2) {
    warn(
      `load average is ${loadAtStart.toFixed(2)} before the benchmark starts: other work on this machine will skew the figures`,
    );
  }
  const md5key = randomBytes(16).toString('hex');
  const signedForm = makeSignedForm(md5key);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'movticket-bench-'));
  leftovers.dataDir = dataDir;
  try {
    // The server runs as in production: compiled JavaScript from dist/.
    progress('building dist/');
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
    progress('starting the node:http hello server');
    const hello = await startChild(
      'hello server',
      ['--import', 'tsx', 'bench/hello-server.ts'],
      { ...process.env },
      /serving on (\S+)/,
    );
    const ceilings: WorkloadResult[] = [await measureWorkload(hello, CEILING, signedForm, opts, undefined)];
    const clientLimit = await measureWorkload(hello, CLIENT_LIMIT, signedForm, opts, ceilings[0]!.throughput);
    // The hello server stays up: it measures the ceiling again right before each row.

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MOVTICKET_DATA_DIR: dataDir,
      PORT: '0',
      MOVTICKET_DEMO_KEY: md5key,
      MOVTICKET_SMS: `file:${path.join(dataDir, 'sms.log')}`,
      LOG_LEVEL: 'warn',
    };
    delete env.DATABASE_URL;
    if (opts.db === 'postgres') {
      leftovers.database = await createPgDatabase();
      env.DATABASE_URL = leftovers.database.url;
      walDatabase = leftovers.database.url;
      smsQueuedNow = pgSmsQueued(leftovers.database.url);
    } else smsQueuedNow = sqliteSmsQueued(path.join(dataDir, 'movticket.sqlite'));
    progress(`starting movticket on ${opts.db}`);
    const server = await startChild(
      'movticket',
      [
        ...SERVER_FLAGS,
        ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : []),
        'dist/cli/main.js',
        'serve',
        '--demo',
      ],
      env,
      /movticket demo is serving on (\S+)/,
    );
    const rows = WORKLOADS.filter((w) => !opts.only || opts.only.has(w.id));
    const perRow = rows.map((): WorkloadResult[] => []);
    const perRowCeilings = rows.map((): number[] => []);
    for (let round = 1; round <= opts.repeat; round++) {
      if (round > 1) {
        progress(`round ${round} of ${opts.repeat}`);
        ceilings.push(await measureWorkload(hello, CEILING, signedForm, opts, undefined));
      }
      for (const [i, workload] of rows.entries()) {
        const ceilingNow = await ceilingNextTo(hello, workload, signedForm, opts);
        perRowCeilings[i]!.push(ceilingNow);
        perRow[i]!.push(await measureWorkload(server, workload, signedForm, opts, ceilingNow));
      }
    }
    await stopChild(hello);
    const ceilingRates = ceilings.map((c) => c.throughput);
    const ceiling = medianRound(ceilings, ceilingRates);
    const results: WorkloadResult[] = [
      ceiling,
      clientLimit,
      ...perRow.map((r, i) => medianRound(r, perRowCeilings[i]!)),
    ];
    const scaling = opts.instances === 2 ? await measureInstances(server, env, signedForm, opts) : undefined;
    await stopChild(server);

    const cpus = os.cpus();
    const report = {
      date: new Date().toISOString(),
      machine: {
        cpuModel: cpus[0]?.model ?? 'unknown',
        cpuCount: cpus.length,
        os: `${os.type()} ${os.release()}`,
        totalMemMb: Math.round(os.totalmem() / 1024 / 1024),
      },
      node: process.version,
      loadAverage: { atStart: loadAtStart, atEnd: os.loadavg()[0] ?? 0 },
      db: opts.db,
      durationSec: opts.duration,
      warmupSec: WARMUP_SEC,
      connections: opts.connections,
      halfRateP99TargetMs: HALF_RATE_P99_TARGET_MS,
      loopDelayMaxTargetMs: LOOP_DELAY_MAX_TARGET_MS,
      ceilingReqPerSec: ceiling.throughput,
      workloads: results,
      ...(scaling ? { instances: scaling } : {}),
      warnings,
    };
    await writeFile(RESULTS_FILE, JSON.stringify(report, null, 2) + '\n');

    process.stdout.write(
      `\nmovticket bench — ${opts.db}, ${opts.duration} s per run, ${opts.connections} connections, ` +
        `${report.machine.cpuCount} × ${report.machine.cpuModel}, node ${process.version}, ` +
        `load average ${loadAtStart.toFixed(2)} → ${report.loadAverage.atEnd.toFixed(2)}\n\n` +
        renderTable(results) +
        '\n\n' +
        renderRounds(results) +
        renderSmsQueued(results) +
        `ratio = throughput / the ceiling measured just before the row; buy+pay throughput counts completed pays per second.\n` +
        `p99@half = per-response p99 with units started evenly at half the full-speed rate (bench/paced.ts).\n` +
        `loop = the server's event-loop delay; gc max = its longest garbage-collection pause (full / half rate);\n` +
        `CPU and disk per response at full speed (disk: write_bytes on SQLite, WAL bytes on PostgreSQL);\n` +
        `RSS right after the full-speed run. See bench/README.md.\n` +
        `Results written to ${path.relative(process.cwd(), RESULTS_FILE)}\n`,
    );
    if (scaling) process.stdout.write(`\n${renderScaling(scaling)}\n`);
    if (warnings.length > 0) {
      process.stdout.write(`\n${warnings.map((w) => `WARNING: ${w}`).join('\n')}\n`);
    }
  } finally {
    await cleanUp();
  }
}

// ---------------------------------------------------------------------------
// --instances 2: the same workloads through HAProxy over two instances on one database

interface ScalingRow {
  label: string;
  unit: 'req/s' | 'pairs/s';
  one: number;
  two: number;
  ratio: number;
  /** Measured over the one-instance run, per response: database transactions and busy time. */
  dbXactsPerResponse: number;
  /** Round trips to the database per response (a third instance behind a counting proxy). */
  roundTripsPerResponse: number;
  dbActiveMsPerResponse: number;
  /** Server CPU per response (both instances together in the two-instance run). */
  cpuUsPerResponseOne: number;
  cpuUsPerResponseTwo: number;
}

interface DbCounters {
  xacts: number;
  activeMs: number;
}

/** This database's committed + rolled-back transactions and time spent executing statements. */
async function dbCounters(): Promise<DbCounters> {
  // Backends report their statistics about once a second: let the last ones arrive.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const c = new pg.Client({ connectionString: walDatabase });
  await c.connect();
  try {
    const { rows } = await c.query<{ xacts: string; active: number }>(
      `select (xact_commit + xact_rollback)::text as xacts, active_time as active
       from pg_stat_database where datname = current_database()`,
    );
    return { xacts: Number(rows[0]!.xacts), activeMs: Number(rows[0]!.active) };
  } finally {
    await c.end();
  }
}

/**
 * A TCP proxy to PostgreSQL at `target` that counts round trips: the frontend's Sync (extended
 * protocol) and Query (simple protocol) messages, each of which the client waits an answer for.
 */
async function countingProxy(
  target: URL,
): Promise<{ url: string; roundTrips: () => number; close: () => void }> {
  let roundTrips = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (!started) {
          if (pending.length < 8) break;
          const len = pending.readInt32BE(0);
          if (pending.length < len) break;
          // An SSLRequest (80877103) is followed by the real startup message.
          started = pending.readInt32BE(4) !== 80877103;
          pending = pending.subarray(len);
          continue;
        }
        if (pending.length < 5) break;
        const len = pending.readInt32BE(1);
        if (pending.length < 1 + len) break;
        const type = String.fromCharCode(pending[0]!);
        if (type === 'S' || type === 'Q') roundTrips++;
        pending = pending.subarray(1 + len);
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(target.href);
  url.host = `127.0.0.1:${port}`;
  return {
    url: url.href,
    roundTrips: () => roundTrips,
    close: () => {
      for (const sock of sockets) sock.destroy();
      server.close();
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** HAProxy (the Debian package) round-robin over `servers`, on a free loopback port. */
async function startBalancer(
  servers: Child[],
  dir: string,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  await writeFile(
    cfg,
    [
      'global',
      '  maxconn 4000',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 60s',
      '  timeout server 60s',
      'listen movticket',
      `  bind 127.0.0.1:${port}`,
      '  balance roundrobin',
      ...servers.map((s, i) => `  server app${i + 1} ${new URL(s.url).host}`),
      '',
    ].join('\n'),
  );
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
  const spawned = await new Promise<boolean>((resolve) => {
    proc.once('spawn', () => resolve(true));
    proc.once('error', () => resolve(false));
  });
  if (!spawned) throw new Error('--instances 2 needs haproxy (apt-get install haproxy)');
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i >= 50 || proc.exitCode !== null) throw new Error(`haproxy did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    await exited;
  };
  return { url, stop };
}

/** One autocannon run at `url`: completed units per second. */
async function unitsPerSec(
  url: string,
  workload: Workload,
  signedForm: SignedForm,
  opts: Options,
): Promise<number> {
  const probe = newProbe();
  const instance = autocannon({
    url,
    connections: opts.connections,
    duration: opts.duration,
    requests: workload.requests(signedForm, probe),
  });
  runningLoad = instance;
  try {
    const result = await instance;
    if (probe.firstFailure) warn(`${workload.label} at ${url}: first failure: ${probe.firstFailure}`);
    return result.duration > 0 ? probe.units / result.duration : 0;
  } finally {
    runningLoad = undefined;
  }
}

/**
 * Starts a second instance on the same database and data directory (same demo partner, same
 * key file) and HAProxy over both, then measures each workload through one instance and through
 * the balancer, with the database's transactions and busy time per response.
 */
async function measureInstances(
  first: Child,
  env: NodeJS.ProcessEnv,
  signedForm: SignedForm,
  opts: Options,
): Promise<ScalingRow[]> {
  progress('starting a second movticket instance and HAProxy');
  const second = await startChild(
    'movticket 2',
    [...SERVER_FLAGS, 'dist/cli/main.js', 'serve', '--demo'],
    env,
    /movticket demo is serving on (\S+)/,
  );
  const balancer = await startBalancer([first, second], leftovers.dataDir!);
  const proxy = await countingProxy(new URL(env.DATABASE_URL!));
  const counted = await startChild(
    'movticket (counted)',
    [...SERVER_FLAGS, 'dist/cli/main.js', 'serve', '--demo'],
    { ...env, DATABASE_URL: proxy.url },
    /movticket demo is serving on (\S+)/,
  );
  const rows: ScalingRow[] = [];
  try {
    for (const workload of WORKLOADS) {
      progress(`${workload.label}: one instance, then two behind HAProxy, ${opts.duration} s each`);
      await unitsPerSec(first.url, workload, signedForm, { ...opts, duration: WARMUP_SEC });
      await ask(first, 'reset');
      const db0 = await dbCounters();
      await ask(first, 'reset');
      const probeOne = newProbe();
      const one = await (async () => {
        const instance = autocannon({
          url: first.url,
          connections: opts.connections,
          duration: opts.duration,
          requests: workload.requests(signedForm, probeOne),
        });
        runningLoad = instance;
        try {
          return await instance;
        } finally {
          runningLoad = undefined;
        }
      })();
      const cpuOne = ((await ask(first, 'read')) as { cpuUs: number }).cpuUs;
      const db1 = await dbCounters();
      const responsesOne = one.requests.total;
      const oneRate = one.duration > 0 ? probeOne.units / one.duration : 0;

      await unitsPerSec(balancer.url, workload, signedForm, { ...opts, duration: WARMUP_SEC });
      await ask(first, 'reset');
      await ask(second, 'reset');
      const probeTwo = newProbe();
      const two = await (async () => {
        const instance = autocannon({
          url: balancer.url,
          connections: opts.connections,
          duration: opts.duration,
          requests: workload.requests(signedForm, probeTwo),
        });
        runningLoad = instance;
        try {
          return await instance;
        } finally {
          runningLoad = undefined;
        }
      })();
      const cpuTwo =
        ((await ask(first, 'read')) as { cpuUs: number }).cpuUs +
        ((await ask(second, 'read')) as { cpuUs: number }).cpuUs;
      const twoRate = two.duration > 0 ? probeTwo.units / two.duration : 0;
      const per = (n: number, d: number) => (d > 0 ? n / d : 0);

      const tripsBefore = proxy.roundTrips();
      const probeCounted = newProbe();
      const countedRun = await autocannon({
        url: counted.url,
        connections: opts.connections,
        duration: Math.min(opts.duration, 3),
        requests: workload.requests(signedForm, probeCounted),
      });
      const trips = proxy.roundTrips() - tripsBefore;
      rows.push({
        label: workload.label,
        unit: workload.id === 'buyPay' ? 'pairs/s' : 'req/s',
        one: oneRate,
        two: twoRate,
        ratio: per(twoRate, oneRate),
        dbXactsPerResponse: per(db1.xacts - db0.xacts, responsesOne),
        roundTripsPerResponse: per(trips, countedRun.requests.total),
        dbActiveMsPerResponse: per(db1.activeMs - db0.activeMs, responsesOne),
        cpuUsPerResponseOne: per(cpuOne, responsesOne),
        cpuUsPerResponseTwo: per(cpuTwo, two.requests.total),
      });
    }
  } finally {
    await balancer.stop();
    await stopChild(second);
    await stopChild(counted);
    proxy.close();
  }
  return rows;
}

function renderScaling(rows: ScalingRow[]): string {
  const header = [
    'workload',
    'unit',
    '1 instance',
    '2 via HAProxy',
    'ratio',
    'db trips/resp',
    'db xact/resp',
    'db ms/resp',
    'CPU µs/resp 1→2',
  ];
  const body = rows.map((r) => [
    r.label,
    r.unit,
    r.one.toFixed(0),
    r.two.toFixed(0),
    r.ratio.toFixed(2),
    r.roundTripsPerResponse.toFixed(2),
    r.dbXactsPerResponse.toFixed(2),
    r.dbActiveMsPerResponse.toFixed(3),
    `${r.cpuUsPerResponseOne.toFixed(0)}→${r.cpuUsPerResponseTwo.toFixed(0)}`,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [
    `two instances on one PostgreSQL, behind HAProxy (round robin), ${os.cpus().length} CPUs shared by all processes:`,
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
    'db trips/resp: round trips to PostgreSQL per response (Sync and Query messages, counted by a proxy in front',
    'of a third instance); db xact/resp: transactions per response (pg_stat_database); db ms/resp: time the',
    'database spent executing statements per response (active_time, which includes waiting for the commit to flush).',
  ].join('\n');
}

/** What a run leaves behind besides its children: the temp data dir and the PostgreSQL database. */
const leftovers: { dataDir?: string; database?: { url: string; drop: () => Promise<void> } } = {};

async function cleanUp(): Promise<void> {
  runningLoad?.stop();
  await stopAllChildren();
  const { dataDir, database } = leftovers;
  leftovers.dataDir = undefined;
  leftovers.database = undefined;
  if (database) await database.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}

// Never leave a server or a database behind: clean up on Ctrl-C, and kill any child
// that survives an abrupt exit.
// `on`, not `once`: tsx relays the same signal a second time, and a process without a
// listener would then exit before the clean-up is done.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: stopping child processes`);
    cleanUp().then(
      () => process.exit(130),
      (err: unknown) => {
        process.stderr.write(`clean-up failed: ${String(err)}\n`);
        process.exit(130);
      },
    );
  });
}
process.on('exit', () => {
  for (const child of children) child.proc.kill('SIGKILL');
});

main().catch((err: unknown) => {
  if (interrupted) return;
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
