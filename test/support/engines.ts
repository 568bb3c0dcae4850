import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type Db } from '../../src/db/database.js';

export interface Engine {
  name: 'sqlite' | 'postgres';
  /** A fresh, migrated, empty database. */
  open(): Promise<Db>;
  /** Drops every database this engine made. */
  cleanup(): Promise<void>;
}

const TEST_URL = process.env.TEST_DATABASE_URL;

function pgUrl(dbName: string): string {
  const u = new URL(TEST_URL!);
  u.pathname = `/${dbName}`;
  return u.toString();
}

/** A PostgreSQL database of its own for a test, dropped in cleanup. */
export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `movticket_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  return {
    url: pgUrl(name),
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

const sqlite: Engine = {
  name: 'sqlite',
  open: () => openDatabase({ sqlitePath: ':memory:' }),
  cleanup: async () => {},
};

function postgres(): Engine {
  const drops: (() => Promise<void>)[] = [];
  return {
    name: 'postgres',
    open: async () => {
      const { url, drop } = await createPgDatabase();
      drops.push(drop);
      return openDatabase({ url, poolSize: 12 });
    },
    cleanup: async () => {
      await Promise.all(drops.splice(0).map((d) => d()));
    },
  };
}

/** SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it). */
export function engines(): Engine[] {
  return TEST_URL ? [sqlite, postgres()] : [sqlite];
}

export interface SharedEngine {
  name: 'sqlite' | 'postgres';
  /** Two handles on one fresh, migrated database, as two processes or instances would have. */
  open(): Promise<[Db, Db]>;
  /** Removes every database this engine made. */
  cleanup(): Promise<void>;
}

/**
 * Like {@link engines}, but each database is opened twice: SQLite in a file of a fresh temp
 * directory, PostgreSQL with one pool per handle of the given sizes.
 */
export function sharedEngines(poolSizes: [number, number] = [4, 4]): SharedEngine[] {
  const dirs: string[] = [];
  const out: SharedEngine[] = [
    {
      name: 'sqlite',
      open: async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-shared-'));
        dirs.push(dir);
        const file = path.join(dir, 'db.sqlite');
        const first = await openDatabase({ sqlitePath: file });
        return [first, await openDatabase({ sqlitePath: file })];
      },
      cleanup: async () => {
        for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
      },
    },
  ];
  if (TEST_URL) {
    const drops: (() => Promise<void>)[] = [];
    out.push({
      name: 'postgres',
      open: async () => {
        const { url, drop } = await createPgDatabase();
        drops.push(drop);
        const first = await openDatabase({ url, poolSize: poolSizes[0] });
        return [first, await openDatabase({ url, poolSize: poolSizes[1] })];
      },
      cleanup: async () => {
        await Promise.all(drops.splice(0).map((d) => d()));
      },
    });
  }
  return out;
}
