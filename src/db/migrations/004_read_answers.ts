import { type Kysely, sql } from 'kysely';

// Reads repeat the same answer (a catalog page) under many req_ids: keep each distinct answer
// once in `answers` and let a request row point at it instead of holding its own copy.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('answers')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('last_used', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('answers_last_used').on('answers').column('last_used').execute();
  // Rebuilt rather than altered: SQLite cannot drop a NOT NULL constraint in place.
  await db.schema
    .createTable('requests_v2')
    .addColumn('partner_id', 'text', (c) => c.notNull())
    .addColumn('req_id', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('params_hash', 'text', (c) => c.notNull())
    .addColumn('code', 'integer', (c) => c.notNull())
    .addColumn('body', 'text')
    .addColumn('answer_hash', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('requests_v2_pk', ['partner_id', 'req_id'])
    .execute();
  await sql`insert into requests_v2 (partner_id, req_id, method, params_hash, code, body, created_at)
    select partner_id, req_id, method, params_hash, code, body, created_at from requests`.execute(db);
  await db.schema.dropTable('requests').execute();
  await db.schema.alterTable('requests_v2').renameTo('requests').execute();
  await db.schema.createIndex('requests_created').on('requests').column('created_at').execute();
}
