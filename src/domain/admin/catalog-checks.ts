import { invalid } from '../../errors.js';
import { checkEach, CITY_ID, ID, integer, pattern, text, yuanToFen } from '../validate.js';
import { DEFAULT_VALID_DAYS } from './catalog-import.js';
import type {
  CinemaChanges,
  CinemaInput,
  CityChanges,
  CityInput,
  KindChanges,
  KindInput,
  RegionInput,
} from './catalog-views.js';

/*
 * The input checks of the catalog commands. Each runs every rule of a form's input and returns
 * the checked columns with every refusal (in the order the service has always checked them), so
 * the console names every invalid field at once and the service refuses with the first.
 */

export const checkCityId = (v: unknown) => pattern('city_id', v, CITY_ID);
export const checkId = (field: string, v: unknown) => pattern(field, v, ID);
const checkSort = (v: unknown) => integer('sort', v, -1_000_000, 1_000_000);
const checkValidDays = (v: unknown) => integer('valid_days', v, 1, 3650);

/** Runs `check` on a value only when it was given (an edit changes only what it names). */
const ifGiven =
  <V, R>(value: V | undefined, check: (v: V) => R) =>
  (): R | undefined =>
    value === undefined ? undefined : check(value);

export function checkCinemaIds(ids: unknown): string[] {
  if (!Array.isArray(ids)) throw invalid('cinema_ids', 'must be a list of cinema ids');
  return [...new Set(ids.map((id) => checkId('cinema_id', id)))].sort();
}

export const checkCity = (input: CityInput) =>
  checkEach({
    code_id: () => checkCityId(input.codeId),
    code_name: () => text('name', input.name, 1, 50),
    remark: () => text('remark', input.remark ?? '', 0, 50),
    sort: () => checkSort(input.sort ?? 0),
  });

export const checkRegion = (input: RegionInput) =>
  checkEach({
    code_id: () => checkId('region_id', input.codeId),
    city_id: () => checkCityId(input.cityId),
    code_name: () => text('name', input.name, 1, 50),
    remark: () => text('remark', input.remark ?? '', 0, 50),
    sort: () => checkSort(input.sort ?? 0),
  });

/** The changes of a city or a region. */
export const checkPlaceChanges = (changes: CityChanges) =>
  checkEach({
    code_name: ifGiven(changes.name, (v) => text('name', v, 1, 50)),
    remark: ifGiven(changes.remark, (v) => text('remark', v, 0, 50)),
    sort: ifGiven(changes.sort, checkSort),
  });

export const checkCinema = (input: CinemaInput) =>
  checkEach({
    cinema_id: () => checkId('cinema_id', input.cinemaId),
    region_id: () => checkId('region_id', input.regionId),
    cinema_name: () => text('name', input.name, 1, 100),
    address: () => text('address', input.address ?? '', 0, 200),
    tel: () => text('tel', input.tel ?? '', 0, 40),
    price_fen: () => yuanToFen('price', input.price),
    market_price_fen: () => yuanToFen('market_price', input.marketPrice),
    valid_days: () => checkValidDays(input.validDays ?? DEFAULT_VALID_DAYS),
  });

export const checkCinemaChanges = (changes: CinemaChanges) =>
  checkEach({
    cinema_name: ifGiven(changes.name, (v) => text('name', v, 1, 100)),
    address: ifGiven(changes.address, (v) => text('address', v, 0, 200)),
    tel: ifGiven(changes.tel, (v) => text('tel', v, 0, 40)),
    price_fen: ifGiven(changes.price, (v) => yuanToFen('price', v)),
    market_price_fen: ifGiven(changes.marketPrice, (v) => yuanToFen('market_price', v)),
    valid_days: ifGiven(changes.validDays, checkValidDays),
    region_id: ifGiven(changes.regionId, (v) => checkId('region_id', v)),
  });

export const checkKind = (input: KindInput) =>
  checkEach({
    kind_id: () => checkId('kind_id', input.kindId),
    kind_name: () => text('name', input.name, 1, 100),
    price_fen: () => yuanToFen('price', input.price),
    market_price_fen: () => yuanToFen('market_price', input.marketPrice),
    valid_days: () => checkValidDays(input.validDays),
    remark: () => text('remark', input.remark ?? '', 0, 200),
    cinema_ids: () => checkCinemaIds(input.cinemaIds ?? []),
  });

export const checkKindChanges = (changes: KindChanges) =>
  checkEach({
    kind_name: ifGiven(changes.name, (v) => text('name', v, 1, 100)),
    price_fen: ifGiven(changes.price, (v) => yuanToFen('price', v)),
    market_price_fen: ifGiven(changes.marketPrice, (v) => yuanToFen('market_price', v)),
    valid_days: ifGiven(changes.validDays, checkValidDays),
    remark: ifGiven(changes.remark, (v) => text('remark', v, 0, 200)),
  });
