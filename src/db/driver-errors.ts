import type { DatabaseConnection, Dialect, Driver } from 'kysely';
import { AppError, badInput, StorageUnavailable } from '../errors.js';

/** Which driver errors mean "the database cannot be reached right now", per engine. */

export const sqliteUnavailable = (err: unknown) =>
  typeof err === 'object' &&
  err !== null &&
  /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN)/.test(String((err as { code?: unknown }).code));

/** character_not_in_repertoire (NUL, invalid byte sequence), untranslatable_character. */
const PG_UNSTORABLE = new Set(['22021', '22P05']);

// Connection exceptions, admin shutdown, insufficient resources; and read_only_sql_transaction:
// a node demoted to standby under a connection that survived the failover.
const PG_UNAVAILABLE = /^(08|57P0|53|25006$)/;

export function pgUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = String((err as { code?: unknown }).code ?? '');
  const message = String((err as { message?: unknown }).message ?? '');
  return (
    PG_UNAVAILABLE.test(code) ||
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND)$/.test(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
      message,
    )
  );
}

/**
 * `dialect`, whose driver raises `StorageUnavailable` for every driver error that means the
 * database cannot be reached right now, so no caller has to recognise the engine's codes.
 */
export function translatingErrors(dialect: Dialect, unavailable: (err: unknown) => boolean): Dialect {
  const translate = (err: unknown): never => {
    if (err instanceof AppError) throw err;
    if (unavailable(err)) throw new StorageUnavailable(err);
    // Text PostgreSQL cannot hold (NUL, or bytes not in the encoding): the caller's input, not a fault.
    if (PG_UNSTORABLE.has(String((err as { code?: unknown } | null)?.code))) {
      throw badInput('text contains a character that cannot be stored (such as NUL)', 'text.unstorable');
    }
    throw err;
  };
  const guard = <T>(p: Promise<T>): Promise<T> => p.catch(translate);
  const createDriver = (): Driver => {
    const inner = dialect.createDriver();
    // Kysely hands our connection back to the driver; the driver wants its own.
    const innerOf = new WeakMap<DatabaseConnection, DatabaseConnection>();
    const unwrap = (c: DatabaseConnection) => innerOf.get(c) ?? c;
    const wrap = (c: DatabaseConnection): DatabaseConnection => {
      const outer: DatabaseConnection = {
        executeQuery: (q) => guard(c.executeQuery(q)),
        streamQuery: async function* (q, chunkSize) {
          try {
            yield* c.streamQuery(q, chunkSize);
          } catch (err) {
            translate(err);
          }
        },
      };
      innerOf.set(outer, c);
      return outer;
    };
    const driver: Driver = {
      init: () => guard(inner.init()),
      acquireConnection: () => guard(inner.acquireConnection().then(wrap)),
      beginTransaction: (c, settings) => guard(inner.beginTransaction(unwrap(c), settings)),
      commitTransaction: (c) => guard(inner.commitTransaction(unwrap(c))),
      rollbackTransaction: (c) => guard(inner.rollbackTransaction(unwrap(c))),
      releaseConnection: (c) => inner.releaseConnection(unwrap(c)),
      destroy: () => inner.destroy(),
    };
    if (inner.savepoint) {
      const savepoint = inner.savepoint.bind(inner);
      driver.savepoint = (c, name, compile) => guard(savepoint(unwrap(c), name, compile));
    }
    if (inner.rollbackToSavepoint) {
      const rollbackTo = inner.rollbackToSavepoint.bind(inner);
      driver.rollbackToSavepoint = (c, name, compile) => guard(rollbackTo(unwrap(c), name, compile));
    }
    if (inner.releaseSavepoint) {
      const release = inner.releaseSavepoint.bind(inner);
      driver.releaseSavepoint = (c, name, compile) => guard(release(unwrap(c), name, compile));
    }
    return driver;
  };
  return {
    createDriver,
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
}
