import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_TTL_MS } from '../../../domain/admin/session.service.js';

export const SESSION_COOKIE = 'mt_session';
export const LOGIN_COOKIE = 'mt_login';
const SESSION_PATH = '/admin';
const LOGIN_PATH = '/admin/login';
const LOGIN_COOKIE_MAX_AGE_SEC = 3600;

/**
 * Parses the Cookie header of every request in the scope into `request.cookies` (first value
 * of a name wins) and lets replies set cookies. Register before any hook that reads them.
 */
export async function installCookies(fastify: FastifyInstance): Promise<void> {
  await fastify.register(cookie);
}

/** A cookie the request carried, as sent. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  return request.cookies[name];
}

// Every cookie of the platform: HttpOnly, SameSite=Strict, Secure when the request came over https.
function setStrictCookie(
  reply: FastifyReply,
  name: string,
  value: string,
  path: string,
  maxAgeSec: number,
): void {
  void reply.setCookie(name, value, {
    path,
    maxAge: maxAgeSec,
    httpOnly: true,
    sameSite: 'strict',
    secure: 'auto',
  });
}

export function setSessionCookie(reply: FastifyReply, token: string): void {
  setStrictCookie(reply, SESSION_COOKIE, token, SESSION_PATH, SESSION_TTL_MS / 1000);
}

export function clearSessionCookie(reply: FastifyReply): void {
  setStrictCookie(reply, SESSION_COOKIE, '', SESSION_PATH, 0);
}

/** The login form's double-submit token, for GET /admin/login. */
export function setLoginCookie(reply: FastifyReply, token: string): void {
  setStrictCookie(reply, LOGIN_COOKIE, token, LOGIN_PATH, LOGIN_COOKIE_MAX_AGE_SEC);
}

export function clearLoginCookie(reply: FastifyReply): void {
  setStrictCookie(reply, LOGIN_COOKIE, '', LOGIN_PATH, 0);
}
