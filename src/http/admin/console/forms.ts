import type { FastifyRequest } from 'fastify';

/** Reading form bodies and query strings: every value is a string, a list of them, or absent. */

export type Fields = Readonly<Record<string, unknown>>;

const asFields = (v: unknown): Fields => (v && typeof v === 'object' ? (v as Fields) : {});

export const bodyOf = (request: FastifyRequest): Fields => asFields(request.body);
export const queryOf = (request: FastifyRequest): Fields => asFields(request.query);

/** One text value ('' when absent or not text); a repeated field gives its last value. */
export function str(fields: Fields, name: string): string {
  const v = Object.hasOwn(fields, name) ? fields[name] : undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const texts = v.filter((x): x is string => typeof x === 'string');
    return texts.at(-1) ?? '';
  }
  return '';
}

/** Every text value of a repeated field (checkboxes, multi-selects). */
export function strs(fields: Fields, name: string): string[] {
  const v = Object.hasOwn(fields, name) ? fields[name] : undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/** A checkbox is on when it was sent at all. */
export const checked = (fields: Fields, name: string) => strs(fields, name).length > 0;

/** Splits a list typed one per line or comma-separated. */
export const splitList = (s: string) =>
  s
    .split(/[\s,，]+/)
    .map((x) => x.trim())
    .filter(Boolean);

/** A page number from the query, 1 or more. */
export function pageOf(fields: Fields): number {
  const n = Number(str(fields, 'page'));
  return Number.isInteger(n) && n >= 1 && n <= 1_000_000 ? n : 1;
}

/** A `YYYY-MM-DD` typed by the user, or '' (the services check the date itself). */
export const dayParam = (fields: Fields, name: string) => str(fields, name).trim().slice(0, 10);

/**
 * A whole number typed in a form, for a service that checks the range itself: '' gives
 * `fallback`, text that is not a number gives NaN (which the service refuses with its rule).
 */
export function intOf(text: string, fallback?: number): number | undefined {
  const v = text.trim();
  if (v === '') return fallback;
  return /^-?[0-9]{1,10}$/.test(v) ? Number(v) : NaN;
}

const escapeAttr = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * A page's forms filled with kept fields (after a sign-in that followed an expired session):
 * text inputs get the value, checkboxes and options whose value was sent are ticked, textareas
 * get their text. Hidden fields, passwords and the forms' tokens are left as the page drew them.
 */
export function fillForms(page: string, fields: Readonly<Record<string, readonly string[]>>): string {
  const has = (name: string) => Object.hasOwn(fields, name);
  let out = page.replace(/<input\b[^>]*>/g, (tag) => {
    const name = /\sname="([^"]*)"/.exec(tag)?.[1];
    const type = /\stype="([^"]*)"/.exec(tag)?.[1] ?? 'text';
    if (name === undefined || !has(name) || ['hidden', 'password', 'submit', 'button', 'file'].includes(type))
      return tag;
    if (type === 'checkbox' || type === 'radio') {
      const value = /\svalue="([^"]*)"/.exec(tag)?.[1] ?? 'on';
      const on = fields[name]!.some((v) => escapeAttr(v) === value);
      const bare = tag.replace(/\schecked(="[^"]*")?/, '');
      return on ? bare.replace(/\s*\/?>$/, ' checked$&') : bare;
    }
    const value = escapeAttr(fields[name]![0] ?? '');
    return /\svalue="[^"]*"/.test(tag)
      ? tag.replace(/\svalue="[^"]*"/, ` value="${value}"`)
      : tag.replace(/\s*\/?>$/, ` value="${value}"$&`);
  });
  out = out.replace(
    /(<textarea\b[^>]*\sname="([^"]*)"[^>]*>)[\s\S]*?(<\/textarea>)/g,
    (all, open: string, name: string, close: string) =>
      has(name) ? `${open}${escapeAttr(fields[name]![0] ?? '')}${close}` : all,
  );
  out = out.replace(
    /(<select\b[^>]*\sname="([^"]*)"[^>]*>)([\s\S]*?)(<\/select>)/g,
    (all, open: string, name: string, body: string, close: string) => {
      if (!has(name)) return all;
      const chosen = new Set(fields[name]!.map(escapeAttr));
      const options = body.replace(/<option\b[^>]*>/g, (opt) => {
        const bare = opt.replace(/\sselected(="[^"]*")?/, '');
        const value = /\svalue="([^"]*)"/.exec(bare)?.[1];
        return value !== undefined && chosen.has(value) ? bare.replace(/>$/, ' selected>') : bare;
      });
      return `${open}${options}${close}`;
    },
  );
  return out;
}
