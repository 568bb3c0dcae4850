import type { AppError, Params } from '../../../errors.js';

/**
 * The console's Chinese sentences for the platform's refusals, keyed by the error's `id`
 * (src/errors.ts) and filled from its `params`. A refusal without a sentence here is shown with
 * its own message.
 */

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
  current_password: '当前密码',
  password_again: '再次输入新密码',
  city_name: '城市名称',
  city_remark: '城市备注',
  region_name: '区域名称',
  region_remark: '区域备注',
  cinema_name: '影院名称',
  active: '启用',
  callback_url: '回调地址',
  event_id: '通知编号',
};

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

export const ADDRESS_KIND: Record<string, string> = {
  loopback: '本机回环',
  unspecified: '未指定',
  private: '内网',
  'shared (carrier-grade NAT)': '运营商共享（CGNAT）',
  'link-local': '链路本地',
  multicast: '组播',
  reserved: '保留',
};

export const addressKind = (k: string) => ADDRESS_KIND[k] ?? k;
/** The card's status words, shared with the console's labels. */
export const CARD_STATUS_LABEL: Record<string, string> = {
  inactive: '未激活',
  active: '已激活',
  used: '已用完',
  expired: '已过期',
  banned: '已作废',
};

const ACTION: Record<string, string> = {
  pay: '支付激活',
  ban: '作废',
  redeem: '兑换',
  'resend its SMS': '重发短信',
  'undo the redemption': '撤销兑换',
  freeze: '冻结',
};

const status = (p: Params) => CARD_STATUS_LABEL[String(p.status)] ?? String(p.status);
const action = (p: Params) => ACTION[String(p.action)] ?? String(p.action);
const field = (p: Params) => FIELD_LABEL[String(p.field)] ?? String(p.field);
const what = (p: Params) => WHAT[String(p.what)] ?? String(p.what);

type Sentence = (p: Params) => string;

