import { recordAudit } from '../../db/audit.repository.js';
import { countOpenCardsOfKind } from '../../db/card-admin.repository.js';
import {
  findCinema,
  findCity,
  findKind,
  findRegion,
  insertCinemas,
  insertCities,
  insertKind,
  insertRegions,
  listKindCinemaIds,
  loadCatalogTables,
  missingCinemaIds,
  replaceKindCinemas,
  updateCinemaRow,
  updateCity,
  updateKind,
  updateRegion,
} from '../../db/catalog-admin.repository.js';
import type { Db } from '../../db/database.js';
import type { CinemaTable, CityTable, KindTable, RegionTable } from '../../db/schema.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import type { Clock } from '../clock.js';
import { type Actor, requireRole, STAFF } from './audit.service.js';
import { alreadyExists, invalid, notFound } from '../../errors.js';
import { given, uniquely, valid } from '../validate.js';
import {
  checkCinema,
  checkCinemaChanges,
  checkCinemaIds,
  checkCity,
  checkCityId,
  checkId,
  checkKind,
  checkKindChanges,
  checkPlaceChanges,
  checkRegion,
} from './catalog-checks.js';
import { CatalogImportService, type ImportOptions, type ImportReport } from './catalog-import.service.js';
import {
  type CatalogView,
  type CinemaChanges,
  type CinemaInput,
  type CinemaView,
  type CityChanges,
  type CityInput,
  type CityView,
  type KindChanges,
  type KindInput,
  type KindView,
  presentCinema,
  presentCity,
  presentKind,
  presentRegion,
  type RegionChanges,
  type RegionInput,
  type RegionView,
  same,
} from './catalog-views.js';

/** Cities, regions, cinemas, kinds and their default and market prices; CSV import of cinemas. */
export class CatalogAdminService {
  private readonly imports: CatalogImportService;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {
    this.imports = new CatalogImportService(db, clock);
  }

  async list(by: Actor): Promise<CatalogView> {
    requireRole(by, STAFF, 'see the catalog');
    const t = await loadCatalogTables(this.db.kysely);
    const kindCinemas = new Map<string, string[]>();
    for (const kc of t.kindCinemas)
      kindCinemas.set(kc.kind_id, [...(kindCinemas.get(kc.kind_id) ?? []), kc.cinema_id]);
    return {
      cities: t.cities.map(presentCity),
      regions: t.regions.map(presentRegion),
      cinemas: t.cinemas.map(presentCinema),
      kinds: t.kinds.map((k) => presentKind(k, kindCinemas.get(k.kind_id) ?? [])),
    };
  }

  async createCity(by: Actor, input: CityInput): Promise<CityView> {
    requireRole(by, STAFF, 'manage the catalog');
    const row: CityTable = valid(checkCity(input));
    return uniquely(this.db, 'city', row.code_id, () =>
      inTransaction(this.db, async (tx) => {
        if (await findCity(tx, row.code_id)) throw alreadyExists('city', row.code_id);
        await insertCities(tx, [row]);
        const view = presentCity(row);
        await this.change(tx, by, 'city.create', 'city', row.code_id, null, view);
        return view;
      }),
    );
  }

  async editCity(by: Actor, codeId: string, changes: CityChanges): Promise<CityView> {
    requireRole(by, STAFF, 'manage the catalog');
    const set: Partial<CityTable> = given(valid(checkPlaceChanges(changes)));
    if (!Object.keys(set).length)
      throw invalid('changes', 'are empty: give a name, remark or sort', 'changes.empty');
    return inTransaction(this.db, async (tx) => {
      const before = await findCity(tx, checkCityId(codeId));
      if (!before) throw notFound('city', codeId);
      const after = presentCity({ ...before, ...set });
      if (same(presentCity(before), after)) return after;
      await updateCity(tx, codeId, set);
      await this.change(tx, by, 'city.update', 'city', codeId, presentCity(before), after);
      return after;
    });
  }

  async createRegion(by: Actor, input: RegionInput): Promise<RegionView> {
    requireRole(by, STAFF, 'manage the catalog');
    const row: RegionTable = valid(checkRegion(input));
    return uniquely(this.db, 'region', row.code_id, () =>
      inTransaction(this.db, async (tx) => {
        if (!(await findCity(tx, row.city_id))) throw notFound('city', row.city_id);
        if (await findRegion(tx, row.code_id)) throw alreadyExists('region', row.code_id);
        await insertRegions(tx, [row]);
        const view = presentRegion(row);
        await this.change(tx, by, 'region.create', 'region', row.code_id, null, view);
        return view;
      }),
    );
  }

