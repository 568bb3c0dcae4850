import { formatYuan } from '../domain/money.js';
import { formatDateTime } from '../domain/dates.js';

/** Plain-text and JSON output shared by every command. */

const WIDE =
  /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{20000}-\u{3fffd}]/u;

/** Terminal columns a string takes: CJK characters take two. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += WIDE.test(ch) ? 2 : 1;
  return w;
}

/** Columns aligned under their headers. */
export function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) =>
    Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - displayWidth(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** A table, or `(none)` when there are no rows. */
export function tableOrNone(headers: string[], rows: string[][]): string[] {
  return rows.length === 0 ? ['  (none)'] : table(headers, rows);
}

/** `name  value` lines, the values aligned. */
export function fields(pairs: [string, string][]): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

export const json = (v: unknown): string => JSON.stringify(v, null, 2);

/** `YYYY-MM-DD HH:MM:SS` in the zone; empty for no time. */
export function formatTime(ms: number | null, tz: string): string {
  return ms === null ? '' : formatDateTime(ms, tz);
}

const TIME_KEY = /(_at|_until|_deadline)$/;

/** For JSON output: fen as yuan strings (`*_fen` → `*_yuan`), instants as local date-times. */
export function presentJson(value: unknown, tz: string): unknown {
  if (Array.isArray(value)) return value.map((v) => presentJson(v, tz));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'number' && k.endsWith('_fen')) out[k.replace(/_fen$/, '_yuan')] = formatYuan(v);
    else if (typeof v === 'number' && TIME_KEY.test(k)) out[k] = formatTime(v, tz);
    else out[k] = presentJson(v, tz);
  }
  return out;
}

interface Output {
  out: (line: string) => void;
  config: { timeZone: string };
}

/** Prints a table, or `(none)` when there are no rows. */
export function printTable(ctx: Output, headers: string[], rows: string[][]): void {
  for (const line of tableOrNone(headers, rows)) ctx.out(line);
}

/** Prints `value` as JSON, with yuan and local date-times (see presentJson). */
export function printJson(ctx: Output, value: unknown): void {
  ctx.out(JSON.stringify(presentJson(value, ctx.config.timeZone), null, 2));
}
