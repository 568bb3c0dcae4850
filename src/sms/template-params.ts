import { SmsSendError, type SmsMessage } from './types.js';

/** The message's template values; a message queued without them cannot go through a provider. */
export function templateValues(provider: string, m: SmsMessage): Readonly<Record<string, string>> {
  if (!m.params) {
    throw new SmsSendError(
      'final',
      provider,
      'movticket.NO_TEMPLATE_PARAMS',
      'queued without template parameters (by an earlier version); resend it from the console',
    );
  }
  return m.params;
}

/** `yyyyMMdd` in China time (UTC+8, no daylight saving), as Aliyun's SendDate. */
export function chinaDate(epochMs: number): string {
  return new Date(epochMs + 8 * 3_600_000).toISOString().slice(0, 10).replace(/-/g, '');
}