  /** A region stays in its city: its cinemas' city ids depend on it. */
  async editRegion(by: Actor, codeId: string, changes: RegionChanges): Promise<RegionView> {
    requireRole(by, STAFF, 'manage the catalog');
    const set: Partial<RegionTable> = given(valid(checkPlaceChanges(changes)));
    if (!Object.keys(set).length)
      throw invalid('changes', 'are empty: give a name, remark or sort', 'changes.empty');
    return inTransaction(this.db, async (tx) => {
      const before = await findRegion(tx, checkId('region_id', codeId));
      if (!before) throw notFound('region', codeId);
      const after = presentRegion({ ...before, ...set });
      if (same(presentRegion(before), after)) return after;
      await updateRegion(tx, codeId, set);
      await this.change(tx, by, 'region.update', 'region', codeId, presentRegion(before), after);
      return after;
    });
  }

  async createCinema(by: Actor, input: CinemaInput): Promise<CinemaView> {
    requireRole(by, STAFF, 'manage the catalog');
    const { cinema_id: cinemaId, region_id: regionId, ...checked } = valid(checkCinema(input));
    const fields = { ...checked, active: input.active === false ? 0 : 1 };
    return uniquely(this.db, 'cinema', cinemaId, () =>
      inTransaction(this.db, async (tx) => {
        const region = await findRegion(tx, regionId);
        if (!region) throw notFound('region', regionId);
        if (await findCinema(tx, cinemaId)) throw alreadyExists('cinema', cinemaId);
        const row: CinemaTable = {
          cinema_id: cinemaId,
          city_id: region.city_id,
          region_id: regionId,
          ...fields,
        };
        await insertCinemas(tx, [row]);
        const view = presentCinema(row);
        await this.change(tx, by, 'cinema.create', 'cinema', cinemaId, null, view);
        return view;
      }),
    );
  }

  /** Edits a cinema; a new region moves it to that region's city. */
  async editCinema(by: Actor, cinemaId: string, changes: CinemaChanges): Promise<CinemaView> {
    requireRole(by, STAFF, 'manage the catalog');
    const { region_id: regionId, ...set }: Partial<CinemaTable> = given(valid(checkCinemaChanges(changes)));
    if (!Object.keys(set).length && regionId === undefined)
      throw invalid('changes', 'are empty', 'changes.empty');
    return this.updateCinema(by, cinemaId, 'cinema.update', async (tx) => {
      if (regionId === undefined) return set;
      const region = await findRegion(tx, regionId);
      if (!region) throw notFound('region', regionId);
      return { ...set, region_id: region.code_id, city_id: region.city_id };
    });
  }

  async setCinemaActive(by: Actor, cinemaId: string, active: boolean): Promise<CinemaView> {
    requireRole(by, STAFF, 'manage the catalog');
    return this.updateCinema(by, cinemaId, active ? 'cinema.activate' : 'cinema.deactivate', async () => ({
      active: active ? 1 : 0,
    }));
  }

  async createKind(by: Actor, input: KindInput): Promise<KindView> {
    requireRole(by, STAFF, 'manage the catalog');
    const { cinema_ids: cinemaIds, ...checked } = valid(checkKind(input));
    const row: KindTable = { ...checked, active: input.active === false ? 0 : 1 };
    return uniquely(this.db, 'kind', row.kind_id, () =>
      inTransaction(this.db, async (tx) => {
        if (await findKind(tx, row.kind_id)) throw alreadyExists('kind', row.kind_id);
        await this.requireCinemas(tx, cinemaIds);
        await insertKind(tx, row);
        await replaceKindCinemas(tx, row.kind_id, cinemaIds);
        const view = presentKind(row, cinemaIds);
        await this.change(tx, by, 'kind.create', 'kind', row.kind_id, null, view);
        return view;
      }),
    );
  }

  async editKind(by: Actor, kindId: string, changes: KindChanges): Promise<KindView> {
    requireRole(by, STAFF, 'manage the catalog');
    const set: Partial<KindTable> = given(valid(checkKindChanges(changes)));
    if (!Object.keys(set).length) throw invalid('changes', 'are empty', 'changes.empty');
    return this.updateKind(by, kindId, 'kind.update', set);
  }

  async setKindActive(by: Actor, kindId: string, active: boolean): Promise<KindView> {
    requireRole(by, STAFF, 'manage the catalog');
    return this.updateKind(by, kindId, active ? 'kind.activate' : 'kind.deactivate', {
      active: active ? 1 : 0,
    });
  }

