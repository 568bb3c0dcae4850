import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError, StorageUnavailable } from '../src/errors.js';
import { engines } from './support/engines.js';

// Whatever input slips past the validators, text the database cannot store is the caller's
// mistake (400), not a fault of the platform (500).
const postgres = engines().filter((e) => e.name === 'postgres');

describe.runIf(postgres.length > 0)('statements and errors on postgres', () => {
  const engine = postgres[0]!;
  afterAll(() => engine.cleanup());

  it('prepares a parameterised statement once per connection and runs it by name after', async () => {
    const db = await engine.open();
    try {
      const names = await db.kysely.transaction().execute(async (tx) => {
        for (let i = 0; i < 3; i++) await sql`select ${i}::int + 1 as n`.execute(tx);
        const { rows } = await sql<{ statement: string }>`
          select statement from pg_prepared_statements where statement like '%::int + 1 as n'`.execute(tx);
        return rows.map((r) => r.statement);
      });
      expect(names).toEqual(['select $1::int + 1 as n']);
    } finally {
      await db.close();
    }
  });

  it('runs a statement again when another version of the service changed its table', async () => {
    const db = await engine.open();
    try {
      // One connection throughout, so the statement really is prepared where it runs again.
      await db.kysely.connection().execute(async (conn) => {
        await sql`create table widen (a int)`.execute(conn);
        await sql`insert into widen (a) values (${1})`.execute(conn);
        expect((await sql`select * from widen where a = ${1}`.execute(conn)).rows).toEqual([{ a: 1 }]);
        await sql`alter table widen add column b int`.execute(conn);
        // Outside a transaction the statement simply runs again, prepared afresh.
        expect((await sql`select * from widen where a = ${1}`.execute(conn)).rows).toEqual([
          { a: 1, b: null },
        ]);
        await sql`alter table widen add column c int`.execute(conn);
        // Inside one, the stale plan aborted the transaction: a transient refusal, then success.
        await sql`begin`.execute(conn);
        const stale = await sql`select * from widen where a = ${1}`
          .execute(conn)
          .catch((err: unknown) => err);
        await sql`rollback`.execute(conn);
        expect(stale).toBeInstanceOf(StorageUnavailable);
        await sql`begin`.execute(conn);
        const again = await sql`select * from widen where a = ${1}`.execute(conn);
        await sql`commit`.execute(conn);
        expect(again.rows).toEqual([{ a: 1, b: null, c: null }]);
      });
    } finally {
      await db.close();
    }
  });

  it('turns a NUL in a text parameter into an invalid-input error', async () => {
    const db = await engine.open();
    try {
      const failure = await sql`select ${'a\u0000b'}::text as t`
        .execute(db.kysely)
        .catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(AppError);
      expect(failure).toMatchObject({ code: 'invalid', id: 'text.unstorable', status: 400 });
    } finally {
      await db.close();
    }
  });
});
