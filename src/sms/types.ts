/** What a sender is given: one queued message. */
export interface SmsMessage {
  /** Stable across retries, so a gateway can drop duplicates and a provider's records can be matched. */
  id: string;
  mobile: string;
  /** The whole text, for senders that send free text (console, file, http gateway). */
  text: string;
  /**
   * The template's values by placeholder name (`card_no`, `password`, `count`, `valid_until`,
   * `target`), for the providers, which send an approved template filled with parameters.
   */
  params?: Readonly<Record<string, string>>;
  /**
   * The provider an earlier attempt may have reached (its answer never came): the message may
   * only go through this one, which is first asked whether it already has it.
   */
  provider?: string | null;
  /** When the message was queued (epoch ms): where a provider's records of it are looked for. */
  createdAt?: number;
  /** How long it has been queued, by the outbox's clock (see `SmsProvider.recordsCompleteAfterMs`). */
  queuedForMs?: number;
  /**
   * The tries are used up and the last one may have reached `provider`: only ask it whether it
   * has the message, and send nothing.
   */
  verifyOnly?: boolean;
}

/** A provider accepted the message. */
export interface Accepted {
  provider: string;
  /** The provider's id of the message (Aliyun BizId, Tencent SerialNo), when it gives one. */
  ref: string | null;
}

/**
 * How a send failed:
 * - `failover`: the provider did not accept the message and another one could (outage,
 *   throttling, an account or template problem): the next provider is tried at once.
 * - `uncertain`: the request may have reached the provider (timeout or connection lost after
 *   sending): the message stays with this provider, which is asked about it before any resend.
 * - `final`: no provider would deliver it (e.g. an invalid number): the message fails now.
 */
export type SendFailureKind = 'failover' | 'uncertain' | 'final';

export class SmsSendError extends Error {
  override readonly name = 'SmsSendError';
  constructor(
    readonly kind: SendFailureKind,
    readonly provider: string,
    /** The provider's code (`isv.MOBILE_NUMBER_ILLEGAL`, `LimitExceeded.PhoneNumberDailyLimit`, …). */
    readonly code: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** What is asked of a provider about one message. */
export interface ReceiptQuery {
  id: string;
  mobile: string;
  provider: string;
  /** The provider's id of the message, when known. */
  ref: string | null;
  /** When the message was queued (epoch ms). */
  since: number;
  /** The clock's now (epoch ms). */
  now: number;
}

/** A provider's word on one message. */
export type Receipt =
  /** The provider has no record of it. */
  | { state: 'unknown' }
  /** Accepted; the handset's report has not come yet. */
  | { state: 'pending'; ref: string | null }
  | { state: 'delivered' | 'undelivered'; ref: string | null; code: string | null; at: number | null };

export interface SmsSender {
  readonly name: string;
  /** Resolves when the gateway or provider accepted the message; rejects otherwise. */
  send(message: SmsMessage): Promise<Accepted | void>;
  /** Asks the provider that accepted a message what became of it; absent where none can tell. */
  receipt?(query: ReceiptQuery): Promise<Receipt>;
}

/** One provider's API, as the chain in chain.ts uses it. */
export interface SmsProvider {
  readonly name: string;
  /**
   * How long after a message was queued the provider's "no record of it" can be believed; until
   * then a message that may have reached it is only asked about, not sent again. Absent: at once.
   */
  readonly recordsCompleteAfterMs?: number;
  send(message: SmsMessage): Promise<Accepted>;
  find(query: ReceiptQuery): Promise<Receipt>;
}
