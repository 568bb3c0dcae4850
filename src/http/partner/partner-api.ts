import type { Db } from '../../db/database.js';
import { AppError, contractError, invalidParam, missingParam, rateLimited } from '../../errors.js';
import { catalog } from '../../domain/catalog.service.js';
import type { CardService } from '../../domain/card.service.js';
import type { Clock } from '../../domain/clock.js';
import { parseYuan } from '../../domain/money.js';
import type { Partner, Registry, RegistrySnapshot } from '../../domain/registry.js';
import {
  answerHash,
  isDuplicateReqId,
  isFinalRefusal,
  paramsHash,
  type Outcome,
  type RequestKey,
  type RequestLog,
} from '../../domain/request-log.js';
import { hashcodeMatches, md5Hex, signedString } from '../../domain/sign.js';
import { parseTimestamp } from '../../domain/time.js';
import type { WireObject } from '../../domain/wire.js';
import { CONTENT_TYPE, errorResponse, type Format, renderData, wrapData } from '../envelope.js';
import type { SandboxService } from '../../domain/sandbox.service.js';
import {
  COMMON_RULES,
  INTERFACES,
  type InterfaceDef,
  SANDBOX_INTERFACES,
  SUPPORTED_VERSIONS,
} from './interfaces.js';
import { Deadlines } from './deadlines.js';
import { RateLimiter } from './rate-limit.js';

export interface PartnerRequest {
  method: string;
  httpMethod: string;
  /** Parsed body: a repeated parameter arrives as an array. `null` for an unsupported body. */
  params: Record<string, unknown> | null;
  queryFormat: unknown;
  accept: string | undefined;
  ip: string;
}

export interface PartnerResponse {
  status: number;
  contentType: string;
  body: string;
  headers: Record<string, string>;
  /** For the access log. */
  partnerId?: string;
  reqId?: string;
  /** The security config that signed the request, so operators can see when a rotated key is unused. */
  secId?: string;
  errorType?: string;
}

export interface PartnerApiDeps {
  db: Db;
  clock: Clock;
  registry: Registry;
  requestLog: RequestLog;
  cards: CardService;
  /** Present on a sandbox server only: its interfaces are unknown (404) without it. */
  sandbox?: SandboxService;
  timeZone: string;
  timestampWindowSec: number;
  /** A request still running after this long is answered 504; its work may still complete. */
  requestTimeoutMs: number;
  /** Called after a mutation that may have queued an SMS. */
  onMutation?: (method: string) => void;
  onInternalError: (err: unknown, req: PartnerRequest) => void;
}

type Params = Record<string, string>;

/** Filled in as a request is verified: the req_id binding once its signature and timestamp hold. */
interface Call {
  key?: RequestKey;
}

// Per interface, computed once: its own parameter names, and every name a request may carry.
const NAMES = new Map(
  [...INTERFACES.values(), ...SANDBOX_INTERFACES.values()].map((d) => {
    const own = d.params.map((p) => p.name);
    return [d.name, { own, known: [...COMMON_RULES.map((r) => r.name), ...own] }] as const;
  }),
);

/** Stands for a value the body parser could not decode as UTF-8 text (e.g. `%FF%FE`). */
export const MALFORMED_VALUE: unique symbol = Symbol('malformed value');

/** A read's answer; catalog answers are shared by reference and keep their XML once rendered. */
interface Cached extends Outcome {
  json: string;
  xml?: string;
}

function chooseFormat(
  params: Record<string, unknown> | null,
  queryFormat: unknown,
  accept: string | undefined,
) {
  const raw = params?.format ?? queryFormat;
  if (raw === undefined) {
    return { format: (accept?.includes('application/json') ? 'json' : 'xml') as Format };
  }
  if (raw === 'json' || raw === 'xml') return { format: raw as Format };
  return { format: 'xml' as Format, error: invalidParam('format', 'must be json or xml') };
}

/** The signed channel API: the contract's validation order, then the interface itself. */
export class PartnerApi {
  private readonly limiter = new RateLimiter();

  private readonly deadlines: Deadlines;

  constructor(private readonly deps: PartnerApiDeps) {
    this.deadlines = new Deadlines(deps.requestTimeoutMs);
  }

