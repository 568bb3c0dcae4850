// Long crash-safety run: `tsx scripts/crash.ts [--db sqlite|postgres] [--crashes N]
// [--seconds-between S] [--seed N]`. PostgreSQL uses TEST_DATABASE_URL (or DATABASE_URL) as the
// server to create a scratch database on. Exits 1 when an invariant was violated.
import { parseArgs } from 'node:util';
import { runCrashScenario } from '../test/support/crash-harness.js';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    crashes: { type: 'string', default: '10' },
    'seconds-between': { type: 'string', default: '3' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '10' },
  },
});
const engine = values.db;
if (engine !== 'sqlite' && engine !== 'postgres') throw new Error('--db must be sqlite or postgres');
const pgUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
if (engine === 'postgres' && !pgUrl) throw new Error('set TEST_DATABASE_URL=postgres://… for --db postgres');
const crashes = Number(values.crashes);
const between = Number(values['seconds-between']) * 1000;
const seed = Number(values.seed ?? Date.now() % 1_000_000);

const startedAt = new Date().toISOString();
const r = await runCrashScenario({
  engine,
  pgUrl,
  crashes,
  // Kill at a random moment between half and one and a half times the given interval.
  liveMs: [between * 0.5, between * 1.5],
  concurrency: Number(values.concurrency),
  seed,
  drainMs: 90_000, // longer than the outbox lease, so SMS claimed by a killed process get sent
  waitOutLeases: true,
  log: (line) => console.error(line),
});

const yuan = (fen: number) => (fen / 100).toFixed(2);
const rows: [string, string | number][] = [
  ['started', startedAt],
  ['engine / seed', `${r.engine} / ${r.seed}`],
  ['crashes (kill -9)', `${r.crashes} (${r.killExits.join(',')})`],
  ['requests sent', r.requests.sent],
  ['  answered (200 + 4xx)', `${r.requests.answered} (4xx: ${r.requests.refused})`],
  ['  5xx answers (uncertain)', r.requests.uncertain5xx],
  ['  unanswered', r.requests.unanswered],
  ...Object.entries(r.byKind).map(
    ([kind, o]) =>
      [`  ${kind} ok/4xx/5xx/none`, `${o.ok}/${o.refused}/${o['5xx']}/${o.none}`] as [string, string],
  ),
  ['cards stored', r.cards],
  ['paid: answered 200 / in db', `${r.paidAnswered} / ${r.paidInDb}`],
  ['voids: answered 200 / in db', `${r.voidsAnswered} / ${r.voidsInDb}`],
  ['statement net (yuan)', `${yuan(r.statementNetFen)} (${r.statement.map((d) => d.day).join(', ')})`],
  ['answered net (yuan)', yuan(r.answeredNetFen)],
  ['bounds from unanswered', `[${yuan(r.boundsFen[0])}, ${yuan(r.boundsFen[1])}]`],
  [
    'sms rows sent/queued',
    `${r.sms.rows} ${r.sms.sent}/${r.sms.queued} (stranded by lease: ${r.sms.strandedByLease})`,
  ],
  ['sms file lines / distinct ids', `${r.sms.fileLines} / ${r.sms.distinctIds}`],
  [
    'sms duplicate lines',
    `${r.sms.duplicateLines}${r.sms.duplicateIds.length ? ` ids ${r.sms.duplicateIds.join(' ')}` : ''}`,
  ],
  ['violations', r.violations.length],
  ['last server exit on SIGTERM', r.finalExit],
  ['duration (s)', r.seconds.toFixed(1)],
];
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
for (const v of r.violations) console.log(`VIOLATION ${v}`);
for (const x of r.refusals.slice(0, 20)) console.log(`non-200 answer: ${x}`);
process.exitCode = r.violations.length === 0 ? 0 : 1;