const SENTENCES: Record<string, Sentence> = {
  'field.required': (p) => `${field(p)}为必填项`,
  'text.unstorable': () => '输入中含有无法保存的字符（如 NUL 等控制字符）',
  'http.not_found': (p) => `页面不存在：${p.path}`,
  'field.text': (p) => `${field(p)}须为 ${p.min}–${p.max} 个可打印字符`,
  'field.integer': (p) => `${field(p)}须为 ${p.min} 到 ${p.max} 的整数`,
  'field.yuan': (p) => `${field(p)}须为大于 0 的金额（元），如 35.00`,
  'field.digits3': (p) => `${field(p)}须为 3 位数字，如 001`,
  'field.id': (p) => `${field(p)}须为 1–32 位字母、数字、_ 或 -`,
  'field.word': (p) => `${field(p)}须为 1–32 位字母、数字或 _`,
  'field.one_of': (p) => `${field(p)}须为以下之一：${p.options}`,
  'user.username': () => '用户名须为 3–32 位小写字母、数字、_ . 或 -',
  'user.password_short': (p) => `密码至少 ${p.min} 个字符`,
  'user.cinema_required': () => '影院账号须选择影院',
  'user.cinema_only': () => '只有影院账号才绑定影院',
  'partner.prefix': () => '编号前缀须为两个大写字母',
  'partner.ip': (p) => `IP 白名单中的 ${p.value} 不是 IPv4 或 IPv6 地址`,
  'partner.callback_private': (p) =>
    `回调 URL 不能指向本机或内网：${p.address} 是${addressKind(String(p.kind))}地址（确需使用时请运维在 MOVTICKET_CALLBACK_ALLOW 中放行）`,
  'interfaces.empty': () => '请至少选择一个接口',
  'price.target': () => '请选择影院或券种',
  'changes.empty': () => '没有要修改的内容',
  'card.card_no': () => '卡号须为 16 位数字',
  'reason.required': (p) => `请填写 1–${p.max} 个字的原因`,
  // Nothing else about another cinema's card or redemption is shown to cinema staff.
  'card.not_valid_here': () => '此卡不能在本影院兑换',
  'redemption.other_cinema': () => '这笔兑换不是本影院的，不能撤销',
  'card.resend_admins_only': () => '只有管理员可以把短信发送到新手机号',
  'card.resend_confirm': () => '请确认发送到新手机号',
  'field.malformed': (p) => (p.field === 'mobile' ? '手机号须为 11 位手机号码' : `${field(p)}格式有误`),
  'field.partner_id': () => '渠道编号须为 2 个大写字母加 6 位数字，如 CS000001',
  'card.state': (p) => `卡 ${p.card_no} ${status(p)}，不能${action(p)}`,
  'card.resend_limit': (p) => `卡 ${p.card_no} 今天已重发短信 ${p.max} 次，请明天再试`,
  'callback.test_no_url': () => '还没有回调 URL：请先保存回调 URL，再发送测试通知',
  'callback.test_failed': (p) => `测试通知未送达：${p.reason}`,
  'order.exists': (p) => `渠道订单号 ${p.order_no} 已用于卡 ${p.card_no}`,
  // Wrong passwords say how many tries are left or until when the card is locked.
  'card.wrong_password': (p) => `密码错误，还可尝试 ${p.tries_left} 次。`,
  'card.wrong_password_locked': (p) => `密码错误。错误次数过多，此卡已锁定至 ${p.until}。`,
  'card.locked': (p) => `此卡因密码错误次数过多已锁定至 ${p.until}。`,
  'card.frozen': () => '此卡剩余的票已被客服冻结，暂不能兑换。请顾客联系购票渠道或客服。',
  'card.search_mobile': () => '手机号请输入完整 11 位，或只输入后 4 位',
  'card.export_too_many': (p) => `搜索结果有 ${p.total} 张卡，一次最多导出 ${p.max} 张，请缩小搜索范围`,
  'redeem.count': (p) => `兑换张数须为 1 到 ${p.max} 的整数`,
  'redeem.too_many': (p) => `此卡只剩 ${p.remaining} 张，不能兑换 ${p.count} 张`,
  'redeem.staff_only': () => '只有绑定影院的影院账号可以兑换',
  'redemption.undone': () => '这笔兑换已撤销',
  'redemption.too_late': (p) => `这笔兑换发生在 ${p.at}，只能在 10 分钟内撤销`,
  'redemption.gone': () => '此卡已不再包含这笔兑换，不能撤销',
  'role.forbidden': () => '你的角色无权进行此操作',
  'date.invalid': (p) => `日期 ${p.day} 有误，应为 YYYY-MM-DD`,
  'date.range_reversed': (p) => `结束日期 ${p.to} 早于开始日期 ${p.from}`,
  'date.range_too_long': (p) => `日期范围最多 ${p.max} 天`,
  'settlement.other_cinema': () => '影院账号只能查看本影院的结算',
  'user.last_admin': (p) => `${p.username} 是最后一个启用的管理员，不能停用；请先新建或启用另一个管理员`,
  'key.exists': (p) => `密钥 ${p.sec_id} 已存在`,
  'key.revoked': (p) => `密钥 ${p.sec_id} 已吊销`,
  // Rows of a cinema CSV import.
  'field.flag': (p) => `${field(p)}须为 1 或 0（也可写 true/false、yes/no）`,
  'import.csv': () => '文件不是有效的 CSV：引号没有成对出现（含逗号或引号的内容须整体加引号）',
  'import.empty': (p) => `文件是空的；第一行应为表头：${p.columns}`,
  'import.unknown_column': (p) => `未知的列 ${p.column}`,
  'import.column_twice': (p) => `列 ${p.column} 出现了两次`,
  'import.missing_column': (p) => `缺少列 ${p.column}`,
  'import.width': (p) => `应有 ${p.expected} 列，实有 ${p.found} 列`,
  'import.name': (p) => `${what(p)} ${p.id} 的名称是“${p.known}”，不是“${p.given}”`,
  'import.region_city': (p) => `区域 ${p.id} 属于城市 ${p.known}，不属于 ${p.given}`,
  'import.cinema_twice': (p) => `影院 ${p.id} 已在第 ${p.row} 行出现`,
  'user.current_password': () => '当前密码不正确',
  'user.password_mismatch': () => '两次输入的新密码不一致',
  'storage.unavailable': () => '数据库暂时不可用，请稍后重试',
  exists: (p) => `${what(p)} ${p.id} 已存在`,
  not_found: (p) => `未找到${what(p)} ${p.id}`,
};

/** The sentence for a rule given by id and params (an import row's issue), or `fallback`. */
export function sentenceFor(id: string, params: Params, fallback: string): string {
  const say = SENTENCES[id];
  return say ? say(params) : fallback;
}

