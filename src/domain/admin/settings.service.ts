import { recordAudit } from '../../db/audit.repository.js';
import type { Db } from '../../db/database.js';
import { readSettings, writeSetting } from '../../db/settings.repository.js';
import { inTransaction, type Executor } from '../../db/tx.js';
import type { Clock } from '../clock.js';
import { type Actor, requireRole } from './audit.service.js';
import { oneOf } from '../validate.js';

/** Who may resend a card's SMS (its password) to a mobile other than the card's. */
export const RESEND_NEW_MOBILE = ['operators', 'admins'] as const;
export type ResendNewMobile = (typeof RESEND_NEW_MOBILE)[number];

/** Platform settings an admin changes in the console; they apply at once in every process. */
export interface Settings {
  resendNewMobile: ResendNewMobile;
}

const DEFAULTS: Settings = { resendNewMobile: 'operators' };

/** The names the settings are stored under. */
const STORED: Record<keyof Settings, string> = { resendNewMobile: 'resend_new_mobile' };

/** The current settings, read from the database (cheap: a few rows of `meta`). */
export async function currentSettings(db: Executor): Promise<Settings> {
  const stored = await readSettings(db);
  const resend = stored.get(STORED.resendNewMobile);
  return {
    resendNewMobile: RESEND_NEW_MOBILE.includes(resend as ResendNewMobile)
      ? (resend as ResendNewMobile)
      : DEFAULTS.resendNewMobile,
  };
}

export class SettingsService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  get(): Promise<Settings> {
    return currentSettings(this.db.kysely);
  }

  /** Changes settings (admins only); each changed one is recorded in the audit log. */
  async set(by: Actor, changes: Partial<Settings>): Promise<Settings> {
    requireRole(by, ['admin'], 'change settings');
    const next = changes.resendNewMobile;
    if (next !== undefined) oneOf('resend_new_mobile', next, RESEND_NEW_MOBILE);
    return inTransaction(this.db, async (tx) => {
      const before = await currentSettings(tx);
      if (next !== undefined && next !== before.resendNewMobile) {
        await writeSetting(tx, STORED.resendNewMobile, next);
        await recordAudit(tx, {
          at: this.clock.now(),
          actor: by.actor,
          action: 'settings.update',
          entityType: 'setting',
          entityId: STORED.resendNewMobile,
          before: { value: before.resendNewMobile },
          after: { value: next },
        });
      }
      return { ...before, ...(next === undefined ? {} : { resendNewMobile: next }) };
    });
  }
}
