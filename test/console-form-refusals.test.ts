import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogAdminService } from '../src/domain/admin/catalog-admin.service.js';
import { PartnerAdminService } from '../src/domain/admin/partner-admin.service.js';
import { UserService } from '../src/domain/admin/user.service.js';
import { Browser, PASSWORD, type Res, textOf } from './support/console-browser.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

/** The message shown beside the input, select or textarea named `name`, if it is marked invalid. */
function fieldError(body: string, name: string): string | undefined {
  const at = body.search(new RegExp(`<(input|select|textarea)\\s[^>]*name="${name}"`));
  if (at < 0) throw new Error(`no field ${name}`);
  const start = body.lastIndexOf('<label', at);
  const label = body.slice(start, body.indexOf('</label', at));
  const control = /<(input|select|textarea)\s[^>]*>/.exec(body.slice(at))![0];
  if (!control.includes('aria-invalid="true"')) return undefined;
  return /<small class="err">([\s\S]*?)<\/small>/.exec(label)?.[1]?.trim();
}

/** The value kept in the text input `name`, or the text of the textarea `name`. */
function kept(body: string, name: string): string | undefined {
  const input = new RegExp(`<input\\s[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(body);
  if (input) return input[1];
  return new RegExp(`<textarea\\s[^>]*name="${name}"[^>]*>\\n?([\\s\\S]*?)</textarea>`).exec(body)?.[1];
}

/**
 * A refused form: 400, one summary naming how many fields to fix, each broken field marked
 * aria-invalid with its own Chinese message beside it, and no other field marked.
 */
function expectRefused(res: Res, messages: Record<string, string>) {
  expect(res.status).toBe(400);
  const names = Object.keys(messages);
  expect(textOf(res.body)).toContain(`有 ${names.length} 处需要修改`);
  for (const [name, message] of Object.entries(messages))
    expect(fieldError(res.body, name), name).toBe(message);
  expect(res.body.match(/aria-invalid="true"/g)).toHaveLength(names.length);
}

for (const engine of engines()) {
  describe(`console forms name every invalid field at once (${engine.name})`, () => {
    let t: TestApp;
    let op: Browser;

    beforeAll(async () => {
      t = await makeTestApp(await engine.open());
      const users = new UserService(t.db, t.clock);
      await users.create(
        { actor: 'cli:test', role: 'admin' },
        { username: 'otto', password: PASSWORD, role: 'operator' },
      );
      op = await new Browser(t).login('otto');
    });
    afterAll(async () => {
      await t?.close();
      await engine.cleanup();
    });

    const rows = async (table: 'partners' | 'partner_prices' | 'cities' | 'regions' | 'cinemas' | 'kinds') =>
      t.db.kysely.selectFrom(table).selectAll().execute();
    const audits = async () =>
      (await t.db.kysely.selectFrom('audit_log').select('audit_id').execute()).length;

    it('new partner: name, prefix, rate limit and IP allow-list at once; nothing created', async () => {
      const [before, auditsBefore] = [await rows('partners'), await audits()];
      await op.get('/admin/partners/new');
      const res = await op.post('/admin/partners', {
        name: '   ',
        prefix: 'x1',
        rate_limit: '-5',
        ip_allow: '10.0.0.1\n10.0.0.300',
        permissions: ['status'],
      });
      expectRefused(res, {
        name: '名称须为 1–100 个可打印字符',
        prefix: '编号前缀须为两个大写字母',
        rate_limit: '限流须为 0 到 100000 的整数',
        ip_allow: 'IP 白名单中的 10.0.0.300 不是 IPv4 或 IPv6 地址',
      });
      expect(kept(res.body, 'prefix')).toBe('x1');
      expect(kept(res.body, 'rate_limit')).toBe('-5');
      expect(kept(res.body, 'ip_allow')).toBe('10.0.0.1\n10.0.0.300');
      expect(res.body).toMatch(/value="status"[^>]*checked/);
      expect(await rows('partners')).toEqual(before);
      expect(await audits()).toBe(auditsBefore);
    });

    it('partner edit: name, IP allow-list and rate limit at once; nothing changed', async () => {
      const [before, auditsBefore] = [await rows('partners'), await audits()];
      await op.get('/admin/partners/CS000001');
      const res = await op.post('/admin/partners/CS000001/edit', {
        name: '',
        ip_allow: 'localhost',
        rate_limit: '1.5',
      });
      expectRefused(res, {
        name: '名称须为 1–100 个可打印字符',
        ip_allow: 'IP 白名单中的 localhost 不是 IPv4 或 IPv6 地址',
        rate_limit: '限流须为 0 到 100000 的整数',
      });
      expect(kept(res.body, 'ip_allow')).toBe('localhost');
      expect(kept(res.body, 'rate_limit')).toBe('1.5');
      expect(await rows('partners')).toEqual(before);
      expect(await audits()).toBe(auditsBefore);
    });

    it('partner price: target and price at once, before any confirmation; nothing set', async () => {
      const before = await rows('partner_prices');
      await op.get('/admin/partners/CS000001');
      const res = await op.post('/admin/partners/CS000001/prices', { target: 'film:1001', price: '0' });
      expectRefused(res, { target: '请选择影院或券种', price: '价格须为大于 0 的金额（元），如 35.00' });
      expect(kept(res.body, 'price')).toBe('0');
      // A zero price with a real target is refused too, not offered for confirmation.
      const zero = await op.post('/admin/partners/CS000001/prices', { target: 'cinema:1001', price: '0.00' });
      expect(zero.status).toBe(400);
      expect(textOf(zero.body)).not.toContain('确认设置此价格');
      expect(fieldError(zero.body, 'price')).toBe('价格须为大于 0 的金额（元），如 35.00');
      expect(await rows('partner_prices')).toEqual(before);
    });

    it('city: create and edit name every broken field; nothing written', async () => {
      const [before, auditsBefore] = [await rows('cities'), await audits()];
      await op.get('/admin/catalog/cities');
      const created = await op.post('/admin/catalog/cities', {
        code_id: '12',
        name: '',
        remark: 'r'.repeat(51),
        sort: 'first',
      });
      expectRefused(created, {
        code_id: '城市编号须为 3 位数字，如 001',
        name: '名称须为 1–50 个可打印字符',
        remark: '备注须为 0–50 个可打印字符',
        sort: '排序须为 -1000000 到 1000000 的整数',
      });
      expect(kept(created.body, 'code_id')).toBe('12');
      expect(kept(created.body, 'sort')).toBe('first');

      const edited = await op.post('/admin/catalog/cities/001', { name: ' ', remark: 'ok', sort: '2.5' });
      expectRefused(edited, {
        name: '名称须为 1–50 个可打印字符',
        sort: '排序须为 -1000000 到 1000000 的整数',
      });
      expect(kept(edited.body, 'remark')).toBe('ok');
      expect(kept(edited.body, 'sort')).toBe('2.5');
      expect(await rows('cities')).toEqual(before);
      expect(await audits()).toBe(auditsBefore);
    });

    it('region: create and edit name every broken field; nothing written', async () => {
      const [before, auditsBefore] = [await rows('regions'), await audits()];
      await op.get('/admin/catalog/regions');
      const created = await op.post('/admin/catalog/regions', {
        code_id: 'no spaces please',
        city_id: '',
        name: '新区',
        sort: '',
      });
      expectRefused(created, {
        code_id: '区域编号须为 1–32 位字母、数字、_ 或 -',
        city_id: '城市编号须为 3 位数字，如 001',
      });
      expect(kept(created.body, 'code_id')).toBe('no spaces please');
      expect(kept(created.body, 'name')).toBe('新区');

      const edited = await op.post('/admin/catalog/regions/001001', {
        name: '',
        remark: 'x'.repeat(60),
        sort: '1',
      });
      expectRefused(edited, { name: '名称须为 1–50 个可打印字符', remark: '备注须为 0–50 个可打印字符' });
      expect(kept(edited.body, 'remark')).toBe('x'.repeat(60));
      expect(await rows('regions')).toEqual(before);
      expect(await audits()).toBe(auditsBefore);
    });

    it('cinema: create and edit name every broken field; nothing written', async () => {
      const [before, auditsBefore] = [await rows('cinemas'), await audits()];
      await op.get('/admin/catalog/cinemas/new');
      const created = await op.post('/admin/catalog/cinemas', {
        cinema_id: '影院一',
        name: '',
        region_id: '001001',
        address: '长安街 1 号',
        tel: '',
        price: '三十五',
        market_price: '0',
        valid_days: '0',
        active: '1',
      });
      expectRefused(created, {
        cinema_id: '影院编号须为 1–32 位字母、数字、_ 或 -',
        name: '名称须为 1–100 个可打印字符',
        price: '价格须为大于 0 的金额（元），如 35.00',
        market_price: '市场价须为大于 0 的金额（元），如 35.00',
        valid_days: '有效天数须为 1 到 3650 的整数',
      });
      expect(kept(created.body, 'cinema_id')).toBe('影院一');
      expect(kept(created.body, 'address')).toBe('长安街 1 号');
      expect(kept(created.body, 'price')).toBe('三十五');
      expect(created.body).toMatch(/<option value="001001"\s+selected/);

      const edited = await op.post('/admin/catalog/cinemas/1001', {
        name: '影城1001',
        region_id: '',
        address: '',
        tel: 't'.repeat(41),
        price: '-1',
        market_price: '70.00',
        valid_days: '9999',
      });
      expectRefused(edited, {
        region_id: '区域编号须为 1–32 位字母、数字、_ 或 -',
        tel: '电话须为 0–40 个可打印字符',
        price: '价格须为大于 0 的金额（元），如 35.00',
        valid_days: '有效天数须为 1 到 3650 的整数',
      });
      expect(kept(edited.body, 'valid_days')).toBe('9999');
      expect(kept(edited.body, 'market_price')).toBe('70.00');
      expect(await rows('cinemas')).toEqual(before);
      expect(await audits()).toBe(auditsBefore);
    });

    it('kind: create and edit name every broken field; nothing written', async () => {
      const [before, auditsBefore] = [await rows('kinds'), await audits()];
      await op.get('/admin/catalog/kinds/new');
      const created = await op.post('/admin/catalog/kinds', {
        kind_id: '',
        name: '周末券',
        price: '0.001',
        market_price: 'abc',
        valid_days: '',
        remark: '',
        cinema_ids: ['1001', '1003'],
      });
      expectRefused(created, {
        kind_id: '券种编号须为 1–32 位字母、数字、_ 或 -',
        price: '价格须为大于 0 的金额（元），如 35.00',
        market_price: '市场价须为大于 0 的金额（元），如 35.00',
        valid_days: '有效天数须为 1 到 3650 的整数',
      });
      expect(kept(created.body, 'name')).toBe('周末券');
      expect(kept(created.body, 'price')).toBe('0.001');
      expect(created.body).toMatch(/value="1003"\s+checked/);

      const edited = await op.post('/admin/catalog/kinds/K2D', {
        name: '',
        price: '32.00',
        market_price: '-70',
        valid_days: '1.5',
        remark: '',
      });
      expectRefused(edited, {
        name: '名称须为 1–100 个可打印字符',
        market_price: '市场价须为大于 0 的金额（元），如 35.00',
        valid_days: '有效天数须为 1 到 3650 的整数',
      });
      expect(kept(edited.body, 'market_price')).toBe('-70');
      expect(await rows('kinds')).toEqual(before);
      expect(await audits()).toBe(auditsBefore);
    });

    it('the services (JSON API, CLI) still refuse with the first broken rule', async () => {
      const by = { actor: 'cli:test', role: 'operator' as const };
      const catalog = new CatalogAdminService(t.db, t.clock);
      await expect(catalog.createCity(by, { codeId: '12', name: '', sort: NaN })).rejects.toMatchObject({
        code: 'invalid',
        field: 'city_id',
      });
      await expect(
        catalog.editKind(by, 'K2D', { name: '', marketPrice: '-70', validDays: 0 }),
      ).rejects.toMatchObject({ code: 'invalid', field: 'name' });
      const partners = new PartnerAdminService(t.db, t.clock);
      await expect(
        partners.create(by, { name: 'ok', prefix: 'x1', ipAllow: ['nope'], rateLimit: -1 }),
      ).rejects.toMatchObject({ code: 'invalid', field: 'prefix' });
      expect(await rows('cities')).toHaveLength(3);
    });
  });
}
