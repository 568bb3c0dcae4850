import { CsvError, parse } from 'csv-parse/sync';
import type { CatalogTables } from '../../db/catalog-admin.repository.js';
import type { CinemaTable, CityTable, RegionTable } from '../../db/schema.js';
import { AppError, invalid, type Params } from '../../errors.js';
import { CITY_ID, ID, integer, pattern, text, yuanToFen } from '../validate.js';
import { CINEMA_CSV_COLUMNS } from './catalog-csv.js';

export { CINEMA_CSV_COLUMNS };

type Column = (typeof CINEMA_CSV_COLUMNS)[number];

export const DEFAULT_VALID_DAYS = 90;

/** One problem in the file: `row` counts records from 1 (the header), as a spreadsheet numbers them. */
export interface ImportIssue {
  row: number;
  /** The column at fault; empty when the whole row is. */
  column: string;
  /** English, for the CLI and the JSON API. */
  message: string;
  /** The rule broken, for the console's Chinese catalogue (as an AppError's id and params). */
  id: string;
  params: Params;
}

export interface CsvRecord {
  row: number;
  fields: string[];
}

/** What csv-parse gives per record with `info` and `raw` on. */
interface ParsedRecord {
  record: string[];
  raw: string;
  info: { records: number };
}

const CSV_ERRORS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
  CSV_INVALID_CLOSING_QUOTE: 'unexpected text after a closing quote',
  INVALID_OPENING_QUOTE: 'a quote inside a field that does not start with one (quote the whole field)',
};

/**
 * RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks; CRLF, LF or CR; a
 * BOM is ignored. A blank line is no record but still counts as a row.
 */
export function parseCsv(input: string): { records: CsvRecord[]; error: ImportIssue | null } {
  let parsed: ParsedRecord[];
  try {
    parsed = parse(input, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: false,
      record_delimiter: ['\r\n', '\n', '\r'],
      info: true,
      raw: true,
    }) as unknown as ParsedRecord[];
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    const records = typeof err.records === 'number' ? err.records : 0;
    const message = CSV_ERRORS[err.code] ?? 'malformed CSV';
    return {
      records: [],
      error: { row: records + 1, column: '', message, id: 'import.csv', params: { reason: err.code } },
    };
  }
  const records: CsvRecord[] = [];
  for (const { record, raw, info } of parsed) {
    // A blank line parses as one empty field; a line holding `""` is a record of one.
    if (record.length === 1 && record[0] === '' && !raw.startsWith('"')) continue;
    records.push({ row: info.records, fields: record });
  }
  return { records, error: null };
}

export interface ImportPlan {
  rows: number;
  newCities: CityTable[];
  newRegions: RegionTable[];
  newCinemas: CinemaTable[];
  changedCinemas: { before: CinemaTable; after: CinemaTable }[];
  unchanged: number;
  errors: ImportIssue[];
}

export interface ImportProgress {
  phase: 'check' | 'write';
  done: number;
  total: number;
}

const PROGRESS_EVERY = 500;

function flag(column: string, value: string): number {
  if (/^(1|true|yes|y)$/i.test(value)) return 1;
  if (/^(0|false|no|n)$/i.test(value)) return 0;
  throw invalid(column, 'must be 1 or 0 (or true/false, yes/no)', 'field.flag');
}

const sameCinema = (a: CinemaTable, b: CinemaTable) =>
  (Object.keys(a) as (keyof CinemaTable)[]).every((k) => a[k] === b[k]);

/**
 * Checks every row of a cinema file against the catalog and against the rows before it, and
 * works out what importing it would change. Cities and regions are created when missing; an
 * existing one must be named the same (or the name left empty). Cinemas are created or updated.
 */
