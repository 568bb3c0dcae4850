import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import { recordAudit } from '../../db/audit.repository.js';
import { findCinema, findKind } from '../../db/catalog-admin.repository.js';
import type { Db } from '../../db/database.js';
import {
  deleteCallback,
  findCallback,
  findNotifyEvent,
  listNotifyEvents,
  requeueNotifyEvent,
  upsertCallback,
} from '../../db/notify.repository.js';
import {
  busIdTaken,
  deletePartnerPrice,
  findPartner,
  findPartnerPrice,
  findSecurityConfigInfo,
  listPartnerPrices,
  listPartners,
  listSecurityConfigs,
  partnerIdsWithPrefix,
  revokeSecurityConfig,
  type SecurityConfigInfo,
} from '../../db/partner-admin.repository.js';
import {
  insertPartner,
  insertSecurityConfig,
  updatePartner,
  upsertPartnerPrice,
} from '../../db/partner.repository.js';
import type { PartnerPriceTable, PartnerTable, SecurityConfigTable } from '../../db/schema.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import { INTERFACE_NAMES } from '../interface-names.js';
import { CallbackPolicy } from '../callback-policy.js';
import type { Clock } from '../clock.js';
import { type NotifyEventView, presentNotifyEvent } from '../notify.js';
import { generateMd5Key } from '../secrets.js';
import { type Actor, requireRole, STAFF } from './audit.service.js';
import { AppError, conflict, invalid, notFound } from '../../errors.js';
import { ID, integer, pattern, text, yuanToFen } from '../validate.js';

export const DEFAULT_PARTNER_PREFIX = 'MT';
export const MAX_RATE_LIMIT = 100_000;
export type SignMode = SecurityConfigTable['sign_mode'];
export type PriceTargetType = PartnerPriceTable['target_type'];

export interface PriceTarget {
  type: PriceTargetType;
  id: string;
}

export interface PartnerView {
  partnerId: string;
  name: string;
  busId: string;
  status: PartnerTable['status'];
  /** Granted interfaces, in the contract's order. */
  permissions: string[];
  /** Allowed caller addresses; empty means any. */
  ipAllow: string[];
  /** Requests per second; 0 means no limit. */
  rateLimit: number;
  createdAt: number;
}

export interface PartnerSummary extends PartnerView {
  activeKeys: number;
}

export interface KeyView {
  secId: string;
  signMode: SignMode;
  status: SecurityConfigTable['status'];
  createdAt: number;
  revokedAt: number | null;
}

/** A new key: the only time its md5key is ever returned. */
export interface CreatedKey extends KeyView {
  partnerId: string;
  md5key: string;
}

export interface PartnerPriceView {
  targetType: PriceTargetType;
  targetId: string;
  priceFen: number;
}

export interface PartnerDetail extends PartnerView {
  /** Null for operators, who may not see keys. */
  keys: KeyView[] | null;
  prices: PartnerPriceView[];
}

export interface CreatePartnerInput {
  name: string;
  /** Two upper-case letters the partner_id starts with; default `MT`. */
  prefix?: string;
  /** Interfaces to grant; default all. */
  permissions?: string[];
  ipAllow?: string[];
  rateLimit?: number;
}

export interface EditPartnerInput {
  name?: string;
  ipAllow?: string[];
  rateLimit?: number;
}

export interface CreateKeyInput {
  /** `^[A-Za-z0-9_]{1,32}$`; default the first free `k1`, `k2`, … */
  secId?: string;
  /** Default `full`. */
  signMode?: SignMode;
}

const splitList = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

function grantedOf(p: PartnerTable): Set<string> {
  const names = splitList(p.permissions);
  return new Set(names.includes('*') ? INTERFACE_NAMES : names);
}

function present(p: PartnerTable): PartnerView {
  const granted = grantedOf(p);
  return {
    partnerId: p.partner_id,
    name: p.name,
    busId: p.bus_id,
    status: p.status,
    permissions: INTERFACE_NAMES.filter((n) => granted.has(n)),
    ipAllow: splitList(p.ip_allow),
    rateLimit: p.rate_limit,
    createdAt: p.created_at,
  };
}

