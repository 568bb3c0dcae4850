/** The contract's closed list of error types (section 1). */
export const ERROR_TYPES = [
  'invalid_param',
  'unsupported_version',
  'not_found',
  'unknown_partner',
  'invalid_signature',
  'timestamp_expired',
  'partner_disabled',
  'permission_denied',
  'ip_denied',
  'no_such_method',
  'method_not_allowed',
  'card_state',
  'price_mismatch',
  'duplicate_req_id',
  'order_exists',
  'rate_limited',
  'sms_daily_limit',
  'internal',
  'unavailable',
  'timeout',
] as const;

/** An error `type` the platform can answer with. */
export type ServerErrorType = (typeof ERROR_TYPES)[number];

/**
 * Failures detected by the client itself, when no usable envelope arrived:
 * - `client_timeout`: no complete answer within `timeoutMs` (after all retries);
 * - `network_error`: the connection failed (after all retries);
 * - `invalid_response`: the body is not a contract envelope.
 */
export type ClientErrorType = 'client_timeout' | 'network_error' | 'invalid_response';

/** Every `type` a {@link MovTicketError} can carry. */
export type MovTicketErrorType = ServerErrorType | ClientErrorType;

/** What a {@link MovTicketError} is built from. */
export interface MovTicketErrorInit {
  /** The envelope's `code` (= HTTP status); `0` when no response was received. */
  code: number;
  type: MovTicketErrorType;
  message: string;
  /** The `req_id` of the failed request (the same across its retries). */
  reqId: string;
  /** Interface name, e.g. `payByCard`. */
  method: string;
  /** Seconds from the `Retry-After` header, when present. */
  retryAfter?: number;
  /** Other keys of the error object, e.g. the `card_no` an `order_exists` refusal names. */
  details?: Readonly<Record<string, string>>;
  cause?: unknown;
}

/**
 * Thrown by every typed {@link MovTicketClient} method when the platform answers with a
 * non-success envelope, or when no valid answer could be obtained.
 */
export class MovTicketError extends Error {
  override readonly name = 'MovTicketError';
  /** The envelope's `code` (= HTTP status); `0` for client-side failures. */
  readonly code: number;
  /** The contract's error type, or a {@link ClientErrorType}. */
  readonly type: MovTicketErrorType;
  /** The `req_id` that was sent; reuse it to retry the same operation safely. */
  readonly reqId: string;
  /** Interface name, e.g. `payByCard`. */
  readonly method: string;
  /** Seconds to wait before retrying, from the `Retry-After` header (e.g. on `429 rate_limited`). */
  readonly retryAfter: number | undefined;
  /** Other keys of the error object besides `message` and `type` (e.g. `card_no`); usually empty. */
  readonly details: Readonly<Record<string, string>>;

  constructor(init: MovTicketErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.type = init.type;
    this.reqId = init.reqId;
    this.method = init.method;
    this.retryAfter = init.retryAfter;
    this.details = init.details ?? {};
  }
}

const TYPE_FOR_STATUS: Record<number, ServerErrorType> = {
  400: 'invalid_param',
  401: 'unknown_partner',
  403: 'permission_denied',
  404: 'no_such_method',
  405: 'method_not_allowed',
  409: 'duplicate_req_id',
  429: 'rate_limited',
  500: 'internal',
  503: 'unavailable',
  504: 'timeout',
};

/** Best guess at a type when a non-2xx answer has no readable envelope (e.g. from a proxy). */
export function typeForStatus(status: number): MovTicketErrorType {
  return TYPE_FOR_STATUS[status] ?? 'invalid_response';
}

/** Whether a string is one of the contract's error types. */
export function isServerErrorType(type: string): type is ServerErrorType {
  return (ERROR_TYPES as readonly string[]).includes(type);
}
