import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRegistryVersion } from '../src/db/catalog.repository.js';
import { type Actor, AuditService } from '../src/domain/admin/audit.service.js';
import { PartnerAdminService } from '../src/domain/admin/partner-admin.service.js';
import { INTERFACE_NAMES } from '../src/http/partner/interfaces.js';
import { engines } from './support/engines.js';
import { makeTestApp, type TestApp } from './support/harness.js';

const admin: Actor = { actor: 'user:root', role: 'admin' };
const operator: Actor = { actor: 'user:olga', role: 'operator' };
const cinemaUser: Actor = { actor: 'user:cine', role: 'cinema' };

for (const engine of engines()) {
  describe(`partner administration (${engine.name})`, () => {
    let t: TestApp;
    let partners: PartnerAdminService;
    let audit: AuditService;
    beforeEach(async () => {
      t = await makeTestApp(await engine.open());
      partners = new PartnerAdminService(t.db, t.clock);
      audit = new AuditService(t.db);
    });
    afterEach(() => t.close());
    afterAll(() => engine.cleanup());

    const auditRows = () => t.db.kysely.selectFrom('audit_log').selectAll().orderBy('at').execute();

    /** A new partner with one key, as a client of the app. */
    async function partnerWithKey(signMode: 'basic' | 'full' = 'basic') {
      const p = await partners.create(operator, { name: '渠道甲' });
      const key = await partners.createKey(admin, p.partnerId, { signMode });
      await t.app.registry.reload();
      const spec = { partnerId: p.partnerId, busId: p.busId, secId: key.secId, md5key: key.md5key, signMode };
      return { p, key, spec, client: t.clientFor(spec) };
    }

    it('assigns sequential partner_ids per prefix and unique random 7-digit bus_ids', async () => {
      const a = await partners.create(operator, { name: 'A' });
      const b = await partners.create(operator, { name: 'B' });
      const c = await partners.create(admin, { name: 'C', prefix: 'AB' });
      expect([a.partnerId, b.partnerId, c.partnerId]).toEqual(['MT000001', 'MT000002', 'AB000001']);
      const concurrent = await Promise.all(
        Array.from({ length: 6 }, (_, i) => partners.create(operator, { name: `P${i}` })),
      );
      const all = [a, b, c, ...concurrent];
      expect(new Set(all.map((p) => p.partnerId)).size).toBe(9);
      expect(new Set(all.map((p) => p.busId)).size).toBe(9);
      for (const p of all) {
        expect(p.partnerId).toMatch(/^[A-Z]{2}[0-9]{6}$/);
        expect(p.busId).toMatch(/^[1-9][0-9]{6}$/);
      }
      expect(a).toMatchObject({ status: 'active', permissions: INTERFACE_NAMES, ipAllow: [], rateLimit: 0 });
    });

    it('rejects bad partner input with the field at fault', async () => {
      const cases: [Parameters<PartnerAdminService['create']>[1], RegExp][] = [
        [{ name: '' }, /name must be 1-100/],
        [{ name: 'x\u0000y' }, /name must be 1-100 printable/],
        [{ name: 'x', prefix: 'mt' }, /prefix must be two upper-case letters/],
        [{ name: 'x', permissions: ['cities', 'refund'] }, /unknown interface refund/],
        [{ name: 'x', ipAllow: ['10.0.0.0/8'] }, /10\.0\.0\.0\/8 is not an IPv4 or IPv6 address/],
        [{ name: 'x', rateLimit: -1 }, /rate_limit must be an integer from 0 to 100000/],
      ];
      for (const [input, message] of cases) {
        await expect(partners.create(operator, input)).rejects.toMatchObject({
          code: 'invalid',
          status: 400,
          message: expect.stringMatching(message),
        });
      }
      await expect(partners.create(cinemaUser, { name: 'x' })).rejects.toMatchObject({ code: 'forbidden' });
      await expect(partners.suspend(operator, 'MT999999')).rejects.toMatchObject({
        code: 'not_found',
        status: 404,
      });
      await expect(partners.suspend(operator, 'nope')).rejects.toMatchObject({ code: 'invalid' });
      expect(await auditRows()).toEqual([]);
    });

    it('makes a key that signs partner API calls, in basic and full mode, and shows it only once', async () => {
      const basic = await partnerWithKey('basic');
      expect(basic.key).toMatchObject({ secId: 'k1', signMode: 'basic', status: 'active' });
      expect(basic.key.md5key).toMatch(/^[0-9a-f]{32}$/);
      expect((await basic.client.cities()).cities.length).toBeGreaterThan(0);
      const full = await partnerWithKey('full');
      expect((await full.client.kinds()).kinds.length).toBeGreaterThan(0);

      const shown = await partners.show(admin, basic.p.partnerId);
      expect(shown.keys).toEqual([
        { secId: 'k1', signMode: 'basic', status: 'active', createdAt: expect.any(Number), revokedAt: null },
      ]);
      const everything = JSON.stringify([
        shown,
        await partners.list(admin),
        await partners.listKeys(admin, basic.p.partnerId),
        await auditRows(),
      ]);
      expect(everything).not.toContain(basic.key.md5key);
      expect(everything).not.toContain(full.key.md5key);
    });

    it('rotates keys without breaking the partner: both work until the old one is revoked', async () => {
      const { p, spec, client } = await partnerWithKey();
      const k2 = await partners.createKey(admin, p.partnerId, { secId: 'rotated_2', signMode: 'full' });
      await t.app.registry.reload();
      const next = t.clientFor({ ...spec, secId: k2.secId, md5key: k2.md5key, signMode: 'full' });
      await client.cities();
      await next.cities();
      const revoked = await partners.revokeKey(admin, p.partnerId, 'k1');
      expect(revoked).toMatchObject({ status: 'revoked', revokedAt: t.clock.now() });
      await t.app.registry.reload();
      await expect(client.cities()).rejects.toMatchObject({ code: 401, type: 'unknown_partner' });
      await next.cities();
      await expect(partners.revokeKey(admin, p.partnerId, 'k1')).rejects.toMatchObject({ code: 'conflict' });
      // A revoked sec_id is never reissued.
      await expect(partners.createKey(admin, p.partnerId, { secId: 'k1' })).rejects.toMatchObject({
        code: 'conflict',
        message: `sec_id k1 already exists for partner ${p.partnerId}`,
      });
      expect((await partners.createKey(admin, p.partnerId)).secId).toBe('k2');
      await expect(partners.createKey(admin, p.partnerId, { secId: 'bad-id' })).rejects.toMatchObject({
        code: 'invalid',
      });
    });

    it('lets only admins see and manage keys', async () => {
      const { p } = await partnerWithKey();
      for (const call of [
        () => partners.createKey(operator, p.partnerId),
        () => partners.listKeys(operator, p.partnerId),
        () => partners.revokeKey(operator, p.partnerId, 'k1'),
      ]) {
        await expect(call()).rejects.toMatchObject({ code: 'forbidden', status: 403 });
      }
      const asOperator = await partners.show(operator, p.partnerId);
      expect(asOperator.keys).toBeNull();
      expect(asOperator.partnerId).toBe(p.partnerId);
      expect((await partners.listKeys(admin, p.partnerId)).map((k) => k.status)).toEqual(['active']);
    });

    it('suspends and resumes a partner, grants and revokes interfaces, and limits callers by IP', async () => {
      const { p, client } = await partnerWithKey();
      await partners.suspend(operator, p.partnerId);
      await t.app.registry.reload();
      await expect(client.cities()).rejects.toMatchObject({ code: 403, type: 'partner_disabled' });
      await partners.resume(operator, p.partnerId);
      const revoked = await partners.revoke(operator, p.partnerId, ['cities', 'kinds']);
      expect(revoked.permissions).not.toContain('cities');
      await t.app.registry.reload();
      await expect(client.cities()).rejects.toMatchObject({ code: 403, type: 'permission_denied' });
      await client.regionsByCity({ cityId: '001' });
      const granted = await partners.grant(operator, p.partnerId, ['cities']);
      expect(granted.permissions).toEqual(INTERFACE_NAMES.filter((n) => n !== 'kinds'));
      await partners.edit(operator, p.partnerId, {
        ipAllow: ['10.1.2.3', '::1'],
        rateLimit: 50,
        name: '渠道乙',
      });
      await t.app.registry.reload();
      await expect(client.cities()).rejects.toMatchObject({ code: 403, type: 'ip_denied' });
      const edited = await partners.edit(operator, p.partnerId, { ipAllow: ['127.0.0.1'] });
      expect(edited).toMatchObject({ name: '渠道乙', ipAllow: ['127.0.0.1'], rateLimit: 50 });
      await t.app.registry.reload();
      await client.cities();

      const actions = (await auditRows()).map((r) => r.action);
      expect(actions).toEqual([
        'partner.create',
        'key.create',
        'partner.suspend',
        'partner.resume',
        'partner.revoke',
        'partner.grant',
        'partner.update',
        'partner.update',
      ]);
      const suspend = (await auditRows()).find((r) => r.action === 'partner.suspend')!;
      expect(suspend).toMatchObject({ actor: 'user:olga', entity_type: 'partner', entity_id: p.partnerId });
      expect(JSON.parse(suspend.before!)).toMatchObject({ status: 'active' });
      expect(JSON.parse(suspend.after!)).toMatchObject({ status: 'suspended' });
    });

    it('records nothing and bumps nothing for a change that changes nothing', async () => {
      const p = await partners.create(operator, { name: 'A' });
      const version = await readRegistryVersion(t.db.kysely);
      await partners.resume(operator, p.partnerId);
      await partners.grant(operator, p.partnerId, ['cities']);
      expect(await readRegistryVersion(t.db.kysely)).toBe(version);
      expect(await auditRows()).toHaveLength(1);
      await partners.suspend(operator, p.partnerId);
      expect(await readRegistryVersion(t.db.kysely)).not.toBe(version);
    });

    it("sets and clears a partner's own prices, seen by cinemasByRegion and kinds", async () => {
      const { p, client } = await partnerWithKey();
      const set = await partners.setPrice(operator, p.partnerId, { type: 'cinema', id: '1001' }, '29.9');
      expect(set).toEqual({ targetType: 'cinema', targetId: '1001', priceFen: 2990 });
      await partners.setPrice(operator, p.partnerId, { type: 'kind', id: 'K2D' }, '30.00');
      await t.app.registry.reload();
      const own = await client.cinemasByRegion({ regionId: '001001' });
      expect(own.cinemas.map((c) => [c.cinema_id, c.price])).toEqual([
        ['1001', '29.90'],
        ['1002', '38.00'],
      ]);
      expect((await client.kinds()).kinds.find((k) => k.kind_id === 'K2D')?.price).toBe('30.00');
      expect((await partners.show(operator, p.partnerId)).prices).toEqual([
        { targetType: 'cinema', targetId: '1001', priceFen: 2990 },
        { targetType: 'kind', targetId: 'K2D', priceFen: 3000 },
      ]);
      await partners.clearPrice(operator, p.partnerId, { type: 'cinema', id: '1001' });
      await t.app.registry.reload();
      expect((await client.cinemasByRegion({ regionId: '001001' })).cinemas[0]?.price).toBe('35.00');

      await expect(
        partners.setPrice(operator, p.partnerId, { type: 'cinema', id: '9999' }, '1.00'),
      ).rejects.toMatchObject({ code: 'not_found', message: 'cinema 9999 not found' });
      for (const bad of ['abc', '0', '-1', '1.234', '']) {
        await expect(
          partners.setPrice(operator, p.partnerId, { type: 'kind', id: 'K2D' }, bad),
        ).rejects.toMatchObject({ code: 'invalid', field: 'price' });
      }
      await expect(
        partners.clearPrice(operator, p.partnerId, { type: 'cinema', id: '1001' }),
      ).rejects.toMatchObject({
        code: 'not_found',
      });
      const priceRows = (await auditRows()).filter((r) => r.action.startsWith('price.'));
      expect(
        priceRows.map((r) => [r.action, r.before && JSON.parse(r.before), r.after && JSON.parse(r.after)]),
      ).toEqual([
        ['price.set', null, { targetType: 'cinema', targetId: '1001', priceFen: 2990 }],
        ['price.set', null, { targetType: 'kind', targetId: 'K2D', priceFen: 3000 }],
        ['price.clear', { targetType: 'cinema', targetId: '1001', priceFen: 2990 }, null],
      ]);
    });

    it('searches the audit log by entity, actor, action and time, newest first, in pages', async () => {
      const start = t.clock.now();
      const a = await partners.create(operator, { name: 'A' });
      t.clock.advance(60_000);
      const b = await partners.create(admin, { name: 'B' });
      t.clock.advance(60_000);
      await partners.suspend(operator, a.partnerId);
      await partners.createKey(admin, a.partnerId);

      const forA = await audit.search(operator, { entityType: 'partner', entityId: a.partnerId });
      expect(forA.entries.map((e) => e.action)).toEqual(
        expect.arrayContaining(['partner.create', 'partner.suspend', 'key.create']),
      );
      expect(forA.entries.at(-1)).toMatchObject({
        action: 'partner.create',
        before: null,
        after: { name: 'A' },
      });
      expect((await audit.search(operator, { actor: 'user:root' })).entries.map((e) => e.entityId)).toEqual([
        a.partnerId,
        b.partnerId,
      ]);
      expect((await audit.search(operator, { action: 'partner.create' })).entries).toHaveLength(2);
      const window = await audit.search(operator, { since: start + 30_000, until: start + 90_000 });
      expect(window.entries.map((e) => e.entityId)).toEqual([b.partnerId]);
      const page1 = await audit.search(operator, { limit: 3 });
      expect(page1.entries).toHaveLength(3);
      expect(page1.nextOffset).toBe(3);
      const page2 = await audit.search(operator, { limit: 3, offset: 3 });
      expect(page2.entries).toHaveLength(1);
      expect(page2.nextOffset).toBeNull();
      await expect(audit.search(operator, { limit: 0 })).rejects.toMatchObject({ code: 'invalid' });
      await expect(audit.search(cinemaUser, {})).rejects.toMatchObject({ code: 'forbidden' });
    });
  });
}
