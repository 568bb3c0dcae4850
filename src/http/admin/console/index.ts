import type { FastifyInstance } from 'fastify';
import type { AdminDeps } from '../deps.js';
import { sendError } from '../errors.js';
import { auditRoutes } from './audit.routes.js';
import { cardRoutes } from './cards.routes.js';
import { catalogRoutes } from './catalog.routes.js';
import { makeContext } from './context.js';
import { dashboardRoutes } from './dashboard.routes.js';
import { isRefusal, messageOf } from './format.js';
import { html } from './html.js';
import { sendPage } from './layout.js';
import { partnerRoutes } from './partners.routes.js';
import { redeemRoutes } from './redeem.routes.js';
import { settingsRoutes } from './settings.routes.js';
import { statementRoutes } from './statements.routes.js';
import { testerRoutes } from './tester.routes.js';
import { userRoutes } from './users.routes.js';

/**
 * The operator and cinema-staff console: server-rendered pages under /admin. Every page works
 * with plain links and forms; each route guards itself with its roles, and every POST also with
 * the session's CSRF token. Changes redirect (303) to a page that shows a fixed flash message;
 * refused input comes back in the same form with the values kept and the error beside its field.
 */
export async function registerConsole(fastify: FastifyInstance, deps: AdminDeps): Promise<void> {
  await fastify.register(async (scope) => {
    // A refusal the services explain (not found, wrong state, bad input) is shown in the console's
    // frame; anything else gets the admin layer's error page.
    scope.setErrorHandler((err, request, reply) => {
      if (!isRefusal(err) || !request.user) return sendError(request, reply, err);
      return sendPage(request, reply, {
        title: err.status === 404 ? '未找到' : '无法完成',
        status: err.status,
        error: messageOf(err),
        body: html`<p><a href="/admin">返回首页</a></p>`,
      });
    });
    const c = makeContext(scope, deps);
    dashboardRoutes(c);
    partnerRoutes(c);
    catalogRoutes(c);
    cardRoutes(c);
    statementRoutes(c);
    auditRoutes(c);
    testerRoutes(c);
    redeemRoutes(c);
    userRoutes(c);
    settingsRoutes(c);
  });
}
