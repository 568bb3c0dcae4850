import type { FastifyReply, FastifyRequest } from 'fastify';
import { addDays } from '../../../domain/dates.js';
import type { Dashboard, DashboardFigures } from '../../../domain/admin/report.service.js';
import { barChart } from './chart.js';
import { actorOf, type ConsoleContext, userOf } from './context.js';
import { formatYuan, isRefusal, messageOf, percent, yuan } from './format.js';
import { dayParam, queryOf, str } from './forms.js';
import { href, html, type Html } from './html.js';
import { field, selectField, sendPage, table } from './layout.js';

const DEFAULT_DAYS = 14;

export function dashboardRoutes(c: ConsoleContext): void {
  // Everyone signed in lands here after login; cinema staff have no dashboard but redemption.
  c.app.get('/admin', { preHandler: c.view.anyone }, async (request, reply) => {
    if (userOf(request).role === 'cinema') return reply.redirect('/admin/redeem', 303);
    return showDashboard(c, request, reply);
  });
}

async function showDashboard(c: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const q = queryOf(request);
  const to = dayParam(q, 'to') || c.today();
  const from =
    dayParam(q, 'from') || addDays(/^\d{4}-\d{2}-\d{2}$/.test(to) ? to : c.today(), -(DEFAULT_DAYS - 1));
  const partnerId = str(q, 'partner');
  const partners = await c.deps.partners.list(actorOf(request));
  const names = new Map(partners.map((p) => [p.partnerId, p.name]));

  const form = html`<form method="get" action="/admin" class="panel">
    <div class="form-grid">
      ${field({ label: '开始日期', name: 'from', type: 'date', value: from })}
      ${field({ label: '结束日期', name: 'to', type: 'date', value: to })}
      ${selectField({
        label: '渠道',
        name: 'partner',
        value: partnerId,
        options: [
          { value: '', label: '全部渠道' },
          ...partners.map((p) => ({ value: p.partnerId, label: `${p.partnerId} ${p.name}` })),
        ],
      })}
      <div><button type="submit">查询</button></div>
    </div>
  </form>`;

  let d: Dashboard;
  try {
    d = await c.deps.reports.dashboard(from, to, { partnerId: partnerId || undefined });
  } catch (err) {
    if (!isRefusal(err)) throw err;
    return sendPage(request, reply, {
      title: '概览',
      nav: 'dashboard',
      status: 400,
      error: messageOf(err),
      body: form,
    });
  }

  const t = d.totals;
  const stat = (k: string, v: string, s: string) =>
    html`<div class="stat">
      <div class="k">${k}</div>
      <div class="v">${v}</div>
      <div class="s">${s}</div>
    </div>`;
  const stats = html`<div class="stats">
    ${stat('发卡', String(t.issued), `金额 ${yuan(t.issued_fen)}`)}
    ${stat('激活（已支付）', String(t.activated), `金额 ${yuan(t.activated_fen)}`)}
    ${stat('作废（已支付）', String(t.voided), `金额 ${yuan(t.voided_fen)}；未支付作废 ${t.banned_unpaid}`)}
    ${stat('兑换票数', String(t.redeemed_tickets), `金额 ${yuan(t.redeemed_fen)}`)}
    ${stat('短信发送率', percent(d.sms.delivery_rate), `已发 ${d.sms.sent}，失败 ${d.sms.failed}，排队 ${d.sms.queued}`)}
    ${stat('短信送达率', percent(d.sms.received_rate), `回执送达 ${d.sms.delivered}，未送达 ${d.sms.undelivered}`)}
  </div>`;

  const labels = d.days.map((x) => x.day.slice(5));
  const amounts = barChart({
    title: '每日金额（元）',
    labels,
    series: [
      { name: '激活金额', color: '#1d5fbf', values: d.days.map((x) => x.activated_fen / 100) },
      { name: '兑换金额', color: '#2e9d5b', values: d.days.map((x) => x.redeemed_fen / 100) },
      { name: '作废金额', color: '#d64545', values: d.days.map((x) => x.voided_fen / 100) },
    ],
    format: (n) => (Number.isInteger(n) ? String(n) : n.toFixed(2)),
  });
  const counts = barChart({
    title: '每日数量',
    labels,
    series: [
      { name: '发卡', color: '#8aa4c8', values: d.days.map((x) => x.issued) },
      { name: '激活', color: '#1d5fbf', values: d.days.map((x) => x.activated) },
      { name: '兑换票数', color: '#2e9d5b', values: d.days.map((x) => x.redeemed_tickets) },
    ],
    // Counts are whole numbers: a fractional gridline gets no label.
    format: (n) => (Number.isInteger(n) ? String(n) : ''),
  });

  const cells = (f: DashboardFigures): Html =>
    html`<td class="num">${f.issued}</td>
      <td class="num">${formatYuan(f.issued_fen)}</td>
      <td class="num">${f.activated}</td>
      <td class="num">${formatYuan(f.activated_fen)}</td>
      <td class="num">${f.voided}</td>
      <td class="num">${formatYuan(f.voided_fen)}</td>
      <td class="num">${f.banned_unpaid}</td>
      <td class="num">${f.redeemed_tickets}</td>
      <td class="num">${formatYuan(f.redeemed_fen)}</td>`;
  const figureHeads = [
    { label: '发卡', num: true },
    { label: '发卡金额', num: true },
    { label: '激活', num: true },
    { label: '激活金额', num: true },
    { label: '作废', num: true },
    { label: '作废金额', num: true },
    { label: '未付作废', num: true },
    { label: '兑换票数', num: true },
    { label: '兑换金额', num: true },
  ];
  const perDay = table(
    ['日期', ...figureHeads, { label: '短信发送率', num: true }, { label: '短信送达率', num: true }],
    [...d.days].reverse().map(
      (x) =>
        html`<tr>
          <td>${x.day}</td>
          ${cells(x)}
          <td class="num">${percent(x.sms.delivery_rate)}</td>
          <td class="num">${percent(x.sms.received_rate)}</td>
        </tr>`,
    ),
  );
  const perPartner = table(
    ['渠道', ...figureHeads],
    d.partners.map(
      (p) =>
        html`<tr>
          <td>
            <a href="${href(`/admin/partners/${encodeURIComponent(p.partner_id)}`)}">${p.partner_id}</a>
            <span class="muted">${names.get(p.partner_id) ?? ''}</span>
          </td>
          ${cells(p)}
        </tr>`,
    ),
    '这段时间没有发卡或兑换',
  );

  return sendPage(request, reply, {
    title: '概览',
    nav: 'dashboard',
    body: html`${form}
      <p class="muted">
        ${d.from_day} 至 ${d.to_day}（${d.time_zone}）${partnerId ? html`，渠道 ${partnerId}` : ''}
      </p>
      ${stats}
      <div class="panel">${amounts}</div>
      <div class="panel">${counts}</div>
      <h2>按日</h2>
      ${perDay}
      <h2>按渠道</h2>
      ${perPartner}`,
  });
}
