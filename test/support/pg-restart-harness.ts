import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Db } from '../../src/db/database.js';
import { DEMO_KEY_FILE, readKeyFile } from '../../src/secret-key-file.js';
import {
  type BookReport,
  checkBooks,
  demoClient,
  drainSms,
  type LoadContext,
  type LoadRequest,
  runBuyPayBan,
  type Tracked,
  track,
} from './crash-harness.js';
import { prng } from './prng.js';
import { createPrivatePostgres, type PrivatePostgres, type StopMode } from './private-postgres.js';
import { type ServerProcess, startDemoServer } from './server-process.js';

// PostgreSQL restarted under load: a real `serve --demo` process on a private cluster serves
// buys, payments, bans, status and catalog reads while the cluster is restarted (fast or
// immediate) or stopped for a while. Every request must be answered within a bound with 200
// or a clean `503 unavailable`, the service must come back by itself, and afterwards the
// books must agree with the answers.

export interface PgRestartOptions {
  restarts: number;
  /** Every second fault stops the cluster for this long instead of `pg_ctl restart` (0: never). */
  downMs: number;
  mode: StopMode;
  /** Load time before the first fault, between faults and after the last one. */
  liveMs: number;
  /** Clients doing buy → pay → ban, and clients doing status and catalog reads. */
  writers: number;
  readers: number;
  /** The server's MOVTICKET_REQUEST_TIMEOUT_MS; every answer must come within it + 1 s. */
  requestTimeoutMs: number;
  /**
   * false: an answer later than that bound is no violation, only one that never comes (`npm test`,
   * which asserts no durations on a shared machine). Default true (`npm run fault:pg`).
   */
  latencyBound?: boolean;
  /** How long to wait for the SMS outbox to drain at the end. */
  drainMs: number;
  seed: number;
  log?: (line: string) => void;
}

interface ReadRequest extends Tracked {
  kind: 'status' | 'catalog';
}

type AnyRequest = LoadRequest | ReadRequest;

export interface Fault {
  label: string;
  /** When the stop was issued, and when the cluster accepted connections again (epoch ms). */
  downAt: number;
  upAt: number;
}

export interface PhaseReport {
  label: string;
  requests: number;
  /** `200`, `503 unavailable`, `0 network_error`, … → count. */
  answers: Record<string, number>;
  p99Ms: number;
  maxMs: number;
  /** From the cluster accepting connections to the first 200 of a buy or pay sent after it. */
  recoveryMs?: number;
  /** `/readyz` answers while the cluster was down, and after it came back. */
  readyzDown: Record<string, number>;
  readyzUpFirst200Ms?: number;
}

export interface PgRestartReport {
  seed: number;
  port: number;
  boundMs: number;
  faults: Fault[];
  phases: PhaseReport[];
  books: BookReport;
  /** Distinct non-200 answers with their messages, as the clients saw them. */
  messages: string[];
  /** `/metrics` answers by HTTP status over the whole run. */
  metricsAnswers: Record<string, number>;
  /** The server's warn and error log lines by message. */
  serverLog: Record<string, number>;
  serverAlive: boolean;
  finalExit: number | string;
  violations: string[];
  seconds: number;
}

// What a message to a caller must never contain: SQL, driver or socket errors, stack frames.
const INTERNALS =
  /\b(select|insert|update|delete|from|where)\b|ECONN|EPIPE|ETIMEDOUT|terminat|pg_|postgres|sqlite|kysely|relation|syntax|stack|\bat \S+:\d+|Error:|\b57P\d\d\b|\b08\d\d\d\b|\bclient\b/i;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs the scenario and checks it; never throws for a violation. */
