import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/db/database.js';
import { migrateTo } from '../src/db/migrations/index.js';
import { readRegistryVersion } from '../src/db/catalog.repository.js';
import { findRequest } from '../src/db/request.repository.js';
import { paramsHash } from '../src/domain/request-log.js';
import { SecretBox } from '../src/domain/secret-box.js';
import { createPgDatabase } from './support/engines.js';
import { makeCatalog, KEY } from './support/factories.js';
import { makeTestApp, nextReqId } from './support/harness.js';
import { insertSecurityConfig } from '../src/db/partner.repository.js';
import { bumpRegistryVersion } from '../src/db/catalog.repository.js';
import { INTERFACE_NAMES } from '../src/http/partner/interfaces.js';

interface Target {
  name: string;
  /** A database at migration `to`, opened raw. */
  raw(to: string): Promise<{ kysely: Kysely<unknown>; reopen: () => Promise<Db> }>;
}

const drops: (() => Promise<void>)[] = [];
const targets: Target[] = [
  {
    name: 'sqlite',
    raw: async (to) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-mig-'));
      drops.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
      const file = path.join(dir, 'db.sqlite');
      const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new SQLite(file) }) });
      await migrateTo(kysely, to);
      return { kysely, reopen: () => openDatabase({ sqlitePath: file }) };
    },
  },
];
if (process.env.TEST_DATABASE_URL) {
  targets.push({
    name: 'postgres',
    raw: async (to) => {
      const { url, drop } = await createPgDatabase();
      drops.push(drop);
      const kysely = new Kysely<unknown>({
        dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
      });
      await migrateTo(kysely, to);
      return { kysely, reopen: () => openDatabase({ url, poolSize: 2 }) };
    },
  });
}

afterAll(async () => {
  await Promise.all(drops.map((d) => d()));
});

