import { randomUUID } from 'node:crypto';
import type { Executor } from './executor.js';

export interface AuditEntry {
  at: number;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  before?: unknown;
  after?: unknown;
}

const SECRET_KEYS = new Set(['md5key', 'password', 'password_hash', 'csrf_token', 'session_id']);

/** JSON of a record with secrets replaced, so the audit trail never holds them. */
function scrub(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return JSON.stringify(value, (key, v: unknown) => (SECRET_KEYS.has(key) ? '***' : v));
}

/** Records a change, in the caller's transaction. */
export async function recordAudit(db: Executor, e: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      audit_id: randomUUID(),
      at: e.at,
      actor: e.actor,
      action: e.action,
      entity_type: e.entityType,
      entity_id: e.entityId,
      before: scrub(e.before),
      after: scrub(e.after),
    })
    .execute();
}
