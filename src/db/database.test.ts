import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageUnavailable } from '../errors.js';
import { openDatabase, type Db } from './database.js';

describe('SQLite page size', () => {
  let db: Db | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const pageSize = async (d: Db) =>
    Number((await sql<{ page_size: number }>`pragma page_size`.execute(d.kysely)).rows[0]?.page_size);

  it('creates a new database with 1 KiB pages', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-pages-'));
    db = await openDatabase({ sqlitePath: path.join(dir, 'movticket.sqlite'), warn: () => {} });
    expect(await pageSize(db)).toBe(1024);
  });

  it('keeps the page size of a database made before', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-pages-'));
    const file = path.join(dir, 'movticket.sqlite');
    const older = new SQLite(file);
    older.pragma('page_size = 4096');
    older.exec('create table kept (id integer primary key, note text)');
    older.prepare('insert into kept (note) values (?)').run('from before');
    older.close();
    db = await openDatabase({ sqlitePath: file, warn: () => {} });
    expect(await pageSize(db)).toBe(4096);
    const { rows } = await sql<{ note: string }>`select note from kept`.execute(db.kysely);
    expect(rows).toEqual([{ note: 'from before' }]);
  });
});

describe('SQLite storage errors', () => {
  let db: Db | undefined;
  let other: SQLite.Database | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    other?.close();
    await db?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('raises StorageUnavailable when another process holds the write lock past the busy timeout', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-busy-'));
    const file = path.join(dir, 'movticket.sqlite');
    db = await openDatabase({ sqlitePath: file, warn: () => {} });
    other = new SQLite(file);
    other.exec('begin exclusive');
    const write = db.writeTransaction((tx) =>
      tx.updateTable('registry_version').set({ version: 7 }).where('id', '=', 1).execute(),
    );
    const err: unknown = await write.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageUnavailable);
    expect((err as StorageUnavailable).cause).toMatchObject({ code: 'SQLITE_BUSY' });
  }, 30_000);

  it('leaves other driver errors as they are', async () => {
    db = await openDatabase({ sqlitePath: ':memory:' });
    const err: unknown = await db.kysely
      .insertInto('registry_version')
      .values({ id: 1, version: 1 })
      .execute()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).not.toBeInstanceOf(StorageUnavailable);
    expect(db.isUniqueViolation(err)).toBe(true);
  });
});
