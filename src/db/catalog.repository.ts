import type { Selectable } from 'kysely';
import type { Executor } from './tx.js';
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

/** Everything the partner API reads but rarely changes: catalog, partners, keys and prices. */
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

const VERSION_KEY = 'registry_version';

/** The registry version; every change to catalog, partners, keys or prices bumps it. */
export async function readRegistryVersion(db: Executor): Promise<string> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', VERSION_KEY).executeTakeFirst();
  return row?.value ?? '0';
}

export async function bumpRegistryVersion(db: Executor): Promise<void> {
  const next = `${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  await db
    .insertInto('meta')
    .values({ key: VERSION_KEY, value: next })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: next }))
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
