import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { MovTicketError } from '../src/client/index.js';
import { openDatabase } from '../src/db/database.js';
import { createPgDatabase } from './support/engines.js';
import { makeTestApp } from './support/harness.js';

// After a failover a pooled connection may still reach the old primary, now a read-only standby
// (the proxy had not yet cut it). A write on it must be a clean `503 unavailable` that the channel
// retries with the same req_id, and the retry must go through a fresh connection to the new
// primary. PostgreSQL only: SQLite has no standby.
describe.runIf(Boolean(process.env.TEST_DATABASE_URL))('a connection to a demoted node (postgres)', () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(() => Promise.all(drops.map((d) => d())));

  it('answers 503 unavailable, drops the connection, and the retry with the same req_id is served', async () => {
    const { url, drop } = await createPgDatabase();
    drops.push(drop);
    // One pooled connection, so the one made read-only is the one the next request gets.
    const t = await makeTestApp(await openDatabase({ url, poolSize: 1 }));
    try {
      await sql`set default_transaction_read_only = on`.execute(t.db.kysely);
      const reqId = 'demoted1';
      const refused = await t.client.buyByCinema({ cinemaId: '1001', count: 1 }, { reqId }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(MovTicketError);
      expect(refused).toMatchObject({ code: 503, type: 'unavailable' });

      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 }, { reqId });
      expect(card.count).toBe('1');
      const stored = await t.db.kysely.selectFrom('cards').select('card_no').execute();
      expect(stored.map((c) => c.card_no)).toEqual([card.card_no]);
    } finally {
      await t.close();
    }
  });
});
