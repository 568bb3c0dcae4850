import { randomUUID } from 'node:crypto';
import { canonicalQuery, percentEncode, rpcSignature } from './aliyun-signature.js';
import { postToProvider, str } from './http.js';
import { refusedBy } from './refusals.js';
import {
  type Accepted,
  type Receipt,
  type ReceiptQuery,
  type SmsMessage,
  type SmsProvider,
} from './types.js';
import { chinaDate, templateValues } from './template-params.js';

export interface AliyunSmsOptions {
  accessKeyId: string;
  accessKeySecret: string;
  /** `https://dysmsapi.aliyuncs.com/`; a loopback fake in tests. */
  endpoint: string;
  regionId: string;
  signName: string;
  templateCode: string;
  /** Template variable name → placeholder (`card_no`, `password`, …), in template order. */
  templateParams: readonly (readonly [string, string])[];
  timeoutMs: number;
  /** The wall clock the request timestamps come from (the provider refuses skewed ones). */
  wallClock?: () => number;
}

const NAME = 'aliyun';
const PAGE_SIZE = 50;
const MAX_PAGES = 10;

/** Aliyun SMS (dysmsapi 2017-05-25) over its RPC-style API: SendSms, QuerySendDetails. */
export function aliyunProvider(o: AliyunSmsOptions): SmsProvider {
  const wall = o.wallClock ?? Date.now;

  async function call(action: string, params: Record<string, string>): Promise<Record<string, unknown>> {
    const all: Record<string, string> = {
      AccessKeyId: o.accessKeyId,
      Action: action,
      Format: 'JSON',
      RegionId: o.regionId,
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: randomUUID(),
      SignatureVersion: '1.0',
      Timestamp: new Date(wall()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      Version: '2017-05-25',
      ...params,
    };
    const body = `${canonicalQuery(all)}&Signature=${percentEncode(rpcSignature('POST', all, o.accessKeySecret))}`;
    const { json } = await postToProvider(
      NAME,
      o.endpoint,
      { headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body },
      o.timeoutMs,
    );
    return (json ?? {}) as Record<string, unknown>;
  }

  const refusal = (answer: Record<string, unknown>) => refusedBy(NAME, str(answer, 'Code') ?? 'unknown');

  return {
    name: NAME,
    async send(m: SmsMessage): Promise<Accepted> {
      const values = templateValues(NAME, m);
      const param: Record<string, string> = {};
      for (const [name, placeholder] of o.templateParams) param[name] = values[placeholder] ?? '';
      const answer = await call('SendSms', {
        PhoneNumbers: m.mobile,
        SignName: o.signName,
        TemplateCode: o.templateCode,
        TemplateParam: JSON.stringify(param),
        OutId: m.id,
      });
      if (str(answer, 'Code') !== 'OK') throw refusal(answer);
      return { provider: NAME, ref: str(answer, 'BizId') ?? null };
    },

    async find(q: ReceiptQuery): Promise<Receipt> {
      const dates = [...new Set([chinaDate(q.since), chinaDate(q.now)])];
      for (const date of dates) {
        for (let page = 1; page <= MAX_PAGES; page++) {
          const answer = await call('QuerySendDetails', {
            PhoneNumber: q.mobile,
            SendDate: date,
            PageSize: String(PAGE_SIZE),
            CurrentPage: String(page),
            ...(q.ref ? { BizId: q.ref } : {}),
          });
          if (str(answer, 'Code') !== 'OK') throw refusal(answer);
          const dtos = detailList(answer);
          const mine = dtos.find((d) => str(d, 'OutId') === q.id);
          if (mine) return receiptOf(mine, q.ref);
          if (page * PAGE_SIZE >= Number(answer.TotalCount ?? 0)) break;
        }
      }
      return { state: 'unknown' };
    },
  };
}

function detailList(answer: Record<string, unknown>): Record<string, unknown>[] {
  const list = (answer.SmsSendDetailDTOs as { SmsSendDetailDTO?: unknown } | undefined)?.SmsSendDetailDTO;
  return Array.isArray(list) ? (list as Record<string, unknown>[]) : [];
}

/** SendStatus 1 waits for the report, 2 failed, 3 received; ReceiveDate is China time. */
function receiptOf(d: Record<string, unknown>, ref: string | null): Receipt {
  const status = Number(d.SendStatus);
  if (status !== 2 && status !== 3) return { state: 'pending', ref };
  const received = str(d, 'ReceiveDate');
  const at = received ? Date.parse(`${received.replace(' ', 'T')}+08:00`) : NaN;
  return {
    state: status === 3 ? 'delivered' : 'undelivered',
    ref,
    code: str(d, 'ErrCode') ?? null,
    at: Number.isNaN(at) ? null : at,
  };
}
