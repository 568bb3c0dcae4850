import { createHash, timingSafeEqual } from 'node:crypto';

export type SignMode = 'basic' | 'full';

export const COMMON_PARAMS = ['partner_id', 'sec_id', 'bus_id', 'req_id', 'ver', 'timestamp'] as const;

/**
 * The string that is hashed. `basic`: partner_id + bus_id + req_id + timestamp + key.
 * `full`: every signed parameter's value in contract order (absent optional ones skipped) + key.
 */
export function signedString(
  mode: SignMode,
  params: Readonly<Record<string, string | undefined>>,
  ownParams: readonly string[],
  md5key: string,
): string {
  if (mode === 'basic') {
    return `${params.partner_id ?? ''}${params.bus_id ?? ''}${params.req_id ?? ''}${params.timestamp ?? ''}${md5key}`;
  }
  let s = '';
  for (const name of COMMON_PARAMS) s += params[name] ?? '';
  for (const name of ownParams) s += params[name] ?? '';
  return s + md5key;
}

export function md5Hex(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** Case-insensitive, constant-time comparison of two 32-hex-digit digests. */
export function hashcodeMatches(expectedHex: string, givenHex: string): boolean {
  const a = Buffer.from(expectedHex.toLowerCase(), 'latin1');
  const b = Buffer.from(givenHex.toLowerCase(), 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}
