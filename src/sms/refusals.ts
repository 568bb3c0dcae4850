import type { SendFailureKind } from './types.js';

// How each provider's error codes are handled. Only refusals about the message itself are final
// (no provider would deliver to that number); throttling, outages and account, signature or
// template problems are ones the other provider may not have, so they fail over (and, with no
// other provider, are retried later within MOVTICKET_SMS_MAX_ATTEMPTS). Unknown codes fail over:
// a message is never given up on a code nobody has classified.

const ALIYUN_FINAL = new Set([
  'isv.MOBILE_NUMBER_ILLEGAL',
  'isv.MOBILE_COUNT_OVER_LIMIT',
  'isv.BLACK_KEY_CONTROL_LIMIT',
  'isv.PHONENUMBER_ILLEGAL',
]);

const TENCENT_FINAL = new Set([
  'InvalidParameterValue.IncorrectPhoneNumber',
  'FailedOperation.PhoneNumberInBlacklist',
  'FailedOperation.PhoneNumberParseFail',
  'UnsupportedOperation.UnsupportedRegion',
]);

export function aliyunFailure(code: string): SendFailureKind {
  return ALIYUN_FINAL.has(code) ? 'final' : 'failover';
}

export function tencentFailure(code: string): SendFailureKind {
  return TENCENT_FINAL.has(code) ? 'final' : 'failover';
}
