import type { Db } from './database.js';
import type { Executor } from './executor.js';

export type { Executor } from './executor.js';

/** A write transaction; on SQLite it may share its commit with others (see WriteBatcher). */
export function inTransaction<T>(db: Db, fn: (tx: Executor) => Promise<T>): Promise<T> {
  return db.writeTransaction(fn);
}
