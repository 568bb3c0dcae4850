import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { LiveSession, SessionService } from '../../../domain/admin/session.service.js';
import { readCookie, SESSION_COOKIE } from './cookies.js';

const liveSessions = new WeakMap<FastifyRequest, LiveSession>();

/** The session the request was resolved to; undefined without a live one. */
export function liveSession(request: FastifyRequest): LiveSession | undefined {
  return liveSessions.get(request);
}

/**
 * Sets the admin area's security headers on every reply of the scope and resolves the session
 * cookie into `request.user` and `request.csrfToken`. The cookie parser must be installed first.
 */
export function installSessionHook(fastify: FastifyInstance, sessions: SessionService): void {
  fastify.decorateRequest('user', null);
  fastify.decorateRequest('csrfToken', null);

  fastify.addHook('onRequest', async (request, reply) => {
    void reply.headers({
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
    });
    const token = readCookie(request, SESSION_COOKIE);
    if (token === undefined) return;
    const session = await sessions.resolve(token);
    if (!session) return;
    request.user = session.user;
    request.csrfToken = session.csrfToken;
    liveSessions.set(request, session);
  });
}
