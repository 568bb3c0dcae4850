import { createHash, randomInt } from 'node:crypto';

/** How a security config (`sec_id`) signs requests; see contract section 3. */
export type SignMode = 'basic' | 'full';

/** One request parameter, as sent on the wire. */
export interface SignField {
  name: string;
  value: string;
}

/** The six common parameters every interface takes, in contract order (`hashcode` follows them all). */
export const COMMON_PARAMS = ['partner_id', 'sec_id', 'bus_id', 'req_id', 'ver', 'timestamp'] as const;

/** The fields `basic` mode signs, in signing order. */
const BASIC_PARAMS = ['partner_id', 'bus_id', 'req_id', 'timestamp'] as const;

/** Parameters that are sent but never signed. */
const UNSIGNED_PARAMS = new Set(['format', 'hashcode']);

/**
 * Each interface's own parameters in table order (contract section 5), which is also
 * their signing order in `full` mode.
 */
export const INTERFACE_PARAMS = {
  cities: [],
  regionsByCity: ['city_id'],
  cinemasByRegion: ['region_id'],
  buyByCinema: ['cinema_id', 'count', 'order_no'],
  kinds: [],
  cinemasByKind: ['kind_id', 'city_id'],
  buyByKind: ['kind_id', 'count', 'order_no'],
  payByCard: ['card_no', 'mobile', 'total_price'],
  status: ['card_no', 'order_no'],
  ban: ['card_no', 'reason'],
  resendSms: ['card_no', 'mobile'],
} as const satisfies Record<string, readonly string[]>;

/** Name of an interface under `movTicket/`. */
export type InterfaceName = keyof typeof INTERFACE_PARAMS;

function toFields(params: readonly SignField[] | Readonly<Record<string, string>>): readonly SignField[] {
  if (Array.isArray(params)) return params as readonly SignField[];
  return Object.entries(params).map(([name, value]) => ({ name, value }));
}

/**
 * The exact string that is md5-hashed for a request.
 *
 * - `basic`: `partner_id + bus_id + req_id + timestamp + md5key`, picked by name.
 * - `full`: the values of all given parameters in the given order (which must be
 *   contract order, see {@link orderParams}), skipping `format` and `hashcode`,
 *   followed by `md5key`.
 *
 * @param params parameters as an ordered list or an insertion-ordered record
 */
export function signingString(
  mode: SignMode,
  params: readonly SignField[] | Readonly<Record<string, string>>,
  md5key: string,
): string {
  const fields = toFields(params);
  if (mode === 'basic') {
    const byName = new Map(fields.map((f) => [f.name, f.value]));
    return (
      BASIC_PARAMS.map((name) => {
        const value = byName.get(name);
        if (value === undefined) throw new TypeError(`basic signature needs parameter ${name}`);
        return value;
      }).join('') + md5key
    );
  }
  return (
    fields
      .filter((f) => !UNSIGNED_PARAMS.has(f.name))
      .map((f) => f.value)
      .join('') + md5key
  );
}

/**
 * Computes a request's `hashcode` (32 lower-case hex digits) per contract section 3.
 *
 * @example
 * computeHashcode('basic', { partner_id: 'CS000001', bus_id: '1002758',
 *   req_id: '2012010100000001', timestamp: '20121225020202' },
 *   'e10adc3949ba59abbe56e057f20f883e'); // 'c2ea37696f3f4b09f911a8c6dab43264'
 */
export function computeHashcode(
  mode: SignMode,
  params: readonly SignField[] | Readonly<Record<string, string>>,
  md5key: string,
): string {
  return createHash('md5')
    .update(signingString(mode, params, md5key), 'utf8')
    .digest('hex');
}

/**
 * Puts a request's parameters in contract order: the six common parameters, then the
 * interface's own parameters in table order (absent optional ones skipped), then any
 * parameters the contract does not list for this interface, in the order given. The
 * result is both the body order and, minus unknown extras, the `full` signing order.
 *
 * For an interface this SDK does not know, the given parameters are kept in their
 * insertion order and all of them are treated as signed.
 */
export function orderParams(
  method: string,
  common: Readonly<Record<(typeof COMMON_PARAMS)[number], string>>,
  params: Readonly<Record<string, string | undefined>>,
): { signed: SignField[]; unsigned: SignField[] } {
  const signed: SignField[] = COMMON_PARAMS.map((name) => ({ name, value: common[name] }));
  const unsigned: SignField[] = [];
  const known: readonly string[] | undefined = Object.hasOwn(INTERFACE_PARAMS, method)
    ? INTERFACE_PARAMS[method as InterfaceName]
    : undefined;
  if (known) {
    for (const name of known) {
      const value = params[name];
      if (value !== undefined) signed.push({ name, value });
    }
  }
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || known?.includes(name)) continue;
    if (UNSIGNED_PARAMS.has(name) || (COMMON_PARAMS as readonly string[]).includes(name)) {
      throw new TypeError(`parameter ${name} is set by the client, not by the caller`);
    }
    (known ? unsigned : signed).push({ name, value });
  }
  return { signed, unsigned };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * Formats a date as `YmdHis` (14 digits) in the given IANA time zone.
 *
 * @param timeZone defaults to the platform's `Asia/Shanghai`
 */
export function formatTimestamp(date: Date, timeZone = 'Asia/Shanghai'): string {
  let fmt = formatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, fmt);
  }
  const parts = Object.fromEntries(fmt.formatToParts(date).map((p) => [p.type, p.value]));
  const get = (type: string): string => parts[type] ?? '';
  return `${get('year').padStart(4, '0')}${get('month')}${get('day')}${get('hour')}${get('minute')}${get('second')}`;
}

const ALPHANUMERIC = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A random `req_id`: 20 alphanumeric characters from the CSPRNG (the contract's maximum length). */
export function randomReqId(): string {
  let id = '';
  for (let i = 0; i < 20; i++) id += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return id;
}
