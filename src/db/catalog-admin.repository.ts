import type { CinemaTable, CityTable, KindTable, RegionTable } from './schema.js';
import type { Executor } from './executor.js';

// Batches stay far below both engines' bound-parameter limits (10 columns × 500 rows).
const BATCH = 500;

export function findCity(db: Executor, codeId: string): Promise<CityTable | undefined> {
  return db.selectFrom('cities').selectAll().where('code_id', '=', codeId).executeTakeFirst();
}

export function findRegion(db: Executor, codeId: string): Promise<RegionTable | undefined> {
  return db.selectFrom('regions').selectAll().where('code_id', '=', codeId).executeTakeFirst();
}

export function findCinema(db: Executor, cinemaId: string): Promise<CinemaTable | undefined> {
  return db.selectFrom('cinemas').selectAll().where('cinema_id', '=', cinemaId).executeTakeFirst();
}

export function findKind(db: Executor, kindId: string): Promise<KindTable | undefined> {
  return db.selectFrom('kinds').selectAll().where('kind_id', '=', kindId).executeTakeFirst();
}

export async function insertCities(db: Executor, rows: CityTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) {
    await db
      .insertInto('cities')
      .values(rows.slice(i, i + BATCH))
      .execute();
  }
}

export async function insertRegions(db: Executor, rows: RegionTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) {
    await db
      .insertInto('regions')
      .values(rows.slice(i, i + BATCH))
      .execute();
  }
}

export async function insertCinemas(db: Executor, rows: CinemaTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) {
    await db
      .insertInto('cinemas')
      .values(rows.slice(i, i + BATCH))
      .execute();
  }
}

export async function insertKind(db: Executor, row: KindTable): Promise<void> {
  await db.insertInto('kinds').values(row).execute();
}

export async function updateCity(
  db: Executor,
  codeId: string,
  changes: Partial<Omit<CityTable, 'code_id'>>,
): Promise<void> {
  await db.updateTable('cities').set(changes).where('code_id', '=', codeId).execute();
}

export async function updateRegion(
  db: Executor,
  codeId: string,
  changes: Partial<Omit<RegionTable, 'code_id' | 'city_id'>>,
): Promise<void> {
  await db.updateTable('regions').set(changes).where('code_id', '=', codeId).execute();
}

export async function updateCinemaRow(
  db: Executor,
  cinemaId: string,
  changes: Partial<Omit<CinemaTable, 'cinema_id'>>,
): Promise<void> {
  await db.updateTable('cinemas').set(changes).where('cinema_id', '=', cinemaId).execute();
}

export async function updateKind(
  db: Executor,
  kindId: string,
  changes: Partial<Omit<KindTable, 'kind_id'>>,
): Promise<void> {
  await db.updateTable('kinds').set(changes).where('kind_id', '=', kindId).execute();
}

export async function listKindCinemaIds(db: Executor, kindId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('kind_cinemas')
    .select('cinema_id')
    .where('kind_id', '=', kindId)
    .orderBy('cinema_id')
    .execute();
  return rows.map((r) => r.cinema_id);
}

export async function replaceKindCinemas(db: Executor, kindId: string, cinemaIds: string[]): Promise<void> {
  await db.deleteFrom('kind_cinemas').where('kind_id', '=', kindId).execute();
  for (let i = 0; i < cinemaIds.length; i += BATCH) {
    await db
      .insertInto('kind_cinemas')
      .values(cinemaIds.slice(i, i + BATCH).map((cinema_id) => ({ kind_id: kindId, cinema_id })))
      .execute();
  }
}

/** The ids among `cinemaIds` that name no cinema. */
export async function missingCinemaIds(db: Executor, cinemaIds: string[]): Promise<string[]> {
  const found = new Set<string>();
  for (let i = 0; i < cinemaIds.length; i += BATCH) {
    const rows = await db
      .selectFrom('cinemas')
      .select('cinema_id')
      .where('cinema_id', 'in', cinemaIds.slice(i, i + BATCH))
      .execute();
    for (const r of rows) found.add(r.cinema_id);
  }
  return cinemaIds.filter((id) => !found.has(id));
}

export interface CatalogTables {
  cities: CityTable[];
  regions: RegionTable[];
  cinemas: CinemaTable[];
  kinds: KindTable[];
  kindCinemas: { kind_id: string; cinema_id: string }[];
}

export async function loadCatalogTables(db: Executor): Promise<CatalogTables> {
  // One at a time: a PostgreSQL transaction runs on one connection anyway.
  const cities = await db.selectFrom('cities').selectAll().orderBy('sort').orderBy('code_id').execute();
  const regions = await db.selectFrom('regions').selectAll().orderBy('sort').orderBy('code_id').execute();
  const cinemas = await db.selectFrom('cinemas').selectAll().orderBy('cinema_id').execute();
  const kinds = await db.selectFrom('kinds').selectAll().orderBy('kind_id').execute();
  const kindCinemas = await db
    .selectFrom('kind_cinemas')
    .selectAll()
    .orderBy('kind_id')
    .orderBy('cinema_id')
    .execute();
  return { cities, regions, cinemas, kinds, kindCinemas };
}
