import type { FastifyReply, FastifyRequest } from 'fastify';
import { type CardCheck, type RedemptionEntry } from '../../../domain/admin/redemption.service.js';
import { addDays } from '../../../domain/dates.js';
import { cardStatusBadge } from './cards.routes.js';
import { type ConsoleContext, staffOf, userOf } from './context.js';
import { isRefusal, messageOf } from './format.js';
import { bodyOf, dayParam, type Fields, intOf, queryOf, str } from './forms.js';
import { href, html, type Html, raw } from './html.js';
import { csrfField, field, postButton, redirectOk, sendPage, table } from './layout.js';
import { isConfirmed, sendConfirmation } from './confirm.js';

/** Cinema staff: check a card, redeem tickets with its password, undo within 10 minutes, history. */

const HISTORY_DAYS = 14;

/*
 * The counter on a phone (390 px): the redemption list turns into blocks of label/value lines,
 * and the password is typed into a text field masked by CSS so that a checkbox can show it with
 * no script (the console's CSP allows inline styles; Chromium and Safari, the phones' engines,
 * honour -webkit-text-security). The field is never kept: autocomplete is off.
 */
const COUNTER_CSS = `<style>
.pw{display:flex;flex-wrap:wrap;align-items:flex-end;gap:4px 10px}
.pw .field{flex:1 1 200px;order:1}
.pw-input{-webkit-text-security:disc}
.pw-toggle{order:2;width:20px;height:20px;margin:0 0 10px}
.pw-show{order:3;margin-bottom:10px;white-space:nowrap}
.pw-toggle:checked~.field .pw-input{-webkit-text-security:none}
@media (max-width:600px){
  main{padding:12px 12px 40px}
  .stack-wrap{overflow-x:visible;border:0}
  table.stack thead{display:none}
  table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
  table.stack tr{border:1px solid #dde3ea;border-radius:6px;margin-bottom:10px;background:#fff;padding:4px 0}
  table.stack td{display:flex;justify-content:space-between;gap:12px;border:0;padding:3px 12px;text-align:right}
  table.stack td::before{content:attr(data-label);color:#52606d;text-align:left}
  table.stack td.undo:empty{display:none}
  table.stack td.undo{justify-content:flex-end}
  table.stack td.mono{word-break:break-all}
}
</style>`;

interface Refused {
  status: number;
  error: string;
}

