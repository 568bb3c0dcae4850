import { expect } from 'vitest';
import { UserService } from '../../src/domain/admin/user.service.js';
import { newOnce } from './admin.js';
import type { TestApp } from './harness.js';

export const PASSWORD = 'console-pass-123';

export interface Res {
  status: number;
  body: string;
  /** The body with the whitespace between tags removed and runs of spaces made one. */
  flat: string;
  headers: Record<string, unknown>;
  location: string;
}

/** A browser of one user (console tests): keeps the session cookie and the page's CSRF token. */
export class Browser {
  cookie = '';
  csrf = '';
  constructor(private readonly t: TestApp) {}

  async get(url: string): Promise<Res> {
    const res = await this.t.app.fastify.inject({
      method: 'GET',
      url,
      headers: this.cookie ? { cookie: this.cookie } : {},
    });
    const token = /name="_csrf" value="([^"]+)"/.exec(res.body)?.[1];
    if (token) this.csrf = token;
    return wrap(res);
  }

  /**
   * Posts a form; `_csrf` is the session's unless given (null leaves it out), and `_once` a fresh
   * one-time token, as a form page just loaded would carry.
   */
  async post(
    url: string,
    fields: Record<string, string | string[]>,
    csrf?: string | null,
    headers: Record<string, string> = {},
  ): Promise<Res> {
    const params = new URLSearchParams();
    const token = csrf === undefined ? this.csrf : csrf;
    if (token !== null) params.append('_csrf', token);
    params.append('_once', newOnce());
    for (const [k, v] of Object.entries(fields)) for (const x of [v].flat()) params.append(k, x);
    const res = await this.t.app.fastify.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: this.cookie, ...headers },
      payload: params.toString(),
    });
    return wrap(res);
  }

  /** Posts `multipart/form-data` with one file part. */
  async upload(
    url: string,
    fields: Record<string, string>,
    file: { field: string; name: string; content: string },
  ): Promise<Res> {
    const boundary = '----console-test-boundary';
    const parts = Object.entries({ _csrf: this.csrf, _once: newOnce(), ...fields }).map(
      ([k, v]) => `--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`,
    );
    parts.push(
      `--${boundary}\r\ncontent-disposition: form-data; name="${file.field}"; filename="${file.name}"\r\n` +
        `content-type: text/csv\r\n\r\n${file.content}\r\n`,
    );
    const res = await this.t.app.fastify.inject({
      method: 'POST',
      url,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, cookie: this.cookie },
      payload: `${parts.join('')}--${boundary}--\r\n`,
    });
    return wrap(res);
  }

  /** Follows a 303 from a POST. */
  async follow(res: Res): Promise<Res> {
    expect(res.status, res.body.slice(0, 500)).toBe(303);
    return this.get(res.location);
  }

  async login(username: string): Promise<this> {
    const page = await this.t.app.fastify.inject({ method: 'GET', url: '/admin/login' });
    const loginCookie = String(page.headers['set-cookie']).split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const res = await this.t.app.fastify.inject({
      method: 'POST',
      url: '/admin/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
      payload: new URLSearchParams({ _csrf: csrf, username, password: PASSWORD }).toString(),
    });
    expect(res.statusCode).toBe(303);
    const cookies = [res.headers['set-cookie']].flat().map(String);
    this.cookie = cookies.find((c) => c.startsWith('mt_session='))!.split(';')[0]!;
    await this.get('/admin');
    return this;
  }
}

export function wrap(res: { statusCode: number; body: string; headers: Record<string, unknown> }): Res {
  return {
    status: res.statusCode,
    body: res.body,
    flat: res.body.replace(/>\s+</g, '><').replace(/\s+/g, ' '),
    headers: res.headers,
    location: String(res.headers.location ?? ''),
  };
}

/** The page's text with tags removed (to look for words a user reads). */
export const textOf = (body: string) => body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ');

/**
 * Creates the console tests' users, all with {@link PASSWORD}: ada (admin), otto (operator), cici
 * (cinema 1001), and any `extra` cinema users given as username → cinema id.
 */
export async function createUsers(t: TestApp, extra: Record<string, string> = {}): Promise<void> {
  const users = new UserService(t.db, t.clock);
  const root = { actor: 'cli:test', role: 'admin' as const };
  await users.create(root, { username: 'ada', password: PASSWORD, role: 'admin' });
  await users.create(root, { username: 'otto', password: PASSWORD, role: 'operator' });
  await users.create(root, { username: 'cici', password: PASSWORD, role: 'cinema', cinemaId: '1001' });
  for (const [username, cinemaId] of Object.entries(extra)) {
    await users.create(root, { username, password: PASSWORD, role: 'cinema', cinemaId });
  }
}

/** Creates the console tests' users and signs each in with a browser of their own. */
export async function signInUsers(
  t: TestApp,
): Promise<{ admin: Browser; operator: Browser; cinema: Browser }> {
  await createUsers(t);
  const [admin, operator, cinema] = await Promise.all([
    new Browser(t).login('ada'),
    new Browser(t).login('otto'),
    new Browser(t).login('cici'),
  ]);
  return { admin, operator, cinema };
}
