import type { CardSearch, SmsView } from '../../../domain/admin/card-admin.service.js';
import { CARD_STATUSES, SMS_STATES } from '../../../domain/admin/card-admin.service.js';
import { AppError } from '../../../errors.js';
import { banPage, cardPath, cardStatusBadge, type DeskVerb, detailPage, smsTable } from './card-page.js';
import { cardsCsv } from './card-csv.js';
import { isConfirmed, sendConfirmation } from './confirm.js';
import { actorOf, type ConsoleContext } from './context.js';
import {
  CARD_STATUS_LABEL,
  isRefusal,
  label,
  maskMobile,
  messageOf,
  SMS_STATUS_LABEL,
  yuan,
} from './format.js';
import { bodyOf, dayParam, type Fields, pageOf, queryOf, str } from './forms.js';
import { href, html, seg } from './html.js';
import { field, pager, redirectOk, selectField, sendPage, table, textareaField } from './layout.js';

export { cardStatusBadge } from './card-page.js';

const PER_PAGE = 50;

/** The search form's fields as typed (kept in the form, the pager and the export link). */
function searchOf(q: Fields): Record<string, string> {
  return {
    card_no: str(q, 'card_no').trim(),
    partner: str(q, 'partner'),
    cinema: str(q, 'cinema'),
    order_no: str(q, 'order_no').trim(),
    mobile: str(q, 'mobile').trim(),
    status: str(q, 'status'),
    since: dayParam(q, 'since'),
    until: dayParam(q, 'until'),
  };
}

function searchQuery(keep: Record<string, string>): Omit<CardSearch, 'limit' | 'offset'> {
  return {
    cardNo: keep.card_no || undefined,
    partnerId: keep.partner || undefined,
    cinemaId: keep.cinema || undefined,
    orderNo: keep.order_no || undefined,
    mobile: keep.mobile || undefined,
    status: (keep.status || undefined) as CardSearch['status'],
    since: keep.since || undefined,
    until: keep.until || undefined,
  };
}

