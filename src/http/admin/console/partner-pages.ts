import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogView } from '../../../domain/admin/catalog-views.js';
import type { NotifyLog } from '../../../domain/admin/partner-callback.service.js';
import type { PartnerDetail } from '../../../domain/admin/partner-views.js';
import { INTERFACE_NAMES } from '../../partner/interfaces.js';
import { actorOf, type ConsoleContext, userOf } from './context.js';
import {
  EVENT_LABEL,
  INTERFACE_LABEL,
  KEY_STATUS_LABEL,
  label,
  notifyErrorText,
  PARTNER_STATUS_LABEL,
  yuan,
} from './format.js';
import { type Fields, str, strs } from './forms.js';
import { html, type Html, seg } from './html.js';
import {
  badge,
  csrfField,
  field,
  postButton,
  selectField,
  sendPage,
  table,
  textareaField,
} from './layout.js';

/* The partner pages of the console: the new-partner form and the detail page with its sections. */

export interface FormState {
  status: number;
  error: string;
  /** Which form the values and errors belong to. */
  form: 'edit' | 'status' | 'permissions' | 'key' | 'price' | 'revoke' | 'callback' | 'notify';
  values: Fields;
  fields: Record<string, string>;
}

export const partnerPath = (id: string) => `/admin/partners/${seg(id)}`;

const NOTIFY_STATUS_LABEL: Record<string, string> = { queued: '排队中', delivered: '已送达', failed: '失败' };
const NOTIFY_STATUS_COLOR = { queued: 'yellow', delivered: 'green', failed: 'red' } as const;

/** The callback URL form and the latest events sent (or to be sent) to it, each with a retry button. */
function notifySection(c: ConsoleContext, request: FastifyRequest, log: NotifyLog, state?: FormState): Html {
  const path = partnerPath(log.partnerId);
  const err = state?.form === 'callback' ? state.fields : {};
  const rows = log.events.map(
    (e) =>
      html`<tr>
        <td>${c.time(e.createdAt)}</td>
        <td><a class="mono" href="/admin/cards/${seg(e.cardNo)}">${e.cardNo}</a></td>
        <td>${label(EVENT_LABEL, e.type)} <span class="muted mono">${e.type}</span></td>
        <td class="num">${e.usedCount} / ${e.usedCount + e.remaining}</td>
        <td>${badge(label(NOTIFY_STATUS_LABEL, e.status), NOTIFY_STATUS_COLOR[e.status])}</td>
        <td class="num">${e.attempts}</td>
        <td>
          ${e.status === 'delivered' ? c.time(e.deliveredAt) : e.status === 'queued' ? c.time(e.nextAttemptAt) : ''}
        </td>
        <td>
          ${e.lastStatus === null ? '' : html`<span class="mono">HTTP ${e.lastStatus}</span> `}${notifyErrorText(e.lastError)}
        </td>
        <td class="mono muted">${e.eventId}</td>
        <td>
          ${e.status === 'delivered' ? '' : postButton(request, `${path}/notify/retry`, '重试', { hidden: { event_id: e.eventId } })}
        </td>
      </tr>`,
  );
  return html`<h2 id="notify">回调通知</h2>
    <form method="post" action="${path}/callback" class="panel">
      ${csrfField(request)}
      <div class="form-grid">
        ${field({
          label: '回调 URL',
          name: 'callback_url',
          value: state?.form === 'callback' ? str(state.values, 'callback_url') : (log.callbackUrl ?? ''),
          placeholder: 'https://partner.example.com/movticket/notify',
          maxlength: 500,
          hint: '卡被兑换、撤销兑换、过期、作废时向此地址 POST 签名通知；留空则不通知',
          error: err.callback_url,
        })}
        <div><button type="submit">保存</button></div>
      </div>
      <p class="muted">
        通知失败时按退避重试 24 小时；渠道按 event_id 去重。签名：md5(partner_id + sec_id + event_id +
        event_type + card_no + seq + status + used_count + remaining + occurred_at + timestamp + md5key)，
        使用渠道最早的有效密钥（sec_id 随通知发送）。
      </p>
    </form>
    ${
      log.callbackUrl
        ? html`<p>
            ${postButton(request, `${path}/callback/test`, '发送测试通知')}
            <span class="muted"
              >立即向回调 URL 发送一条 event_type=test 的签名通知（card_no 为 16 个 0，不保存、不重试）</span
            >
          </p>`
        : ''
    }
    <h3>最近 50 条通知</h3>
    ${table(
      [
        '时间',
        '卡号',
        '事件',
        { label: '已用/总数', num: true },
        '投递状态',
        { label: '尝试', num: true },
        '下次尝试/送达',
        '最后错误',
        'event_id',
        '',
      ],
      rows,
      log.callbackUrl ? '还没有通知' : '未设置回调 URL：不记录通知',
    )}`;
}

export function statusBadge(status: string): Html {
  return badge(label(PARTNER_STATUS_LABEL, status), status === 'active' ? 'green' : 'red');
}

