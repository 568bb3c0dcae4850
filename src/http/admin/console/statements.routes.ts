import { addDays } from '../../../domain/dates.js';
import type { Settlement, Statement, StatementTotals } from '../../../domain/admin/report.service.js';
import {
  CINEMA_CARD,
  type CsvLang,
  settlementCsv,
  statementCsv,
} from '../../../domain/admin/statement-csv.js';
import { formatYuan } from '../../../domain/money.js';
import { actorOf, type ConsoleContext, userOf } from './context.js';
import { isRefusal, messageOf, yuan } from './format.js';
import { dayParam, type Fields, queryOf, str } from './forms.js';
import { href, html, type Html, seg } from './html.js';
import { field, selectField, sendPage, table } from './layout.js';

const TYPE_LABEL: Record<string, string> = { activation: '激活', void: '冲销' };
/** Lines shown on the page; the download has them all. */
const MAX_LINES_SHOWN = 500;

/**
 * The range asked for: `from`..`to`, or the older single `day`; yesterday by default (the usual
 * statement is of a finished day).
 */
function rangeOf(q: Fields, yesterday: string): { from: string; to: string } {
  const day = dayParam(q, 'day');
  if (day) return { from: day, to: day };
  const from = dayParam(q, 'from');
  const to = dayParam(q, 'to');
  return { from: from || to || yesterday, to: to || from || yesterday };
}

/** Quick ranges: yesterday, this month so far, last month. */
function quickRanges(today: string): { label: string; from: string; to: string }[] {
  const monthStart = `${today.slice(0, 8)}01`;
  const lastMonthEnd = addDays(monthStart, -1);
  return [
    { label: '昨天', from: addDays(today, -1), to: addDays(today, -1) },
    { label: '本月', from: monthStart, to: today },
    { label: '上月', from: `${lastMonthEnd.slice(0, 8)}01`, to: lastMonthEnd },
  ];
}

const langOf = (q: Fields): CsvLang => (str(q, 'lang') === 'en' ? 'en' : 'zh');

const stat = (k: string, v: string, sub: string) =>
  html`<div class="stat">
    <div class="k">${k}</div>
    <div class="v">${v}</div>
    <div class="s">${sub}</div>
  </div>`;

const totalCells = (t: StatementTotals) =>
  html`<td class="num">${t.activations}</td>
    <td class="num">${formatYuan(t.activation_fen)}</td>
    <td class="num">${t.voids}</td>
    <td class="num">${formatYuan(t.void_fen)}</td>
    <td class="num">${formatYuan(t.net_fen)}</td>`;
const TOTAL_HEADERS = [
  { label: '激活', num: true },
  { label: '激活金额', num: true },
  { label: '冲销', num: true },
  { label: '冲销金额', num: true },
  { label: '净额', num: true },
];

/** Links to the quick ranges of {@link quickRanges}, each keeping the form's other `params`. */
function quickLinks(path: string, today: string, params: Record<string, string>): Html[] {
  return quickRanges(today).map(
    (r) => html`<a href="${href(path, { ...params, from: r.from, to: r.to })}">${r.label}</a>`,
  );
}

/** The form's start and end date fields. */
function rangeFields(from: string, to: string): Html {
  return html`${field({ label: '开始日期', name: 'from', type: 'date', value: from, required: true })}
  ${field({ label: '结束日期', name: 'to', type: 'date', value: to, required: true })}`;
}

/** The CSV download links: Chinese headers (the default) and English ones for programs. */
function downloadLinks(download: (lang: CsvLang) => string, filename: string): Html {
  return html`<div class="actions" style="margin:0 0 12px">
    <a class="button" href="${download('zh')}">下载 CSV（${filename}）</a>
    <a href="${download('en')}">英文表头版（供程序读取）</a>
  </div>`;
}

