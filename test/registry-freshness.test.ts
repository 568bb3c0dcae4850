import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/database.js';
import { CatalogAdminService } from '../src/domain/admin/catalog-admin.service.js';
import { PartnerAdminService } from '../src/domain/admin/partner-admin.service.js';
import { systemClock } from '../src/domain/clock.js';
import { openSmsText } from '../src/domain/sms-template.js';
import { sharedEngines } from './support/engines.js';
import { makeTestApp, refusal, type TestApp } from './support/harness.js';

// A second `openDatabase` on the same database stands for the CLI or another server: what it
// changes must be seen by the app's very next request, without anyone telling the app.

const ROOT = { actor: 'cli:test', role: 'admin' as const };

for (const engine of sharedEngines([4, 2])) {
  describe(`registry changes made by another process (${engine.name})`, () => {
    let t: TestApp;
    let other: Db;
    let partners: PartnerAdminService;
    let catalog: CatalogAdminService;
    beforeEach(async () => {
      const [mine, theirs] = await engine.open();
      t = await makeTestApp(mine);
      other = theirs;
      partners = new PartnerAdminService(other, systemClock);
      catalog = new CatalogAdminService(other, systemClock);
      // The app has answered with the registry as it was.
      expect((await t.client.cities()).cities.length).toBeGreaterThan(0);
    });
    afterEach(async () => {
      await t.close();
      await other.close();
    });
    afterAll(() => engine.cleanup());

    it("refuses a key revoked by another process on the app's very next request", async () => {
      await partners.revokeKey(ROOT, 'CS000001', 'test');
      expect(await refusal(t.client.cities())).toEqual({ code: 401, type: 'unknown_partner' });
      expect(await refusal(t.client.buyByCinema({ cinemaId: '1001', count: 1 }))).toEqual({
        code: 401,
        type: 'unknown_partner',
      });
      expect(await t.db.kysely.selectFrom('cards').select('card_no').execute()).toEqual([]);
    });

    it("refuses a partner suspended by another process on the app's very next request", async () => {
      await partners.suspend(ROOT, 'CS000001');
      expect(await refusal(t.client.buyByCinema({ cinemaId: '1001', count: 1 }))).toEqual({
        code: 403,
        type: 'partner_disabled',
      });
      await partners.resume(ROOT, 'CS000001');
      expect((await t.client.buyByCinema({ cinemaId: '1001', count: 1 })).card.count).toBe('1');
    });

    it('shows and charges a price changed by another process from the very next request on', async () => {
      const priceOf = async (cinemaId: string) =>
        (await t.client.cinemasByRegion({ regionId: '001001' })).cinemas.find((c) => c.cinema_id === cinemaId)
          ?.price;
      expect(await priceOf('1001')).toBe('35.00');

      await partners.setPrice(ROOT, 'CS000001', { type: 'cinema', id: '1001' }, '39.50');
      expect(await priceOf('1001')).toBe('39.50');
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 2 });
      expect(card).toMatchObject({ price: '39.50', total_price: '79.00' });

      await catalog.setDefaultPrices(ROOT, { type: 'cinema', id: '1002' }, { price: '41.00' });
      expect(await priceOf('1002')).toBe('41.00');
      expect((await t.client.buyByCinema({ cinemaId: '1002', count: 1 })).card.price).toBe('41.00');
    });

    it("dates a payment and words its SMS with another process's catalog changes", async () => {
      const { card } = await t.client.buyByCinema({ cinemaId: '1001', count: 1 });
      await catalog.editCinema(ROOT, '1001', { name: '改名影城', validDays: 7 });
      const paid = await t.client.payByCard({ cardNo: card.card_no, mobile: '13812345678' });
      // Dates as the contract writes them (digits only, or with separators): compare the days.
      const day = (t: string) => {
        const d = t.replace(/[^0-9]/g, '');
        return Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8)));
      };
      const days = (day(paid.card.valid_until) - day(paid.card.paid_at)) / 86_400_000;
      expect(days).toBe(7);
      const texts = await t.db.kysely.selectFrom('sms_messages').select('text').execute();
      expect(texts).toHaveLength(1);
      expect(openSmsText(t.secrets, texts[0]!.text).text).toContain('改名影城');
    });

    it('sees a change no service announced: a plain SQL update in another process', async () => {
      await sql`update partners set status = 'suspended' where partner_id = 'CS000001'`.execute(other.kysely);
      expect(await refusal(t.client.status({ cardNo: '1234567890123456' }))).toEqual({
        code: 403,
        type: 'partner_disabled',
      });
      await sql`update partners set status = 'active'`.execute(other.kysely);
      await sql`delete from kind_cinemas where kind_id = 'K3D'`.execute(other.kysely);
      expect((await t.client.cinemasByKind({ kindId: 'K3D' })).cinemas).toEqual([]);
    });

    it('answers requests arriving together from one fresh snapshot', async () => {
      await partners.suspend(ROOT, 'CS000001');
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => refusal(t.client.cities()).catch((e: unknown) => e)),
      );
      expect(answers).toEqual(Array.from({ length: 20 }, () => ({ code: 403, type: 'partner_disabled' })));
    });
  });
}