function permissionChecks(selected: readonly string[]): Html {
  return html`<div class="checks">
    ${INTERFACE_NAMES.map(
      (n) =>
        html`<label
          ><input
            type="checkbox"
            name="permissions"
            value="${n}"
            ${selected.includes(n) ? html` checked` : ''}
          />
          <span
            ><span class="mono">${n}</span> <span class="muted">${INTERFACE_LABEL[n] ?? ''}</span></span
          ></label
        >`,
    )}
  </div>`;
}

export function newPartnerPage(
  request: FastifyRequest,
  reply: FastifyReply,
  values: Fields,
  status = 200,
  error: string | null = null,
  errors: Record<string, string> = {},
) {
  return sendPage(request, reply, {
    title: '新建渠道',
    nav: 'partners',
    status,
    error,
    body: html`<form method="post" action="/admin/partners" class="panel">
      ${csrfField(request)}
      <div class="form-grid">
        ${field({ label: '名称', name: 'name', value: str(values, 'name'), required: true, maxlength: 100, error: errors.name })}
        ${field({ label: '编号前缀', name: 'prefix', value: str(values, 'prefix'), hint: '两个大写字母，partner_id 形如 MT000001', error: errors.prefix })}
        ${field({ label: '限流（次/秒）', name: 'rate_limit', type: 'number', value: str(values, 'rate_limit'), hint: '0 表示不限', error: errors.rate_limit })}
      </div>
      ${textareaField({ label: 'IP 白名单', name: 'ip_allow', value: str(values, 'ip_allow'), hint: '每行一个 IPv4/IPv6 地址；留空表示不限', error: errors.ip_allow })}
      <h3>接口权限</h3>
      ${errors.permissions ? html`<p class="err">${errors.permissions}</p>` : ''}
      ${permissionChecks(strs(values, 'permissions'))}
      <div class="actions"><button type="submit">创建渠道</button><a href="/admin/partners">取消</a></div>
    </form>`,
  });
}

export async function detailPage(
  c: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  id: string,
  state?: FormState,
) {
  const by = actorOf(request);
  const p = await c.deps.partners.show(by, id);
  const catalog = await c.deps.catalog.list(by);
  const isAdmin = userOf(request).role === 'admin';
  const path = partnerPath(p.partnerId);
  const v = (form: FormState['form'], name: string, fallback: string) =>
    state?.form === form ? str(state.values, name) : fallback;
  const e = (form: FormState['form'], name: string) =>
    state?.form === form ? state.fields[name] : undefined;

  const summary = html`<div class="panel">
    <dl class="kv">
      <dt>partner_id</dt>
      <dd class="mono">${p.partnerId}</dd>
      <dt>名称</dt>
      <dd>${p.name}</dd>
      <dt>bus_id</dt>
      <dd class="mono">${p.busId}</dd>
      <dt>状态</dt>
      <dd>
        ${statusBadge(p.status)}
        ${
          p.status === 'active'
            ? postButton(request, `${path}/suspend`, '暂停渠道', { className: 'small danger' })
            : postButton(request, `${path}/resume`, '恢复渠道', { className: 'small' })
        }
      </dd>
      <dt>创建时间</dt>
      <dd>${c.time(p.createdAt)}</dd>
    </dl>
  </div>`;

  const edit = html`<h2>基本设置</h2>
    <form method="post" action="${path}/edit" class="panel">
      ${csrfField(request)}
      <div class="form-grid">
        ${field({ label: '名称', name: 'name', value: v('edit', 'name', p.name), required: true, maxlength: 100, error: e('edit', 'name') })}
        ${field({ label: '限流（次/秒）', name: 'rate_limit', type: 'number', value: v('edit', 'rate_limit', String(p.rateLimit)), hint: '0 表示不限', error: e('edit', 'rate_limit') })}
      </div>
      ${textareaField({ label: 'IP 白名单', name: 'ip_allow', value: v('edit', 'ip_allow', p.ipAllow.join('\n')), hint: '每行一个地址；留空表示任何地址都可调用', error: e('edit', 'ip_allow') })}
      <div class="actions"><button type="submit">保存</button></div>
    </form>`;

  const permissions = html`<h2>接口权限</h2>
    <form method="post" action="${path}/permissions" class="panel">
      ${csrfField(request)}
      ${permissionChecks(state?.form === 'permissions' ? strs(state.values, 'permissions') : p.permissions)}
      <div class="actions">
        <button type="submit">更新权限</button><span class="muted">勾选的接口被授予，未勾选的被收回。</span>
      </div>
    </form>`;

  const keys = isAdmin ? keysSection(c, request, p, state) : html``;
  const prices = pricesSection(request, p, catalog, state);
  const notify = notifySection(c, request, await c.deps.partners.notifyLog(by, p.partnerId), state);

  return sendPage(request, reply, {
    title: `渠道 ${p.partnerId} · ${p.name}`,
    nav: 'partners',
    status: state?.status,
    error: state?.error,
    body: html`<p>
        <a href="/admin/partners">‹ 全部渠道</a> ·
        <a href="/admin/cards?partner=${p.partnerId}">该渠道的卡</a> ·
        <a href="/admin/statements?partner=${p.partnerId}">对账单</a> ·
        <a href="/admin/audit?entity_type=partner&amp;entity_id=${p.partnerId}">审计日志</a>
      </p>
      ${summary}${edit}${permissions}${keys}${prices}${notify}`,
  });
}

