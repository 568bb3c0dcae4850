import type BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  SqliteAdapter,
  type DialectAdapter,
  type Dialect,
  type Kysely,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseIntrospector,
  type QueryCompiler,
} from 'kysely';

/**
 * A SQLite driver for Kysely built for a busy single connection: prepared statements are cached
 * (preparing costs more than running a small query) and waiters for the connection are served
 * in order, one wake-up each.
 */
class FifoLock {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  unlock(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
}

const MAX_CACHED_STATEMENTS = 500;

/**
 * Runs a statement on `db` at once, from a cache of prepared statements (preparing costs more than
 * running a small query); throws what SQLite throws.
 */
function statementRunner(
  db: BetterSqlite3.Database,
): <R>(sql: string, params: readonly unknown[]) => QueryResult<R> {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return <R>(sql: string, params: readonly unknown[]): QueryResult<R> => {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
      statements.set(sql, stmt);
    }
    if (stmt.reader) return { rows: stmt.all(params) as R[] };
    const { changes, lastInsertRowid } = stmt.run(params);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  };
}

class SqliteConnection implements DatabaseConnection {
  private readonly run: ReturnType<typeof statementRunner>;

  constructor(db: BetterSqlite3.Database) {
    this.run = statementRunner(db);
  }

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return Promise.resolve(this.run<R>(compiled.sql, compiled.parameters));
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported');
  }
}

/**
 * The same as a promise, for a caller that holds the connection (see runDirectlyIn); a failure is
 * passed through `translate`.
 */
export function directRunner(
  db: BetterSqlite3.Database,
  translate: (err: unknown) => unknown,
): <R>(sql: string, params: readonly unknown[]) => Promise<QueryResult<R>> {
  const run = statementRunner(db);
  return <R>(sql: string, params: readonly unknown[]): Promise<QueryResult<R>> => {
    try {
      return Promise.resolve(run<R>(sql, params));
    } catch (err) {
      return Promise.reject(translate(err));
    }
  };
}

class SqliteDriver implements Driver {
  private readonly lock = new FifoLock();
  private readonly connection: SqliteConnection;

  constructor(private readonly db: BetterSqlite3.Database) {
    this.connection = new SqliteConnection(db);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.lock.lock();
    return this.connection;
  }

  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    this.lock.unlock();
  }

  async destroy(): Promise<void> {
    this.db.close();
  }
}

export class FastSqliteDialect implements Dialect {
  constructor(private readonly db: BetterSqlite3.Database) {}
  createDriver(): Driver {
    return new SqliteDriver(this.db);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
