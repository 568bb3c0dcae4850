import type { Kysely } from 'kysely';

// Types chosen to mean the same on SQLite and PostgreSQL: text, integer (32-bit), bigint (epoch ms).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('cities')
    .addColumn('code_id', 'text', (c) => c.primaryKey())
    .addColumn('code_name', 'text', (c) => c.notNull())
    .addColumn('remark', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('sort', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('regions')
    .addColumn('code_id', 'text', (c) => c.primaryKey())
    .addColumn('city_id', 'text', (c) => c.notNull().references('cities.code_id'))
    .addColumn('code_name', 'text', (c) => c.notNull())
    .addColumn('remark', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('sort', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('cinemas')
    .addColumn('cinema_id', 'text', (c) => c.primaryKey())
    .addColumn('cinema_name', 'text', (c) => c.notNull())
    .addColumn('city_id', 'text', (c) => c.notNull().references('cities.code_id'))
    .addColumn('region_id', 'text', (c) => c.notNull().references('regions.code_id'))
    .addColumn('address', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('tel', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('price_fen', 'integer', (c) => c.notNull())
    .addColumn('market_price_fen', 'integer', (c) => c.notNull())
    .addColumn('valid_days', 'integer', (c) => c.notNull().defaultTo(90))
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .createTable('kinds')
    .addColumn('kind_id', 'text', (c) => c.primaryKey())
    .addColumn('kind_name', 'text', (c) => c.notNull())
    .addColumn('price_fen', 'integer', (c) => c.notNull())
    .addColumn('market_price_fen', 'integer', (c) => c.notNull())
    .addColumn('valid_days', 'integer', (c) => c.notNull())
    .addColumn('remark', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .createTable('kind_cinemas')
    .addColumn('kind_id', 'text', (c) => c.notNull().references('kinds.kind_id'))
    .addColumn('cinema_id', 'text', (c) => c.notNull().references('cinemas.cinema_id'))
    .addPrimaryKeyConstraint('kind_cinemas_pk', ['kind_id', 'cinema_id'])
    .execute();
  await db.schema
    .createTable('partners')
    .addColumn('partner_id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('bus_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('permissions', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('ip_allow', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('rate_limit', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('security_configs')
    .addColumn('partner_id', 'text', (c) => c.notNull().references('partners.partner_id'))
    .addColumn('sec_id', 'text', (c) => c.notNull())
    .addColumn('md5key', 'text', (c) => c.notNull())
    .addColumn('sign_mode', 'text', (c) => c.notNull().defaultTo('basic'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addPrimaryKeyConstraint('security_configs_pk', ['partner_id', 'sec_id'])
    .execute();
  await db.schema
    .createTable('partner_prices')
    .addColumn('partner_id', 'text', (c) => c.notNull().references('partners.partner_id'))
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('price_fen', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('partner_prices_pk', ['partner_id', 'target_type', 'target_id'])
    .execute();
  await db.schema
    .createTable('cards')
    .addColumn('card_no', 'text', (c) => c.primaryKey())
    .addColumn('partner_id', 'text', (c) => c.notNull().references('partners.partner_id'))
    .addColumn('cinema_id', 'text')
    .addColumn('kind_id', 'text')
    .addColumn('order_no', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('used_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('price_fen', 'integer', (c) => c.notNull())
    .addColumn('total_fen', 'integer', (c) => c.notNull())
    .addColumn('password', 'text')
    .addColumn('mobile', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('pay_deadline', 'bigint', (c) => c.notNull())
    .addColumn('paid_at', 'bigint')
    .addColumn('valid_until', 'bigint')
    .addColumn('banned_at', 'bigint')
    .addColumn('ban_reason', 'text')
    .addColumn('expired_at', 'bigint')
    .addColumn('sms_status', 'text', (c) => c.notNull().defaultTo('none'))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('cards_partner_created')
    .on('cards')
    .columns(['partner_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('cards_status_deadline')
    .on('cards')
    .columns(['status', 'pay_deadline'])
    .execute();
  await db.schema.createIndex('cards_status_valid').on('cards').columns(['status', 'valid_until']).execute();
  await db.schema
    .createTable('card_events')
    .addColumn('card_no', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('card_events_pk', ['card_no', 'seq'])
    .execute();
  await db.schema
    .createTable('requests')
    .addColumn('partner_id', 'text', (c) => c.notNull())
    .addColumn('req_id', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('params_hash', 'text', (c) => c.notNull())
    .addColumn('code', 'integer', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('requests_pk', ['partner_id', 'req_id'])
    .execute();
  await db.schema.createIndex('requests_created').on('requests').column('created_at').execute();
  await db.schema
    .createTable('sms_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('card_no', 'text', (c) => c.notNull())
    .addColumn('mobile', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('locked_until', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('sent_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('sms_messages_due')
    .on('sms_messages')
    .columns(['status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('sms_messages_card')
    .on('sms_messages')
    .columns(['card_no', 'created_at'])
    .execute();
  await db.schema
    .createTable('meta')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
}
