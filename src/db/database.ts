import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, type Selectable, sql } from 'kysely';
import pg from 'pg';
import { StorageUnavailable } from '../errors.js';
import { pgUnavailable, sqliteUnavailable, translatingErrors } from './driver-errors.js';
import { ensurePrivateDir, tightenFile, type Warn, warnOnStderr } from '../private-files.js';
import { readRegistryVersion } from './catalog.repository.js';
import { migrateToLatest } from './migrations/index.js';
import { Checkpointer } from './checkpointer.js';
import { GroupSync } from './group-sync.js';
import { RegistryListener } from './registry-listener.js';
import { directRunner, FastSqliteDialect } from './sqlite-driver.js';
import type { Executor } from './executor.js';
import { WriteBatcher } from './write-batcher.js';
import type { Database, NotifyEventTable, SmsMessageTable } from './schema.js';

/** Everything that differs between the two engines lives here. */
export interface Db {
  readonly kysely: Kysely<Database>;
  readonly engine: 'sqlite' | 'postgres';
  /**
   * True when the error is a unique/primary-key violation. (An error that means the database
   * cannot be reached right now arrives as `StorageUnavailable` from every query.)
   */
  isUniqueViolation(err: unknown): boolean;
  /**
   * Runs a write transaction. On SQLite, writes that arrive together share one commit (each
   * in its own savepoint); on PostgreSQL each is its own transaction.
   */
  writeTransaction<T>(fn: (tx: Executor) => Promise<T>, opts?: WriteOptions): Promise<T>;
  /** Leases up to `limit` due SMS messages to this worker until `leaseUntil`. */
  claimDueSms(now: number, leaseUntil: number, limit: number): Promise<Selectable<SmsMessageTable>[]>;
  /** Leases up to `limit` due partner notify events to this worker until `leaseUntil`. */
  claimDueNotify(now: number, leaseUntil: number, limit: number): Promise<Selectable<NotifyEventTable>[]>;
  /**
   * Extends leases this worker still holds: of the SMS messages `ids`, those still queued and
   * leased until exactly `held` are leased until `leaseUntil`. Returns their ids.
   */
  renewSmsLeases(ids: string[], held: number, leaseUntil: number): Promise<string[]>;
  /** The same for partner notify events. */
  renewNotifyLeases(ids: string[], held: number, leaseUntil: number): Promise<string[]>;
  /**
   * The committed registry version (see migration 008), read for every partner request: on
   * SQLite a prepared single-row select on the connection (microseconds); on PostgreSQL the
   * reads asked for in one turn of the event loop share one round trip.
   */
  registryVersion(): Promise<number>;
  /**
   * Calls `onChange` when the registry may have changed elsewhere: on PostgreSQL for every
   * committed change (LISTEN/NOTIFY, migration 013) and after the listening connection came back;
   * on SQLite never (there is nothing to listen with; the version check covers it). Returns a
   * function that stops the calls.
   */
  watchRegistry(onChange: () => void): () => void;
  /**
   * SQLite with `synchronous = full` only: `observe` gets the duration of each fsync of the WAL
   * (seconds), the wait every durable answer includes.
   */
  observeWalSync?(observe: (seconds: number) => void): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface WriteOptions {
  /**
   * False for writes a power cut may lose without harm (the req_ids of answered reads): on
   * SQLite with `synchronous = full` they are answered at the commit, before the WAL's fsync
   * (a process crash still loses nothing). PostgreSQL commits every transaction durably.
   */
  durable?: boolean;
}

// int8 (bigint) columns hold epoch milliseconds, well inside Number's exact range.
pg.types.setTypeParser(20, (v) => Number(v));

export interface DatabaseOptions {
  /** `postgres://…`; when absent, SQLite at `sqlitePath`. */
  url?: string;
  /** File path, or `:memory:`. */
  sqlitePath?: string;
  /** SQLite's `synchronous` (see Config.sqliteSync); `full` when absent. */
  sync?: 'full' | 'normal';
  poolSize?: number;
  /** Reports a data directory or database file whose permissions had to be tightened. */
  warn?: Warn;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Db> {
  const db = opts.url
    ? openPostgres(opts.url, opts.poolSize ?? 10)
    : openSqlite(opts.sqlitePath ?? ':memory:', opts.sync ?? 'full', opts.warn ?? warnOnStderr);
  await migrateToLatest(db.kysely as Kysely<unknown>);
  return db;
}

const SQLITE_FILES = ['', '-wal', '-shm'];

function openSqlite(file: string, sync: 'full' | 'normal', warn: Warn): Db {
  const onDisk = file !== ':memory:';
  if (onDisk) {
    // The database holds card data: owner only. SQLite gives the -wal and -shm files the
    // database file's mode, so creating that one 0600 covers the others.
    ensurePrivateDir(path.dirname(file), warn);
    for (const suffix of SQLITE_FILES) tightenFile(file + suffix, warn);
    fs.closeSync(fs.openSync(file, 'a', 0o600));
  }
  const sqlite = new SQLite(file);
  // A new database gets 1 KiB pages (an existing one keeps its own: SQLite ignores this then).
  // A buy changes a few index pages keyed by random values (card number, ledger, req_id), each
  // written whole to the WAL and again by the checkpoint: with 4 KiB pages a buy wrote 14.4 KB
  // and a buy+pay pair 26.4 KB, with 1 KiB pages 6.5 KB and 13.1 KB, at the same throughput and
  // CPU time (bench/README.md).
  sqlite.pragma('page_size = 1024');
  sqlite.pragma('journal_mode = WAL');
  if (onDisk) for (const suffix of SQLITE_FILES) tightenFile(file + suffix, warn);
  // SQLite itself syncs only at checkpoints (NORMAL): a process crash loses nothing. With
  // `full`, the write batcher also fsyncs the WAL after each shared commit, on libuv's thread
  // pool, before any of its jobs is answered: a power cut or OS crash loses nothing answered
  // either, and the event loop never waits for the disk (SQLite's FULL would fsync inside the
  // commit, on it).
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // Each job of a write batch has its own savepoint, whose journal SQLite would otherwise spill
  // to a temp file about once per batch.
  sqlite.pragma('temp_store = MEMORY');
  // 8 MB of page cache holds the hot index pages; the OS page cache holds the rest, so no mmap
  // (mapped pages count against the process's RSS without making writes any faster).
  sqlite.pragma('cache_size = -8192');
  sqlite.pragma('mmap_size = 0');
  let checkpointer: Checkpointer | undefined;
  if (onDisk) {
    // Checkpoints run on a thread of their own (see checkpointer.ts); should it fail, this
    // connection checkpoints again as SQLite does by default.
    sqlite.pragma('wal_autocheckpoint = 0');
    checkpointer = new Checkpointer({
      file,
      onFailure: (err) => {
        sqlite.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
        warn(
          `the checkpoint thread failed (${err instanceof Error ? err.message : String(err)}); checkpointing on the main thread`,
        );
      },
    });
  }
  const kysely = new Kysely<Database>({
    dialect: translatingErrors(new FastSqliteDialect(sqlite), sqliteUnavailable),
  });
  const walSync = onDisk && sync === 'full' ? new GroupSync(`${file}-wal`) : undefined;
  const batcher = new WriteBatcher(
    kysely,
    walSync && (() => walSync.sync()),
    undefined,
    directRunner(sqlite, (err) => (sqliteUnavailable(err) ? new StorageUnavailable(err) : err)),
  );
  let versionStmt: SQLite.Statement<[], number> | undefined;
  return {
    kysely,
    engine: 'sqlite',
    // One read serves the requests of a turn: each read is a read transaction of its own, whose
    // WAL locks cost two system calls (~6 µs here, most of that).
    registryVersion: coalescePerTurn(() => {
      // Inside an open write batch the connection would see uncommitted (and maybe rolled back)
      // changes: then wait for the connection like any other query.
      if (sqlite.inTransaction) return readRegistryVersion(kysely);
      try {
        versionStmt ??= sqlite.prepare<[], number>(VERSION_SQL).pluck();
        return Promise.resolve(Number(versionStmt.get() ?? 0));
      } catch (err) {
        return Promise.reject(sqliteUnavailable(err) ? new StorageUnavailable(err) : err);
      }
    }),
    watchRegistry: () => () => {},
    writeTransaction: (fn, opts) => batcher.run(fn, opts?.durable ?? true),
    isUniqueViolation: (err) =>
      typeof err === 'object' &&
      err !== null &&
      /^SQLITE_CONSTRAINT_(PRIMARYKEY|UNIQUE)$/.test(String((err as { code?: unknown }).code)),
    // Leases join the next write batch instead of committing on their own (a commit cost ~350 µs
    // per lease under buy+pay load), and wait for no fsync: a lease a power cut loses is a lease
    // that was never taken, and every later commit, being later in the WAL, is lost with it.
    claimDueSms: (now, leaseUntil, limit) =>
      batcher.run(
        (tx) => claimDue<SmsMessageTable>(tx, 'sms_messages', 'id', false, now, leaseUntil, limit),
        false,
      ),
    claimDueNotify: (now, leaseUntil, limit) =>
      batcher.run(
        (tx) => claimDue<NotifyEventTable>(tx, 'notify_events', 'event_id', false, now, leaseUntil, limit),
        false,
      ),
    ...leaseRenewals((fn) => batcher.run(fn, false)),
    ...(walSync ? { observeWalSync: (observe: (seconds: number) => void) => walSync.observe(observe) } : {}),
    ping: async () => {
      await sql`select 1`.execute(kysely);
    },
    close: async () => {
      await walSync?.close();
      await checkpointer?.stop();
      await kysely.destroy();
    },
  };
}

const FALLBACK_AUTOCHECKPOINT_PAGES = 1000;

/** Most statements a connection keeps prepared; past it, further statements run unprepared. */
const MAX_PREPARED_PER_CONNECTION = 256;

/**
 * Makes a connection prepare each parameterised statement once, by name, and run it by that
 * name afterwards: PostgreSQL then parses and plans the write path's statements once per
 * connection instead of on every request. Statements without parameters (DDL, `begin`,
 * `commit`) stay unnamed. Should a prepared plan go stale because another version of the
 * service changed a table (`cached plan must not change result type`), the connection prepares
 * its statements again.
 */
function preparingStatements(client: pg.PoolClient): void {
  const names = new Map<string, string>();
  let next = 0;
  // A connection that reached a node now in recovery (demoted after a failover, reached before
  // the proxy noticed) would fail every write it is given: end it, so that the pool, which drops
  // an ended client on release, connects afresh through the proxy to the new primary.
  const dropIfDemoted = (err: unknown): void => {
    if ((err as { code?: unknown } | null)?.code === '25006') client.end().catch(() => {});
  };
  const watched = (result: unknown): unknown => {
    // A cursor (streamed query) is no promise: it reports its errors to its reader.
    if (!(result instanceof Promise)) return result;
    return result.catch((err: unknown) => {
      dropIfDemoted(err);
      throw err;
    });
  };
  const query = client.query.bind(client) as (config: unknown, values?: unknown) => Promise<unknown>;
  const named = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_PREPARED_PER_CONNECTION) {
      name = `mt${next++}`;
      names.set(text, name);
    }
    return name;
  };
  (client as { query: unknown }).query = (config: unknown, values?: unknown) => {
    if (typeof config !== 'string' || !Array.isArray(values) || values.length === 0) {
      return watched(query(config, values));
    }
    const name = named(config);
    if (name === undefined) return watched(query(config, values));
    return query({ name, text: config, values }).catch((err: unknown) => {
      dropIfDemoted(err);
      if ((err as { code?: unknown } | null)?.code !== '0A000') throw err;
      // Every plan of this connection may be stale: prepare them all again. Inside a
      // transaction the error aborted it, and the retry fails too: a transient refusal then
      // (503, to be retried with the same req_id), and the next attempt prepares afresh.
      names.clear();
      return query({ name: named(config), text: config, values }).catch(() => {
        throw new StorageUnavailable(err);
      });
    });
  };
}

