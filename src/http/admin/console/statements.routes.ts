import { addDays } from '../../../domain/dates.js';
import type { Statement } from '../../../domain/admin/report.service.js';
import { formatYuan } from '../../../domain/money.js';
import { actorOf, type ConsoleContext } from './context.js';
import { isRefusal, messageOf, yuan } from './format.js';
import { dayParam, queryOf, str } from './forms.js';
import { href, html, seg } from './html.js';
import { field, selectField, sendPage, table } from './layout.js';

const TYPE_LABEL: Record<string, string> = { activation: '激活', void: '冲销' };

export function statementRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  app.get('/admin/statements', { preHandler: c.view.staff }, async (request, reply) => {
    const q = queryOf(request);
    const partnerId = str(q, 'partner');
    // Yesterday by default: the usual statement is of a finished day.
    const day = dayParam(q, 'day') || addDays(c.today(), -1);
    const partners = await deps.partners.list(actorOf(request));
    const form = html`<form method="get" action="/admin/statements" class="panel">
      <div class="form-grid">
        ${selectField({ label: '渠道', name: 'partner', value: partnerId, required: true, options: [{ value: '', label: '请选择渠道' }, ...partners.map((p) => ({ value: p.partnerId, label: `${p.partnerId} ${p.name}` }))] })}
        ${field({ label: '日期', name: 'day', type: 'date', value: day, required: true })}
        <div><button type="submit">预览</button></div>
      </div>
      <p class="muted">
        对账单按平台时区（${c.tz}）的自然日统计：当天支付激活的卡计为正，当天作废的已支付卡计为负。
      </p>
    </form>`;
    if (!partnerId) return sendPage(request, reply, { title: '对账单', nav: 'statements', body: form });

    let s: Statement;
    try {
      s = await deps.reports.statement(partnerId, day);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return sendPage(request, reply, {
        title: '对账单',
        nav: 'statements',
        status: err.status,
        error: messageOf(err),
        body: form,
      });
    }
    const rows = s.lines.map(
      (l) =>
        html`<tr>
          <td>${TYPE_LABEL[l.type] ?? l.type}</td>
          <td>${c.time(l.at)}</td>
          <td class="mono"><a href="/admin/cards/${seg(l.card_no)}">${l.card_no}</a></td>
          <td class="mono">${l.order_no ?? ''}</td>
          <td>
            ${l.target_type === 'cinema' ? '影院' : '券种'}
            <span class="mono">${l.target_id}</span> ${l.target_name}
          </td>
          <td class="num">${l.count}</td>
          <td class="num">${formatYuan(l.unit_price_fen)}</td>
          <td class="num">${formatYuan(l.amount_fen)}</td>
        </tr>`,
    );
    const stat = (k: string, v: string, sub: string) =>
      html`<div class="stat">
        <div class="k">${k}</div>
        <div class="v">${v}</div>
        <div class="s">${sub}</div>
      </div>`;
    const name = partners.find((p) => p.partnerId === s.partner_id)?.name ?? '';
    return sendPage(request, reply, {
      title: '对账单',
      nav: 'statements',
      body: html`${form}
        <h2>${s.partner_id} ${name} · ${s.day}</h2>
        <div class="stats">
          ${stat('激活', String(s.activations), yuan(s.activation_fen))}${stat('冲销', String(s.voids), yuan(s.void_fen))}
          ${stat('净额', yuan(s.net_fen), '激活 + 冲销')}
        </div>
        <div class="actions" style="margin:0 0 12px">
          <a
            class="button"
            href="${href('/admin/statements/download', { partner: s.partner_id, day: s.day })}"
            >下载 CSV（${s.filename}）</a
          >
        </div>
        ${table(['类型', '时间', '卡号', '订单号', '对象', { label: '张数', num: true }, { label: '单价', num: true }, { label: '金额', num: true }], rows, '当天没有激活或冲销')}`,
    });
  });

  app.get('/admin/statements/download', { preHandler: c.view.staff }, async (request, reply) => {
    const q = queryOf(request);
    const s = await deps.reports.statement(str(q, 'partner'), dayParam(q, 'day'));
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${s.filename}"`)
      .send(s.csv);
  });
}
