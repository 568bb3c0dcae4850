import type { FastifyInstance } from 'fastify';
import { SessionService } from '../../../domain/admin/session.service.js';
import { registerApiRoutes } from '../api/route.js';
import { installBodyParsers } from '../body.js';
import type { AdminDeps } from '../deps.js';
import { installCookies } from './cookies.js';
import { hoistRoleGuards, PUBLIC_BODY_LIMIT } from './guards.js';
import { registerLoginRoutes } from './login.routes.js';
import { installSessionHook } from './session-hook.js';
import { sessionRoutes } from './session.routes.js';

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
 *   the route's onRequest hooks when the route is added (see `hoistRoleGuards` in guards.ts), so a stranger's
 *   upload is refused before a byte of it is parsed. CSRF checks, which need the form's `_csrf`
 *   field, stay after parsing. The public POST routes (sign-in, sign-out) take 16 KiB at most.
 */

/**
 * Resolves the session of every request in this scope (`request.user`, `request.csrfToken`),
 * and serves the login/logout pages and the JSON session endpoints.
 */
export async function registerAdminAuth(fastify: FastifyInstance, deps: AdminDeps): Promise<void> {
  const sessions = new SessionService(deps.db, deps.clock, deps.users);
  fastify.addHook('onRoute', hoistRoleGuards);
  await installCookies(fastify);
  installSessionHook(fastify, sessions);
  registerLoginRoutes(fastify, sessions, deps);

  // The JSON endpoints take JSON only: a cross-site form cannot sign anyone in.
  await fastify.register(async (api) => {
    installBodyParsers(api, { forms: false, jsonLimit: PUBLIC_BODY_LIMIT });
    registerApiRoutes(api, sessionRoutes(sessions));
  });
}
