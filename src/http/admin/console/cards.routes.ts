import type { FastifyReply, FastifyRequest } from 'fastify';
import type {
  AdminCardView,
  CardDetail,
  CardSearch,
  SmsView,
} from '../../../domain/admin/card-admin.service.js';
import { CARD_STATUSES, SMS_STATES } from '../../../domain/admin/card-admin.service.js';
import { AppError } from '../../../errors.js';
import { actorOf, type ConsoleContext, userOf } from './context.js';
import { smsOutcome } from './sms-delivery.js';
import {
  CARD_STATUS_LABEL,
  EVENT_LABEL,
  isRefusal,
  label,
  maskMobile,
  messageOf,
  SMS_REASON_LABEL,
  SMS_STATUS_LABEL,
  yuan,
} from './format.js';
import { bodyOf, dayParam, pageOf, queryOf, str } from './forms.js';
import { href, html, type Html, seg } from './html.js';
import {
  badge,
  csrfField,
  field,
  jsonBlock,
  pager,
  redirectOk,
  selectField,
  sendPage,
  table,
  textareaField,
} from './layout.js';

const PER_PAGE = 50;
const cardPath = (no: string) => `/admin/cards/${seg(no)}`;

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

/** A card is banned by an operator while unpaid, or paid with no ticket redeemed. */
const bannable = (card: AdminCardView) =>
  card.status === 'inactive' || (card.status === 'active' && card.used_count === 0);

export function cardRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  app.get('/admin/cards', { preHandler: c.view.staff }, async (request, reply) => {
    const q = queryOf(request);
    const keep: Record<string, string> = {
      card_no: str(q, 'card_no').trim(),
      partner: str(q, 'partner'),
      order_no: str(q, 'order_no').trim(),
      mobile: str(q, 'mobile').trim(),
      status: str(q, 'status'),
      since: dayParam(q, 'since'),
      until: dayParam(q, 'until'),
    };
    const partners = await deps.partners.list(actorOf(request));
    const form = html`<form method="get" action="/admin/cards" class="panel">
      <div class="form-grid">
        ${field({ label: '卡号', name: 'card_no', value: keep.card_no, hint: '16 位，或输入开头几位', maxlength: 16 })}
        ${selectField({ label: '渠道', name: 'partner', value: keep.partner, options: [{ value: '', label: '全部渠道' }, ...partners.map((p) => ({ value: p.partnerId, label: `${p.partnerId} ${p.name}` }))] })}
        ${field({ label: '渠道订单号', name: 'order_no', value: keep.order_no })}
        ${field({ label: '手机号', name: 'mobile', value: keep.mobile, hint: '完整 11 位' })}
        ${selectField({ label: '状态', name: 'status', value: keep.status, options: [{ value: '', label: '全部状态' }, ...CARD_STATUSES.map((s) => ({ value: s, label: label(CARD_STATUS_LABEL, s) }))] })}
        ${field({ label: '创建日期从', name: 'since', type: 'date', value: keep.since })}
        ${field({ label: '到', name: 'until', type: 'date', value: keep.until })}
        <div><button type="submit">搜索</button> <a href="/admin/cards">清空</a></div>
      </div>
    </form>`;

    const pageNo = pageOf(q);
    const search: CardSearch = {
      cardNo: keep.card_no || undefined,
      partnerId: keep.partner || undefined,
      orderNo: keep.order_no || undefined,
      mobile: keep.mobile || undefined,
      status: (keep.status || undefined) as CardSearch['status'],
      since: keep.since || undefined,
      until: keep.until || undefined,
      limit: PER_PAGE,
      offset: (pageNo - 1) * PER_PAGE,
    };
    let result;
    try {
      result = await deps.cardAdmin.search(search);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return sendPage(request, reply, {
        title: '卡券',
        nav: 'cards',
        status: 400,
        error: messageOf(err),
        body: form,
      });
    }
    const rows = result.items.map(
      (x) =>
        html`<tr>
          <td class="mono"><a href="${cardPath(x.card_no)}">${x.card_no}</a></td>
          <td class="mono"><a href="/admin/partners/${seg(x.partner_id)}">${x.partner_id}</a></td>
          <td class="mono">${x.order_no ?? ''}</td>
          <td>${x.cinema_id ? `影院 ${x.cinema_id}` : `券种 ${x.kind_id ?? ''}`}</td>
          <td>${cardStatusBadge(x.status)}</td>
          <td class="num">${x.used_count} / ${x.count}</td>
          <td class="num">${yuan(x.total_fen)}</td>
          <td class="mono">${maskMobile(x.mobile)}</td>
          <td>${c.time(x.created_at)}</td>
          <td>${c.time(x.paid_at)}</td>
        </tr>`,
    );
    return sendPage(request, reply, {
      title: '卡券',
      nav: 'cards',
      body: html`${form}
      ${table(['卡号', '渠道', '订单号', '兑换对象', '状态', { label: '已兑/张数', num: true }, { label: '金额', num: true }, '手机', '创建时间', '支付时间'], rows, '没有找到卡')}
      ${pager('/admin/cards', keep, { offset: result.offset, limit: result.limit, total: result.total, hasNext: result.offset + result.limit < result.total })}`,
    });
  });

  type No = { Params: { no: string } };

  app.get<No>('/admin/cards/:no', { preHandler: c.view.staff }, async (request, reply) =>
    detailPage(c, request, reply, request.params.no),
  );

  app.get<No>('/admin/cards/:no/ban', { preHandler: c.view.staff }, async (request, reply) =>
    banPage(c, request, reply, await deps.cardAdmin.show(request.params.no)),
  );

  app.post<No>('/admin/cards/:no/ban', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    try {
      await deps.cardAdmin.ban(actorOf(request).actor, request.params.no, str(f, 'reason'));
      return redirectOk(reply, cardPath(request.params.no), 'card.banned');
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const detail = await deps.cardAdmin.show(request.params.no);
      return banPage(c, request, reply, detail, {
        status: err.status,
        error: messageOf(err),
        reason: str(f, 'reason'),
      });
    }
  });

  // A new mobile first gets a confirmation page (the card, the number, a reason); only the form
  // sent from there, with confirm=1 and a reason, queues the SMS.
  app.post<No>('/admin/cards/:no/resend', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    const mobile = str(f, 'mobile').trim();
    const reason = str(f, 'reason');
    const confirmed = str(f, 'confirm') === '1';
    try {
      const { card } = await deps.cardAdmin.resendSms(actorOf(request), request.params.no, {
        mobile: mobile || undefined,
        reason,
        confirmed,
      });
      deps.outbox.nudge();
      const ok = confirmed && card.mobile === mobile ? 'card.resent_new_mobile' : 'card.resent';
      return redirectOk(reply, cardPath(request.params.no), ok);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const asked =
        err instanceof AppError && ['confirmation_required', 'reason_required'].includes(err.code);
      if (asked) {
        const refused = confirmed ? { status: err.status, error: messageOf(err) } : undefined;
        const detail = await deps.cardAdmin.show(request.params.no);
        return resendConfirmPage(c, request, reply, detail, mobile, reason, refused);
      }
      return detailPage(c, request, reply, request.params.no, {
        status: err.status,
        error: messageOf(err),
        mobile,
      });
    }
  });

  app.get('/admin/sms', { preHandler: c.view.staff }, async (request, reply) => {
    const q = queryOf(request);
    const keep = { status: str(q, 'status'), card_no: str(q, 'card_no').trim() };
    const pageNo = pageOf(q);
    const form = html`<form method="get" action="/admin/sms" class="panel">
      <div class="form-grid">
        ${selectField({ label: '投递状态', name: 'status', value: keep.status, options: [{ value: '', label: '全部' }, ...SMS_STATES.map((s) => ({ value: s, label: label(SMS_STATUS_LABEL, s) }))] })}
        ${field({ label: '卡号', name: 'card_no', value: keep.card_no, maxlength: 16 })}
        <div><button type="submit">筛选</button></div>
      </div>
    </form>`;
    let result;
    try {
      result = await deps.cardAdmin.smsLog({
        status: (keep.status || undefined) as SmsView['status'] | undefined,
        cardNo: keep.card_no || undefined,
        limit: PER_PAGE,
        offset: (pageNo - 1) * PER_PAGE,
      });
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return sendPage(request, reply, {
        title: '短信记录',
        nav: 'sms',
        status: 400,
        error: messageOf(err),
        body: form,
      });
    }
    return sendPage(request, reply, {
      title: '短信记录',
      nav: 'sms',
      body: html`${form}${smsTable(c, result.items, true)}
      ${pager('/admin/sms', keep, { offset: result.offset, limit: result.limit, total: result.total, hasNext: result.offset + result.limit < result.total })}`,
    });
  });
}

