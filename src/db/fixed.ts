import { CompiledQuery, PostgresAdapter, type QueryResult } from 'kysely';
import type { Executor } from './executor.js';

/**
 * A statement of the write path written once as SQL with `?` placeholders and run as it is: no
 * query building and no compiling per request (the builder costs several times what SQLite needs
 * to run such a statement). PostgreSQL gets the same text with `$1, $2, …`.
 */
export interface FixedStatement<R> {
  run(db: Executor, params: unknown[]): Promise<QueryResult<R>>;
}

export function fixedStatement<R = never>(text: string): FixedStatement<R> {
  let n = 0;
  // The write path's statements carry no `?` inside a string literal.
  const postgres = text.replace(/\?/g, () => `$${++n}`);
  return {
    run: (db, params) => {
      const direct = DIRECT.get(db);
      if (direct) return direct<R>(text, params);
      return db.executeQuery<R>(CompiledQuery.raw(onPostgres(db) ? postgres : text, params));
    },
  };
}

/** Runs a statement on a connection the caller holds, without the query executor between. */
export type DirectRun = <R>(sql: string, params: readonly unknown[]) => Promise<QueryResult<R>>;

const DIRECT = new WeakMap<Executor, DirectRun>();

/**
 * Lets fixed statements run on `tx` through `run` until `stopRunningDirectly(tx)`: for a SQLite
 * write batch, whose connection is held from its begin to its commit, so nothing can come
 * between. Kysely's executor chain around each statement cost more than many of the statements.
 */
export function runDirectlyIn(tx: Executor, run: DirectRun): void {
  DIRECT.set(tx, run);
}

/** Ends `runDirectlyIn`: a `tx` kept past its commit must not reach the connection directly. */
export function stopRunningDirectly(tx: Executor): void {
  DIRECT.delete(tx);
}

/** True when `db` runs on PostgreSQL. */
export function onPostgres(db: Executor): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

const UPDATES = new Map<string, FixedStatement<never>>();

/**
 * `update <table> set <each column of changes> = ? where <where>`, made once per table, set of
 * columns and condition and then reused like a fixed statement. Column names and conditions come
 * from code, never from a request. Undefined values are left out, as the query builder does.
 */
export function runUpdate(
  db: Executor,
  table: string,
  changes: Record<string, unknown>,
  where: string,
  whereParams: unknown[],
): Promise<QueryResult<never>> {
  const columns = Object.keys(changes).filter((c) => changes[c] !== undefined);
  const key = `${table}\n${columns.join(',')}\n${where}`;
  let stmt = UPDATES.get(key);
  if (!stmt) {
    stmt = fixedStatement(
      `update ${table} set ${columns.map((c) => `"${c}" = ?`).join(', ')} where ${where}`,
    );
    UPDATES.set(key, stmt);
  }
  return stmt.run(db, [...columns.map((c) => changes[c]), ...whereParams]);
}
