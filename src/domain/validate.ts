import type { Db } from '../db/database.js';
import { alreadyExists, AppError, invalid } from '../errors.js';
import { parseYuan } from './money.js';

/** Checks of operator input shared by the services; each refusal names its field and rule. */

// Printable text only: the partner API renders these into XML, where control characters are illegal.
export const CONTROL = /[\p{Cc}\p{Cs}\uFFFE\uFFFF]/u;

/** Trimmed text of `min`–`max` characters without control characters. */
export function text(field: string, value: unknown, min: number, max: number): string {
  if (typeof value !== 'string') throw required(field);
  const v = value.trim();
  const len = [...v].length;
  if (len < min || len > max || CONTROL.test(v)) {
    throw invalid(field, `must be ${min}-${max} printable characters`, 'field.text', { min, max });
  }
  return v;
}

export const required = (field: string) => invalid(field, 'is required', 'field.required');

/** A rule of `pattern`: the English sentence and the catalogue's id of it. */
export interface Rule {
  re: RegExp;
  rule: string;
  id?: string;
}

export const CITY_ID: Rule = { re: /^[0-9]{3}$/, rule: 'must be 3 digits, e.g. 001', id: 'field.digits3' };
/** Ids of cinemas, kinds, regions. */
export const ID: Rule = {
  re: /^[A-Za-z0-9_-]{1,32}$/,
  rule: 'must be 1-32 letters, digits, _ or -',
  id: 'field.id',
};

export function pattern(field: string, value: unknown, { re, rule, id }: Rule): string {
  if (typeof value !== 'string' || !re.test(value)) throw invalid(field, rule, id);
  return value;
}

export function integer(field: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' && /^-?[0-9]{1,10}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw invalid(field, `must be an integer from ${min} to ${max}`, 'field.integer', { min, max });
  }
  return n;
}

/** One of `options`. */
export function oneOf<T extends string>(field: string, value: unknown, options: readonly T[]): T {
  if (!options.includes(value as T)) throw mustBeOneOf(field, options);
  return value as T;
}

export const mustBeOneOf = (field: string, options: readonly string[]) =>
  invalid(field, `must be one of ${options.join(', ')}`, 'field.one_of', { options: options.join(', ') });

/** A price in yuan ("35", "35.5", "35.00") to fen; zero is refused. */
export function yuanToFen(field: string, value: unknown): number {
  const fen = typeof value === 'string' ? parseYuan(value.trim()) : null;
  if (fen === null || fen === 0) {
    throw invalid(field, 'must be an amount in yuan greater than 0, e.g. 35.00', 'field.yuan');
  }
  return fen;
}

/** Maps a unique-key violation raised by `fn` to "`what` `id` already exists". */
export async function uniquely<T>(db: Db, what: string, id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (db.isUniqueViolation(err)) throw alreadyExists(what, id);
    throw err;
  }
}

/** The checked values of a form's input and every refusal met on the way (none: all values valid). */
export interface Checked<T> {
  values: T;
  refusals: AppError[];
}

/**
 * Runs every check, in order, instead of stopping at the first refusal: a form names every
 * invalid field at once. A refused check leaves its value undefined, so use `values` only when
 * `refusals` is empty (see `valid`).
 */
export function checkEach<T extends Record<string, () => unknown>>(
  checks: T,
): Checked<{ [K in keyof T]: ReturnType<T[K]> }> {
  const values: Record<string, unknown> = {};
  const refusals: AppError[] = [];
  for (const [key, check] of Object.entries(checks)) {
    try {
      values[key] = check();
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      refusals.push(err);
    }
  }
  return { values: values as { [K in keyof T]: ReturnType<T[K]> }, refusals };
}

/** The checked values, or the first refusal thrown (what the JSON API and the CLI answer with). */
export function valid<T>(checked: Checked<T>): T {
  const [first] = checked.refusals;
  if (first) throw first;
  return checked.values;
}

/** The values given (an edit sets only the columns it names). */
export function given<T extends object>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
