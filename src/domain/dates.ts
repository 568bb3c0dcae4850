import { badInput } from '../errors.js';
import { formatYmdHis, parseTimestamp } from './time.js';

// Calendar days (`YYYY-MM-DD`) in the platform time zone, shared by the services, pages and CLI.

const DAY_RE = /^((?:19|20|21)[0-9]{2})-([0-9]{2})-([0-9]{2})$/;
const MAX_RANGE_DAYS = 366;

/** Start of the day in the zone, or null when the text is not a real `YYYY-MM-DD` date. */
export function dayStart(day: string, tz: string): number | null {
  const m = DAY_RE.exec(day);
  if (!m) return null;
  return parseTimestamp(`${m[1]}${m[2]}${m[3]}000000`, tz);
}

/** Calendar arithmetic on `YYYY-MM-DD` (independent of zone and DST). */
export function addDays(day: string, n: number): string {
  const [y, mo, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y!, mo! - 1, d! + n)).toISOString().slice(0, 10);
}

/** The `YYYY-MM-DD` an instant falls on in the zone. */
export function dayOf(ms: number, tz: string): string {
  const s = formatYmdHis(ms, tz);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
}

/** `YYYY-MM-DD HH:MM:SS` in the zone (what spreadsheets read as a date and time). */
export function formatDateTime(ms: number, tz: string): string {
  const s = formatYmdHis(ms, tz);
  return `${dayOf(ms, tz)} ${s.slice(8, 10)}:${s.slice(10, 12)}:${s.slice(12, 14)}`;
}

/** Start of the day; throws `invalid` when the text is not a date. */
export function requireDay(day: string, tz: string): number {
  const start = typeof day === 'string' ? dayStart(day, tz) : null;
  if (start === null) {
    const text = String(day).slice(0, 40);
    throw badInput(`invalid date ${text}: expected YYYY-MM-DD`, 'date.invalid', { day: text });
  }
  return start;
}

/** The days from..to (inclusive) and their n+1 boundaries (a day is not always 24 h long). */
export function dayRange(fromDay: string, toDay: string, tz: string): { days: string[]; bounds: number[] } {
  const from = requireDay(fromDay, tz);
  const to = requireDay(toDay, tz);
  if (to < from) {
    throw badInput(`the range ends (${toDay}) before it starts (${fromDay})`, 'date.range_reversed', {
      from: fromDay,
      to: toDay,
    });
  }
  const days: string[] = [];
  const bounds: number[] = [];
  for (let day = fromDay; day <= toDay; day = addDays(day, 1)) {
    if (days.length >= MAX_RANGE_DAYS) {
      throw badInput(`a range may span at most ${MAX_RANGE_DAYS} days`, 'date.range_too_long', {
        max: MAX_RANGE_DAYS,
      });
    }
    days.push(day);
    bounds.push(dayStart(day, tz)!);
  }
  bounds.push(dayStart(addDays(toDay, 1), tz)!);
  return { days, bounds };
}