function presentKey(k: SecurityConfigInfo): KeyView {
  return {
    secId: k.sec_id,
    signMode: k.sign_mode,
    status: k.status,
    createdAt: k.created_at,
    revokedAt: k.revoked_at,
  };
}

const presentPrice = (p: PartnerPriceTable): PartnerPriceView => ({
  targetType: p.target_type,
  targetId: p.target_id,
  priceFen: p.price_fen,
});

function checkInterfaces(names: unknown): string[] {
  if (!Array.isArray(names)) throw invalid('permissions', 'must be a list of interface names');
  for (const n of names) {
    if (typeof n !== 'string' || !INTERFACE_NAMES.includes(n)) {
      const known = INTERFACE_NAMES.join(', ');
      throw new AppError('invalid', `unknown interface ${String(n)}; known: ${known}`, {
        field: 'permissions',
      });
    }
  }
  return names as string[];
}

function checkIpAllow(ips: unknown): string[] {
  if (!Array.isArray(ips)) throw invalid('ip_allow', 'must be a list of IP addresses');
  const out: string[] = [];
  for (const raw of ips) {
    const ip = typeof raw === 'string' ? raw.trim() : '';
    // The partner API compares the caller's address exactly, so ranges would silently never match.
    if (!isIP(ip))
      throw invalid('ip_allow', `${String(raw)} is not an IPv4 or IPv6 address`, 'partner.ip', {
        value: String(raw),
      });
    if (!out.includes(ip)) out.push(ip);
  }
  if (out.length > 100) throw invalid('ip_allow', 'may hold at most 100 addresses');
  return out;
}

const checkRateLimit = (v: unknown) => integer('rate_limit', v, 0, MAX_RATE_LIMIT);
const checkName = (v: unknown) => text('name', v, 1, 100);
const checkPartnerId = (v: unknown) =>
  pattern('partner_id', v, {
    re: /^[A-Z]{2}[0-9]{6}$/,
    rule: 'must be 2 upper-case letters and 6 digits, e.g. MT000001',
  });
const checkSecId = (v: unknown) =>
  pattern('sec_id', v, {
    re: /^[A-Za-z0-9_]{1,32}$/,
    rule: 'must be 1-32 letters, digits or _',
    id: 'field.word',
  });

function checkTarget(t: PriceTarget): PriceTarget {
  if (t?.type !== 'cinema' && t?.type !== 'kind') throw invalid('target', 'must be a cinema or a kind');
  return {
    type: t.type,
    id: pattern(`${t.type}_id`, t.id, ID),
  };
}

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

const ATTEMPTS = 10;
const jitter = () => new Promise((resolve) => setTimeout(resolve, randomInt(1, 20)));

