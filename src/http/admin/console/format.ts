import { AdminError } from '../../../domain/admin/audit.service.js';
import { CardError, formatDateTime } from '../../../domain/admin/redemption.service.js';
import { CALLBACK_REFUSED, parseRefusal } from '../../../domain/callback-policy.js';
import { formatYuan } from '../../../domain/money.js';
import { maskMobile } from '../../../domain/sms-template.js';

/** Labels and formats of the console: Chinese words for the domain's codes, times, money. */

export const ROLE_LABEL: Record<string, string> = { admin: '管理员', operator: '运营', cinema: '影院' };

export const CARD_STATUS_LABEL: Record<string, string> = {
  inactive: '未激活',
  active: '已激活',
  used: '已用完',
  expired: '已过期',
  banned: '已作废',
};

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
  password_failed: '密码错误',
  redeemed: '兑换',
  redemption_undone: '撤销兑换',
  expired: '过期',
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

/** Field names used by the services, as the forms label them. */
export const FIELD_LABEL: Record<string, string> = {
  name: '名称',
  prefix: '编号前缀',
  permissions: '接口权限',
  ip_allow: 'IP 白名单',
  rate_limit: '限流',
  sec_id: 'sec_id',
  sign_mode: '签名方式',
  price: '价格',
  market_price: '市场价',
  target: '对象',
  cinema_id: '影院编号',
  kind_id: '券种编号',
  city_id: '城市编号',
  region_id: '区域编号',
  remark: '备注',
  sort: '排序',
  address: '地址',
  tel: '电话',
  valid_days: '有效天数',
  cinema_ids: '适用影院',
  username: '用户名',
  password: '密码',
  role: '角色',
  changes: '修改内容',
  interfaces: '接口',
  resend_new_mobile: '发送到新手机号的权限',
};

export const label = (map: Record<string, string>, code: string | null | undefined) =>
  code == null ? '' : (map[code] ?? code);

export const yuan = (fen: number) => `¥${formatYuan(fen)}`;
export { formatYuan, maskMobile };

export function timeIn(tz: string) {
  return (ms: number | null | undefined) => (ms == null ? '' : formatDateTime(ms, tz));
}

