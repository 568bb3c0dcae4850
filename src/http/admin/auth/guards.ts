import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify';
import type { Role } from '../../../db/schema.js';
import type { SessionUser } from '../../../domain/admin/session.service.js';
import { type AppError, badCsrf, crossOrigin, forbidden, unauthenticated } from '../../../errors.js';
import { errorPage, isApiUrl, sendError } from '../errors.js';
import { markExpiredForm } from './resume.js';

/*
 * Who may pass: the role guards, CSRF and same-origin checks of the management platform (see
 * index.ts for the whole scheme).
 */

export type { SessionUser };

/** Bodies of the routes anyone may call: a user name, a password, two tokens and a path. */
export const PUBLIC_BODY_LIMIT = 16 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user under /admin; null without a live session. */
    user: SessionUser | null;
    /** The session's CSRF token; null without a live session. */
    csrfToken: string | null;
  }
}

export const ALL_ROLES: readonly Role[] = ['admin', 'operator', 'cinema'];
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** The guards `requireRole` made; `hoistRoleGuards` runs them before the body is read. */
const roleGuards = new WeakSet<object>();

// ---- checks

/** Constant-time equality of two strings of any length. */
export function safeEqual(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** False when the browser says the request comes from another site. */
export function isSameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return request.headers['sec-fetch-site'] !== 'cross-site';
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.origin === 'null') return false;
  const host = request.host.toLowerCase();
  return url.host === host || `${url.hostname}:${DEFAULT_PORT[url.protocol] ?? ''}` === host;
}

export function field(body: unknown, name: string): unknown {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, name)) return undefined;
  return (body as Record<string, unknown>)[name];
}

/**
 * A same-site path under /admin to go to after signing in, or undefined. Resolved against a
 * dummy origin so that `//host`, `/\host`, `/admin/../x` and the like cannot leave /admin.
 */
export function safeNext(next: unknown): string | undefined {
  if (typeof next !== 'string' || next.length > 2000 || /[\p{Cc}\\]/u.test(next)) return undefined;
  if (!next.startsWith('/')) return undefined;
  let url: URL;
  try {
    url = new URL(next, 'http://admin.invalid');
  } catch {
    return undefined;
  }
  if (url.origin !== 'http://admin.invalid') return undefined;
  if (!(url.pathname === '/admin' || url.pathname.startsWith('/admin/'))) return undefined;
  if (url.pathname === '/admin/login' || url.pathname === '/admin/logout') return undefined;
  return url.pathname + url.search;
}

/** The page a form was sent from (same host only), as a path under /admin to go back to. */
export function refererPath(request: FastifyRequest): string | undefined {
  const ref = request.headers.referer;
  if (typeof ref !== 'string' || ref.length > 2000) return undefined;
  try {
    const url = new URL(ref);
    if (url.host !== new URL(`${url.protocol}//${request.headers.host ?? ''}`).host) return undefined;
    return safeNext(url.pathname + url.search);
  } catch {
    return undefined;
  }
}

export function refuse(request: FastifyRequest, reply: FastifyReply, err: AppError, pageMessage?: string) {
  if (isApiUrl(request.url)) return sendError(request, reply, err);
  return reply.code(err.status).type('text/html; charset=utf-8').send(errorPage(err.status, pageMessage));
}

/**
 * Lets the request through only for a signed-in user of one of `roles` (any role when none is
 * given). Without a session: 401 JSON under /admin/api, else 303 to the login page with `next`.
 * With another role: 403 (JSON, or a 「无权访问」 page).
 */
export function requireRole(...roles: Role[]): preHandlerHookHandler {
  const allowed = roles.length ? roles : ALL_ROLES;
  const guard: preHandlerHookHandler = (request, reply, done) => {
    const user = request.user;
    if (!user) {
      if (isApiUrl(request.url)) {
        sendError(request, reply, unauthenticated());
        return;
      }
      // A form sent after the session expired: the sign-in page keeps what was typed (resume.ts).
      if (isSameOrigin(request) && markExpiredForm(request)) {
        done();
        return;
      }
      const next = request.method === 'GET' ? safeNext(request.url) : undefined;
      void reply.redirect(next ? `/admin/login?next=${encodeURIComponent(next)}` : '/admin/login', 303);
      return;
    }
    if (!allowed.includes(user.role)) {
      void refuse(
        request,
        reply,
        forbidden(`role ${user.role} may not use ${request.method} ${request.routeOptions.url ?? ''}`),
      );
      return;
    }
    done();
  };
  roleGuards.add(guard);
  return guard;
}

type RouteHooks = RouteOptions['onRequest'];

function hookList(hooks: unknown): unknown[] {
  if (hooks === undefined || hooks === null) return [];
  return Array.isArray(hooks) ? (hooks as unknown[]) : [hooks];
}

/**
 * Moves the role guards a route lists among its preValidation or preHandler hooks to the front of
 * its onRequest hooks (after the scope's session hook), so that Fastify checks who is asking
 * before it reads the body: a stranger's 5 MiB multipart upload is refused unread. Installed
 * as an onRoute hook; routes keep declaring their guards where they always have.
 */
export function hoistRoleGuards(route: RouteOptions): void {
  const hoisted: unknown[] = [];
  for (const phase of ['preValidation', 'preHandler'] as const) {
    const hooks = hookList(route[phase]);
    if (!hooks.some((h) => roleGuards.has(h as object))) continue;
    hoisted.push(...hooks.filter((h) => roleGuards.has(h as object)));
    const rest = hooks.filter((h) => !roleGuards.has(h as object));
    (route as unknown as Record<string, unknown>)[phase] = rest.length ? rest : undefined;
  }
  if (hoisted.length) route.onRequest = [...hoisted, ...hookList(route.onRequest)] as RouteHooks;
}

/** Refuses state-changing requests that another site's page could have made. */
export const verifySameOrigin: preHandlerHookHandler = (request, reply, done) => {
  if (UNSAFE_METHODS.has(request.method) && !isSameOrigin(request)) {
    void refuse(request, reply, crossOrigin(), '跨站请求已被拒绝。');
    return;
  }
  done();
};

/**
 * For POST/PUT/PATCH/DELETE: the session's CSRF token must come in `x-csrf-token` or the form
 * field `_csrf`, and the Origin (when present) must be this host; else 403.
 */
export const verifyCsrf: preHandlerHookHandler = (request, reply, done) => {
  if (!UNSAFE_METHODS.has(request.method)) return done();
  if (!isSameOrigin(request)) {
    void refuse(request, reply, crossOrigin(), '跨站请求已被拒绝。');
    return;
  }
  const header = request.headers['x-csrf-token'];
  const given = typeof header === 'string' ? header : field(request.body, '_csrf');
  if (!request.csrfToken || !safeEqual(given, request.csrfToken)) {
    void refuse(request, reply, badCsrf(), '页面已失效，请刷新后重试。');
    return;
  }
  done();
};