function openPostgres(url: string, poolSize: number): Db {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000 });
  // An idle client losing its server (restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // Nor may a checked-out client between two queries (in a transaction, or while the code
  // awaits something else): pg emits 'error' on it and an unhandled one kills the process.
  // Its next query fails with a connection error (→ 503) and release() drops it from the pool.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    preparingStatements(client);
  });
  const kysely = new Kysely<Database>({
    dialect: translatingErrors(new PostgresDialect({ pool }), pgUnavailable),
  });
  const listener = new RegistryListener(url);
  return {
    kysely,
    engine: 'postgres',
    registryVersion: coalescePerTurn(() => readRegistryVersion(kysely)),
    watchRegistry: (onChange) => listener.watch(onChange),
    writeTransaction: (fn) => kysely.transaction().execute(fn),
    isUniqueViolation: (err) =>
      typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505',
    claimDueSms: (now, leaseUntil, limit) =>
      claimDue<SmsMessageTable>(kysely, 'sms_messages', 'id', true, now, leaseUntil, limit),
    claimDueNotify: (now, leaseUntil, limit) =>
      claimDue<NotifyEventTable>(kysely, 'notify_events', 'event_id', true, now, leaseUntil, limit),
    ...leaseRenewals((fn) => fn(kysely)),
    ping: async () => {
      await sql`select 1`.execute(kysely);
    },
    close: async () => {
      await listener.close();
      await kysely.destroy();
    },
  };
}

