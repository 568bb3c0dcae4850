import { CALLBACK_REFUSED, parseRefusal } from '../../../domain/callback-policy.js';
import { formatDateTime } from '../../../domain/dates.js';
import { formatYuan } from '../../../domain/money.js';
import { maskMobile } from '../../../domain/sms-template.js';
import { AppError } from '../../../errors.js';
import {} from '../errors.js';
import { addressKind, sentenceOf } from './messages.zh.js';

export { CARD_STATUS_LABEL } from './messages.zh.js';

/** Labels and formats of the console: Chinese words for the domain's codes, times, money. */

export const ROLE_LABEL: Record<string, string> = { admin: '管理员', operator: '运营', cinema: '影院' };

export const SMS_STATUS_LABEL: Record<string, string> = {
  none: '无',
  queued: '排队中',
  sent: '已发送',
  failed: '发送失败',
};

export const SMS_REASON_LABEL: Record<string, string> = { activation: '激活', resend: '重发' };

export const PARTNER_STATUS_LABEL: Record<string, string> = { active: '正常', suspended: '已暂停' };
export const KEY_STATUS_LABEL: Record<string, string> = { active: '有效', revoked: '已吊销' };
export const USER_STATUS_LABEL: Record<string, string> = { active: '启用', disabled: '已停用' };

export const EVENT_LABEL: Record<string, string> = {
  created: '创建',
  activated: '支付激活',
  banned: '作废',
  sms_queued: '短信排队',
  sms_sent: '短信已发送',
  sms_failed: '短信发送失败',
  sms_delivered: '短信已送达',
  sms_undelivered: '短信未送达',
  password_failed: '密码错误',
  redeemed: '兑换',
  redemption_undone: '撤销兑换',
  expired: '过期',
  frozen: '冻结剩余的票',
  unfrozen: '解冻',
  password_unlocked: '解除密码锁定',
};

/** The contract's interfaces, in its order, with a Chinese description. */
export const INTERFACE_LABEL: Record<string, string> = {
  cities: '城市列表',
  regionsByCity: '城市的区域',
  cinemasByRegion: '区域的影院',
  buyByCinema: '按影院购买',
  kinds: '券种列表',
  cinemasByKind: '券种的影院',
  buyByKind: '按券种购买',
  payByCard: '支付激活',
  status: '查询卡状态',
  ban: '作废卡',
  resendSms: '重发短信',
};

export const label = (map: Record<string, string>, code: string | null | undefined) =>
  code == null ? '' : (map[code] ?? code);

export const yuan = (fen: number) => `¥${formatYuan(fen)}`;
export { formatYuan, maskMobile };

export function timeIn(tz: string) {
  return (ms: number | null | undefined) => (ms == null ? '' : formatDateTime(ms, tz));
}

export const percent = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(1)}%`);

/** A notify event's last error as the delivery log shows it; a refused callback says so plainly. */
export function notifyErrorText(lastError: string | null): string {
  const r = parseRefusal(lastError);
  if (!r) return lastError ?? '';
  return `已拒绝投递：${r.target} 是${addressKind(r.kind)}地址，未发送（${CALLBACK_REFUSED}）`;
}
/**
 * The message of a refusal in Chinese, from the catalogue of its error id. A refusal the catalogue
 * has no sentence for (a generic id such as `invalid` or `conflict`) gets a Chinese sentence by
 * its code and field, never the English developer message. Messages already written in Chinese
 * (the HTTP layer's form refusals) are kept.
 */
export function messageOf(err: unknown): string {
  if (err instanceof AppError) return sentenceOf(err);
  return err instanceof Error ? err.message : String(err);
}

/**
 * A refusal the user can act on (bad input, wrong state), as opposed to a fault of the server or
 * a refusal of the HTTP layer (sign-in, CSRF), which get the error page.
 */
export function isRefusal(err: unknown): err is AppError {
  return err instanceof AppError && !err.httpLayer && err.status < 500;
}

/** The input field a refusal names, when it names one. */
export const fieldOf = (err: unknown): string | undefined =>
  err instanceof AppError ? err.field : undefined;

/** A refusal as a form shows it: the banner text and, when it names one, the field's own message. */
/** Several refusals of one form: each beside its field, one summary above the form. */
export function allRefusals(errs: readonly AppError[]): {
  status: number;
  error: string;
  fields: Record<string, string>;
} {
  const fields: Record<string, string> = {};
  for (const e of errs) Object.assign(fields, refusalOf(e).fields);
  const error =
    errs.length === 1
      ? messageOf(errs[0])
      : `有 ${errs.length} 处需要修改：${errs.map(messageOf).join('；')}`;
  return { status: errs[0]?.status ?? 400, error, fields };
}

export function refusalOf(err: AppError): {
  status: number;
  error: string;
  fields: Record<string, string>;
} {
  const message = messageOf(err);
  const f = fieldOf(err);
  return { status: err.status, error: message, fields: f ? { [f]: message } : {} };
}
