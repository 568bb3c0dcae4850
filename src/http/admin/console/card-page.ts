import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminCardView, CardDetail, SmsView } from '../../../domain/admin/card-admin.service.js';
import { type ConsoleContext, userOf } from './context.js';
import {
  CARD_STATUS_LABEL,
  EVENT_LABEL,
  label,
  maskMobile,
  SMS_REASON_LABEL,
  SMS_STATUS_LABEL,
  yuan,
} from './format.js';
import { href, html, type Html, raw, seg } from './html.js';
import { actionLabel } from './labels.zh.js';
import { smsOutcome } from './sms-delivery.js';
import { badge, csrfField, jsonBlock, sendPage, table, textareaField } from './layout.js';

/** The card page and its forms: the summary, the ledger, SMS, redemptions, the desk's controls. */

export const cardPath = (no: string) => `/admin/cards/${seg(no)}`;

const STATUS_COLOR: Record<string, '' | 'green' | 'red' | 'yellow' | 'blue'> = {
  inactive: 'yellow',
  active: 'green',
  used: 'blue',
  expired: '',
  banned: 'red',
  queued: 'yellow',
  sent: 'green',
  failed: 'red',
  none: '',
};

export const cardStatusBadge = (s: string) => badge(label(CARD_STATUS_LABEL, s), STATUS_COLOR[s] ?? '');
const smsBadge = (s: string) => badge(label(SMS_STATUS_LABEL, s), STATUS_COLOR[s] ?? '');

/** The desk's forms side by side, with a short reason box (the console's textareas are for CSV). */
const DESK_CSS = `<style>
.desk-forms{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:0 16px}
.desk textarea{min-height:0;font:inherit}
.desk h3{margin-top:0}
</style>`;

/** A card is banned by an operator while unpaid, or paid with no ticket redeemed. */
const bannable = (card: AdminCardView) =>
  card.status === 'inactive' || (card.status === 'active' && card.used_count === 0);

export function smsTable(c: ConsoleContext, items: readonly SmsView[], withCard: boolean): Html {
  return table(
    [
      ...(withCard ? ['卡号'] : []),
      '手机',
      '原因',
      '状态',
      { label: '尝试次数', num: true },
      '结果',
      '排队时间',
      '下次尝试',
      '发送时间',
    ],
    items.map(
      (m) =>
        html`<tr>
          ${withCard ? html`<td class="mono"><a href="${cardPath(m.card_no)}">${m.card_no}</a></td>` : ''}
          <td class="mono">${maskMobile(m.mobile)}</td>
          <td>${label(SMS_REASON_LABEL, m.reason)}</td>
          <td>${smsBadge(m.status)}</td>
          <td class="num">${m.attempts}</td>
          <td>${smsOutcome(m)}</td>
          <td>${c.time(m.created_at)}</td>
          <td>${m.status === 'queued' ? c.time(m.next_attempt_at) : ''}</td>
          <td>${c.time(m.sent_at)}</td>
        </tr>`,
    ),
    '没有短信',
  );
}

