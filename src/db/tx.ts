import type { Kysely, Transaction } from 'kysely';
import type { Db } from './database.js';
import type { Database } from './schema.js';

/** A query executor: the database itself or an open transaction. Opaque to the domain. */
export type Executor = Kysely<Database> | Transaction<Database>;

export function inTransaction<T>(db: Db, fn: (tx: Executor) => Promise<T>): Promise<T> {
  return db.kysely.transaction().execute(fn);
}
