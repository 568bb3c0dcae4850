import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { engines } from './support/engines.js';
import { makeTestApp, nextReqId, type TestApp } from './support/harness.js';
import { countRows } from './support/factories.js';

// Card numbers handed out before the real generator: lets a test draw a number already in use.
const drawQueue: string[] = [];
vi.mock('../src/domain/secrets.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/domain/secrets.js')>();
  return { ...real, generateCardNo: () => drawQueue.shift() ?? real.generateCardNo() };
});

for (const engine of engines()) {
  describe(`card number draws (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => {
      drawQueue.length = 0;
      return t.close();
    });
    afterAll(() => engine.cleanup());

    it('draws again when a bought card number is already in use, and keeps the first card as it was', async () => {
      const first = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      drawQueue.push(first.card_no, first.card_no);
      const reqId = nextReqId();
      const second = (await t.client.buyByKind({ kindId: 'K2D', count: 2 }, { reqId })).card;
      expect(second.card_no).not.toBe(first.card_no);
      expect(drawQueue).toEqual([]);
      expect(await countRows(t.db, 'cards')).toBe(2);
      // The answer stored with the req_id names the card that was stored.
      expect((await t.client.buyByKind({ kindId: 'K2D', count: 2 }, { reqId })).card).toEqual(second);
      expect((await t.client.status({ cardNo: second.card_no })).card).toMatchObject({ count: '2' });
      expect((await t.client.status({ cardNo: first.card_no })).card).toMatchObject({ count: '1' });
    });

    it('refuses a buy whose every draw is taken, storing nothing, and buys with the same req_id later', async () => {
      const first = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card;
      drawQueue.push(...Array<string>(6).fill(first.card_no));
      const reqId = nextReqId();
      await expect(
        t.client.buyByCinema({ cinemaId: '1001', count: 1 }, { reqId, retries: 0 }),
      ).rejects.toMatchObject({
        code: 500,
      });
      expect(await countRows(t.db, 'cards')).toBe(1);
      const later = (await t.client.buyByCinema({ cinemaId: '1001', count: 1 }, { reqId })).card;
      expect(later.card_no).not.toBe(first.card_no);
      expect(await countRows(t.db, 'cards')).toBe(2);
    });
  });
}
