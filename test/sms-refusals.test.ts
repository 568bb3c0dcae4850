import { describe, expect, it } from 'vitest';
import { SMS_PROVIDER_CODE } from '../src/http/admin/console/messages.zh.js';
import { failureKind, FINAL_CODES, refusedBy } from '../src/sms/refusals.js';

const aliyunFailure = (code: string) => failureKind('aliyun', code);
const tencentFailure = (code: string) => failureKind('tencent', code);

describe('provider refusal codes', () => {
  it('gives up only on refusals about the number, fails over on throttling and outages', () => {
    expect(aliyunFailure('isv.MOBILE_NUMBER_ILLEGAL')).toBe('final');
    expect(aliyunFailure('isv.BLACK_KEY_CONTROL_LIMIT')).toBe('final');
    expect(aliyunFailure('isv.BUSINESS_LIMIT_CONTROL')).toBe('failover');
    expect(aliyunFailure('isv.DAY_LIMIT_CONTROL')).toBe('failover');
    expect(aliyunFailure('isv.AMOUNT_NOT_ENOUGH')).toBe('failover');
    expect(aliyunFailure('ServiceUnavailable')).toBe('failover');
    expect(tencentFailure('InvalidParameterValue.IncorrectPhoneNumber')).toBe('final');
    expect(tencentFailure('FailedOperation.PhoneNumberInBlacklist')).toBe('final');
    expect(tencentFailure('LimitExceeded.PhoneNumberDailyLimit')).toBe('failover');
    expect(tencentFailure('LimitExceeded.DeliveryFrequencyLimit')).toBe('failover');
    expect(tencentFailure('FailedOperation.TemplateIncorrectOrUnapproved')).toBe('failover');
  });

  it('keeps a message with the provider after an internal error that may still send it', () => {
    expect(aliyunFailure('isp.SYSTEM_ERROR')).toBe('uncertain');
    expect(tencentFailure('InternalError.Timeout')).toBe('uncertain');
    expect(tencentFailure('InternalError.SendAndRecvFail')).toBe('uncertain');
    // An outage's internal error means the request was not processed: the next provider may send.
    expect(tencentFailure('InternalError.ServerError')).toBe('failover');
  });

  it('words a refusal by its code alone, never with the text the provider sent back', () => {
    const err = refusedBy('aliyun', 'SignatureDoesNotMatch');
    expect(err).toMatchObject({ kind: 'failover', provider: 'aliyun', code: 'SignatureDoesNotMatch' });
    expect(err.message).toBe('aliyun refused: SignatureDoesNotMatch');
  });

  it('never gives up on a code nobody classified', () => {
    expect(aliyunFailure('isv.SOMETHING_NEW')).toBe('failover');
    expect(tencentFailure('FailedOperation.SomethingNew')).toBe('failover');
  });

  it('explains every code that fails a message in Chinese', () => {
    expect(FINAL_CODES.filter((code) => !SMS_PROVIDER_CODE[code])).toEqual([]);
  });
});
