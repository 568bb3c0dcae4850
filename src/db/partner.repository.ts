import type { Insertable } from 'kysely';
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

export async function insertPartner(db: Executor, row: Insertable<PartnerTable>): Promise<void> {
  await db.insertInto('partners').values(row).execute();
}

export async function insertSecurityConfig(
  db: Executor,
  row: Insertable<SecurityConfigTable>,
): Promise<void> {
  await db.insertInto('security_configs').values(row).execute();
}

export async function setSecurityConfigKey(db: Executor, partnerId: string, secId: string, md5key: string) {
  await db
    .updateTable('security_configs')
    .set({ md5key })
    .where('partner_id', '=', partnerId)
    .where('sec_id', '=', secId)
    .execute();
}

export function findSecurityConfig(db: Executor, partnerId: string, secId: string) {
  return db
    .selectFrom('security_configs')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .where('sec_id', '=', secId)
    .executeTakeFirst();
}

export async function upsertPartnerPrice(db: Executor, row: Insertable<PartnerPriceTable>): Promise<void> {
  await db
    .insertInto('partner_prices')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['partner_id', 'target_type', 'target_id']).doUpdateSet({ price_fen: row.price_fen }),
    )
    .execute();
}

export async function updatePartner(
  db: Executor,
  partnerId: string,
  changes: Partial<Pick<PartnerTable, 'status' | 'permissions' | 'ip_allow' | 'rate_limit' | 'name'>>,
): Promise<void> {
  await db.updateTable('partners').set(changes).where('partner_id', '=', partnerId).execute();
}

export interface CatalogRows {
  cities: Insertable<CityTable>[];
  regions: Insertable<RegionTable>[];
  cinemas: Insertable<CinemaTable>[];
  kinds: Insertable<KindTable>[];
  kindCinemas: Insertable<KindCinemaTable>[];
}

export async function insertCatalog(db: Executor, rows: CatalogRows): Promise<void> {
  if (rows.cities.length) await db.insertInto('cities').values(rows.cities).execute();
  if (rows.regions.length) await db.insertInto('regions').values(rows.regions).execute();
  if (rows.cinemas.length) await db.insertInto('cinemas').values(rows.cinemas).execute();
  if (rows.kinds.length) await db.insertInto('kinds').values(rows.kinds).execute();
  if (rows.kindCinemas.length) await db.insertInto('kind_cinemas').values(rows.kindCinemas).execute();
}

export async function updateCinema(
  db: Executor,
  cinemaId: string,
  changes: Partial<Pick<CinemaTable, 'active' | 'price_fen' | 'market_price_fen'>>,
): Promise<void> {
  await db.updateTable('cinemas').set(changes).where('cinema_id', '=', cinemaId).execute();
}
