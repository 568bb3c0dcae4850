import { type SendFailureKind, SmsSendError } from './types.js';

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

// Internal errors after which the provider may still send the message: it stays with that
// provider (sending it through the other one could deliver it twice). Other internal or outage
// codes (Aliyun ServiceUnavailable, Tencent InternalError.ServerError) mean the request was not
// processed: they fail over, so that buyers are not kept waiting through a provider's outage.
const ALIYUN_UNCERTAIN = new Set(['isp.SYSTEM_ERROR']);
const TENCENT_UNCERTAIN = new Set(['InternalError.Timeout', 'InternalError.SendAndRecvFail']);

/** Every code that fails a message for good: each has a Chinese explanation for the console. */
export const FINAL_CODES: readonly string[] = [...ALIYUN_FINAL, ...TENCENT_FINAL];

const CODES = {
  aliyun: { final: ALIYUN_FINAL, uncertain: ALIYUN_UNCERTAIN },
  tencent: { final: TENCENT_FINAL, uncertain: TENCENT_UNCERTAIN },
} as const;

export function failureKind(provider: keyof typeof CODES, code: string): SendFailureKind {
  const { final, uncertain } = CODES[provider];
  if (uncertain.has(code)) return 'uncertain';
  return final.has(code) ? 'final' : 'failover';
}

/**
 * A provider's refusal, by its code alone: the provider's free-text message is left out, since it
 * may repeat the request (Aliyun's SignatureDoesNotMatch quotes the string it signed, template
 * parameters and so the card password included) and it is stored, logged and shown.
 */
export function refusedBy(provider: keyof typeof CODES, code: string): SmsSendError {
  return new SmsSendError(failureKind(provider, code), provider, code, `${provider} refused: ${code}`);
}
