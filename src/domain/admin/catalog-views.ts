import type { CinemaTable, CityTable, KindTable, RegionTable } from '../../db/schema.js';

// What the catalog commands take and return, and how a row becomes a view.

export interface CityView {
  codeId: string;
  name: string;
  remark: string;
  sort: number;
}

export interface RegionView extends CityView {
  cityId: string;
}

export interface CinemaView {
  cinemaId: string;
  name: string;
  cityId: string;
  regionId: string;
  address: string;
  tel: string;
  priceFen: number;
  marketPriceFen: number;
  validDays: number;
  active: boolean;
}

export interface KindView {
  kindId: string;
  name: string;
  priceFen: number;
  marketPriceFen: number;
  validDays: number;
  remark: string;
  active: boolean;
  cinemaIds: string[];
}

export interface CatalogView {
  cities: CityView[];
  regions: RegionView[];
  cinemas: CinemaView[];
  kinds: KindView[];
}

export interface CityInput {
  codeId: string;
  name: string;
  remark?: string;
  sort?: number;
}
export type CityChanges = Partial<Omit<CityInput, 'codeId'>>;

export interface RegionInput extends CityInput {
  cityId: string;
}
export type RegionChanges = CityChanges;

/** Prices are yuan strings ("35.00"). */
export interface CinemaInput {
  cinemaId: string;
  name: string;
  regionId: string;
  address?: string;
  tel?: string;
  price: string;
  marketPrice: string;
  validDays?: number;
  active?: boolean;
}
export type CinemaChanges = Partial<Omit<CinemaInput, 'cinemaId' | 'active'>>;

export interface KindInput {
  kindId: string;
  name: string;
  price: string;
  marketPrice: string;
  validDays: number;
  remark?: string;
  active?: boolean;
  cinemaIds?: string[];
}
export type KindChanges = Partial<Omit<KindInput, 'kindId' | 'active' | 'cinemaIds'>>;

export const presentCity = (c: CityTable): CityView => ({
  codeId: c.code_id,
  name: c.code_name,
  remark: c.remark,
  sort: c.sort,
});
export const presentRegion = (r: RegionTable): RegionView => ({ ...presentCity(r), cityId: r.city_id });
export const presentCinema = (c: CinemaTable): CinemaView => ({
  cinemaId: c.cinema_id,
  name: c.cinema_name,
  cityId: c.city_id,
  regionId: c.region_id,
  address: c.address,
  tel: c.tel,
  priceFen: c.price_fen,
  marketPriceFen: c.market_price_fen,
  validDays: c.valid_days,
  active: c.active === 1,
});
export const presentKind = (k: KindTable, cinemaIds: string[]): KindView => ({
  kindId: k.kind_id,
  name: k.kind_name,
  priceFen: k.price_fen,
  marketPriceFen: k.market_price_fen,
  validDays: k.valid_days,
  remark: k.remark,
  active: k.active === 1,
  cinemaIds,
});

export const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