function smsTable(c: ConsoleContext, items: readonly SmsView[], withCard: boolean): Html {
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

function cardSummary(c: ConsoleContext, d: CardDetail): Html {
  const x = d.card;
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
        ${x.cinema_id ? html`影院 <a href="/admin/catalog/cinemas/${seg(x.cinema_id)}">${x.cinema_id}</a>` : html`券种 <a href="/admin/catalog/kinds/${seg(x.kind_id ?? '')}">${x.kind_id ?? ''}</a>`}
      </dd>
      <dt>张数</dt>
      <dd>${x.count}（已兑换 ${x.used_count}，剩余 ${x.remaining}）</dd>
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

async function detailPage(
  c: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  cardNo: string,
  refused?: { status: number; error: string; mobile: string },
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
  </div>`;

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
          <td class="mono">${r.cinema_id}</td>
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
          <td class="mono">${a.action}</td>
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

/** Confirms a resend to a new mobile: the card, the number it will go to from now on, a reason. */
function resendConfirmPage(
  c: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  d: CardDetail,
  mobile: string,
  reason: string,
  refused?: { status: number; error: string },
) {
  const x = d.card;
  const path = cardPath(x.card_no);
  return sendPage(request, reply, {
    title: `发送到新手机号 · 卡 ${x.card_no}`,
    nav: 'cards',
    status: refused?.status,
    error: refused?.error,
    body: html`${cardSummary(c, d)}
      <div class="warn">
        短信含此卡的密码，将发送到新手机号 <strong class="mono">${mobile}</strong>（原手机号
        <span class="mono">${maskMobile(x.mobile)}</span>），此后此卡的短信都发到这个号码。请先核实顾客身份。
      </div>
      <form method="post" action="${path}/resend" class="panel" autocomplete="off">
        ${csrfField(request)}
        <input type="hidden" name="mobile" value="${mobile}" />
        <input type="hidden" name="confirm" value="1" />
        ${textareaField({ label: '原因（必填，最多 200 字）', name: 'reason', value: reason, rows: 3, error: refused ? refused.error : null })}
        <div class="actions">
          <button type="submit" class="danger">确认发送到新手机号</button><a href="${path}">取消</a>
        </div>
      </form>`,
  });
}

function banPage(
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