  async handle(req: PartnerRequest): Promise<PartnerResponse> {
    const { format, error: formatError } = chooseFormat(req.params, req.queryFormat, req.accept);
    let partnerId: string | undefined;
    let reqId: string | undefined;
    try {
      const def =
        INTERFACES.get(req.method) ?? (this.deps.sandbox ? SANDBOX_INTERFACES.get(req.method) : undefined);
      if (!def) throw contractError('no_such_method', `no such interface: ${req.method.slice(0, 64)}`);
      if (req.httpMethod !== 'POST') {
        throw contractError('method_not_allowed', `${req.method} accepts POST only`, { allow: 'POST' });
      }
      if (formatError) throw formatError;
      if (req.params === null) {
        throw contractError(
          'invalid_param',
          'unsupported request body: send application/x-www-form-urlencoded or multipart/form-data',
        );
      }
      const { params, timestampMs } = this.commonParams(req.params, def);
      partnerId = params.partner_id;
      reqId = params.req_id;
      const call: Call = {};
      try {
        const outcome = await this.withTimeout(this.authorizedCall(def, params, timestampMs, req, call));
        return { ...this.respond(outcome, format, params.partner_id!, params.req_id!), secId: params.sec_id };
      } catch (err) {
        // The work goes on and records what it comes to; should it never end, the req_id stays bound.
        if (call.key && err instanceof AppError && err.type === 'timeout')
          this.deps.requestLog.bind(call.key);
        throw err;
      }
    } catch (err) {
      return this.fail(err, format, req, partnerId, reqId);
    }
  }

  private withTimeout<T>(work: Promise<T>): Promise<T> {
    // The work goes on after a timeout; its late failure must not go unhandled.
    work.catch(() => {});
    return this.deadlines.within(work, () =>
      contractError(
        'timeout',
        'the request did not finish in time; retry with the same req_id to get its result',
      ),
    );
  }

  /** The known parameters and the parsed timestamp, checked up to `ver`. */
  private commonParams(
    raw: Record<string, unknown>,
    def: InterfaceDef,
  ): { params: Params; timestampMs: number } {
    const params: Params = {};
    for (const name of NAMES.get(def.name)!.known) {
      const v = raw[name];
      if (Array.isArray(v)) throw invalidParam(name, 'given more than once');
      if (v === MALFORMED_VALUE) throw invalidParam(name, 'must be UTF-8 text');
      if (v !== undefined) {
        if (typeof v !== 'string') throw invalidParam(name, 'must be text');
        params[name] = v;
      }
    }
    for (const rule of COMMON_RULES) {
      const v = params[rule.name];
      if (v === undefined || v === '') throw missingParam(rule.name);
      if (!rule.pattern.test(v)) throw invalidParam(rule.name, rule.rule);
    }
    const timestampMs = parseTimestamp(params.timestamp!, this.deps.timeZone);
    if (timestampMs === null) throw invalidParam('timestamp', 'is not a real date and time (YmdHis)');
    if (!SUPPORTED_VERSIONS.has(params.ver!)) {
      throw contractError('unsupported_version', `ver ${params.ver} is not supported; use 1000`);
    }
    return { params, timestampMs };
  }

