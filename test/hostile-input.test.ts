import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { InjectOptions } from 'fastify';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engines } from './support/engines.js';
import { KEY, makePartner } from './support/factories.js';
import { makeTestApp, type TestApp } from './support/harness.js';

/** The contract's closed list of error types and the status each carries (section 1). */
const CONTRACT_ERRORS: Readonly<Record<string, number>> = {
  invalid_param: 400,
  unsupported_version: 400,
  not_found: 400,
  unknown_partner: 401,
  invalid_signature: 401,
  timestamp_expired: 401,
  partner_disabled: 403,
  permission_denied: 403,
  ip_denied: 403,
  no_such_method: 404,
  method_not_allowed: 405,
  card_state: 406,
  price_mismatch: 406,
  duplicate_req_id: 409,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  timeout: 504,
};
/** What bad input may ever get: a success or a 4xx of the contract. */
const CLIENT_STATUSES = new Set([200, 400, 401, 403, 404, 405, 406, 409, 429]);

const COMMON = ['partner_id', 'sec_id', 'bus_id', 'req_id', 'ver', 'timestamp', 'hashcode'] as const;
const INTERFACES = [
  'cities',
  'regionsByCity',
  'cinemasByRegion',
  'buyByCinema',
  'kinds',
  'cinemasByKind',
  'buyByKind',
  'payByCard',
  'status',
  'ban',
  'resendSms',
] as const;
/** Well-formed, but no card of anyone's. */
const NO_CARD = '6281234567890123';
const MOBILE = '13812345678';
// Only turns a request that never answers into a failure with its name; not a latency bound.
const HANG_MS = 20_000;
const BODY_LIMIT = 16 * 1024;

/** Stack frames, source paths, driver and SQL text: none may ever reach a caller. */
const LEAKS = [
  /\n\s+at\s/,
  /node_modules/,
  /\.[cm]?[jt]s:\d+/,
  /SQLITE_|sqlite|postgres|kysely|\bpg\b/i,
  /\bselect\b[^<"]*\bfrom\b/i,
  /\binsert\s+into\b|\bupdate\s+\w+\s+set\b|\bdelete\s+from\b/i,
  /syntax error|constraint|violates|duplicate key/i,
  /(Type|Range|Reference|Syntax)Error/,
];

interface Res {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

interface Envelope {
  code: number;
  data?: unknown;
  error?: { message: string; type: string };
}

type Entries = [string, string][];

/** Injects with a deadline, so a request that never answers fails the test instead of hanging it. */
async function send(t: TestApp, opts: InjectOptions): Promise<Res> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${HANG_MS} ms: ${opts.method} ${opts.url}`)),
      HANG_MS,
    );
  });
  try {
    const res = await Promise.race([t.app.fastify.inject(opts), deadline]);
    return { status: res.statusCode, body: res.body, headers: res.headers };
  } finally {
    clearTimeout(timer);
  }
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** A raw body to `/movTicket/{method}`; the body is sent exactly as given. */
const postRaw = (
  t: TestApp,
  method: string,
  payload: InjectOptions['payload'],
  headers: Record<string, string> = FORM,
  httpMethod: InjectOptions['method'] = 'POST',
) => send(t, { method: httpMethod, url: `/movTicket/${method}`, headers, payload });

const encode = (entries: Entries) => new URLSearchParams(entries).toString();

/** A form body whose `raw` values are written verbatim (already percent-encoded, or deliberately not). */
function formWithRaw(params: Record<string, string>, raw: Record<string, string>): string {
  const pieces = Object.entries(params)
    .filter(([name]) => !(name in raw))
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  for (const [name, value] of Object.entries(raw)) pieces.push(`${name}=${value}`);
  return pieces.join('&');
}

/** Parses either envelope strictly: well-formed XML with the declaration, or JSON. */
function envelopeOf(res: Res): Envelope {
  const type = String(res.headers['content-type'] ?? '');
  if (type === 'application/json; charset=utf-8') return JSON.parse(res.body) as Envelope;
  expect(type, res.body).toBe('application/xml; charset=utf-8');
  expect(res.body.startsWith('<?xml version="1.0" encoding="UTF-8"?>'), res.body).toBe(true);
  expect(XMLValidator.validate(res.body), res.body).toBe(true);
  const doc = new XMLParser({ parseTagValue: false, trimValues: false }).parse(res.body) as {
    response?: { code?: string; data?: unknown; error?: { message?: unknown; type?: unknown } };
  };
  const r = doc.response;
  expect(r, res.body).toBeDefined();
  const env: Envelope = { code: Number(r!.code) };
  if (r!.error !== undefined) {
    env.error = { message: String(r!.error.message ?? ''), type: String(r!.error.type ?? '') };
  }
  if (r!.data !== undefined) env.data = r!.data;
  return env;
}

function expectNoLeak(body: string): void {
  for (const leak of LEAKS) expect(body, `leaks ${leak}`).not.toMatch(leak);
}

/** Asserts a contract error envelope; returns its message. */
function expectError(res: Res, status: number, type: string, param?: string): string {
  expect(res.status, res.body).toBe(status);
  expect(CONTRACT_ERRORS[type]).toBe(status);
  const env = envelopeOf(res);
  expect(env.code).toBe(status);
  expect(env.error?.type, res.body).toBe(type);
  expect(env.data).toBeUndefined();
  const message = env.error?.message ?? '';
  expect(message.length).toBeGreaterThan(0);
  expect(message.length).toBeLessThan(300);
  if (param !== undefined) expect(message, `message should name ${param}`).toContain(param);
  expectNoLeak(res.body);
  return message;
}

const expectInvalid = (res: Res, param?: string) => expectError(res, 400, 'invalid_param', param);

function expectOk(res: Res): Envelope {
  expect(res.status, res.body).toBe(200);
  const env = envelopeOf(res);
  expect(env.code).toBe(200);
  expect(env.error).toBeUndefined();
  return env;
}

/** Rows a request could leave behind; reads remembered in memory are flushed first. */
async function storedRows(t: TestApp) {
  await t.app.requestLog.flush();
  const db = t.db.kysely;
  const n = (row: { n: string | number | bigint }) => Number(row.n);
  return {
    cards: n(
      await db
        .selectFrom('cards')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow(),
    ),
    // req_ids holding an answer; a refused request binds its req_id without one.
    requests: n(
      await db
        .selectFrom('requests')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('code', '=', 200)
        .executeTakeFirstOrThrow(),
    ),
    card_events: n(
      await db
        .selectFrom('card_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow(),
    ),
    sms_messages: n(
      await db
        .selectFrom('sms_messages')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow(),
    ),
  };
}

/** basic-mode signature over the values as sent, independent of the SDK. */
const basicHash = (p: Record<string, string>, key = KEY) =>
  createHash('md5')
    .update(`${p.partner_id ?? ''}${p.bus_id ?? ''}${p.req_id ?? ''}${p.timestamp ?? ''}${key}`, 'utf8')
    .digest('hex');

/** Correctly signed (basic) common params with some common values replaced before signing. */
function signedWith(t: TestApp, override: Record<string, string>, own: Record<string, string> = {}) {
  const p = { ...t.signed(undefined, own), ...override };
  return { ...p, hashcode: basicHash(p) };
}

/** A multipart body as a browser or undici would send it. */
async function multipartOf(
  fields: [name: string, value: string | Blob, filename?: string][],
): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const [name, value, filename] of fields) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, value, filename);
  }
  const req = new Request('http://multipart.invalid/', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await req.arrayBuffer()),
    headers: { 'content-type': req.headers.get('content-type')! },
  };
}

const BOUNDARY = 'hostileBoundary42';
const MULTIPART = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

/** A hand-made multipart body (raw bytes, optional missing end boundary). */
function rawMultipart(parts: { name: string; value: string | Buffer; filename?: string }[], close = true) {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const file = p.filename === undefined ? '' : `; filename="${p.filename}"`;
    chunks.push(
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${p.name}"${file}\r\n\r\n`),
    );
    chunks.push(typeof p.value === 'string' ? Buffer.from(p.value) : p.value);
    chunks.push(Buffer.from('\r\n'));
  }
  if (close) chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