export function cardSummary(c: ConsoleContext, d: CardDetail): Html {
  const x = d.card;
  const lock = d.lock;
  return html`<div class="panel">
    <dl class="kv">
      <dt>卡号</dt>
      <dd class="mono">${x.card_no}</dd>
      <dt>状态</dt>
      <dd>
        ${cardStatusBadge(x.status)}${x.ban_reason ? html` <span class="muted">原因：${x.ban_reason}</span>` : ''}
      </dd>
      <dt>渠道</dt>
      <dd><a href="/admin/partners/${seg(x.partner_id)}" class="mono">${x.partner_id}</a></dd>
      <dt>渠道订单号</dt>
      <dd class="mono">${x.order_no ?? ''}</dd>
      <dt>兑换对象</dt>
      <dd>
        ${x.cinema_id ? html`影院 <a href="/admin/catalog/cinemas/${seg(x.cinema_id)}">${x.target_name}</a> <span class="muted mono">${x.cinema_id}</span>` : html`券种 <a href="/admin/catalog/kinds/${seg(x.kind_id ?? '')}">${x.target_name}</a> <span class="muted mono">${x.kind_id ?? ''}</span>`}
      </dd>
      <dt>张数</dt>
      <dd>${x.count}（已兑换 ${x.used_count}，剩余 ${x.remaining}）</dd>
      ${
        x.frozen_at !== null
          ? html`<dt>冻结</dt>
              <dd>
                ${badge('剩余的票已冻结', 'red')} ${c.time(x.frozen_at)}
                <span class="muted">原因：${x.frozen_reason ?? ''}</span>
              </dd>`
          : ''
      }
      <dt>密码锁定</dt>
      <dd id="password-lock">
        ${
          lock.locked_until !== null
            ? html`${badge('已锁定', 'red')} 锁定至
                <strong>${c.time(lock.locked_until)}</strong>（一小时内密码错误 ${lock.wrong_tries} 次）`
            : lock.wrong_tries > 0
              ? html`未锁定；一小时内密码错误 ${lock.wrong_tries} 次，还可尝试 ${lock.tries_left} 次`
              : '未锁定，没有密码错误记录'
        }
      </dd>
      <dt>单价 / 总价</dt>
      <dd>${yuan(x.price_fen)} / ${yuan(x.total_fen)}</dd>
      <dt>手机</dt>
      <dd class="mono">${x.mobile ?? ''}</dd>
      <dt>短信</dt>
      <dd>${smsBadge(x.sms_status)}</dd>
      <dt>创建</dt>
      <dd>${c.time(x.created_at)}</dd>
      <dt>支付期限</dt>
      <dd>${c.time(x.pay_deadline)}</dd>
      <dt>支付</dt>
      <dd>${c.time(x.paid_at)}</dd>
      <dt>有效期至</dt>
      <dd>${c.time(x.valid_until)}</dd>
      ${
        x.banned_at
          ? html`<dt>作废时间</dt>
              <dd>${c.time(x.banned_at)}</dd>`
          : ''
      }
      ${
        x.expired_at
          ? html`<dt>过期时间</dt>
              <dd>${c.time(x.expired_at)}</dd>`
          : ''
      }
    </dl>
  </div>`;
}

export async function detailPage(
  c: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  cardNo: string,
  refused?: Refused,
) {
  const [d, settings] = await Promise.all([c.deps.cardAdmin.show(cardNo), c.deps.settings.get()]);
  const x = d.card;
  const path = cardPath(x.card_no);
  const toNewMobile = settings.resendNewMobile === 'operators' || userOf(request).role === 'admin';
  const actions = html`<div class="actions">
      ${bannable(x) ? html`<a class="button secondary" href="${path}/ban">作废此卡…</a>` : ''}
      ${
        x.status === 'active'
          ? html`<form method="post" action="${path}/resend" class="inline">
              ${csrfField(request)}
              ${
                toNewMobile
                  ? html`<input
                      type="text"
                      name="mobile"
                      value="${refused?.mobile ?? ''}"
                      placeholder="新手机号（可选）"
                      maxlength="11"
                      style="width:170px"
                    />`
                  : ''
              }
              <button type="submit" class="secondary">重发短信</button>
              ${toNewMobile ? '' : html`<span class="muted">发送到新手机号仅限管理员</span>`}
            </form>`
          : ''
      }
      <a href="${href('/admin/audit', { entity_type: 'card', entity_id: x.card_no })}">审计日志</a>
    </div>
    ${deskSection(request, d, refused)}`;

  const ledger = table(
    ['#', '事件', '时间', '操作者', '数据'],
    d.events.map(
      (e) =>
        html`<tr>
          <td class="num">${e.seq}</td>
          <td>${label(EVENT_LABEL, e.type)} <span class="muted mono">${e.type}</span></td>
          <td>${c.time(e.at)}</td>
          <td class="mono">${e.actor}</td>
          <td>${jsonBlock(e.data, c.time)}</td>
        </tr>`,
    ),
  );
  const redemptions = table(
    ['时间', '影院', { label: '张数', num: true }, '操作员', '撤销'],
    d.redemptions.map(
      (r) =>
        html`<tr>
          <td>${c.time(r.at)}</td>
          <td>${r.cinema_name} <span class="muted mono">${r.cinema_id}</span></td>
          <td class="num">${r.count}</td>
          <td>${r.username ?? r.user_id}</td>
          <td>${r.undone_at ? html`${badge('已撤销', 'yellow')} ${c.time(r.undone_at)}` : ''}</td>
        </tr>`,
    ),
    '没有兑换记录',
  );
  const audit = table(
    ['时间', '操作者', '动作', '之前', '之后'],
    d.audit.map(
      (a) =>
        html`<tr>
          <td>${c.time(a.at)}</td>
          <td class="mono">${a.actor}</td>
          <td>${actionLabel(a.action)}</td>
          <td>${jsonBlock(a.before, c.time)}</td>
          <td>${jsonBlock(a.after, c.time)}</td>
        </tr>`,
    ),
    '没有审计记录',
  );
  return sendPage(request, reply, {
    title: `卡 ${x.card_no}`,
    nav: 'cards',
    status: refused?.status,
    error: refused?.error,
    body: html`<p><a href="/admin/cards">‹ 卡券搜索</a></p>
      ${cardSummary(c, d)}${actions}
      <h2>流水</h2>
      ${ledger}
      <h2>短信</h2>
      ${smsTable(c, d.sms, false)}
      <h2>兑换</h2>
      ${redemptions}
      <h2>审计</h2>
      ${audit}`,
  });
}

