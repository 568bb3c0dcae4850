import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyForm } from '../src/domain/notify.js';
import { createKeyFile } from '../src/secret-key-file.js';
import { CLI_ENTRY } from './support/build-dist.js';
import { createPgDatabase } from './support/engines.js';
import { type ServerProcess, startDemoServer } from './support/server-process.js';
import { cleanEnv, goEnv, type LanguageName, missingToolchain, run } from './support/toolchains.js';

// The example clients in examples/ (Java, Python, PHP, Go) are run as a channel runs them: as
// processes, against a real server, through a proxy that loses answers and answers 503 and 429
// once, so their retries with the same req_id are exercised. A language whose toolchain is
// missing is skipped with a printed reason; CI installs all four.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLES = path.join(ROOT, 'examples');
const TEST_URL = process.env.TEST_DATABASE_URL;
const DEMO_KEY = randomBytes(16).toString('hex');
/** Interfaces whose first answer the proxy loses after the server ran them. */
const LOSE_FIRST_ANSWER = new Set(['buyByCinema', 'buyByKind', 'payByCard', 'ban']);
/** Interfaces the proxy refuses on first sight, without forwarding: a busy platform. */
const REFUSE_FIRST: Readonly<Record<string, { code: number; type: string; retryAfter?: string }>> = {
  kinds: { code: 503, type: 'unavailable' },
  regionsByCity: { code: 429, type: 'rate_limited', retryAfter: '1' },
};

interface Language {
  name: LanguageName;
  /** Compiles once; returns the command that runs the demo. */
  build(dir: string): Promise<{ cmd: string; args: string[]; cwd: string; env?: Record<string, string> }>;
}

const LANGUAGES: Language[] = [
  {
    name: 'java',
    build: async (dir) => {
      const out = path.join(dir, 'java');
      const sources = ['MovTicketClient.java', 'MovTicketDemo.java'].map((f) =>
        path.join(EXAMPLES, 'java', f),
      );
      const args = ['-encoding', 'UTF-8', '-Xlint:all', '-Werror', '-d', out, ...sources];
      const r = await run('javac', args, { timeoutMs: 300_000 });
      expect(r, r.stderr).toMatchObject({ code: 0 });
      return { cmd: 'java', args: ['-cp', out, 'MovTicketDemo'], cwd: ROOT };
    },
  },
  {
    name: 'python',
    build: () =>
      Promise.resolve({ cmd: 'python3', args: [path.join(EXAMPLES, 'python', 'demo.py')], cwd: ROOT }),
  },
  {
    name: 'php',
    build: async () => {
      const lint = await run('php', ['-l', path.join(EXAMPLES, 'php', 'MovTicketClient.php')], {
        timeoutMs: 60_000,
      });
      expect(lint, lint.stdout + lint.stderr).toMatchObject({ code: 0 });
      return { cmd: 'php', args: [path.join(EXAMPLES, 'php', 'demo.php')], cwd: ROOT };
    },
  },
  {
    name: 'go',
    build: async (dir) => {
      const env = goEnv();
      const bin = path.join(dir, 'movticket-demo');
      const cwd = path.join(EXAMPLES, 'go');
      const vet = await run('go', ['vet', './...'], { cwd, env, timeoutMs: 300_000 });
      expect(vet, vet.stderr).toMatchObject({ code: 0 });
      const r = await run('go', ['build', '-o', bin, '.'], { cwd, env, timeoutMs: 300_000 });
      expect(r, r.stderr).toMatchObject({ code: 0 });
      return { cmd: bin, args: [], cwd: ROOT };
    },
  },
];

interface Attempt {
  method: string;
  /** The request's parameters without timestamp and hashcode, which a retry recomputes. */
  request: string;
  fault?: 'answer lost' | 'unavailable' | 'rate_limited';
}

/**
 * A proxy in front of the server that, once per req_id, loses the answer of the interfaces in
 * LOSE_FIRST_ANSWER (after the server ran them) and refuses those in REFUSE_FIRST (503, 429): what a
 * flaky network and a busy platform do.
 */
