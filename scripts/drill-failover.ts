// The failover drill: `npm run drill:failover -- [--rounds N] [--live-ms M] [--writers W]`.
// Brings up the local cluster (scripts/cluster-processes.ts: etcd, two PostgreSQL 15 nodes under
// Patroni with a synchronous standby, HAProxy) and two movticket instances from dist/ connected
// through HAProxy. Under buy → pay → ban load spread over both instances — every request retried
// with its req_id until answered, as a channel would — each round takes the leader away (odd
// rounds: SIGKILL to its postmaster; even rounds: its Patroni stopped, then started again),
// waits for the new leader and for the old node to rejoin as synchronous standby. Afterwards the
// books are checked against the answers. The last line is
//   failover: rounds=N acked_pays=N lost=0 double=0 sms_dup=0 max_unavailable_s=S
// Exit 0 when the books hold, 1 when not, 2 when the drill could not run (reason printed).
// Every process it starts is stopped on the way out, on failure and on SIGINT/SIGTERM too.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { MovTicketClient } from '../src/client/index.js';
import { openDatabase, type Db } from '../src/db/database.js';
import { createKeyFile, readKeyFile } from '../src/secret-key-file.js';
import { checkBooks, demoClient, drainSms, type LoadRequest, track } from '../test/support/crash-harness.js';
import { prng } from '../test/support/prng.js';
import {
  Cluster,
  DATABASE_URL,
  installMissing,
  type NodeName,
  NODES,
  PORTS,
  waitFor,
} from './cluster-processes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'live-ms': { type: 'string', default: '5000' },
    writers: { type: 'string', default: '6' },
    'retry-for-ms': { type: 'string', default: '90000' },
    seed: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const LIVE_MS = Number(values['live-ms']);
const WRITERS = Number(values.writers);
const RETRY_FOR_MS = Number(values['retry-for-ms']);
const SEED = Number(values.seed ?? Date.now() % 1_000_000);
const CINEMAS = ['1001', '1002', '1003', '1004', '2001', '2002', '2003'];
for (const [name, v] of Object.entries({ rounds: ROUNDS, 'live-ms': LIVE_MS, writers: WRITERS })) {
  if (!Number.isInteger(v) || v < 1 || v > 1_000_000) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

const log = (line: string) => console.log(`drill: ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(500);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

function skip(reason: string): never {
  console.log(`failover: skipped (${reason})`);
  process.exit(2);
}

if (process.platform !== 'linux') skip('needs Linux with Debian packages');
try {
  installMissing(log);
} catch (err) {
  skip(`cannot install etcd-server, patroni, haproxy: ${err instanceof Error ? err.message : String(err)}`);
}
const ports = [
  PORTS.etcdClient,
  PORTS.etcdPeer,
  PORTS.primary,
  PORTS.apps,
  ...PORTS.app,
  ...PORTS.pg,
  ...PORTS.rest,
];
const busy = [];
for (const p of ports) if (await portInUse(p)) busy.push(p);
if (busy.length > 0) skip(`ports in use: ${busy.join(', ')} (is \`npm run cluster -- up\` running?)`);

const started = Date.now();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-drill-'));
const cluster = new Cluster(dir);
let cleaning: Promise<void> | undefined;
const cleanUp = () =>
  (cleaning ??= (async () => {
    await cluster.down().catch((err: unknown) => log(`stopping the cluster: ${String(err)}`));
    fs.rmSync(dir, { recursive: true, force: true });
  })());
// Run with `node --import tsx` (package.json), not the tsx command: that one relays a signal to
// its child and SIGKILLs it when no acknowledgement comes within 30 ms, which on a busy machine
// would leave the cluster running. `on`, not `once`: a second Ctrl-C must not cut the clean-up.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (cleaning) return;
    log(`${signal}: stopping everything`);
    void cleanUp().finally(() => process.exit(1));
  });
}

interface Round {
  leader: NodeName;
  how: string;
  faultAt: number;
  /** From the fault to a new leader reachable through HAProxy, and to the old node streaming again. */
  electedMs: number;
  rejoinedMs: number;
  /** From the fault to the first write answered 200 that was sent after it. */
  firstWriteMs?: number;
}

