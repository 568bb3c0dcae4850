import type { Db } from '../../db/database.js';
import { searchAuditLog } from '../../db/partner-admin.repository.js';
import type { Role } from '../../db/schema.js';
import { badInput, forbidden, invalid } from '../../errors.js';
import { integer } from '../validate.js';

// Shared by the admin services: who acts, and the audit trail.

/** Who makes a change: the audit log's actor (`user:NAME`, `cli:NAME`) and that account's role. */
export interface Actor {
  actor: string;
  role: Role;
}

export function requireRole(by: Actor, roles: readonly Role[], task: string): void {
  if (!by.actor) throw badInput('actor is required', 'field.required', { field: 'actor' });
  if (!roles.includes(by.role)) {
    throw forbidden(`role ${by.role} may not ${task}`, 'role.forbidden', { role: by.role, task });
  }
}

/** Admins and operators run the platform; cinema accounts only redeem. */
export const STAFF: readonly Role[] = ['admin', 'operator'];

// The audit trail.

export interface AuditQuery {
  entityType?: string;
  entityId?: string;
  actor?: string;
  action?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** 1–500, default 50. */
  limit?: number;
  offset?: number;
}

export interface AuditEntryView {
  auditId: string;
  at: number;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  before: unknown;
  after: unknown;
}

export interface AuditPage {
  entries: AuditEntryView[];
  /** The offset of the next page, or null on the last page. */
  nextOffset: number | null;
}

const parseJson = (v: string | null): unknown => (v === null ? null : JSON.parse(v));

/** Searches the audit log, newest first. */
export class AuditService {
  constructor(private readonly db: Db) {}

  async search(by: Actor, q: AuditQuery = {}): Promise<AuditPage> {
    requireRole(by, STAFF, 'read the audit log');
    const limit = q.limit === undefined ? 50 : integer('limit', q.limit, 1, 500);
    const offset = q.offset === undefined ? 0 : integer('offset', q.offset, 0, 1_000_000_000);
    for (const [name, v] of [
      ['since', q.since],
      ['until', q.until],
    ] as const) {
      if (v !== undefined && !Number.isSafeInteger(v)) throw invalid(name, 'must be a time in epoch ms');
    }
    const rows = await searchAuditLog(this.db.kysely, {
      entityType: q.entityType || undefined,
      entityId: q.entityId || undefined,
      actor: q.actor || undefined,
      action: q.action || undefined,
      since: q.since,
      until: q.until,
      limit: limit + 1,
      offset,
    });
    return {
      entries: rows.slice(0, limit).map((r) => ({
        auditId: r.audit_id,
        at: r.at,
        actor: r.actor,
        action: r.action,
        entityType: r.entity_type,
        entityId: r.entity_id,
        before: parseJson(r.before),
        after: parseJson(r.after),
      })),
      nextOffset: rows.length > limit ? offset + limit : null,
    };
  }
}