export async function runPgRestartScenario(opts: PgRestartOptions): Promise<PgRestartReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const boundMs = opts.requestTimeoutMs + 1_000;
  const random = prng(opts.seed);
  const run = randomBytes(3).toString('hex');
  const demoKey = `pgrestart${randomBytes(6).toString('hex')}`;
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'movticket-pgrestart-'));
  const smsFile = path.join(tmpDir, 'sms.jsonl');
  let cluster: PrivatePostgres | undefined;
  let server: ServerProcess | undefined;
  let db: Db | undefined;
  let stopping = false;
  try {
    cluster = await createPrivatePostgres();
    const url = await cluster.createDatabase('movticket');
    server = await startDemoServer(
      {
        DATABASE_URL: url,
        MOVTICKET_DEMO_KEY: demoKey,
        MOVTICKET_SMS: `file:${smsFile}`,
        MOVTICKET_DATA_DIR: path.join(tmpDir, 'data'),
        MOVTICKET_REQUEST_TIMEOUT_MS: String(opts.requestTimeoutMs),
        LOG_LEVEL: 'warn',
      },
      { readyTimeoutMs: 60_000 },
    );
    const judgeLatency = opts.latencyBound ?? true;
    const client = demoClient(server.baseUrl, demoKey, judgeLatency ? boundMs + 2_000 : boundMs + 30_000);
    log(`server on ${server.baseUrl}, PostgreSQL on :${cluster.port}`);

    const requests: LoadRequest[] = [];
    const reads: ReadRequest[] = [];
    let seq = 0;
    const load: LoadContext = {
      client: () => client,
      requests,
      random,
      run,
      nextSeq: () => seq++,
      stopping: () => stopping,
      ready: () => Promise.resolve(),
    };
    const reader = async () => {
      while (!stopping) {
        const cards = requests.filter((r) => r.kind === 'buy' && r.cardNo !== undefined);
        const req: ReadRequest = {
          kind: random() < 0.5 && cards.length > 0 ? 'status' : 'catalog',
          outcome: 'none',
        };
        reads.push(req);
        if (req.kind === 'status') {
          const cardNo = cards[Math.floor(random() * cards.length)]!.cardNo!;
          await track(req, () => client.status({ cardNo }));
        } else {
          const pick = Math.floor(random() * 4);
          await track<unknown>(req, () =>
            pick === 0
              ? client.cities()
              : pick === 1
                ? client.regionsByCity({ cityId: '001' })
                : pick === 2
                  ? client.cinemasByRegion({ regionId: '001001' })
                  : client.kinds(),
          );
        }
        await sleep(random() * 20);
      }
    };
    // /readyz every 100 ms; /metrics (which counts cards in the database) every 300 ms.
    const probes: { at: number; status: number }[] = [];
    const metricsAnswers: Record<string, number> = {};
    const get = (p: string) =>
      fetch(`${server!.baseUrl}${p}`, {
        headers: server!.metricsHeaders,
        signal: AbortSignal.timeout(boundMs),
      }).then(
        async (r) => (await r.arrayBuffer(), r.status),
        () => 0,
      );
    const prober = async () => {
      for (let i = 0; !stopping; i++) {
        const at = Date.now();
        probes.push({ at, status: await get('/readyz') });
        if (i % 3 === 0) {
          const status = await get('/metrics');
          metricsAnswers[status] = (metricsAnswers[status] ?? 0) + 1;
        }
        await sleep(100);
      }
    };

    const workers = [
      ...Array.from({ length: opts.writers }, () => runBuyPayBan(load)),
      ...Array.from({ length: opts.readers }, reader),
      prober(),
    ];
    const faults: Fault[] = [];
    await sleep(opts.liveMs);
    for (let i = 0; i < opts.restarts; i++) {
      const withOutage = opts.downMs > 0 && i % 2 === 1;
      const label = withOutage
        ? `${i + 1}: stop -m ${opts.mode}, down ${opts.downMs} ms, start`
        : `${i + 1}: restart -m ${opts.mode}`;
      const downAt = Date.now();
      if (withOutage) {
        await cluster.stop(opts.mode);
        await sleep(opts.downMs);
        await cluster.start();
      } else {
        await cluster.restart(opts.mode);
      }
      faults.push({ label, downAt, upAt: Date.now() });
      log(`fault ${label}: up after ${Date.now() - downAt} ms`);
      await sleep(opts.liveMs);
    }
    stopping = true;
    await Promise.all(workers);

    // ---- per phase: the requests sent from one fault to the next
    const found = new Map<string, number>();
    const violation = (v: string) => found.set(v, (found.get(v) ?? 0) + 1);
    const all: AnyRequest[] = [...requests, ...reads];
    const bounds = [started, ...faults.map((f) => f.downAt), Infinity];
    const phases: PhaseReport[] = [];
    for (let p = 0; p + 1 < bounds.length; p++) {
      const inPhase = all.filter((r) => r.sentAt! >= bounds[p]! && r.sentAt! < bounds[p + 1]!);
      const answers: Record<string, number> = {};
      for (const r of inPhase) {
        const key = r.code === 200 ? '200' : `${r.code} ${r.type}`;
        answers[key] = (answers[key] ?? 0) + 1;
      }
      const ms = inPhase.map((r) => r.ms!).sort((a, b) => a - b);
      const phase: PhaseReport = {
        label: p === 0 ? 'before' : faults[p - 1]!.label,
        requests: inPhase.length,
        answers,
        p99Ms: percentile(ms, 99),
        maxMs: ms.at(-1) ?? 0,
        readyzDown: {},
      };
      const fault = faults[p - 1];
      if (fault) {
        const firstOk = all
          .filter((r) => (r.kind === 'buy' || r.kind === 'pay') && r.code === 200 && r.sentAt! >= fault.upAt)
          .map((r) => r.sentAt! + r.ms!)
          .sort((a, b) => a - b)[0];
        if (firstOk === undefined)
          violation(`${phase.label}: no buy or pay answered 200 after PostgreSQL came back`);
        else phase.recoveryMs = firstOk - fault.upAt;
        for (const probe of probes.filter((x) => x.at >= fault.downAt && x.at < fault.upAt))
          phase.readyzDown[probe.status] = (phase.readyzDown[probe.status] ?? 0) + 1;
        const readyAgain = probes.find((x) => x.at >= fault.upAt && x.status === 200);
        if (readyAgain) phase.readyzUpFirst200Ms = readyAgain.at - fault.upAt;
        else violation(`${phase.label}: /readyz never answered 200 after PostgreSQL came back`);
      }
      phases.push(phase);
    }
    const messages = new Map<string, number>();
    for (const r of all) {
      if (r.code === 200) continue;
      const what = `${r.code} ${r.type}: ${r.error?.replace(/^\d+ \S+: /, '')}`;
      messages.set(what, (messages.get(what) ?? 0) + 1);
      if (r.code === 0) violation(`${r.kind} got no answer: ${r.error}`);
      else if (r.code !== 503 || r.type !== 'unavailable') violation(`${r.kind} answered ${r.error}`);
      if (
        r.code !== 0 &&
        (INTERNALS.test(r.error!.replace(/^\d+ \S+: /, '')) || /: HTTP \d+,/.test(r.error!))
      )
        violation(`${r.kind} answer leaks internals or is no envelope: ${r.error}`);
    }
    for (const r of all)
      if (judgeLatency && r.ms! > boundMs) violation(`${r.kind} took longer than the bound of ${boundMs} ms`);
    const violations = [...found].map(([v, n]) => (n > 1 ? `${n} × ${v}` : v));
    for (const [status, n] of Object.entries(metricsAnswers))
      if (status !== '200' && status !== '503') violations.push(`${n} × /metrics answered ${status}`);
    const probeMax = probes.filter((x) => x.status === 0).length;
    if (probeMax > 0) violations.push(`${probeMax} /readyz probes got no answer`);

    // ---- the books, once the outbox drained; the server must still be the first one
    db = await openDatabase({ url, poolSize: 2 });
    await drainSms(db, opts.drainMs, false);
    const serverAlive = await fetch(`${server.baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
      () => true,
      () => false,
    );
    if (!serverAlive) violations.push(`the server process died:\n${server.output().slice(-4_000)}`);
    const finalExit = await server.stop(15_000);
    if (finalExit !== 0) violations.push(`server exited with ${finalExit} on SIGTERM`);
    const secrets = readKeyFile(path.join(tmpDir, 'data', DEMO_KEY_FILE));
    const books = await checkBooks(db, requests, smsFile, started, secrets);
    violations.push(...books.violations);
    const serverLog: Record<string, number> = {};
    for (const line of server.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { msg?: string; level?: number; err?: { message?: string } };
        const level = entry.level === 40 ? 'warn' : entry.level === 50 ? 'error' : String(entry.level);
        const cause = entry.err?.message ? ` (${entry.err.message.slice(0, 80)})` : '';
        const key = `${level} ${entry.msg}${cause}`;
        serverLog[key] = (serverLog[key] ?? 0) + 1;
      } catch {
        // not a log line
      }
    }
    const leaked = server
      .output()
      .split('\n')
      .filter((line) => /uncaught|unhandled/i.test(line));
    for (const line of leaked.slice(0, 5)) violations.push(`server log: ${line.slice(0, 300)}`);
    return {
      seed: opts.seed,
      port: cluster.port,
      boundMs,
      faults,
      phases,
      books,
      messages: [...messages].map(([m, n]) => `${n} × ${m}`),
      metricsAnswers,
      serverLog,
      serverAlive,
      finalExit,
      violations,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    stopping = true;
    await server?.stop(5_000);
    await db?.close();
    await cluster?.remove();
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
}
