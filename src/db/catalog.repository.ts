import type { Selectable } from 'kysely';
import type { Executor } from './executor.js';
import type {
  CinemaTable,
  CityTable,
  KindCinemaTable,
  KindTable,
  PartnerPriceTable,
  PartnerTable,
  RegionTable,
  SecurityConfigTable,
} from './schema.js';

export interface RegistryRows {
  cities: Selectable<CityTable>[];
  regions: Selectable<RegionTable>[];
  cinemas: Selectable<CinemaTable>[];
  kinds: Selectable<KindTable>[];
  kindCinemas: Selectable<KindCinemaTable>[];
  partners: Selectable<PartnerTable>[];
  securityConfigs: Selectable<SecurityConfigTable>[];
  partnerPrices: Selectable<PartnerPriceTable>[];
}

/**
 * Everything the partner API reads but rarely changes: catalog, partners, keys and prices. Each
 * table read here must raise `registry_version` on change (triggers, migration 008).
 */
export async function loadRegistryRows(db: Executor): Promise<RegistryRows> {
  const [cities, regions, cinemas, kinds, kindCinemas, partners, securityConfigs, partnerPrices] =
    await Promise.all([
      db.selectFrom('cities').selectAll().orderBy('sort').orderBy('code_id').execute(),
      db.selectFrom('regions').selectAll().orderBy('sort').orderBy('code_id').execute(),
      db.selectFrom('cinemas').selectAll().orderBy('cinema_id').execute(),
      db.selectFrom('kinds').selectAll().orderBy('kind_id').execute(),
      db.selectFrom('kind_cinemas').selectAll().orderBy('cinema_id').execute(),
      db.selectFrom('partners').selectAll().execute(),
      db.selectFrom('security_configs').selectAll().execute(),
      db.selectFrom('partner_prices').selectAll().execute(),
    ]);
  return { cities, regions, cinemas, kinds, kindCinemas, partners, securityConfigs, partnerPrices };
}

/** The registry version; triggers raise it with every change to the tables above (migration 008). */
export async function readRegistryVersion(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('registry_version')
    .select('version')
    .where('id', '=', 1)
    .executeTakeFirst();
  return Number(row?.version ?? 0);
}

/**
 * Raises the registry version by hand. The triggers already do so for every change to the
 * registry's tables; this is for a change they cannot see (and for tests).
 */
export async function bumpRegistryVersion(db: Executor): Promise<void> {
  await db
    .updateTable('registry_version')
    .set((eb) => ({ version: eb('version', '+', 1) }))
    .where('id', '=', 1)
    .execute();
}

export async function getMeta(db: Executor, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

export async function setMeta(db: Executor, key: string, value: string): Promise<void> {
  await db
    .insertInto('meta')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}