for (const target of targets) {
  describe(`schema upgrades (${target.name})`, () => {
    it('records every migration under the name existing databases already hold, in order', async () => {
      const { kysely } = await target.raw('013_registry_notify');
      try {
        const rows = await kysely
          .selectFrom('kysely_migration' as never)
          .select('name' as never)
          .orderBy('name' as never)
          .execute();
        expect(rows.map((r) => (r as { name: string }).name)).toEqual([
          '001_initial',
          '002_management',
          '003_partner_notify',
          '004_read_answers',
          '006_idempotency',
          '007_secrets_at_rest',
          '008_registry_version',
          '009_login_attempts',
          '010_unique_order_no',
          '011_sms_receipts',
          '012_card_freeze',
          '013_registry_notify',
        ]);
      } finally {
        await kysely.destroy();
      }
    });

    it('keeps the req_ids stored before read answers were shared, replayable after the upgrade', async () => {
      const { kysely, reopen } = await target.raw('003_partner_notify');
      await kysely
        .insertInto('requests' as never)
        .values({
          partner_id: 'CS000001',
          req_id: 'old1',
          method: 'cities',
          params_hash: 'h',
          code: 200,
          body: '{"cities":[]}',
          created_at: 1,
        } as never)
        .execute();
      await kysely.destroy();
      const db = await reopen();
      try {
        expect(await findRequest(db.kysely, 'CS000001', 'old1')).toMatchObject({
          method: 'cities',
          params_hash: 'h',
          code: 200,
          body: '{"cities":[]}',
          created_at: 1,
        });
      } finally {
        await db.close();
      }
    });

    it('replays answers stored before refused req_ids were bound, and refuses other requests under them', async () => {
      const { kysely, reopen } = await target.raw('004_read_answers');
      const hash = paramsHash('cities', ['CS000001', 'test', '1002758', '1000']);
      const stored = { cities: [{ code_id: '009', code_name: '旧城', remark: '', sort: '1' }] };
      await kysely
        .insertInto('requests' as never)
        .values({
          partner_id: 'CS000001',
          req_id: 'old2',
          method: 'cities',
          params_hash: hash,
          code: 200,
          body: JSON.stringify(stored),
          answer_hash: null,
          created_at: Date.now(),
        } as never)
        .execute();
      await kysely.destroy();
      const t = await makeTestApp(await reopen());
      try {
        expect(await t.client.cities({ reqId: 'old2' })).toEqual(stored);
        await expect(t.client.kinds({ reqId: 'old2' })).rejects.toMatchObject({ type: 'duplicate_req_id' });
      } finally {
        await t.close();
      }
    });

    it('counts every change to the registry tables after the upgrade, by whatever path it comes', async () => {
      const { kysely, reopen } = await target.raw('004_read_answers');
      await kysely
        .insertInto('cities' as never)
        .values({ code_id: '001', code_name: '北京', remark: '', sort: 1 } as never)
        .execute();
      await kysely.destroy();
      const db = await reopen();
      try {
        const v0 = await readRegistryVersion(db.kysely);
        expect(await db.registryVersion()).toBe(v0);
        await sql`update cities set code_name = '北京市'`.execute(db.kysely);
        const v1 = await readRegistryVersion(db.kysely);
        expect(v1).toBeGreaterThan(v0);
        await sql`insert into partners (partner_id, name, bus_id, created_at) values ('CS000001', 'p', '1', 0)`.execute(
          db.kysely,
        );
        await sql`insert into partner_prices values ('CS000001', 'cinema', '1001', 100)`.execute(db.kysely);
        await sql`delete from partner_prices`.execute(db.kysely);
        const v2 = await readRegistryVersion(db.kysely);
        expect(v2).toBeGreaterThanOrEqual(v1 + 3);
        // A rolled-back change leaves it where it was.
        await db.kysely
          .transaction()
          .execute(async (tx) => {
            await sql`update partners set status = 'suspended'`.execute(tx);
            throw new Error('abandon');
          })
          .catch(() => {});
        expect(await db.registryVersion()).toBe(v2);
        // Tables the registry does not hold do not count.
        await sql`insert into meta (key, value) values ('x', 'y')`.execute(db.kysely);
        expect(await db.registryVersion()).toBe(v2);
      } finally {
        await db.close();
      }
    });

    it('masks delivered SMS on upgrade and seals plaintext passwords, answers and queued SMS on the first start with a key', async () => {
      const { kysely, reopen } = await target.raw('004_read_answers');
      const k = kysely as Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      await k
        .insertInto('partners')
        .values({ partner_id: 'CS000001', name: 'p', bus_id: '1', created_at: 1 })
        .execute();
      const card = (card_no: string, password: string | null) => ({
        card_no,
        partner_id: 'CS000001',
        cinema_id: '1001',
        status: password ? 'active' : 'inactive',
        count: 1,
        price_fen: 3500,
        total_fen: 3500,
        password,
        mobile: password ? '13812345678' : null,
        created_at: 1,
        pay_deadline: 2,
        sms_status: password ? 'sent' : 'none',
        updated_at: 1,
      });
      await k
        .insertInto('cards')
        .values([
          card('6000000000000001', '13572468'),
          card('6000000000000002', '24681357'),
          card('6000000000000003', null),
        ])
        .execute();
      const sms = (id: string, card_no: string, password: string, status: string) => ({
        id,
        card_no,
        mobile: '13812345678',
        text: `【电影票】卡号${card_no}，密码${password}，请凭卡号和密码到影院兑换。`,
        reason: 'activation',
        status,
        attempts: status === 'sent' ? 1 : 0,
        next_attempt_at: 0,
        locked_until: 0,
        created_at: 1,
        sent_at: status === 'sent' ? 2 : null,
      });
      await k
        .insertInto('sms_messages')
        .values([
          sms('m1', '6000000000000001', '13572468', 'sent'),
          sms('m2', '6000000000000002', '24681357', 'queued'),
        ])
        .execute();
      const answer = JSON.stringify({ card: { card_no: '6000000000000001', password: '13572468' } });
      await k
        .insertInto('requests')
        .values([
          {
            partner_id: 'CS000001',
            req_id: 'pay1',
            method: 'payByCard',
            params_hash: 'h',
            code: 200,
            body: answer,
            created_at: 1,
          },
          {
            partner_id: 'CS000001',
            req_id: 'st1',
            method: 'status',
            params_hash: 'h',
            code: 200,
            body: '{"card":{}}',
            created_at: 1,
          },
        ])
        .execute();
      await kysely.destroy();

      const db = await reopen();
      const texts = async () =>
        Object.fromEntries(
          (await db.kysely.selectFrom('sms_messages').select(['id', 'text']).execute()).map((m) => [
            m.id,
            m.text,
          ]),
        );
      const passwords = async () =>
        (await db.kysely.selectFrom('cards').select('password').orderBy('card_no').execute()).map(
          (c) => c.password,
        );
      // The migration alone (no key yet) masks the delivered message.
      expect((await texts()).m1).toBe(
        '【电影票】卡号6000000000000001，密码******，请凭卡号和密码到影院兑换。',
      );
      expect((await texts()).m2).toContain('24681357');
      // Cards sold before the support desk's controls are neither frozen nor reset.
      expect(
        await db.kysely
          .selectFrom('cards')
          .select(['frozen_at', 'frozen_reason', 'tries_reset_at'])
          .execute(),
      ).toEqual(Array(3).fill({ frozen_at: null, frozen_reason: null, tries_reset_at: 0 }));

      const secrets = SecretBox.generate();
      const t = await makeTestApp(db, { seed: false, secrets });
      const sealed = await passwords();
      expect(sealed.map((p) => (p === null ? null : secrets.open(p)))).toEqual([
        '13572468',
        '24681357',
        null,
      ]);
      for (const p of sealed.slice(0, 2)) expect(p).toMatch(/^v1:/);
      const pay = await findRequest(db.kysely, 'CS000001', 'pay1');
      expect(pay!.body).toMatch(/^v1:/);
      expect(secrets.open(pay!.body!)).toBe(answer);
      expect((await findRequest(db.kysely, 'CS000001', 'st1'))!.body).toBe('{"card":{}}');
      const replay = await t.app.requestLog.hold({
        partnerId: 'CS000001',
        reqId: 'pay1',
        method: 'payByCard',
        hash: 'h',
      });
      expect(replay?.data).toEqual(JSON.parse(answer));
      expect((await texts()).m2).toMatch(/^v1:/);

      // The queued message goes out whole and is then kept masked; a second start changes nothing.
      expect(await t.app.outbox.runOnce()).toBe(1);
      expect(t.sms.sent.map((m) => m.text)).toEqual([expect.stringContaining('密码24681357，')]);
      expect((await texts()).m2).toBe(
        '【电影票】卡号6000000000000002，密码******，请凭卡号和密码到影院兑换。',
      );
      await t.app.close();
      const again = await makeTestApp(db, { seed: false, secrets });
      try {
        expect(await passwords()).toEqual(sealed);
      } finally {
        await again.close();
      }
    });
    it('keeps every order_no of cards bought twice under one order, and answers the order with the card the channel kept', async () => {
      const { kysely, reopen } = await target.raw('009_login_attempts');
      const k = kysely as Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      for (const partner_id of ['CS000001', 'CS000002']) {
        await k
          .insertInto('partners')
          .values({
            partner_id,
            name: 'p',
            bus_id: partner_id === 'CS000001' ? '1002758' : '2',
            created_at: 1,
            permissions: INTERFACE_NAMES.join(','),
          })
          .execute();
      }
      const now = Date.now();
      const card = (
        card_no: string,
        order_no: string,
        created_at: number,
        paid = false,
        partner_id = 'CS000001',
      ) => ({
        card_no,
        partner_id,
        cinema_id: '1001',
        order_no,
        status: paid ? 'active' : 'inactive',
        count: 1,
        price_fen: 3500,
        total_fen: 3500,
        mobile: paid ? '13812345678' : null,
        created_at: now - 60_000 + created_at,
        pay_deadline: now + 600_000,
        paid_at: paid ? now - 30_000 : null,
        valid_until: paid ? now + 86_400_000 : null,
        sms_status: paid ? 'sent' : 'none',
        updated_at: now,
      });
      const cards = [
        // A paid card keeps the order before a newer unpaid one.
        card('6000000000000001', 'O1', 1),
        card('6000000000000002', 'O1', 3, true),
        card('6000000000000003', 'O1', 5),
        // Otherwise the newest; at the same instant, the greater card number.
        card('6000000000000004', 'O2', 1),
        card('6000000000000005', 'O2', 2),
        card('6000000000000006', 'O3', 7),
        card('6000000000000007', 'O3', 7),
        // Empty order numbers are no order at all.
        card('6000000000000008', '', 1),
        card('6000000000000009', '', 2),
        // Another partner's order of the same number is its own.
        card('6000000000000010', 'O1', 9, false, 'CS000002'),
      ];
      await k.insertInto('cards').values(cards).execute();
      await kysely.destroy();

      const db = await reopen();
      await makeCatalog(db);
      await insertSecurityConfig(db.kysely, {
        partner_id: 'CS000001',
        sec_id: 'test',
        md5key: KEY,
        sign_mode: 'basic',
        status: 'active',
        created_at: 1,
      });
      await bumpRegistryVersion(db.kysely);
      const t = await makeTestApp(db, { seed: false });
      try {
        // No card lost its order number.
        const kept = await db.kysely
          .selectFrom('cards')
          .select(['card_no', 'order_no'])
          .orderBy('card_no')
          .execute();
        expect(kept).toEqual(cards.map((c) => ({ card_no: c.card_no, order_no: c.order_no })));
        const statusOf = async (order_no: string) => {
          const res = await t.post('status', { ...t.signed(undefined, { order_no }), format: 'json' });
          return (JSON.parse(res.body) as { data: { card: { card_no: string } } }).data.card.card_no;
        };
        expect(await statusOf('O1')).toBe('6000000000000002');
        expect(await statusOf('O2')).toBe('6000000000000005');
        expect(await statusOf('O3')).toBe('6000000000000007');
        // Every old card is still found by its number.
        expect((await t.client.status({ cardNo: '6000000000000001' })).card.order_no).toBe('O1');

        const buy = async (order_no: string) => {
          const res = await t.post('buyByCinema', {
            ...t.signed(nextReqId(), { cinema_id: '1001', count: '1', order_no }),
            format: 'json',
          });
          return {
            status: res.status,
            ...(JSON.parse(res.body) as { error?: object }).error,
          };
        };
        expect(await buy('O1')).toMatchObject({
          status: 409,
          type: 'order_exists',
          card_no: '6000000000000002',
        });
        expect(await buy('O2')).toMatchObject({
          status: 409,
          type: 'order_exists',
          card_no: '6000000000000005',
        });
        expect(await buy('O4')).toMatchObject({ status: 200 });
        expect(await buy('O4')).toMatchObject({ status: 409, type: 'order_exists' });
      } finally {
        await t.close();
      }
    });
  });
}
