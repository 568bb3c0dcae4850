import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/db/database.js';
import { migrateTo } from '../src/db/migrations.js';
import { readRegistryVersion } from '../src/db/catalog.repository.js';
import { findRequest } from '../src/db/request.repository.js';
import { paramsHash } from '../src/domain/request-log.js';
import { createPgDatabase } from './support/engines.js';
import { makeTestApp } from './support/harness.js';

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
  });
}
