import type { Kysely, Transaction } from 'kysely';
import type { Db } from './database.js';
import type { Database } from './schema.js';

/** A query executor: the database itself or an open transaction. Opaque to the domain. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** A write transaction; on SQLite it may share its commit with others (see WriteBatcher). */
export function inTransaction<T>(db: Db, fn: (tx: Executor) => Promise<T>): Promise<T> {
  return db.writeTransaction(fn);
}