export function planCinemaImport(
  csv: string,
  catalog: CatalogTables,
  onProgress?: (p: ImportProgress) => void,
): ImportPlan {
  const plan: ImportPlan = {
    rows: 0,
    newCities: [],
    newRegions: [],
    newCinemas: [],
    changedCinemas: [],
    unchanged: 0,
    errors: [],
  };
  const { records, error } = parseCsv(csv);
  if (error) {
    plan.errors.push(error);
    return plan;
  }
  const header = records.shift();
  if (!header) {
    plan.errors.push({
      row: 1,
      column: '',
      message: `the file is empty; expected a header row: ${CINEMA_CSV_COLUMNS.join(',')}`,
      id: 'import.empty',
      params: { columns: CINEMA_CSV_COLUMNS.join(',') },
    });
    return plan;
  }
  const index = new Map<string, number>();
  header.fields.forEach((name, i) => {
    const col = name.trim();
    if (!(CINEMA_CSV_COLUMNS as readonly string[]).includes(col)) {
      plan.errors.push({
        row: header.row,
        column: col,
        message: `unknown column ${JSON.stringify(col)}`,
        id: 'import.unknown_column',
        params: { column: col },
      });
    } else if (index.has(col)) {
      plan.errors.push({
        row: header.row,
        column: col,
        message: `column ${col} appears twice`,
        id: 'import.column_twice',
        params: { column: col },
      });
    } else {
      index.set(col, i);
    }
  });
  for (const col of CINEMA_CSV_COLUMNS) {
    if (!index.has(col)) {
      plan.errors.push({
        row: header.row,
        column: col,
        message: `missing column ${col}`,
        id: 'import.missing_column',
        params: { column: col },
      });
    }
  }
  if (plan.errors.length) return plan;

  const cities = new Map(catalog.cities.map((c) => [c.code_id, c]));
  const regions = new Map(catalog.regions.map((r) => [r.code_id, r]));
  const cinemas = new Map(catalog.cinemas.map((c) => [c.cinema_id, c]));
  const seenCinemas = new Map<string, number>();
  const width = header.fields.length;
  plan.rows = records.length;

  records.forEach((rec, n) => {
    if ((n + 1) % PROGRESS_EVERY === 0) onProgress?.({ phase: 'check', done: n + 1, total: records.length });
    if (rec.fields.length !== width) {
      plan.errors.push({
        row: rec.row,
        column: '',
        message: `expected ${width} fields, found ${rec.fields.length}`,
        id: 'import.width',
        params: { expected: width, found: rec.fields.length },
      });
      return;
    }
    const get = (c: Column) => rec.fields[index.get(c)!]!.trim();
    const rowErrors: ImportIssue[] = [];
    const check = <T>(fn: () => T): T | undefined => {
      try {
        return fn();
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        rowErrors.push({
          row: rec.row,
          column: err.field ?? '',
          message: err.message,
          id: err.id,
          params: err.params,
        });
        return undefined;
      }
    };
    const fail = (column: Column, message: string, id: string, params: Params) =>
      rowErrors.push({ row: rec.row, column, message, id, params });

    // City: created when missing; an existing one keeps its name and remark.
    const cityId = check(() => pattern('city_id', get('city_id'), CITY_ID));
    let city: CityTable | undefined;
    if (cityId !== undefined) {
      const known = cities.get(cityId);
      if (known) {
        if (get('city_name') && get('city_name') !== known.code_name) {
          fail(
            'city_name',
            `city ${cityId} is named ${known.code_name}, not ${get('city_name')}`,
            'import.name',
            {
              what: 'city',
              id: cityId,
              known: known.code_name,
              given: get('city_name'),
            },
          );
        } else city = known;
      } else {
        const name = check(() => text('city_name', get('city_name'), 1, 50));
        const remark = check(() => text('city_remark', get('city_remark'), 0, 50));
        if (name !== undefined && remark !== undefined)
          city = { code_id: cityId, code_name: name, remark, sort: 0 };
      }
    }
    // Region: likewise, and it must lie in the row's city.
    const regionId = check(() => pattern('region_id', get('region_id'), ID));
    let region: RegionTable | undefined;
    if (regionId !== undefined) {
      const known = regions.get(regionId);
      if (known) {
        if (cityId !== undefined && known.city_id !== cityId) {
          fail(
            'region_id',
            `region ${regionId} belongs to city ${known.city_id}, not ${cityId}`,
            'import.region_city',
            {
              id: regionId,
              known: known.city_id,
              given: cityId,
            },
          );
        } else if (get('region_name') && get('region_name') !== known.code_name) {
          fail(
            'region_name',
            `region ${regionId} is named ${known.code_name}, not ${get('region_name')}`,
            'import.name',
            {
              what: 'region',
              id: regionId,
              known: known.code_name,
              given: get('region_name'),
            },
          );
        } else region = known;
      } else {
        const name = check(() => text('region_name', get('region_name'), 1, 50));
        const remark = check(() => text('region_remark', get('region_remark'), 0, 50));
        if (name !== undefined && remark !== undefined && cityId !== undefined) {
          region = { code_id: regionId, city_id: cityId, code_name: name, remark, sort: 0 };
        }
      }
    }
    const cinemaId = check(() => pattern('cinema_id', get('cinema_id'), ID));
    if (cinemaId !== undefined && seenCinemas.has(cinemaId)) {
      fail(
        'cinema_id',
        `cinema ${cinemaId} already appears in row ${seenCinemas.get(cinemaId)}`,
        'import.cinema_twice',
        {
          id: cinemaId,
          row: seenCinemas.get(cinemaId)!,
        },
      );
    }
    const before = cinemaId === undefined ? undefined : cinemas.get(cinemaId);
    const name = check(() => text('cinema_name', get('cinema_name'), 1, 100));
    const address = check(() => text('address', get('address'), 0, 200));
    const tel = check(() => text('tel', get('tel'), 0, 40));
    const price = check(() => yuanToFen('price', get('price')));
    const market = check(() => yuanToFen('market_price', get('market_price')));
    const validDays = check(() =>
      get('valid_days') === ''
        ? (before?.valid_days ?? DEFAULT_VALID_DAYS)
        : integer('valid_days', get('valid_days'), 1, 3650),
    );
    const active = check(() =>
      get('active') === '' ? (before?.active ?? 1) : flag('active', get('active')),
    );

    if (rowErrors.length || !city || !region || cinemaId === undefined) {
      plan.errors.push(...rowErrors);
      return;
    }
    seenCinemas.set(cinemaId, rec.row);
    if (!cities.has(city.code_id)) {
      cities.set(city.code_id, city);
      plan.newCities.push(city);
    }
    if (!regions.has(region.code_id)) {
      regions.set(region.code_id, region);
      plan.newRegions.push(region);
    }
    const after: CinemaTable = {
      cinema_id: cinemaId,
      cinema_name: name!,
      city_id: city.code_id,
      region_id: region.code_id,
      address: address!,
      tel: tel!,
      price_fen: price!,
      market_price_fen: market!,
      valid_days: validDays!,
      active: active!,
    };
    if (!before) plan.newCinemas.push(after);
    else if (sameCinema(before, after)) plan.unchanged++;
    else plan.changedCinemas.push({ before, after });
  });
  onProgress?.({ phase: 'check', done: records.length, total: records.length });
  return plan;
}
