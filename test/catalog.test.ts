import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { XMLParser } from 'fast-xml-parser';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';
import { makePartner } from './support/factories.js';

for (const engine of engines()) {
  describe(`catalog interfaces (${engine.name})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    it('lists only cities with an active cinema, in both formats', async () => {
      const { cities } = await t.client.cities();
      expect(cities).toEqual([
        { code_id: '001', parent_id: '0', code_name: '北京', remark: 'bj' },
        { code_id: '002', parent_id: '0', code_name: '武汉', remark: 'wh' },
      ]);
      const xml = await t.post('cities', { ...t.signed(), format: 'xml' });
      expect(xml.status).toBe(200);
      expect(xml.headers['content-type']).toBe('application/xml; charset=utf-8');
      expect(xml.body).toContain('<response><code>200</code><data><cities><item><code_id>001</code_id>');
    });

    it('answers JSON when Accept lists application/json and no format is given', async () => {
      const res = await t.post('cities', t.signed(), { accept: 'text/html, application/json' });
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      const body = JSON.parse(res.body) as { code: number; data: { cities: unknown[] } };
      expect(body.code).toBe(200);
      expect(body.data.cities).toHaveLength(2);
    });

    it('lists the regions of a city and rejects an unknown city as not_found', async () => {
      const { regions } = await t.client.regionsByCity({ cityId: '001' });
      expect(regions.map((r) => [r.code_id, r.parent_id, r.code_name])).toEqual([
        ['001001', '001', '朝阳区'],
        ['001002', '001', '海淀区'],
      ]);
      await expect(t.client.regionsByCity({ cityId: '999' })).rejects.toMatchObject({
        code: 400,
        type: 'not_found',
      });
      await expect(t.client.regionsByCity({ cityId: 'abc' })).rejects.toMatchObject({
        code: 400,
        type: 'invalid_param',
      });
    });

    it('lists active cinemas of a region with the partner price, escaping XML', async () => {
      const { cinemas } = await t.client.cinemasByRegion({ regionId: '001001' });
      expect(cinemas).toEqual([
        {
          cinema_id: '1001',
          cinema_name: '影城1001',
          city_id: '001',
          region_id: '001001',
          address: '地址 1001 <&>',
          tel: '010-12345678',
          price: '35.00',
          market_price: '70.00',
        },
        expect.objectContaining({ cinema_id: '1002', price: '38.00' }),
      ]);
      const xml = await t.post('cinemasByRegion', {
        ...t.signed(undefined, { region_id: '001001' }),
        format: 'xml',
      });
      expect(xml.body).toContain('<address>地址 1001 &lt;&amp;&gt;</address>');
      const parsed = new XMLParser({ parseTagValue: false }).parse(xml.body) as {
        response: { data: { cinemas: { item: { price: string }[] } } };
      };
      expect(parsed.response.data.cinemas.item.map((c) => c.price)).toEqual(['35.00', '38.00']);
      const inactive = await t.client.cinemasByRegion({ regionId: '003001' });
      expect(inactive.cinemas).toEqual([]);
      const emptyXml = await t.post('cinemasByRegion', {
        ...t.signed(undefined, { region_id: '003001' }),
        format: 'xml',
      });
      expect(emptyXml.body).toContain('<data><cinemas/></data>');
    });

    it('shows a partner its own prices and others the defaults', async () => {
      const other = await makePartner(t.db, {
        partnerId: 'AB123456',
        busId: '7654321',
        secId: 'k1',
        md5key: 'otherkey1234',
        prices: [
          { type: 'cinema', id: '1001', fen: 3099 },
          { type: 'kind', id: 'K2D', fen: 2950 },
        ],
      });
      await t.app.registry.reload();
      const client = t.clientFor(other);
      const own = await client.cinemasByRegion({ regionId: '001001' });
      expect(own.cinemas.map((c) => c.price)).toEqual(['30.99', '38.00']);
      const kinds = await client.kinds();
      expect(kinds.kinds.find((k) => k.kind_id === 'K2D')?.price).toBe('29.50');
      const def = await t.client.cinemasByRegion({ regionId: '001001' });
      expect(def.cinemas.map((c) => c.price)).toEqual(['35.00', '38.00']);
      const card = await client.buyByCinema({ cinemaId: '1001', count: 3 });
      expect(card.card.total_price).toBe('92.97');
    });

    it('lists kinds and the active cinemas of a kind, optionally by city', async () => {
      const { kinds } = await t.client.kinds();
      expect(kinds).toEqual([
        {
          kind_id: 'K2D',
          kind_name: '全国通兑2D券',
          price: '32.00',
          market_price: '70.00',
          valid_days: '180',
          remark: '2D',
        },
        {
          kind_id: 'K3D',
          kind_name: '全国通兑3D券',
          price: '42.00',
          market_price: '90.00',
          valid_days: '30',
          remark: '3D',
        },
      ]);
      const all = await t.client.cinemasByKind({ kindId: 'K2D' });
      expect(all.cinemas.map((c) => c.cinema_id)).toEqual(['1001', '1003', '2001']);
      expect(Object.keys(all.cinemas[0]!).sort()).toEqual([
        'address',
        'cinema_id',
        'cinema_name',
        'city_id',
        'region_id',
        'tel',
      ]);
      const wuhan = await t.client.cinemasByKind({ kindId: 'K2D', cityId: '002' });
      expect(wuhan.cinemas.map((c) => c.cinema_id)).toEqual(['2001']);
      await expect(t.client.cinemasByKind({ kindId: 'K2D', cityId: '998' })).rejects.toMatchObject({
        type: 'not_found',
      });
      await expect(t.client.cinemasByKind({ kindId: 'NOPE' })).rejects.toMatchObject({ type: 'not_found' });
    });
  });
}
