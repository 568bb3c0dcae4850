import { formatYuan } from '../../../domain/money.js';
import { html, type Html } from './html.js';
import { CARD_STATUS_LABEL } from './messages.zh.js';

/**
 * Chinese names for what the audit log and a card's ledger record: the actions, and the fields
 * of their before/after data, so a person reads "价格：35.00 元" rather than `"price_fen": 3500`.
 */

/** Audit actions by their stable code. */
export const AUDIT_ACTION: Record<string, string> = {
  'partner.create': '新建渠道',
  'partner.update': '修改渠道',
  'partner.suspend': '暂停渠道',
  'partner.resume': '恢复渠道',
  'partner.grant': '授予接口权限',
  'partner.revoke': '收回接口权限',
  'partner.callback': '设置回调地址',
  'key.create': '创建密钥',
  'key.revoke': '吊销密钥',
  'price.set': '设置渠道价格',
  'price.clear': '清除渠道价格',
  'city.create': '新建城市',
  'city.update': '修改城市',
  'region.create': '新建区域',
  'region.update': '修改区域',
  'cinema.create': '新建影院',
  'cinema.update': '修改影院',
  'cinema.activate': '启用影院',
  'cinema.deactivate': '停用影院',
  'kind.create': '新建券种',
  'kind.update': '修改券种',
  'kind.activate': '启用券种',
  'kind.deactivate': '停用券种',
  'kind.cinemas': '修改券种适用影院',
  'catalog.import': '导入影院目录',
  'card.ban': '作废卡',
  'card.resend_sms': '重发短信',
  'card.resend_sms_new_mobile': '发送短信到新手机号',
  'card.freeze': '冻结剩余的票',
  'card.unfreeze': '解冻卡',
  'card.unlock': '解除密码锁定',
  'notify.retry': '重试回调通知',
  'settings.update': '修改设置',
  'user.create': '新建账号',
  'user.password': '修改密码',
  'user.disable': '停用账号',
  'user.enable': '启用账号',
};

export const actionLabel = (code: string) => AUDIT_ACTION[code] ?? code;

/** Field names of audit and ledger data (snake_case and camelCase alike). */
const FIELD: Record<string, string> = {
  status: '状态',
  from: '原状态',
  reason: '原因',
  mobile: '手机号',
  message_id: '短信编号',
  sms_status: '短信状态',
  count: '张数',
  used_count: '已用张数',
  cinema_id: '影院',
  cinema_ids: '适用影院',
  cinemas: '适用影院',
  kind_id: '券种',
  order_no: '订单号',
  price: '价格',
  market_price: '市场价',
  total: '总额',
  paid_at: '支付时间',
  banned_at: '作废时间',
  expired_at: '过期时间',
  valid_until: '有效期至',
  pay_deadline: '支付期限',
  created_at: '创建时间',
  revoked_at: '吊销时间',
  next_attempt_at: '下次尝试时间',
  redemption_id: '兑换编号',
  partner_id: '渠道',
  bus_id: '商户号',
  name: '名称',
  cinema_name: '影院名称',
  kind_name: '券种名称',
  prefix: '编号前缀',
  permissions: '接口权限',
  ip_allow: 'IP 白名单',
  rate_limit: '限流（次/秒）',
  sec_id: 'sec_id',
  sign_mode: '签名方式',
  active: '启用',
  active_keys: '有效密钥',
  target_type: '对象类型',
  target_id: '对象编号',
  type: '类型',
  city_id: '城市',
  region_id: '区域',
  code_id: '编号',
  id: '编号',
  address: '地址',
  tel: '电话',
  remark: '备注',
  sort: '排序',
  valid_days: '有效天数',
  username: '用户名',
  role: '角色',
  user_id: '账号编号',
  value: '值',
  callback_url: '回调地址',
  event_id: '通知编号',
  attempts: '尝试次数',
  rows: '行数',
  created: '新建',
  updated: '修改',
  unchanged: '未变',
  cities_created: '新建城市',
  regions_created: '新建区域',
  source: '来源',
  dry_run: '试运行',
};

/** Values of a few enumerated fields. */
const VALUE: Record<string, Record<string, string>> = {
  // `active` is said of cards, partners, keys and accounts alike: 有效.
  status: {
    ...CARD_STATUS_LABEL,
    active: '有效',
    disabled: '已停用',
    revoked: '已吊销',
    suspended: '已暂停',
    queued: '排队中',
    sent: '已发送',
    failed: '失败',
    delivered: '已送达',
  },
  from: CARD_STATUS_LABEL,
  sms_status: { queued: '排队中', sent: '已发送', failed: '失败', none: '无' },
  sign_mode: { full: '完整签名', basic: '基本签名' },
  target_type: { cinema: '影院', kind: '券种' },
  type: { cinema: '影院', kind: '券种' },
  role: { admin: '管理员', operator: '运营', cinema: '影院' },
};

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A data key's label and how its value reads. */
function entry(key: string, v: unknown, time: (ms: number) => string): [string, string] {
  const k = snake(key);
  if (/_fen$/.test(k) && typeof v === 'number') {
    const base = k.replace(/_fen$/, '');
    return [FIELD[base] ?? key, `${formatYuan(v)} 元`];
  }
  const label = FIELD[k] ?? key;
  if (typeof v === 'number' && v > 1e12 && /(_at|until|deadline)$/.test(k)) return [label, time(v)];
  return [label, valueText(k, v)];
}

function valueText(k: string, v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'boolean') return v ? '是' : '否';
  if (typeof v === 'number' && (k === 'active' || k === 'dry_run')) return v ? '是' : '否';
  if (typeof v === 'string') return VALUE[k]?.[v] ?? v;
  if (Array.isArray(v)) return v.length === 0 ? '—' : v.map((x) => valueText(k, x)).join('、');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v as number);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Data as "名称：值" lines; with `other` (the state before), only the fields that changed, as
 * "旧值 → 新值". Money in yuan, times in the platform time zone.
 */
export function describeData(value: unknown, time: (ms: number) => string, before?: unknown): Html {
  if (value === null || value === undefined) return html`<span class="muted">—</span>`;
  if (typeof value !== 'object' || Array.isArray(value)) return html`${valueText('', value)}`;
  const obj = value as Record<string, unknown>;
  const prev =
    before && typeof before === 'object' && !Array.isArray(before)
      ? (before as Record<string, unknown>)
      : null;
  // A field given both in yuan and in fen (`price`, `priceFen`) is shown once, in yuan.
  const names = new Set(Object.keys(obj).map(snake));
  const keys = Object.keys(obj).filter(
    (k) =>
      !(/_fen$/.test(snake(k)) && names.has(snake(k).replace(/_fen$/, ''))) &&
      (!prev || !same(prev[k], obj[k])),
  );
  if (keys.length === 0) return html`<span class="muted">无变化</span>`;
  return html`<ul class="kv">
    ${keys.map((k) => {
      const [label, now] = entry(k, obj[k], time);
      const was = prev && Object.hasOwn(prev, k) ? entry(k, prev[k], time)[1] : null;
      return html`<li><span class="muted">${label}：</span>${was !== null ? html`${was} → ` : ''}${now}</li>`;
    })}
  </ul>`;
}
