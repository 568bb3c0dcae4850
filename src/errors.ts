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
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  timeout: 504,
} as const;

export type ErrorType = keyof typeof ERROR_STATUS;

/** An error whose type and message are safe to show to the caller. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = ERROR_STATUS[type];
  }
}

export const invalidParam = (name: string, rule: string) =>
  new ApiError('invalid_param', `invalid parameter ${name}: ${rule}`);
export const missingParam = (name: string) => new ApiError('invalid_param', `missing parameter ${name}`);
export const notFound = (what: string, id: string) => new ApiError('not_found', `${what} ${id} not found`);
export const cardState = (cardNo: string, status: string, action: string) =>
  new ApiError('card_state', `card ${cardNo} is ${status}; cannot ${action}`);
export const rateLimited = (message: string, retryAfterSec: number) =>
  new ApiError('rate_limited', message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSec))) });
export const unavailable = (message = 'service temporarily unavailable, retry with the same req_id') =>
  new ApiError('unavailable', message);
