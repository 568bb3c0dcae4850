import type { Config } from './config.js';
import type { Db } from './db/database.js';
import { AuditService } from './domain/admin/audit.service.js';
import { CardAdminService } from './domain/admin/card-admin.service.js';
import { CatalogAdminService } from './domain/admin/catalog-admin.service.js';
import { IdempotencyService } from './domain/admin/idempotency.service.js';
import { PartnerAdminService } from './domain/admin/partner-admin.service.js';
import { RedemptionService } from './domain/admin/redemption.service.js';
import { ReportService } from './domain/admin/report.service.js';
import { SettingsService } from './domain/admin/settings.service.js';
import { UserService } from './domain/admin/user.service.js';
import { CallbackPolicy } from './domain/callback-policy.js';
import { CardService } from './domain/card.service.js';
import type { Clock } from './domain/clock.js';
import { Registry } from './domain/registry.js';
import { RequestLog } from './domain/request-log.js';
import type { SecretBox } from './domain/secret-box.js';
import { sealLegacySecrets } from './domain/secrets-at-rest.js';
import { callbackTransport } from './workers/callback-transport.js';
import { DEFAULT_NOTIFY_OUTBOX, NotifyOutbox } from './workers/notify-outbox.js';
import { SmsOutbox } from './workers/sms-outbox.js';
import type { SmsSender } from './sms/types.js';

// Every entry point (the app, the CLI) builds its services here, so each is wired in one place.

/** What the services are built from. */
export interface ServiceDeps {
  config: Config;
  db: Db;
  clock: Clock;
  sms: SmsSender;
  /** Seals card passwords (and what carries them) at rest; from the key file (see secret-key-file.ts). */
  secrets: SecretBox;
}

/** Where the services report (a pino logger, such as Fastify's, fits). */
export interface ServiceLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The services every entry point shares; the workers are built, not started. */
export interface Services {
  registry: Registry;
  requestLog: RequestLog;
  cards: CardService;
  outbox: SmsOutbox;
  /** Delivers card events to partners' callback URLs. */
  notify: NotifyOutbox;
}

/**
 * Builds the services from their dependencies: seals card passwords an earlier version stored in
 * plaintext, loads the registry, and makes the card service and the two outboxes.
 */
export async function buildServices(deps: ServiceDeps, log: ServiceLogger): Promise<Services> {
  const { config, db, clock, secrets } = deps;
  const sealed = await sealLegacySecrets(db, secrets);
  // A new database has nothing to seal: say so only when an earlier version left plaintext.
  if (sealed && Object.values(sealed).some((n) => n > 0)) {
    log.info(sealed, 'sealed card passwords stored in plaintext by an earlier version');
  }
  const registry = await Registry.load(db);
  const requestLog = new RequestLog(db, clock, secrets, (err) =>
    log.error({ err }, 'could not record read requests'),
  );
  const cards = buildCardService(config, registry, clock, secrets);
  const outbox = new SmsOutbox(db, clock, deps.sms, secrets, log, {
    maxAttempts: config.smsMaxAttempts,
    leaseMs: config.smsLeaseMs,
    concurrency: config.smsConcurrency,
    pollMs: 250,
    claimGapMs: SMS_CLAIM_GAP_MS,
    backoffBaseMs: config.smsBackoffBaseMs,
    backoffMaxMs: config.smsBackoffMaxMs,
    receipts: {
      pollMs: config.smsReceiptPollMs,
      firstAfterMs: Math.min(30_000, config.smsReceiptPollMs),
      maxAgeMs: config.smsReceiptHours * 3_600_000,
      batch: 200,
    },
  });
  const notify = new NotifyOutbox(
    db,
    clock,
    log,
    { ...DEFAULT_NOTIFY_OUTBOX, timeZone: config.timeZone },
    callbackTransport(new CallbackPolicy(config.callbackAllow)),
  );
  return { registry, requestLog, cards, outbox, notify };
}

/**
 * Paid cards announce their SMS one by one; the outbox leases them at most this often (10 ms
 * added to a text's way out), so that at a thousand payments a second one lease write carries
 * about ten messages instead of one each.
 */
const SMS_CLAIM_GAP_MS = 10;

/** The card rules over the registry, with the configured time zone, deadlines and SMS text. */
export function buildCardService(
  config: Config,
  registry: Registry,
  clock: Clock,
  secrets: SecretBox,
): CardService {
  return new CardService(
    registry,
    clock,
    {
      timeZone: config.timeZone,
      payDeadlineMin: config.payDeadlineMin,
      cinemaValidDays: config.cinemaValidDays,
      smsTemplate: config.smsTemplate,
    },
    secrets,
  );
}

/** The management services that need only the database (the CLI's operator commands run on these). */
export interface OperatorServices {
  users: UserService;
  partners: PartnerAdminService;
  catalog: CatalogAdminService;
  reports: ReportService;
  audit: AuditService;
  settings: SettingsService;
  /** One-time submissions: console `_once` tokens and API Idempotency-Keys. */
  idempotency: IdempotencyService;
}

export function buildOperatorServices({
  db,
  clock,
  config,
}: Pick<ServiceDeps, 'db' | 'clock' | 'config'>): OperatorServices {
  return {
    users: new UserService(db, clock),
    partners: new PartnerAdminService(db, clock, new CallbackPolicy(config.callbackAllow)),
    catalog: new CatalogAdminService(db, clock),
    reports: new ReportService({ db, timeZone: config.timeZone }),
    audit: new AuditService(db),
    settings: new SettingsService(db, clock),
    idempotency: new IdempotencyService(db, clock),
  };
}

/** What the card management services are built from: the registry, the card rules and the key. */
export interface CardAdminDeps extends Pick<ServiceDeps, 'db' | 'clock' | 'config' | 'secrets'> {
  registry: Registry;
  cards: CardService;
}

/** The management services that look into cards: they need the registry and the key file. */
export interface CardAdminServices {
  cardAdmin: CardAdminService;
  redemption: RedemptionService;
}

export function buildCardAdminServices(deps: CardAdminDeps): CardAdminServices {
  const { db, clock, config, registry, cards, secrets } = deps;
  const timeZone = config.timeZone;
  return {
    cardAdmin: new CardAdminService({ db, clock, timeZone, cards, registry }),
    redemption: new RedemptionService({ db, clock, timeZone, secrets }),
  };
}

/** Every service of the management API and console. */
export type AdminServices = OperatorServices & CardAdminServices;

export function buildAdminServices(deps: CardAdminDeps): AdminServices {
  return { ...buildOperatorServices(deps), ...buildCardAdminServices(deps) };
}
