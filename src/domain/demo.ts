import type { Db } from '../db/database.js';
import { getMeta, setMeta } from '../db/catalog.repository.js';
import {
  findSecurityConfig,
  insertCatalog,
  insertPartner,
  insertSecurityConfig,
  setSecurityConfigKey,
} from '../db/partner.repository.js';
import { inTransaction } from '../db/tx.js';
import { INTERFACE_NAMES } from './interface-names.js';
import { randomBytes } from 'node:crypto';
import { listUsers } from '../db/user.repository.js';
import { AppError } from '../errors.js';
import { UserService } from './admin/user.service.js';
import type { Clock } from './clock.js';
import { generateMd5Key } from './secrets.js';

export const DEMO_PARTNER = { partnerId: 'CS000001', busId: '1002758', secId: 'test' } as const;

const cities = [
  { code_id: '001', code_name: '北京', remark: 'bj', sort: 1 },
  { code_id: '002', code_name: '武汉', remark: 'wh', sort: 2 },
];
const regions = [
  { code_id: '001001', city_id: '001', code_name: '朝阳区', remark: 'cy', sort: 1 },
  { code_id: '001002', city_id: '001', code_name: '海淀区', remark: 'hd', sort: 2 },
  { code_id: '002001', city_id: '002', code_name: '江汉区', remark: 'jh', sort: 1 },
  { code_id: '002002', city_id: '002', code_name: '武昌区', remark: 'wc', sort: 2 },
];
const cinema = (
  id: string,
  name: string,
  regionId: string,
  address: string,
  tel: string,
  price: number,
  market: number,
) => ({
  cinema_id: id,
  cinema_name: name,
  city_id: regionId.slice(0, 3),
  region_id: regionId,
  address,
  tel,
  price_fen: price,
  market_price_fen: market,
  valid_days: 90,
  active: 1,
});
const cinemas = [
  cinema('1001', '朝阳大悦城影城', '001001', '北京市朝阳区朝阳北路101号', '010-85511234', 3500, 8000),
  cinema('1002', '蓝色港湾国际影城', '001001', '北京市朝阳区朝阳公园路6号', '010-59056666', 3800, 9000),
  cinema('1003', '中关村星美影城', '001002', '北京市海淀区中关村大街19号', '010-82486688', 3300, 7500),
  cinema('1004', '五道口工人影城', '001002', '北京市海淀区成府路28号', '010-62555555', 3000, 6000),
  cinema('2001', '武汉国际广场影城', '002001', '武汉市江汉区解放大道690号', '027-85712345', 2800, 6500),
  cinema('2002', '楚河汉街万达影城', '002002', '武汉市武昌区楚河汉街1号', '027-87138888', 3000, 7000),
  cinema('2003', '光谷天河影城', '002002', '武汉市武昌区珞喻路766号', '027-87654321', 2600, 5800),
];
const kinds = [
  {
    kind_id: 'K2D',
    kind_name: '全国通兑2D券',
    price_fen: 3200,
    market_price_fen: 7000,
    valid_days: 180,
    remark: '2D影片通兑',
    active: 1,
  },
  {
    kind_id: 'K3D',
    kind_name: '全国通兑3D券',
    price_fen: 4200,
    market_price_fen: 9000,
    valid_days: 180,
    remark: '3D影片通兑',
    active: 1,
  },
];
const kindCinemas = [
  ...cinemas.map((c) => ({ kind_id: 'K2D', cinema_id: c.cinema_id })),
  ...['1001', '1002', '2002'].map((id) => ({ kind_id: 'K3D', cinema_id: id })),
];

export interface DemoResult {
  md5key: string;
  seeded: boolean;
}

/**
 * Loads the demo catalog and partner once. Later starts keep everything; an explicit
 * `MOVTICKET_DEMO_KEY` replaces the stored demo key, a generated one persists.
 */
export async function ensureDemoData(db: Db, now: number, demoKey?: string): Promise<DemoResult> {
  const result = await inTransaction(db, async (tx) => {
    if ((await getMeta(tx, 'demo_seeded')) === '1') {
      const sec = await findSecurityConfig(tx, DEMO_PARTNER.partnerId, DEMO_PARTNER.secId);
      if (sec && demoKey && sec.md5key !== demoKey) {
        await setSecurityConfigKey(tx, DEMO_PARTNER.partnerId, DEMO_PARTNER.secId, demoKey);
        return { md5key: demoKey, seeded: false };
      }
      return { md5key: sec?.md5key ?? '', seeded: false };
    }
    await insertCatalog(tx, { cities, regions, cinemas, kinds, kindCinemas });
    const md5key = demoKey ?? generateMd5Key();
    await insertPartner(tx, {
      partner_id: DEMO_PARTNER.partnerId,
      name: '演示渠道',
      bus_id: DEMO_PARTNER.busId,
      status: 'active',
      permissions: INTERFACE_NAMES.join(','),
      ip_allow: '',
      rate_limit: 0,
      created_at: now,
    });
    await insertSecurityConfig(tx, {
      partner_id: DEMO_PARTNER.partnerId,
      sec_id: DEMO_PARTNER.secId,
      md5key,
      sign_mode: 'basic',
      status: 'active',
      created_at: now,
    });
    await setMeta(tx, 'demo_seeded', '1');
    return { md5key, seeded: true };
  });
  return result;
}

export const DEMO_ADMIN = 'admin';

/**
 * On a database without accounts, makes the console's first admin with a random password and
 * returns it (shown once at start-up); null when accounts exist already.
 */
export async function ensureDemoAdmin(db: Db, clock: Clock): Promise<string | null> {
  if ((await listUsers(db.kysely)).length > 0) return null;
  const password = randomBytes(9).toString('base64url');
  try {
    await new UserService(db, clock).create(
      { actor: 'system:demo', role: 'admin' },
      { username: DEMO_ADMIN, password, role: 'admin' },
    );
  } catch (err) {
    // Another process sharing the database made it at the same moment.
    if (err instanceof AppError && err.code === 'conflict') return null;
    throw err;
  }
  return password;
}
