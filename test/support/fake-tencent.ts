import type http from 'node:http';
import { parseTc3Authorization, tc3Date, verifyTc3Signature } from '../../src/sms/tencent-signature.js';
import { FakeProvider, type AcceptedSms, type Verdict } from './fake-provider.js';

export const TENCENT_SECRET_ID = 'AKIDfakeTencentSecretId0123456789';
export const TENCENT_SECRET_KEY = 'fake-tencent-secret-key-0123456789';
export const TENCENT_APP_ID = '1400000001';
export const TENCENT_SIGN_NAME = '电影票';
export const TENCENT_TEMPLATE = '1234567';
/** The MOVTICKET_TENCENT_SMS_TEMPLATE_PARAMS the tests and the soak use with this fake. */
export const TENCENT_TEMPLATE_PARAMS = 'target,count,card_no,password,valid_until';

const requestId = () => crypto.randomUUID();
const answer = (response: object): Verdict => ({
  status: 200,
  body: { Response: { ...response, RequestId: requestId() } },
});
const error = (Code: string, Message: string): Verdict => answer({ Error: { Code, Message } });
const status = (mobile: string, id: string, Code: string, Message: string, SerialNo = ''): Verdict =>
  answer({
    SendStatusSet: [
      {
        SerialNo,
        PhoneNumber: mobile,
        Fee: Code === 'Ok' ? 1 : 0,
        SessionContext: id,
        Code,
        Message,
        IsoCode: 'CN',
      },
    ],
  });

/**
 * A loopback Tencent Cloud SMS API (2021-01-11): JSON POSTs to `/` with X-TC-* headers, checked
 * as Tencent checks them (TC3-HMAC-SHA256 over content-type and host, known SecretId, the
 * credential date and service, a timestamp within 5 minutes); SendSms and
 * PullSmsSendStatusByPhoneNumber answered as `{Response: {...}}`.
 */
export class FakeTencent extends FakeProvider {
  static async start(): Promise<FakeTencent> {
    const f = new FakeTencent();
    await f.listen('/');
    return f;
  }

  protected refusedAnswer(mode: 'fail' | 'throttle'): Verdict {
    return mode === 'fail'
      ? error('InternalError.ServerError', '内部服务器错误')
      : error('LimitExceeded.PhoneNumberThirtySecondLimit', '单个手机号30秒内下发短信条数超过设定的上限');
  }