export function cardRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  app.get('/admin/cards', { preHandler: c.view.staff }, async (request, reply) => {
    const keep = searchOf(queryOf(request));
    const by = actorOf(request);
    const [partners, catalog] = await Promise.all([deps.partners.list(by), deps.catalog.list(by)]);
    const form = html`<form method="get" action="/admin/cards" class="panel">
      <div class="form-grid">
        ${field({ label: '卡号', name: 'card_no', value: keep.card_no, hint: '16 位，或开头几位；可带空格粘贴', maxlength: 40 })}
        ${field({ label: '手机号', name: 'mobile', value: keep.mobile, hint: '完整 11 位，或后 4 位', maxlength: 13 })}
        ${selectField({ label: '影院', name: 'cinema', value: keep.cinema, options: [{ value: '', label: '全部影院' }, ...catalog.cinemas.map((x) => ({ value: x.cinemaId, label: `${x.name}（${x.cinemaId}）` }))] })}
        ${selectField({ label: '渠道', name: 'partner', value: keep.partner, options: [{ value: '', label: '全部渠道' }, ...partners.map((p) => ({ value: p.partnerId, label: `${p.partnerId} ${p.name}` }))] })}
        ${field({ label: '渠道订单号', name: 'order_no', value: keep.order_no })}
        ${selectField({ label: '状态', name: 'status', value: keep.status, options: [{ value: '', label: '全部状态' }, ...CARD_STATUSES.map((s) => ({ value: s, label: label(CARD_STATUS_LABEL, s) }))] })}
        ${field({ label: '创建日期从', name: 'since', type: 'date', value: keep.since })}
        ${field({ label: '到', name: 'until', type: 'date', value: keep.until })}
        <div><button type="submit">搜索</button> <a href="/admin/cards">清空</a></div>
      </div>
    </form>`;

    const pageNo = pageOf(queryOf(request));
    let result;
    try {
      result = await deps.cardAdmin.search({
        ...searchQuery(keep),
        limit: PER_PAGE,
        offset: (pageNo - 1) * PER_PAGE,
      });
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
          <td>${x.cinema_id ? '影院' : '券种'} ${x.target_name}</td>
          <td>
            ${cardStatusBadge(x.status)}${x.frozen_at !== null ? html` <span class="badge red">已冻结</span>` : ''}
          </td>
          <td class="num">${x.used_count} / ${x.count}</td>
          <td class="num">${yuan(x.total_fen)}</td>
          <td class="mono">${maskMobile(x.mobile)}</td>
          <td>${c.time(x.created_at)}</td>
          <td>${c.time(x.paid_at)}</td>
        </tr>`,
    );
    const exportLink =
      result.total > 0
        ? html`<p>
            <a class="button secondary" href="${href('/admin/cards.csv', keep)}" download
              >导出搜索结果（CSV，${result.total} 张）</a
            >
          </p>`
        : '';
    return sendPage(request, reply, {
      title: '卡券',
      nav: 'cards',
      body: html`${form}${exportLink}
      ${table(['卡号', '渠道', '订单号', '兑换对象', '状态', { label: '已兑/张数', num: true }, { label: '金额', num: true }, '手机', '创建时间', '支付时间'], rows, '没有找到卡')}
      ${pager('/admin/cards', keep, { offset: result.offset, limit: result.limit, total: result.total, hasNext: result.offset + result.limit < result.total })}`,
    });
  });

  // The search as a file: every matching card (up to the export limit), Chinese headers, card
  // numbers that spreadsheets keep exact.
  app.get('/admin/cards.csv', { preHandler: c.view.staff }, async (request, reply) => {
    const keep = searchOf(queryOf(request));
    try {
      const items = await deps.cardAdmin.searchAll(searchQuery(keep));
      const stamp = c
        .time(deps.clock.now())
        .replace(/[^0-9]/g, '')
        .slice(0, 12);
      return reply
        .header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="cards-${stamp}.csv"`)
        .type('text/csv; charset=utf-8')
        .send(cardsCsv(items, c.time));
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return sendPage(request, reply, {
        title: '导出卡券',
        nav: 'cards',
        status: 400,
        error: messageOf(err),
        body: html`<p><a href="${href('/admin/cards', keep)}">‹ 返回搜索</a></p>`,
      });
    }
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

  // Sending the SMS (with the card's password) to a new mobile goes through the confirmation
  // page, which asks for the reason; the service's own checks (admins only) come first.
  app.post<No>('/admin/cards/:no/resend', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    const mobile = str(f, 'mobile').trim();
    const reason = str(f, 'reason');
    const confirmed = isConfirmed(request);
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
        const refused = confirmed ? { status: err.status, error: messageOf(err) } : {};
        const x = (await deps.cardAdmin.show(request.params.no)).card;
        return sendConfirmation(request, reply, {
          title: `发送到新手机号 · 卡 ${x.card_no}`,
          nav: 'cards',
          ...refused,
          warning: '短信含此卡的密码。请先核实顾客身份。',
          consequences: [
            html`卡 <span class="mono">${x.card_no}</span> 的短信（含密码）将发送到新手机号
              <strong class="mono">${mobile}</strong>（原手机号
              <span class="mono">${maskMobile(x.mobile)}</span>）。`,
            '此后此卡的短信都发到这个号码；原手机号收到过的密码仍然有效。',
          ],
          extra: textareaField({
            label: '原因（必填，最多 200 字）',
            name: 'reason',
            value: reason,
            rows: 3,
            error: 'error' in refused ? refused.error : null,
          }),
          confirmLabel: '确认发送到新手机号',
          back: cardPath(x.card_no),
        });
      }
      return detailPage(c, request, reply, request.params.no, {
        status: err.status,
        error: messageOf(err),
        mobile,
      });
    }
  });

  const desk: readonly [DeskVerb, string][] = [
    ['freeze', 'card.frozen'],
    ['unfreeze', 'card.unfrozen'],
    ['unlock', 'card.unlocked'],
  ];
  for (const [verb, ok] of desk) {
    app.post<No>(`/admin/cards/:no/${verb}`, { preHandler: c.change.staff }, async (request, reply) => {
      const no = request.params.no;
      const reason = str(bodyOf(request), 'reason');
      try {
        if (verb === 'freeze' && !isConfirmed(request)) {
          const x = (await deps.cardAdmin.show(no)).card;
          if (reason.trim() !== '' && x.frozen_at === null && x.status === 'active') {
            return sendConfirmation(request, reply, {
              title: `冻结卡 ${x.card_no} 剩余的票`,
              nav: 'cards',
              consequences: [
                `剩余 ${x.remaining} 张票（共 ${x.count} 张，已兑换 ${x.used_count} 张）在解冻前不能在任何影院兑换。`,
                '渠道查询此卡时状态仍为 active（冻结不改变卡的状态，也不发回调）。',
                `有效期不因冻结延长：到 ${c.time(x.valid_until)} 仍未兑换的票照常过期。`,
                `原因：${reason.trim()}`,
              ],
              confirmLabel: '确认冻结',
              back: cardPath(x.card_no),
            });
          }
        }
        await deps.cardAdmin[verb](actorOf(request).actor, no, reason);
        return redirectOk(reply, cardPath(no), ok);
      } catch (err) {
        if (!isRefusal(err)) throw err;
        return detailPage(c, request, reply, no, {
          status: err.status,
          error: messageOf(err),
          form: verb,
          reason,
        });
      }
    });
  }

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
