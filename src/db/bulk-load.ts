import fs from 'node:fs/promises';
import { CompiledQuery, sql } from 'kysely';
import type { Db } from './database.js';
import type { CardStatus, Database } from './schema.js';
import type { Executor } from './executor.js';

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

/**
 * Folds the WAL back into the SQLite file so its size is what the data takes, and flushes the
 * file: a load writes without syncs, and measuring while the kernel still writes back gigabytes
 * of dirty pages shows multi-second stalls that are not the database's. On PostgreSQL: vacuum
 * analyze, as autovacuum would have done over the months the data stands for.
 */
export async function checkpoint(db: Db): Promise<void> {
  if (db.engine === 'postgres') {
    await sql`vacuum analyze`.execute(db.kysely);
    return;
  }
  await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db.kysely);
  const { rows } = await sql<{ name: string; file: string }>`pragma database_list`.execute(db.kysely);
  const file = rows.find((r) => r.name === 'main')?.file ?? '';
  if (file === '') return;
  const handle = await fs.open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
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

export interface SampledCard {
  card_no: string;
  partner_id: string;
  status: CardStatus;
  pay_deadline: number;
  valid_until: number | null;
}

/** About `n` cards drawn at random from the whole table, and how many cards it holds. */
export async function sampleCards(db: Db, n: number): Promise<{ total: number; sample: SampledCard[] }> {
  const columns = sql`card_no, partner_id, status, pay_deadline, valid_until`;
  const { rows: counted } = await sql<{ n: string | number }>`select count(*) as n from cards`.execute(
    db.kysely,
  );
  const total = Number(counted[0]?.n ?? 0);
  if (total === 0) return { total, sample: [] };
  if (db.engine === 'postgres') {
    const percent = Math.min(100, (100 * n) / total);
    const { rows } = await sql<SampledCard>`select ${columns} from cards
      tablesample bernoulli (${sql.lit(percent)})`.execute(db.kysely);
    return { total, sample: rows };
  }
  const { rows: bounds } = await sql<{ hi: number }>`select max(rowid) as hi from cards`.execute(db.kysely);
  const hi = Number(bounds[0]?.hi ?? 0);
  const sample: SampledCard[] = [];
  for (let start = 0; start < n; start += 1000) {
    const ids = Array.from({ length: Math.min(1000, n - start) }, () => 1 + Math.floor(Math.random() * hi));
    const { rows } = await sql<SampledCard>`select ${columns} from cards
      where rowid in (${sql.join(ids.map((id) => sql`${id}`))})`.execute(db.kysely);
    sample.push(...rows);
  }
  return { total, sample };
}