export function redeemRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  const time = (ms: number | null) => c.time(ms);

  /**
   * This cinema's redemptions of a day, newest first; undo buttons (while allowed) come back to
   * `back`. On a phone each redemption is a block of label/value lines, so nothing (the undo
   * button included) needs sideways scrolling.
   */
  const redemptionTable = (
    request: FastifyRequest,
    items: readonly RedemptionEntry[],
    back: 'redeem' | 'history',
    day = '',
  ): Html => {
    if (items.length === 0) return html`<div class="panel muted">没有兑换记录</div>`;
    const heads = ['时间', '卡号', '张数', '操作员', '状态', ''];
    return html`<div class="table-wrap stack-wrap">
      <table class="stack">
        <thead>
          <tr>
            ${heads.map((h) => html`<th>${h}</th>`)}
          </tr>
        </thead>
        <tbody>
          ${[...items].reverse().map(
            (r) =>
              html`<tr>
                <td data-label="时间">${time(r.at)}</td>
                <td data-label="卡号" class="mono">${r.card_no}</td>
                <td data-label="张数" class="num">${r.count}</td>
                <td data-label="操作员">${r.username ?? ''}</td>
                <td data-label="状态">${r.undone_at ? html`已撤销 ${time(r.undone_at)}` : '有效'}</td>
                <td class="undo">
                  ${
                    r.undoable
                      ? postButton(request, '/admin/redeem/undo', '撤销…', {
                          hidden: { redemption_id: r.redemption_id, back, day },
                          className: 'small danger',
                        })
                      : ''
                  }
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  };

  const redeemPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    values: Fields,
    refused?: Refused,
    /** The redemption just made (its id), shown above an empty card field for the next customer. */
    result?: string,
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
    const done = result ? await resultPanel(user, today.redemptions, result) : null;
    const lookup = html`<form method="get" action="/admin/redeem" class="panel">
      <div class="form-grid">
        <label class="field"
          ><span>卡号 *</span>
          <input
            type="text"
            name="card_no"
            value="${cardNo}"
            required
            maxlength="19"
            pattern="[0-9 ]{16,19}"
            inputmode="numeric"
            autocomplete="off"
            ${check ? '' : raw(' autofocus')}
          />
          <small class="hint">16 位数字</small></label
        >
        <div><button type="submit">查询</button></div>
      </div>
    </form>`;
    const shown = refused ?? checkError;
    return sendPage(request, reply, {
      title: `兑换 · 影院 ${userOf(request).cinemaId ?? ''}`,
      nav: 'redeem',
      status: shown?.status,
      error: shown?.error,
      notice: done?.notice,
      body: html`${raw(COUNTER_CSS)}${done?.panel ?? ''}${lookup}${check ? checkPanel(request, check, values) : ''}
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
          : k.frozen
            ? '此卡剩余的票已被客服冻结，暂不能兑换。请顾客联系购票渠道或客服。'
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
          <div class="pw">
            <input type="checkbox" id="show-password" class="pw-toggle" />
            <label class="field"
              ><span>卡密码 *</span>
              <input
                type="text"
                name="password"
                class="pw-input"
                value=""
                required
                maxlength="64"
                inputmode="numeric"
                autocomplete="off"
                autocapitalize="off"
                spellcheck="false"
                autofocus
              />
              <small class="hint">请顾客出示短信中的密码</small></label
            >
            <label for="show-password" class="pw-show">显示密码</label>
          </div>
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

  app.get('/admin/redeem', { preHandler: c.view.cinema }, (request, reply) => {
    const q = queryOf(request);
    const done = str(q, 'done');
    return done ? redeemPage(request, reply, {}, undefined, done) : redeemPage(request, reply, q);
  });

  /**
   * What the redemption just made did, from this cinema's own records (the id in the address
   * is only a key): how many tickets, how many remain on the card.
   */
  const resultPanel = async (
    user: ReturnType<typeof staffOf>,
    todays: readonly RedemptionEntry[],
    redemptionId: string,
  ): Promise<{ notice: string; panel: Html } | null> => {
    const r = todays.find((x) => x.redemption_id === redemptionId);
    if (!r) return null;
    const k = await deps.redemption.checkCard(user, r.card_no);
    return {
      notice: `兑换成功：本次兑换 ${r.count} 张，此卡剩余 ${k.remaining} 张。`,
      panel: html`<div class="panel result">
        <dl class="kv">
          <dt>卡号</dt>
          <dd class="mono">${r.card_no}</dd>
          <dt>本次兑换</dt>
          <dd><strong>${r.count}</strong> 张</dd>
          <dt>剩余</dt>
          <dd><strong>${k.remaining}</strong> / ${k.count} 张</dd>
        </dl>
      </div>`,
    };
  };

  app.post('/admin/redeem', { preHandler: c.change.cinema }, async (request, reply) => {
    const f = bodyOf(request);
    const cardNo = str(f, 'card_no').replace(/\s+/g, '');
    try {
      const done = await deps.redemption.redeem(
        staffOf(request),
        cardNo,
        str(f, 'password'),
        intOf(str(f, 'count')) ?? NaN,
      );
      return reply.redirect(href('/admin/redeem', { done: done.redemption_id }), 303);
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
      if (!isConfirmed(request)) {
        const user = staffOf(request);
        const id = str(f, 'redemption_id');
        const r = (await deps.redemption.history(user.cinemaId ?? '', day || c.today())).redemptions.find(
          (x) => x.redemption_id === id,
        );
        // Anything else (another cinema's, unknown, too late) gets the service's own refusal.
        if (r && r.undoable) {
          return sendConfirmation(request, reply, {
            title: '撤销兑换',
            nav: back === '/admin/redeem' ? 'redeem' : 'history',
            consequences: [
              html`卡 <span class="mono">${r.card_no}</span> 在 ${time(r.at)} 兑换的
                <strong>${r.count}</strong> 张票退回卡上，可以再次兑换。`,
              '只在兑换后 10 分钟内可以撤销；撤销会通知购票渠道。',
            ],
            confirmLabel: '确认撤销',
            back,
          });
        }
      }
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
      body: html`${raw(COUNTER_CSS)}${form(history.day)}
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
