import type { Config } from './config.js';
import type { Db } from './db/database.js';
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
import type { SmsSender } from './workers/sms-senders.js';

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
  if (sealed) log.info(sealed, 'sealed card passwords stored in plaintext by an earlier version');
  const registry = await Registry.load(db);
  const requestLog = new RequestLog(db, clock, secrets, (err) =>
    log.error({ err }, 'could not record read requests'),
  );
  const cards = new CardService(
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
  const outbox = new SmsOutbox(db, clock, deps.sms, secrets, log, {
    maxAttempts: config.smsMaxAttempts,
    leaseMs: config.smsLeaseMs,
    concurrency: config.smsConcurrency,
    pollMs: 250,
    backoffBaseMs: config.smsBackoffBaseMs,
    backoffMaxMs: config.smsBackoffMaxMs,
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