const VERSION_SQL = 'select version from registry_version where id = 1';

/**
 * Calls made in one turn of the event loop share one run of `read`, started after that turn: a
 * caller never gets the result of a read that began before it asked.
 */
function coalescePerTurn<T>(read: () => Promise<T>): () => Promise<T> {
  let next: Promise<T> | null = null;
  return () => {
    next ??= new Promise<T>((resolve, reject) => {
      setImmediate(() => {
        next = null;
        read().then(resolve, reject);
      });
    });
    return next;
  };
}

/**
 * Leases up to `limit` due rows of an outbox table (`status`, `next_attempt_at`, `locked_until`)
 * until `leaseUntil`. On PostgreSQL rows another instance is leasing right now are skipped.
 */
async function claimDue<T>(
  db: Executor,
  table: 'sms_messages' | 'notify_events',
  id: 'id' | 'event_id',
  skipLocked: boolean,
  now: number,
  leaseUntil: number,
  limit: number,
): Promise<Selectable<T>[]> {
  const result = await sql<Selectable<T>>`
    update ${sql.table(table)} set locked_until = ${leaseUntil}
    where ${sql.ref(id)} in (
      select ${sql.ref(id)} from ${sql.table(table)}
      where status = 'queued' and next_attempt_at <= ${now} and locked_until <= ${now}
      order by next_attempt_at limit ${limit}
      ${skipLocked ? sql`for update skip locked` : sql``})
    returning *`.execute(db);
  return result.rows;
}

