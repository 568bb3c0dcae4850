import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageUnavailable } from '../errors.js';
import { openDatabase, type Db } from './database.js';

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

describe('SQLite page size', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const pageSize = (file: string): number => {
    const peek = new SQLite(file, { readonly: true });
    try {
      return peek.pragma('page_size', { simple: true }) as number;
    } finally {
      peek.close();
    }
  };

  it('creates a new database with 1 KiB pages', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-page-'));
    const file = path.join(dir, 'movticket.sqlite');
    const db = await openDatabase({ sqlitePath: file, warn: () => {} });
    await db.close();
    expect(pageSize(file)).toBe(1024);
  });

  it('keeps the page size of an existing database, and works on it', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-page-'));
    const file = path.join(dir, 'movticket.sqlite');
    const old = new SQLite(file);
    old.pragma('page_size = 4096');
    old.pragma('journal_mode = WAL');
    old.exec('create table kept (id integer primary key)');
    old.close();
    const db = await openDatabase({ sqlitePath: file, warn: () => {} });
    await db.writeTransaction((tx) =>
      tx.updateTable('registry_version').set({ version: 3 }).where('id', '=', 1).execute(),
    );
    await db.close();
    expect(pageSize(file)).toBe(4096);
  });
});
