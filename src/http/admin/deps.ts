import { type AdminServices, buildAdminServices } from '../../composition.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { CardService } from '../../domain/card.service.js';
import type { Clock } from '../../domain/clock.js';
import type { Registry } from '../../domain/registry.js';
import type { SecretBox } from '../../domain/secret-box.js';
import type { NotifyOutbox } from '../../workers/notify-outbox.js';
import type { SmsOutbox } from '../../workers/sms-outbox.js';

/** Everything the management API and console need, built once per app. */
export interface AdminDeps extends AdminServices {
  db: Db;
  clock: Clock;
  config: Config;
  registry: Registry;
  cards: CardService;
  outbox: SmsOutbox;
  /** Sends a partner's callback URL a test event (the console's test button). */
  notify: Pick<NotifyOutbox, 'sendTest'>;
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
  notify: Pick<NotifyOutbox, 'sendTest'>;
  secrets: SecretBox;
}): AdminDeps {
  return {
    ...x,
    ...buildAdminServices(x),
    // Other processes see the change before their next request (registry_version triggers).
    afterRegistryChange: () => x.registry.reload(),
  };
}
