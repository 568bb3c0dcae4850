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
