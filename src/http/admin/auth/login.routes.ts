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
  refererPath,
  refuse,
  safeEqual,
  safeNext,
  verifySameOrigin,
} from './guards.js';
import { sendLoginPage, throttledMessage } from './login-page.js';
import { isExpiredForm, keepable, keptFromLogin, ResumeStore, setResumed } from './resume.js';

const text = (v: unknown) => (typeof v === 'string' ? v : '');

/** The sign-in page and form (GET/POST /admin/login) and the sign-out form (POST /admin/logout). */
export function registerLoginRoutes(
  fastify: FastifyInstance,
  sessions: SessionService,
  deps: AdminDeps,
): void {
  const resume = new ResumeStore(() => deps.clock.now());

  // A console form sent after the session expired (see requireRole): the sign-in page, keeping
  // the typed fields (never secrets) and the page the form was on.
  fastify.addHook('preValidation', async (request, reply) => {
    if (!isExpiredForm(request) || request.user) return;
    return sendLoginPage(request, reply, 401, {
      next: refererPath(request) ?? safeNext(request.url),
      notice: '会话已过期，请重新登录。登录后会回到刚才的表单，已填写的内容会保留（密码等敏感内容除外）。',
      keep: keepable(request.body),
    });
  });

  // The form page opened after such a sign-in takes the kept fields, once, for its user.
  fastify.addHook('preHandler', async (request) => {
    const token = (request.query as Record<string, unknown> | undefined)?.resumed;
    if (request.method !== 'GET' || typeof token !== 'string' || !request.user || token.length > 64) return;
    const fields = resume.take(token, request.user.username);
    if (fields) setResumed(request, fields);
  });

  fastify.get('/admin/login', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const next = safeNext(text(query.next));
    if (request.user) return reply.redirect(next ?? '/admin', 303);
    const notice = query.changed === '1' ? '密码已修改，请用新密码登录。' : undefined;
    return sendLoginPage(request, reply, 200, { next, notice });
  });

  fastify.post(
    '/admin/login',
    { preValidation: verifySameOrigin, bodyLimit: PUBLIC_BODY_LIMIT },
    async (request, reply) => {
      const body = request.body;
      const next = safeNext(field(body, 'next'));
      const username = text(field(body, 'username')).trim();
      const keep = keptFromLogin(body);
      const loginToken = readCookie(request, LOGIN_COOKIE);
      if (!isToken(loginToken) || !safeEqual(field(body, '_csrf'), loginToken)) {
        return sendLoginPage(request, reply, 403, {
          next,
          username,
          error: '页面已过期，请重新登录。',
          keep,
        });
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
          keep,
          error: throttledMessage(deps.clock.now(), result.retryAfterSec, deps.config.timeZone),
        });
      }
      if (!result.ok)
        return sendLoginPage(request, reply, 401, { next, username, error: '用户名或密码错误', keep });
      setSessionCookie(reply, result.token);
      clearLoginCookie(reply);
      // Back to the form whose session had expired, with what was typed (held server-side).
      if (next && Object.keys(keep).length) {
        const token = resume.put(result.session.user.username, keep);
        return reply.redirect(`${next}${next.includes('?') ? '&' : '?'}resumed=${token}`, 303);
      }
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
