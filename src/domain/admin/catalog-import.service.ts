import { recordAudit } from '../../db/audit.repository.js';
import {
  insertCinemas,
  insertCities,
  insertRegions,
  loadCatalogTables,
  updateCinemaRow,
} from '../../db/catalog-admin.repository.js';
import type { Db } from '../../db/database.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import { required } from '../validate.js';
import type { Clock } from '../clock.js';
import { type Actor, requireRole, STAFF } from './audit.service.js';
import { type ImportIssue, type ImportProgress, planCinemaImport } from './catalog-import.js';
import { presentCinema, presentCity, presentRegion } from './catalog-views.js';

export interface ImportOptions {
  dryRun?: boolean;
  /** Names the file in the audit log. */
  source?: string;
  /** Called every 500 rows and at the end of each phase. */
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportReport {
  dryRun: boolean;
  /** True when the catalog was changed (a real run without errors). */
  applied: boolean;
  rows: number;
  /** Cinemas. */
  created: number;
  updated: number;
  unchanged: number;
  citiesCreated: number;
  regionsCreated: number;
  errors: ImportIssue[];
}

/** Cinema imports from CSV: catalog-import.ts reads and plans the file, this writes the plan. */
export class CatalogImportService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /**
   * Imports cinemas from CSV (see CINEMA_CSV_COLUMNS). All or nothing: a file with any bad row
   * changes nothing and the report lists every problem. A dry run only reports.
   */
  async importCinemas(by: Actor, csv: string, opts: ImportOptions = {}): Promise<ImportReport> {
    requireRole(by, STAFF, 'manage the catalog');
    if (typeof csv !== 'string') throw required('file');
    const dryRun = opts.dryRun === true;
    const run = async (tx: Executor): Promise<ImportReport> => {
      const plan = planCinemaImport(csv, await loadCatalogTables(tx), opts.onProgress);
      const report: ImportReport = {
        dryRun,
        applied: false,
        rows: plan.rows,
        created: plan.newCinemas.length,
        updated: plan.changedCinemas.length,
        unchanged: plan.unchanged,
        citiesCreated: plan.newCities.length,
        regionsCreated: plan.newRegions.length,
        errors: plan.errors,
      };
      if (dryRun || plan.errors.length) return report;
      const total = plan.newCinemas.length + plan.changedCinemas.length;
      if (total === 0) return report;
      const at = this.clock.now();
      const audit = (action: string, entityType: string, entityId: string, before: unknown, after: unknown) =>
        recordAudit(tx, { at, actor: by.actor, action, entityType, entityId, before, after });
      await insertCities(tx, plan.newCities);
      for (const c of plan.newCities) await audit('city.create', 'city', c.code_id, null, presentCity(c));
      await insertRegions(tx, plan.newRegions);
      for (const r of plan.newRegions)
        await audit('region.create', 'region', r.code_id, null, presentRegion(r));
      let done = 0;
      const progress = (n: number) => {
        const next = done + n;
        if (Math.floor(next / 500) > Math.floor(done / 500))
          opts.onProgress?.({ phase: 'write', done: next, total });
        done = next;
      };
      for (let i = 0; i < plan.newCinemas.length; i += 500) {
        const batch = plan.newCinemas.slice(i, i + 500);
        await insertCinemas(tx, batch);
        for (const c of batch) await audit('cinema.create', 'cinema', c.cinema_id, null, presentCinema(c));
        progress(batch.length);
      }
      for (const { before, after } of plan.changedCinemas) {
        const { cinema_id: id, ...set } = after;
        await updateCinemaRow(tx, id, set);
        await audit('cinema.update', 'cinema', id, presentCinema(before), presentCinema(after));
        progress(1);
      }
      const summary = {
        rows: report.rows,
        created: report.created,
        updated: report.updated,
        unchanged: report.unchanged,
        citiesCreated: report.citiesCreated,
        regionsCreated: report.regionsCreated,
      };
      await audit('catalog.import', 'catalog', opts.source ?? 'csv', null, summary);
      opts.onProgress?.({ phase: 'write', done: total, total });
      return { ...report, applied: true };
    };
    return dryRun ? run(this.db.kysely) : inTransaction(this.db, run);
  }
}