export const percent = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(1)}%`);

// The services' messages are English; the common shapes are said again in Chinese, others shown as they are.
const RULES: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^(\S+) is required$/, (m) => `${field(m[1]!)}为必填项`],
  [
    /^(\S+) must be (\d+)-(\d+) printable characters$/,
    (m) => `${field(m[1]!)}须为 ${m[2]}–${m[3]} 个可打印字符`,
  ],
  [
    /^(\S+) must be an integer from (-?\d+) to (-?\d+)$/,
    (m) => `${field(m[1]!)}须为 ${m[2]} 到 ${m[3]} 的整数`,
  ],
  [
    /^(\S+) must be an amount in yuan greater than 0/,
    (m) => `${field(m[1]!)}须为大于 0 的金额（元），如 35.00`,
  ],
  [/^(\S+) must be 3 digits/, (m) => `${field(m[1]!)}须为 3 位数字，如 001`],
  [/^(\S+) must be 1-32 letters, digits, _ or -$/, (m) => `${field(m[1]!)}须为 1–32 位字母、数字、_ 或 -`],
  [/^(\S+) must be 1-32 letters, digits or _$/, (m) => `${field(m[1]!)}须为 1–32 位字母、数字或 _`],
  [/^username must be 3-32/, () => '用户名须为 3–32 位小写字母、数字、_ . 或 -'],
  [/^password must be at least (\d+) characters$/, (m) => `密码至少 ${m[1]} 个字符`],
  [/^prefix must be two upper-case letters$/, () => '编号前缀须为两个大写字母'],
  [/^ip_allow (.+) is not an IPv4 or IPv6 address$/, (m) => `IP 白名单中的 ${m[1]} 不是 IPv4 或 IPv6 地址`],
  [/^cinema_id is required for the cinema role$/, () => '影院账号须选择影院'],
  [/^cinema_id is only for the cinema role$/, () => '只有影院账号才绑定影院'],
  [/^card_no must be (?:up to )?16 digits$/, () => '卡号须为 16 位数字'],
  [/^a reason of 1 to (\d+) characters is required$/, (m) => `请填写 1–${m[1]} 个字的原因`],
  // Nothing else about another cinema's card or redemption is shown to cinema staff.
  [/^card \S+ is not valid at cinema /, () => '此卡不能在本影院兑换'],
  [/^redemption \S+ was made at another cinema$/, () => '这笔兑换不是本影院的，不能撤销'],
  [/^only admins may resend a card's SMS to a new mobile$/, () => '只有管理员可以把短信发送到新手机号'],
  [/^confirm sending the SMS to the new mobile$/, () => '请确认发送到新手机号'],
  [/^mobile is malformed/, () => '手机号须为 11 位手机号码'],
  [/^(\S+) must be one of (.+)$/, (m) => `${field(m[1]!)}须为以下之一：${m[2]}`],
  [/^changes are empty/, () => '没有要修改的内容'],
  [
    /^callback_url must not point to this host or a private network: (\S+) is a (.+) address/,
    (m) =>
      `回调 URL 不能指向本机或内网：${m[1]} 是${addressKind(m[2]!)}地址（确需使用时请运维在 MOVTICKET_CALLBACK_ALLOW 中放行）`,
  ],
  [/^interfaces are empty$/, () => '请至少选择一个接口'],
  [
    /^(user|partner|cinema|kind|city|region|card) (\S+) (?:already exists)$/,
    (m) => `${what(m[1]!)} ${m[2]} 已存在`,
  ],
  [
    /^(user|partner|cinema|cinemas|kind|city|region|card|redemption) (.+) not found$/,
    (m) => `未找到${what(m[1]!)} ${m[2]}`,
  ],
];

const WHAT: Record<string, string> = {
  user: '用户',
  partner: '渠道',
  cinema: '影院',
  cinemas: '影院',
  kind: '券种',
  city: '城市',
  region: '区域',
  card: '卡',
  redemption: '兑换记录',
};
const what = (w: string) => WHAT[w] ?? w;

const ADDRESS_KIND: Record<string, string> = {
  loopback: '本机回环',
  unspecified: '未指定',
  private: '内网',
  'shared (carrier-grade NAT)': '运营商共享（CGNAT）',
  'link-local': '链路本地',
  multicast: '组播',
  reserved: '保留',
};
const addressKind = (k: string) => ADDRESS_KIND[k] ?? k;

/** A notify event's last error as the delivery log shows it; a refused callback says so plainly. */
export function notifyErrorText(lastError: string | null): string {
  const r = parseRefusal(lastError);
  if (!r) return lastError ?? '';
  return `已拒绝投递：${r.target} 是${addressKind(r.kind)}地址，未发送（${CALLBACK_REFUSED}）`;
}
const field = (f: string) => FIELD_LABEL[f] ?? f;

/** The message of a service refusal, in Chinese where its shape is known. */
export function messageOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  for (const [re, say] of RULES) {
    const m = re.exec(message);
    if (m) return say(m);
  }
  return message;
}

/** A refusal the user can act on (bad input, wrong state), as opposed to a fault of the server. */
export function isRefusal(err: unknown): err is AdminError | CardError {
  return err instanceof AdminError || err instanceof CardError;
}

/** The input field a refusal names, when it names one. */
export const fieldOf = (err: unknown): string | undefined =>
  err instanceof AdminError ? err.field : undefined;

/** A refusal as a form shows it: the banner text and, when it names one, the field's own message. */
export function refusalOf(err: AdminError | CardError): {
  status: number;
  error: string;
  fields: Record<string, string>;
} {
  const message = messageOf(err);
  const f = fieldOf(err);
  return { status: err.status, error: message, fields: f ? { [f]: message } : {} };
}