  /**
   * Cards of a kind that deactivating it would leave behind: paid ones with tickets left, and
   * unpaid ones still within their payment deadline.
   */
  async openCardsOfKind(by: Actor, kindId: string): Promise<{ paid: number; unpaid: number }> {
    requireRole(by, STAFF, 'see the catalog');
    return countOpenCardsOfKind(this.db.kysely, checkId('kind_id', kindId), this.clock.now());
  }

  /** Replaces the set of cinemas where the kind's cards are accepted. */
  async setKindCinemas(by: Actor, kindId: string, cinemaIds: string[]): Promise<KindView> {
    requireRole(by, STAFF, 'manage the catalog');
    const ids = checkCinemaIds(cinemaIds);
    return inTransaction(this.db, async (tx) => {
      const kind = await findKind(tx, checkId('kind_id', kindId));
      if (!kind) throw notFound('kind', kindId);
      await this.requireCinemas(tx, ids);
      const before = presentKind(kind, await listKindCinemaIds(tx, kind.kind_id));
      const after = presentKind(kind, ids);
      if (same(before, after)) return after;
      await replaceKindCinemas(tx, kind.kind_id, ids);
      await this.change(tx, by, 'kind.cinemas', 'kind', kind.kind_id, before, after);
      return after;
    });
  }

  /** Sets the default settlement price and/or the market price of a cinema or kind (yuan strings). */
  async setDefaultPrices(
    by: Actor,
    target: { type: 'cinema' | 'kind'; id: string },
    prices: { price?: string; marketPrice?: string },
  ): Promise<CinemaView | KindView> {
    if (prices.price === undefined && prices.marketPrice === undefined) {
      throw invalid('price', 'or market_price is required');
    }
    if (target.type === 'cinema') return this.editCinema(by, target.id, prices);
    if (target.type === 'kind') return this.editKind(by, target.id, prices);
    throw invalid('target', 'must be a cinema or a kind');
  }

  /**
   * Imports cinemas from CSV (see CINEMA_CSV_COLUMNS). All or nothing: a file with any bad row
   * changes nothing and the report lists every problem. A dry run only reports.
   */
  importCinemas(by: Actor, csv: string, opts: ImportOptions = {}): Promise<ImportReport> {
    return this.imports.importCinemas(by, csv, opts);
  }

  private updateCinema(
    by: Actor,
    cinemaId: string,
    action: string,
    changesOf: (tx: Executor) => Promise<Partial<CinemaTable>>,
  ): Promise<CinemaView> {
    return inTransaction(this.db, async (tx) => {
      const before = await findCinema(tx, checkId('cinema_id', cinemaId));
      if (!before) throw notFound('cinema', cinemaId);
      const set = await changesOf(tx);
      const after = presentCinema({ ...before, ...set });
      if (same(presentCinema(before), after)) return after;
      await updateCinemaRow(tx, before.cinema_id, set);
      await this.change(tx, by, action, 'cinema', before.cinema_id, presentCinema(before), after);
      return after;
    });
  }

  private updateKind(by: Actor, kindId: string, action: string, set: Partial<KindTable>): Promise<KindView> {
    return inTransaction(this.db, async (tx) => {
      const row = await findKind(tx, checkId('kind_id', kindId));
      if (!row) throw notFound('kind', kindId);
      const cinemaIds = await listKindCinemaIds(tx, row.kind_id);
      const before = presentKind(row, cinemaIds);
      const after = presentKind({ ...row, ...set }, cinemaIds);
      if (same(before, after)) return after;
      await updateKind(tx, row.kind_id, set);
      await this.change(tx, by, action, 'kind', row.kind_id, before, after);
      return after;
    });
  }

  private async requireCinemas(tx: Executor, ids: string[]): Promise<void> {
    const missing = await missingCinemaIds(tx, ids);
    if (missing.length) throw notFound(missing.length > 1 ? 'cinemas' : 'cinema', missing.join(', '));
  }

  /** Audits a change in its transaction (the registry_version triggers tell every server). */
  private async change(
    tx: Executor,
    by: Actor,
    action: string,
    entityType: string,
    entityId: string,
    before: unknown,
    after: unknown,
  ) {
    await recordAudit(tx, {
      at: this.clock.now(),
      actor: by.actor,
      action,
      entityType,
      entityId,
      before,
      after,
    });
  }
}
