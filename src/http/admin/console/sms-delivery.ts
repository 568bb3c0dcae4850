import type { SmsView } from '../../../domain/admin/card-admin.service.js';
import { html, type Html } from './html.js';
import { badge } from './layout.js';
import { SMS_PROVIDER_CODE, SMS_PROVIDER_NAME } from './messages.zh.js';

const providerName = (p: string | null) => (p ? (SMS_PROVIDER_NAME[p] ?? p) : '');

/** A provider's refusal code with its Chinese explanation. */
export function providerRefusal(provider: string | null, code: string): string {
  const why = SMS_PROVIDER_CODE[code] ?? '服务商拒绝发送';
  return `${providerName(provider)}：${why}（${code}）`;
}

/**
 * The SMS log's outcome cell: the handset's report (delivered or not, from the provider), the
 * provider's final refusal with its explanation, or the last error of a message still trying.
 */
export function smsOutcome(m: SmsView): Html {
  if (m.status === 'failed' && m.provider_code) {
    return html`${badge('服务商拒绝', 'red')} ${providerRefusal(m.provider, m.provider_code)}`;
  }
  if (m.status === 'sent' && m.delivery === 'delivered') {
    return html`${badge('已送达', 'green')} ${providerName(m.provider)}`;
  }
  if (m.status === 'sent' && m.delivery === 'undelivered') {
    const code = m.delivery_code ? `（${m.delivery_code}）` : '';
    return html`${badge('未送达', 'red')} ${providerName(m.provider)}：手机未收到${code}`;
  }
  if (m.status === 'sent' && m.provider && m.receipt_pending) {
    return html`${badge('等待回执', 'yellow')} ${providerName(m.provider)}`;
  }
  if (m.status === 'sent' && m.provider) return html`${providerName(m.provider)}：无回执`;
  // A message still trying, or failed without a provider's word: a Chinese state, with the
  // technical error kept as code for whoever diagnoses it.
  const detail = m.last_error ? html` <code>${m.last_error}</code>` : '';
  if (m.status === 'failed') return html`${badge('发送失败', 'red')}${detail}`;
  if (m.last_error) return html`${badge('重试中', 'yellow')}${detail}`;
  return html``;
}
