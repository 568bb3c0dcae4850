import { postToProvider, str } from './http.js';
import { refusedBy } from './refusals.js';
import { templateValues } from './template-params.js';
import { tc3Authorization } from './tencent-signature.js';
import {
  SmsSendError,
  type Accepted,
  type Receipt,
  type ReceiptQuery,
  type SmsMessage,
  type SmsProvider,
} from './types.js';

export interface TencentSmsOptions {
  secretId: string;
  secretKey: string;
  /** `https://sms.tencentcloudapi.com/`; a loopback fake in tests. */
  endpoint: string;
  region: string;
  sdkAppId: string;
  signName: string;
  templateId: string;
  /** The placeholders (`card_no`, `password`, …) filling the template's {1}, {2}, … in order. */
  templateParams: readonly string[];
  timeoutMs: number;
  /** The wall clock the request timestamps come from (the provider refuses skewed ones). */
  wallClock?: () => number;
}

const NAME = 'tencent';
const VERSION = '2021-01-11';
const CONTENT_TYPE = 'application/json; charset=utf-8';
/** Reports per PullSmsSendStatusByPhoneNumber page (its maximum), and pages read at most. */
const PAGE_SIZE = 100;
const MAX_PAGES = 20;

/** Tencent Cloud SMS (API 2021-01-11, TC3-HMAC-SHA256): SendSms, PullSmsSendStatusByPhoneNumber. */
export function tencentProvider(o: TencentSmsOptions): SmsProvider {
  const wall = o.wallClock ?? Date.now;
  const host = new URL(o.endpoint).host;

  async function call(action: string, params: object): Promise<Record<string, unknown>> {
    const payload = JSON.stringify(params);
    const timestamp = Math.floor(wall() / 1000);
    const authorization = tc3Authorization(
      { host, contentType: CONTENT_TYPE, payload, timestamp, service: 'sms' },
      o.secretId,
      o.secretKey,
    );
    const { json } = await postToProvider(
      NAME,
      o.endpoint,
      {
        headers: {
          authorization,
          'content-type': CONTENT_TYPE,
          'x-tc-action': action,
          'x-tc-version': VERSION,
          'x-tc-timestamp': String(timestamp),
          'x-tc-region': o.region,
        },
        body: payload,
      },
      o.timeoutMs,
    );
    const response = (json as { Response?: Record<string, unknown> } | null)?.Response ?? {};
    const error = response.Error as Record<string, unknown> | undefined;
    if (error) throw refusedBy(NAME, str(error, 'Code') ?? 'unknown');
    return response;
  }

  return {
    name: NAME,
    // Tencent lists a message only once its handset report came (seconds, rarely minutes), so
    // "no record" right after a send whose answer was lost proves little; five minutes on, a
    // report would almost always have come.
    recordsCompleteAfterMs: 300_000,
    async send(m: SmsMessage): Promise<Accepted> {
      const values = templateValues(NAME, m);
      const answer = await call('SendSms', {
        PhoneNumberSet: [e164(m.mobile)],
        SmsSdkAppId: o.sdkAppId,
        SignName: o.signName,
        TemplateId: o.templateId,
        TemplateParamSet: o.templateParams.map((p) => values[p] ?? ''),
        SessionContext: m.id,
      });
      const set = answer.SendStatusSet;
      const status = (Array.isArray(set) ? set[0] : undefined) as Record<string, unknown> | undefined;
      if (!status)
        throw new SmsSendError('uncertain', NAME, null, 'tencent answered without a SendStatusSet');
      const code = str(status, 'Code') ?? 'unknown';
      if (code !== 'Ok') throw refusedBy(NAME, code);
      return { provider: NAME, ref: str(status, 'SerialNo') ?? null };
    },

    async find(q: ReceiptQuery): Promise<Receipt> {
      let mine: Record<string, unknown> | undefined;
      for (let page = 0; page < MAX_PAGES && !mine; page++) {
        const answer = await call('PullSmsSendStatusByPhoneNumber', {
          BeginTime: Math.floor(q.since / 1000) - 60,
          EndTime: Math.floor(q.now / 1000) + 60,
          Offset: page * PAGE_SIZE,
          Limit: PAGE_SIZE,
          PhoneNumber: e164(q.mobile),
          SmsSdkAppId: o.sdkAppId,
        });
        const set = Array.isArray(answer.PullSmsSendStatusSet)
          ? (answer.PullSmsSendStatusSet as Record<string, unknown>[])
          : [];
        mine = set.find(
          (r) => str(r, 'SessionContext') === q.id || (q.ref !== null && str(r, 'SerialNo') === q.ref),
        );
        if (set.length < PAGE_SIZE) break;
      }
      // Tencent lists a message only once its report came: without one, only a known SerialNo
      // says that it was accepted.
      if (!mine) return q.ref ? { state: 'pending', ref: q.ref } : { state: 'unknown' };
      const at = Number(mine.UserReceiveTime);
      return {
        state: str(mine, 'ReportStatus') === 'SUCCESS' ? 'delivered' : 'undelivered',
        ref: str(mine, 'SerialNo') ?? q.ref,
        code: str(mine, 'Description') ?? null,
        at: Number.isFinite(at) && at > 0 ? at * 1000 : null,
      };
    },
  };
}

/** Mainland numbers are stored as 11 digits; Tencent wants E.164. */
function e164(mobile: string): string {
  return mobile.startsWith('+') ? mobile : `+86${mobile}`;
}
