/**
 * SMS gateway fault soak: a real server child process sends SMS through its `http:` sender to a
 * local fake gateway that is cycled through fail → hang → slow → drop → ok while a channel pays
 * cards steadily through the SDK. Prints one row per phase, then checks after recovery that
 * every paid card's SMS reached the gateway, under one stable id, and that payByCard stayed fast
 * in every phase: its p99 below half the SMS timeout (a payment that waited on the gateway would
 * take at least the whole timeout). `npm test` checks that a payment never waits on the gateway;
 * this script owns the latency bound, which only a run on a quiet machine can judge.
 *
 * With `--provider aliyun`, `tencent` or `aliyun,tencent` the server sends through its provider
 * senders to loopback fakes of the providers' APIs (signatures verified as the providers do),
 * cycled through fail → throttle → hang → slow → drop → ok; with two providers the faults hit
 * the first and the second stays up. A real provider drops no duplicates, so the check is that
 * every paid card's message was accepted exactly once, by one provider.
 *
 *   npx tsx scripts/sms-faults.ts [--provider http|aliyun|tencent|aliyun,tencent] [--minutes 3]
 *                                 [--rate 5] [--timeout-ms 1000] [--drain-minutes 10]
 *                                 [--backoff-max-ms N] [--p99-bound-ms N] [--database-url postgres://…]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MovTicketClient } from '../src/client/index.js';
import { FakeAliyun } from '../test/support/fake-aliyun.js';
import { FakeGateway } from '../test/support/fake-gateway.js';
import { fakeProviderEnv } from '../test/support/fake-provider-env.js';
import { startDemoServer } from '../test/support/server-process.js';
import { FakeTencent } from '../test/support/fake-tencent.js';
import { type SoakTarget, gatewayTarget, providerTarget } from './sms-soak-targets.js';

const { values: args } = parseArgs({
  options: {
    provider: { type: 'string', default: 'http' },
    minutes: { type: 'string', default: '3' },
    rate: { type: 'string', default: '5' },
    'timeout-ms': { type: 'string', default: '1000' },
    'drain-minutes': { type: 'string', default: '10' },
    // The server's MOVTICKET_SMS_BACKOFF_MAX_MS (its default when not given).
    'backoff-max-ms': { type: 'string' },
    // payByCard's p99 in each phase must stay below this; default half the SMS timeout.
    'p99-bound-ms': { type: 'string' },
    'database-url': { type: 'string' },
  },
});
const minutes = Number(args.minutes);
const rate = Number(args.rate);
const timeoutMs = Number(args['timeout-ms']);
const drainMs = Number(args['drain-minutes']) * 60_000;
const p99BoundMs = args['p99-bound-ms'] === undefined ? timeoutMs / 2 : Number(args['p99-bound-ms']);
const provider = args.provider;
if (
  !(minutes > 0) ||
  !(rate > 0) ||
  !(timeoutMs >= 100) ||
  !(drainMs > 0) ||
  !(p99BoundMs > 0) ||
  !/^(http|aliyun|tencent|aliyun,tencent|tencent,aliyun)$/.test(provider)
) {
  console.error(
    'usage: sms-faults.ts [--provider http|aliyun|tencent|aliyun,tencent] [--minutes N] [--rate PAYS_PER_S] [--timeout-ms MS] [--drain-minutes N] [--p99-bound-ms MS]',
  );
  process.exit(2);
}

const DEMO_KEY = 'smsfaults0123456789';
const MOBILE = '13800138000';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
const ms = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(1));

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-sms-faults-'));
// In `slow`, every other answer comes within the timeout and every other one past it.
let slowToggle = 0;
const slowMs = () => (slowToggle++ % 2 === 0 ? timeoutMs * 0.6 : timeoutMs * 1.5);
let target: SoakTarget;
let smsEnv: Record<string, string>;
if (provider === 'http') {
  const gateway = await FakeGateway.start();
  gateway.slowMs = slowMs;
  target = gatewayTarget(gateway);
  smsEnv = { MOVTICKET_SMS: gateway.url };
} else {
  const names = provider.split(',');
  const fakes = await Promise.all(
    names.map((n) => (n === 'aliyun' ? FakeAliyun.start() : FakeTencent.start())),
  );
  for (const f of fakes) f.slowMs = slowMs;
  target = providerTarget(names, fakes);
  const urls = Object.fromEntries(names.map((n, i) => [n, fakes[i]!.url]));
  smsEnv = fakeProviderEnv(provider, urls, dataDir);
}
const PHASES = target.phases;
const phaseMs = (minutes * 60_000) / PHASES.length;

const server = await startDemoServer({
  ...smsEnv,
  MOVTICKET_SMS_TIMEOUT_MS: String(timeoutMs),
  MOVTICKET_DEMO_KEY: DEMO_KEY,
  MOVTICKET_DATA_DIR: dataDir,
  LOG_LEVEL: 'error',
  ...(args['database-url'] ? { DATABASE_URL: args['database-url'] } : {}),
  ...(args['backoff-max-ms'] ? { MOVTICKET_SMS_BACKOFF_MAX_MS: args['backoff-max-ms'] } : {}),
});
const client = new MovTicketClient({
  baseUrl: server.baseUrl,
  partnerId: 'CS000001',
  busId: '1002758',
  secId: 'test',
  md5key: server.md5key,
  retries: 0,
});

async function smsGauge(): Promise<Record<'queued' | 'sent' | 'failed', number>> {
  const text = await (await fetch(`${server.baseUrl}/metrics`, { headers: server.metricsHeaders })).text();
  const get = (s: string) =>
    Number(new RegExp(`^movticket_sms_messages\\{status="${s}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { queued: get('queued'), sent: get('sent'), failed: get('failed') };
}

interface Row {
  phase: string;
  seconds: number;
  pays: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
  requests: number;
  distinct: number;
  duplicates: number;
  queued: number;
  sent: number;
  failed: number;
}

const paidCards: string[] = [];
const rows: Row[] = [];
let failures = 0;
const started = new Date();
console.log(
  `sms-faults: ${started.toISOString()} minutes=${minutes} phase=${(phaseMs / 1000).toFixed(0)}s rate=${rate}/s ` +
    `timeout=${timeoutMs}ms backoff-max=${args['backoff-max-ms'] ?? 'default'} sms=${target.describe} server=${server.baseUrl} (pid ${server.pid}) ` +
    `db=${args['database-url'] ? 'postgres' : 'sqlite'}`,
);

async function runPhase(mode: string): Promise<void> {
  target.setMode(mode);
  const before = target.stats();
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const gap = 1000 / rate;
  let next = t0;
  while (performance.now() - t0 < phaseMs) {
    try {
      const { card } = await client.buyByCinema({ cinemaId: '1001', count: 1 });
      const s = performance.now();
      await client.payByCard({ cardNo: card.card_no, mobile: MOBILE });
      latencies.push(performance.now() - s);
      paidCards.push(card.card_no);
    } catch (err) {
      errors++;
      if (errors <= 3) console.error(`  [${mode}] request failed: ${String(err)}`);
    }
    next += gap;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const after = target.stats();
  const sorted = latencies.sort((a, b) => a - b);
  const g = await smsGauge();
  rows.push({
    phase: mode,
    seconds: Math.round((performance.now() - t0) / 1000),
    pays: latencies.length,
    errors,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? NaN,
    requests: after.requests - before.requests,
    distinct: after.distinct - before.distinct,
    duplicates: after.duplicates - before.duplicates,
    ...g,
  });
  failures += errors;
}

function printTable(): void {
  const head = [
    'phase',
    's',
    'pays',
    'errors',
    'p50 ms',
    'p99 ms',
    'max ms',
    'gw reqs',
    'distinct',
    'dup',
    'queued',
    'sent',
    'failed',
  ];
  const lines = rows.map((r) => [
    r.phase,
    String(r.seconds),
    String(r.pays),
    String(r.errors),
    ms(r.p50),
    ms(r.p99),
    ms(r.max),
    String(r.requests),
    String(r.distinct),
    String(r.duplicates),
    String(r.queued),
    String(r.sent),
    String(r.failed),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => '| ' + cells.map((c, i) => c.padStart(widths[i]!)).join(' | ') + ' |';
  console.log(fmt(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const l of lines) console.log(fmt(l));
}

let ok = false;
try {
  for (const mode of PHASES) {
    await runPhase(mode);
    const r = rows.at(-1)!;
    console.log(`  phase ${mode} done: ${r.pays} pays, p99 ${ms(r.p99)} ms, queued ${r.queued}`);
  }
  // Recovery: the gateway stays up; retries that backed off during the outage come due.
  target.setMode('ok');
  const drainStart = performance.now();
  const before = target.stats();
  let g = await smsGauge();
  while (g.queued > 0 && performance.now() - drainStart < drainMs) {
    await sleep(1_000);
    g = await smsGauge();
  }
  const after = target.stats();
  rows.push({
    phase: 'drain',
    seconds: Math.round((performance.now() - drainStart) / 1000),
    pays: 0,
    errors: 0,
    p50: NaN,
    p99: NaN,
    max: NaN,
    requests: after.requests - before.requests,
    distinct: after.distinct - before.distinct,
    duplicates: after.duplicates - before.duplicates,
    ...g,
  });
  printTable();

  // Every paid card's message reached the gateway or a provider.
  const deliveredCards = target.deliveredCards();
  const missing = paidCards.filter((c) => !deliveredCards.has(c));
  let notSent = 0;
  for (const cardNo of paidCards) {
    const { card } = await client.status({ cardNo });
    if (card.sms_status !== 'sent') notSent++;
  }
  const s = target.stats();
  const dupIds = target.duplicatedIds();
  console.log('');
  console.log(`paid cards                         ${paidCards.length}`);
  console.log(`delivered (distinct ids accepted)  ${s.distinct}`);
  console.log(
    `paid cards missing at gateway      ${missing.length}${missing.length ? ` e.g. ${missing.slice(0, 3).join(', ')}` : ''}`,
  );
  console.log(`cards with sms_status != sent      ${notSent}`);
  console.log(
    `${target.duplicateLabel.padEnd(35)}${s.duplicates} over ${dupIds.length} ids, max ${Math.max(1, ...dupIds.map(([, n]) => n))} acceptances of one id`,
  );
  for (const [label, value] of target.details()) console.log(`${label.padEnd(35)}${value}`);
  console.log(`metrics after drain                queued=${g.queued} sent=${g.sent} failed=${g.failed}`);
  console.log(`pay errors                         ${failures}`);
  const slowPhases = rows.filter((r) => r.pays > 0 && !(r.p99 < p99BoundMs));
  console.log(
    `${`payByCard p99 < ${p99BoundMs} ms, each phase`.padEnd(35)}${slowPhases.length === 0 ? 'yes' : `no: ${slowPhases.map((r) => `${r.phase} ${ms(r.p99)} ms`).join(', ')}`}`,
  );
  ok =
    slowPhases.length === 0 &&
    missing.length === 0 &&
    notSent === 0 &&
    s.distinct === paidCards.length &&
    g.queued === 0 &&
    g.failed === 0 &&
    g.sent === paidCards.length &&
    target.clean() &&
    failures === 0;
  console.log(ok ? 'RESULT: PASS' : 'RESULT: FAIL');
} finally {
  const code = await server.stop();
  await target.close();
  if (!ok) {
    const out = server.output();
    console.error(`server exit ${code}; last output:\n${out.slice(-4_000)}`);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
