import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, type Db } from '../src/db/database.js';

// The request thread never checkpoints the WAL (an fsync of megabytes inside some request's
// commit); a thread of its own copies it into the database file.

const opened: { db: Db; dir: string }[] = [];

afterEach(async () => {
  for (const { db, dir } of opened.splice(0)) {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function openOnDisk(): Promise<{ db: Db; file: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-checkpoint-'));
  const file = path.join(dir, 'movticket.sqlite');
  const db = await openDatabase({ sqlitePath: file });
  opened.push({ db, dir });
  return { db, file };
}

describe('SQLite checkpoints', () => {
  it('copies committed writes into the database file without a checkpoint on the writing connection', async () => {
    const { db, file } = await openOnDisk();
    const before = fs.statSync(file).size;
    const { rows } = await sql<{ n: number }>`pragma wal_autocheckpoint`.execute(db.kysely);
    expect(Object.values(rows[0]!)[0]).toBe(0);
    await sql`create table filler (id integer primary key, blob text not null)`.execute(db.kysely);
    const chunk = 'x'.repeat(4000);
    // ~2 MB in 20 commits: below SQLite's own auto-checkpoint threshold (1000 pages, ~4 MB).
    for (let i = 0; i < 20; i++) {
      await db.writeTransaction(async (tx) => {
        for (let j = 0; j < 25; j++) {
          await sql`insert into filler (blob) values (${chunk})`.execute(tx);
        }
      });
    }
    await vi.waitFor(() => expect(fs.statSync(file).size).toBeGreaterThan(before + 2_000_000), {
      timeout: 20_000,
      interval: 50,
    });
  });

  it('leaves the whole database in its file once closed', async () => {
    const { db, file } = await openOnDisk();
    await sql`create table t (id integer primary key)`.execute(db.kysely);
    await db.writeTransaction((tx) => sql`insert into t (id) values (1), (2), (3)`.execute(tx));
    await db.close();
    opened.length = 0;
    expect(fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0).toBe(0);
    const again = await openDatabase({ sqlitePath: file });
    try {
      const { rows } = await sql<{ n: number }>`select count(*) as n from t`.execute(again.kysely);
      expect(rows[0]!.n).toBe(3);
    } finally {
      await again.close();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});

describe('SQLite durability', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Holds every fdatasync until released; counts them. */
  function holdFsyncs() {
    const held: (() => void)[] = [];
    const real = fs.fdatasync;
    const spy = vi.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, cb: (err: unknown) => void) => {
      held.push(() => real(fd, cb as never));
    }) as never);
    return { spy, releaseAll: () => held.splice(0).forEach((go) => go()), held };
  }

  it('answers a write only after the WAL is fsynced, off the event loop', async () => {
    const { db } = await openOnDisk();
    const fsyncs = holdFsyncs();
    await sql`create table t (id integer primary key)`.execute(db.kysely);
    let answered = false;
    const write = db
      .writeTransaction((tx) => sql`insert into t (id) values (1)`.execute(tx))
      .then(() => (answered = true));
    await vi.waitFor(() => expect(fsyncs.held.length).toBe(1));
    // Committed and visible, but not answered while its fsync is under way.
    const { rows } = await sql<{ n: number }>`select count(*) as n from t`.execute(db.kysely);
    expect(rows[0]!.n).toBe(1);
    expect(answered).toBe(false);
    fsyncs.releaseAll();
    await write;
    expect(answered).toBe(true);
  });

  it('does not fsync per commit when told normal', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-sync-'));
    const fsyncs = holdFsyncs();
    const db = await openDatabase({ sqlitePath: path.join(dir, 'db.sqlite'), sync: 'normal' });
    try {
      await sql`create table t (id integer primary key)`.execute(db.kysely);
      await db.writeTransaction((tx) => sql`insert into t (id) values (1)`.execute(tx));
      expect(fsyncs.spy).not.toHaveBeenCalled();
    } finally {
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