/** Partners, their interfaces, keys (admins only) and own prices. */
export class PartnerAdminService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Which callback URLs may be set; by default none reaching this host or a private network. */
    private readonly callbacks: CallbackPolicy = new CallbackPolicy(),
  ) {}

  /** Creates a partner with a fresh partner_id and bus_id; no key yet (see createKey). */
  async create(by: Actor, input: CreatePartnerInput): Promise<PartnerView> {
    requireRole(by, STAFF, 'manage partners');
    const name = checkName(input.name);
    const prefix = pattern('prefix', input.prefix ?? DEFAULT_PARTNER_PREFIX, {
      re: /^[A-Z]{2}$/,
      rule: 'must be two upper-case letters',
      id: 'partner.prefix',
    });
    const permissions =
      input.permissions === undefined ? INTERFACE_NAMES : checkInterfaces(input.permissions);
    const ipAllow = checkIpAllow(input.ipAllow ?? []);
    const rateLimit = checkRateLimit(input.rateLimit ?? 0);
    // Two operators creating partners at once may pick the same next number; the loser retries.
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction(this.db, async (tx) => {
          const row: PartnerTable = {
            partner_id: await this.nextPartnerId(tx, prefix),
            name,
            bus_id: await this.freeBusId(tx),
            status: 'active',
            permissions: INTERFACE_NAMES.filter((n) => permissions.includes(n)).join(','),
            ip_allow: ipAllow.join(','),
            rate_limit: rateLimit,
            created_at: this.clock.now(),
          };
          await insertPartner(tx, row);
          const view = present(row);
          await this.change(tx, by, 'partner.create', row.partner_id, null, view);
          return view;
        });
      } catch (err) {
        if (attempt >= ATTEMPTS || !this.db.isUniqueViolation(err)) throw err;
        await jitter();
      }
    }
  }

  async edit(by: Actor, partnerId: string, input: EditPartnerInput): Promise<PartnerView> {
    requireRole(by, STAFF, 'manage partners');
    const changes: Partial<PartnerTable> = {};
    if (input.name !== undefined) changes.name = checkName(input.name);
    if (input.ipAllow !== undefined) changes.ip_allow = checkIpAllow(input.ipAllow).join(',');
    if (input.rateLimit !== undefined) changes.rate_limit = checkRateLimit(input.rateLimit);
    if (Object.keys(changes).length === 0)
      throw invalid('changes', 'are empty: give a name, ip_allow or rate_limit', 'changes.empty');
    return this.update(by, partnerId, 'partner.update', () => changes);
  }

  async suspend(by: Actor, partnerId: string): Promise<PartnerView> {
    requireRole(by, STAFF, 'manage partners');
    return this.update(by, partnerId, 'partner.suspend', () => ({ status: 'suspended' }));
  }

  async resume(by: Actor, partnerId: string): Promise<PartnerView> {
    requireRole(by, STAFF, 'manage partners');
    return this.update(by, partnerId, 'partner.resume', () => ({ status: 'active' }));
  }

  async grant(by: Actor, partnerId: string, interfaces: string[]): Promise<PartnerView> {
    requireRole(by, STAFF, 'manage partners');
    const names = checkInterfaces(interfaces);
    if (names.length === 0) throw invalid('interfaces', 'are empty', 'interfaces.empty');
    return this.update(by, partnerId, 'partner.grant', (p) => {
      const granted = grantedOf(p);
      for (const n of names) granted.add(n);
      return { permissions: INTERFACE_NAMES.filter((n) => granted.has(n)).join(',') };
    });
  }

  async revoke(by: Actor, partnerId: string, interfaces: string[]): Promise<PartnerView> {
    requireRole(by, STAFF, 'manage partners');
    const names = checkInterfaces(interfaces);
    if (names.length === 0) throw invalid('interfaces', 'are empty', 'interfaces.empty');
    return this.update(by, partnerId, 'partner.revoke', (p) => {
      const granted = grantedOf(p);
      for (const n of names) granted.delete(n);
      return { permissions: INTERFACE_NAMES.filter((n) => granted.has(n)).join(',') };
    });
  }

  async list(by: Actor): Promise<PartnerSummary[]> {
    requireRole(by, STAFF, 'see partners');
    const [partners, keys] = [await listPartners(this.db.kysely), await listSecurityConfigs(this.db.kysely)];
    const active = new Map<string, number>();
    for (const k of keys)
      if (k.status === 'active') active.set(k.partner_id, (active.get(k.partner_id) ?? 0) + 1);
    return partners.map((p) => ({ ...present(p), activeKeys: active.get(p.partner_id) ?? 0 }));
  }

  async show(by: Actor, partnerId: string): Promise<PartnerDetail> {
    requireRole(by, STAFF, 'see partners');
    const p = await this.require(this.db.kysely, partnerId);
    const keys =
      by.role === 'admin' ? (await listSecurityConfigs(this.db.kysely, p.partner_id)).map(presentKey) : null;
    const prices = (await listPartnerPrices(this.db.kysely, p.partner_id)).map(presentPrice);
    return { ...present(p), keys, prices };
  }

  /** Adds a security config with a fresh md5key; the key is returned here and never again. */
  async createKey(by: Actor, partnerId: string, input: CreateKeyInput = {}): Promise<CreatedKey> {
    requireRole(by, ['admin'], 'manage keys');
    // full signs the interface's own parameters too; basic is kept for partners built on it.
    const signMode = input.signMode ?? 'full';
    if (signMode !== 'basic' && signMode !== 'full') throw invalid('sign_mode', 'must be basic or full');
    const wanted = input.secId === undefined ? undefined : checkSecId(input.secId);
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction(this.db, async (tx) => {
          const p = await this.require(tx, partnerId);
          const existing = await listSecurityConfigs(tx, p.partner_id);
          const taken = new Set(existing.map((k) => k.sec_id));
          if (wanted !== undefined && taken.has(wanted)) {
            // Revoked sec_ids stay taken so that a revoked key can never come back under its old name.
            throw conflict(`sec_id ${wanted} already exists for partner ${p.partner_id}`);
          }
          let secId = wanted;
          for (let n = 1; secId === undefined; n++) if (!taken.has(`k${n}`)) secId = `k${n}`;
          const row: SecurityConfigTable = {
            partner_id: p.partner_id,
            sec_id: secId,
            md5key: generateMd5Key(),
            sign_mode: signMode,
            status: 'active',
            created_at: this.clock.now(),
            revoked_at: null,
          };
          await insertSecurityConfig(tx, row);
          const view = presentKey(row);
          await this.change(tx, by, 'key.create', p.partner_id, null, view);
          return { partnerId: p.partner_id, ...view, md5key: row.md5key };
        });
      } catch (err) {
        if (!this.db.isUniqueViolation(err)) throw err;
        if (wanted !== undefined) throw conflict(`sec_id ${wanted} already exists for partner ${partnerId}`);
        if (attempt >= ATTEMPTS) throw err;
        await jitter();
      }
    }
  }

  async listKeys(by: Actor, partnerId: string): Promise<KeyView[]> {
    requireRole(by, ['admin'], 'manage keys');
    const p = await this.require(this.db.kysely, partnerId);
    return (await listSecurityConfigs(this.db.kysely, p.partner_id)).map(presentKey);
  }

  /** Revokes one key; the partner's other keys keep working (rotation: create, switch, revoke). */
  async revokeKey(by: Actor, partnerId: string, secId: string): Promise<KeyView> {
    requireRole(by, ['admin'], 'manage keys');
    return inTransaction(this.db, async (tx) => {
      const p = await this.require(tx, partnerId);
      const key = await findSecurityConfigInfo(tx, p.partner_id, checkSecId(secId));
      if (!key) throw notFound(`sec_id`, `${secId} of partner ${p.partner_id}`);
      if (key.status === 'revoked')
        throw conflict(`sec_id ${secId} of partner ${p.partner_id} is already revoked`);
      const at = this.clock.now();
      await revokeSecurityConfig(tx, p.partner_id, key.sec_id, at);
      const before = presentKey(key);
      const after: KeyView = { ...before, status: 'revoked', revokedAt: at };
      await this.change(tx, by, 'key.revoke', p.partner_id, before, after);
      return after;
    });
  }

  /**
   * Sets the URL the partner's card events (redeemed, redemption undone, expired, banned) are
   * POSTed to; null or '' removes it. Only changes made while a URL is set produce events.
   */
  async setCallback(by: Actor, partnerId: string, url: string | null): Promise<CallbackView> {
    requireRole(by, STAFF, 'manage partners');
    const next = checkCallbackUrl(url, this.callbacks);
    return inTransaction(this.db, async (tx) => {
      const p = await this.require(tx, partnerId);
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
  async notifyLog(by: Actor, partnerId: string, limit = 50): Promise<NotifyLog> {
    requireRole(by, STAFF, 'see partners');
    const n = integer('limit', limit, 1, 500);
    const p = await this.require(this.db.kysely, partnerId);
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
  async retryNotify(by: Actor, eventId: string): Promise<NotifyEventView> {
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

  /** Sets the partner's own settlement price for a cinema or kind, from yuan ("35.00"). */
  async setPrice(
    by: Actor,
    partnerId: string,
    target: PriceTarget,
    price: string,
  ): Promise<PartnerPriceView> {
    requireRole(by, STAFF, 'manage prices');
    const t = checkTarget(target);
    const priceFen = yuanToFen('price', price);
    return inTransaction(this.db, async (tx) => {
      const p = await this.require(tx, partnerId);
      const exists = t.type === 'cinema' ? await findCinema(tx, t.id) : await findKind(tx, t.id);
      if (!exists) throw notFound(t.type, t.id);
      const before = await findPartnerPrice(tx, p.partner_id, t.type, t.id);
      const row: PartnerPriceTable = {
        partner_id: p.partner_id,
        target_type: t.type,
        target_id: t.id,
        price_fen: priceFen,
      };
      const after = presentPrice(row);
      if (before?.price_fen === priceFen) return after;
      await upsertPartnerPrice(tx, row);
      await this.change(tx, by, 'price.set', p.partner_id, before ? presentPrice(before) : null, after);
      return after;
    });
  }

  /** Removes the partner's own price; the default price applies again. */
  async clearPrice(by: Actor, partnerId: string, target: PriceTarget): Promise<PartnerPriceView> {
    requireRole(by, STAFF, 'manage prices');
    const t = checkTarget(target);
    return inTransaction(this.db, async (tx) => {
      const p = await this.require(tx, partnerId);
      const before = await findPartnerPrice(tx, p.partner_id, t.type, t.id);
      if (!before)
        throw new AppError('not_found', `partner ${p.partner_id} has no own price for ${t.type} ${t.id}`);
      await deletePartnerPrice(tx, p.partner_id, t.type, t.id);
      await this.change(tx, by, 'price.clear', p.partner_id, presentPrice(before), null);
      return presentPrice(before);
    });
  }

  private update(
    by: Actor,
    partnerId: string,
    action: string,
    changesOf: (p: PartnerTable) => Partial<PartnerTable>,
  ): Promise<PartnerView> {
    return inTransaction(this.db, async (tx) => {
      const p = await this.require(tx, partnerId);
      const next: PartnerTable = { ...p, ...changesOf(p) };
      const before = present(p);
      const after = present(next);
      if (JSON.stringify(before) === JSON.stringify(after)) return after;
      await updatePartner(tx, p.partner_id, {
        name: next.name,
        status: next.status,
        permissions: next.permissions,
        ip_allow: next.ip_allow,
        rate_limit: next.rate_limit,
      });
      await this.change(tx, by, action, p.partner_id, before, after);
      return after;
    });
  }

  private async require(tx: Executor, partnerId: string): Promise<PartnerTable> {
    const p = await findPartner(tx, checkPartnerId(partnerId));
    if (!p) throw notFound('partner', partnerId);
    return p;
  }

  /** Audits a change in its transaction (the registry_version triggers tell every server). */
  private async change(
    tx: Executor,
    by: Actor,
    action: string,
    partnerId: string,
    before: unknown,
    after: unknown,
  ) {
    await recordAudit(tx, {
      at: this.clock.now(),
      actor: by.actor,
      action,
      entityType: 'partner',
      entityId: partnerId,
      before,
      after,
    });
  }

  private async nextPartnerId(tx: Executor, prefix: string): Promise<string> {
    let max = 0;
    for (const id of await partnerIdsWithPrefix(tx, prefix)) {
      const m = /^[A-Z]{2}([0-9]{6})$/.exec(id);
      if (m) max = Math.max(max, Number(m[1]));
    }
    if (max >= 999_999) throw conflict(`no partner_id left with prefix ${prefix}; choose another prefix`);
    return `${prefix}${String(max + 1).padStart(6, '0')}`;
  }

  private async freeBusId(tx: Executor): Promise<string> {
    // Random rather than sequential, so a bus_id says nothing about how many partners exist.
    for (let i = 0; i < 20; i++) {
      const busId = String(randomInt(1_000_000, 10_000_000));
      if (!(await busIdTaken(tx, busId))) return busId;
    }
    throw conflict('could not find a free bus_id');
  }
}
