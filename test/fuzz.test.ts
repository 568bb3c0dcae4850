import fc from 'fast-check';
import { sql } from 'kysely';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { BOUND_CODE } from '../src/db/request.repository.js';
import { ERROR_STATUS } from '../src/errors.js';
import { INTERFACES } from '../src/http/partner/interfaces.js';
import { type AdminResponse, adminCall, makeUser, signIn } from './support/admin.js';
import { engines } from './support/engines.js';
import { makeTestApp, nextReqId, type TestApp } from './support/harness.js';

/*
 * Property-based fuzzing of the partner interfaces and the admin API. Budget per run: 6 000
 * partner requests on SQLite (always) and 4 000 on PostgreSQL when TEST_DATABASE_URL is set,
 * plus 600 / 300 admin API requests; with SQLite alone the partner budget rises to 10 000, so
 * every run sends at least 10 000 generated requests. The seed is random per run; a failure
 * prints it for replay (fc.assert reports `seed` and `path`).
 */
const ENGINES = engines();
const PARTNER_RUNS = (engine: string) =>
  ENGINES.length === 1 ? 10_000 : engine === 'sqlite' ? 6_000 : 4_000;
const ADMIN_RUNS = (engine: string) => (engine === 'sqlite' ? 600 : 300);
const MIN_TOTAL = 10_000;

const xml = new XMLParser({ parseTagValue: false, ignoreAttributes: true });
const ERROR_TYPES: Readonly<Record<string, number>> = ERROR_STATUS;
const NAMES = [...INTERFACES.keys()];
const MUTATING = new Set(NAMES.filter((n) => INTERFACES.get(n)!.mutates));

let generated = 0;
/** Partner fuzz tests that ran to the end (all engines' unless filtered with -t). */
let partnerRunsDone = 0;

/** Outcomes of the signed partner cases, by `status type`, to show the fuzzer gets past the signature. */
function tally(outcomes: Map<string, number>, res: { statusCode: number; body: string }): void {
  const type = /"type":"([a-z_]+)"|<type>([a-z_]+)<\/type>/.exec(res.body);
  const key = `${res.statusCode} ${type?.[1] ?? type?.[2] ?? ''}`.trim();
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
}

/** Checks one partner answer against the contract: no 5xx, status = code, a closed-list type. */
function checkEnvelope(res: { statusCode: number; body: string; headers: Record<string, unknown> }): void {
  expect(res.statusCode, res.body).toBeLessThan(500);
  const type = String(res.headers['content-type'] ?? '');
  let code: number;
  let error: { type?: unknown; message?: unknown } | undefined;
  let hasData: boolean;
  if (type.startsWith('application/json')) {
    const env = JSON.parse(res.body) as { code: unknown; data?: unknown; error?: typeof error };
    expect(typeof env.code).toBe('number');
    code = env.code as number;
    error = env.error;
    hasData = env.data !== undefined;
  } else {
    expect(type.startsWith('application/xml'), `content-type ${type}`).toBe(true);
    expect(XMLValidator.validate(res.body)).toBe(true);
    const doc = xml.parse(res.body) as {
      response?: { code?: string; data?: unknown; error?: typeof error };
    };
    expect(doc.response).toBeDefined();
    code = Number(doc.response!.code);
    error = doc.response!.error;
    hasData = doc.response!.data !== undefined;
  }
  expect(code).toBe(res.statusCode);
  if (code === 200) {
    expect(hasData).toBe(true);
  } else {
    expect(error, res.body).toBeDefined();
    expect(typeof error!.message).toBe('string');
    expect(ERROR_TYPES[String(error!.type)], res.body).toBe(code);
  }
}

interface Counts {
  cards: number;
  card_events: number;
  sms_messages: number;
}

async function counts(t: TestApp): Promise<Counts> {
  const { rows } = await sql<Record<keyof Counts, number | string>>`select
      (select count(*) from cards) as cards,
      (select count(*) from card_events) as card_events,
      (select count(*) from sms_messages) as sms_messages`.execute(t.db.kysely);
  const r = rows[0]!;
  return { cards: Number(r.cards), card_events: Number(r.card_events), sms_messages: Number(r.sms_messages) };
}

/** The `code` stored under a req_id of the default partner, if any. */
async function storedCode(t: TestApp, reqId: string): Promise<number | undefined> {
  const row = await t.db.kysely
    .selectFrom('requests')
    .select('code')
    .where('partner_id', '=', 'CS000001')
    .where('req_id', '=', reqId)
    .executeTakeFirst();
  return row?.code;
}

