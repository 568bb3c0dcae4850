import type http from 'node:http';
import { verifyRpcSignature } from '../../src/sms/aliyun-signature.js';
import { FakeProvider, type AcceptedSms, type Verdict } from './fake-provider.js';

export const ALIYUN_KEY_ID = 'LTAI5tFakeAccessKeyId';
export const ALIYUN_KEY_SECRET = 'fake-aliyun-access-key-secret-0123';
export const ALIYUN_SIGN_NAME = '电影票';
export const ALIYUN_TEMPLATE = 'SMS_123456789';

const ok = (body: object): Verdict => ({ status: 200, body: { RequestId: requestId(), ...body } });
const refuse = (status: number, Code: string, Message: string): Verdict => ({
  status,
  body: { RequestId: requestId(), Code, Message },
});
const requestId = () => crypto.randomUUID().toUpperCase();

/** `yyyyMMdd` and `yyyy-MM-dd HH:mm:ss` in China time. */
const china = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString();
const chinaDay = (ms: number) => china(ms).slice(0, 10).replace(/-/g, '');
const chinaTime = (ms: number) => china(ms).slice(0, 19).replace('T', ' ');

/**
 * A loopback Aliyun SMS API (dysmsapi 2017-05-25, RPC style): form POSTs to `/`, checked as
 * Aliyun checks them (HMAC-SHA1 signature over the sorted parameters, known AccessKeyId, fresh
 * timestamp, unused nonce); SendSms and QuerySendDetails answered in Aliyun's JSON.
 */
export class FakeAliyun extends FakeProvider {
  private readonly nonces = new Set<string>();

  static async start(): Promise<FakeAliyun> {
    const f = new FakeAliyun();
    await f.listen('/');
    return f;
  }

  protected refusedAnswer(mode: 'fail' | 'throttle'): Verdict {
    return mode === 'fail'
      ? refuse(503, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.')
      : refuse(200, 'isv.BUSINESS_LIMIT_CONTROL', '触发号码天级流控Permits:10');
  }

  protected answer(
    req: http.IncomingMessage,
    body: string,
    send: (mobile: string, accept: () => Verdict) => Verdict | 'held',
  ): Verdict | 'held' {
    if (
      req.method !== 'POST' ||
      !String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')
    ) {
      this.malformed++;
      return refuse(400, 'MissingParameter', 'form POST expected');
    }
    const params = Object.fromEntries(new URLSearchParams(body));
    if (params.AccessKeyId !== ALIYUN_KEY_ID) {
      this.badSignatures++;
      return refuse(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
    }
    if (
      params.SignatureMethod !== 'HMAC-SHA1' ||
      params.SignatureVersion !== '1.0' ||
      !verifyRpcSignature('POST', params, ALIYUN_KEY_SECRET)
    ) {
      this.badSignatures++;
      return refuse(400, 'SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.');
    }
    const ts = Date.parse(params.Timestamp ?? '');
    if (
      !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(params.Timestamp ?? '') ||
      Math.abs(Date.now() - ts) > 15 * 60_000
    ) {
      this.badSignatures++;
      return refuse(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
    }
    const nonce = params.SignatureNonce ?? '';
    if (nonce === '' || this.nonces.has(nonce)) {
      this.badSignatures++;
      return refuse(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    }
    this.nonces.add(nonce);
    if (params.Version !== '2017-05-25' || params.Format !== 'JSON') {
      this.malformed++;
      return refuse(400, 'InvalidVersion', 'Specified parameter Version is not valid.');
    }
    if (params.Action === 'SendSms') return this.sendSms(params, send);
    if (params.Action === 'QuerySendDetails') return this.query(params);
    this.malformed++;
    return refuse(
      404,
      'InvalidAction.NotFound',
      'Specified api is not found, please check your url and method.',
    );
  }

  private sendSms(
    p: Record<string, string>,
    send: (mobile: string, accept: () => Verdict) => Verdict | 'held',
  ) {
    this.sendCalls++;
    if (p.SignName !== ALIYUN_SIGN_NAME) return refuse(200, 'isv.SMS_SIGNATURE_ILLEGAL', '签名不合法');
    if (p.TemplateCode !== ALIYUN_TEMPLATE) return refuse(200, 'isv.SMS_TEMPLATE_ILLEGAL', '模板不合法');
    let templateParams: Record<string, string>;
    try {
      templateParams = JSON.parse(p.TemplateParam ?? '') as Record<string, string>;
    } catch {
      this.malformed++;
      return refuse(200, 'isv.INVALID_JSON_PARAM', 'JSON参数不合法');
    }
    const mobile = p.PhoneNumbers ?? '';
    if (!/^1\d{10}$/.test(mobile) || this.invalidNumbers.has(mobile))
      return refuse(200, 'isv.MOBILE_NUMBER_ILLEGAL', '非法手机号');
    if (!p.OutId) {
      this.malformed++;
      return refuse(400, 'MissingOutId', 'this fake expects an OutId on every message');
    }
    return send(mobile, () => {
      const sms = this.record({
        id: p.OutId!,
        ref: this.nextRef(),
        mobile,
        params: templateParams,
        at: Date.now(),
      });
      return ok({ Code: 'OK', Message: 'OK', BizId: `${sms.ref}^0` });
    });
  }

  private query(p: Record<string, string>): Verdict {
    const size = Number(p.PageSize);
    const page = Number(p.CurrentPage);
    if (!p.PhoneNumber || !/^\d{8}$/.test(p.SendDate ?? '') || !(size >= 1 && size <= 50) || !(page >= 1)) {
      this.malformed++;
      return refuse(200, 'isv.INVALID_PARAMETERS', '参数异常');
    }
    const all = [...this.delivered.values()].filter(
      (s) =>
        s.mobile === p.PhoneNumber &&
        chinaDay(s.at) === p.SendDate &&
        (p.BizId === undefined || `${s.ref}^0` === p.BizId),
    );
    const dtos = all.slice((page - 1) * size, page * size).map((s) => {
      const report = this.reportOf(s);
      return {
        PhoneNum: s.mobile,
        SendStatus: report === null ? 1 : report.delivered ? 3 : 2,
        ErrCode: report === null ? '' : report.delivered ? 'DELIVERED' : 'MK:0001',
        TemplateCode: ALIYUN_TEMPLATE,
        Content: `【${ALIYUN_SIGN_NAME}】${Object.values(s.params).join(' ')}`,
        SendDate: chinaTime(s.at),
        ReceiveDate: report === null ? '' : chinaTime(report.at),
        OutId: s.id,
      };
    });
    return ok({
      Code: 'OK',
      Message: 'OK',
      TotalCount: all.length,
      SmsSendDetailDTOs: { SmsSendDetailDTO: dtos },
    });
  }

  /** Accepted messages whose template parameters carry `card_no` as `value`. */
  static cardOf(sms: AcceptedSms): string | undefined {
    return sms.params.card;
  }
}

/** The MOVTICKET_ALIYUN_SMS_TEMPLATE_PARAMS the tests and the soak use with this fake. */
export const ALIYUN_TEMPLATE_PARAMS = 'name=target,count=count,card=card_no,pwd=password,date=valid_until';
