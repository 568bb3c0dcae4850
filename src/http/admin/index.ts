import type { FastifyInstance } from 'fastify';
import { registerAdminApi } from './api.routes.js';
import { registerAdminAuth } from './auth/index.js';
import { installBodyParsers } from './body.js';
import { registerConsole } from './console/index.js';
import type { AdminDeps } from './deps.js';
import { httpRefusal } from '../../errors.js';
import { sendError } from './errors.js';
import { installOnce } from './once.js';
import { collectApiRoutes, registerDocs } from './openapi.js';

export type { AdminDeps } from './deps.js';
export { createAdminDeps } from './deps.js';

/**
 * The management platform under /admin, in one encapsulation context of its own (routes keep
 * their full `/admin/...` URLs; there is no prefix):
 *
 * - its own body parsers (see body.ts: forms up to 1 MiB, multipart buffered into `request.body`
 *   with files as `UploadedFile`, JSON, text/csv); the partner API's parsers and its root
 *   multipart hook do not touch admin requests;
 * - its own error handler: `{error: {code, message, field?}}` under /admin/api, a small Chinese
 *   page elsewhere; 5xx details are logged, never shown;
 * - a 404 for unknown /admin URLs in the same two forms;
 * - one-time submissions (once.ts): console forms carry a `_once` token, the JSON API takes an
 *   optional `Idempotency-Key`; a repeat gets the first response and does not run again;
 * - the session hook (`request.user`, `request.csrfToken`), the login/logout pages and the JSON
 *   session endpoints (auth/), the JSON API (api.routes.ts), /admin/docs, and the console.
 *
 * The console's routes are registered in this same context: every route must guard itself with
 * `requireRole(...)` and, for state changes, `verifyCsrf` (as preValidation or preHandler hooks).
 */
export async function registerAdmin(fastify: FastifyInstance, deps: AdminDeps): Promise<void> {
  await fastify.register(async (admin) => {
    const apiRoutes = collectApiRoutes(admin);
    installBodyParsers(admin, { forms: true });
    admin.setErrorHandler((err, request, reply) => sendError(request, reply, err));
    installOnce(admin, deps.idempotency);
    await registerAdminAuth(admin, deps);
    await registerAdminApi(admin, deps);
    registerDocs(admin, apiRoutes);
    await registerConsole(admin, deps);
  });
  // Unknown URLs under /admin: the root handler would answer in the partner API's XML envelope.
  await fastify.register(
    async (scope) => {
      scope.setNotFoundHandler((request, reply) => {
        sendError(
          request,
          reply,
          httpRefusal('not_found', `not found: ${request.method} ${pathOf(request.url)}`, {
            id: 'http.not_found',
            params: { path: pathOf(request.url) },
          }),
        );
      });
    },
    { prefix: '/admin' },
  );
}

/** The path of a URL, without its query, cut to a length fit to show. */
const pathOf = (url: string): string => url.split('?')[0]!.slice(0, 200);
