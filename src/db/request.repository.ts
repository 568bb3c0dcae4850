import { type Insertable, type Selectable, sql } from 'kysely';
import type { Executor } from './tx.js';
import type { RequestTable } from './schema.js';

export type RequestRow = Selectable<RequestTable>;

export function findRequest(db: Executor, partnerId: string, reqId: string): Promise<RequestRow | undefined> {
  return db
    .selectFrom('requests')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .where('req_id', '=', reqId)
    .executeTakeFirst();
}

/** The stored requests among `reqIds` of one partner. */
export function findRequests(
  db: Executor,
  partnerId: string,
  reqIds: readonly string[],
): Promise<RequestRow[]> {
  return db
    .selectFrom('requests')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .where('req_id', 'in', reqIds)
    .execute();
}

/**
 * Records a mutation's result inside the caller's transaction. False when another request
 * holds the req_id; on PostgreSQL this waits for a concurrent holder to commit or roll back.
 */
export async function claimRequest(db: Executor, row: RequestRow): Promise<boolean> {
  const result =
    await sql`insert into requests (partner_id, req_id, method, params_hash, code, body, created_at)
    values (${row.partner_id}, ${row.req_id}, ${row.method}, ${row.params_hash}, ${row.code}, ${row.body}, ${row.created_at})
    on conflict (partner_id, req_id) do nothing`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

/** Records answered read requests; an existing row (a concurrent twin) wins. */
export async function insertRequests(db: Executor, rows: Insertable<RequestTable>[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('requests')
    .values(rows)
    .onConflict((oc) => oc.columns(['partner_id', 'req_id']).doNothing())
    .execute();
}

export async function pruneRequests(db: Executor, before: number): Promise<number> {
  const result = await db.deleteFrom('requests').where('created_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
