import { type Kysely, sql } from 'kysely';

// A channel's order number (order_no) names one card of that channel: a second buy under it is
// refused, and `status` finds the card by it. Databases from before may hold several cards of a
// partner under one order_no. None of them loses its order_no (statements, reports and searches
// still show it); all but one are marked order_superseded = 1 and the unique index leaves them
// out. The one that keeps answering to the order_no is the card the channel most likely went on
// with: a paid one before an unpaid one, then the newest (then the greatest card_no).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('cards')
    .addColumn('order_superseded', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Only to find the duplicates without a scan per card.
  await sql`create index cards_partner_order_scan on cards (partner_id, order_no)`.execute(db);
  await sql`update cards set order_superseded = 1
    where order_no is not null and order_no <> '' and exists (
      select 1 from cards b
      where b.partner_id = cards.partner_id and b.order_no = cards.order_no and b.card_no <> cards.card_no
        and (
          (b.paid_at is not null and cards.paid_at is null)
          or ((b.paid_at is null) = (cards.paid_at is null)
            and (b.created_at > cards.created_at
              or (b.created_at = cards.created_at and b.card_no > cards.card_no)))
        )
    )`.execute(db);
  await sql`drop index cards_partner_order_scan`.execute(db);
  await sql`create unique index cards_partner_order on cards (partner_id, order_no)
    where order_no <> '' and order_superseded = 0`.execute(db);
}
