/** Table types. Times are epoch milliseconds; money is integer fen; flags are 0/1. */

export interface CityTable {
  code_id: string;
  code_name: string;
  remark: string;
  sort: number;
}

export interface RegionTable {
  code_id: string;
  city_id: string;
  code_name: string;
  remark: string;
  sort: number;
}

export interface CinemaTable {
  cinema_id: string;
  cinema_name: string;
  city_id: string;
  region_id: string;
  address: string;
  tel: string;
  price_fen: number;
  market_price_fen: number;
  valid_days: number;
  active: number;
}

export interface KindTable {
  kind_id: string;
  kind_name: string;
  price_fen: number;
  market_price_fen: number;
  valid_days: number;
  remark: string;
  active: number;
}

export interface KindCinemaTable {
  kind_id: string;
  cinema_id: string;
}

export interface PartnerTable {
  partner_id: string;
  name: string;
  bus_id: string;
  status: 'active' | 'suspended';
  /** Comma-separated interface names; `*` grants all. */
  permissions: string;
  /** Comma-separated IPs; empty means any. */
  ip_allow: string;
  /** Requests per second; 0 means no limit. */
  rate_limit: number;
  created_at: number;
}

export interface SecurityConfigTable {
  partner_id: string;
  sec_id: string;
  md5key: string;
  sign_mode: 'basic' | 'full';
  status: 'active' | 'revoked';
  created_at: number;
  revoked_at: number | null;
}

export interface PartnerPriceTable {
  partner_id: string;
  target_type: 'cinema' | 'kind';
  target_id: string;
  price_fen: number;
}

export type CardStatus = 'inactive' | 'active' | 'used' | 'expired' | 'banned';
export type SmsStatus = 'none' | 'queued' | 'sent' | 'failed';

export interface CardTable {
  card_no: string;
  partner_id: string;
  cinema_id: string | null;
  kind_id: string | null;
  order_no: string | null;
  /**
   * 1 on a card whose order_no another card of its partner holds: cards bought before order_no
   * was unique (migration 010) keep their order_no, and only the holder is found by it.
   */
  order_superseded: number;
  status: CardStatus;
  count: number;
  used_count: number;
  price_fen: number;
  total_fen: number;
  password: string | null;
  mobile: string | null;
  created_at: number;
  pay_deadline: number;
  paid_at: number | null;
  valid_until: number | null;
  banned_at: number | null;
  ban_reason: string | null;
  expired_at: number | null;
  sms_status: SmsStatus;
  updated_at: number;
  /** Set while a support desk holds the card's remaining tickets; null when not frozen. */
  frozen_at: number | null;
  frozen_reason: string | null;
  /** Wrong passwords at or before this instant no longer count towards the lock (0: none reset). */
  tries_reset_at: number;
}

export interface CardEventTable {
  card_no: string;
  seq: number;
  type: string;
  at: number;
  actor: string;
  /** JSON object of the fields the event set. */
  data: string;
}

export interface RequestTable {
  partner_id: string;
  req_id: string;
  method: string;
  params_hash: string;
  code: number;
  /** The rendered-neutral JSON of `data`; null when it is kept in `answers` under `answer_hash`. */
  body: string | null;
  answer_hash: string | null;
  created_at: number;
}

/** A read answer shared by every request row that points at it. */
export interface AnswerTable {
  /** Hash of `body`. */
  hash: string;
  body: string;
  /** Newest time a request was stored with this answer (lagging by at most a refresh interval). */
  last_used: number;
}

export interface SmsMessageTable {
  id: string;
  card_no: string;
  mobile: string;
  text: string;
  reason: 'activation' | 'resend';
  status: 'queued' | 'sent' | 'failed';
  attempts: number;
  next_attempt_at: number;
  locked_until: number;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
  /** The provider that accepted the message, or that an unanswered attempt may have reached. */
  provider: string | null;
  /** The provider's id of the message (Aliyun BizId, Tencent SerialNo). */
  provider_ref: string | null;
  /** The provider's code when it refused the message for good. */
  provider_code: string | null;
  /** The handset's report, from the provider; null until one came. */
  delivery: 'delivered' | 'undelivered' | null;
  delivery_code: string | null;
  delivered_at: number | null;
  /** When to ask the provider for the report next; null when there is nothing to ask. */
  receipt_due_at: number | null;
}

export interface MetaTable {
  key: string;
  value: string;
}

export type Role = 'admin' | 'operator' | 'cinema';

