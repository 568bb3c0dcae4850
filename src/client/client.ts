import { MovTicketError, typeForStatus } from './errors.js';
import type { MovTicketErrorType } from './errors.js';
import { EnvelopeParseError, normaliseData, parseEnvelope } from './parse.js';
import type { Envelope } from './parse.js';
import { computeHashcode, formatTimestamp, orderParams, randomReqId } from './sign.js';
import type { SignField, SignMode } from './sign.js';
import type {
  CardData,
  CardStatusData,
  CinemasData,
  CitiesData,
  KindCinemasData,
  KindsData,
  PaidCardData,
  RegionsData,
} from './types.js';

/** Response format asked of the platform (sent as the unsigned `format` parameter). */
export type ResponseFormat = 'json' | 'xml';

/** Options of {@link MovTicketClient}. The first five come from the platform's onboarding. */
export interface MovTicketClientOptions {
  /** Platform root, e.g. `http://127.0.0.1:8080`; requests go to `{baseUrl}/movTicket/{method}`. */
  baseUrl: string;
  /** Channel id, e.g. `CS000001`. */
  partnerId: string;
  /** Security config id, e.g. `test`. */
  secId: string;
  /** Business id, e.g. `1002758`. */
  busId: string;
  /** The security config's secret key. Never sent; only used to sign. */
  md5key: string;
  /** The security config's `sign_mode`. Default `'basic'`. */
  signMode?: SignMode;
  /** Response format to ask for. Default `'json'`. */
  format?: ResponseFormat;
  /** Per-attempt limit for the whole exchange (connect, headers, body). Default 10000. */
  timeoutMs?: number;
  /**
   * Extra attempts after a timeout, a network error or a 503/504, always with the same
   * `req_id` and parameters (fresh `timestamp` and `hashcode`), so the platform executes a
   * purchase, payment, ban or SMS at most once. Never used for other 4xx/5xx. Default 2.
   */
  retries?: number;
  /** First backoff before a retry, doubled each time (a `Retry-After` header may lengthen it). Default 200. */
  retryDelayMs?: number;
  /** Protocol version. Default `'1000'`. */
  ver?: string;
  /** `req_id` generator; must yield 1–20 alphanumerics unique for the partner. Default: 20 random alphanumerics. */
  reqId?: () => string;
  /** Clock for `timestamp`. Default `() => new Date()`. */
  now?: () => Date;
  /** Platform time zone for `timestamp`. Default `'Asia/Shanghai'`. */
  timeZone?: string;
  /** `fetch` implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/** Per-call overrides. */
export interface CallOptions {
  /** Use this `req_id` (e.g. one persisted before a crash, to retry the same purchase safely). */
  reqId?: string;
  /** Response format for this call. */
  format?: ResponseFormat;
  /** Send this `timestamp` verbatim instead of the clock's (for testing the platform's window). */
  timestamp?: string;
  /** Override the client's `retries` for this call. */
  retries?: number;
}

/** Everything about one exchange, as {@link MovTicketClient.call} returns it. */
export interface RawResponse {
  /** HTTP status of the last attempt. */
  status: number;
  /** Raw response body. */
  body: string;
  /** The `Content-Type` header (empty when absent). */
  contentType: string;
  headers: Headers;
  /** The parsed body, or `undefined` when it is not a contract envelope (see `parseError`). */
  envelope: Envelope | undefined;
  parseError: string | undefined;
  /** The `req_id` sent (identical on every attempt). */
  reqId: string;
  /** Number of HTTP attempts made (1 + retries used). */
  attempts: number;
  /** The form body of the last attempt, in wire order. */
  request: SignField[];
}

const MAX_RETRY_DELAY_MS = 5000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Seconds from a `Retry-After` header (delta-seconds or HTTP-date). */
function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return err.message + cause;
  }
  return String(err);
}

