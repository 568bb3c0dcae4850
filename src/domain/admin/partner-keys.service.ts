import type { Db } from '../../db/database.js';
import {
  findSecurityConfigInfo,
  listSecurityConfigs,
  revokeSecurityConfig,
} from '../../db/partner-admin.repository.js';
import { insertSecurityConfig } from '../../db/partner.repository.js';
import type { SecurityConfigTable } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { conflict, invalid, notFound } from '../../errors.js';
import type { Clock } from '../clock.js';
import { generateMd5Key } from '../secrets.js';
import { type Actor, requireRole } from './audit.service.js';
import {
  checkSecId,
  jitter,
  recordPartnerChange,
  requirePartner,
  UNIQUE_ATTEMPTS,
} from './partner-checks.js';
import { type CreatedKey, type CreateKeyInput, type KeyView, presentKey } from './partner-views.js';

/** A partner's security configs (sec_id and md5key); admins only. */
export class PartnerKeyService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Adds a security config with a fresh md5key; the key is returned here and never again. */
  async create(by: Actor, partnerId: string, input: CreateKeyInput = {}): Promise<CreatedKey> {
    requireRole(by, ['admin'], 'manage keys');
    // full signs the interface's own parameters too; basic is kept for partners built on it.
    const signMode = input.signMode ?? 'full';
    if (signMode !== 'basic' && signMode !== 'full') throw invalid('sign_mode', 'must be basic or full');
    const wanted = input.secId === undefined ? undefined : checkSecId(input.secId);
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction(this.db, async (tx) => {
          const p = await requirePartner(tx, partnerId);
          const existing = await listSecurityConfigs(tx, p.partner_id);
          const taken = new Set(existing.map((k) => k.sec_id));
          if (wanted !== undefined && taken.has(wanted)) {
            // Revoked sec_ids stay taken so that a revoked key can never come back under its old name.
            throw conflict(`sec_id ${wanted} already exists for partner ${p.partner_id}`, 'key.exists', {
              sec_id: wanted,
            });
          }
          let secId = wanted;
          for (let n = 1; secId === undefined; n++) if (!taken.has(`k${n}`)) secId = `k${n}`;
          const row: SecurityConfigTable = {
            partner_id: p.partner_id,
            sec_id: secId,
            md5key: generateMd5Key(),
            sign_mode: signMode,
            status: 'active',
            created_at: this.clock.now(),
            revoked_at: null,
          };
          await insertSecurityConfig(tx, row);
          const view = presentKey(row);
          await recordPartnerChange(tx, this.clock, by, 'key.create', p.partner_id, null, view);
          return { partnerId: p.partner_id, ...view, md5key: row.md5key };
        });
      } catch (err) {
        if (!this.db.isUniqueViolation(err)) throw err;
        if (wanted !== undefined)
          throw conflict(`sec_id ${wanted} already exists for partner ${partnerId}`, 'key.exists', {
            sec_id: wanted,
          });
        if (attempt >= UNIQUE_ATTEMPTS) throw err;
        await jitter();
      }
    }
  }

  async list(by: Actor, partnerId: string): Promise<KeyView[]> {
    requireRole(by, ['admin'], 'manage keys');
    const p = await requirePartner(this.db.kysely, partnerId);
    return (await listSecurityConfigs(this.db.kysely, p.partner_id)).map(presentKey);
  }

  /** Revokes one key; the partner's other keys keep working (rotation: create, switch, revoke). */
  async revoke(by: Actor, partnerId: string, secId: string): Promise<KeyView> {
    requireRole(by, ['admin'], 'manage keys');
    return inTransaction(this.db, async (tx) => {
      const p = await requirePartner(tx, partnerId);
      const key = await findSecurityConfigInfo(tx, p.partner_id, checkSecId(secId));
      if (!key) throw notFound(`sec_id`, `${secId} of partner ${p.partner_id}`);
      if (key.status === 'revoked')
        throw conflict(`sec_id ${secId} of partner ${p.partner_id} is already revoked`, 'key.revoked', {
          sec_id: secId,
        });
      const at = this.clock.now();
      await revokeSecurityConfig(tx, p.partner_id, key.sec_id, at);
      const before = presentKey(key);
      const after: KeyView = { ...before, status: 'revoked', revokedAt: at };
      await recordPartnerChange(tx, this.clock, by, 'key.revoke', p.partner_id, before, after);
      return after;
    });
  }
}
