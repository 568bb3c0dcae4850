import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import { AuditService } from '../../domain/admin/audit.service.js';
import { CardAdminService } from '../../domain/admin/card-admin.service.js';
import { CatalogAdminService } from '../../domain/admin/catalog-admin.service.js';
import { IdempotencyService } from '../../domain/admin/idempotency.service.js';
import { PartnerAdminService } from '../../domain/admin/partner-admin.service.js';
import { RedemptionService } from '../../domain/admin/redemption.service.js';
import { ReportService } from '../../domain/admin/report.service.js';
import { SettingsService } from '../../domain/admin/settings.service.js';
import { UserService } from '../../domain/admin/user.service.js';
import { CallbackPolicy } from '../../domain/callback-policy.js';
import type { CardService } from '../../domain/card.service.js';
import type { Clock } from '../../domain/clock.js';
import type { Registry } from '../../domain/registry.js';
import type { SecretBox } from '../../domain/secret-box.js';
import type { SmsOutbox } from '../../workers/sms-outbox.js';

/** Everything the management API and console need, built once per app. */
export interface AdminDeps {
  db: Db;
  clock: Clock;
  config: Config;
  registry: Registry;
  cards: CardService;
  outbox: SmsOutbox;
  users: UserService;
  partners: PartnerAdminService;
  catalog: CatalogAdminService;
  cardAdmin: CardAdminService;
  redemption: RedemptionService;
  reports: ReportService;
  audit: AuditService;
  settings: SettingsService;
  /** One-time submissions: console `_once` tokens and API Idempotency-Keys. */
  idempotency: IdempotencyService;
  /** Call after a change to catalog/partners/keys/prices so this process serves it at once. */
  afterRegistryChange(): Promise<void>;
}

export function createAdminDeps(x: {
  db: Db;
  clock: Clock;
  config: Config;
  registry: Registry;
  cards: CardService;
  outbox: SmsOutbox;
  secrets: SecretBox;
}): AdminDeps {
  const { db, clock, config, registry, cards, secrets } = x;
  const timeZone = config.timeZone;
  return {
    ...x,
    users: new UserService(db, clock),
    partners: new PartnerAdminService(db, clock, new CallbackPolicy(config.callbackAllow)),
    catalog: new CatalogAdminService(db, clock),
    cardAdmin: new CardAdminService({ db, clock, timeZone, cards, registry }),
    redemption: new RedemptionService({ db, clock, timeZone, secrets }),
    reports: new ReportService({ db, timeZone }),
    audit: new AuditService(db),
    settings: new SettingsService(db, clock),
    idempotency: new IdempotencyService(db, clock),
    // Other processes see the change before their next request (registry_version triggers).
    afterRegistryChange: () => registry.reload(),
  };
}
