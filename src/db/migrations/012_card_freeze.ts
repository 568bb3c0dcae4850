import type { Kysely } from 'kysely';

// A support desk stops the rest of a partly redeemed card without ending it (`frozen_at`, null
// when not frozen) and clears its wrong-password count: password failures at or before
// `tries_reset_at` no longer count towards the lock (the failures themselves stay as evidence).
// Existing cards are neither frozen nor reset.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('cards').addColumn('frozen_at', 'bigint').execute();
  await db.schema.alterTable('cards').addColumn('frozen_reason', 'text').execute();
  await db.schema
    .alterTable('cards')
    .addColumn('tries_reset_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}
