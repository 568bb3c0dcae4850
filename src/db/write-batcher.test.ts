import SQLite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from './schema.js';
import { fixedStatement } from './fixed.js';
import { directRunner, FastSqliteDialect } from './sqlite-driver.js';
import type { Executor } from './executor.js';
import { WriteBatcher } from './write-batcher.js';

describe('WriteBatcher', () => {
  let kysely: Kysely<Database> | undefined;
  afterEach(async () => {
    await kysely?.destroy();
  });

  /** A batcher whose fsyncs wait until the test lets them end; counts how many were asked for. */
  function heldSyncs() {
    kysely = new Kysely<Database>({ dialect: new FastSqliteDialect(new SQLite(':memory:')) });
    const syncs: (() => void)[] = [];
    const batcher = new WriteBatcher(kysely, () => new Promise<void>((resolve) => syncs.push(resolve)));
    return { batcher, syncs, db: kysely };
  }

  const settled = async (p: Promise<unknown>) => {
    let done = false;
    void p.then(() => (done = true));
    // Long enough for a batch to run and commit (setImmediate, then its statements).
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    return done;
  };

  it('answers a durable write only after its fsync', async () => {
    const { batcher, syncs, db } = heldSyncs();
    const write = batcher.run((tx) => sql`create table t (x)`.execute(tx));
    expect(await settled(write)).toBe(false);
    expect(syncs).toHaveLength(1);
    syncs.shift()!();
    await write;
    await sql`select * from t`.execute(db);
  });

  it('lets the event loop run between two batches', async () => {
    kysely = new Kysely<Database>({ dialect: new FastSqliteDialect(new SQLite(':memory:')) });
    const batcher = new WriteBatcher(kysely, undefined, 2);
    const order: string[] = [];
    const job = (name: string) => () => {
      // Scheduled while the first batch runs: a turn of the event loop comes before the second.
      if (name === 'a') setImmediate(() => order.push('other work'));
      order.push(name);
      return Promise.resolve();
    };
    await Promise.all(['a', 'b', 'c', 'd'].map((name) => batcher.run(job(name))));
    expect(order).toEqual(['a', 'b', 'other work', 'c', 'd']);
  });

  it('answers a write that needs no fsync at its commit, and asks for none', async () => {
    const { batcher, syncs, db } = heldSyncs();
    const write = batcher.run((tx) => sql`create table t (x)`.execute(tx), false);
    expect(await settled(write)).toBe(true);
    expect(syncs).toHaveLength(0);
    await sql`select * from t`.execute(db);
  });

  it('holds durable writes that arrive during an fsync for one commit after it', async () => {
    const { batcher, syncs, db } = heldSyncs();
    await sql`create table t (x)`.execute(db);
    const insert = (x: number) => batcher.run((tx) => sql`insert into t values (${x})`.execute(tx));
    const first = insert(1);
    expect(await settled(first)).toBe(false);
    expect(syncs).toHaveLength(1);
    // Two turns apart, both while the first fsync runs: neither is committed yet.
    const second = insert(2);
    expect(await settled(second)).toBe(false);
    const third = insert(3);
    expect(await settled(third)).toBe(false);
    expect(syncs).toHaveLength(1);
    expect((await sql<{ n: number }>`select count(*) as n from t`.execute(db)).rows[0]!.n).toBe(1);

    syncs.shift()!();
    await first;
    expect(await settled(second)).toBe(false);
    // One commit for both, so one fsync.
    expect(syncs).toHaveLength(1);
    expect((await sql<{ n: number }>`select count(*) as n from t`.execute(db)).rows[0]!.n).toBe(3);
    syncs.shift()!();
    await Promise.all([second, third]);
  });

  it('does not hold a write that needs no fsync behind one under way', async () => {
    const { batcher, syncs, db } = heldSyncs();
    await sql`create table t (x)`.execute(db);
    const durable = batcher.run((tx) => sql`insert into t values (1)`.execute(tx));
    expect(await settled(durable)).toBe(false);
    const quick = batcher.run((tx) => sql`insert into t values (2)`.execute(tx), false);
    expect(await settled(quick)).toBe(true);
    expect(syncs).toHaveLength(1);
    syncs.shift()!();
    await durable;
  });

  describe('with fixed statements run on the connection directly', () => {
    class Translated extends Error {}
    const direct = () => {
      const sqlite = new SQLite(':memory:');
      kysely = new Kysely<Database>({ dialect: new FastSqliteDialect(sqlite) });
      const run = directRunner(sqlite, (err) => new Translated(String(err)));
      return { batcher: new WriteBatcher(kysely, undefined, 64, run), db: kysely };
    };
    const insert = fixedStatement('insert into t (x) values (?)');
    const rows = async (db: Kysely<Database>) =>
      (await sql<{ x: number }>`select x from t order by x`.execute(db)).rows.map((r) => r.x);

    it('keeps them inside the job: a failed job takes its direct writes back with it', async () => {
      const { batcher, db } = direct();
      await sql`create table t (x integer unique)`.execute(db);
      const results = await Promise.allSettled([
        batcher.run(async (tx) => {
          await insert.run(tx, [1]);
          await sql`insert into t (x) values (${2})`.execute(tx);
        }),
        batcher.run(async (tx) => {
          await insert.run(tx, [3]);
          throw new Error('refused after writing');
        }),
        batcher.run(async (tx) => {
          // Sees what the batch's first job wrote, on the same connection.
          const seen = await rows(tx as unknown as Kysely<Database>);
          await insert.run(tx, [seen.length + 10]);
        }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(await rows(db)).toEqual([1, 2, 12]);
    });

    it('passes a failure through the translation the database gives its errors', async () => {
      const { batcher, db } = direct();
      await sql`create table t (x integer unique)`.execute(db);
      await batcher.run((tx) => insert.run(tx, [1]));
      await expect(batcher.run((tx) => insert.run(tx, [1]))).rejects.toBeInstanceOf(Translated);
      expect(await rows(db)).toEqual([1]);
    });

    it('stops running directly on a batch transaction once the batch is over', async () => {
      const sqlite = new SQLite(':memory:');
      kysely = new Kysely<Database>({ dialect: new FastSqliteDialect(sqlite) });
      const inner = directRunner(sqlite, (err) => err);
      let direct = 0;
      const counting: typeof inner = (text, params) => {
        direct++;
        return inner(text, params);
      };
      const batcher = new WriteBatcher(kysely, undefined, 64, counting);
      await sql`create table t (x integer unique)`.execute(kysely);
      let kept: Executor | undefined;
      await batcher.run(async (tx) => {
        kept = tx;
        await insert.run(tx, [1]);
      });
      const during = direct;
      expect(during).toBeGreaterThan(0);
      // A transaction kept past its commit meets Kysely's refusal, not the connection.
      await expect(async () => insert.run(kept!, [2])).rejects.toThrow(/already committed/);
      expect(direct).toBe(during);
      expect((await sql<{ x: number }>`select x from t`.execute(kysely)).rows).toEqual([{ x: 1 }]);
    });

    it('leaves statements outside a batch to the query executor', async () => {
      const { db } = direct();
      await sql`create table t (x integer unique)`.execute(db);
      await insert.run(db, [5]);
      await expect(insert.run(db, [5])).rejects.not.toBeInstanceOf(Translated);
      expect(await rows(db)).toEqual([5]);
    });
  });
});