/** The field a refusal names, as the forms label it. */
export const fieldLabel = (name: string) => FIELD_LABEL[name] ?? name;

/** The refusal in Chinese, or its own message when the catalogue has no sentence for it. */
export function sentenceOf(err: AppError): string {
  const say = SENTENCES[err.id];
  if (say) return say(err.params);
  // A message already in Chinese (a domain sentence) stands; an English one never reaches a person.
  return /[A-Za-z]{3,} [A-Za-z]{2,}/.test(err.message) ? genericSentence(err) : err.message;
}

const BY_CODE: Record<string, string> = {
  invalid: '输入有误，请检查后重试',
  conflict: '与现有数据冲突，没有做任何修改',
  forbidden: '你的角色无权进行此操作',
  not_found: '要找的内容不存在',
};

function genericSentence(err: AppError): string {
  const field = typeof err.params.field === 'string' ? err.params.field : err.field;
  if (err.code === 'invalid' && field) return `${fieldLabel(field)}的值不符合要求，请检查后重试`;
  return BY_CODE[err.code] ?? '操作未能完成，请稍后重试';
}

/**
 * SMS providers' refusal codes in Chinese, for the card page and the SMS log. A code without a
 * sentence here is shown as the provider's own code.
 */
export const SMS_PROVIDER_CODE: Record<string, string> = {
  'isv.MOBILE_NUMBER_ILLEGAL': '手机号码格式错误或不是有效的手机号',
  'isv.PHONENUMBER_ILLEGAL': '手机号码格式错误或不是有效的手机号',
  'isv.MOBILE_COUNT_OVER_LIMIT': '一次提交的手机号码过多',
  'isv.BLACK_KEY_CONTROL_LIMIT': '号码或内容被服务商列入黑名单，不能发送',
  'isv.BUSINESS_LIMIT_CONTROL': '触发服务商对该号码的发送频率限制',
  'isv.DAY_LIMIT_CONTROL': '该号码今天接收的短信已达服务商上限',
  'isv.AMOUNT_NOT_ENOUGH': '服务商账户余额不足',
  'isv.SMS_SIGNATURE_ILLEGAL': '短信签名不存在或未通过审核',
  'isv.SMS_TEMPLATE_ILLEGAL': '短信模板不存在或未通过审核',
  'isv.TEMPLATE_MISSING_PARAMETERS': '模板变量缺少对应的参数',
  'isv.PARAM_LENGTH_LIMIT': '模板变量的值超出长度限制',
  SignatureDoesNotMatch: '接口签名校验失败，请检查 AccessKey Secret',
  'InvalidAccessKeyId.NotFound': 'AccessKey ID 不存在',
  ServiceUnavailable: '服务商暂时不可用',
  'InvalidParameterValue.IncorrectPhoneNumber': '手机号码格式错误或不是有效的手机号',
  'FailedOperation.PhoneNumberInBlacklist': '该号码在服务商的黑名单中（用户曾退订），不能发送',
  'FailedOperation.PhoneNumberParseFail': '服务商无法解析该手机号码',
  'UnsupportedOperation.UnsupportedRegion': '服务商不支持发送到该号码所属地区',
  'FailedOperation.InsufficientBalanceInSmsPackage': '服务商短信套餐包余量不足',
  'FailedOperation.SignatureIncorrectOrUnapproved': '短信签名不存在或未通过审核',
  'FailedOperation.TemplateIncorrectOrUnapproved': '短信模板不存在、未通过审核或与参数不符',
  'LimitExceeded.PhoneNumberThirtySecondLimit': '该号码 30 秒内接收的短信已达服务商上限',
  'LimitExceeded.PhoneNumberOneHourLimit': '该号码 1 小时内接收的短信已达服务商上限',
  'LimitExceeded.PhoneNumberDailyLimit': '该号码今天接收的短信已达服务商上限',
  'AuthFailure.SignatureFailure': '接口签名校验失败，请检查 SecretKey',
  'AuthFailure.SecretIdNotFound': 'SecretId 不存在',
  'movticket.NO_TEMPLATE_PARAMS': '该短信由旧版本排队，缺少模板参数；请在控制台重发',
};

/** The providers' names as the console shows them. */
export const SMS_PROVIDER_NAME: Record<string, string> = { aliyun: '阿里云', tencent: '腾讯云' };