// ---- generators --------------------------------------------------------------------------

const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.stringMatching(/^[0-9]{0,20}$/),
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    '1e9',
    'NaN',
    '35.00',
    '0.001',
    '999999999.99',
    '１２',
    '\u0000',
    '\r\n',
  ),
  fc.constantFrom("' or 1=1 --", '<x>&amp;</x>', ']]>', '%00', '../../etc/passwd', '${x}', '{"a":1}'),
  fc.nat({ max: 40_000 }).map((n) => 'x'.repeat(n)),
  fc
    .array(fc.integer({ min: 0, max: 31 }), { minLength: 1, maxLength: 8 })
    .map((cs) => String.fromCharCode(...cs)),
);

/** Values that reach business logic: real catalog ids, real cards, valid mobiles. */
function ownValue(name: string, cards: readonly string[]): fc.Arbitrary<string> {
  const plausible: Record<string, readonly string[]> = {
    city_id: ['001', '002', '003', '999'],
    region_id: ['001001', '002001', '003001', 'nope'],
    cinema_id: ['1001', '1002', '3001', '9999'],
    kind_id: ['K2D', 'K3D', 'K9'],
    count: ['1', '2', '50', '51', '0'],
    order_no: ['ORD-1', 'a_b'],
    card_no: [...cards, '6281234567890123'],
    mobile: ['13812345678', '19912345678', '12345678901'],
    total_price: ['35.00', '70.00', '0', '1.5'],
    reason: ['lost', '丢失', 'x'.repeat(100)],
  };
  const pool = plausible[name];
  return pool
    ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary: hostileString })
    : hostileString;
}

interface PartnerCase {
  name: string;
  reqId: string;
  /** False when the case reuses the previous case's req_id. */
  fresh: boolean;
  entries: [string, string][];
  format?: string;
  accept?: string;
}

/** `arb` one time in `n`, else null: each kind of damage is rare so most cases get past the signature. */
const rarely = <T>(arb: fc.Arbitrary<T>, n = 8): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** A validly signed (or deliberately broken) param list for an interface name, valid or not. */
function partnerCase(t: TestApp, cards: readonly string[]): fc.Arbitrary<PartnerCase> {
  let lastReqId: string | undefined;
  const name = fc.oneof(
    { weight: 16, arbitrary: fc.constantFrom(...NAMES) },
    { weight: 1, arbitrary: fc.constantFrom('Cities', 'pay', 'buyByCinema/', '', 'toString', '__proto__') },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  );
  return name.chain((n) => {
    const def = INTERFACES.get(n);
    const ownNames = def ? def.params.map((p) => p.name) : ['card_no'];
    const own = fc.record(
      Object.fromEntries(
        ownNames.map((p) => [
          p,
          fc.oneof(
            { weight: 5, arbitrary: ownValue(p, cards) },
            { weight: 1, arbitrary: fc.constant(undefined) },
          ),
        ]),
      ),
    ) as fc.Arbitrary<Record<string, string | undefined>>;
    return fc
      .record({
        name: fc.constant(n),
        own,
        signMode: fc.constantFrom<'basic' | 'full'>('basic', 'basic', 'basic', 'basic', 'full'),
        extra: fc.array(
          fc.tuple(fc.oneof(fc.constantFrom('x', 'callback', '__proto__'), hostileString), hostileString),
          { maxLength: 2 },
        ),
        drop: rarely(
          fc.constantFrom('partner_id', 'sec_id', 'bus_id', 'req_id', 'ver', 'timestamp', 'hashcode'),
        ),
        dup: rarely(fc.constantFrom('partner_id', 'req_id', 'hashcode', ...ownNames)),
        corrupt: rarely(
          fc.record({
            field: fc.constantFrom('partner_id', 'sec_id', 'bus_id', 'ver', 'timestamp', 'hashcode'),
            value: hostileString,
          }),
        ),
        shuffle: fc.boolean(),
        reuseReqId: rarely(fc.constant(true), 12),
        stale: rarely(fc.constantFrom('20120101000000', '2012030109241825', '20991231235959'), 15),
        format: rarely(fc.constantFrom('json', 'xml', 'JSON', 'html', ''), 3),
        accept: rarely(
          fc.constantFrom(
            'application/json',
            'application/xml',
            '*/*',
            'text/html, application/json;q=0.1',
            '',
          ),
        ),
      })
      .map((c) => {
        const fresh = !(c.reuseReqId && lastReqId);
        const reqId = fresh ? nextReqId() : lastReqId!;
        lastReqId = reqId;
        const ownEntries = Object.entries(c.own).filter((e): e is [string, string] => e[1] !== undefined);
        // Full mode signs the own params in table order; the default partner verifies basic mode,
        // so a full-mode hashcode is a wrong signature unless the own params are empty.
        const signed = t.signed(reqId, Object.fromEntries(ownEntries), {
          signMode: c.signMode,
          ...(c.stale ? { timestamp: c.stale } : {}),
        });
        let entries: [string, string][] = Object.entries(signed);
        if (c.corrupt) entries = entries.map(([k, v]) => [k, k === c.corrupt!.field ? c.corrupt!.value : v]);
        if (c.drop) entries = entries.filter(([k]) => k !== c.drop);
        if (c.dup) {
          const hit = entries.find(([k]) => k === c.dup);
          if (hit) entries.push([hit[0], hit[1]]);
        }
        entries.push(...c.extra);
        if (c.format !== null) entries.push(['format', c.format]);
        if (c.shuffle) entries.reverse();
        return { name: c.name, reqId, fresh, entries, accept: c.accept ?? undefined };
      });
  });
}

