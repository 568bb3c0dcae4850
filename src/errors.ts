/**
 * The platform's one kind of refusal. Every error a caller may see is an `AppError` with a stable
 * `code` (the management API's `error.code`), the contract's `type` (what the partner API
 * answers), the HTTP status of the management API, and an `id` with `params` that the console's
 * Chinese message catalogue keys on. The English `message` is what the partner API, the JSON API
 * and the CLI show.
 */

/** The contract's closed list of error types, with the HTTP status each one carries. */
export const ERROR_STATUS = {
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
  order_exists: 409,
  rate_limited: 429,
  sms_daily_limit: 429,
  internal: 500,
  unavailable: 503,
  timeout: 504,
} as const;

export type ErrorType = keyof typeof ERROR_STATUS;

/** Codes of the management API, with the status each answers with. */
const CODE_STATUS = {
  invalid: 400,
  reason_required: 400,
  confirmation_required: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  forbidden: 403,
  admins_only: 403,
  csrf: 403,
  cross_origin: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  card_state: 409,
  idempotency_key_reused: 409,
  idempotency_key_in_progress: 409,
  idempotency_response_not_stored: 409,
  too_large: 413,
  unsupported_media_type: 415,
  wrong_password: 422,
  locked: 423,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type AdminCode = keyof typeof CODE_STATUS;
export type ErrorCode = AdminCode | ErrorType;

/** The contract's type for a management code when a refusal reaches the partner API. */
const CODE_TYPE: Partial<Record<AdminCode, ErrorType>> = {
  invalid: 'invalid_param',
  forbidden: 'permission_denied',
  not_found: 'not_found',
  method_not_allowed: 'method_not_allowed',
  card_state: 'card_state',
  rate_limited: 'rate_limited',
  unavailable: 'unavailable',
};

export type Params = Record<string, string | number>;

export interface ErrorDetails {
  /** wrong_password: tries left before the card locks. */
  triesLeft?: number;
  /** locked / wrong_password (last try): epoch ms when the card takes passwords again. */
  lockedUntil?: number;
  /** rate_limited: seconds until another try can succeed. */
  retryAfterSec?: number;
}

export interface ErrorOptions {
  /** The catalogue's id of the sentence; the code when absent. */
  id?: string;
  params?: Params;
  /** The HTTP status of the management API; the code's own when absent. */
  status?: number;
  /** The contract's type; derived from the code when absent. */
  type?: ErrorType;
  /** The input field at fault, for `invalid`. */
  field?: string;
  details?: ErrorDetails;
  headers?: Record<string, string>;
  /** Elements the partner API's error object carries after `type` (e.g. order_exists' `card_no`). */
  extra?: Record<string, string>;
  cause?: unknown;
  /**
   * Refused by the HTTP layer (sign-in, CSRF, a malformed body) rather than by a service: the
   * console answers it with its error page instead of beside the form.
   */
  httpLayer?: boolean;
}

/** An error whose code, message and parameters are safe to show to the caller. */
export class AppError extends Error {
  readonly id: string;
  readonly params: Params;
  readonly status: number;
  readonly type: ErrorType;
  readonly field: string | undefined;
  readonly details: ErrorDetails;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, string>;
  readonly httpLayer: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    opts: ErrorOptions = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.id = opts.id ?? code;
    this.params = opts.params ?? {};
    this.type = opts.type ?? (isErrorType(code) ? code : (CODE_TYPE[code as AdminCode] ?? 'internal'));
    this.status =
      opts.status ?? (code in CODE_STATUS ? CODE_STATUS[code as AdminCode] : ERROR_STATUS[this.type]);
    this.field = opts.field;
    this.details = opts.details ?? {};
    this.headers = opts.headers ?? {};
    this.extra = opts.extra ?? {};
    this.httpLayer = opts.httpLayer ?? false;
  }

  /** The HTTP status the partner API answers with: the contract's, by type. */
  get partnerStatus(): number {
    return ERROR_STATUS[this.type];
  }
}

const isErrorType = (code: string): code is ErrorType => code in ERROR_STATUS;

/**
 * The database cannot be reached right now (PostgreSQL restarting, SQLite busy): raised by
 * src/db for any query, answered with 503 and a retry-after by the partner and admin APIs.
 */
