import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRegistryVersion } from '../src/db/catalog.repository.js';
import type { Actor } from '../src/domain/admin/audit.service.js';
import { CatalogAdminService } from '../src/domain/admin/catalog-admin.service.js';
import { CINEMA_CSV_COLUMNS, type ImportProgress, parseCsv } from '../src/domain/admin/catalog-import.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

/** An import issue as the CLI and the JSON API word it (the console uses its id and params). */
const plain = (issues: { row: number; column: string; message: string }[]) =>
  issues.map(({ row, column, message }) => ({ row, column, message }));

const operator: Actor = { actor: 'user:olga', role: 'operator' };
const cinemaUser: Actor = { actor: 'user:cine', role: 'cinema' };

const HEADER = CINEMA_CSV_COLUMNS.join(',');
const csv = (...rows: string[]) => [HEADER, ...rows].join('\n') + '\n';

describe('CSV parsing', () => {
  it('reads quoted fields with commas, quotes and line breaks, CRLF and a BOM, and numbers rows', () => {
    const { records, error } = parseCsv('\uFEFFa,b\r\n"x, ""y""","line1\nline2"\r\n\r\nlast,\n');
    expect(error).toBeNull();
    expect(records).toEqual([
      { row: 1, fields: ['a', 'b'] },
      { row: 2, fields: ['x, "y"', 'line1\nline2'] },
      { row: 4, fields: ['last', ''] },
    ]);
  });

  it('reports an unclosed quote and text after a closing quote', () => {
    expect(parseCsv('a\n"open,b\n').error).toMatchObject({
      row: 2,
      message: 'a quoted field is never closed',
    });
    expect(parseCsv('a\n"x"y\n').error).toMatchObject({
      row: 2,
      message: 'unexpected text after a closing quote',
    });
  });

  it('counts blank lines as rows, keeps a line of "" as a record, and ends records at a lone CR', () => {
    const { records, error } = parseCsv('a\n\n""\r\nb\rc');
    expect(error).toBeNull();
    expect(records).toEqual([
      { row: 1, fields: ['a'] },
      { row: 3, fields: [''] },
      { row: 4, fields: ['b'] },
      { row: 5, fields: ['c'] },
    ]);
  });

  it('reports a quote in the middle of an unquoted field on its row, after blank lines', () => {
    expect(plain([parseCsv('a\n\nb"c\n').error!])[0]).toEqual({
      row: 3,
      column: '',
      message: 'a quote inside a field that does not start with one (quote the whole field)',
    });
  });
});