export function statementRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  app.get('/admin/statements', { preHandler: c.view.staff }, async (request, reply) => {
    const q = queryOf(request);
    const partnerId = str(q, 'partner');
    const { from, to } = rangeOf(q, addDays(c.today(), -1));
    const partners = await deps.partners.list(actorOf(request));
    const quick = quickLinks('/admin/statements', c.today(), { partner: partnerId });
    const form = html`<form method="get" action="/admin/statements" class="panel">
      <div class="form-grid">
        ${selectField({ label: '渠道', name: 'partner', value: partnerId, options: [{ value: '', label: '全部渠道' }, ...partners.map((p) => ({ value: p.partnerId, label: `${p.partnerId} ${p.name}` }))] })}
        ${rangeFields(from, to)}
        <div><button type="submit">预览</button></div>
      </div>
      <p class="subnav">${quick}</p>
      <p class="muted">
        对账单按平台时区（${c.tz}）的自然日统计：期间内支付激活的卡计为正，期间内作废的已支付卡计为负。可选一天、一个月或任意范围（最多
        366 天）。影院的兑换结算见<a href="/admin/settlement">影院结算</a>。
      </p>
    </form>`;
    let s: Statement;
    try {
      s = await deps.reports.statement(partnerId || undefined, from, to);
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
    const rows = s.lines.slice(0, MAX_LINES_SHOWN).map(
      (l) =>
        html`<tr>
          <td>${TYPE_LABEL[l.type] ?? l.type}</td>
          <td>${c.time(l.at)}</td>
          <td class="mono"><a href="/admin/cards/${seg(l.card_no)}">${l.card_no}</a></td>
          <td class="mono">${l.order_no ?? ''}</td>
          <td class="mono">${l.partner_id}</td>
          <td>
            ${l.target_type === 'cinema' ? '影院' : '券种'}
            <span class="mono">${l.target_id}</span> ${l.target_name}
          </td>
          <td class="num">${l.count}</td>
          <td class="num">${formatYuan(l.unit_price_fen)}</td>
          <td class="num">${formatYuan(l.amount_fen)}</td>
        </tr>`,
    );
    const range = s.from_day === s.to_day ? s.from_day : `${s.from_day} 至 ${s.to_day}`;
    const who = s.partner_id ? `${s.partner_id} ${s.partner_name ?? ''}` : '全部渠道';
    const download = (lang: CsvLang) =>
      href('/admin/statements/download', {
        partner: s.partner_id ?? '',
        from: s.from_day,
        to: s.to_day,
        lang,
      });
    const dayRows = s.days
      .filter((d) => d.activations + d.voids > 0)
      .map(
        (d) =>
          html`<tr>
            <td>${d.day}</td>
            ${totalCells(d)}
          </tr>`,
      );
    const partnerRows = s.partners.map(
      (p) =>
        html`<tr>
          <td class="mono">${p.partner_id}</td>
          <td>${p.partner_name}</td>
          ${totalCells(p)}
        </tr>`,
    );
    return sendPage(request, reply, {
      title: '对账单',
      nav: 'statements',
      body: html`${form}
        <h2>${who} · ${range}</h2>
        <div class="stats">
          ${stat('激活', String(s.activations), yuan(s.activation_fen))}${stat('冲销', String(s.voids), yuan(s.void_fen))}
          ${stat('净额', yuan(s.net_fen), '激活 + 冲销')}
        </div>
        ${downloadLinks(download, s.filename)}
        <h3>按日合计</h3>
        ${table(['日期', ...TOTAL_HEADERS], dayRows, '期间内没有激活或冲销')}
        <h3>按渠道合计</h3>
        ${table(['渠道编号', '渠道名称', ...TOTAL_HEADERS], partnerRows, '期间内没有激活或冲销')}
        <h3>明细</h3>
        ${s.lines.length > MAX_LINES_SHOWN ? html`<p class="muted">共 ${s.lines.length} 行，此处显示前 ${MAX_LINES_SHOWN} 行；完整明细请下载 CSV。</p>` : ''}
        ${table(['类型', '时间', '卡号', '订单号', '渠道', '对象', { label: '张数', num: true }, { label: '单价', num: true }, { label: '金额', num: true }], rows, '期间内没有激活或冲销')}`,
    });
  });

  app.get('/admin/statements/download', { preHandler: c.view.staff }, async (request, reply) => {
    const q = queryOf(request);
    const { from, to } = rangeOf(q, addDays(c.today(), -1));
    const s = await deps.reports.statement(str(q, 'partner') || undefined, from, to);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${s.filename}"`)
      .send(statementCsv(s, langOf(q)));
  });

  // A cinema's settlement: cinema staff see their own cinema, admins and operators choose one.
  app.get('/admin/settlement', { preHandler: c.view.anyone }, async (request, reply) => {
    const q = queryOf(request);
    const user = userOf(request);
    const cinemaId = user.role === 'cinema' ? (user.cinemaId ?? '') : str(q, 'cinema').trim();
    const { from, to } = rangeOf(q, addDays(c.today(), -1));
    const nav = user.role === 'cinema' ? 'settlement' : 'statements';
    const quick = quickLinks('/admin/settlement', c.today(), { cinema: str(q, 'cinema') });
    const form = html`<form method="get" action="/admin/settlement" class="panel">
      <div class="form-grid">
        ${user.role === 'cinema' ? '' : field({ label: '影院编号', name: 'cinema', value: cinemaId, required: true, placeholder: '1001' })}
        ${rangeFields(from, to)}
        <div><button type="submit">查询</button></div>
      </div>
      <p class="subnav">${quick}</p>
      <p class="muted">
        结算按平台时区（${c.tz}）的自然日统计本影院兑换且未撤销的票，金额按每张卡的单价计算。
      </p>
    </form>`;
    if (!cinemaId) return sendPage(request, reply, { title: '影院结算', nav, body: form });
    let s: Settlement;
    try {
      s = await deps.reports.settlement(user, cinemaId, from, to);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return sendPage(request, reply, {
        title: '影院结算',
        nav,
        status: err.status,
        error: messageOf(err),
        body: form,
      });
    }
    return sendPage(request, reply, { title: '影院结算', nav, body: html`${form}${settlementBody(s)}` });
  });

  app.get('/admin/settlement/download', { preHandler: c.view.anyone }, async (request, reply) => {
    const q = queryOf(request);
    const user = userOf(request);
    const cinemaId = user.role === 'cinema' ? (user.cinemaId ?? '') : str(q, 'cinema').trim();
    const { from, to } = rangeOf(q, addDays(c.today(), -1));
    const s = await deps.reports.settlement(user, cinemaId, from, to);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${s.filename}"`)
      .send(settlementCsv(s, langOf(q)));
  });
}

