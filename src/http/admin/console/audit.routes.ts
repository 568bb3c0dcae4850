import type { AuditPage } from '../../../domain/admin/audit.service.js';
import { addDays, requireDay } from '../../../domain/dates.js';
import { actorOf, type ConsoleContext } from './context.js';
import { isRefusal, messageOf } from './format.js';
import { dayParam, pageOf, queryOf, str } from './forms.js';
import { html, type Html, seg } from './html.js';
import { field, pager, selectField, sendPage, table } from './layout.js';
import { actionLabel, AUDIT_ACTION, describeData } from './labels.zh.js';

const PER_PAGE = 50;

const ENTITY_TYPES = [
  { value: '', label: '全部' },
  { value: 'partner', label: '渠道' },
  { value: 'card', label: '卡' },
  { value: 'cinema', label: '影院' },
  { value: 'kind', label: '券种' },
  { value: 'city', label: '城市' },
  { value: 'region', label: '区域' },
  { value: 'catalog', label: '目录导入' },
  { value: 'user', label: '账号' },
  { value: 'settings', label: '设置' },
];
const ENTITY_LABEL: Record<string, string> = Object.fromEntries(ENTITY_TYPES.map((e) => [e.value, e.label]));

/** The filter offers every action by its Chinese name. */
const ACTIONS = [
  { value: '', label: '全部' },
  ...Object.entries(AUDIT_ACTION).map(([value, label]) => ({ value, label })),
];

/** A link to the entity's own page, where there is one. */
function entityLink(type: string, id: string): Html {
  const path =
    type === 'partner'
      ? `/admin/partners/${seg(id)}`
      : type === 'card'
        ? `/admin/cards/${seg(id)}`
        : type === 'cinema'
          ? `/admin/catalog/cinemas/${seg(id)}`
          : type === 'kind'
            ? `/admin/catalog/kinds/${seg(id)}`
            : null;
  return path ? html`<a href="${path}" class="mono">${id}</a>` : html`<span class="mono">${id}</span>`;
}

/** What an entry changed: the fields that differ (old → new), or what was created or removed. */
function changeOf(before: unknown, after: unknown, time: (ms: number) => string): Html {
  if (after === null || after === undefined) {
    return before === null || before === undefined
      ? html`<span class="muted">—</span>`
      : html`<span class="muted">之前：</span>${describeData(before, time)}`;
  }
  return describeData(after, time, before ?? undefined);
}

export function auditRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  app.get('/admin/audit', { preHandler: c.view.staff }, async (request, reply) => {
    const q = queryOf(request);
    const keep: Record<string, string> = {
      entity_type: str(q, 'entity_type'),
      entity_id: str(q, 'entity_id').trim(),
      actor: str(q, 'actor').trim(),
      action: str(q, 'action').trim(),
      since: dayParam(q, 'since'),
      until: dayParam(q, 'until'),
    };
    const form = html`<form method="get" action="/admin/audit" class="panel">
      <div class="form-grid">
        ${selectField({ label: '对象类型', name: 'entity_type', value: keep.entity_type, options: ENTITY_TYPES })}
        ${field({ label: '对象编号', name: 'entity_id', value: keep.entity_id })}
        ${field({ label: '操作者', name: 'actor', value: keep.actor, placeholder: 'user:alice' })}
        ${selectField({ label: '动作', name: 'action', value: keep.action, options: ACTIONS })}
        ${field({ label: '日期从', name: 'since', type: 'date', value: keep.since })}
        ${field({ label: '到', name: 'until', type: 'date', value: keep.until })}
        <div><button type="submit">查询</button> <a href="/admin/audit">清空</a></div>
      </div>
    </form>`;
    const pageNo = pageOf(q);
    const offset = (pageNo - 1) * PER_PAGE;
    let result: AuditPage;
    try {
      const day = (d: string) => requireDay(d, c.tz);
      const since = keep.since ? day(keep.since) : undefined;
      let until: number | undefined;
      if (keep.until) {
        day(keep.until); // checks the text before the calendar arithmetic
        until = day(addDays(keep.until, 1));
      }
      result = await deps.audit.search(actorOf(request), {
        entityType: keep.entity_type || undefined,
        entityId: keep.entity_id || undefined,
        actor: keep.actor || undefined,
        action: keep.action || undefined,
        since,
        until,
        limit: PER_PAGE,
        offset,
      });
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return sendPage(request, reply, {
        title: '审计日志',
        nav: 'audit',
        status: 400,
        error: messageOf(err),
        body: form,
      });
    }
    const rows = result.entries.map(
      (e) =>
        html`<tr>
          <td style="white-space:nowrap">${c.time(e.at)}</td>
          <td class="mono">${e.actor}</td>
          <td title="${e.action}">${actionLabel(e.action)}</td>
          <td>
            <span class="muted">${ENTITY_LABEL[e.entityType] ?? e.entityType}</span>
            ${entityLink(e.entityType, e.entityId)}
          </td>
          <td>${changeOf(e.before, e.after, c.time)}</td>
        </tr>`,
    );
    return sendPage(request, reply, {
      title: '审计日志',
      nav: 'audit',
      body: html`${form}${table(['时间', '操作者', '动作', '对象', '内容'], rows, '没有符合条件的记录')}
      ${pager('/admin/audit', keep, { offset, limit: PER_PAGE, hasNext: result.nextOffset !== null })}`,
    });
  });
}
