import { type Kysely, PostgresAdapter, sql } from 'kysely';

/** The tables the registry snapshot is built from (loadRegistryRows), as of this migration. */
const REGISTRY_TABLES = [
  'cities',
  'regions',
  'cinemas',
  'kinds',
  'kind_cinemas',
  'partners',
  'security_configs',
  'partner_prices',
] as const;

// Every process keeps catalog, partners, keys and prices in memory and must see a change made
// by another one (the CLI, another server) before its next request. Triggers raise a counter in
// the changing transaction itself, so no write path (admin service, CLI, import, demo seed, a
// hand-written SQL fix) can forget to. SQLite triggers run per row, PostgreSQL's per statement.
// A table the registry starts reading later needs the same triggers in a migration of its own.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('registry_version')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .execute();
  await sql`insert into registry_version (id, version) values (1, 1)`.execute(db);
  const bump = sql`update registry_version set version = version + 1 where id = 1`;
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`create or replace function bump_registry_version() returns trigger
      language plpgsql as $$ begin ${bump}; return null; end $$`.execute(db);
    for (const table of REGISTRY_TABLES) {
      await sql`create trigger ${sql.id(`${table}_registry_version`)}
        after insert or update or delete or truncate on ${sql.table(table)}
        for each statement execute function bump_registry_version()`.execute(db);
    }
    return;
  }
  for (const table of REGISTRY_TABLES) {
    for (const op of ['insert', 'update', 'delete']) {
      await sql`create trigger ${sql.id(`${table}_registry_version_${op}`)}
        after ${sql.raw(op)} on ${sql.table(table)} begin ${bump}; end`.execute(db);
    }
  }
}
