import { type Kysely, PostgresAdapter, sql } from 'kysely';

/** The channel every PostgreSQL registry change is announced on (see database.ts). */
export const REGISTRY_CHANNEL = 'movticket_registry';

// Instances sharing a PostgreSQL database hear of a registry change as it commits, so an idle
// instance reloads before its next request instead of during it. The trigger function of
// migration 008 raises the version in the changing transaction; it now also notifies, and
// PostgreSQL delivers the notification at commit (never for a rolled-back change) and folds
// identical ones of one transaction into one. SQLite has nothing to listen with: there the
// version check alone does the job.
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`create or replace function bump_registry_version() returns trigger
    language plpgsql as $$ begin
      update registry_version set version = version + 1 where id = 1;
      perform pg_notify(${sql.lit(REGISTRY_CHANNEL)}, '');
      return null;
    end $$`.execute(db);
}
