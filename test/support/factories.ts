import type { Db } from '../../src/db/database.js';
import { bumpRegistryVersion } from '../../src/db/catalog.repository.js';
import {
  insertCatalog,
  insertPartner,
  insertSecurityConfig,
  upsertPartnerPrice,
} from '../../src/db/partner.repository.js';
import type { Database, PartnerTable } from '../../src/db/schema.js';
import { INTERFACE_NAMES } from '../../src/http/partner/interfaces.js';

export const KEY = 'e10adc3949ba59abbe56e057f20f883e';

/** A small catalog: two cities, regions, cinemas (one inactive), two kinds. */
export async function makeCatalog(db: Db): Promise<void> {
  const cinema = (id: string, regionId: string, price: number, active = 1) => ({
    cinema_id: id,
    cinema_name: `影城${id}`,
    city_id: regionId.slice(0, 3),
    region_id: regionId,
    address: `地址 ${id} <&>`,
    tel: '010-12345678',
    price_fen: price,
    market_price_fen: price * 2,
    valid_days: 90,
    active,
  });
  await insertCatalog(db.kysely, {
    cities: [
      { code_id: '001', code_name: '北京', remark: 'bj', sort: 1 },
      { code_id: '002', code_name: '武汉', remark: 'wh', sort: 2 },
      { code_id: '003', code_name: '上海', remark: 'sh', sort: 3 },
    ],
    regions: [
      { code_id: '001001', city_id: '001', code_name: '朝阳区', remark: 'cy', sort: 1 },
      { code_id: '001002', city_id: '001', code_name: '海淀区', remark: 'hd', sort: 2 },
      { code_id: '002001', city_id: '002', code_name: '江汉区', remark: 'jh', sort: 1 },
      { code_id: '003001', city_id: '003', code_name: '浦东新区', remark: 'pd', sort: 1 },
    ],
    cinemas: [
      cinema('1001', '001001', 3500),
      cinema('1002', '001001', 3800),
      cinema('1003', '001002', 3300),
      cinema('2001', '002001', 2800),
      cinema('3001', '003001', 3000, 0),
    ],
    kinds: [
      {
        kind_id: 'K2D',
        kind_name: '全国通兑2D券',
        price_fen: 3200,
        market_price_fen: 7000,
        valid_days: 180,
        remark: '2D',
        active: 1,
      },
      {
        kind_id: 'K3D',
        kind_name: '全国通兑3D券',
        price_fen: 4200,
        market_price_fen: 9000,
        valid_days: 30,
        remark: '3D',
        active: 1,
      },
    ],
    kindCinemas: [
      { kind_id: 'K2D', cinema_id: '1001' },
      { kind_id: 'K2D', cinema_id: '1003' },
      { kind_id: 'K2D', cinema_id: '2001' },
      { kind_id: 'K2D', cinema_id: '3001' },
      { kind_id: 'K3D', cinema_id: '1002' },
    ],
  });
  await bumpRegistryVersion(db.kysely);
}

export interface PartnerSpec {
  partnerId?: string;
  busId?: string;
  secId?: string;
  md5key?: string;
  signMode?: 'basic' | 'full';
  status?: PartnerTable['status'];
  permissions?: string[];
  ipAllow?: string[];
  rateLimit?: number;
  prices?: { type: 'cinema' | 'kind'; id: string; fen: number }[];
}

export async function makePartner(db: Db, spec: PartnerSpec = {}) {
  const p = {
    partnerId: spec.partnerId ?? 'CS000001',
    busId: spec.busId ?? '1002758',
    secId: spec.secId ?? 'test',
    md5key: spec.md5key ?? KEY,
    signMode: spec.signMode ?? 'basic',
  };
  await insertPartner(db.kysely, {
    partner_id: p.partnerId,
    name: `渠道 ${p.partnerId}`,
    bus_id: p.busId,
    status: spec.status ?? 'active',
    permissions: (spec.permissions ?? INTERFACE_NAMES).join(','),
    ip_allow: (spec.ipAllow ?? []).join(','),
    rate_limit: spec.rateLimit ?? 0,
    created_at: Date.now(),
  });
  await insertSecurityConfig(db.kysely, {
    partner_id: p.partnerId,
    sec_id: p.secId,
    md5key: p.md5key,
    sign_mode: p.signMode,
    status: 'active',
    created_at: Date.now(),
  });
  for (const price of spec.prices ?? []) {
    await upsertPartnerPrice(db.kysely, {
      partner_id: p.partnerId,
      target_type: price.type,
      target_id: price.id,
      price_fen: price.fen,
    });
  }
  await bumpRegistryVersion(db.kysely);
  return p;
}

/** How many rows `table` holds. */
export async function countRows(db: Db, table: keyof Database): Promise<number> {
  const row = await db.kysely
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
