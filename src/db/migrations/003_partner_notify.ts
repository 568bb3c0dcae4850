import type { Kysely } from 'kysely';

// Partner notify: a callback URL per partner and the outbox of signed card events sent to it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('partner_callbacks')
    .addColumn('partner_id', 'text', (c) => c.primaryKey().references('partners.partner_id'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('notify_events')
    .addColumn('event_id', 'text', (c) => c.primaryKey())
    .addColumn('partner_id', 'text', (c) => c.notNull())
    .addColumn('card_no', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('locked_until', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('last_status', 'integer')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('delivered_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('notify_events_due')
    .on('notify_events')
    .columns(['status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('notify_events_partner_created')
    .on('notify_events')
    .columns(['partner_id', 'created_at'])
    .execute();
}