  protected answer(
    req: http.IncomingMessage,
    body: string,
    send: (mobile: string, accept: () => Verdict) => Verdict | 'held',
  ): Verdict | 'held' {
    const h = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const contentType = h('content-type') ?? '';
    if (req.method !== 'POST' || !contentType.startsWith('application/json')) {
      this.malformed++;
      return error('InvalidParameter', 'JSON POST expected');
    }
    const auth = parseTc3Authorization(h('authorization') ?? '');
    const timestamp = Number(h('x-tc-timestamp'));
    if (!auth) {
      this.badSignatures++;
      return error('AuthFailure.SignatureFailure', 'The provided credentials could not be validated.');
    }
    if (auth.secretId !== TENCENT_SECRET_ID) {
      this.badSignatures++;
      return error('AuthFailure.SecretIdNotFound', 'The SecretId is not found.');
    }
    if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 300) {
      this.badSignatures++;
      return error('AuthFailure.SignatureExpire', 'Signature expired.');
    }
    const request = { host: h('host') ?? '', contentType, payload: body, timestamp, service: 'sms' };
    if (
      auth.service !== 'sms' ||
      auth.date !== tc3Date(timestamp) ||
      auth.signedHeaders !== 'content-type;host' ||
      !verifyTc3Signature(request, TENCENT_SECRET_KEY, auth.signature)
    ) {
      this.badSignatures++;
      return error('AuthFailure.SignatureFailure', 'The provided credentials could not be validated.');
    }
    if (h('x-tc-version') !== '2021-01-11' || !h('x-tc-region')) {
      this.malformed++;
      return error('InvalidParameter', 'X-TC-Version 2021-01-11 and X-TC-Region expected');
    }
    let params: Record<string, unknown>;
    try {
      params = JSON.parse(body) as Record<string, unknown>;
    } catch {
      this.malformed++;
      return error('InvalidParameter', 'body is not JSON');
    }
    if (params.SmsSdkAppId !== TENCENT_APP_ID)
      return error('FailedOperation.SmsSdkAppIdVerifyFail', 'SmsSdkAppId 校验失败');
    const action = h('x-tc-action');
    if (action === 'SendSms') return this.sendSms(params, send);
    if (action === 'PullSmsSendStatusByPhoneNumber') return this.pull(params);
    this.malformed++;
    return error('InvalidAction', `unknown action ${action}`);
  }

  private sendSms(
    p: Record<string, unknown>,
    send: (mobile: string, accept: () => Verdict) => Verdict | 'held',
  ) {
    this.sendCalls++;
    if (p.SignName !== TENCENT_SIGN_NAME)
      return error('FailedOperation.SignatureIncorrectOrUnapproved', '签名未审批或格式错误');
    if (p.TemplateId !== TENCENT_TEMPLATE)
      return error('FailedOperation.TemplateIncorrectOrUnapproved', '模板未审批或内容不匹配');
    const numbers = p.PhoneNumberSet;
    const values = p.TemplateParamSet;
    const id = typeof p.SessionContext === 'string' ? p.SessionContext : '';
    if (!Array.isArray(numbers) || numbers.length !== 1 || !Array.isArray(values) || id === '') {
      this.malformed++;
      return error(
        'InvalidParameter',
        'one PhoneNumberSet entry, a TemplateParamSet and a SessionContext expected',
      );
    }
    const e164 = String(numbers[0]);
    const m = /^\+861(\d{10})$/.exec(e164);
    const mobile = `1${m?.[1] ?? ''}`;
    if (!m || this.invalidNumbers.has(mobile)) {
      return status(e164, id, 'InvalidParameterValue.IncorrectPhoneNumber', '手机号格式错误');
    }
    return send(mobile, () => {
      const params: Record<string, string> = {};
      values.forEach((v, i) => (params[String(i + 1)] = String(v)));
      const sms = this.record({ id, ref: `2433:${this.nextRef()}`, mobile, params, at: Date.now() });
      return status(e164, id, 'Ok', 'send success', sms.ref);
    });
  }

  private pull(p: Record<string, unknown>): Verdict {
    const begin = Number(p.BeginTime);
    const end = p.EndTime === undefined ? Infinity : Number(p.EndTime);
    const m = /^\+86(1\d{10})$/.exec(String(p.PhoneNumber));
    if (!m || !Number.isInteger(begin) || !(Number(p.Limit) >= 1 && Number(p.Limit) <= 100)) {
      this.malformed++;
      return error('InvalidParameter', 'PhoneNumber, BeginTime and Limit expected');
    }
    const set = [...this.delivered.values()]
      .filter((s) => s.mobile === m[1] && s.at / 1000 >= begin && s.at / 1000 <= end)
      .flatMap((s) => {
        const report = this.reportOf(s);
        if (report === null) return [];
        return [
          {
            UserReceiveTime: Math.floor(report.at / 1000),
            NationCode: '86',
            PurePhoneNumber: s.mobile,
            PhoneNumber: `+86${s.mobile}`,
            SerialNo: s.ref,
            ReportStatus: report.delivered ? 'SUCCESS' : 'FAIL',
            Description: report.delivered ? '用户短信接收成功' : '用户短信接收失败',
            SessionContext: s.id,
          },
        ];
      })
      .slice(Number(p.Offset ?? 0), Number(p.Offset ?? 0) + Number(p.Limit));
    return answer({ PullSmsSendStatusSet: set });
  }

  /** The card number of an accepted message, by the template order the tests use. */
  static cardOf(sms: AcceptedSms): string | undefined {
    return sms.params['3'];
  }
}
