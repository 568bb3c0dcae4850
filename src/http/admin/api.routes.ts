import type { FastifyInstance } from 'fastify';
import { catalogRoutes } from './api/catalog.routes.js';
import { cardRoutes } from './api/cards.routes.js';
import { partnerRoutes } from './api/partners.routes.js';
import { redemptionRoutes } from './api/redemption.routes.js';
import { reportRoutes } from './api/reports.routes.js';
import { registerApiRoutes } from './api/route.js';
import { userRoutes } from './api/users.routes.js';
import { installBodyParsers } from './body.js';
import type { AdminDeps } from './deps.js';

/**
 * The JSON API under /admin/api (the session endpoints are in auth/session.routes.ts). It takes JSON bodies
 * (and text/csv for the catalog import) only: a form or multipart body is refused with 415, so a
 * cross-site form cannot reach it even before the CSRF check. Changes honour an optional
 * `Idempotency-Key` header (once.ts).
 */
export async function registerAdminApi(fastify: FastifyInstance, deps: AdminDeps): Promise<void> {
  await fastify.register(async (api) => {
    installBodyParsers(api, { forms: false });
    registerApiRoutes(
      api,
      [
        ...userRoutes(deps),
        ...partnerRoutes(deps),
        ...catalogRoutes(deps),
        ...cardRoutes(deps),
        ...reportRoutes(deps),
        ...redemptionRoutes(deps),
      ],
      { idempotency: deps.idempotency },
    );
  });
}
