import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageUnavailable } from '../errors.js';
import { openDatabase, type Db } from './database.js';

const INSERT = 'insert into meta (key, value) values (?, ?)';
const UPDATE_NONE = "update meta set value = 'x' where key = 'no such key'";

describe('SQLite writer thread', () => {
  let db: Db | undefined;
  let other: SQLite.Database | undefined;
  let dir: string;
  afterEach(async () => {
    other?.close();
    other = undefined;
    await db?.close();
    db = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const open = async (writerThread = true) => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'movticket-writer-'));
    db = await openDatabase({ sqlitePath: path.join(dir, 'db.sqlite'), writerThread, warn: () => {} });
    return db;
  };
  const keys = async (d: Db) =>
    (
      await d.kysely.selectFrom('meta').select('key').where('key', 'like', 't-%').orderBy('key').execute()
    ).map((r) => r.key);

  it('is there only when asked for, on a file', async () => {
    expect((await open(false)).runSteps).toBeUndefined();
    await db!.close();
    db = await openDatabase({ sqlitePath: ':memory:', writerThread: true });
    expect(db.runSteps).toBeUndefined();
    fs.rmSync(dir, { recursive: true, force: true });
    expect((await open()).runSteps).toBeTypeOf('function');
  });

  it('stores each job of a batch alone: a job that changes nothing or fails leaves nothing, the others stay', async () => {
    const d = await open();
    const run = d.runSteps!;
    const results = await Promise.allSettled([
      run([[INSERT, ['t-a', '1']]]),
      run([
        [INSERT, ['t-b', '1']],
        [UPDATE_NONE, [], 'nothing to update'],
      ]),
      run([
        [INSERT, ['t-c', '1']],
        [INSERT, ['t-a', '2']],
      ]),
      run([[INSERT, ['t-d', '1']]], false),
    ]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: undefined });
    expect(results[1]).toEqual({ status: 'fulfilled', value: 'nothing to update' });
    expect(results[2]).toMatchObject({
      status: 'rejected',
      reason: { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' },
    });
    expect(results[3]).toEqual({ status: 'fulfilled', value: undefined });
    // Seen by the main connection as soon as answered.
    expect(await keys(d)).toEqual(['t-a', 't-d']);
  });

  it('writes beside the main connection: both sides wait for each other, nothing is lost', async () => {
    const d = await open();
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      jobs.push(d.runSteps!([[INSERT, [`t-thread-${i}`, '1']]]));
      jobs.push(
        d.writeTransaction((tx) =>
          tx
            .insertInto('meta')
            .values({ key: `t-main-${i}`, value: '1' })
            .execute(),
        ),
      );
    }
    await Promise.all(jobs);
    expect(await keys(d)).toHaveLength(400);
  });

  it('waits without blocking the event loop while another connection holds the write lock', async () => {
    const d = await open();
    other = new SQLite(path.join(dir, 'db.sqlite'));
    other.exec('begin immediate');
    const write = d.writeTransaction((tx) =>
      tx.insertInto('meta').values({ key: 't-main', value: '1' }).execute(),
    );
    // Timers still fire while the write waits for the lock.
    let ticks = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (++ticks === 5) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    other.exec('commit');
    await write;
    expect(await keys(d)).toEqual(['t-main']);
  });

  it('fails a job with StorageUnavailable once closed', async () => {
    const d = await open();
    await d.runSteps!([[INSERT, ['t-a', '1']]]);
    const run = d.runSteps!;
    await d.close();
    db = undefined;
    await expect(run([[INSERT, ['t-b', '1']]])).rejects.toBeInstanceOf(StorageUnavailable);
  });
});
