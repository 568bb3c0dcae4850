import { AuditService } from '../domain/admin/audit.service.js';
import { CardAdminService } from '../domain/admin/card-admin.service.js';
import { CatalogAdminService } from '../domain/admin/catalog-admin.service.js';
import { PartnerAdminService } from '../domain/admin/partner-admin.service.js';
import { ReportService } from '../domain/admin/report.service.js';
import { UserService } from '../domain/admin/user.service.js';
import { CallbackPolicy } from '../domain/callback-policy.js';
import { CardService } from '../domain/card.service.js';
import { Registry } from '../domain/registry.js';
import type { CliContext } from './context.js';

/** The services the commands call: the only place the CLI wires them. */
export interface CliServices {
  users: UserService;
  partners: PartnerAdminService;
  catalog: CatalogAdminService;
  audit: AuditService;
  reports: ReportService;
  /** Card look-ups and changes; built on first use, as they load the registry and need the key file. */
  cardAdmin(): Promise<CardAdminService>;
}

/** What the services are built from; the operator commands run without the key file. */
export type ServiceContext = Pick<CliContext, 'config' | 'db' | 'clock'> &
  Partial<Pick<CliContext, 'secrets'>>;

/** Builds the CLI's services from an open context. */
export function buildCliServices(ctx: ServiceContext): CliServices {
  const { config, db, clock } = ctx;
  let cardAdmin: Promise<CardAdminService> | undefined;
  return {
    users: new UserService(db, clock),
    partners: new PartnerAdminService(db, clock, new CallbackPolicy(config.callbackAllow)),
    catalog: new CatalogAdminService(db, clock),
    audit: new AuditService(db),
    reports: new ReportService({ db, timeZone: config.timeZone }),
    cardAdmin: () => (cardAdmin ??= buildCardAdmin(ctx)),
  };
}

async function buildCardAdmin({ config, db, clock, secrets }: ServiceContext): Promise<CardAdminService> {
  if (!secrets) throw new Error('card commands need the key file (MOVTICKET_SECRET_KEY_FILE)');
  const registry = await Registry.load(db);
  const cards = new CardService(
    registry,
    clock,
    {
      timeZone: config.timeZone,
      payDeadlineMin: config.payDeadlineMin,
      cinemaValidDays: config.cinemaValidDays,
      smsTemplate: config.smsTemplate,
    },
    secrets(),
  );
  return new CardAdminService({ db, clock, timeZone: config.timeZone, cards, registry });
}
