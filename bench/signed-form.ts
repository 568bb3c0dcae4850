import { createHash, randomBytes } from 'node:crypto';
import { formatTimestamp } from '../src/client/index.js';

/** The demo partner every benchmark signs for. */
export const PARTNER = { partner_id: 'CS000001', sec_id: 'test', bus_id: '1002758' } as const;
export const MOBILE = '13800138000';
export const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };

export type SignedForm = (params: Record<string, string>, format: 'xml' | 'json') => string;

/**
 * Builds form bodies signed for the demo partner, each with a fresh req_id. Written by hand
 * (no URLSearchParams, no object spreads): the load generator shares the machine with the
 * server, so every microsecond it spends per request is taken from the figures.
 */
export function makeSignedForm(md5key: string): SignedForm {
  const prefix = randomBytes(4).toString('hex');
  const head = `partner_id=${PARTNER.partner_id}&sec_id=${PARTNER.sec_id}&bus_id=${PARTNER.bus_id}&req_id=`;
  const signHead = `${PARTNER.partner_id}${PARTNER.bus_id}`;
  let seq = 0;
  let stampSecond = -1;
  let stamp = '';
  return (params, format) => {
    // Formatting a timestamp costs more than signing; one per second is enough.
    const second = Math.floor(Date.now() / 1000);
    if (second !== stampSecond) {
      stampSecond = second;
      stamp = formatTimestamp(new Date(second * 1000), 'Asia/Shanghai');
    }
    const reqId = `${prefix}${(++seq).toString(36)}`;
    const hashcode = createHash('md5').update(`${signHead}${reqId}${stamp}${md5key}`).digest('hex');
    let own = '';
    for (const name in params) own += `&${name}=${encodeURIComponent(params[name]!)}`;
    return `${head}${reqId}&ver=1000&timestamp=${stamp}${own}&hashcode=${hashcode}&format=${format}`;
  };
}
