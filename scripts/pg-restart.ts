// PostgreSQL restarted under load: `npm run fault:pg -- [--restarts N] [--down-ms M]
// [--mode fast|immediate]`. Runs a private throwaway cluster (never the shared server), so it
// needs the PostgreSQL 15 binaries. Prints figures per phase; exits 1 on a violation: an answer
// other than 200 or 503 unavailable, one later than the request timeout + 1 s, buys, payments or
// /readyz not answering 200 within --recovery-bound-ms (5 s) of the cluster coming back, books
// that do not balance.
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { runPgRestartScenario } from '../test/support/pg-restart-harness.js';
import { privatePostgresSkipReason } from '../test/support/private-postgres.js';

const { values } = parseArgs({
  options: {
    restarts: { type: 'string', default: '5' },
    'down-ms': { type: 'string', default: '2000' },
    mode: { type: 'string', default: 'fast' },
    'live-ms': { type: 'string', default: '4000' },
    writers: { type: 'string', default: '8' },
    readers: { type: 'string', default: '4' },
    'request-timeout-ms': { type: 'string', default: '10000' },
    'recovery-bound-ms': { type: 'string', default: '5000' },
    seed: { type: 'string' },
  },
});
const mode = values.mode;
if (mode !== 'fast' && mode !== 'immediate') throw new Error('--mode must be fast or immediate');
const skip = privatePostgresSkipReason();
if (skip) {
  console.error(`fault:pg skipped: ${skip}`);
  process.exit(2);
}

const startedAt = new Date().toISOString();
const load = execFileSync('uptime').toString().trim();
const r = await runPgRestartScenario({
  restarts: Number(values.restarts),
  downMs: Number(values['down-ms']),
  mode,
  liveMs: Number(values['live-ms']),
  writers: Number(values.writers),
  readers: Number(values.readers),
  requestTimeoutMs: Number(values['request-timeout-ms']),
  drainMs: 30_000,
  seed: Number(values.seed ?? Date.now() % 1_000_000),
  log: (line) => console.error(line),
});

const fmt = (ms: number | undefined) => (ms === undefined ? '–' : Math.round(ms).toString());
const answers = (a: Record<string, number>) =>
  Object.entries(a)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ') || '–';
console.log(`started ${startedAt}; uptime at start: ${load}`);
console.log(`uptime at end: ${execFileSync('uptime').toString().trim()}`);
console.log(
  `seed ${r.seed}, private PostgreSQL on :${r.port}, bound ${r.boundMs} ms, ${r.seconds.toFixed(1)} s`,
);
console.log(
  '| phase | requests | answers | p99 ms | max ms | down ms | db up → first 200 ms | /readyz while down | db up → /readyz 200 ms |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [i, p] of r.phases.entries()) {
  const f = r.faults[i - 1];
  console.log(
    `| ${p.label} | ${p.requests} | ${answers(p.answers)} | ${fmt(p.p99Ms)} | ${fmt(p.maxMs)} | ${f ? f.upAt - f.downAt : '–'} | ${fmt(p.recoveryMs)} | ${f ? answers(p.readyzDown) : '–'} | ${fmt(p.readyzUpFirst200Ms)} |`,
  );
}
const b = r.books;
console.log(
  `requests (buy/pay/ban) sent ${b.requests.sent}, answered ${b.requests.answered}, 5xx ${b.requests.uncertain5xx}, unanswered ${b.requests.unanswered}`,
);
for (const [kind, o] of Object.entries(b.byKind))
  console.log(`  ${kind} ok/4xx/5xx/none ${o.ok}/${o.refused}/${o['5xx']}/${o.none}`);
console.log(
  `paid: answered 200 / in db ${b.paidAnswered} / ${b.paidInDb}; voids ${b.voidsAnswered} / ${b.voidsInDb}`,
);
console.log(
  `sms rows ${b.sms.rows} sent ${b.sms.sent} queued ${b.sms.queued}; file lines ${b.sms.fileLines}, distinct ids ${b.sms.distinctIds}`,
);
console.log(
  `statement net ${(b.statementNetFen / 100).toFixed(2)} within [${(b.boundsFen[0] / 100).toFixed(2)}, ${(b.boundsFen[1] / 100).toFixed(2)}]`,
);
console.log(`sms queued but leased at the end (sent, not yet recorded): ${b.sms.strandedByLease}`);
console.log(`/metrics answers: ${answers(r.metricsAnswers)}`);
for (const [line, n] of Object.entries(r.serverLog)) console.log(`server log: ${n} × ${line}`);
for (const m of r.messages) console.log(`non-200: ${m}`);
console.log(`server alive at the end: ${r.serverAlive}; exit on SIGTERM: ${r.finalExit}`);
const recoveryBoundMs = Number(values['recovery-bound-ms']);
for (const p of r.phases.slice(1)) {
  if ((p.recoveryMs ?? 0) > recoveryBoundMs)
    r.violations.push(
      `${p.label}: first buy/pay 200 ${fmt(p.recoveryMs)} ms after PostgreSQL came back, bound ${recoveryBoundMs} ms`,
    );
  if ((p.readyzUpFirst200Ms ?? 0) > recoveryBoundMs)
    r.violations.push(
      `${p.label}: /readyz 200 ${fmt(p.readyzUpFirst200Ms)} ms after PostgreSQL came back, bound ${recoveryBoundMs} ms`,
    );
}
console.log(`violations: ${r.violations.length}`);
for (const v of r.violations.slice(0, 40)) console.log(`VIOLATION ${v}`);
process.exitCode = r.violations.length === 0 ? 0 : 1;
