import { randomBytes } from 'node:crypto';

/**
 * What a person had typed into a console form when their session expired. The expired POST
 * shows the sign-in page, which carries the fields back as hidden inputs (`keep.NAME`); after a
 * successful sign-in they are held here, server-side, under a random single-use token, and the
 * form page (`resume_to`) is opened with `?resumed=TOKEN` and fills them in. Secrets are never
 * kept: passwords, keys and the form's own tokens are dropped before the sign-in page is drawn,
 * so nothing secret reaches a URL, a hidden field or this store.
 *
 * The store is in memory, for 10 minutes: with several processes a resumed form can land on
 * another one, which then shows the empty form (the fields are lost, nothing else).
 */

export type KeptFields = Record<string, string[]>;

const TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;
const MAX_FIELDS = 200;
const MAX_TOTAL_CHARS = 200_000;

/** Field names never kept: secrets and the one-time tokens of the form. */
export const SECRET_FIELD = /password|passwd|md5key|secret|token|^_csrf$|^_once$|^key$|_key$/i;

/** The fields of a form body worth keeping (text only, no secrets, bounded). */
export function keepable(body: unknown): KeptFields {
  const out: KeptFields = {};
  if (!body || typeof body !== 'object') return out;
  let fields = 0;
  let chars = 0;
  for (const [name, v] of Object.entries(body as Record<string, unknown>)) {
    if (SECRET_FIELD.test(name) || name.startsWith('keep.') || name.length > 100) continue;
    const values = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
    if (!values.length) continue;
    const size = values.reduce((s, x) => s + x.length, 0);
    if (++fields > MAX_FIELDS || (chars += size) > MAX_TOTAL_CHARS) break;
    out[name] = values;
  }
  return out;
}

/** The `keep.NAME` fields of the sign-in form, back as the kept fields. */
export function keptFromLogin(body: unknown): KeptFields {
  const out: KeptFields = {};
  if (!body || typeof body !== 'object') return out;
  for (const [name, v] of Object.entries(body as Record<string, unknown>)) {
    if (!name.startsWith('keep.')) continue;
    const values = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
    const field = name.slice('keep.'.length);
    if (values.length && !SECRET_FIELD.test(field)) out[field] = values;
  }
  return keepable(out);
}

export class ResumeStore {
  private readonly entries = new Map<string, { username: string; fields: KeptFields; until: number }>();

  constructor(private readonly now: () => number) {}

  /** Holds the fields for `username`; the token to put in the form page's URL. */
  put(username: string, fields: KeptFields): string {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.until <= now) this.entries.delete(k);
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    const token = randomBytes(16).toString('base64url');
    this.entries.set(token, { username, fields, until: now + TTL_MS });
    return token;
  }

  /** The fields held under the token for this user, once. */
  take(token: string, username: string): KeptFields | undefined {
    const e = this.entries.get(token);
    if (!e || e.username !== username) return undefined;
    this.entries.delete(token);
    return e.until > this.now() ? e.fields : undefined;
  }
}

const expired = new WeakSet<object>();
const resumed = new WeakMap<object, KeptFields>();

/** A console form POSTed without a live session, small enough to read: its fields may be kept. */
export function markExpiredForm(request: {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}): boolean {
  const type = String(request.headers['content-type'] ?? '');
  const length = Number(request.headers['content-length'] ?? NaN);
  if (request.method !== 'POST' || !type.startsWith('application/x-www-form-urlencoded')) return false;
  if (!(length >= 0 && length <= MAX_FORM_BYTES)) return false;
  expired.add(request);
  return true;
}
export const isExpiredForm = (request: object) => expired.has(request);

/** A form body this large is not read for a stranger. */
export const MAX_FORM_BYTES = 64 * 1024;

export const setResumed = (request: object, fields: KeptFields) => resumed.set(request, fields);

/** The fields to fill into the page's form after a sign-in that followed an expired session. */
export const resumedFields = (request: object): KeptFields | undefined => resumed.get(request);
