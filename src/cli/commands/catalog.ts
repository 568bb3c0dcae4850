import fs from 'node:fs/promises';
import path from 'node:path';
import type { CinemaView, KindView } from '../../domain/admin/catalog-views.js';
import { CINEMA_CSV_COLUMNS } from '../../domain/admin/catalog-csv.js';
import { formatYuan } from '../../domain/money.js';
import { intArg, listArg } from '../args.js';
import { fields, json, table } from '../output.js';
import { type Runner, UsageError } from '../runner.js';

/** Imports this long report their progress on stderr. */
const PROGRESS_FROM = 500;

function cinemaFields(c: CinemaView): [string, string][] {
  return [
    ['cinema_id', c.cinemaId],
    ['name', c.name],
    ['city/region', `${c.cityId}/${c.regionId}`],
    ['price', formatYuan(c.priceFen)],
    ['market_price', formatYuan(c.marketPriceFen)],
    ['valid_days', String(c.validDays)],
    ['active', c.active ? 'yes' : 'no'],
  ];
}

function kindFields(k: KindView): [string, string][] {
  return [
    ['kind_id', k.kindId],
    ['name', k.name],
    ['price', formatYuan(k.priceFen)],
    ['market_price', formatYuan(k.marketPriceFen)],
    ['valid_days', String(k.validDays)],
    ['active', k.active ? 'yes' : 'no'],
    ['cinemas', k.cinemaIds.join(',') || 'none'],
  ];
}

