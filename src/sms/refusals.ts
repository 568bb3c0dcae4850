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

// Internal errors after which the provider may still send the message: the message stays with it.
const ALIYUN_UNCERTAIN = new Set(['isp.SYSTEM_ERROR']);
const TENCENT_UNCERTAIN = new Set(['InternalError.Timeout', 'InternalError.SendAndRecvFail']);

/** Every code that fails a message for good: each has a Chinese explanation for the console. */
export const FINAL_CODES: readonly string[] = [...ALIYUN_FINAL, ...TENCENT_FINAL];

export function aliyunFailure(code: string): SendFailureKind {
  if (ALIYUN_UNCERTAIN.has(code)) return 'uncertain';
  return ALIYUN_FINAL.has(code) ? 'final' : 'failover';
}

export function tencentFailure(code: string): SendFailureKind {
  if (TENCENT_UNCERTAIN.has(code)) return 'uncertain';
  return TENCENT_FINAL.has(code) ? 'final' : 'failover';
}
