import { createHash, timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  preHandlerHookHandler,
  RouteOptions,
} from 'fastify';
import type { Role } from '../../db/schema.js';
import { formatYmdHis } from '../../domain/time.js';
import {
  isToken,
  type LiveSession,
  LOGIN_WINDOW_MS,
  newToken,
  SESSION_TTL_MS,
  type SessionUser,
  SessionService,
} from '../../domain/admin/session.service.js';
import { apiRoute, registerApiRoutes } from './api/route.js';
import { ErrorSchema, SessionInfoSchema } from './api/schemas.js';
import { installBodyParsers } from './body.js';
import type { AdminDeps } from './deps.js';
import {
  AdminHttpError,
  badCsrf,
  crossOrigin,
  errorPage,
  escapeText,
  forbidden,
  isApiUrl,
  sendError,
  unauthenticated,
} from './errors.js';

/*
 * Sessions of the management platform.
 *
 * - Cookie `mt_session`: 32 random bytes (base64url); the database keeps only its SHA-256, so a
 *   copy of the sessions table signs no one in. HttpOnly; SameSite=Strict; Path=/admin; Secure
 *   when the request came over https (behind a proxy of MOVTICKET_TRUST_PROXY, as it says).
 * - Lifetime: 12 h absolute from sign-in (Max-Age and `expires_at` agree); activity does not
 *   extend it. Disabling a user or resetting their password ends their sessions.
 * - Every sign-in makes a new session id and deletes the session the browser presented, so a
 *   planted cookie never becomes a signed-in one (no fixation).
 * - CSRF: each session has its own random token (`request.csrfToken`). State-changing requests
 *   (POST/PUT/PATCH/DELETE) must carry it in `x-csrf-token` (API) or the form field `_csrf`
 *   (pages, urlencoded or multipart); compared in constant time. Requests whose Origin is present
 *   and names another host, or that the browser marks Sec-Fetch-Site: cross-site, are refused.
 * - The login form, before any session exists, uses a double-submit token: GET /admin/login sets
 *   cookie `mt_login` (HttpOnly, SameSite=Strict, Path=/admin/login, 1 h) and puts the same value
 *   in the hidden `_csrf` field; POST /admin/login requires both to match.
 * - Throttling (session.service.ts), all within a sliding 15-minute window:
 *   - a user name from one client address: 5 failed attempts, then that name is locked FOR THAT
 *     ADDRESS until the oldest counted failure leaves the window (`admin` included). Someone
 *     guessing from elsewhere locks only their own address out, never the real user's;
 *   - a client address: 20 failed attempts whatever the names, then the address is locked;
 *   - a user name from all addresses together: after 30 failures the name is "under attack" and
 *     each address gets 1 judged attempt at it instead of 5. This only slows a guesser with many
 *     addresses: an address that has not failed still gets its attempt, so the owner can sign in.
 *   A success clears the name's failures (globally and from that address); the addresses that
 *   failed stay locked. Each attempt is recorded as a failure BEFORE the password is checked, in
 *   the transaction that counts the earlier ones under a per-address lock row, so parallel
 *   requests and several instances sharing the database never get more attempts judged than
 *   these limits. Refused: 429 with Retry-After (API), or the login page saying in Chinese when
 *   to retry. An unknown name and a wrong password get the same answer in the same time.
 *   Attempts older than the window are pruned after each successful sign-in and by the sweeper.
 * - The client address is the socket peer, or what the proxies listed in MOVTICKET_TRUST_PROXY
 *   (addresses/CIDRs only; never "trust everyone") say it was.
 * - Bodies are read only after the role check: every guard made by `requireRole` is moved to
 *   the route's onRequest hooks when the route is added (see `hoistRoleGuards`), so a stranger's
 *   upload is refused before a byte of it is parsed. CSRF checks, which need the form's `_csrf`
 *   field, stay after parsing. The public POST routes (sign-in, sign-out) take 16 KiB at most.
 */

export type { SessionUser };

export const SESSION_COOKIE = 'mt_session';
export const LOGIN_COOKIE = 'mt_login';
const LOGIN_COOKIE_MAX_AGE_SEC = 3600;
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

const ALL_ROLES: readonly Role[] = ['admin', 'operator', 'cinema'];
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const liveSessions = new WeakMap<FastifyRequest, LiveSession>();
/** The guards `requireRole` made; `hoistRoleGuards` runs them before the body is read. */
const roleGuards = new WeakSet<object>();

