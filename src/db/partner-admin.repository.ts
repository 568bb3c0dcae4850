import type { AuditLogTable, PartnerPriceTable, PartnerTable, SecurityConfigTable } from './schema.js';
import type { Executor } from './executor.js';

/** A security config as the management platform shows it: never the md5key. */
export type SecurityConfigInfo = Omit<SecurityConfigTable, 'md5key'>;

const KEY_COLUMNS = ['partner_id', 'sec_id', 'sign_mode', 'status', 'created_at', 'revoked_at'] as const;

export function findPartner(db: Executor, partnerId: string): Promise<PartnerTable | undefined> {
  return db.selectFrom('partners').selectAll().where('partner_id', '=', partnerId).executeTakeFirst();
}

export function listPartners(db: Executor): Promise<PartnerTable[]> {
  return db.selectFrom('partners').selectAll().orderBy('partner_id').execute();
}

/** Partner ids that start with the two-letter prefix. */
export async function partnerIdsWithPrefix(db: Executor, prefix: string): Promise<string[]> {
  const rows = await db
    .selectFrom('partners')
    .select('partner_id')
    .where('partner_id', 'like', `${prefix}%`)
    .execute();
  return rows.map((r) => r.partner_id);
}

export async function busIdTaken(db: Executor, busId: string): Promise<boolean> {
  const row = await db
    .selectFrom('partners')
    .select('partner_id')
    .where('bus_id', '=', busId)
    .executeTakeFirst();
  return row !== undefined;
}

export function listSecurityConfigs(db: Executor, partnerId?: string): Promise<SecurityConfigInfo[]> {
  let q = db.selectFrom('security_configs').select(KEY_COLUMNS);
  if (partnerId !== undefined) q = q.where('partner_id', '=', partnerId);
  return q.orderBy('partner_id').orderBy('created_at').orderBy('sec_id').execute();
}

export function findSecurityConfigInfo(
  db: Executor,
  partnerId: string,
  secId: string,
): Promise<SecurityConfigInfo | undefined> {
  return db
    .selectFrom('security_configs')
    .select(KEY_COLUMNS)
    .where('partner_id', '=', partnerId)
    .where('sec_id', '=', secId)
    .executeTakeFirst();
}

export async function revokeSecurityConfig(
  db: Executor,
  partnerId: string,
  secId: string,
  at: number,
): Promise<void> {
  await db
    .updateTable('security_configs')
    .set({ status: 'revoked', revoked_at: at })
    .where('partner_id', '=', partnerId)
    .where('sec_id', '=', secId)
    .execute();
}

export function listPartnerPrices(db: Executor, partnerId: string): Promise<PartnerPriceTable[]> {
  return db
    .selectFrom('partner_prices')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .orderBy('target_type')
    .orderBy('target_id')
    .execute();
}

export function findPartnerPrice(
  db: Executor,
  partnerId: string,
  targetType: PartnerPriceTable['target_type'],
  targetId: string,
): Promise<PartnerPriceTable | undefined> {
  return db
    .selectFrom('partner_prices')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .where('target_type', '=', targetType)
    .where('target_id', '=', targetId)
    .executeTakeFirst();
}

export async function deletePartnerPrice(
  db: Executor,
  partnerId: string,
  targetType: PartnerPriceTable['target_type'],
  targetId: string,
): Promise<void> {
  await db
    .deleteFrom('partner_prices')
    .where('partner_id', '=', partnerId)
    .where('target_type', '=', targetType)
    .where('target_id', '=', targetId)
    .execute();
}

export interface AuditFilter {
  entityType?: string;
  entityId?: string;
  actor?: string;
  action?: string;
  since?: number;
  until?: number;
  limit: number;
  offset: number;
}

/** Audit rows matching every given filter, newest first. */
export function searchAuditLog(db: Executor, f: AuditFilter): Promise<AuditLogTable[]> {
  let q = db.selectFrom('audit_log').selectAll();
  if (f.entityType !== undefined) q = q.where('entity_type', '=', f.entityType);
  if (f.entityId !== undefined) q = q.where('entity_id', '=', f.entityId);
  if (f.actor !== undefined) q = q.where('actor', '=', f.actor);
  if (f.action !== undefined) q = q.where('action', '=', f.action);
  if (f.since !== undefined) q = q.where('at', '>=', f.since);
  if (f.until !== undefined) q = q.where('at', '<', f.until);
  return q.orderBy('at', 'desc').orderBy('audit_id').limit(f.limit).offset(f.offset).execute();
}
