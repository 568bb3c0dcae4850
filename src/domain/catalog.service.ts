import { notFound } from '../errors.js';
import { formatYuan } from './money.js';
import type { Cinema, Partner, RegistrySnapshot } from './registry.js';
import type { WireObject } from './wire.js';

function cinemaBase(c: Cinema): WireObject {
  return {
    cinema_id: c.cinema_id,
    cinema_name: c.cinema_name,
    city_id: c.city_id,
    region_id: c.region_id,
    address: c.address,
    tel: c.tel,
  };
}

/** The read-only catalog interfaces, answered from a registry snapshot. */
export const catalog = {
  cities(snap: RegistrySnapshot): WireObject {
    return {
      cities: snap.cities.map((c) => ({
        code_id: c.code_id,
        parent_id: '0',
        code_name: c.code_name,
        remark: c.remark,
      })),
    };
  },

  regionsByCity(snap: RegistrySnapshot, cityId: string): WireObject {
    if (!snap.citiesById.has(cityId)) throw notFound('city', cityId);
    const regions = snap.regionsByCity.get(cityId) ?? [];
    return {
      regions: regions.map((r) => ({
        code_id: r.code_id,
        parent_id: r.city_id,
        code_name: r.code_name,
        remark: r.remark,
      })),
    };
  },

  cinemasByRegion(snap: RegistrySnapshot, partner: Partner, regionId: string): WireObject {
    if (!snap.regionsById.has(regionId)) throw notFound('region', regionId);
    const cinemas = snap.activeCinemasByRegion.get(regionId) ?? [];
    return {
      cinemas: cinemas.map((c) => ({
        ...cinemaBase(c),
        price: formatYuan(snap.cinemaPrice(partner, c)),
        market_price: formatYuan(c.market_price_fen),
      })),
    };
  },

  kinds(snap: RegistrySnapshot, partner: Partner): WireObject {
    return {
      kinds: snap.kinds.map((k) => ({
        kind_id: k.kind_id,
        kind_name: k.kind_name,
        price: formatYuan(snap.kindPrice(partner, k)),
        market_price: formatYuan(k.market_price_fen),
        valid_days: String(k.valid_days),
        remark: k.remark,
      })),
    };
  },

  cinemasByKind(snap: RegistrySnapshot, kindId: string, cityId?: string): WireObject {
    const kind = snap.kindsById.get(kindId);
    if (!kind || !kind.active) throw notFound('kind', kindId);
    if (cityId !== undefined && !snap.citiesById.has(cityId)) throw notFound('city', cityId);
    const cinemas: WireObject[] = [];
    for (const id of kind.cinemaIds) {
      const c = snap.cinemasById.get(id);
      if (!c || !c.active || (cityId !== undefined && c.city_id !== cityId)) continue;
      cinemas.push(cinemaBase(c));
    }
    return { cinemas };
  },
};
