import type { FastifyReply, FastifyRequest } from 'fastify';
import { type CardCheck, type RedemptionEntry } from '../../../domain/admin/redemption.service.js';
import { addDays } from '../../../domain/dates.js';
import { cardStatusBadge } from './cards.routes.js';
import { type ConsoleContext, staffOf, userOf } from './context.js';
import { isRefusal, messageOf } from './format.js';
import { bodyOf, dayParam, type Fields, intOf, queryOf, str } from './forms.js';
import { href, html, type Html } from './html.js';
import { csrfField, field, postButton, redirectOk, sendPage, table } from './layout.js';

/** Cinema staff: check a card, redeem tickets with its password, undo within 10 minutes, history. */

const HISTORY_DAYS = 14;

interface Refused {
  status: number;
  error: string;
}

export function redeemRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  const time = (ms: number | null) => c.time(ms);

  /** This cinema's redemptions of a day, newest first; undo buttons (while allowed) come back to `back`. */
  const redemptionTable = (
    request: FastifyRequest,
    items: readonly RedemptionEntry[],
    back: 'redeem' | 'history',
    day = '',
  ): Html =>
    table(
      ['时间', '卡号', { label: '张数', num: true }, '操作员', '状态', ''],
      [...items].reverse().map(
        (r) =>
          html`<tr>
            <td>${time(r.at)}</td>
            <td class="mono">${r.card_no}</td>
            <td class="num">${r.count}</td>
            <td>${r.username ?? ''}</td>
            <td>${r.undone_at ? html`已撤销 ${time(r.undone_at)}` : '有效'}</td>
            <td>
              ${
                r.undoable
                  ? postButton(request, '/admin/redeem/undo', '撤销', {
                      hidden: { redemption_id: r.redemption_id, back, day },
                      className: 'small danger',
                    })
                  : ''
              }
            </td>
          </tr>`,
      ),
      '没有兑换记录',
    );

  const redeemPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    values: Fields,
    refused?: Refused,
  ) => {
    const user = staffOf(request);
    const cardNo = str(values, 'card_no').replace(/\s+/g, '');
    let check: CardCheck | null = null;
    let checkError: Refused | undefined;
    if (cardNo) {
      try {
        check = await deps.redemption.checkCard(user, cardNo);
      } catch (err) {
        if (!isRefusal(err)) throw err;
        checkError = { status: err.status, error: messageOf(err) };
      }
    }
    const today = await deps.redemption.history(user.cinemaId ?? '', c.today());
    const lookup = html`<form method="get" action="/admin/redeem" class="panel">
      <div class="form-grid">
        ${field({ label: '卡号', name: 'card_no', value: cardNo, required: true, maxlength: 19, pattern: '[0-9 ]{16,19}', hint: '16 位数字', autocomplete: 'off', autofocus: !check })}
        <div><button type="submit">查询</button></div>
      </div>
    </form>`;
    const shown = refused ?? checkError;
    return sendPage(request, reply, {
      title: `兑换 · 影院 ${userOf(request).cinemaId ?? ''}`,
      nav: 'redeem',
      status: shown?.status,
      error: shown?.error,
      body: html`${lookup}${check ? checkPanel(request, check, values) : ''}
        <h2>今日兑换（${today.totals.tickets} 张，${today.totals.cards} 张卡）</h2>
        ${redemptionTable(request, today.redemptions, 'redeem')}
        <p><a href="/admin/redeem/history">查看兑换记录与每日合计 ›</a></p>`,
    });
  };

  const checkPanel = (request: FastifyRequest, k: CardCheck, values: Fields): Html => {
    const facts = html`<div class="panel">
      <dl class="kv">
        <dt>卡号</dt>
        <dd class="mono">${k.card_no}</dd>
        <dt>兑换对象</dt>
        <dd>
          ${k.target_name}
          <span class="muted mono">${k.cinema_id ? `影院 ${k.cinema_id}` : `券种 ${k.kind_id ?? ''}`}</span>
        </dd>
        <dt>状态</dt>
        <dd>${cardStatusBadge(k.status)}</dd>
        <dt>剩余</dt>
        <dd><strong>${k.remaining}</strong> / ${k.count} 张</dd>
        <dt>有效期至</dt>
        <dd>${time(k.valid_until)}</dd>
        ${
          k.locked_until
            ? html`<dt>密码锁定</dt>
                <dd><strong class="err">锁定至 ${time(k.locked_until)}</strong></dd>`
            : html`<dt>密码可尝试</dt>
                <dd>${k.tries_left} 次</dd>`
        }
      </dl>
    </div>`;
    if (!k.redeemable) {
      const why =
        k.status !== 'active'
          ? '此卡当前状态不能兑换。'
          : k.locked_until
            ? `密码错误次数过多，此卡锁定至 ${time(k.locked_until)}。`
            : '此卡已没有可兑换的票。';
      return html`${facts}
        <div class="notice">${why}</div>`;
    }
    const count = str(values, 'count') || '1';
    return html`${facts}
      <form method="post" action="/admin/redeem" class="panel" autocomplete="off">
        ${csrfField(request)}
        <input type="hidden" name="card_no" value="${k.card_no}" />
        <div class="form-grid">
          ${field({ label: '卡密码', name: 'password', type: 'password', value: '', required: true, autocomplete: 'off', hint: '请顾客出示短信中的密码', autofocus: true })}
          <label class="field"
            ><span>兑换张数 *</span
            ><select name="count">
              ${Array.from({ length: Math.min(k.remaining, 50) }, (_, i) => String(i + 1)).map(
                (n) => html`<option value="${n}" ${n === count ? html` selected` : ''}>${n}</option>`,
              )}
            </select></label
          >
          <div><button type="submit">确认兑换</button></div>
        </div>
      </form>`;
  };

  app.get('/admin/redeem', { preHandler: c.view.cinema }, (request, reply) =>
    redeemPage(request, reply, queryOf(request)),
  );

  app.post('/admin/redeem', { preHandler: c.change.cinema }, async (request, reply) => {
    const f = bodyOf(request);
    const cardNo = str(f, 'card_no').replace(/\s+/g, '');
    try {
      await deps.redemption.redeem(
        staffOf(request),
        cardNo,
        str(f, 'password'),
        intOf(str(f, 'count')) ?? NaN,
      );
      return redirectOk(reply, '/admin/redeem', 'redeemed', { card_no: cardNo });
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return redeemPage(request, reply, f, { status: err.status, error: messageOf(err) });
    }
  });

  app.post('/admin/redeem/undo', { preHandler: c.change.cinema }, async (request, reply) => {
    const f = bodyOf(request);
    const back = str(f, 'back') === 'history' ? '/admin/redeem/history' : '/admin/redeem';
    const day = dayParam(f, 'day');
    try {
      await deps.redemption.undo(staffOf(request), str(f, 'redemption_id'));
      return redirectOk(reply, back, 'undone', day ? { day } : {});
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const refused = { status: err.status, error: messageOf(err) };
      return back === '/admin/redeem'
        ? redeemPage(request, reply, {}, refused)
        : historyPage(request, reply, day, refused);
    }
  });

  const historyPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    dayIn: string,
    refused?: Refused,
  ) => {
    const cinemaId = userOf(request).cinemaId ?? '';
    const today = c.today();
    const form = (day: string) =>
      html`<form method="get" action="/admin/redeem/history" class="panel">
        <div class="form-grid">
          ${field({ label: '日期', name: 'day', type: 'date', value: day })}
          <div><button type="submit">查看</button></div>
        </div>
      </form>`;
    let history;
    try {
      history = await deps.redemption.history(cinemaId, dayIn || today);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return sendPage(request, reply, {
        title: '兑换记录',
        nav: 'history',
        status: 400,
        error: messageOf(err),
        body: form(dayIn),
      });
    }
    const totals = await deps.redemption.dailyTotals(cinemaId, addDays(today, -(HISTORY_DAYS - 1)), today);
    const t = history.totals;
    return sendPage(request, reply, {
      title: '兑换记录',
      nav: 'history',
      status: refused?.status,
      error: refused?.error,
      body: html`${form(history.day)}
        <h2>
          ${history.day}：${t.tickets} 张票，${t.cards} 张卡，${t.redemptions}
          笔${t.undone ? `（另有 ${t.undone} 笔已撤销）` : ''}
        </h2>
        ${redemptionTable(request, history.redemptions, 'history', history.day)}
        <h2>最近 ${HISTORY_DAYS} 天合计</h2>
        ${table(
          [
            '日期',
            { label: '票数', num: true },
            { label: '卡数', num: true },
            { label: '笔数', num: true },
            { label: '已撤销', num: true },
          ],
          [...totals].reverse().map(
            (d) =>
              html`<tr>
                <td><a href="${href('/admin/redeem/history', { day: d.day })}">${d.day}</a></td>
                <td class="num">${d.tickets}</td>
                <td class="num">${d.cards}</td>
                <td class="num">${d.redemptions}</td>
                <td class="num">${d.undone}</td>
              </tr>`,
          ),
        )}`,
    });
  };

  app.get('/admin/redeem/history', { preHandler: c.view.cinema }, (request, reply) =>
    historyPage(request, reply, dayParam(queryOf(request), 'day')),
  );
}