export class StorageUnavailable extends AppError {
  constructor(cause?: unknown) {
    super('unavailable', 'storage is unavailable; retry later', {
      id: 'storage.unavailable',
      headers: { 'retry-after': '1' },
      cause,
    });
    this.name = 'StorageUnavailable';
  }
}

// ---------------------------------------------------------------------------------------------
// The partner contract's refusals.

/** A refusal of the partner API, by the contract's type (status from the contract). */
export const contractError = (type: ErrorType, message: string, headers: Record<string, string> = {}) =>
  new AppError(type, message, { headers });

export const invalidParam = (name: string, rule: string) =>
  contractError('invalid_param', `invalid parameter ${name}: ${rule}`);
export const missingParam = (name: string) => contractError('invalid_param', `missing parameter ${name}`);
export const rateLimited = (
  message: string,
  retryAfterSec: number,
  id = 'rate_limited',
  params: Params = {},
) => {
  const sec = Math.max(1, Math.ceil(retryAfterSec));
  return new AppError('rate_limited', message, {
    id,
    params,
    headers: { 'retry-after': String(sec) },
    details: { retryAfterSec: sec },
  });
};
/**
 * A card's SMS resends for the day are used up: a 429 of its own type, since waiting seconds
 * does not help; `Retry-After` says how long until the next day starts.
 */
export const smsDailyLimit = (cardNo: string, max: number, retryAfterSec: number) => {
  const sec = Math.max(1, Math.ceil(retryAfterSec));
  return new AppError('rate_limited', `card ${cardNo} reached ${max} SMS resends today; retry tomorrow`, {
    id: 'card.resend_limit',
    params: { card_no: cardNo, max },
    type: 'sms_daily_limit',
    headers: { 'retry-after': String(sec) },
    details: { retryAfterSec: sec },
  });
};

/** The partner already bought a card under this order number: the error names that card. */
export const orderExists = (orderNo: string, cardNo: string) =>
  new AppError('conflict', `order_no ${orderNo} was already used for card ${cardNo}`, {
    id: 'order.exists',
    params: { order_no: orderNo, card_no: cardNo },
    type: 'order_exists',
    extra: { card_no: cardNo },
  });

export const unavailable = (message = 'service temporarily unavailable, retry with the same req_id') =>
  contractError('unavailable', message);

// ---------------------------------------------------------------------------------------------
// Refusals of the services, shared by the partner API, the management API, the console and the CLI.

/** `what` (card, partner, cinema, kind, city, region, user, redemption…) `id` does not exist. */
export const notFound = (what: string, id: string) =>
  new AppError('not_found', `${what} ${id} not found`, { id: 'not_found', params: { what, id } });

/** `what` `id` exists already (a unique key). */
export const alreadyExists = (what: string, id: string) =>
  new AppError('conflict', `${what} ${id} already exists`, { id: 'exists', params: { what, id } });

export const conflict = (message: string, id = 'conflict', params: Params = {}) =>
  new AppError('conflict', message, { id, params });

/** The card's state forbids `action`; `status` is what the card is now. */
export const cardState = (cardNo: string, status: string, action: string, detail = '') =>
  new AppError('card_state', `card ${cardNo} is ${status}${detail}; cannot ${action}`, {
    id: 'card.state',
    params: { card_no: cardNo, status, action },
  });

export const forbidden = (message = 'your role may not do this', id = 'forbidden', params: Params = {}) =>
  new AppError('forbidden', message, { id, params });

/** A refusal of the HTTP layer (see `ErrorOptions.httpLayer`). */
export const httpRefusal = (code: ErrorCode, message: string, opts: Omit<ErrorOptions, 'httpLayer'> = {}) =>
  new AppError(code, message, { ...opts, httpLayer: true });
export const unauthenticated = () => httpRefusal('unauthenticated', 'sign in first');
export const badCsrf = () => httpRefusal('csrf', 'missing or invalid CSRF token');
export const crossOrigin = () => httpRefusal('cross_origin', 'cross-origin requests may not change anything');

/**
 * Input `field` breaks a rule. `rule` is the English sentence after the field's name; `id` and
 * `params` name the rule for the catalogue (`field` is always among the params).
 */
export const invalid = (field: string, rule: string, id = 'invalid', params: Params = {}) =>
  new AppError('invalid', `${field} ${rule}`, { id, field, params: { field, ...params } });

/** Bad input not tied to one form field. */
export const badInput = (message: string, id = 'invalid', params: Params = {}) =>
  new AppError('invalid', message, { id, params });
