import type { Kysely } from 'kysely';

// Sign-in throttling that holds under parallel requests and several instances: each attempt is
// recorded (as a failure) before the password is checked, under a per-address lock row, and
// identified so that a success can take its own row back. `at` is indexed for pruning.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('login_attempts').addColumn('attempt_id', 'text').execute();
  await db.schema.createIndex('login_attempts_at').on('login_attempts').column('at').execute();
  await db.schema.createIndex('login_attempts_attempt').on('login_attempts').column('attempt_id').execute();
  await db.schema
    .createTable('login_locks')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
}
