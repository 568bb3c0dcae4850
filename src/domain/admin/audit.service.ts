import type { Db } from '../../db/database.js';
import { searchAuditLog } from '../../db/partner-admin.repository.js';
import type { Role } from '../../db/schema.js';
import { parseYuan } from '../money.js';

// Shared by the admin services: who acts, the error they throw, and input checks.

export type AdminErrorCode = 'invalid' | 'forbidden' | 'not_found' | 'conflict';

const ADMIN_ERROR_STATUS: Record<AdminErrorCode, number> = {
  invalid: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
};

/** A management-platform error whose message is safe to show to the operator. */
export class AdminError extends Error {
  readonly status: number;
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    /** The input field at fault, for `invalid`. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AdminError';
    this.status = ADMIN_ERROR_STATUS[code];
  }
}

export const invalid = (field: string, rule: string) => new AdminError('invalid', `${field} ${rule}`, field);
export const notFound = (what: string, id: string) => new AdminError('not_found', `${what} ${id} not found`);
export const conflict = (message: string) => new AdminError('conflict', message);

/** Who makes a change: the audit log's actor (`user:NAME`, `cli:NAME`) and that account's role. */
export interface Actor {
  actor: string;
  role: Role;
}

export function requireRole(by: Actor, roles: readonly Role[], task: string): void {
  if (!by.actor) throw new AdminError('invalid', 'actor is required');
  if (!roles.includes(by.role)) {
    throw new AdminError('forbidden', `role ${by.role} may not ${task}`);
  }
}

/** Admins and operators run the platform; cinema accounts only redeem. */
export const STAFF: readonly Role[] = ['admin', 'operator'];

// Printable text only: the partner API renders these into XML, where control characters are illegal.
const CONTROL = /[\p{Cc}\p{Cs}\uFFFE\uFFFF]/u;

/** Trimmed text of `min`–`max` characters without control characters. */
export function text(field: string, value: unknown, min: number, max: number): string {
  if (typeof value !== 'string') throw invalid(field, 'is required');
  const v = value.trim();
  const len = [...v].length;
  if (len < min || len > max || CONTROL.test(v)) {
    throw invalid(field, `must be ${min}-${max} printable characters`);
  }
  return v;
}

export function pattern(field: string, value: unknown, re: RegExp, rule: string): string {
  if (typeof value !== 'string' || !re.test(value)) throw invalid(field, rule);
  return value;
}

export function integer(field: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' && /^-?[0-9]{1,10}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw invalid(field, `must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** A price in yuan ("35", "35.5", "35.00") to fen; zero is refused. */
export function yuanToFen(field: string, value: unknown): number {
  const fen = typeof value === 'string' ? parseYuan(value.trim()) : null;
  if (fen === null || fen === 0) throw invalid(field, 'must be an amount in yuan greater than 0, e.g. 35.00');
  return fen;
}

/** Maps a unique-key violation raised by `fn` to a conflict with `message`. */
export async function uniquely<T>(db: Db, message: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (db.isUniqueViolation(err)) throw conflict(message);
    throw err;
  }
}

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
