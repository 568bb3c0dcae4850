import type { FastifyInstance } from 'fastify';
import { isToken, type SessionService } from '../../../domain/admin/session.service.js';
import type { AdminDeps } from '../deps.js';
import { badCsrf, crossOrigin } from '../../../errors.js';
import {
  clearLoginCookie,
  clearSessionCookie,
  LOGIN_COOKIE,
  readCookie,
  SESSION_COOKIE,
  setSessionCookie,
} from './cookies.js';
import {
  field,
  isSameOrigin,
  PUBLIC_BODY_LIMIT,
  refuse,
  safeEqual,
  safeNext,
  verifySameOrigin,
} from './guards.js';
import { sendLoginPage, throttledMessage } from './login-page.js';

const text = (v: unknown) => (typeof v === 'string' ? v : '');

/** The sign-in page and form (GET/POST /admin/login) and the sign-out form (POST /admin/logout). */
export function registerLoginRoutes(
  fastify: FastifyInstance,
  sessions: SessionService,
  deps: AdminDeps,
): void {
  fastify.get('/admin/login', async (request, reply) => {
    const next = safeNext(text((request.query as Record<string, unknown>).next));
    if (request.user) return reply.redirect(next ?? '/admin', 303);
    return sendLoginPage(request, reply, 200, { next });
  });

  fastify.post(
    '/admin/login',
    { preValidation: verifySameOrigin, bodyLimit: PUBLIC_BODY_LIMIT },
    async (request, reply) => {
      const body = request.body;
      const next = safeNext(field(body, 'next'));
      const username = text(field(body, 'username')).trim();
      const loginToken = readCookie(request, LOGIN_COOKIE);
      if (!isToken(loginToken) || !safeEqual(field(body, '_csrf'), loginToken)) {
        return sendLoginPage(request, reply, 403, { next, username, error: '页面已过期，请重新登录。' });
      }
      const result = await sessions.login(
        username,
        text(field(body, 'password')),
        request.ip,
        readCookie(request, SESSION_COOKIE),
      );
      if (!result.ok && result.reason === 'throttled') {
        void reply.header('retry-after', String(result.retryAfterSec));
        return sendLoginPage(request, reply, 429, {
          next,
          username,
          error: throttledMessage(deps.clock.now(), result.retryAfterSec, deps.config.timeZone),
        });
      }
      if (!result.ok)
        return sendLoginPage(request, reply, 401, { next, username, error: '用户名或密码错误' });
      setSessionCookie(reply, result.token);
      clearLoginCookie(reply);
      return reply.redirect(next ?? '/admin', 303);
    },
  );

  fastify.post('/admin/logout', { bodyLimit: PUBLIC_BODY_LIMIT }, async (request, reply) => {
    if (request.user) {
      if (!isSameOrigin(request)) return refuse(request, reply, crossOrigin(), '跨站请求已被拒绝。');
      if (!safeEqual(field(request.body, '_csrf'), request.csrfToken)) {
        return refuse(request, reply, badCsrf(), '页面已失效，请刷新后重试。');
      }
      await sessions.logout(readCookie(request, SESSION_COOKIE));
    }
    clearSessionCookie(reply);
    return reply.redirect('/admin/login', 303);
  });
}