async function startFaultProxy(target: string) {
  const attempts = new Map<string, Attempt[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const form = new URLSearchParams(body.toString('utf8'));
      const method = (req.url ?? '').replace(/^\/movTicket\//, '').replace(/\?.*$/, '');
      const reqId = form.get('req_id') ?? '';
      const seen = attempts.get(reqId) ?? [];
      attempts.set(reqId, seen);
      const request = [...form].filter(([k]) => k !== 'timestamp' && k !== 'hashcode').join('&');
      const attempt: Attempt = { method, request };
      seen.push(attempt);
      const first = seen.length === 1;
      const refusal = first ? REFUSE_FIRST[method] : undefined;
      if (refusal) {
        attempt.fault = refusal.type as Attempt['fault'];
        const json = form.get('format') === 'json';
        res.writeHead(refusal.code, {
          'content-type': json ? 'application/json; charset=utf-8' : 'application/xml; charset=utf-8',
          ...(refusal.retryAfter ? { 'retry-after': refusal.retryAfter } : {}),
        });
        const message = 'try again later';
        res.end(
          json
            ? JSON.stringify({ code: refusal.code, error: { message, type: refusal.type } })
            : `<?xml version="1.0" encoding="UTF-8"?><response><code>${refusal.code}</code><error><message>${message}</message><type>${refusal.type}</type></error></response>`,
        );
        return;
      }
      fetch(`${target}${req.url ?? ''}`, {
        method: req.method,
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body,
      })
        .then(async (upstream) => {
          const answer = Buffer.from(await upstream.arrayBuffer());
          if (first && LOSE_FIRST_ANSWER.has(method)) {
            attempt.fault = 'answer lost';
            req.socket.destroy();
            return;
          }
          const headers: Record<string, string> = {
            'content-type': upstream.headers.get('content-type') ?? '',
          };
          const retryAfter = upstream.headers.get('retry-after');
          if (retryAfter) headers['retry-after'] = retryAfter;
          res.writeHead(upstream.status, headers);
          res.end(answer);
        })
        .catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    /** Every attempt per req_id since the last reset. */
    take(): Map<string, Attempt[]> {
      const copy = new Map(attempts);
      attempts.clear();
      return copy;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const engineNames = TEST_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

const available = LANGUAGES.map((lang) => ({ lang, missing: missingToolchain(lang.name) }));
for (const { lang, missing } of available) {
  if (missing) console.warn(`[example clients] ${lang.name} SKIPPED: ${missing}`);
}

describe('example clients in the channels’ languages', { timeout: 600_000 }, () => {
  let dir: string;
  const built = new Map<string, Awaited<ReturnType<Language['build']>>>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mt-examples-'));
    // Compile once for both engines; one at a time, the machine is small.
    for (const { lang, missing } of available) {
      if (!missing) built.set(lang.name, await lang.build(dir));
    }
  }, 600_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const engine of engineNames) {
    describe(`against a server on ${engine}`, () => {
      let server: ServerProcess | undefined;
      let proxy: Awaited<ReturnType<typeof startFaultProxy>> | undefined;
      let dropDb: (() => Promise<void>) | undefined;
      let fullKey = '';
      let callbackBody = '';
      let own: string | undefined;

      beforeAll(async () => {
        own = fs.mkdtempSync(path.join(os.tmpdir(), `mt-examples-${engine}-`));
        const keyFile = path.join(own, 'movticket.key');
        createKeyFile(keyFile);
        const env: Record<string, string> = {
          MOVTICKET_DATA_DIR: path.join(own, 'data'),
          MOVTICKET_SECRET_KEY_FILE: keyFile,
          MOVTICKET_DEMO_KEY: DEMO_KEY,
          MOVTICKET_SMS: `file:${path.join(own, 'sms.jsonl')}`,
          LOG_LEVEL: 'warn',
        };
        if (engine === 'postgres') {
          const db = await createPgDatabase();
          dropDb = db.drop;
          env.DATABASE_URL = db.url;
        }
        server = await startDemoServer(env);
        // A second security config of the demo partner, signing in `full` mode.
        const created = await run(
          process.execPath,
          [CLI_ENTRY, 'key', 'create', 'CS000001', '--sec-id', 'full1', '--mode', 'full', '--json'],
          { cwd: ROOT, env: { ...cleanEnv(), ...env }, timeoutMs: 120_000 },
        );
        expect(created, created.stderr).toMatchObject({ code: 0 });
        fullKey = (JSON.parse(created.stdout) as { md5key: string }).md5key;
        proxy = await startFaultProxy(server.baseUrl);
        // A callback as the platform signs it, with the md5key of the demo partner's `test`.
        const form = notifyForm(
          {
            event_id: 'ev-examples',
            partner_id: 'CS000001',
            card_no: '6260181590830162',
            type: 'redeemed',
            payload: JSON.stringify({
              seq: 7,
              status: 'used',
              used_count: 1,
              remaining: 0,
              occurred_at: Date.now(),
            }),
          },
          { secId: 'test', md5key: DEMO_KEY },
          Date.now(),
          'Asia/Shanghai',
        );
        callbackBody = new URLSearchParams(form).toString();
      }, 180_000);

      afterAll(async () => {
        await proxy?.close();
        await server?.stop();
        await dropDb?.();
        if (own) fs.rmSync(own, { recursive: true, force: true });
      });

      for (const { lang, missing } of available) {
        it.skipIf(missing !== undefined)(
          `${lang.name}: walks both flows in both sign modes and formats, retrying lost answers with the same req_id`,
          async () => {
            const demo = built.get(lang.name)!;
            proxy!.take();
            const r = await run(demo.cmd, demo.args, {
              cwd: demo.cwd,
              env: {
                ...cleanEnv(),
                ...demo.env,
                MT_URL: proxy!.url,
                MT_PARTNER_ID: 'CS000001',
                MT_BUS_ID: '1002758',
                MT_SEC_ID: 'test',
                MT_SIGN_MODE: 'basic',
                MT_MD5KEY: DEMO_KEY,
                MT_FULL_SEC_ID: 'full1',
                MT_FULL_MD5KEY: fullKey,
                MT_CALLBACK_BODY: callbackBody,
                // Every client must recover the lost buy by its order_no (they tolerate older servers).
                MT_REQUIRE_ORDER_NO_RECOVERY: '1',
              },
              timeoutMs: 300_000,
            });
            const output = r.stdout + r.stderr;
            expect(output).not.toMatch(/^FAIL/m);
            expect(r.code, output).toBe(0);
            const summary = /^(\d+) passed, (\d+) failed$/m.exec(r.stdout);
            expect(summary, output).not.toBeNull();
            expect(Number(summary![2])).toBe(0);
            // Every check the clients make, in both modes and formats, with the callback body.
            expect(Number(summary![1]), output).toBeGreaterThanOrEqual(31);
            for (const check of [
              'sign basic: guide 5.3 vector',
              'sign full: guide 5.3 vector',
              'callback: MT_CALLBACK_BODY verified with the md5key of its sec_id',
              'cities: the XML and the JSON answer agree',
              'payByCard retried with the same req_id [full/xml]: the original answer, same password',
              'ban of an unpaid card [basic/json]: banned',
              'ban of an unpaid card [full/xml]: banned',
            ]) {
              expect(output).toContain(`ok    ${check}`);
            }
            expect(output).toContain('ok    lost buy found by status with order_no [full/json]');
            expect(output).toContain('ok    second buy of that order_no, new req_id [basic/xml]');

            // Each answer the proxy lost or refused was asked again under the same req_id, with
            // the same interface and parameters, until one came through.
            const attempts = proxy!.take();
            const faulted = [...attempts].filter(([, seen]) => seen.some((a) => a.fault));
            const lost = faulted.filter(([, seen]) => seen[0]!.fault === 'answer lost');
            expect(new Set(lost.map(([, seen]) => seen[0]!.method)), output).toEqual(LOSE_FIRST_ANSWER);
            const refused = faulted.filter(([, seen]) => seen[0]!.fault !== 'answer lost');
            expect(new Set(refused.map(([, seen]) => seen[0]!.method))).toEqual(
              new Set(Object.keys(REFUSE_FIRST)),
            );
            // (A client may reuse a req_id on purpose later, e.g. to show 409 duplicate_req_id.)
            for (const [reqId, seen] of faulted) {
              const retry = seen[1];
              expect(retry, `req_id ${reqId} not retried`).toBeDefined();
              expect(retry).toMatchObject({ method: seen[0]!.method, request: seen[0]!.request });
            }
          },
        );
      }
    });
  }
});