// ---- cookies (no cookie plugin is installed)

/** Cookie name → first value; values are kept as sent. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name && !out.has(name)) out.set(name, value);
  }
  return out;
}

function cookie(request: FastifyRequest, name: string, value: string, path: string, maxAgeSec: number) {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${name}=${value}; Path=${path}; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict${secure}`;
}

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, token: string): void {
  void reply.header('set-cookie', cookie(request, SESSION_COOKIE, token, '/admin', SESSION_TTL_MS / 1000));
}

function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('set-cookie', cookie(request, SESSION_COOKIE, '', '/admin', 0));
}

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

function field(body: unknown, name: string): unknown {
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

function refuse(request: FastifyRequest, reply: FastifyReply, err: AdminHttpError, pageMessage?: string) {
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

// ---- the login page

interface LoginView {
  csrf: string;
  next?: string;
  username?: string;
  error?: string;
}

function loginPage(v: LoginView): string {
  const error = v.error ? `<p class="error" role="alert">${escapeText(v.error)}</p>` : '';
  const next = v.next ? `<input type="hidden" name="next" value="${escapeText(v.next)}">` : '';
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 - 电影票管理平台</title>
<style>
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f4f5f7;color:#222;margin:0}
main{max-width:22rem;margin:6rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.1)}
h1{font-size:1.3rem;margin:0 0 1.5rem}label{display:block;margin:0 0 1rem}
input[type=text],input[type=password]{display:block;width:100%;box-sizing:border-box;margin-top:.3rem;padding:.5rem;font-size:1rem;border:1px solid #bbb;border-radius:4px}
button{width:100%;padding:.6rem;font-size:1rem;background:#1a56db;color:#fff;border:0;border-radius:4px;cursor:pointer}
.error{color:#b91c1c;background:#fef2f2;padding:.5rem;border-radius:4px}
</style></head>
<body><main>
<h1>电影票管理平台</h1>
${error}
<form method="post" action="/admin/login">
<input type="hidden" name="_csrf" value="${escapeText(v.csrf)}">${next}
<label>用户名<input type="text" name="username" value="${escapeText(v.username ?? '')}" autocomplete="username" required maxlength="64" autofocus></label>
<label>密码<input type="password" name="password" autocomplete="current-password" required maxlength="256"></label>
<button type="submit">登录</button>
</form>
</main></body></html>`;
}

function sendLoginPage(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  view: Omit<LoginView, 'csrf'>,
): FastifyReply {
  const existing = parseCookies(request.headers.cookie).get(LOGIN_COOKIE);
  const csrf = isToken(existing) ? existing : newToken();
  void reply.header(
    'set-cookie',
    cookie(request, LOGIN_COOKIE, csrf, '/admin/login', LOGIN_COOKIE_MAX_AGE_SEC),
  );
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(loginPage({ ...view, csrf }));
}

const text = (v: unknown) => (typeof v === 'string' ? v : '');

/** 「登录失败次数过多，请于 14:35 后再试（约 12 分钟）。」 in the platform's time zone. */
export function throttledMessage(now: number, retryAfterSec: number, timeZone: string): string {
  // Rounded up to the minute shown, so that trying at that minute works.
  const at = Math.ceil((now + retryAfterSec * 1000) / 60_000) * 60_000;
  const hhmm = formatYmdHis(at, timeZone).slice(8, 12);
  const minutes = Math.max(1, Math.ceil(retryAfterSec / 60));
  return `登录失败次数过多，请于 ${hhmm.slice(0, 2)}:${hhmm.slice(2)} 后再试（约 ${minutes} 分钟）。`;
}

// ---- registration

/**
 * Resolves the session of every request in this scope (`request.user`, `request.csrfToken`),
 * and serves the login/logout pages and the JSON session endpoints.
 */
