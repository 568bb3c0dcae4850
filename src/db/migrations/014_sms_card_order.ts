import type { Kysely } from 'kysely';

// A card's newest SMS is looked up each time a message is settled (the card shows its newest
// message's state), ordered by `created_at` then `id`. With `id` in the index the newest is its
// last entry; without it every lookup sorted the card's messages in a temporary b-tree.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sms_messages_card').execute();
  await db.schema
    .createIndex('sms_messages_card')
    .on('sms_messages')
    .columns(['card_no', 'created_at', 'id'])
    .execute();
}