class TransportError extends Error {
  constructor(
    readonly kind: 'client_timeout' | 'network_error',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Typed client for the partner API (`movTicket/*`). Each method signs and sends one
 * request and resolves with the response's `data`, or rejects with a {@link MovTicketError}.
 *
 * @example
 * const client = new MovTicketClient({ baseUrl: 'http://127.0.0.1:8080', partnerId: 'CS000001',
 *   secId: 'test', busId: '1002758', md5key: process.env.MOVTICKET_MD5KEY! });
 * const { cities } = await client.cities();
 */
export class MovTicketClient {
  private readonly baseUrl: string;
  private readonly partnerId: string;
  private readonly secId: string;
  private readonly busId: string;
  private readonly md5key: string;
  private readonly signMode: SignMode;
  private readonly format: ResponseFormat;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly ver: string;
  private readonly newReqId: () => string;
  private readonly now: () => Date;
  private readonly timeZone: string;
  private readonly fetchImpl: typeof fetch;

  constructor(options: MovTicketClientOptions) {
    for (const key of ['baseUrl', 'partnerId', 'secId', 'busId', 'md5key'] as const) {
      if (typeof options[key] !== 'string' || options[key] === '') {
        throw new TypeError(`MovTicketClient: option ${key} is required`);
      }
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.partnerId = options.partnerId;
    this.secId = options.secId;
    this.busId = options.busId;
    this.md5key = options.md5key;
    this.signMode = options.signMode ?? 'basic';
    this.format = options.format ?? 'json';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = Math.max(0, Math.floor(options.retries ?? 2));
    this.retryDelayMs = options.retryDelayMs ?? 200;
    this.ver = options.ver ?? '1000';
    this.newReqId = options.reqId ?? randomReqId;
    this.now = options.now ?? (() => new Date());
    this.timeZone = options.timeZone ?? 'Asia/Shanghai';
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /**
   * Low-level call: signs `params` (ordered per the contract; unknown extras are sent
   * unsigned), POSTs them, retries on timeout / network error / 503 / 504 with the same
   * `req_id`, and returns the raw exchange without judging the envelope.
   *
   * @param method interface name, e.g. `'cities'`
   * @param params the interface's own parameters; `undefined` values are left out
   * @throws {MovTicketError} `client_timeout` or `network_error` when every attempt failed to get an answer
   */
  async call(
    method: string,
    params: Readonly<Record<string, string | undefined>> = {},
    opts: CallOptions = {},
  ): Promise<RawResponse> {
    const reqId = opts.reqId ?? this.newReqId();
    const format = opts.format ?? this.format;
    const retries = Math.max(0, Math.floor(opts.retries ?? this.retries));
    const url = `${this.baseUrl}/movTicket/${method}`;

    for (let attempt = 0; ; attempt++) {
      const timestamp = opts.timestamp ?? formatTimestamp(this.now(), this.timeZone);
      const common = {
        partner_id: this.partnerId,
        sec_id: this.secId,
        bus_id: this.busId,
        req_id: reqId,
        ver: this.ver,
        timestamp,
      };
      const { signed, unsigned } = orderParams(method, common, params);
      const hashcode = computeHashcode(this.signMode, signed, this.md5key);
      const request = [
        ...signed,
        ...unsigned,
        { name: 'hashcode', value: hashcode },
        { name: 'format', value: format },
      ];
      const canRetry = attempt < retries;

      let res: { status: number; headers: Headers; body: string };
      try {
        res = await this.send(url, request, format);
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        if (canRetry) {
          await sleep(this.backoff(attempt, undefined));
          continue;
        }
        throw new MovTicketError({
          code: 0,
          type: err.kind,
          message: `${method}: ${err.message} (after ${attempt + 1} attempt${attempt ? 's' : ''})`,
          reqId,
          method,
          cause: err.cause,
        });
      }

      const retryAfter = parseRetryAfter(res.headers.get('retry-after'), this.now());
      if ((res.status === 503 || res.status === 504) && canRetry) {
        await sleep(this.backoff(attempt, retryAfter));
        continue;
      }

      const contentType = res.headers.get('content-type') ?? '';
      let envelope: Envelope | undefined;
      let parseError: string | undefined;
      try {
        envelope = parseEnvelope(res.body, contentType);
      } catch (err) {
        parseError = errorMessage(err);
      }
      return {
        status: res.status,
        body: res.body,
        contentType,
        headers: res.headers,
        envelope,
        parseError,
        reqId,
        attempts: attempt + 1,
        request,
      };
    }
  }

  private backoff(attempt: number, retryAfterSeconds: number | undefined): number {
    const base = this.retryDelayMs * 2 ** attempt;
    const wanted = retryAfterSeconds === undefined ? base : Math.max(base, retryAfterSeconds * 1000);
    return Math.min(wanted, MAX_RETRY_DELAY_MS);
  }

  private async send(
    url: string,
    fields: readonly SignField[],
    format: ResponseFormat,
  ): Promise<{ status: number; headers: Headers; body: string }> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    try {
      const res = await this.fetchImpl(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: format === 'json' ? 'application/json' : 'application/xml',
        },
        body: new URLSearchParams(fields.map((f): [string, string] => [f.name, f.value])).toString(),
        signal: controller.signal,
      });
      // The body is read under the same timer: a server that sends headers and stalls is a timeout too.
      const body = await res.text();
      return { status: res.status, headers: res.headers, body };
    } catch (err) {
      if (timedOut) throw new TransportError('client_timeout', `no answer within ${this.timeoutMs} ms`);
      throw new TransportError('network_error', errorMessage(err), { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Calls an interface and returns its normalised `data`, or throws {@link MovTicketError}. */
  private async request<T>(
    method: string,
    params: Readonly<Record<string, string | undefined>>,
    opts: CallOptions | undefined,
  ): Promise<T> {
    const raw = await this.call(method, params, opts);
    const retryAfter = parseRetryAfter(raw.headers.get('retry-after'), this.now());
    const fail = (
      code: number,
      type: MovTicketErrorType,
      message: string,
      details?: Record<string, string>,
    ): MovTicketError =>
      new MovTicketError({ code, type, message, reqId: raw.reqId, method, retryAfter, details });

    const { envelope } = raw;
    if (!envelope) {
      const type = raw.status >= 200 && raw.status < 300 ? 'invalid_response' : typeForStatus(raw.status);
      throw fail(raw.status, type, `${method}: HTTP ${raw.status}, ${raw.parseError ?? 'unreadable body'}`);
    }
    if ('error' in envelope) {
      // A type outside the contract's list is passed through as sent.
      const { message, type, ...details } = envelope.error;
      throw fail(envelope.code, type as MovTicketErrorType, message, details);
    }
    if (envelope.code < 200 || envelope.code >= 300) {
      throw fail(
        envelope.code,
        typeForStatus(envelope.code),
        `${method}: code ${envelope.code} without error`,
      );
    }
    try {
      return normaliseData(method, envelope.data) as T;
    } catch (err) {
      if (err instanceof EnvelopeParseError)
        throw fail(envelope.code, 'invalid_response', `${method}: ${err.message}`);
      throw err;
    }
  }

  /** Cities with at least one active cinema (`movTicket/cities`). */
  cities(opts?: CallOptions): Promise<CitiesData> {
    return this.request('cities', {}, opts);
  }

  /** Districts of a city (`movTicket/regionsByCity`). */
  regionsByCity(params: { cityId: string }, opts?: CallOptions): Promise<RegionsData> {
    return this.request('regionsByCity', { city_id: params.cityId }, opts);
  }

  /** Active cinemas of a district, with this partner's prices (`movTicket/cinemasByRegion`). */
  cinemasByRegion(params: { regionId: string }, opts?: CallOptions): Promise<CinemasData> {
    return this.request('cinemasByRegion', { region_id: params.regionId }, opts);
  }

  /**
   * Creates an unpaid card for `count` tickets (1–50) at one cinema (`movTicket/buyByCinema`).
   * Retried safely with the same `req_id`: one call, one card.
   */
  buyByCinema(
    params: { cinemaId: string; count: number | string; orderNo?: string },
    opts?: CallOptions,
  ): Promise<CardData> {
    return this.request(
      'buyByCinema',
      { cinema_id: params.cinemaId, count: String(params.count), order_no: params.orderNo },
      opts,
    );
  }

  /** Card kinds (voucher types) with this partner's prices (`movTicket/kinds`). */
  kinds(opts?: CallOptions): Promise<KindsData> {
    return this.request('kinds', {}, opts);
  }

  /** Cinemas accepting a card kind, optionally in one city (`movTicket/cinemasByKind`). */
  cinemasByKind(params: { kindId: string; cityId?: string }, opts?: CallOptions): Promise<KindCinemasData> {
    return this.request('cinemasByKind', { kind_id: params.kindId, city_id: params.cityId }, opts);
  }

  /**
   * Creates an unpaid card for `count` tickets (1–50) of a card kind (`movTicket/buyByKind`).
   * Retried safely with the same `req_id`: one call, one card.
   */
  buyByKind(
    params: { kindId: string; count: number | string; orderNo?: string },
    opts?: CallOptions,
  ): Promise<CardData> {
    return this.request(
      'buyByKind',
      { kind_id: params.kindId, count: String(params.count), order_no: params.orderNo },
      opts,
    );
  }

  /**
   * Activates a paid card and queues its SMS to `mobile` (`movTicket/payByCard`). Pass the
   * card's `total_price` as `totalPrice` to be refused (`406 price_mismatch`) if it differs.
   */
  payByCard(
    params: { cardNo: string; mobile: string; totalPrice?: string },
    opts?: CallOptions,
  ): Promise<PaidCardData> {
    return this.request(
      'payByCard',
      { card_no: params.cardNo, mobile: params.mobile, total_price: params.totalPrice },
      opts,
    );
  }

  /**
   * A card's current state and usage (`movTicket/status`), by its number or by the channel's
   * `order_no` given when it was bought (to find a card whose purchase answer was lost).
   */
  status(params: { cardNo: string } | { orderNo: string }, opts?: CallOptions): Promise<CardStatusData> {
    const own = 'cardNo' in params ? { card_no: params.cardNo } : { order_no: params.orderNo };
    return this.request('status', own, opts);
  }

  /** Voids an unpaid card, or a paid one with no ticket used (`movTicket/ban`). */
  ban(params: { cardNo: string; reason?: string }, opts?: CallOptions): Promise<CardStatusData> {
    return this.request('ban', { card_no: params.cardNo, reason: params.reason }, opts);
  }

  /** Queues an active card's SMS again, optionally to a new number (`movTicket/resendSms`). */
  resendSms(params: { cardNo: string; mobile?: string }, opts?: CallOptions): Promise<CardStatusData> {
    return this.request('resendSms', { card_no: params.cardNo, mobile: params.mobile }, opts);
  }
}
