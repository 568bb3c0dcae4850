import { recordAudit } from '../../db/audit.repository.js';
import type { Db } from '../../db/database.js';
import {
  deleteCallback,
  findCallback,
  findNotifyEvent,
  listNotifyEvents,
  requeueNotifyEvent,
  upsertCallback,
} from '../../db/notify.repository.js';
import { inTransaction } from '../../db/tx.js';
import { invalid, notFound } from '../../errors.js';
import { CallbackPolicy } from '../callback-policy.js';
import type { Clock } from '../clock.js';
import { type NotifyEventView, presentNotifyEvent } from '../notify.js';
import { integer } from '../validate.js';
import { type Actor, requireRole, STAFF } from './audit.service.js';
import { requirePartner } from './partner-checks.js';

export const MAX_CALLBACK_URL = 500;
const CALLBACK_RULE = 'must be an absolute http(s) URL, e.g. https://example.com/notify';

/**
 * A trimmed absolute http(s) URL without credentials that the policy does not refuse, or null
 * for '' (no callback).
 */
export function checkCallbackUrl(value: unknown, policy = new CallbackPolicy()): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw invalid('callback_url', CALLBACK_RULE);
  const v = value.trim();
  if (v === '') return null;
  if (v.length > MAX_CALLBACK_URL || /[\s\p{Cc}]/u.test(v)) {
    throw invalid('callback_url', `${CALLBACK_RULE}, at most ${MAX_CALLBACK_URL} characters`);
  }
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw invalid('callback_url', CALLBACK_RULE);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('callback_url', CALLBACK_RULE);
  // The URL is shown in the console and the audit log: no secrets in it.
  if (url.username || url.password) throw invalid('callback_url', 'must not contain a user name or password');
  const refused = policy.refuseUrl(url);
  if (refused) {
    throw invalid(
      'callback_url',
      `must not point to this host or a private network: ${refused.address} is a ${refused.kind} address (an operator can allow it with MOVTICKET_CALLBACK_ALLOW)`,
      'partner.callback_private',
      { address: refused.address, kind: refused.kind },
    );
  }
  return v;
}

export interface CallbackView {
  partnerId: string;
  /** Null: no callback; card events are not recorded for the partner. */
  callbackUrl: string | null;
}

export interface NotifyLog extends CallbackView {
  /** Newest first. */
  events: NotifyEventView[];
}

const EVENT_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A partner's callback URL and the card events delivered to it. */
export class PartnerCallbackService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Which callback URLs may be set; by default none reaching this host or a private network. */
    private readonly callbacks: CallbackPolicy = new CallbackPolicy(),
  ) {}

  /**
   * Sets the URL the partner's card events (redeemed, redemption undone, expired, banned) are
   * POSTed to; null or '' removes it. Only changes made while a URL is set produce events.
   */
  async set(by: Actor, partnerId: string, url: string | null): Promise<CallbackView> {
    requireRole(by, STAFF, 'manage partners');
    const next = checkCallbackUrl(url, this.callbacks);
    return inTransaction(this.db, async (tx) => {
      const p = await requirePartner(tx, partnerId);
      const before = (await findCallback(tx, p.partner_id))?.url ?? null;
      const view: CallbackView = { partnerId: p.partner_id, callbackUrl: next };
      if (before === next) return view;
      const now = this.clock.now();
      if (next === null) await deleteCallback(tx, p.partner_id);
      else await upsertCallback(tx, p.partner_id, next, now);
      await recordAudit(tx, {
        at: now,
        actor: by.actor,
        action: 'partner.callback',
        entityType: 'partner',
        entityId: p.partner_id,
        before: { callbackUrl: before },
        after: { callbackUrl: next },
      });
      return view;
    });
  }

  /** The partner's callback URL and its newest notify events with their delivery state. */
  async log(by: Actor, partnerId: string, limit = 50): Promise<NotifyLog> {
    requireRole(by, STAFF, 'see partners');
    const n = integer('limit', limit, 1, 500);
    const p = await requirePartner(this.db.kysely, partnerId);
    const callback = await findCallback(this.db.kysely, p.partner_id);
    const events = await listNotifyEvents(this.db.kysely, p.partner_id, n);
    return {
      partnerId: p.partner_id,
      callbackUrl: callback?.url ?? null,
      events: events.map(presentNotifyEvent),
    };
  }

  /**
   * Queues a notify event for an attempt now, whatever its state (a delivered one is sent again
   * with the same event_id). A retried event that fails after its 24 hours is failed again.
   */
  async retry(by: Actor, eventId: string): Promise<NotifyEventView> {
    requireRole(by, STAFF, 'manage partners');
    if (typeof eventId !== 'string' || !EVENT_ID_RE.test(eventId)) {
      throw invalid('event_id', 'must be an event id (a UUID)');
    }
    return inTransaction(this.db, async (tx) => {
      const e = await findNotifyEvent(tx, eventId);
      if (!e) throw notFound('notify event', eventId);
      const now = this.clock.now();
      await requeueNotifyEvent(tx, eventId, now);
      await recordAudit(tx, {
        at: now,
        actor: by.actor,
        action: 'notify.retry',
        entityType: 'partner',
        entityId: e.partner_id,
        before: { event_id: e.event_id, status: e.status, attempts: e.attempts },
        after: { event_id: e.event_id, status: 'queued', next_attempt_at: now },
      });
      return presentNotifyEvent({ ...e, status: 'queued', next_attempt_at: now });
    });
  }
}