export async function registerAdminAuth(fastify: FastifyInstance, deps: AdminDeps): Promise<void> {
  const sessions = new SessionService(deps.db, deps.clock, deps.users);
  fastify.addHook('onRoute', hoistRoleGuards);

  fastify.decorateRequest('user', null);
  fastify.decorateRequest('csrfToken', null);

  fastify.addHook('onRequest', async (request, reply) => {
    void reply.headers({
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
    });
    const token = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
    if (token === undefined) return;
    const session = await sessions.resolve(token);
    if (!session) return;
    request.user = session.user;
    request.csrfToken = session.csrfToken;
    liveSessions.set(request, session);
  });

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
      const cookies = parseCookies(request.headers.cookie);
      const loginToken = cookies.get(LOGIN_COOKIE);
      if (!isToken(loginToken) || !safeEqual(field(body, '_csrf'), loginToken)) {
        return sendLoginPage(request, reply, 403, { next, username, error: '页面已过期，请重新登录。' });
      }
      const result = await sessions.login(
        username,
        text(field(body, 'password')),
        request.ip,
        cookies.get(SESSION_COOKIE),
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
      setSessionCookie(request, reply, result.token);
      void reply.header('set-cookie', cookie(request, LOGIN_COOKIE, '', '/admin/login', 0));
      return reply.redirect(next ?? '/admin', 303);
    },
  );

  fastify.post('/admin/logout', { bodyLimit: PUBLIC_BODY_LIMIT }, async (request, reply) => {
    if (request.user) {
      if (!isSameOrigin(request)) return refuse(request, reply, crossOrigin(), '跨站请求已被拒绝。');
      if (!safeEqual(field(request.body, '_csrf'), request.csrfToken)) {
        return refuse(request, reply, badCsrf(), '页面已失效，请刷新后重试。');
      }
      await sessions.logout(parseCookies(request.headers.cookie).get(SESSION_COOKIE));
    }
    clearSessionCookie(request, reply);
    return reply.redirect('/admin/login', 303);
  });

  // The JSON endpoints take JSON only: a cross-site form cannot sign anyone in.
  await fastify.register(async (api) => {
    installBodyParsers(api, { forms: false, jsonLimit: PUBLIC_BODY_LIMIT });
    registerApiRoutes(api, sessionRoutes(sessions));
  });
}

const Credentials = Type.Object(
  {
    username: Type.String({ maxLength: 256 }),
    password: Type.String({ maxLength: 1024 }),
  },
  { additionalProperties: false },
);

function sessionRoutes(sessions: SessionService) {
  const info = (s: LiveSession) => ({ user: s.user, csrfToken: s.csrfToken, expiresAt: s.expiresAt });
  return [
    apiRoute({
      method: 'POST',
      url: '/admin/api/session',
      tag: 'session',
      summary: 'Sign in',
      description:
        'Sets the `mt_session` cookie and returns the CSRF token to send as `x-csrf-token` on every ' +
        `state-changing request. Throttled (429 with Retry-After) for ${LOGIN_WINDOW_MS / 60_000} minutes after ` +
        '5 failures at a name from one address (1 once the name has 30 failures from all addresses) or 20 from one address.',
      roles: 'public',
      body: Credentials,
      response: { 200: SessionInfoSchema, 401: ErrorSchema, 429: ErrorSchema },
      handler: async ({ request, reply, body }) => {
        const previous = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
        const result = await sessions.login(body.username, body.password, request.ip, previous);
        if (!result.ok && result.reason === 'throttled') {
          throw new AdminHttpError(429, 'rate_limited', 'too many failed sign-ins; try again later', {
            headers: { 'retry-after': String(result.retryAfterSec) },
          });
        }
        if (!result.ok) throw new AdminHttpError(401, 'invalid_credentials', 'invalid username or password');
        setSessionCookie(request, reply, result.token);
        return info(result.session);
      },
    }),
    apiRoute({
      method: 'GET',
      url: '/admin/api/session',
      tag: 'session',
      summary: 'The signed-in user and the CSRF token',
      roles: ALL_ROLES,
      response: { 200: SessionInfoSchema, 401: ErrorSchema },
      handler: async ({ request }) => info(liveSessions.get(request)!),
    }),
    apiRoute({
      method: 'DELETE',
      url: '/admin/api/session',
      tag: 'session',
      summary: 'Sign out',
      roles: ALL_ROLES,
      response: { 204: Type.Null(), 401: ErrorSchema, 403: ErrorSchema },
      handler: async ({ request, reply }) => {
        await sessions.logout(parseCookies(request.headers.cookie).get(SESSION_COOKIE));
        clearSessionCookie(request, reply);
      },
    }),
  ];
}
