import type { Kysely } from 'kysely';

// SMS through real providers: which provider has (or may have) a message and its id there, the
// provider's code when it refused a message for good, and the handset's delivery report pulled
// from the provider. `receipt_due_at` is when to ask the provider next (null: nothing to ask).
// Existing rows get nulls: they went through a gateway that sends no reports.
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const column of ['provider', 'provider_ref', 'provider_code', 'delivery', 'delivery_code']) {
    await db.schema.alterTable('sms_messages').addColumn(column, 'text').execute();
  }
  for (const column of ['delivered_at', 'receipt_due_at']) {
    await db.schema.alterTable('sms_messages').addColumn(column, 'bigint').execute();
  }
  await db.schema
    .createIndex('sms_messages_receipt_due')
    .on('sms_messages')
    .column('receipt_due_at')
    .execute();
}