  private async authorizedCall(
    def: InterfaceDef,
    params: Params,
    ts: number,
    req: PartnerRequest,
    call: Call,
  ): Promise<Outcome> {
    const { clock, registry, timestampWindowSec, requestLog } = this.deps;
    // Every change committed before this request (by any process) is seen by it.
    const snap = await registry.current();
    const partner = snap.partners.get(params.partner_id!);
    const sec = partner?.securityConfigs.get(params.sec_id!);
    if (!partner || !sec) throw contractError('unknown_partner', 'unknown partner_id or sec_id');
    const ownNames = NAMES.get(def.name)!.own;
    const expected = md5Hex(signedString(sec.signMode, params, ownNames, sec.md5key));
    if (!hashcodeMatches(expected, params.hashcode!)) {
      throw contractError('invalid_signature', `hashcode does not match (sign mode ${sec.signMode})`);
    }
    const now = clock.now();
    if (Math.abs(now - ts) > timestampWindowSec * 1000) {
      throw contractError(
        'timestamp_expired',
        `timestamp is outside the allowed window of ±${timestampWindowSec} s`,
      );
    }

    // From here on the req_id is bound to this interface and these parameters, whatever the
    // outcome: the signature may not cover them (basic mode), so a seen request's signature
    // must never carry another request.
    const signedValues = [params.partner_id!, params.sec_id!, params.bus_id!, params.ver!];
    for (const name of ownNames) signedValues.push(params[name] ?? '\u0001');
    const key: RequestKey = {
      partnerId: partner.partnerId,
      reqId: params.req_id!,
      method: def.name,
      hash: paramsHash(def.name, signedValues),
    };
    call.key = key;
    let held = false;
    try {
      // Cheap refusals come before any lookup, so that a flood costs no database reads.
      this.authorize(def, partner, params, req, now);
      const replayed = await requestLog.hold(key);
      if (replayed) return replayed;
      held = true;
      return await this.run(def, snap, partner, params, key);
    } catch (err) {
      // A replayed refusal and a 409 change nothing; a mutation's final refusal is stored by
      // runOnce after its effect's rollback; every other outcome keeps the binding only.
      if (isFinalRefusal(err)) {
        if (held && !def.mutates) requestLog.rememberRefusal(key, err);
      } else if (!isDuplicateReqId(err)) requestLog.bind(key);
      throw err;
    } finally {
      if (held) requestLog.release(key);
    }
  }

  /** The partner's standing, permissions and rate; refusals here are judged afresh on a retry. */
  private authorize(def: InterfaceDef, partner: Partner, params: Params, req: PartnerRequest, now: number) {
    if (partner.status !== 'active')
      throw contractError('partner_disabled', `partner ${partner.partnerId} is suspended`);
    if (params.bus_id !== partner.busId)
      throw contractError('permission_denied', 'bus_id is not assigned to this partner');
    if (partner.ipAllow.size > 0 && !partner.ipAllow.has(req.ip)) {
      throw contractError('ip_denied', `caller address ${req.ip} is not on this partner's allow-list`);
    }
    if (!def.sandbox && !partner.allowAll && !partner.permissions.has(def.name)) {
      throw contractError('permission_denied', `partner is not granted the interface ${def.name}`);
    }
    const wait = this.limiter.take(partner.partnerId, partner.rateLimit, now);
    if (wait > 0) throw rateLimited(`rate limit of ${partner.rateLimit} requests per second exceeded`, wait);
  }

  /** The interface's own parameter checks, then the interface itself. */
  private async run(
    def: InterfaceDef,
    snap: RegistrySnapshot,
    partner: Partner,
    params: Params,
    key: RequestKey,
  ): Promise<Outcome> {
    for (const rule of def.params) {
      const v = params[rule.name];
      if (v === undefined || (v === '' && !rule.emptyRefused)) {
        if (rule.optional) {
          delete params[rule.name];
          continue;
        }
        throw missingParam(rule.name);
      }
      if (!rule.pattern.test(v)) throw invalidParam(rule.name, rule.rule);
    }
    if (def.oneOf && def.oneOf.filter((name) => params[name] !== undefined).length !== 1) {
      throw contractError('invalid_param', `give exactly one of ${def.oneOf.join(' and ')}`);
    }

    if (!def.mutates) {
      const cached = await this.read(def.name, snap, partner, params);
      this.deps.requestLog.rememberRead(key, cached);
      return cached;
    }
    const opts = { sealAnswer: def.answerHoldsSecret === true };
    const direct = this.direct(def.name, snap, partner, params);
    const outcome = direct
      ? await this.deps.requestLog.runOnceDirect(key, direct, opts)
      : def.name === 'payByCard'
        ? await this.deps.requestLog.runOnceChecked(key, this.payment(snap, partner, params), opts)
        : await this.deps.requestLog.runOnce(
            key,
            (tx) => this.mutate(def.name, tx, snap, partner, params),
            opts,
          );
    this.deps.onMutation?.(def.name);
    return outcome;
  }