/** Lease renewal is the same SQL on both engines. */
function leaseRenewals(
  run: <T>(fn: (db: Executor) => Promise<T>) => Promise<T>,
): Pick<Db, 'renewSmsLeases' | 'renewNotifyLeases'> {
  return {
    renewSmsLeases: (ids, held, leaseUntil) =>
      run((db) => renewLeases(db, 'sms_messages', 'id', ids, held, leaseUntil)),
    renewNotifyLeases: (ids, held, leaseUntil) =>
      run((db) => renewLeases(db, 'notify_events', 'event_id', ids, held, leaseUntil)),
  };
}

/**
 * Moves the lease of rows still leased until `held` to `leaseUntil`. A lease only grows (each
 * claim sets it past the expired one), so a worker that lost its row to another cannot match
 * the new holder's value and extends nothing.
 */
async function renewLeases(
  db: Executor,
  table: 'sms_messages' | 'notify_events',
  id: 'id' | 'event_id',
  ids: string[],
  held: number,
  leaseUntil: number,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const result = await sql<Record<string, string>>`
    update ${sql.table(table)} set locked_until = ${leaseUntil}
    where status = 'queued' and locked_until = ${held} and ${sql.ref(id)} in (${sql.join(ids)})
    returning ${sql.ref(id)}`.execute(db);
  return result.rows.map((r) => r[id]!);
}