export interface UserTable {
  user_id: string;
  username: string;
  /** `scrypt$N$r$p$salt$hash` (base64url). */
  password_hash: string;
  role: Role;
  /** The cinema a `cinema` user is bound to. */
  cinema_id: string | null;
  status: 'active' | 'disabled';
  created_at: number;
  last_login_at: number | null;
}

export interface SessionTable {
  session_id: string;
  user_id: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
}

export interface LoginAttemptTable {
  /** `user:NAME`, `ip:ADDR` or `pair:ADDR|NAME`. */
  key: string;
  at: number;
  /** 0: a failure, or an attempt still being judged; 1: a success (rows before 009 only). */
  ok: number;
  /** The sign-in attempt the row belongs to (null for rows before 009). */
  attempt_id: string | null;
}

/** One row per throttled address: locked by each sign-in attempt while it checks and counts. */
export interface LoginLockTable {
  key: string;
  at: number;
}

export interface AuditLogTable {
  audit_id: string;
  at: number;
  /** `user:NAME`, `cli:NAME` or `system`. */
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string;
  /** JSON, secrets removed. */
  before: string | null;
  after: string | null;
}

export interface RedemptionTable {
  redemption_id: string;
  card_no: string;
  cinema_id: string;
  count: number;
  user_id: string;
  at: number;
  undone_at: number | null;
  undone_by: string | null;
}

export interface PasswordFailureTable {
  card_no: string;
  at: number;
  cinema_id: string;
  user_id: string;
}

/** Where a partner wants card events POSTed; no row means no events are recorded for it. */
export interface PartnerCallbackTable {
  partner_id: string;
  url: string;
  updated_at: number;
}

export type NotifyEventType = 'redeemed' | 'redemption_undone' | 'expired' | 'banned';
export type NotifyStatus = 'queued' | 'delivered' | 'failed';

/** The outbox of card events for partners (written in the transaction that changed the card). */
export interface NotifyEventTable {
  /** A UUID, stable across retries: the partner drops duplicates by it. */
  event_id: string;
  partner_id: string;
  card_no: string;
  type: NotifyEventType;
  /** JSON of the card's state the event reports (see domain/notify.ts). */
  payload: string;
  status: NotifyStatus;
  attempts: number;
  next_attempt_at: number;
  locked_until: number;
  last_error: string | null;
  /** HTTP status of the last answer; null when there was none (timeout, refused). */
  last_status: number | null;
  created_at: number;
  delivered_at: number | null;
}

/**
 * One-time submissions of the management platform: a console form's `_once` token or an API
 * `Idempotency-Key`, claimed before the change runs, with its result once it has answered.
 */
export interface IdempotencyKeyTable {
  user_id: string;
  /** SHA-256 (hex) of the scope and the token; the token itself is never stored. */
  key_hash: string;
  scope: 'form' | 'api';
  method: string;
  /** The URL the token was first used for (the API's with its query). */
  path: string;
  /** SHA-256 of the API request body; '' for console forms. */
  request_hash: string;
  state: 'pending' | 'done';
  status: number | null;
  /** The response, sealed with a key derived from the token (AES-256-GCM, base64); null while pending. */
  response: string | null;
  created_at: number;
  expires_at: number;
}

/**
 * One row (id 1) whose `version` database triggers raise in the transaction of every change to
 * a table the registry snapshot holds (see migration 008), so every process can tell cheaply
 * whether its snapshot is still current.
 */
export interface RegistryVersionTable {
  id: number;
  version: number;
}

export interface Database {
  cities: CityTable;
  regions: RegionTable;
  cinemas: CinemaTable;
  kinds: KindTable;
  kind_cinemas: KindCinemaTable;
  partners: PartnerTable;
  security_configs: SecurityConfigTable;
  partner_prices: PartnerPriceTable;
  cards: CardTable;
  card_events: CardEventTable;
  requests: RequestTable;
  answers: AnswerTable;
  sms_messages: SmsMessageTable;
  meta: MetaTable;
  users: UserTable;
  sessions: SessionTable;
  login_attempts: LoginAttemptTable;
  login_locks: LoginLockTable;
  audit_log: AuditLogTable;
  redemptions: RedemptionTable;
  password_failures: PasswordFailureTable;
  partner_callbacks: PartnerCallbackTable;
  notify_events: NotifyEventTable;
  idempotency_keys: IdempotencyKeyTable;
  registry_version: RegistryVersionTable;
}
