/**
 * The cinema import file's columns; the header row must name each once, in any order. A module
 * of its own, with no imports, so `movticket --help` can list them without loading the import.
 */
export const CINEMA_CSV_COLUMNS = [
  'city_id',
  'city_name',
  'city_remark',
  'region_id',
  'region_name',
  'region_remark',
  'cinema_id',
  'cinema_name',
  'address',
  'tel',
  'price',
  'market_price',
  'valid_days',
  'active',
] as const;