for (const engine of engines()) {
  describe(`catalog administration (${engine.name})`, () => {
    let t: TestApp;
    let catalog: CatalogAdminService;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
      catalog = new CatalogAdminService(t.db, t.clock);
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const auditRows = () => t.db.kysely.selectFrom('audit_log').selectAll().orderBy('at').execute();

    it('creates a city, region, cinema and kind that partners then see', async () => {
      await catalog.createCity(operator, { codeId: '004', name: '广州', remark: 'gz', sort: 4 });
      await catalog.createRegion(operator, { codeId: '004001', cityId: '004', name: '天河区', remark: 'th' });
      const cinema = await catalog.createCinema(operator, {
        cinemaId: 'GZ01',
        regionId: '004001',
        name: '天河影城',
        address: '天河路1号',
        tel: '020-1234',
        price: '30',
        marketPrice: '60.50',
      });
      expect(cinema).toEqual({
        cinemaId: 'GZ01',
        name: '天河影城',
        cityId: '004',
        regionId: '004001',
        address: '天河路1号',
        tel: '020-1234',
        priceFen: 3000,
        marketPriceFen: 6050,
        validDays: 90,
        active: true,
      });
      await catalog.createKind(operator, {
        kindId: 'KIMAX',
        name: 'IMAX通兑券',
        price: '55.00',
        marketPrice: '120.00',
        validDays: 60,
        cinemaIds: ['GZ01', '1001'],
      });
      await t.app.registry.reload();
      expect((await t.client.cities()).cities.map((c) => c.code_id)).toContain('004');
      expect((await t.client.cinemasByRegion({ regionId: '004001' })).cinemas).toEqual([
        expect.objectContaining({ cinema_id: 'GZ01', price: '30.00', market_price: '60.50' }),
      ]);
      const byKind = await t.client.cinemasByKind({ kindId: 'KIMAX' });
      expect(byKind.cinemas.map((c) => c.cinema_id).sort()).toEqual(['1001', 'GZ01']);
      expect((await t.client.kinds()).kinds.find((k) => k.kind_id === 'KIMAX')).toMatchObject({
        price: '55.00',
        valid_days: '60',
      });
      expect((await auditRows()).map((r) => [r.action, r.entity_id])).toEqual([
        ['city.create', '004'],
        ['region.create', '004001'],
        ['cinema.create', 'GZ01'],
        ['kind.create', 'KIMAX'],
      ]);
    });

    it('edits, deactivates and re-prices, each change audited with before and after', async () => {
      const version = await readRegistryVersion(t.db.kysely);
      await catalog.setDefaultPrices(
        operator,
        { type: 'cinema', id: '1001' },
        { price: '33.30', marketPrice: '90' },
      );
      await catalog.setCinemaActive(operator, '1002', false);
      await catalog.editCinema(operator, '1003', { regionId: '002001', name: '搬家影城' });
      await catalog.setKindCinemas(operator, 'K3D', ['1001', '2001']);
      await catalog.editKind(operator, 'K3D', { price: '45', validDays: 20 });
      await catalog.setKindActive(operator, 'K2D', false);
      await catalog.editCity(operator, '002', { name: '武汉市' });
      await catalog.editRegion(operator, '001001', { remark: 'chaoyang' });
      expect(await readRegistryVersion(t.db.kysely)).not.toBe(version);
      await t.app.registry.reload();

      expect((await t.client.cinemasByRegion({ regionId: '001001' })).cinemas).toEqual([
        expect.objectContaining({ cinema_id: '1001', price: '33.30', market_price: '90.00' }),
      ]);
      expect(
        (await t.client.cinemasByRegion({ regionId: '002001' })).cinemas.map((c) => c.cinema_id),
      ).toEqual(['1003', '2001']);
      const kinds = (await t.client.kinds()).kinds;
      expect(kinds.map((k) => [k.kind_id, k.price, k.valid_days])).toEqual([['K3D', '45.00', '20']]);
      expect((await t.client.regionsByCity({ cityId: '001' })).regions[0]?.remark).toBe('chaoyang');

      const moved = (await auditRows()).find((r) => r.entity_id === '1003')!;
      expect(moved).toMatchObject({ action: 'cinema.update', actor: 'user:olga', entity_type: 'cinema' });
      expect(JSON.parse(moved.before!)).toMatchObject({
        cityId: '001',
        regionId: '001002',
        name: '影城1003',
      });
      expect(JSON.parse(moved.after!)).toMatchObject({ cityId: '002', regionId: '002001', name: '搬家影城' });
      const kindCinemas = (await auditRows()).find((r) => r.action === 'kind.cinemas')!;
      expect(JSON.parse(kindCinemas.before!).cinemaIds).toEqual(['1002']);
      expect(JSON.parse(kindCinemas.after!).cinemaIds).toEqual(['1001', '2001']);
    });

    it('refuses duplicates, unknown references, bad input and cinema accounts', async () => {
      await expect(catalog.createCity(operator, { codeId: '001', name: 'x' })).rejects.toMatchObject({
        code: 'conflict',
        message: 'city 001 already exists',
      });
      await expect(catalog.createCity(operator, { codeId: '1', name: 'x' })).rejects.toMatchObject({
        code: 'invalid',
        field: 'city_id',
      });
      await expect(
        catalog.createRegion(operator, { codeId: 'R1', cityId: '999', name: 'x' }),
      ).rejects.toMatchObject({ code: 'not_found', message: 'city 999 not found' });
      const cinema = { cinemaId: 'C1', regionId: '001001', name: 'x', price: '1', marketPrice: '2' };
      await expect(catalog.createCinema(operator, { ...cinema, regionId: 'nope' })).rejects.toMatchObject({
        code: 'not_found',
      });
      await expect(catalog.createCinema(operator, { ...cinema, cinemaId: '1001' })).rejects.toMatchObject({
        code: 'conflict',
      });
      await expect(catalog.createCinema(operator, { ...cinema, price: '1.001' })).rejects.toMatchObject({
        code: 'invalid',
        field: 'price',
      });
      await expect(catalog.createCinema(operator, { ...cinema, cinemaId: 'a b' })).rejects.toMatchObject({
        code: 'invalid',
        field: 'cinema_id',
      });
      await expect(catalog.setKindCinemas(operator, 'K2D', ['1001', 'X1', 'X2'])).rejects.toMatchObject({
        code: 'not_found',
        message: 'cinemas X1, X2 not found',
      });
      await expect(catalog.editCinema(operator, '1001', {})).rejects.toMatchObject({ code: 'invalid' });
      await expect(catalog.setCinemaActive(cinemaUser, '1001', false)).rejects.toMatchObject({
        code: 'forbidden',
      });
      expect(await auditRows()).toEqual([]);
    });

    const goodFile = csv(
      '004,广州,gz,004001,天河区,th,GZ01,天河影城,"天河路1号, 2楼",020-1234,30.00,60.00,,1',
      '004,广州,gz,004001,天河区,th,GZ02,"Cinema ""Two""",,,31,61,30,0',
      '001,,,001001,,,1001,影城1001,地址 1001 <&>,010-12345678,35.00,70.00,90,1',
      '001,北京,,001002,海淀区,,1003,新名字,新地址,010-1,33.00,66.00,90,yes',
    );

    it('dry-runs an import: reports counts and writes nothing', async () => {
      const version = await readRegistryVersion(t.db.kysely);
      const report = await catalog.importCinemas(operator, goodFile, { dryRun: true });
      expect(report).toEqual({
        dryRun: true,
        applied: false,
        rows: 4,
        created: 2,
        updated: 1,
        unchanged: 1,
        citiesCreated: 1,
        regionsCreated: 1,
        errors: [],
      });
      expect(await readRegistryVersion(t.db.kysely)).toBe(version);
      expect(await auditRows()).toEqual([]);
      expect((await catalog.list(operator)).cinemas.map((c) => c.cinemaId)).not.toContain('GZ01');
    });

    it('imports cinemas, creating cities and regions, and a second run changes nothing', async () => {
      const report = await catalog.importCinemas(operator, goodFile, { source: 'cinemas.csv' });
      expect(report).toMatchObject({ applied: true, created: 2, updated: 1, unchanged: 1, errors: [] });
      const list = await catalog.list(operator);
      expect(list.cities.find((c) => c.codeId === '004')).toEqual({
        codeId: '004',
        name: '广州',
        remark: 'gz',
        sort: 0,
      });
      expect(list.cinemas.find((c) => c.cinemaId === 'GZ01')).toMatchObject({
        address: '天河路1号, 2楼',
        validDays: 90,
        active: true,
      });
      expect(list.cinemas.find((c) => c.cinemaId === 'GZ02')).toMatchObject({
        name: 'Cinema "Two"',
        validDays: 30,
        active: false,
      });
      expect(list.cinemas.find((c) => c.cinemaId === '1003')).toMatchObject({
        name: '新名字',
        address: '新地址',
      });
      await t.app.registry.reload();
      expect(
        (await t.client.cinemasByRegion({ regionId: '004001' })).cinemas.map((c) => c.cinema_id),
      ).toEqual(['GZ01']);
      const actions = (await auditRows()).map((r) => `${r.action} ${r.entity_id}`);
      expect(actions.sort()).toEqual(
        [
          'catalog.import cinemas.csv',
          'city.create 004',
          'region.create 004001',
          'cinema.create GZ01',
          'cinema.create GZ02',
          'cinema.update 1003',
        ].sort(),
      );

      const version = await readRegistryVersion(t.db.kysely);
      const again = await catalog.importCinemas(operator, goodFile);
      expect(again).toMatchObject({ applied: false, created: 0, updated: 0, unchanged: 4, errors: [] });
      expect(await readRegistryVersion(t.db.kysely)).toBe(version);
    });

    it('reports every bad row with its row number and column, and imports nothing', async () => {
      const bad = csv(
        '005,深圳,sz,005001,南山区,ns,SZ01,南山影城,,,25.00,50.00,,1',
        '005,深圳,sz,005001,南山区,ns,SZ02,影城二,,,abc,0,,maybe',
        '002,上海,sh,002001,,,SZ03,影城三,,,25,50,,',
        '005,深圳,sz,001001,,,SZ04,影城四,,,25,50,,',
        '005,深圳,sz,005001,南山区,ns,SZ01,重复,,,25,50,,',
        '005,深圳',
        '5,,,,,,bad id!,,,,25,50,9999,',
      );
      const version = await readRegistryVersion(t.db.kysely);
      const report = await catalog.importCinemas(operator, bad);
      expect(report.applied).toBe(false);
      expect(plain(report.errors)).toEqual([
        { row: 3, column: 'price', message: 'price must be an amount in yuan greater than 0, e.g. 35.00' },
        {
          row: 3,
          column: 'market_price',
          message: 'market_price must be an amount in yuan greater than 0, e.g. 35.00',
        },
        { row: 3, column: 'active', message: 'active must be 1 or 0 (or true/false, yes/no)' },
        { row: 4, column: 'city_name', message: 'city 002 is named 武汉, not 上海' },
        { row: 5, column: 'region_id', message: 'region 001001 belongs to city 001, not 005' },
        { row: 6, column: 'cinema_id', message: 'cinema SZ01 already appears in row 2' },
        { row: 7, column: '', message: 'expected 14 fields, found 2' },
        { row: 8, column: 'city_id', message: 'city_id must be 3 digits, e.g. 001' },
        { row: 8, column: 'region_id', message: 'region_id must be 1-32 letters, digits, _ or -' },
        { row: 8, column: 'cinema_id', message: 'cinema_id must be 1-32 letters, digits, _ or -' },
        { row: 8, column: 'cinema_name', message: 'cinema_name must be 1-100 printable characters' },
        { row: 8, column: 'valid_days', message: 'valid_days must be an integer from 1 to 3650' },
      ]);
      expect((await catalog.list(operator)).cities.map((c) => c.codeId)).not.toContain('005');
      expect(await readRegistryVersion(t.db.kysely)).toBe(version);
      expect(await auditRows()).toEqual([]);
    });

    it('checks the header row', async () => {
      const report = await catalog.importCinemas(operator, 'city_id,cinema_id,colour\n001,1001,red\n', {
        dryRun: true,
      });
      expect(plain(report.errors)[0]).toEqual({
        row: 1,
        column: 'colour',
        message: 'unknown column "colour"',
      });
      expect(report.errors.map((e) => e.column)).toContain('price');
      expect(plain((await catalog.importCinemas(operator, '')).errors)).toEqual([
        { row: 1, column: '', message: expect.stringContaining('the file is empty') },
      ]);
    });

    it('reports progress every 500 rows while checking and writing', async () => {
      const rows = Array.from(
        { length: 1200 },
        (_, i) => `001,北京,,001001,朝阳区,,B${String(i).padStart(4, '0')},影城${i},,,30,60,90,1`,
      );
      const seen: ImportProgress[] = [];
      const report = await catalog.importCinemas(operator, csv(...rows), { onProgress: (p) => seen.push(p) });
      expect(report).toMatchObject({ applied: true, created: 1200 });
      expect(seen).toEqual([
        { phase: 'check', done: 500, total: 1200 },
        { phase: 'check', done: 1000, total: 1200 },
        { phase: 'check', done: 1200, total: 1200 },
        { phase: 'write', done: 500, total: 1200 },
        { phase: 'write', done: 1000, total: 1200 },
        { phase: 'write', done: 1200, total: 1200 },
      ]);
      expect((await catalog.list(operator)).cinemas).toHaveLength(1205);
    });
  });
}