function keysSection(c: ConsoleContext, request: FastifyRequest, p: PartnerDetail, state?: FormState): Html {
  const path = partnerPath(p.partnerId);
  const keyErr = state?.form === 'key' ? state.fields : {};
  const rows = (p.keys ?? []).map(
    (k) =>
      html`<tr>
        <td class="mono">${k.secId}</td>
        <td>${k.signMode}</td>
        <td>${badge(label(KEY_STATUS_LABEL, k.status), k.status === 'active' ? 'green' : '')}</td>
        <td>${c.time(k.createdAt)}</td>
        <td>${c.time(k.revokedAt)}</td>
        <td>
          ${
            k.status === 'active'
              ? html`<form method="post" action="${path}/keys/revoke" class="inline">
                  ${csrfField(request)}
                  <input type="hidden" name="sec_id" value="${k.secId}" />
                  <button type="submit" class="small danger">吊销…</button>
                </form>`
              : ''
          }
        </td>
      </tr>`,
  );
  return html`<h2>密钥（sec_id）</h2>
    ${table(['sec_id', '签名方式', '状态', '创建时间', '吊销时间', ''], rows, '还没有密钥：渠道无法调用接口')}
    <form method="post" action="${path}/keys" class="panel">
      ${csrfField(request)}
      <h3>新建密钥</h3>
      <div class="form-grid">
        ${field({ label: 'sec_id', name: 'sec_id', value: state?.form === 'key' ? str(state.values, 'sec_id') : '', hint: '留空自动取 k1、k2…', error: keyErr.sec_id })}
        ${selectField({
          label: '签名方式',
          name: 'sign_mode',
          value: state?.form === 'key' ? str(state.values, 'sign_mode') : 'full',
          options: [
            { value: 'full', label: 'full（全部参数，推荐）' },
            { value: 'basic', label: 'basic（仅 partner_id+bus_id+req_id+timestamp）' },
          ],
          error: keyErr.sign_mode,
        })}
        <div><button type="submit">生成密钥</button></div>
      </div>
      <p class="muted">新的 md5key 只在生成后的页面显示一次。轮换密钥：先新建，渠道切换后再吊销旧的。</p>
    </form>`;
}

function pricesSection(
  request: FastifyRequest,
  p: PartnerDetail,
  catalog: CatalogView,
  state?: FormState,
): Html {
  const path = partnerPath(p.partnerId);
  const cinemas = new Map(catalog.cinemas.map((x) => [x.cinemaId, x]));
  const kinds = new Map(catalog.kinds.map((x) => [x.kindId, x]));
  const rows = p.prices.map((pr) => {
    const target = pr.targetType === 'cinema' ? cinemas.get(pr.targetId) : kinds.get(pr.targetId);
    return html`<tr>
      <td>${pr.targetType === 'cinema' ? '影院' : '券种'}</td>
      <td class="mono">${pr.targetId}</td>
      <td>${target?.name ?? ''}</td>
      <td class="num">${target ? yuan(target.priceFen) : ''}</td>
      <td class="num">${yuan(pr.priceFen)}</td>
      <td>
        ${postButton(request, `${path}/prices/clear`, '清除', { hidden: { target: `${pr.targetType}:${pr.targetId}` } })}
      </td>
    </tr>`;
  });
  const options = [
    ...catalog.cinemas.map((x) => ({
      value: `cinema:${x.cinemaId}`,
      label: `影院 ${x.cinemaId} ${x.name}（默认 ${yuan(x.priceFen)}）`,
    })),
    ...catalog.kinds.map((x) => ({
      value: `kind:${x.kindId}`,
      label: `券种 ${x.kindId} ${x.name}（默认 ${yuan(x.priceFen)}）`,
    })),
  ];
  const err = state?.form === 'price' ? state.fields : {};
  return html`<h2>渠道专属价格</h2>
    ${table(['类型', '编号', '名称', { label: '默认价', num: true }, { label: '渠道价', num: true }, ''], rows, '没有专属价格：按默认价结算')}
    <form method="post" action="${path}/prices" class="panel">
      ${csrfField(request)}
      <h3>设置价格</h3>
      <div class="form-grid">
        ${selectField({ label: '影院或券种', name: 'target', options, value: state?.form === 'price' ? str(state.values, 'target') : '', error: err.target ?? err.cinema_id ?? err.kind_id })}
        ${field({ label: '价格（元）', name: 'price', value: state?.form === 'price' ? str(state.values, 'price') : '', placeholder: '35.00', error: err.price })}
        <div><button type="submit">设置</button></div>
      </div>
    </form>`;
}