const HTTP_METHODS = ['POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const;
const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'application/x-www-form-urlencoded; charset=gbk',
  'multipart/form-data; boundary=XyZ',
  'multipart/form-data',
  'application/json',
  'text/plain',
  'application/xml',
  'application/octet-stream',
  '',
  ';;;',
];

interface RawCase {
  method: (typeof HTTP_METHODS)[number];
  url: string;
  contentType: string;
  body: string;
  accept?: string;
}

/** Raw requests: any HTTP method, path, content type and body — signed params encoded oddly too. */
function rawCase(t: TestApp): fc.Arbitrary<RawCase> {
  const path = fc.oneof(
    fc.constantFrom(...NAMES).map((n) => `/movTicket/${n}`),
    fc.constantFrom(...NAMES).map((n) => `/movTicket/${n}?format=json`),
    fc.constantFrom('/movTicket/', '/movTicket', '/movTicket/%ZZ', '/movTicket/%00', '/movTicket/a/b', '/'),
    fc.string({ maxLength: 30 }).map((s) => `/movTicket/${encodeURIComponent(s)}`),
    fc.nat({ max: 5000 }).map((n) => `/movTicket/${'a'.repeat(n)}`),
  );
  const multipart = (entries: [string, string][]) =>
    entries.map(([k, v]) => `--XyZ\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') +
    '--XyZ--\r\n';
  const body = fc.oneof(
    hostileString,
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.constant(null).map(() => new URLSearchParams(t.signed()).toString()),
    fc.constant(null).map(() => JSON.stringify(t.signed())),
    fc.constant(null).map(() => multipart(Object.entries(t.signed()))),
    fc.constantFrom('--XyZ\r\n', '--XyZ--', 'a=1&a=2&&=&%zz=%', '='.repeat(100)),
  );
  return fc.record({
    method: fc.constantFrom(...HTTP_METHODS),
    url: path,
    contentType: fc.constantFrom(...CONTENT_TYPES),
    body,
    accept: fc.option(fc.constantFrom('application/json', 'text/xml'), { nil: undefined }),
  });
}

// ---- admin -------------------------------------------------------------------------------

type AdminMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
/** Every admin API route but the session (the fuzzer must stay signed in). */
const ADMIN_ROUTES: [AdminMethod, string][] = [
  ['GET', '/admin/api/cards'],
  ['GET', '/admin/api/cards/:card'],
  ['POST', '/admin/api/cards/:card/ban'],
  ['POST', '/admin/api/cards/:card/resend'],
  ['GET', '/admin/api/sms'],
  ['GET', '/admin/api/catalog'],
  ['POST', '/admin/api/catalog/cities'],
  ['PATCH', '/admin/api/catalog/cities/:id'],
  ['POST', '/admin/api/catalog/regions'],
  ['PATCH', '/admin/api/catalog/regions/:id'],
  ['POST', '/admin/api/catalog/cinemas'],
  ['PATCH', '/admin/api/catalog/cinemas/:id'],
  ['POST', '/admin/api/catalog/cinemas/:id/activate'],
  ['POST', '/admin/api/catalog/cinemas/:id/deactivate'],
  ['POST', '/admin/api/catalog/kinds'],
  ['PATCH', '/admin/api/catalog/kinds/:id'],
  ['POST', '/admin/api/catalog/kinds/:id/activate'],
  ['POST', '/admin/api/catalog/kinds/:id/deactivate'],
  ['PUT', '/admin/api/catalog/kinds/:id/cinemas'],
  ['POST', '/admin/api/catalog/import'],
  ['GET', '/admin/api/partners'],
  ['GET', '/admin/api/partners/:partner'],
  ['POST', '/admin/api/partners'],
  ['PATCH', '/admin/api/partners/:partner'],
  ['POST', '/admin/api/partners/:partner/suspend'],
  ['POST', '/admin/api/partners/:partner/resume'],
  ['POST', '/admin/api/partners/:partner/grant'],
  ['POST', '/admin/api/partners/:partner/revoke'],
  ['PUT', '/admin/api/partners/:partner/callback'],
  ['GET', '/admin/api/partners/:partner/notify'],
  ['POST', '/admin/api/notify/:id/retry'],
  ['GET', '/admin/api/partners/:partner/keys'],
  ['POST', '/admin/api/partners/:partner/keys'],
  ['POST', '/admin/api/partners/:partner/keys/:id/revoke'],
  ['PUT', '/admin/api/partners/:partner/prices/:type/:id'],
  ['DELETE', '/admin/api/partners/:partner/prices/:type/:id'],
  ['GET', '/admin/api/redemption/cards/:card'],
  ['POST', '/admin/api/redemption/redemptions'],
  ['POST', '/admin/api/redemption/redemptions/:id/undo'],
  ['GET', '/admin/api/redemption/history'],
  ['GET', '/admin/api/redemption/totals'],
  ['GET', '/admin/api/reports/dashboard'],
  ['GET', '/admin/api/reports/statement'],
  ['GET', '/admin/api/audit'],
  ['GET', '/admin/api/users'],
  ['POST', '/admin/api/users'],
  ['POST', '/admin/api/users/:user/disable'],
  ['POST', '/admin/api/users/:user/enable'],
  ['PUT', '/admin/api/users/:user/password'],
  ['GET', '/admin/api/nope'],
];

const pathSegment = fc.oneof(
  fc.constantFrom('CS000001', 'MT000001', '1001', 'K2D', 'cinema', 'kind', '001', 'test', 'operator9'),
  fc.string({ maxLength: 20 }),
  fc.nat({ max: 3000 }).map((n) => '9'.repeat(n)),
);

const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(
    fc.constantFrom(
      'name',
      'prefix',
      'permissions',
      'ipAllow',
      'rateLimit',
      'url',
      'secId',
      'signMode',
      'priceFen',
      'marketPriceFen',
      'validDays',
      'codeId',
      'cityId',
      'regionId',
      'cinemaId',
      'kindId',
      'cinemaIds',
      'count',
      'cardNo',
      'password',
      'reason',
      'role',
      'username',
      'codeName',
      'remark',
      'sort',
      'csv',
      'mobile',
    ),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostileString, fc.integer(), fc.double()),
    { maxKeys: 6 },
  ),
);

interface AdminCase {
  method: AdminMethod;
  url: string;
  body?: string;
  contentType?: string;
}

const adminCase: fc.Arbitrary<AdminCase> = fc
  .record({
    route: fc.constantFrom(...ADMIN_ROUTES),
    segments: fc.array(pathSegment, { minLength: 3, maxLength: 3 }),
    query: fc.option(
      fc.dictionary(
        fc.constantFrom(
          'from',
          'to',
          'status',
          'partnerId',
          'cinemaId',
          'limit',
          'offset',
          'q',
          'cursor',
          'day',
        ),
        hostileString,
        { maxKeys: 3 },
      ),
      { nil: undefined },
    ),
    body: fc.option(
      fc.oneof(
        {
          weight: 4,
          arbitrary: jsonBody.map((b) => ({ body: JSON.stringify(b), contentType: 'application/json' })),
        },
        {
          weight: 1,
          arbitrary: fc.record({
            body: hostileString,
            contentType: fc.constantFrom(
              'application/json',
              'text/plain',
              'application/x-www-form-urlencoded',
              'text/csv',
            ),
          }),
        },
      ),
      { nil: undefined },
    ),
  })
  .map(({ route: [method, pattern], segments, query, body }) => {
    let i = 0;
    let url = pattern.replace(/:[a-z]+/g, () => encodeURIComponent(segments[i++]!));
    if (query) url += `?${new URLSearchParams(query).toString()}`;
    return { method, url, ...(body ?? {}) };
  });

function checkAdmin(res: AdminResponse): void {
  expect(res.status, res.body).toBeLessThan(500);
  if (res.status >= 400) {
    const err = res.json<{ error?: { code?: unknown; message?: unknown } }>().error;
    expect(err, res.body).toBeDefined();
    expect(typeof err!.code).toBe('string');
    expect(typeof err!.message).toBe('string');
  }
}

// ---- the properties ------------------------------------------------------------------------

afterAll(() => {
  if (partnerRunsDone === ENGINES.length) expect(generated).toBeGreaterThanOrEqual(MIN_TOTAL);
});

for (const engine of ENGINES) {
  describe(`hostile input fuzzing (${engine.name})`, () => {
    afterAll(() => engine.cleanup());

    it('answers every generated partner request below 500 with a valid envelope and stores no answer for what it rejects', async () => {
      const t = await makeTestApp(await engine.open());
      try {
        const cards: string[] = [];
        for (let i = 0; i < 3; i++) {
          const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
          cards.push(card.card_no);
        }
        await t.client.payByCard({ cardNo: cards[0]!, mobile: '13812345678' });

        const runs = PARTNER_RUNS(engine.name);
        const outcomes = new Map<string, number>();
        const signedRuns = Math.round(runs * 0.7);
        await fc.assert(
          fc.asyncProperty(partnerCase(t, cards), async (c) => {
            generated++;
            const before = await counts(t);
            const res = await t.app.fastify.inject({
              method: 'POST',
              url: `/movTicket/${encodeURIComponent(c.name)}`,
              headers: {
                'content-type': 'application/x-www-form-urlencoded',
                ...(c.accept !== undefined ? { accept: c.accept } : {}),
              },
              payload: new URLSearchParams(c.entries).toString(),
            });
            checkEnvelope(res);
            tally(outcomes, res);
            if (res.statusCode !== 200) {
              expect(await counts(t)).toEqual(before);
              // A rejected mutation stores no answer: at most its binding or its own refusal.
              if (c.fresh && MUTATING.has(c.name))
                expect([undefined, BOUND_CODE, res.statusCode]).toContain(await storedCode(t, c.reqId));
            }
          }),
          { numRuns: signedRuns },
        );
        // Signed cases reach the business rules: successes and business errors, not only 401s.
        expect(outcomes.get('200') ?? 0).toBeGreaterThan(signedRuns * 0.05);
        for (const type of [
          '400 invalid_param',
          '400 not_found',
          '401 invalid_signature',
          '401 timestamp_expired',
          '404 no_such_method',
          '406 card_state',
          '409 duplicate_req_id',
        ])
          expect(outcomes.get(type) ?? 0, type).toBeGreaterThan(0);
        await fc.assert(
          fc.asyncProperty(rawCase(t), async (c) => {
            generated++;
            const before = await counts(t);
            const res = await t.app.fastify.inject({
              method: c.method,
              url: c.url,
              headers: {
                ...(c.contentType ? { 'content-type': c.contentType } : {}),
                ...(c.accept ? { accept: c.accept } : {}),
              },
              ...(c.method === 'GET' || c.method === 'HEAD' ? {} : { payload: c.body }),
            });
            if (c.method === 'HEAD') expect(res.statusCode).toBeLessThan(500);
            else checkEnvelope(res);
            if (res.statusCode !== 200) expect(await counts(t)).toEqual(before);
          }),
          { numRuns: runs - signedRuns },
        );
        partnerRunsDone++;
      } finally {
        await t.close();
      }
    }, 120_000);

    it('answers an admin path segment over the router limit with the admin JSON error, not the envelope', async () => {
      const t = await makeTestApp(await engine.open());
      try {
        const session = await signIn(t, await makeUser(t, 'admin'));
        const res = await adminCall(t, 'PATCH', `/admin/api/catalog/cinemas/${'9'.repeat(101)}`, { session });
        expect(res.status).toBe(404);
        expect(res.json()).toEqual({ error: { code: 'not_found', message: 'not found' } });
      } finally {
        await t.close();
      }
    });

    it('answers every generated admin API request below 500, errors as {error:{code,message}}', async () => {
      const t = await makeTestApp(await engine.open());
      try {
        const session = await signIn(t, await makeUser(t, 'admin'));
        await fc.assert(
          fc.asyncProperty(adminCase, async (c) => {
            generated++;
            const res = await adminCall(t, c.method, c.url, {
              session,
              ...(c.body !== undefined ? { body: c.body } : {}),
              headers: c.contentType ? { 'content-type': c.contentType } : {},
            });
            checkAdmin(res);
          }),
          { numRuns: ADMIN_RUNS(engine.name) },
        );
      } finally {
        await t.close();
      }
    }, 120_000);
  });
}