const fieldsOf = (params: Record<string, string>) =>
  Object.entries(params).map(([name, value]) => ({ name, value }));

/** Deterministic PRNG (mulberry32), so a failing fuzz case can be replayed from its seed. */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}

for (const engine of engines()) {
  describe(`hostile input (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const newCard = async (count = 1) =>
      (await t.client.buyByCinema({ cinemaId: '1001', count })).card.card_no;

    describe('overlong values', () => {
      it('rejects a 10 KB value of every common parameter as invalid_param naming it, storing nothing', async () => {
        const long: Record<string, string> = {
          partner_id: 'CS' + '0'.repeat(10_000),
          sec_id: 't'.repeat(10_000),
          bus_id: '1'.repeat(10_000),
          req_id: 'a'.repeat(10_000),
          ver: '1'.repeat(10_000),
          timestamp: '2'.repeat(10_000),
          hashcode: 'a'.repeat(10_000),
        };
        const before = await storedRows(t);
        for (const [name, value] of Object.entries(long)) {
          const params = { ...t.signed(undefined, { cinema_id: '1001', count: '1' }), [name]: value };
          expectInvalid(await t.post('buyByCinema', params), name);
          expectInvalid(await t.post('cities', { ...params, format: 'json' }), name);
        }
        expectInvalid(await t.post('cities', { ...t.signed(), format: 'x'.repeat(10_000) }), 'format');
        expect(await storedRows(t)).toEqual(before);
      });

      it('rejects overlong own parameters (10 KB card_no, cinema_id, …) as invalid_param naming them', async () => {
        const cases: [string, string, Record<string, string>][] = [
          ['regionsByCity', 'city_id', { city_id: '0'.repeat(10_000) }],
          ['cinemasByRegion', 'region_id', { region_id: '0'.repeat(10_000) }],
          ['buyByCinema', 'cinema_id', { cinema_id: 'C'.repeat(10_000), count: '1' }],
          ['buyByCinema', 'count', { cinema_id: '1001', count: '1'.repeat(10_000) }],
          ['buyByCinema', 'order_no', { cinema_id: '1001', count: '1', order_no: 'o'.repeat(33) }],
          ['buyByCinema', 'order_no', { cinema_id: '1001', count: '1', order_no: 'o'.repeat(10_000) }],
          ['cinemasByKind', 'kind_id', { kind_id: 'K'.repeat(10_000) }],
          ['cinemasByKind', 'city_id', { kind_id: 'K2D', city_id: '0'.repeat(10_000) }],
          ['buyByKind', 'kind_id', { kind_id: 'K'.repeat(10_000), count: '1' }],
          ['payByCard', 'card_no', { card_no: '6'.repeat(10_000), mobile: MOBILE }],
          ['payByCard', 'mobile', { card_no: NO_CARD, mobile: '1'.repeat(10_000) }],
          ['payByCard', 'total_price', { card_no: NO_CARD, mobile: MOBILE, total_price: '9'.repeat(10_000) }],
          ['status', 'card_no', { card_no: '1'.repeat(10_000) }],
          ['ban', 'card_no', { card_no: '1'.repeat(17) }],
          ['ban', 'reason', { card_no: NO_CARD, reason: 'r'.repeat(10_000) }],
          ['resendSms', 'mobile', { card_no: NO_CARD, mobile: '1'.repeat(10_000) }],
        ];
        const before = await storedRows(t);
        for (const [method, name, own] of cases) {
          expectInvalid(await t.post(method, t.signed(undefined, own)), name);
        }
        expect(await storedRows(t)).toEqual(before);
      });
    });

    describe('NUL bytes and invalid UTF-8', () => {
      it('rejects %00 in any common or own parameter, naming it', async () => {
        const before = await storedRows(t);
        for (const name of COMMON) {
          const params = t.signed(undefined, { cinema_id: '1001', count: '1' });
          for (const raw of [
            `${encodeURIComponent(params[name]!)}%00`,
            `%00${encodeURIComponent(params[name]!)}`,
          ]) {
            expectInvalid(await postRaw(t, 'buyByCinema', formWithRaw(params, { [name]: raw })), name);
          }
        }
        const own: [string, Record<string, string>, Record<string, string>][] = [
          ['buyByCinema', { cinema_id: '1001', count: '1' }, { cinema_id: '1001%00' }],
          ['buyByCinema', { cinema_id: '1001', count: '1' }, { count: '1%00' }],
          ['buyByCinema', { cinema_id: '1001', count: '1' }, { order_no: 'o1%00' }],
          ['regionsByCity', { city_id: '001' }, { city_id: '00%001' }],
          ['status', { card_no: NO_CARD }, { card_no: `${NO_CARD}%00` }],
          ['payByCard', { card_no: NO_CARD, mobile: MOBILE }, { mobile: `${MOBILE}%00` }],
          ['payByCard', { card_no: NO_CARD, mobile: MOBILE }, { total_price: '35.00%00' }],
          ['ban', { card_no: NO_CARD }, { reason: 'lost%00card' }],
        ];
        for (const [method, params, raw] of own) {
          expectInvalid(
            await postRaw(t, method, formWithRaw(t.signed(undefined, params), raw)),
            Object.keys(raw)[0],
          );
        }
        expect(await storedRows(t)).toEqual(before);
      });

      it('rejects invalid UTF-8 percent-sequences (%FF%FE, truncated, overlong, surrogates) naming the parameter', async () => {
        const bad = [
          '%FF%FE',
          '%E4%B8',
          '%C0%AF',
          '%ED%A0%80',
          '%F8%88%80%80%80',
          '%E4%B8%AD%FF',
          '%',
          '%zz',
        ];
        const before = await storedRows(t);
        for (const seq of bad) {
          for (const name of COMMON) {
            const params = t.signed();
            const raw = `${encodeURIComponent(params[name]!)}${seq}`;
            expectInvalid(await postRaw(t, 'cities', formWithRaw(params, { [name]: raw })), name);
          }
          const ban = t.signed(undefined, { card_no: NO_CARD });
          expectInvalid(await postRaw(t, 'ban', formWithRaw(ban, { reason: `why${seq}` })), 'reason');
          const buy = t.signed(undefined, { cinema_id: '1001', count: '1' });
          expectInvalid(
            await postRaw(t, 'buyByCinema', formWithRaw(buy, { order_no: `o${seq}` })),
            'order_no',
          );
          const pay = t.signed(undefined, { card_no: NO_CARD, mobile: MOBILE });
          expectInvalid(await postRaw(t, 'payByCard', formWithRaw(pay, { card_no: `${seq}1` })), 'card_no');
        }
        expect(await storedRows(t)).toEqual(before);
      });

      it('rejects raw non-UTF-8 bytes in a value, in form and multipart bodies', async () => {
        const card = await newCard();
        const before = await storedRows(t);
        const form = Buffer.concat([
          Buffer.from(encode(Object.entries(t.signed(undefined, { card_no: card }))) + '&reason=bad'),
          Buffer.from([0xff, 0xfe, 0xc3]),
        ]);
        expectInvalid(await postRaw(t, 'ban', form), 'reason');
        const multipart = rawMultipart([
          ...fieldsOf(t.signed(undefined, { card_no: card })),
          { name: 'reason', value: Buffer.from([0x62, 0xff, 0xfe]) },
        ]);
        expectInvalid(await postRaw(t, 'ban', multipart, MULTIPART), 'reason');
        expect(await storedRows(t)).toEqual(before);
        expect((await t.client.status({ cardNo: card })).card.status).toBe('inactive');
      });

      it('ignores undecodable or NUL-laden unknown parameters and names', async () => {
        const params = encode(Object.entries(t.signed()));
        expectOk(await postRaw(t, 'cities', `${params}&junk=%FF%FE%00&%FF%FE=1&x%00=y`));
      });
    });

    describe('injection strings', () => {
      const INJECTIONS = [
        "' OR 1=1 --",
        "1' OR '1'='1",
        '"; DROP TABLE cards; --',
        '1; SELECT pg_sleep(5) --',
        '<script>alert(1)</script>',
        ']]>',
        '<![CDATA[x]]>',
        '${7*7}',
        '{{7*7}}',
        '%s%s%n',
        '../../etc/passwd',
        '&amp;&lt;',
        '\u202egnp.exe',
      ];

      it('rejects injection strings in every validated parameter with a well-formed envelope', async () => {
        const slots: [string, string, Record<string, string>][] = [
          ...COMMON.map((name): [string, string, Record<string, string>] => ['cities', name, {}]),
          ['regionsByCity', 'city_id', { city_id: '001' }],
          ['cinemasByRegion', 'region_id', { region_id: '001001' }],
          ['buyByCinema', 'cinema_id', { cinema_id: '1001', count: '1' }],
          ['buyByCinema', 'count', { cinema_id: '1001', count: '1' }],
          ['buyByCinema', 'order_no', { cinema_id: '1001', count: '1' }],
          ['buyByKind', 'kind_id', { kind_id: 'K2D', count: '1' }],
          ['payByCard', 'card_no', { card_no: NO_CARD, mobile: MOBILE }],
          ['payByCard', 'mobile', { card_no: NO_CARD, mobile: MOBILE }],
          ['payByCard', 'total_price', { card_no: NO_CARD, mobile: MOBILE }],
          ['status', 'card_no', { card_no: NO_CARD }],
        ];
        const before = await storedRows(t);
        let i = 0;
        for (const [method, name, own] of slots) {
          for (const evil of INJECTIONS) {
            const format = i++ % 2 === 0 ? 'xml' : 'json';
            const res = await t.post(method, { ...t.signed(undefined, own), [name]: evil, format });
            expectInvalid(res, name);
            expect(res.headers['content-type']).toBe(`application/${format}; charset=utf-8`);
            if (format === 'xml') expect(res.body).not.toContain('<script>');
          }
        }
        expect(await storedRows(t)).toEqual(before);
      });

      it('stores an injection-looking ban reason as plain text and answers well-formed XML and JSON', async () => {
        for (const [i, evil] of INJECTIONS.entries()) {
          const card = await newCard();
          const format = i % 2 === 0 ? 'xml' : 'json';
          const res = await t.post('ban', {
            ...t.signed(undefined, { card_no: card, reason: evil }),
            format,
          });
          const env = expectOk(res);
          expect(JSON.stringify(env.data)).toContain(card);
          const row = await t.db.kysely
            .selectFrom('cards')
            .select(['ban_reason', 'status'])
            .where('card_no', '=', card)
            .executeTakeFirstOrThrow();
          expect(row).toEqual({ ban_reason: evil, status: 'banned' });
        }
        // The tables the strings talk about are still there.
        expect((await storedRows(t)).cards).toBe(INJECTIONS.length);
      });

      it('answers a hostile interface name with an escaped 404 envelope', async () => {
        for (const path of [
          '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
          "'%20OR%201=1--",
          '%5D%5D%3E',
          '$%7B7*7%7D',
        ]) {
          for (const accept of ['application/json', 'application/xml']) {
            const res = await send(t, {
              method: 'POST',
              url: `/movTicket/${path}`,
              headers: { ...FORM, accept },
              payload: encode(Object.entries(t.signed())),
            });
            expectError(res, 404, 'no_such_method');
            // JSON carries it as a string; XML must escape it.
            if (accept === 'application/xml') expect(res.body).not.toContain('<script>');
          }
        }
      });
    });

    describe('repeated parameters', () => {
      it('rejects every common parameter and format given twice, even with the same value', async () => {
        const before = await storedRows(t);
        for (const name of [...COMMON, 'format']) {
          const params: Record<string, string> = {
            ...t.signed(undefined, { cinema_id: '1001', count: '1' }),
            format: 'json',
          };
          const same: Entries = [...Object.entries(params), [name, params[name]!]];
          expectInvalid(await t.post('buyByCinema', same), name);
          const other: Entries = [[name, 'x'], ...Object.entries(params)];
          expectInvalid(await t.post('buyByCinema', other), name);
        }
        expect(await storedRows(t)).toEqual(before);
      });

      it('rejects own parameters given twice (count, cinema_id, order_no, card_no, mobile, total_price, reason)', async () => {
        const card = await newCard();
        const before = await storedRows(t);
        const cases: [string, Record<string, string>, string, string][] = [
          ['buyByCinema', { cinema_id: '1001', count: '1' }, 'count', '1'],
          ['buyByCinema', { cinema_id: '1001', count: '1' }, 'count', '2'],
          ['buyByCinema', { cinema_id: '1001', count: '1' }, 'cinema_id', '1002'],
          ['buyByCinema', { cinema_id: '1001', count: '1', order_no: 'a' }, 'order_no', 'b'],
          ['buyByKind', { kind_id: 'K2D', count: '1' }, 'kind_id', 'K3D'],
          ['regionsByCity', { city_id: '001' }, 'city_id', '001'],
          ['payByCard', { card_no: card, mobile: MOBILE }, 'card_no', card],
          ['payByCard', { card_no: card, mobile: MOBILE }, 'mobile', '13912345678'],
          ['payByCard', { card_no: card, mobile: MOBILE, total_price: '35.00' }, 'total_price', '35.00'],
          ['ban', { card_no: card, reason: 'a' }, 'reason', 'b'],
          ['status', { card_no: card }, 'card_no', NO_CARD],
        ];
        for (const [method, own, name, second] of cases) {
          const entries: Entries = [...Object.entries(t.signed(undefined, own)), [name, second]];
          expectInvalid(await t.post(method, entries), name);
        }
        expect(await storedRows(t)).toEqual(before);
        expect((await t.client.status({ cardNo: card })).card.status).toBe('inactive');
      });
    });

    describe('body size and type', () => {
      it('accepts a body of exactly 16 KiB and rejects one byte more with invalid_param', async () => {
        const base = encode(Object.entries(t.signed())) + '&pad=';
        const exact = base + 'p'.repeat(BODY_LIMIT - base.length);
        expect(exact.length).toBe(BODY_LIMIT);
        expectOk(await postRaw(t, 'cities', exact));
        const over = encode(Object.entries(t.signed())) + '&pad=';
        expectInvalid(await postRaw(t, 'cities', over + 'p'.repeat(BODY_LIMIT - over.length + 1)));
      });

      it('rejects an oversized purchase in any body type without storing it', async () => {
        const before = await storedRows(t);
        const params = t.signed(undefined, { cinema_id: '1001', count: '1' });
        const pad = 'p'.repeat(BODY_LIMIT);
        expectInvalid(await postRaw(t, 'buyByCinema', encode([...Object.entries(params), ['pad', pad]])));
        expectInvalid(
          await postRaw(t, 'buyByCinema', JSON.stringify({ ...params, pad }), {
            'content-type': 'application/json',
          }),
        );
        const mp = await multipartOf([...Object.entries(params), ['pad', pad]]);
        expectInvalid(await postRaw(t, 'buyByCinema', mp.payload, mp.headers));
        const file = await multipartOf([...Object.entries(params), ['pad', new Blob([pad]), 'pad.bin']]);
        expectInvalid(await postRaw(t, 'buyByCinema', file.payload, file.headers));
        // Streamed without a Content-Length, so only counting the parts can catch it.
        const many = rawMultipart([
          ...fieldsOf(params),
          ...Array.from({ length: 20 }, (_, i) => ({ name: `pad${i}`, value: 'p'.repeat(1000) })),
        ]);
        expectInvalid(await postRaw(t, 'buyByCinema', Readable.from([many]), MULTIPART));
        expect(await storedRows(t)).toEqual(before);
      });

      it('rejects JSON, text, XML and untyped bodies even when correctly signed', async () => {
        const before = await storedRows(t);
        const params = t.signed(undefined, { cinema_id: '1001', count: '1' });
        const bodies: [Record<string, string>, string][] = [
          [{ 'content-type': 'application/json' }, JSON.stringify(params)],
          [{ 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(params)],
          [{ 'content-type': 'application/json' }, '{"partner_id":'],
          [{ 'content-type': 'text/plain' }, encode(Object.entries(params))],
          [{ 'content-type': 'text/plain; charset=utf-8' }, 'hello'],
          [{ 'content-type': 'application/xml' }, '<request><partner_id>CS000001</partner_id></request>'],
          [{ 'content-type': 'application/octet-stream' }, encode(Object.entries(params))],
          [{ 'content-type': 'text/html' }, '<script>alert(1)</script>'],
          [{}, encode(Object.entries(params))],
          [{ 'content-type': ';;;' }, encode(Object.entries(params))],
        ];
        for (const [headers, body] of bodies) {
          expectInvalid(await postRaw(t, 'buyByCinema', body, headers));
          expectInvalid(await postRaw(t, 'buyByCinema', body, { ...headers, accept: 'application/json' }));
        }
        expect(await storedRows(t)).toEqual(before);
      });
    });

    describe('multipart/form-data', () => {
      it('serves a correctly signed call sent as multipart, reads and purchases alike', async () => {
        const cities = await multipartOf(Object.entries({ ...t.signed(), format: 'json' }));
        const env = expectOk(await postRaw(t, 'cities', cities.payload, cities.headers));
        expect((env.data as { cities: { code_id: string }[] }).cities.map((c) => c.code_id)).toEqual([
          '001',
          '002',
        ]);
        const before = await storedRows(t);
        const buy = await multipartOf(Object.entries(t.signed(undefined, { cinema_id: '1001', count: '3' })));
        const card = expectOk(await postRaw(t, 'buyByCinema', buy.payload, buy.headers));
        expect(card.data).toMatchObject({ card: { cinema_id: '1001', count: '3', total_price: '105.00' } });
        expect((await storedRows(t)).cards).toBe(before.cards + 1);
      });

      it('rejects a repeated multipart field and ignores file parts', async () => {
        const before = await storedRows(t);
        const params = t.signed(undefined, { cinema_id: '1001', count: '1' });
        const dup = await multipartOf([...Object.entries(params), ['count', '2']]);
        expectInvalid(await postRaw(t, 'buyByCinema', dup.payload, dup.headers), 'count');
        const dupHash = await multipartOf([...Object.entries(t.signed()), ['hashcode', '0'.repeat(32)]]);
        expectInvalid(await postRaw(t, 'cities', dupHash.payload, dupHash.headers), 'hashcode');
        // A parameter sent only as a file is not a parameter.
        const { hashcode, ...unsigned } = t.signed();
        const asFile = await multipartOf([
          ...Object.entries(unsigned),
          ['hashcode', new Blob([hashcode!]), 'hashcode.txt'],
        ]);
        expectInvalid(await postRaw(t, 'cities', asFile.payload, asFile.headers), 'hashcode');
        expect(await storedRows(t)).toEqual(before);
        const withFile = await multipartOf([
          ...Object.entries(t.signed()),
          ['upload', new Blob(['#!/bin/sh\nrm -rf /\n']), '../../etc/passwd'],
        ]);
        expectOk(await postRaw(t, 'cities', withFile.payload, withFile.headers));
      });

      it('answers malformed multipart bodies with invalid_param, never 5xx or a hang', async () => {
        const before = await storedRows(t);
        const params = t.signed(undefined, { cinema_id: '1001', count: '1' });
        const good = rawMultipart(fieldsOf(params));
        const bodies: [Record<string, string>, Buffer][] = [
          [{ 'content-type': 'multipart/form-data' }, good],
          [{ 'content-type': 'multipart/form-data; boundary=' }, good],
          [{ 'content-type': 'multipart/form-data; boundary=other' }, good],
          [MULTIPART, Buffer.from('not multipart at all')],
          [MULTIPART, Buffer.alloc(0)],
          [MULTIPART, good.subarray(0, Math.floor(good.length / 2))],
          [MULTIPART, rawMultipart([...fieldsOf(params), { name: '__proto__', value: 'x' }])],
          [MULTIPART, rawMultipart([...fieldsOf(params), { name: 'constructor', value: 'x' }])],
          [
            MULTIPART,
            rawMultipart([
              ...fieldsOf(params),
              ...Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, value: 'x' })),
            ]),
          ],
          [MULTIPART, rawMultipart([...fieldsOf(params), { name: 'x'.repeat(20_000), value: 'x' }])],
        ];
        for (const [i, [headers, body]] of bodies.entries()) {
          const res = await postRaw(t, 'buyByCinema', body, headers);
          expect(res.status, `body ${i}`).toBe(400);
          expectInvalid(res);
        }
        expect(await storedRows(t)).toEqual(before);
        // Only the closing delimiter missing: every part is complete, so the plugin serves it.
        // Whatever the answer, it is an envelope and never a 5xx or a hang.
        const unclosed = await postRaw(t, 'buyByCinema', rawMultipart(fieldsOf(params), false), MULTIPART);
        expect([200, 400]).toContain(envelopeOf(unclosed).code);
      });
    });

    describe('HTTP method and interface name', () => {
      it('answers GET, PUT, DELETE, PATCH, OPTIONS and HEAD on every interface with 405 and Allow: POST', async () => {
        for (const name of INTERFACES) {
          for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const) {
            const res = await send(t, { method, url: `/movTicket/${name}` });
            expectError(res, 405, 'method_not_allowed');
            expect(res.headers.allow).toBe('POST');
          }
          const head = await send(t, { method: 'HEAD', url: `/movTicket/${name}` });
          expect(head.status).toBe(405);
          expect(head.headers.allow).toBe('POST');
        }
      });

      it('answers 404 no_such_method to unknown interfaces, path tricks and wrong case', async () => {
        const paths = [
          '/movTicket/nope',
          '/movTicket/../etc/passwd',
          '/movTicket/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
          '/movTicket/..%2f..%2fetc%2fpasswd',
          '/movTicket/cities/extra',
          '/movTicket/cities/../cities/x',
          '/movTicket/Cities',
          '/movTicket/CITIES',
          '/movTicket/payByCARD',
          '/movticket/cities',
          '/MovTicket/cities',
          '/movTicket/cities%00',
          '/movTicket/%FF%FE',
          '/movTicket/%E4%B8',
          '/movTicket/' + 'a'.repeat(500),
          '/movTicket/',
          '/movTicket',
          '/movTicket//cities',
          '/movTicket/__proto__',
          '/movTicket/constructor',
          '/movTicket/toString',
          '/movTicket/hasOwnProperty',
          '/etc/passwd',
        ];
        for (const url of paths) {
          for (const accept of ['application/json', '*/*']) {
            const payload = encode(Object.entries(t.signed()));
            expectError(
              await send(t, { method: 'POST', url, headers: { ...FORM, accept }, payload }),
              404,
              'no_such_method',
            );
          }
        }
      });
    });

    describe('format, ver, timestamp, hashcode', () => {
      it('rejects a format other than json or xml with invalid_param rendered as XML', async () => {
        for (const format of ['yaml', 'JSON', 'Xml', '', 'json ', 'html', 'json,xml']) {
          for (const headers of [FORM, { ...FORM, accept: 'application/json' }]) {
            const res = await t.post('cities', { ...t.signed(), format }, headers);
            expect(res.headers['content-type']).toBe('application/xml; charset=utf-8');
            expectInvalid(res, 'format');
          }
        }
        const query = await send(t, {
          method: 'POST',
          url: '/movTicket/cities?format=yaml',
          headers: { ...FORM, accept: 'application/json' },
          payload: encode(Object.entries(t.signed())),
        });
        expect(query.headers['content-type']).toBe('application/xml; charset=utf-8');
        expectInvalid(query, 'format');
      });

      it('answers a correctly signed unsupported ver with unsupported_version, malformed ones with invalid_param', async () => {
        for (const ver of ['2000', '0999', '9999', '1001']) {
          expectError(await t.post('cities', signedWith(t, { ver })), 400, 'unsupported_version', 'ver');
        }
        for (const ver of ['100', '10000', 'abcd', '1e3', ' 1000', '1000 ', '-100', '１０００']) {
          expectInvalid(await t.post('cities', signedWith(t, { ver })), 'ver');
        }
      });

      it('rejects a correctly signed timestamp that is no real time (month 13, Feb 30, hour 24, …)', async () => {
        const bad = [
          '20251301120000',
          '20250001120000',
          '20250230120000',
          '20250132120000',
          '20250101240000',
          '20250101126000',
          '20250101120060',
          '2025010112000',
          '202501011200001',
          '20250101120000001',
          '2025-01-01 12:00:00',
          '2025010112000a',
          '-2025010112000',
          '１２３４５６７８９０１２３４',
        ];
        for (const timestamp of bad) {
          expectInvalid(await t.post('cities', signedWith(t, { timestamp })), 'timestamp');
        }
        // A real leap day is well-formed: it fails only the window.
        expectError(
          await t.post('cities', signedWith(t, { timestamp: '20240229120000' })),
          401,
          'timestamp_expired',
        );
      });

      it('accepts an upper- or mixed-case hashcode and rejects malformed ones as invalid_param', async () => {
        const upper = t.signed();
        expectOk(await t.post('cities', { ...upper, hashcode: upper.hashcode!.toUpperCase() }));
        const mixed = t.signed();
        const h = mixed.hashcode!;
        const mixedCase = [...h].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');
        expectOk(await t.post('cities', { ...mixed, hashcode: mixedCase }));
        for (const hashcode of [
          h.slice(1),
          h + '0',
          'g' + h.slice(1),
          ` ${h.slice(1)}`,
          h.slice(0, 31) + '\n',
        ]) {
          expectInvalid(await t.post('cities', { ...t.signed(), hashcode }), 'hashcode');
        }
      });
    });

    describe('own parameter rules', () => {
      it('rejects count 0, 51, 01, +1, 1.0, " 1" and other non-canonical integers, storing nothing', async () => {
        const before = await storedRows(t);
        const counts = [
          '0',
          '51',
          '01',
          '+1',
          '1.0',
          ' 1',
          '1 ',
          '-1',
          '1e1',
          '0x1',
          '１',
          '١',
          '1,0',
          '100',
          '5O',
          '\t1',
        ];
        for (const count of counts) {
          expectInvalid(
            await t.post('buyByCinema', t.signed(undefined, { cinema_id: '1001', count })),
            'count',
          );
          expectInvalid(await t.post('buyByKind', t.signed(undefined, { kind_id: 'K2D', count })), 'count');
        }
        expectInvalid(
          await t.post('buyByCinema', t.signed(undefined, { cinema_id: '1001', count: '' })),
          'count',
        );
        expect(await storedRows(t)).toEqual(before);
        for (const count of ['1', '9', '10', '50']) {
          expectOk(await t.post('buyByCinema', t.signed(undefined, { cinema_id: '1001', count })));
        }
        expect((await storedRows(t)).cards).toBe(before.cards + 4);
      });

      it('rejects mobile variants that are not 1[3-9] + 9 digits, leaving the card unpaid', async () => {
        const card = await newCard();
        const before = await storedRows(t);
        const mobiles = [
          '12812345678',
          '10812345678',
          '1381234567',
          '138123456789',
          '+8613812345678',
          '8613812345678',
          '013812345678',
          '138-1234-5678',
          '138 1234 5678',
          ' 13812345678',
          '13812345678\n',
          '１３８１２３４５６７８',
          'abcdefghijk',
          '1381234567a',
        ];
        for (const mobile of mobiles) {
          expectInvalid(await t.post('payByCard', t.signed(undefined, { card_no: card, mobile })), 'mobile');
        }
        expectInvalid(await t.post('payByCard', t.signed(undefined, { card_no: card })), 'mobile');
        expect(await storedRows(t)).toEqual(before);
        expect((await t.client.status({ cardNo: card })).card.status).toBe('inactive');

        expectOk(await t.post('payByCard', t.signed(undefined, { card_no: card, mobile: '19912345678' })));
        const paid = await storedRows(t);
        for (const mobile of mobiles) {
          expectInvalid(await t.post('resendSms', t.signed(undefined, { card_no: card, mobile })), 'mobile');
        }
        expect(await storedRows(t)).toEqual(paid);
      });

      it('rejects total_price 35.001, -1 and other non-amounts before comparing prices', async () => {
        const card = await newCard();
        const before = await storedRows(t);
        const prices = [
          '35.001',
          '-1',
          '-35.00',
          '35.',
          '.5',
          '035.00',
          '35,00',
          '1e3',
          'Infinity',
          'NaN',
          '35.00 ',
          '３５',
          '0x23',
          '9999999999',
        ];
        for (const total_price of prices) {
          const res = await t.post(
            'payByCard',
            t.signed(undefined, { card_no: card, mobile: MOBILE, total_price }),
          );
          expectInvalid(res, 'total_price');
        }
        expect(await storedRows(t)).toEqual(before);
        const mismatch = await t.post(
          'payByCard',
          t.signed(undefined, { card_no: card, mobile: MOBILE, total_price: '34.99' }),
        );
        expectError(mismatch, 406, 'price_mismatch');
        expectOk(
          await t.post(
            'payByCard',
            t.signed(undefined, { card_no: card, mobile: MOBILE, total_price: '35' }),
          ),
        );
      });

      it('rejects a reason over 100 characters or with control characters; 100 CJK characters pass', async () => {
        const card = await newCard();
        const before = await storedRows(t);
        const reasons = [
          'r'.repeat(101),
          '丢'.repeat(101),
          '😀'.repeat(101),
          'lost\u0000',
          'bell\u0007',
          'back\bspace',
          'tab\there',
          'line\nbreak',
          'carriage\rreturn',
          '\u001b[31mred',
          'del\u007f',
          'nel\u0085',
          'c1\u009f',
          'nonchar\uFFFE',
          'nonchar\uFFFF',
        ];
        for (const reason of reasons) {
          expectInvalid(await t.post('ban', t.signed(undefined, { card_no: card, reason })), 'reason');
        }
        expect(await storedRows(t)).toEqual(before);
        expect((await t.client.status({ cardNo: card })).card.status).toBe('inactive');
        expectOk(await t.post('ban', t.signed(undefined, { card_no: card, reason: '丢'.repeat(100) })));
        const emoji = await newCard();
        expectOk(await t.post('ban', t.signed(undefined, { card_no: emoji, reason: '😀'.repeat(100) })));
      });
    });

    describe('validation order', () => {
      it('answers a bad signature before bad business parameters', async () => {
        const before = await storedRows(t);
        const badOwn: [string, Record<string, string>][] = [
          ['buyByCinema', { cinema_id: "' OR 1=1 --", count: '0' }],
          ['buyByKind', { kind_id: 'K2D', count: '51', order_no: 'x'.repeat(40) }],
          ['payByCard', { card_no: '1', mobile: '2', total_price: '-1' }],
          ['ban', { card_no: 'x'.repeat(10_000), reason: 'r'.repeat(200) }],
          ['status', { card_no: '<script>' }],
        ];
        for (const [method, own] of badOwn) {
          const wrongKey = t.signed(undefined, own, { md5key: 'not the key' });
          expectError(await t.post(method, wrongKey), 401, 'invalid_signature');
          const zeroHash = { ...t.signed(undefined, own), hashcode: '0'.repeat(32) };
          expectError(await t.post(method, zeroHash), 401, 'invalid_signature');
          // Without a hashcode at all, the missing signature is named, not the business parameter.
          const unsigned = t.signed(undefined, own);
          delete unsigned.hashcode;
          const message = expectInvalid(await t.post(method, unsigned), 'hashcode');
          for (const name of Object.keys(own)) expect(message).not.toContain(name);
        }
        expect(await storedRows(t)).toEqual(before);
      });

      it('in full sign mode, a tampered own parameter is a signature error, not a range error', async () => {
        await makePartner(t.db, {
          partnerId: 'FM000001',
          busId: '7000001',
          secId: 'full',
          md5key: 'fullkey',
          signMode: 'full',
        });
        await t.app.registry.reload();
        const spec = {
          partnerId: 'FM000001',
          busId: '7000001',
          secId: 'full',
          md5key: 'fullkey',
          signMode: 'full',
        } as const;
        const ok = t.signed(undefined, { cinema_id: '1001', count: '1' }, spec);
        expectError(await t.post('buyByCinema', { ...ok, count: '0' }), 401, 'invalid_signature');
        const signedBad = t.signed(undefined, { cinema_id: '1001', count: '0' }, spec);
        expectInvalid(await t.post('buyByCinema', signedBad), 'count');
      });

      it('answers common-parameter failures in contract order', async () => {
        // unsupported ver before unknown partner, unknown partner before signature, window before own params
        expectError(
          await t.post('cities', { ...t.signed(undefined, {}, { partnerId: 'ZZ999999' }), ver: '2000' }),
          400,
          'unsupported_version',
        );
        expectError(
          await t.post('cities', {
            ...t.signed(undefined, {}, { partnerId: 'ZZ999999' }),
            hashcode: '0'.repeat(32),
          }),
          401,
          'unknown_partner',
        );
        const stale = signedWith(t, { timestamp: '20120101000000' }, { cinema_id: '1001', count: '0' });
        expectError(await t.post('buyByCinema', stale), 401, 'timestamp_expired');
      });

      it('answers an unknown interface with 404 whatever the body, and a non-POST with 405', async () => {
        const bad = encode([...Object.entries(t.signed()), ['hashcode', 'x'], ['count', '0']]);
        const huge = 'x=' + 'y'.repeat(BODY_LIMIT * 2);
        const bodies: [Record<string, string>, string][] = [
          [FORM, bad],
          [FORM, huge],
          [{ 'content-type': 'application/json' }, '{"broken"'],
          [{ 'content-type': 'text/plain' }, 'hello'],
          [MULTIPART, 'garbage'],
          [{ 'content-type': ';;;' }, 'a=b'],
        ];
        for (const [headers, payload] of bodies) {
          for (const method of ['POST', 'PUT', 'GET'] as const) {
            for (const url of ['/movTicket/nope', '/movTicket/cities/extra', '/movTicket/Cities']) {
              expectError(await send(t, { method, url, headers, payload }), 404, 'no_such_method');
            }
          }
          for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'GET'] as const) {
            const res = await send(t, { method, url: '/movTicket/buyByCinema', headers, payload });
            expectError(res, 405, 'method_not_allowed');
            expect(res.headers.allow).toBe('POST');
          }
        }
      });
    });

    it('survives 300 seeded random mutations of valid signed requests with contract envelopes only', async () => {
      const SEED = 0x5eed_2024;
      const rnd = prng(SEED);
      const cards = await Promise.all([1, 2, 3, 4, 5, 6].map(() => newCard()));
      const paid = await newCard();
      await t.client.payByCard({ cardNo: paid, mobile: MOBILE });
      const own = (method: (typeof INTERFACES)[number]): Record<string, string> => {
        const card = rnd.next() < 0.5 ? paid : rnd.pick(cards);
        switch (method) {
          case 'regionsByCity':
            return { city_id: rnd.pick(['001', '002', '999']) };
          case 'cinemasByRegion':
            return { region_id: rnd.pick(['001001', '002001', '003001']) };
          case 'buyByCinema':
            return {
              cinema_id: rnd.pick(['1001', '2001', '3001']),
              count: String(1 + rnd.int(50)),
              order_no: 'o1',
            };
          case 'cinemasByKind':
            return { kind_id: 'K2D', city_id: '001' };
          case 'buyByKind':
            return { kind_id: rnd.pick(['K2D', 'K3D']), count: String(1 + rnd.int(50)) };
          case 'payByCard':
            return { card_no: card, mobile: MOBILE, total_price: '35.00' };
          case 'status':
            return { card_no: card };
          case 'ban':
            return { card_no: card, reason: 'fuzz' };
          case 'resendSms':
            return { card_no: paid, mobile: '13912345678' };
          default:
            return {};
        }
      };
      const ALPHABET = [
        'a',
        'Z',
        '0',
        '9',
        '&',
        '=',
        '%',
        '+',
        ' ',
        ';',
        '\0',
        '\n',
        '"',
        "'",
        '<',
        '>',
        '丢',
        '😀',
        '\uFFFD',
      ];
      const randomRaw = (): string => {
        const kind = rnd.int(4);
        const len = rnd.int(kind === 3 ? 20_000 : 40);
        if (kind === 0) {
          // random bytes, percent-encoded: mostly invalid UTF-8
          return Array.from({ length: len }, () => `%${rnd.int(256).toString(16).padStart(2, '0')}`).join('');
        }
        if (kind === 1) return Array.from({ length: len }, () => rnd.pick(ALPHABET)).join('');
        if (kind === 2)
          return encodeURIComponent(Array.from({ length: len }, () => rnd.pick(ALPHABET)).join(''));
        return 'x'.repeat(len);
      };
      /** Mutates encoded entries; `ownOnly` spares the signed common ones so the request goes deeper. */
      const mutate = (entries: Entries, ownOnly: boolean): Entries => {
        const out = entries.map(([k, v]): [string, string] => [encodeURIComponent(k), encodeURIComponent(v)]);
        const steps = 1 + rnd.int(3);
        for (let s = 0; s < steps; s++) {
          const pool = out.flatMap(([k], i) => (ownOnly && COMMON.some((c) => c === k) ? [] : [i]));
          const i = pool.length > 0 ? rnd.pick(pool) : out.length;
          const entry = out[i];
          if (!entry) {
            out.push([randomRaw(), randomRaw()]);
            continue;
          }
          switch (rnd.int(7)) {
            case 0:
              entry[1] = randomRaw();
              break;
            case 1:
              entry[1] = entry[1].slice(0, rnd.int(entry[1].length + 1));
              break;
            case 2:
              out.push([entry[0], rnd.next() < 0.5 ? entry[1] : randomRaw()]);
              break;
            case 3:
              out.splice(i, 1);
              break;
            case 4:
              entry[0] = rnd.next() < 0.5 ? entry[0].toUpperCase() : randomRaw();
              break;
            case 5:
              entry[1] = entry[1] + randomRaw();
              break;
            default:
              out.push([randomRaw(), randomRaw()]);
          }
        }
        return out;
      };
      const CONTENT_TYPES = [
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded; charset=utf-8',
        'application/json',
        'text/plain',
        `multipart/form-data; boundary=${BOUNDARY}`,
        '',
      ];

      const before = await storedRows(t);
      let successes = 0;
      let purchases = 0;
      const seen = new Map<number, number>();
      for (let i = 0; i < 300; i++) {
        const method = rnd.pick(INTERFACES);
        const signed = t.signed(undefined, own(method));
        const ownOnly = rnd.next() < 0.4;
        const entries = mutate(
          [...Object.entries(signed), ...(rnd.next() < 0.3 ? [['format', 'json']] : [])] as Entries,
          ownOnly,
        );
        let body = entries.map(([k, v]) => `${k}=${v}`).join('&');
        if (!ownOnly && rnd.next() < 0.2) body = body.slice(0, rnd.int(body.length + 1));
        if (!ownOnly && rnd.next() < 0.1) {
          const at = rnd.int(body.length + 1);
          body = body.slice(0, at) + randomRaw() + body.slice(at);
        }
        const r = rnd.next();
        const contentType = r < 0.8 ? CONTENT_TYPES[0]! : rnd.pick(CONTENT_TYPES);
        const payload = contentType.startsWith('multipart/')
          ? rawMultipart(entries.map(([name, value]) => ({ name: decodeURIComponentSafe(name), value })))
          : body;
        const httpMethod = rnd.next() < 0.9 ? 'POST' : rnd.pick(['GET', 'PUT', 'DELETE', 'PATCH'] as const);
        const path =
          rnd.next() < 0.93
            ? method
            : rnd.pick([method.toUpperCase(), `${method}/x`, `${method}%00`, '..%2f']);
        const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
        if (rnd.next() < 0.3) headers.accept = 'application/json';
        const res = await postRaw(t, path, payload, headers, httpMethod);
        const where = `case ${i} (seed ${SEED}): ${httpMethod} ${path} ${contentType} ${body.slice(0, 300)}`;
        expect(res.status, where).toBeLessThan(500);
        expect(CLIENT_STATUSES.has(res.status), where).toBe(true);
        const env = envelopeOf(res);
        expect(env.code, where).toBe(res.status);
        if (res.status === 200) {
          expect(env.data, where).toBeTypeOf('object');
          successes++;
          if (method === 'buyByCinema' || method === 'buyByKind') purchases++;
        } else {
          expect(CONTRACT_ERRORS[env.error?.type ?? ''], where).toBe(res.status);
        }
        expectNoLeak(res.body);
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      }
      // Only answered requests leave answers: one req_id answer each, one card per purchase.
      const after = await storedRows(t);
      expect(after.cards - before.cards).toBe(purchases);
      expect(after.requests - before.requests).toBe(successes);
      // The mutations reach more than the first check.
      expect(seen.size).toBeGreaterThanOrEqual(4);
    });
  });
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
