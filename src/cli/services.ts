import {
  buildCardAdminServices,
  buildCardService,
  buildOperatorServices,
  type OperatorServices,
} from '../composition.js';
import type { CardAdminService } from '../domain/admin/card-admin.service.js';
import { Registry } from '../domain/registry.js';
import type { CliContext } from './context.js';

/** The services the commands call, built by the app's composition root. */
export interface CliServices extends Pick<
  OperatorServices,
  'users' | 'partners' | 'catalog' | 'audit' | 'reports'
> {
  /** Card look-ups and changes; built on first use, as they load the registry and need the key file. */
  cardAdmin(): Promise<CardAdminService>;
}

/** What the services are built from; the operator commands run without the key file. */
export type ServiceContext = Pick<CliContext, 'config' | 'db' | 'clock'> &
  Partial<Pick<CliContext, 'secrets'>>;

/** Builds the CLI's services from an open context. */
export function buildCliServices(ctx: ServiceContext): CliServices {
  const { users, partners, catalog, audit, reports } = buildOperatorServices(ctx);
  let cardAdmin: Promise<CardAdminService> | undefined;
  return {
    users,
    partners,
    catalog,
    audit,
    reports,
    cardAdmin: () => (cardAdmin ??= buildCardAdmin(ctx)),
  };
}

async function buildCardAdmin({
  config,
  db,
  clock,
  secrets: keyFile,
}: ServiceContext): Promise<CardAdminService> {
  if (!keyFile) throw new Error('card commands need the key file (MOVTICKET_SECRET_KEY_FILE)');
  const secrets = keyFile();
  const registry = await Registry.load(db);
  const cards = buildCardService(config, registry, clock, secrets);
  return buildCardAdminServices({ db, clock, config, registry, cards, secrets }).cardAdmin;
}
