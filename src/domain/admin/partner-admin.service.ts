import { randomInt } from 'node:crypto';
import { findCinema, findKind } from '../../db/catalog-admin.repository.js';
import type { Db } from '../../db/database.js';
import type { NotifyEventView } from '../notify.js';
import {
  busIdTaken,
  deletePartnerPrice,
  findPartnerPrice,
  listPartnerPrices,
  listPartners,
  listSecurityConfigs,
  partnerIdsWithPrefix,
} from '../../db/partner-admin.repository.js';
import { insertPartner, updatePartner, upsertPartnerPrice } from '../../db/partner.repository.js';
import type { PartnerPriceTable, PartnerTable } from '../../db/schema.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import { INTERFACE_NAMES } from '../interface-names.js';
import { CallbackPolicy } from '../callback-policy.js';
import type { Clock } from '../clock.js';
import { type Actor, requireRole, STAFF } from './audit.service.js';
import { AppError, conflict, invalid, notFound } from '../../errors.js';
import { given, valid } from '../validate.js';
import { type CallbackView, type NotifyLog, PartnerCallbackService } from './partner-callback.service.js';
import {
  checkInterfaces,
  checkNewPartner,
  checkPartnerEdit,
  checkPartnerPrice,
  checkTarget,
  DEFAULT_PARTNER_PREFIX,
  jitter,
  recordPartnerChange,
  requirePartner,
  UNIQUE_ATTEMPTS,
} from './partner-checks.js';
import { PartnerKeyService } from './partner-keys.service.js';
import {
  type CreatedKey,
  type CreateKeyInput,
  type CreatePartnerInput,
  type EditPartnerInput,
  grantedOf,
  type KeyView,
  type PartnerDetail,
  type PartnerPriceView,
  type PartnerSummary,
  type PartnerView,
  presentKey,
  presentPartner,
  presentPrice,
  type PriceTarget,
} from './partner-views.js';

export { DEFAULT_PARTNER_PREFIX };

/**
 * Partners, their interfaces, keys (admins only; see partner-keys.service.ts), own prices and
 * callbacks (partner-callback.service.ts).
 */
export class PartnerAdminService {
  private readonly keys: PartnerKeyService;
  private readonly callbacks: PartnerCallbackService;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    /** Which callback URLs may be set; by default none reaching this host or a private network. */
    callbackPolicy: CallbackPolicy = new CallbackPolicy(),
  ) {
    this.keys = new PartnerKeyService(db, clock);
    this.callbacks = new PartnerCallbackService(db, clock, callbackPolicy);
  }

  /** Creates a partner with a fresh partner_id and bus_id; no key yet (see createKey). */
  async create(by: Actor, input: CreatePartnerInput): Promise<PartnerView> {
    requireRole(by, STAFF, 'manage partners');
    const { name, prefix, permissions, ipAllow, rateLimit } = valid(checkNewPartner(input));
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
          const view = presentPartner(row);
          await recordPartnerChange(tx, this.clock, by, 'partner.create', row.partner_id, null, view);
          return view;
        });
      } catch (err) {
        if (attempt >= UNIQUE_ATTEMPTS || !this.db.isUniqueViolation(err)) throw err;
        await jitter();
      }
    }
  }

  async edit(by: Actor, partnerId: string, input: EditPartnerInput): Promise<PartnerView> {
    requireRole(by, STAFF, 'manage partners');
    const changes: Partial<PartnerTable> = given(valid(checkPartnerEdit(input)));
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
    return partners.map((p) => ({ ...presentPartner(p), activeKeys: active.get(p.partner_id) ?? 0 }));
  }

  async show(by: Actor, partnerId: string): Promise<PartnerDetail> {
    requireRole(by, STAFF, 'see partners');
    const p = await requirePartner(this.db.kysely, partnerId);
    const keys =
      by.role === 'admin' ? (await listSecurityConfigs(this.db.kysely, p.partner_id)).map(presentKey) : null;
    const prices = (await listPartnerPrices(this.db.kysely, p.partner_id)).map(presentPrice);
    return { ...presentPartner(p), keys, prices };
  }

  /** Adds a security config with a fresh md5key; the key is returned here and never again. */
  createKey(by: Actor, partnerId: string, input: CreateKeyInput = {}): Promise<CreatedKey> {
    return this.keys.create(by, partnerId, input);
  }

  listKeys(by: Actor, partnerId: string): Promise<KeyView[]> {
    return this.keys.list(by, partnerId);
  }

  /** Revokes one key; the partner's other keys keep working (rotation: create, switch, revoke). */
  revokeKey(by: Actor, partnerId: string, secId: string): Promise<KeyView> {
    return this.keys.revoke(by, partnerId, secId);
  }

  /** Sets or (null or '') removes the URL the partner's card events are POSTed to. */
  setCallback(by: Actor, partnerId: string, url: string | null): Promise<CallbackView> {
    return this.callbacks.set(by, partnerId, url);
  }

  /** The partner's callback URL and its newest notify events with their delivery state. */
  notifyLog(by: Actor, partnerId: string, limit = 50): Promise<NotifyLog> {
    return this.callbacks.log(by, partnerId, limit);
  }

  /** Queues a notify event for an attempt now, whatever its state. */
  retryNotify(by: Actor, eventId: string): Promise<NotifyEventView> {
    return this.callbacks.retry(by, eventId);
  }

  /** Sets the partner's own settlement price for a cinema or kind, from yuan ("35.00"). */
  async setPrice(
    by: Actor,
    partnerId: string,
    target: PriceTarget,
    price: string,
  ): Promise<PartnerPriceView> {
    requireRole(by, STAFF, 'manage prices');
    const { target: t, priceFen } = valid(checkPartnerPrice(target, price));
    return inTransaction(this.db, async (tx) => {
      const p = await requirePartner(tx, partnerId);
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
      await recordPartnerChange(
        tx,
        this.clock,
        by,
        'price.set',
        p.partner_id,
        before ? presentPrice(before) : null,
        after,
      );
      return after;
    });
  }

  /** Removes the partner's own price; the default price applies again. */
  async clearPrice(by: Actor, partnerId: string, target: PriceTarget): Promise<PartnerPriceView> {
    requireRole(by, STAFF, 'manage prices');
    const t = checkTarget(target);
    return inTransaction(this.db, async (tx) => {
      const p = await requirePartner(tx, partnerId);
      const before = await findPartnerPrice(tx, p.partner_id, t.type, t.id);
      if (!before)
        throw new AppError('not_found', `partner ${p.partner_id} has no own price for ${t.type} ${t.id}`);
      await deletePartnerPrice(tx, p.partner_id, t.type, t.id);
      await recordPartnerChange(tx, this.clock, by, 'price.clear', p.partner_id, presentPrice(before), null);
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
      const p = await requirePartner(tx, partnerId);
      const next: PartnerTable = { ...p, ...changesOf(p) };
      const before = presentPartner(p);
      const after = presentPartner(next);
      if (JSON.stringify(before) === JSON.stringify(after)) return after;
      await updatePartner(tx, p.partner_id, {
        name: next.name,
        status: next.status,
        permissions: next.permissions,
        ip_allow: next.ip_allow,
        rate_limit: next.rate_limit,
      });
      await recordPartnerChange(tx, this.clock, by, action, p.partner_id, before, after);
      return after;
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
