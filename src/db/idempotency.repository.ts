import type { Selectable } from 'kysely';
import type { IdempotencyKeyTable } from './schema.js';
import type { Executor } from './executor.js';

export type IdempotencyKeyRow = Selectable<IdempotencyKeyTable>;

/**
 * Claims a key for a request about to run: inserts the pending row, or takes over a row that
 * expired but was not pruned yet. False when a live row holds the key. One statement, so two
 * claims of one key cannot both win (on PostgreSQL the second waits for the first to commit).
 */
export async function claimIdempotencyKey(
  db: Executor,
  row: IdempotencyKeyTable,
  now: number,
): Promise<boolean> {
  const result = await db
    .insertInto('idempotency_keys')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['user_id', 'key_hash'])
        .doUpdateSet({
          scope: row.scope,
          method: row.method,
          path: row.path,
          request_hash: row.request_hash,
          state: row.state,
          status: row.status,
          response: row.response,
          created_at: row.created_at,
          expires_at: row.expires_at,
        })
        .where('idempotency_keys.expires_at', '<=', now),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}

export function findIdempotencyKey(
  db: Executor,
  userId: string,
  keyHash: string,
): Promise<IdempotencyKeyRow | undefined> {
  return db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('user_id', '=', userId)
    .where('key_hash', '=', keyHash)
    .executeTakeFirst();
}

/** Stores the result of the claim made at `claimedAt`; false when that claim is no longer there. */
export async function completeIdempotencyKey(
  db: Executor,
  key: { userId: string; keyHash: string; claimedAt: number },
  status: number,
  response: string,
): Promise<boolean> {
  const result = await db
    .updateTable('idempotency_keys')
    .set({ state: 'done', status, response })
    .where('user_id', '=', key.userId)
    .where('key_hash', '=', key.keyHash)
    .where('state', '=', 'pending')
    .where('created_at', '=', key.claimedAt)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Forgets keys that expired at or before `now`. */
export async function deleteExpiredIdempotencyKeys(db: Executor, now: number): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
