/** Wall-clock formatting and parsing of the contract's `YmdHis` timestamps in the platform time zone. */

const partsFormatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = partsFormatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partsFormatters.set(tz, f);
  }
  return f;
}

/** Throws RangeError for an unknown IANA zone name. */
export function assertTimeZone(tz: string): void {
  formatterFor(tz);
}

interface WallTime {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

function wallTime(ms: number, tz: string): WallTime {
  const out: Record<string, number> = {};
  for (const p of formatterFor(tz).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return { y: out.year!, mo: out.month!, d: out.day!, h: out.hour!, mi: out.minute!, s: out.second! };
}

const offsets = new Map<string, number>();

/** Offset of the zone from UTC at the given instant, in ms (zones change offset on whole quarter hours). */
function offsetAt(ms: number, tz: string): number {
  const key = `${tz}|${Math.floor(ms / 900_000)}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    const w = wallTime(ms, tz);
    offset = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(ms / 1000) * 1000;
    if (offsets.size > 10_000) offsets.clear();
    offsets.set(key, offset);
  }
  return offset;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `YmdHis` (14 digits) for an instant, in the zone. */
export function formatYmdHis(ms: number, tz: string): string {
  const d = new Date(ms + offsetAt(ms, tz));
  return (
    pad(d.getUTCFullYear(), 4) +
    pad(d.getUTCMonth() + 1) +
    pad(d.getUTCDate()) +
    pad(d.getUTCHours()) +
    pad(d.getUTCMinutes()) +
    pad(d.getUTCSeconds())
  );
}

/** Formats an optional instant; absent values are empty strings on the wire. */
export function formatOptional(ms: number | null | undefined, tz: string): string {
  return ms == null ? '' : formatYmdHis(ms, tz);
}

/** Start of the calendar day containing `ms`, in the zone. */
export function startOfDay(ms: number, tz: string): number {
  const w = wallTime(ms, tz);
  return zonedToEpoch({ ...w, h: 0, mi: 0, s: 0 }, tz);
}

function zonedToEpoch(w: WallTime, tz: string): number {
  const asUtc = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  let guess = asUtc - offsetAt(asUtc, tz);
  const second = asUtc - offsetAt(guess, tz);
  if (second !== guess) guess = second;
  return guess;
}

/**
 * Parses `YmdHis` (14 digits) or `YmdHis` + hundredths (16 digits) in the zone.
 * Returns null when the text is not a real calendar time.
 */
export function parseTimestamp(text: string, tz: string): number | null {
  if (!/^[0-9]{14}([0-9]{2})?$/.test(text)) return null;
  const w: WallTime = {
    y: Number(text.slice(0, 4)),
    mo: Number(text.slice(4, 6)),
    d: Number(text.slice(6, 8)),
    h: Number(text.slice(8, 10)),
    mi: Number(text.slice(10, 12)),
    s: Number(text.slice(12, 14)),
  };
  const hundredths = text.length === 16 ? Number(text.slice(14, 16)) : 0;
  if (w.mo < 1 || w.mo > 12 || w.d < 1 || w.h > 23 || w.mi > 59 || w.s > 59) return null;
  const check = new Date(Date.UTC(w.y, w.mo - 1, w.d));
  if (check.getUTCMonth() !== w.mo - 1 || check.getUTCDate() !== w.d) return null;
  return zonedToEpoch(w, tz) + hundredths * 10;
}