function settlementBody(s: Settlement): Html {
  const range = s.from_day === s.to_day ? s.from_day : `${s.from_day} 至 ${s.to_day}`;
  const kindName = (id: string | null, name: string | null) =>
    id === null ? CINEMA_CARD.zh : `${id} ${name ?? ''}`;
  const figures = (f: { tickets: number; redemptions: number; amount_fen: number }) =>
    html`<td class="num">${f.tickets}</td>
      <td class="num">${f.redemptions}</td>
      <td class="num">${formatYuan(f.amount_fen)}</td>`;
  const heads = [
    { label: '张数', num: true },
    { label: '兑换笔数', num: true },
    { label: '金额', num: true },
  ];
  const download = (lang: CsvLang) =>
    href('/admin/settlement/download', { cinema: s.cinema_id, from: s.from_day, to: s.to_day, lang });
  return html`<h2>${s.cinema_id} ${s.cinema_name} · ${range}</h2>
    <div class="stats">
      ${stat('兑换张数', String(s.tickets), `${s.redemptions} 笔`)}${stat('结算金额', yuan(s.amount_fen), '按卡单价')}
    </div>
    ${downloadLinks(download, s.filename)}
    <h3>按日合计</h3>
    ${table(
      ['日期', ...heads],
      s.days
        .filter((d) => d.redemptions > 0)
        .map(
          (d) =>
            html`<tr>
              <td>${d.day}</td>
              ${figures(d)}
            </tr>`,
        ),
      '期间内没有兑换',
    )}
    <h3>按券种合计</h3>
    ${table(
      ['券种', ...heads],
      s.kinds.map(
        (k) =>
          html`<tr>
            <td>${kindName(k.kind_id, k.kind_name)}</td>
            ${figures(k)}
          </tr>`,
      ),
      '期间内没有兑换',
    )}
    <h3>按日、券种明细</h3>
    ${table(
      ['日期', '券种', ...heads],
      s.rows.map(
        (r) =>
          html`<tr>
            <td>${r.day}</td>
            <td>${kindName(r.kind_id, r.kind_name)}</td>
            ${figures(r)}
          </tr>`,
      ),
      '期间内没有兑换',
    )}`;
}