interface DrillRequest extends LoadRequest {
  attempts: number;
}

let exitCode = 1;
try {
  log(`seed ${SEED}; building dist/`);
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  await cluster.up(log);
  const keyFile = path.join(dir, 'run', 'movticket.key');
  createKeyFile(keyFile);
  const demoKey = `drill${randomBytes(8).toString('hex')}`;
  const smsFiles = [1, 2].map((i) => path.join(dir, `sms-app${i}.jsonl`));
  for (const i of [1, 2] as const) {
    cluster.startApp(i, ROOT, {
      MOVTICKET_DEMO_KEY: demoKey,
      MOVTICKET_SECRET_KEY_FILE: keyFile,
      MOVTICKET_SMS: `file:${smsFiles[i - 1]}`,
      // Messages an instance sent but could not record during a failover are retried soon.
      MOVTICKET_SMS_LEASE_MS: '5000',
    });
    await waitFor(`movticket instance ${i}`, 90_000, async () => {
      const res = await fetch(`http://127.0.0.1:${PORTS.app[i - 1]}/readyz`, {
        signal: AbortSignal.timeout(1_000),
      });
      return res.ok ? true : undefined;
    });
  }
  log(`instances on 127.0.0.1:${PORTS.app.join(', 127.0.0.1:')}, database through HAProxy`);

  // ---- the load: buy on one instance, pay on the other, ban a quarter of the paid on the first
  const clients = PORTS.app.map((port) => demoClient(`http://127.0.0.1:${port}`, demoKey, 15_000));
  const random = prng(SEED);
  const run = randomBytes(3).toString('hex');
  const requests: DrillRequest[] = [];
  const writesOk: number[] = [];
  const answers: Record<string, number> = {};
  let seq = 0;
  let stopping = false;
  const answered = async <T>(
    req: DrillRequest,
    first: number,
    call: (c: MovTicketClient) => Promise<T>,
  ): Promise<T | undefined> => {
    const deadline = Date.now() + RETRY_FOR_MS;
    for (;;) {
      // A retry goes to the other instance half the time, as behind a load balancer.
      const client = clients[(first + req.attempts) % clients.length]!;
      req.attempts++;
      const data = await track(req, () => call(client));
      const key = req.code === 200 ? '200' : `${req.code} ${req.type ?? ''}`.trim();
      answers[key] = (answers[key] ?? 0) + 1;
      if (req.outcome === 'ok') writesOk.push(Date.now());
      const retryable = req.code === 0 || (req.code === 503 && req.type === 'unavailable');
      if (!retryable || Date.now() > deadline || req.attempts >= 1_000) return data;
      await sleep(100 + random() * 200);
    }
  };
  const writer = async () => {
    while (!stopping) {
      const n = seq++;
      const orderNo = `drill-${run}-${n}`;
      const buy: DrillRequest = { kind: 'buy', reqId: `${run}b${n}`, orderNo, outcome: 'none', attempts: 0 };
      requests.push(buy);
      const count = 1 + Math.floor(random() * 3);
      const cinemaId = CINEMAS[Math.floor(random() * CINEMAS.length)]!;
      const bought = await answered(buy, n, (c) =>
        c.buyByCinema({ cinemaId, count, orderNo }, { reqId: buy.reqId }),
      );
      if (!bought) continue;
      const cardNo = bought.card.card_no;
      const fen = Math.round(Number(bought.card.total_price) * 100);
      Object.assign(buy, { cardNo, fen });
      const mobile = `139${String(n).padStart(8, '0')}`;
      const pay: DrillRequest = {
        kind: 'pay',
        reqId: `${run}p${n}`,
        orderNo,
        cardNo,
        fen,
        outcome: 'none',
        attempts: 0,
      };
      requests.push(pay);
      await answered(pay, n + 1, (c) => c.payByCard({ cardNo, mobile }, { reqId: pay.reqId }));
      if (pay.outcome !== 'ok' || random() >= 0.25) continue;
      const ban: DrillRequest = {
        kind: 'ban',
        reqId: `${run}x${n}`,
        orderNo,
        cardNo,
        fen,
        outcome: 'none',
        attempts: 0,
      };
      requests.push(ban);
      await answered(ban, n, (c) => c.ban({ cardNo, reason: 'failover drill' }, { reqId: ban.reqId }));
    }
  };
  const workers = Array.from({ length: WRITERS }, writer);

  // ---- the rounds
  const rounds: Round[] = [];
  await sleep(LIVE_MS);
  for (let r = 1; r <= ROUNDS; r++) {
    const leader = await cluster.waitForLeader(60_000);
    const standby = NODES.find((n) => n !== leader)!;
    await cluster.waitForSyncStandby(standby, 120_000);
    const kill = r % 2 === 1;
    const how = kill ? 'SIGKILL to the leader postmaster' : "the leader's Patroni stopped";
    const faultAt = Date.now();
    if (kill) cluster.killPostgres(leader);
    else await cluster.stopPatroni(leader);
    const next = await cluster.waitForLeader(90_000, leader);
    const electedMs = Date.now() - faultAt;
    if (!kill) cluster.startPatroni(leader);
    await cluster.waitForSyncStandby(leader, 180_000);
    const rejoinedMs = Date.now() - faultAt;
    rounds.push({ leader, how, faultAt, electedMs, rejoinedMs });
    log(
      `round ${r}: ${how} (${leader}); ${next} leads after ${(electedMs / 1000).toFixed(1)} s, ` +
        `${leader} streams again after ${(rejoinedMs / 1000).toFixed(1)} s`,
    );
    await sleep(LIVE_MS);
  }
  stopping = true;
  await Promise.all(workers);

  // ---- the books, once both instances drained the outbox
  let db: Db | undefined;
  try {
    db = await openDatabase({ url: DATABASE_URL, poolSize: 2 });
    await drainSms(db, 90_000, true);
    for (const i of [1, 2]) await cluster.stopProcess(`app${i}`, 15_000);
    const smsFile = path.join(dir, 'sms-all.jsonl');
    fs.writeFileSync(
      smsFile,
      smsFiles.map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')).join(''),
    );
    const secrets = readKeyFile(keyFile);
    const books = await checkBooks(db, requests, smsFile, started, secrets);

    const cards = await db.kysely.selectFrom('cards').selectAll().execute();
    const events = await db.kysely
      .selectFrom('card_events')
      .select(['card_no'])
      .where('type', '=', 'activated')
      .execute();
    const sms = await db.kysely.selectFrom('sms_messages').select(['id', 'card_no', 'reason']).execute();
    const byNo = new Map(cards.map((c) => [c.card_no, c]));
    const bans = new Map(requests.filter((q) => q.kind === 'ban').map((q) => [q.cardNo!, q]));
    const acked = requests.filter((q) => q.kind === 'pay' && q.outcome === 'ok');
    let lost = 0;
    for (const pay of acked) {
      const card = byNo.get(pay.cardNo!);
      const ban = bans.get(pay.cardNo!);
      const allowed =
        ban === undefined || ban.outcome === 'refused'
          ? ['active']
          : ban.outcome === 'ok'
            ? ['banned']
            : ['active', 'banned'];
      if (!card || card.paid_at === null || !card.password || !allowed.includes(card.status)) lost++;
    }
    const activations = new Map<string, number>();
    for (const e of events) activations.set(e.card_no, (activations.get(e.card_no) ?? 0) + 1);
    const double = [...activations.values()].filter((n) => n > 1).length;
    const smsIds = new Map<string, Set<string>>();
    for (const m of sms.filter((x) => x.reason === 'activation')) {
      smsIds.set(m.card_no, (smsIds.get(m.card_no) ?? new Set()).add(m.id));
    }
    const delivered = new Map<string, Set<string>>();
    const smsCard = new Map(sms.map((m) => [m.id, m.card_no]));
    for (const line of fs.readFileSync(smsFile, 'utf8').split('\n').filter(Boolean)) {
      const id = (JSON.parse(line) as { id: string }).id;
      const card = smsCard.get(id) ?? `unknown:${id}`;
      delivered.set(card, (delivered.get(card) ?? new Set()).add(id));
    }
    const smsDup = new Set([...smsIds, ...delivered].filter(([, ids]) => ids.size > 1).map(([card]) => card))
      .size;
    const paidNoSms = cards.filter(
      (c) => c.paid_at !== null && (smsIds.get(c.card_no)?.size ?? 0) !== 1,
    ).length;

    // The longest stretch, from the first fault on, in which no write was answered 200.
    const firstFault = rounds[0]?.faultAt ?? started;
    const okTimes = writesOk.filter((t) => t >= firstFault).sort((a, b) => a - b);
    let maxGap = 0;
    let prev = firstFault;
    for (const t of okTimes) [maxGap, prev] = [Math.max(maxGap, t - prev), t];
    for (const round of rounds) {
      const first = requests
        .filter((q) => q.outcome === 'ok' && q.sentAt! >= round.faultAt)
        .map((q) => q.sentAt! + q.ms!)
        .sort((a, b) => a - b)[0];
      if (first !== undefined) round.firstWriteMs = first - round.faultAt;
    }

    const violations = [...books.violations];
    const bad = Object.entries(answers).filter(
      ([k]) => k !== '200' && k !== '503 unavailable' && !k.startsWith('0'),
    );
    for (const [k, n] of bad) violations.push(`${n} × answered ${k}`);
    const unanswered = requests.filter((q) => q.outcome !== 'ok' && q.outcome !== 'refused');
    if (unanswered.length > 0)
      violations.push(`${unanswered.length} requests never answered within ${RETRY_FOR_MS} ms`);
    if (paidNoSms > 0) violations.push(`${paidNoSms} paid cards without exactly one SMS`);

    const b = books;
    log(`requests ${b.requests.sent}: answers per attempt ${JSON.stringify(answers)}`);
    log(
      `retried requests ${requests.filter((q) => q.attempts > 1).length}, most attempts ${Math.max(0, ...requests.map((q) => q.attempts))}`,
    );
    log(
      `paid: answered ${b.paidAnswered}, in the database ${b.paidInDb}; voids ${b.voidsAnswered} / ${b.voidsInDb}`,
    );
    log(
      `sms rows ${b.sms.rows} (sent ${b.sms.sent}, queued ${b.sms.queued}); deliveries ${b.sms.fileLines}, distinct ids ${b.sms.distinctIds}, same id twice ${b.sms.duplicateLines}`,
    );
    log(
      `statement net ${(b.statementNetFen / 100).toFixed(2)}, answered net ${(b.answeredNetFen / 100).toFixed(2)}`,
    );
    for (const [i, round] of rounds.entries()) {
      log(
        `round ${i + 1}: elected ${(round.electedMs / 1000).toFixed(1)} s, first write answered ${round.firstWriteMs === undefined ? '–' : (round.firstWriteMs / 1000).toFixed(1)} s, rejoined ${(round.rejoinedMs / 1000).toFixed(1)} s`,
      );
    }
    log(`${((Date.now() - started) / 1000).toFixed(0)} s in all; violations ${violations.length}`);
    for (const v of violations.slice(0, 40)) log(`VIOLATION ${v}`);
    exitCode = violations.length === 0 && lost === 0 && double === 0 && smsDup === 0 ? 0 : 1;
    await db.close();
    db = undefined;
    await cleanUp();
    console.log(
      `failover: rounds=${rounds.length} acked_pays=${acked.length} lost=${lost} double=${double} sms_dup=${smsDup} max_unavailable_s=${(maxGap / 1000).toFixed(1)}`,
    );
  } finally {
    await db?.close();
  }
} catch (err) {
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  log(`logs: ${path.join(dir, 'log')} (removed now)`);
  for (const f of fs.existsSync(path.join(dir, 'log')) ? fs.readdirSync(path.join(dir, 'log')) : []) {
    const text = fs.readFileSync(path.join(dir, 'log', f), 'utf8');
    log(`--- ${f}\n${text.slice(-2_000)}`);
  }
  exitCode = 1;
} finally {
  await cleanUp();
}
process.exit(exitCode);
