import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/database.js';
import { PRUNE_BATCH, pruneRequests, storeRequests } from '../src/db/request.repository.js';
import { countRows } from './support/factories.js';
import { engines } from './support/engines.js';

describe.each(engines())('pruning old requests on $name', (engine) => {
  let db: Db;
  beforeEach(async () => {
    db = await engine.open();
    return () => db.close();
  });
  afterAll(() => engine.cleanup());

  const rows = (n: number, createdAt: number) =>
    Array.from({ length: n }, (_, i) => ({
      partner_id: 'CS000001',
      req_id: `r-${createdAt}-${i}`,
      method: 'cinemasByRegion',
      params_hash: 'h',
      code: 200,
      body: '{}',
      answer_hash: null,
      created_at: createdAt,
    }));

  it('forgets every request older than the cut, however many batches that takes, and keeps the rest', async () => {
    const old = PRUNE_BATCH * 2 + 50;
    await storeRequests(db.kysely, rows(old, 1_000));
    await storeRequests(db.kysely, rows(30, 9_000));
    expect(await pruneRequests(db.kysely, 5_000, 0)).toBe(old);
    expect(await countRows(db, 'requests')).toBe(30);
  });

  // Only SQLite can fail this: its statements run synchronously, while on PostgreSQL every batch
  // awaits the network, so other work runs between batches whatever the code does.
  it.runIf(engine.name === 'sqlite')('lets other work run between batches', async () => {
    await storeRequests(db.kysely, rows(PRUNE_BATCH * 3, 1_000));
    let ranBeforeTheEnd = false;
    const pruning = pruneRequests(db.kysely, 5_000, 0).then((n) => ({ n, ranBeforeTheEnd }));
    setImmediate(() => (ranBeforeTheEnd = true));
    expect(await pruning).toEqual({ n: PRUNE_BATCH * 3, ranBeforeTheEnd: true });
  });
});
