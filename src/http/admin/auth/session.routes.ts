import { Type } from '@sinclair/typebox';
import {
  type LiveSession,
  LOGIN_WINDOW_MS,
  type SessionService,
} from '../../../domain/admin/session.service.js';
import { type ApiRoute, apiRoute } from '../api/route.js';
import { ErrorSchema, SessionInfoSchema } from '../api/schemas.js';
import { httpRefusal } from '../../../errors.js';
import { clearSessionCookie, readCookie, SESSION_COOKIE, setSessionCookie } from './cookies.js';
import { ALL_ROLES } from './guards.js';
import { liveSession } from './session-hook.js';

const Credentials = Type.Object(
  {
    username: Type.String({ maxLength: 256 }),
    password: Type.String({ maxLength: 1024 }),
  },
  { additionalProperties: false },
);

/** POST/GET/DELETE /admin/api/session: sign in, who am I, sign out (JSON only). */
export function sessionRoutes(sessions: SessionService): ApiRoute[] {
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
        const previous = readCookie(request, SESSION_COOKIE);
        const result = await sessions.login(body.username, body.password, request.ip, previous);
        if (!result.ok && result.reason === 'throttled') {
          throw httpRefusal('rate_limited', 'too many failed sign-ins; try again later', {
            headers: { 'retry-after': String(result.retryAfterSec) },
          });
        }
        if (!result.ok) throw httpRefusal('invalid_credentials', 'invalid username or password');
        setSessionCookie(reply, result.token);
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
      handler: async ({ request }) => info(liveSession(request)!),
    }),
    apiRoute({
      method: 'DELETE',
      url: '/admin/api/session',
      tag: 'session',
      summary: 'Sign out',
      roles: ALL_ROLES,
      response: { 204: Type.Null(), 401: ErrorSchema, 403: ErrorSchema },
      handler: async ({ request, reply }) => {
        await sessions.logout(readCookie(request, SESSION_COOKIE));
        clearSessionCookie(reply);
      },
    }),
  ];
}