/** Cities, regions, cinemas and kinds; the CSV import of cinemas. */
export function registerCatalogCommands({ group, run, err }: Runner): void {
  const catalog = group('catalog', 'cities, regions, cinemas, kinds; CSV import');
  catalog
    .command('list')
    .description('list the catalog')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      run(async (s) => {
        const c = await s.catalog.list(s.by);
        if (o.json) return s.ctx.out(json(c));
        const out = (lines: string[]) => lines.forEach((l) => s.ctx.out(l));
        out(
          table(
            ['CITY', 'NAME', 'REMARK', 'SORT'],
            c.cities.map((x) => [x.codeId, x.name, x.remark, String(x.sort)]),
          ),
        );
        s.ctx.out('');
        out(
          table(
            ['REGION', 'CITY', 'NAME', 'REMARK', 'SORT'],
            c.regions.map((x) => [x.codeId, x.cityId, x.name, x.remark, String(x.sort)]),
          ),
        );
        s.ctx.out('');
        out(
          table(
            ['CINEMA', 'NAME', 'CITY', 'REGION', 'PRICE', 'MARKET', 'DAYS', 'ACTIVE'],
            c.cinemas.map((x) => [
              x.cinemaId,
              x.name,
              x.cityId,
              x.regionId,
              formatYuan(x.priceFen),
              formatYuan(x.marketPriceFen),
              String(x.validDays),
              x.active ? 'yes' : 'no',
            ]),
          ),
        );
        s.ctx.out('');
        out(
          table(
            ['KIND', 'NAME', 'PRICE', 'MARKET', 'DAYS', 'ACTIVE', 'CINEMAS'],
            c.kinds.map((x) => [
              x.kindId,
              x.name,
              formatYuan(x.priceFen),
              formatYuan(x.marketPriceFen),
              String(x.validDays),
              x.active ? 'yes' : 'no',
              x.cinemaIds.join(','),
            ]),
          ),
        );
      }),
    );
  catalog
    .command('import <file>')
    .description('create or update cinemas from a CSV file; a file with any bad row imports nothing')
    .addHelpText(
      'after',
      `\nThe file is UTF-8 CSV with this header row (columns in any order):\n  ${CINEMA_CSV_COLUMNS.join(',')}\n` +
        'Cities and regions are created when missing. valid_days and active may be empty (kept, or 90 and 1).\n' +
        'Rows are numbered as in a spreadsheet: the header is row 1.',
    )
    .option('--dry-run', 'check the file and report what would change, writing nothing')
    .option('--json', 'print the report as JSON')
    .action((file: string, o: { dryRun?: boolean; json?: boolean }) =>
      run(async (s) => {
        let csv: string;
        try {
          csv = new TextDecoder('utf-8', { fatal: true }).decode(await fs.readFile(file));
        } catch (e) {
          const code = (e as { code?: string }).code;
          throw new Error(
            code ? `cannot read ${file}: ${code}` : `${file} is not UTF-8 text; save it as "CSV UTF-8"`,
          );
        }
        const report = await s.catalog.importCinemas(s.by, csv, {
          dryRun: o.dryRun,
          source: path.basename(file),
          // Only long jobs report progress.
          onProgress: (p) => {
            if (p.total < PROGRESS_FROM) return;
            err(
              p.phase === 'check'
                ? `checked ${p.done}/${p.total} rows`
                : `wrote ${p.done}/${p.total} cinemas`,
            );
          },
        });
        if (o.json) s.ctx.out(json(report));
        else {
          const verb = report.applied ? '' : ' to';
          s.ctx.out(
            `${report.rows} rows: ${report.created} cinemas${verb} create, ${report.updated}${verb} update, ` +
              `${report.unchanged} unchanged; ${report.citiesCreated} cities and ${report.regionsCreated} regions${verb} create`,
          );
          if (report.errors.length) {
            for (const l of table(
              ['ROW', 'COLUMN', 'PROBLEM'],
              report.errors.map((e) => [String(e.row), e.column, e.message]),
            )) {
              s.ctx.out(l);
            }
          }
        }
        if (report.errors.length) {
          const n = report.errors.length;
          throw new Error(`${n} problem${n > 1 ? 's' : ''} in ${file}; nothing was imported`);
        }
        if (report.dryRun) s.ctx.out('dry run: nothing was written');
      }),
    );

  const city = catalog.command('city').description('cities');
  city
    .command('add <code_id>')
    .description('add a city (3-digit code_id)')
    .requiredOption('--name <name>', 'e.g. 北京')
    .option('--remark <remark>', 'pinyin abbreviation, e.g. bj')
    .option('--sort <n>', 'list order', intArg(-1_000_000, 1_000_000))
    .action((codeId: string, o: { name: string; remark?: string; sort?: number }) =>
      run(async (s) => {
        const c = await s.catalog.createCity(s.by, { codeId, ...o });
        s.ctx.out(`created city ${c.codeId} ${c.name}`);
      }),
    );
  city
    .command('set <code_id>')
    .description('edit a city')
    .option('--name <name>', 'name')
    .option('--remark <remark>', 'pinyin abbreviation')
    .option('--sort <n>', 'list order', intArg(-1_000_000, 1_000_000))
    .action((codeId: string, o: { name?: string; remark?: string; sort?: number }) =>
      run(async (s) => {
        const c = await s.catalog.editCity(s.by, codeId, o);
        s.ctx.out(`city ${c.codeId}: ${c.name} (${c.remark}), sort ${c.sort}`);
      }),
    );

  const region = catalog.command('region').description('regions (districts) of a city');
  region
    .command('add <code_id>')
    .description('add a region to a city')
    .requiredOption('--city <code_id>', 'the city')
    .requiredOption('--name <name>', 'e.g. 朝阳区')
    .option('--remark <remark>', 'pinyin abbreviation')
    .option('--sort <n>', 'list order', intArg(-1_000_000, 1_000_000))
    .action((codeId: string, o: { city: string; name: string; remark?: string; sort?: number }) =>
      run(async (s) => {
        const r = await s.catalog.createRegion(s.by, {
          codeId,
          cityId: o.city,
          name: o.name,
          remark: o.remark,
          sort: o.sort,
        });
        s.ctx.out(`created region ${r.codeId} ${r.name} in city ${r.cityId}`);
      }),
    );
  region
    .command('set <code_id>')
    .description('edit a region')
    .option('--name <name>', 'name')
    .option('--remark <remark>', 'pinyin abbreviation')
    .option('--sort <n>', 'list order', intArg(-1_000_000, 1_000_000))
    .action((codeId: string, o: { name?: string; remark?: string; sort?: number }) =>
      run(async (s) => {
        const r = await s.catalog.editRegion(s.by, codeId, o);
        s.ctx.out(`region ${r.codeId}: ${r.name} (${r.remark}), sort ${r.sort}`);
      }),
    );

  const cinema = catalog.command('cinema').description('cinemas and their default and market prices');
  cinema
    .command('add <cinema_id>')
    .description('add a cinema')
    .requiredOption('--region <region_id>', 'the region (the city follows from it)')
    .requiredOption('--name <name>', 'name')
    .requiredOption('--price <yuan>', 'default settlement price, e.g. 35.00')
    .requiredOption('--market-price <yuan>', 'market (face) price')
    .option('--address <text>', 'address')
    .option('--tel <text>', 'telephone')
    .option('--valid-days <n>', 'validity of its cards after payment', intArg(1, 3650))
    .option('--inactive', 'create it inactive')
    .action(
      (
        cinemaId: string,
        o: {
          region: string;
          name: string;
          price: string;
          marketPrice: string;
          address?: string;
          tel?: string;
          validDays?: number;
          inactive?: boolean;
        },
      ) =>
        run(async (s) => {
          const { region: regionId, inactive, ...rest } = o;
          const c = await s.catalog.createCinema(s.by, { cinemaId, regionId, ...rest, active: !inactive });
          s.ctx.out(`created cinema ${c.cinemaId}`);
          for (const l of fields(cinemaFields(c))) s.ctx.out(l);
        }),
    );
  cinema
    .command('set <cinema_id>')
    .description('edit a cinema, including its default and market prices')
    .option('--region <region_id>', 'move it to another region')
    .option('--name <name>', 'name')
    .option('--price <yuan>', 'default settlement price')
    .option('--market-price <yuan>', 'market (face) price')
    .option('--address <text>', 'address')
    .option('--tel <text>', 'telephone')
    .option('--valid-days <n>', 'validity of its cards after payment', intArg(1, 3650))
    .action(
      (
        cinemaId: string,
        o: {
          region?: string;
          name?: string;
          price?: string;
          marketPrice?: string;
          address?: string;
          tel?: string;
          validDays?: number;
        },
      ) =>
        run(async (s) => {
          const { region: regionId, ...rest } = o;
          const c = await s.catalog.editCinema(s.by, cinemaId, { regionId, ...rest });
          s.ctx.out(`updated cinema ${c.cinemaId}`);
          for (const l of fields(cinemaFields(c))) s.ctx.out(l);
        }),
    );
  for (const name of ['activate', 'deactivate'] as const) {
    cinema
      .command(`${name} <cinema_id>`)
      .description(name === 'activate' ? 'offer the cinema to partners' : 'stop offering the cinema')
      .action((cinemaId: string) =>
        run(async (s) => {
          const c = await s.catalog.setCinemaActive(s.by, cinemaId, name === 'activate');
          s.ctx.out(`cinema ${c.cinemaId} is ${c.active ? 'active' : 'inactive'}`);
        }),
      );
  }

  const kind = catalog.command('kind').description('card kinds, their cinemas and prices');
  kind
    .command('add <kind_id>')
    .description('add a kind')
    .requiredOption('--name <name>', 'e.g. 全国通兑2D券')
    .requiredOption('--price <yuan>', 'default settlement price')
    .requiredOption('--market-price <yuan>', 'market (face) price')
    .requiredOption('--valid-days <n>', 'validity of its cards after payment', intArg(1, 3650))
    .option('--remark <text>', 'remark')
    .option('--cinemas <list>', 'comma-separated cinema ids where it is accepted')
    .option('--inactive', 'create it inactive')
    .action(
      (
        kindId: string,
        o: {
          name: string;
          price: string;
          marketPrice: string;
          validDays: number;
          remark?: string;
          cinemas?: string;
          inactive?: boolean;
        },
      ) =>
        run(async (s) => {
          const { cinemas, inactive, ...rest } = o;
          const k = await s.catalog.createKind(s.by, {
            kindId,
            ...rest,
            cinemaIds: cinemas === undefined ? [] : listArg(cinemas),
            active: !inactive,
          });
          s.ctx.out(`created kind ${k.kindId}`);
          for (const l of fields(kindFields(k))) s.ctx.out(l);
        }),
    );
  kind
    .command('set <kind_id>')
    .description('edit a kind, including its default and market prices')
    .option('--name <name>', 'name')
    .option('--price <yuan>', 'default settlement price')
    .option('--market-price <yuan>', 'market (face) price')
    .option('--valid-days <n>', 'validity of its cards after payment', intArg(1, 3650))
    .option('--remark <text>', 'remark')
    .action(
      (
        kindId: string,
        o: { name?: string; price?: string; marketPrice?: string; validDays?: number; remark?: string },
      ) =>
        run(async (s) => {
          const k = await s.catalog.editKind(s.by, kindId, o);
          s.ctx.out(`updated kind ${k.kindId}`);
          for (const l of fields(kindFields(k))) s.ctx.out(l);
        }),
    );
  for (const name of ['activate', 'deactivate'] as const) {
    kind
      .command(`${name} <kind_id>`)
      .description(name === 'activate' ? 'offer the kind to partners' : 'stop offering the kind')
      .action((kindId: string) =>
        run(async (s) => {
          const k = await s.catalog.setKindActive(s.by, kindId, name === 'activate');
          s.ctx.out(`kind ${k.kindId} is ${k.active ? 'active' : 'inactive'}`);
        }),
      );
  }
  kind
    .command('cinemas <kind_id> [cinema_id...]')
    .description('replace the cinemas where the kind is accepted')
    .option('--none', 'accept it nowhere')
    .action((kindId: string, ids: string[], o: { none?: boolean }) =>
      run(async (s) => {
        const list = ids.flatMap(listArg);
        if (!list.length && !o.none) throw new UsageError('give cinema ids, or --none to remove them all');
        if (list.length && o.none) throw new UsageError('--none takes no cinema ids');
        const k = await s.catalog.setKindCinemas(s.by, kindId, list);
        s.ctx.out(`kind ${k.kindId} is accepted at: ${k.cinemaIds.join(',') || 'no cinema'}`);
      }),
    );
}
