import fs from 'node:fs/promises';
import { CompiledQuery, sql } from 'kysely';
import type { Db } from './database.js';
import type { Database } from './schema.js';
import type { Executor } from './tx.js';

// Bulk loading for generated data (scripts/card-generator.ts): multi-row INSERTs built by hand,
// because compiling tens of thousands of rows through the query builder costs more than the
// database needs to store them.

/** Stays under SQLite's default limit of 32 766 bound parameters per statement (PostgreSQL: 65 535). */
const MAX_PARAMS = 30_000;

export type BulkTable = keyof Database;

/** Column order of a table's rows as the caller builds them. */
export type BulkColumns<T extends BulkTable> = readonly (keyof Database[T] & string)[];

export interface BulkLoader {
  /** Inserts rows, each an array of values in `columns` order. */
  insert<T extends BulkTable>(table: T, columns: BulkColumns<T>, rows: readonly unknown[][]): Promise<void>;
  /** Of `cardNos`, the ones already stored (the generator draws those again). */
  existingCardNos(cardNos: readonly string[]): Promise<string[]>;
}

/**
 * Runs `fn` in one transaction with a loader writing through it. On SQLite the connection's page
 * cache is raised for the load (random card numbers touch index pages all over), then restored.
 */
export async function loadInBulk<T>(
  db: Db,
  fn: (loader: BulkLoader) => Promise<T>,
  opts: { sqliteCacheMb?: number } = {},
): Promise<T> {
  const statements = new Map<string, string>();
  const placeholder = db.engine === 'postgres' ? (n: number) => `$${n}` : () => '?';
  const insertSql = (table: string, columns: readonly string[], rows: number): string => {
    const key = `${table}:${rows}`;
    let text = statements.get(key);
    if (text === undefined) {
      let n = 0;
      const tuples: string[] = [];
      for (let r = 0; r < rows; r++) tuples.push(`(${columns.map(() => placeholder(++n)).join(',')})`);
      text = `insert into ${table} (${columns.join(',')}) values ${tuples.join(',')}`;
      statements.set(key, text);
    }
    return text;
  };
  const makeLoader = (tx: Executor): BulkLoader => ({
    async insert(table, columns, rows) {
      const perStatement = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
      for (let start = 0; start < rows.length; start += perStatement) {
        const chunk = rows.slice(start, start + perStatement);
        const params: unknown[] = [];
        for (const row of chunk) for (const value of row) params.push(value);
        await tx.executeQuery(CompiledQuery.raw(insertSql(table, columns, chunk.length), params));
      }
    },
    async existingCardNos(cardNos) {
      const found: string[] = [];
      for (let start = 0; start < cardNos.length; start += 1000) {
        const chunk = cardNos.slice(start, start + 1000);
        const { rows } = await sql<{ card_no: string }>`select card_no from cards
          where card_no in (${sql.join(chunk.map((c) => sql`${c}`))})`.execute(tx);
        for (const r of rows) found.push(r.card_no);
      }
      return found;
    },
  });
  if (db.engine === 'sqlite' && opts.sqliteCacheMb !== undefined) {
    const pragma = async (name: string) =>
      Number(Object.values((await sql.raw(`pragma ${name}`).execute(db.kysely)).rows[0] ?? {})[0]);
    const [cacheSize, synchronous] = [await pragma('cache_size'), await pragma('synchronous')];
    // Without syncs: a machine crash during a load loses at most the generated data being written.
    await sql.raw(`pragma cache_size = ${-Math.round(opts.sqliteCacheMb * 1024)}`).execute(db.kysely);
    await sql.raw('pragma synchronous = OFF').execute(db.kysely);
    try {
      return await db.kysely.transaction().execute((tx) => fn(makeLoader(tx)));
    } finally {
      await sql.raw(`pragma cache_size = ${cacheSize}`).execute(db.kysely);
      await sql.raw(`pragma synchronous = ${synchronous}`).execute(db.kysely);
    }
  }
  return db.kysely.transaction().execute((tx) => fn(makeLoader(tx)));
}

export interface DiskUse {
  bytes: number;
  /** What was counted: the SQLite file and its WAL, or the tables' total relation sizes. */
  detail: string;
}

/** Bytes the database takes on disk: SQLite file + WAL, or the sum of pg_total_relation_size. */
export async function measureDiskUse(db: Db): Promise<DiskUse> {
  if (db.engine === 'postgres') {
    const { rows } = await sql<{ bytes: string | number }>`
      select coalesce(sum(pg_total_relation_size(c.oid)), 0) as bytes
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'r' and n.nspname = current_schema()`.execute(db.kysely);
    return { bytes: Number(rows[0]?.bytes ?? 0), detail: 'sum of pg_total_relation_size' };
  }
  const { rows } = await sql<{ name: string; file: string }>`pragma database_list`.execute(db.kysely);
  const file = rows.find((r) => r.name === 'main')?.file ?? '';
  if (file === '') return { bytes: 0, detail: 'in-memory database' };
  const size = async (p: string) => (await fs.stat(p).catch(() => ({ size: 0 }))).size;
  const [main, wal] = await Promise.all([size(file), size(`${file}-wal`)]);
  return { bytes: main + wal, detail: `file ${main} B + WAL ${wal} B` };
}

/** Folds the WAL back into the SQLite file so its size is what the data takes; a no-op on PostgreSQL. */
export async function checkpoint(db: Db): Promise<void> {
  if (db.engine === 'sqlite') await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db.kysely);
  else await sql`vacuum analyze`.execute(db.kysely);
}

/** The plan of the partner API's card lookup (`findCard`), for the scale report. */
export async function explainCardLookup(db: Db, cardNo: string): Promise<string> {
  const query =
    db.engine === 'postgres'
      ? sql<Record<string, unknown>>`explain select * from cards where card_no = ${cardNo}`
      : sql<Record<string, unknown>>`explain query plan select * from cards where card_no = ${cardNo}`;
  const { rows } = await query.execute(db.kysely);
  return rows.map((r) => String(r['QUERY PLAN'] ?? r.detail ?? JSON.stringify(r))).join('; ');
}
