import { randomBytes } from 'node:crypto';
import type { Role } from '../../src/db/schema.js';
import { UserService } from '../../src/domain/admin/user.service.js';
import type { TestApp } from './harness.js';

export const PASSWORD = 'correct-horse-42';

/** Creates an account directly through the service (its password hashed at the test setup's low cost). */
export async function makeUser(
  t: TestApp,
  role: Role,
  opts: { username?: string; cinemaId?: string } = {},
): Promise<{ username: string; password: string }> {
  const username = opts.username ?? `${role}1`;
  await new UserService(t.db, t.clock).create(
    { actor: 'cli:test', role: 'admin' },
    { username, password: PASSWORD, role, cinemaId: opts.cinemaId ?? null },
  );
  return { username, password: PASSWORD };
}

export interface Session {
  /** `mt_session=…`, ready for a Cookie header. */
  cookie: string;
  csrf: string;
}

export interface AdminResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
  json<T = Record<string, unknown>>(): T;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One request to the admin API; the session's cookie and CSRF token are sent unless told otherwise. */
export async function adminCall(
  t: TestApp,
  method: Method,
  url: string,
  opts: {
    session?: Session;
    body?: unknown;
    headers?: Record<string, string>;
    /** `false`: no token; a string: that token. Default: the session's. */
    csrf?: string | false;
    ip?: string;
  } = {},
): Promise<AdminResponse> {
  const headers: Record<string, string> = {};
  if (opts.session) headers.cookie = opts.session.cookie;
  const csrf = opts.csrf === undefined ? opts.session?.csrf : opts.csrf;
  if (csrf) headers['x-csrf-token'] = csrf;
  const res = await t.app.fastify.inject({
    method,
    url,
    headers: { ...headers, ...opts.headers },
    ...(opts.body === undefined ? {} : { payload: opts.body as string }),
    ...(opts.ip ? { remoteAddress: opts.ip } : {}),
  });
  return {
    status: res.statusCode,
    body: res.body,
    headers: res.headers,
    json: <T>() => JSON.parse(res.body) as T,
  };
}

/** The Set-Cookie lines of a response. */
export function setCookies(res: { headers: AdminResponse['headers'] }): string[] {
  const h = res.headers['set-cookie'];
  return h === undefined ? [] : Array.isArray(h) ? h : [String(h)];
}

/** `name=value` of the cookie the response sets, or undefined. */
export function cookieSet(res: { headers: AdminResponse['headers'] }, name: string): string | undefined {
  return setCookies(res)
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0];
}

/** Signs in through the JSON API; fails the test unless it succeeds. */
export async function signIn(
  t: TestApp,
  user: { username: string; password: string },
  opts: { ip?: string } = {},
): Promise<Session> {
  const res = await adminCall(t, 'POST', '/admin/api/session', {
    body: { username: user.username, password: user.password },
    ip: opts.ip,
  });
  if (res.status !== 200) throw new Error(`sign-in of ${user.username} failed: ${res.status} ${res.body}`);
  const cookie = cookieSet(res, 'mt_session');
  if (!cookie) throw new Error('no session cookie');
  return { cookie, csrf: res.json<{ csrfToken: string }>().csrfToken };
}

/** A fresh one-time submission token, as every console form carries in `_once`. */
export const newOnce = (): string => randomBytes(16).toString('base64url');

/** The `_once` token of the (first) form on `page` that posts to `action`; fails when there is none. */
export function onceOf(page: string, action: string): string {
  const start = page.indexOf(`action="${action}"`);
  if (start < 0) throw new Error(`no form posting to ${action}`);
  const token = /name="_once" value="([^"]+)"/.exec(page.slice(start))?.[1];
  if (!token) throw new Error(`the form posting to ${action} has no _once field`);
  return token;
}

/**
 * Posts a console form (urlencoded) with the session's cookie and `_csrf`, and a `_once` token:
 * a fresh one unless given (`null` leaves it out), as if the form page had just been loaded.
 */
export async function postForm(
  t: TestApp,
  session: Session,
  url: string,
  fields: Record<string, string | readonly string[]>,
  opts: { once?: string | null } = {},
): Promise<AdminResponse> {
  const params = new URLSearchParams({ _csrf: session.csrf });
  const once = opts.once === undefined ? newOnce() : opts.once;
  if (once !== null) params.append('_once', once);
  for (const [k, v] of Object.entries(fields)) for (const x of [v].flat()) params.append(k, x);
  return adminCall(t, 'POST', url, {
    session,
    csrf: false,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: params.toString(),
  });
}