export function banPage(
  c: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  d: CardDetail,
  refused?: { status: number; error: string; reason: string },
) {
  const x = d.card;
  const path = cardPath(x.card_no);
  const body = bannable(x)
    ? html`<div class="warn">
          作废后此卡不能再兑换${x.status === 'active' ? '，已支付的金额将在对账单中记为冲销（负数）' : ''}。此操作不可撤销。
        </div>
        <form method="post" action="${path}/ban" class="panel">
          ${csrfField(request)}
          ${textareaField({ label: '作废原因（必填，最多 100 字）', name: 'reason', value: refused?.reason ?? '', rows: 3, error: refused ? refused.error : null })}
          <div class="actions">
            <button type="submit" class="danger">确认作废</button><a href="${path}">取消</a>
          </div>
        </form>`
    : html`<div class="notice">
          此卡当前${label(CARD_STATUS_LABEL, x.status)}${x.used_count ? `，已兑换 ${x.used_count} 张` : ''}，不能作废。
        </div>
        <p><a href="${path}">‹ 返回</a></p>`;
  return sendPage(request, reply, {
    title: `作废卡 ${x.card_no}`,
    nav: 'cards',
    status: refused?.status,
    error: refused?.error,
    body: html`${cardSummary(c, d)}${body}`,
  });
}

/** A refusal shown on the card page, with what was typed into the form it came from. */
export interface Refused {
  status: number;
  error: string;
  mobile?: string;
  /** The support-desk form the refusal belongs to, and its reason as typed. */
  form?: DeskVerb;
  reason?: string;
}

export type DeskVerb = 'freeze' | 'unfreeze' | 'unlock';

/**
 * The support desk's controls: clear a password lock, freeze the remaining tickets, unfreeze.
 * Each takes a reason, kept in the ledger and the audit log.
 */
function deskSection(request: FastifyRequest, d: CardDetail, refused?: Refused): Html {
  const x = d.card;
  const path = cardPath(x.card_no);
  const form = (verb: DeskVerb, legend: string, button: string, hint: string, danger = false) =>
    html`<form method="post" action="${path}/${verb}" class="panel desk" id="desk-${verb}">
      ${csrfField(request)}
      <h3>${legend}</h3>
      ${textareaField({ label: '原因（必填，最多 100 字）', name: 'reason', value: refused?.form === verb ? (refused.reason ?? '') : '', rows: 2, hint, error: refused?.form === verb ? refused.error : null })}
      <div class="actions"><button type="submit" class="${danger ? 'danger' : ''}">${button}</button></div>
    </form>`;
  const forms: Html[] = [];
  if (d.lock.wrong_tries > 0) {
    forms.push(
      form(
        'unlock',
        '解除密码锁定',
        '解除锁定',
        '清零密码错误次数；请先核实来电人是持卡人。错误记录仍保留在流水中。',
      ),
    );
  }
  if (x.frozen_at === null && x.status === 'active') {
    forms.push(
      form(
        'freeze',
        '冻结剩余的票',
        '冻结…',
        `例如短信被盗：剩余 ${x.remaining} 张票暂停兑换，直到解冻。`,
        true,
      ),
    );
  }
  if (x.frozen_at !== null) {
    forms.push(form('unfreeze', '解冻', '解冻', '解冻后剩余的票可以照常兑换。'));
  }
  return forms.length
    ? html`<h2>客服操作</h2>
        ${raw(DESK_CSS)}
        <div class="desk-forms">${forms}</div>`
    : html``;
}
