import type { AddressInfo } from 'node:net';
import { buildApp, type App } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import type { Db } from '../../src/db/database.js';
import { CardAdminService } from '../../src/domain/admin/card-admin.service.js';
import { ManualClock } from '../../src/domain/clock.js';
import { AppError } from '../../src/errors.js';
import { SecretBox } from '../../src/domain/secret-box.js';
import { computeHashcode, formatTimestamp, MovTicketClient, MovTicketError } from '../../src/client/index.js';
import type { SmsMessage, SmsSender } from '../../src/workers/sms-senders.js';
import { KEY, makeCatalog, makePartner, type PartnerSpec } from './factories.js';

/** Records messages; can be told to fail. */
export class FakeSms implements SmsSender {
  readonly name = 'fake';
  readonly sent: SmsMessage[] = [];
  attempts = 0;
  failing = false;
  async send(m: SmsMessage): Promise<void> {
    this.attempts++;
    if (this.failing) throw new Error('gateway down');
    this.sent.push(m);
  }
}

export interface TestApp {
  app: App;
  db: Db;
  clock: ManualClock;
  sms: FakeSms;
  /** The key the app seals card passwords with (a fresh one unless given). */
  secrets: SecretBox;
  /** A client for the default partner, going through `inject()`. */
  client: MovTicketClient;
  clientFor(
    spec: { partnerId: string; busId: string; secId: string; md5key: string; signMode?: 'basic' | 'full' },
    opts?: { format?: 'json' | 'xml' },
  ): MovTicketClient;
  /** Sends a raw form POST; `params` are sent in the order given. */
  post(
    method: string,
    params: Record<string, string> | [string, string][],
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }>;
  /** Common parameters for the default partner, signed (basic mode) for `now`. */
  signed(
    reqId?: string,
    extra?: Record<string, string>,
    spec?: {
      md5key?: string;
      partnerId?: string;
      secId?: string;
      busId?: string;
      signMode?: 'basic' | 'full';
      timestamp?: string;
    },
  ): Record<string, string>;
  close(): Promise<void>;
}

let reqCounter = 0;
export const nextReqId = () => `t${Date.now().toString(36)}${(reqCounter++).toString(36)}`.slice(0, 20);

/** Builds the app on `db` with the test catalog and the default partner CS000001 (basic, key KEY). */
export async function makeTestApp(
  db: Db,
  opts: { partner?: PartnerSpec; seed?: boolean; config?: Partial<Config>; secrets?: SecretBox } = {},
): Promise<TestApp> {
  if (opts.seed !== false) {
    await makeCatalog(db);
    await makePartner(db, opts.partner);
  }
  const clock = new ManualClock(Date.now());
  const sms = new FakeSms();
  const config = loadConfig({}, opts.config ?? {});
  const secrets = opts.secrets ?? SecretBox.generate();
  const app = await buildApp({ config, db, clock, sms, secrets });
  await app.fastify.ready();
  const fetchViaInject: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const res = await app.fastify.inject({
      method: (init?.method ?? 'GET') as 'POST',
      url: url.pathname + url.search,
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      payload: init?.body as string | undefined,
    });
    return new Response(res.body, { status: res.statusCode, headers: res.headers as Record<string, string> });
  };
  const clientFor: TestApp['clientFor'] = (spec, o = {}) =>
    new MovTicketClient({
      baseUrl: 'http://test.invalid',
      partnerId: spec.partnerId,
      busId: spec.busId,
      secId: spec.secId,
      md5key: spec.md5key,
      signMode: spec.signMode,
      format: o.format ?? 'json',
      fetch: fetchViaInject,
      now: () => new Date(clock.now()),
      retries: 0,
    });
  const signed: TestApp['signed'] = (reqId = nextReqId(), extra = {}, spec = {}) => {
    const common = {
      partner_id: spec.partnerId ?? 'CS000001',
      sec_id: spec.secId ?? 'test',
      bus_id: spec.busId ?? '1002758',
      req_id: reqId,
      ver: '1000',
      timestamp: spec.timestamp ?? formatTimestamp(new Date(clock.now()), 'Asia/Shanghai'),
    };
    const fields = [...Object.entries(common), ...Object.entries(extra)].map(([name, value]) => ({
      name,
      value,
    }));
    const hashcode = computeHashcode(spec.signMode ?? 'basic', fields, spec.md5key ?? KEY);
    return { ...common, ...extra, hashcode };
  };
  return {
    app,
    db,
    clock,
    sms,
    secrets,
    client: clientFor({
      partnerId: 'CS000001',
      busId: '1002758',
      secId: 'test',
      md5key: KEY,
      ...opts.partner,
    }),
    clientFor,
    signed,
    post: async (method, params, headers = {}) => {
      const entries = Array.isArray(params) ? params : Object.entries(params);
      const res = await app.fastify.inject({
        method: 'POST',
        url: `/movTicket/${method}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        payload: new URLSearchParams(entries).toString(),
      });
      return { status: res.statusCode, body: res.body, headers: res.headers };
    },
    close: async () => {
      await app.close();
      await db.close();
    },
  };
}

/** The code and type a channel call was refused with; fails if it was answered. */
export async function refusal(call: Promise<unknown>): Promise<{ code: number; type: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof MovTicketError) return { code: err.code, type: err.type };
    throw err;
  }
  throw new Error('the request was answered, not refused');
}

/** Serves `app` on a free port of 127.0.0.1; returns a client of the default partner over real HTTP. */
export async function listenWithClient(app: App, clock: { now(): number }): Promise<MovTicketClient> {
  await app.fastify.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.fastify.server.address() as AddressInfo).port;
  return new MovTicketClient({
    baseUrl: `http://127.0.0.1:${port}`,
    partnerId: 'CS000001',
    busId: '1002758',
    secId: 'test',
    md5key: KEY,
    now: () => new Date(clock.now()),
    retries: 0,
  });
}

/** The `AppError` a domain call was refused with; fails if the call succeeded. */
export async function appError(call: Promise<unknown>): Promise<AppError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

/** The card administration service (support desk, operators) on the test app's database and cards. */
export function cardAdminOf(t: TestApp, timeZone: string): CardAdminService {
  return new CardAdminService({
    db: t.db,
    clock: t.clock,
    timeZone,
    cards: t.app.cards,
    registry: t.app.registry,
  });
}
