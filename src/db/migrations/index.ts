import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import * as initial from './001_initial.js';
import * as management from './002_management.js';
import * as partnerNotify from './003_partner_notify.js';
import * as readAnswers from './004_read_answers.js';
import * as idempotency from './006_idempotency.js';
import * as secretsAtRest from './007_secrets_at_rest.js';
import * as registryVersion from './008_registry_version.js';
import * as loginAttempts from './009_login_attempts.js';
import * as uniqueOrderNo from './010_unique_order_no.js';
import * as smsReceipts from './011_sms_receipts.js';
import * as cardFreeze from './012_card_freeze.js';
import * as registryNotify from './013_registry_notify.js';
import * as smsCardOrder from './014_sms_card_order.js';

/**
 * Every migration, in the order they run, under the name existing databases record in
 * `kysely_migration`: a name never changes once released, and a new migration takes the next
 * number (its file named the same).
 */
const migrations: Record<string, Migration> = {
  '001_initial': initial,
  '002_management': management,
  '003_partner_notify': partnerNotify,
  '004_read_answers': readAnswers,
  '006_idempotency': idempotency,
  '007_secrets_at_rest': secretsAtRest,
  '008_registry_version': registryVersion,
  '009_login_attempts': loginAttempts,
  '010_unique_order_no': uniqueOrderNo,
  '011_sms_receipts': smsReceipts,
  '012_card_freeze': cardFreeze,
  '013_registry_notify': registryNotify,
  '014_sms_card_order': smsCardOrder,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Brings the schema up to `name` (an upgrade path check for tests); throws on failure. */
export async function migrateTo(db: Kysely<unknown>, name: string): Promise<void> {
  const { error } = await new Migrator({ db, provider }).migrateTo(name);
  if (error) throw new Error(`migration to ${name} failed: ${String(error)}`, { cause: error });
}

/** Brings the schema up to date; safe to run from several processes at once. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`, { cause: error });
  }
}