  private async read(name: string, snap: RegistrySnapshot, partner: Partner, p: Params): Promise<Cached> {
    if (name === 'status') {
      const by = p.order_no === undefined ? { cardNo: p.card_no! } : { orderNo: p.order_no };
      const data = await this.deps.cards.status(this.deps.db.kysely, partner, by);
      return { code: 200, data, json: JSON.stringify(data), replayed: false };
    }
    if (name === 'sandboxTestEvent') {
      const data = await this.deps.sandbox!.testEvent(partner);
      return { code: 200, data, json: JSON.stringify(data), replayed: false };
    }
    // Catalog answers change only with the registry: build each once per snapshot.
    const key = `${name}|${partner.partnerId}|${p.city_id ?? ''}|${p.region_id ?? ''}|${p.kind_id ?? ''}`;
    return snap.memo<Cached>(key, () => {
      const data = this.catalogData(name, snap, partner, p);
      const json = JSON.stringify(data);
      return { code: 200, data, json, answerHash: answerHash(json), replayed: false };
    });
  }

  private catalogData(name: string, snap: RegistrySnapshot, partner: Partner, p: Params): WireObject {
    switch (name) {
      case 'cities':
        return catalog.cities(snap);
      case 'regionsByCity':
        return catalog.regionsByCity(snap, p.city_id!);
      case 'cinemasByRegion':
        return catalog.cinemasByRegion(snap, partner, p.region_id!);
      case 'kinds':
        return catalog.kinds(snap, partner);
      case 'cinemasByKind':
        return catalog.cinemasByKind(snap, p.kind_id!, p.city_id);
      default:
        throw new Error(`not a read interface: ${name}`);
    }
  }

  /** A mutation whose writes are known before it runs (a buy), prepared when called; else undefined. */
  private direct(name: string, snap: RegistrySnapshot, partner: Partner, p: Params) {
    const { cards } = this.deps;
    const buy = { count: Number(p.count), orderNo: p.order_no };
    if (name === 'buyByCinema') return () => cards.buyByCinema(partner, p.cinema_id!, buy, snap);
    if (name === 'buyByKind') return () => cards.buyByKind(partner, p.kind_id!, buy, snap);
    return undefined;
  }

  /** A payment: on PostgreSQL its ordinary case is one read and one statement. */
  private payment(snap: RegistrySnapshot, partner: Partner, p: Params) {
    const totalFen = p.total_price === undefined ? undefined : parseYuan(p.total_price)!;
    return this.deps.cards.payment(partner, p.card_no!, p.mobile!, totalFen, snap);
  }

  private mutate(
    name: string,
    tx: Parameters<CardService['pay']>[0],
    snap: RegistrySnapshot,
    partner: Partner,
    p: Params,
  ) {
    const { cards } = this.deps;
    switch (name) {
      case 'ban':
        return cards.ban(tx, partner, p.card_no!, p.reason);
      case 'resendSms':
        return cards.resendSms(tx, partner, p.card_no!, p.mobile, snap);
      case 'sandboxRedeem':
        return this.deps.sandbox!.redeem(tx, partner, p.card_no!, Number(p.count ?? '1'), snap);
      case 'sandboxUndo':
        return this.deps.sandbox!.undo(tx, partner, p.card_no!);
      case 'sandboxExpire':
        return this.deps.sandbox!.expire(tx, partner, p.card_no!);
      default:
        throw new Error(`not a mutating interface: ${name}`);
    }
  }

  private respond(outcome: Outcome, format: Format, partnerId: string, reqId: string): PartnerResponse {
    let rendered: string;
    if (format === 'json') rendered = outcome.json ?? JSON.stringify(outcome.data);
    else {
      // Cached catalog entries keep their XML too.
      rendered = outcome.xml ??= renderData(outcome.data, 'xml');
    }
    return {
      status: outcome.code,
      contentType: CONTENT_TYPE[format],
      body: wrapData(outcome.code, rendered, format),
      headers: {},
      partnerId,
      reqId,
    };
  }

  private fail(
    err: unknown,
    format: Format,
    req: PartnerRequest,
    partnerId?: string,
    reqId?: string,
  ): PartnerResponse {
    let apiError: AppError;
    // StorageUnavailable is an AppError too: the contract's 503.
    if (err instanceof AppError) apiError = err;
    else {
      this.deps.onInternalError(err, req);
      apiError = contractError('internal', 'internal error; retry later with the same req_id');
    }
    const { status, contentType, body, headers } = errorResponse(apiError, format);
    return {
      status,
      contentType,
      body,
      headers,
      partnerId,
      reqId,
      errorType: apiError.type,
    };
  }
}
