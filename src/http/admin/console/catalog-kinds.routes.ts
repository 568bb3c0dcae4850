import { notFound } from '../../../errors.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogView, CinemaView, KindView } from '../../../domain/admin/catalog-views.js';
import { checkKind, checkKindChanges } from '../../../domain/admin/catalog-checks.js';
import { isConfirmed, sendConfirmation } from './confirm.js';
import { actorOf, type ConsoleContext } from './context.js';
import { formatYuan } from './format.js';
import { bodyOf, checked, type Fields, intOf, str, strs } from './forms.js';
import { href, html, type Html, seg } from './html.js';
import { badge, csrfField, field, redirectOk, table } from './layout.js';
import {
  activeBadge,
  activeButton,
  back,
  catalogHelpers,
  type Id,
  placeNames,
  type Refused,
} from './catalog-shared.js';

/** Ticket kinds: the list, the create form, the edit page and the cinemas a kind is good at. */
export function kindRoutes(c: ConsoleContext): void {
  const { app, deps } = c;
  const { page, change } = catalogHelpers(c);

  app.get('/admin/catalog/kinds', { preHandler: c.view.staff }, async (request, reply) => {
    const cat = await deps.catalog.list(actorOf(request));
    const rows = cat.kinds.map(
      (k) =>
        html`<tr>
          <td class="mono"><a href="/admin/catalog/kinds/${seg(k.kindId)}">${k.kindId}</a></td>
          <td>${k.name}</td>
          <td class="num">${formatYuan(k.priceFen)}</td>
          <td class="num">${formatYuan(k.marketPriceFen)}</td>
          <td class="num">${k.validDays}</td>
          <td class="num">${k.cinemaIds.length}</td>
          <td>${k.remark}</td>
          <td>${activeBadge(k.active)}</td>
          <td>
            ${activeButton(request, `/admin/catalog/kinds/${seg(k.kindId)}/active`, k.active, '/admin/catalog/kinds')}
          </td>
        </tr>`,
    );
    return page(
      request,
      reply,
      'kinds',
      '券种',
      html`<div class="actions" style="margin:0 0 12px">
          <a class="button" href="/admin/catalog/kinds/new">新建券种</a>
        </div>
        ${table(['编号', '名称', { label: '默认价', num: true }, { label: '市场价', num: true }, { label: '有效天数', num: true }, { label: '适用影院', num: true }, '备注', '状态', ''], rows, '还没有券种')}`,
    );
  });

  const kindForm = async (
    request: FastifyRequest,
    reply: FastifyReply,
    kind: KindView | null,
    refused?: Refused,
  ) => {
    const cat = await deps.catalog.list(actorOf(request));
    const init: Fields = kind
      ? {
          name: kind.name,
          price: formatYuan(kind.priceFen),
          market_price: formatYuan(kind.marketPriceFen),
          valid_days: String(kind.validDays),
          remark: kind.remark,
        }
      : { valid_days: '90', active: '1' };
    const editing = refused && !str(refused.values, '_cinemas') ? refused : undefined;
    const v = editing?.values ?? init;
    const e = editing?.fields ?? {};
    const path = kind ? `/admin/catalog/kinds/${seg(kind.kindId)}` : '/admin/catalog/kinds';
    const selected =
      refused && str(refused.values, '_cinemas')
        ? strs(refused.values, 'cinema_ids')
        : (kind?.cinemaIds ?? []);
    const form = html`<form method="post" action="${path}" class="panel">
      ${csrfField(request)}
      <div class="form-grid">
        ${kind ? html`<div class="field"><span>券种编号</span><strong class="mono">${kind.kindId}</strong></div>` : field({ label: '券种编号', name: 'kind_id', value: str(v, 'kind_id'), required: true, hint: '1–32 位字母、数字、_ 或 -', error: e.kind_id })}
        ${field({ label: '名称', name: 'name', value: str(v, 'name'), required: true, error: e.name })}
        ${field({ label: '默认结算价（元）', name: 'price', value: str(v, 'price'), required: true, placeholder: '32.00', error: e.price })}
        ${field({ label: '市场价（元）', name: 'market_price', value: str(v, 'market_price'), required: true, error: e.market_price })}
        ${field({ label: '有效天数', name: 'valid_days', type: 'number', value: str(v, 'valid_days'), required: true, error: e.valid_days })}
        ${field({ label: '备注', name: 'remark', value: str(v, 'remark'), error: e.remark })}
        ${
          kind
            ? html`<div class="field"><span>状态</span><span>${activeBadge(kind.active)}</span></div>`
            : html`<label class="field"
                ><span>状态</span
                ><span
                  ><input
                    type="checkbox"
                    name="active"
                    value="1"
                    ${checked(v, 'active') ? html` checked` : ''}
                  />
                  启用</span
                ></label
              >`
        }
      </div>
      ${
        kind
          ? ''
          : html`<h3>适用影院</h3>
              ${e.cinema_ids || e.cinema_id ? html`<p class="err">${e.cinema_ids ?? e.cinema_id}</p>` : ''}${cinemaChecks(cat, strs(v, 'cinema_ids'))}`
      }
      <div class="actions"><button type="submit">${kind ? '保存' : '创建券种'}</button></div>
    </form>`;
    const cinemasForm = kind
      ? html`<h2>适用影院（${kind.cinemaIds.length}）</h2>
          <form method="post" action="${path}/cinemas" class="panel">
            ${csrfField(request)}<input type="hidden" name="_cinemas" value="1" />
            ${cinemaChecks(cat, selected)}
            <div class="actions">
              <button type="submit">更新适用影院</button
              ><span class="muted">此券种的卡只能在勾选的影院兑换。</span>
            </div>
          </form>
          <div class="actions">
            ${activeButton(request, `${path}/active`, kind.active, path)}
            <a href="${href('/admin/audit', { entity_type: 'kind', entity_id: kind.kindId })}">审计日志</a>
          </div>`
      : '';
    return page(
      request,
      reply,
      'kinds',
      kind ? `券种 ${kind.kindId} · ${kind.name}` : '新建券种',
      html`<p><a href="/admin/catalog/kinds">‹ 券种</a></p>
        ${form}${cinemasForm}`,
      refused,
    );
  };

  const findKind = async (request: FastifyRequest, id: string) => {
    const found = (await deps.catalog.list(actorOf(request))).kinds.find((x) => x.kindId === id);
    if (!found) throw notFound('kind', id);
    return found;
  };

  app.get('/admin/catalog/kinds/new', { preHandler: c.view.staff }, (request, reply) =>
    kindForm(request, reply, null),
  );

  app.post('/admin/catalog/kinds', { preHandler: c.change.staff }, (request, reply) =>
    change(
      request,
      reply,
      (f) => deps.catalog.createKind(actorOf(request), kindOf(f)),
      '/admin/catalog/kinds',
      'kind.saved',
      (r) => kindForm(request, reply, null, r),
      (f) => checkKind(kindOf(f)).refusals,
    ),
  );

  app.get<Id>('/admin/catalog/kinds/:id', { preHandler: c.view.staff }, async (request, reply) =>
    kindForm(request, reply, await findKind(request, request.params.id)),
  );

  app.post<Id>('/admin/catalog/kinds/:id', { preHandler: c.change.staff }, (request, reply) =>
    change(
      request,
      reply,
      (f) => deps.catalog.editKind(actorOf(request), request.params.id, kindChangesOf(f)),
      `/admin/catalog/kinds/${seg(request.params.id)}`,
      'kind.saved',
      async (r) => kindForm(request, reply, await findKind(request, request.params.id), r),
      (f) => checkKindChanges(kindChangesOf(f)).refusals,
    ),
  );

  app.post<Id>('/admin/catalog/kinds/:id/cinemas', { preHandler: c.change.staff }, (request, reply) =>
    change(
      request,
      reply,
      (f) => deps.catalog.setKindCinemas(actorOf(request), request.params.id, strs(f, 'cinema_ids')),
      `/admin/catalog/kinds/${seg(request.params.id)}`,
      'kind.cinemas',
      async (r) => kindForm(request, reply, await findKind(request, request.params.id), r),
    ),
  );

  app.post<Id>('/admin/catalog/kinds/:id/active', { preHandler: c.change.staff }, async (request, reply) => {
    const active = str(bodyOf(request), 'active') === '1';
    if (!active && !isConfirmed(request)) {
      const id = request.params.id;
      const kind = await findKind(request, id);
      const open = await deps.catalog.openCardsOfKind(actorOf(request), kind.kindId);
      return sendConfirmation(request, reply, {
        title: `停用券种 ${kind.kindId} ${kind.name}`,
        nav: 'catalog',
        consequences: [
          '此券种不再出现在渠道的券种列表中，渠道不能再按此券种购买新卡。',
          `已售出、仍有剩余票的此券种的卡：${open.paid} 张；它们仍可在此券种的 ${kind.cinemaIds.length} 家适用影院兑换，到期照常过期。`,
          `未付款、仍在支付期限内的此券种的卡：${open.unpaid} 张；渠道仍可在期限内激活。`,
          '停用可随时撤回（重新启用）。',
        ],
        confirmLabel: '确认停用',
        back: back(request, `/admin/catalog/kinds/${seg(id)}`),
      });
    }
    await deps.catalog.setKindActive(actorOf(request), request.params.id, active);
    await deps.afterRegistryChange();
    return redirectOk(
      reply,
      back(request, '/admin/catalog/kinds'),
      active ? 'kind.activated' : 'kind.deactivated',
    );
  });
}

function cinemaChecks(cat: CatalogView, selected: readonly string[]): Html {
  const names = placeNames(cat);
  const byCity = new Map<string, CinemaView[]>();
  for (const x of cat.cinemas) byCity.set(x.cityId, [...(byCity.get(x.cityId) ?? []), x]);
  return html`${[...byCity].map(
    ([cityId, cinemas]) =>
      html`<h3>${names.city(cityId)}</h3>
        <div class="checks">
          ${cinemas.map(
            (x) =>
              html`<label
                ><input
                  type="checkbox"
                  name="cinema_ids"
                  value="${x.cinemaId}"
                  ${selected.includes(x.cinemaId) ? html` checked` : ''}
                />
                <span
                  >${x.name}
                  <span class="muted mono">${x.cinemaId}</span
                  >${x.active ? '' : html` ${badge('停用', 'red')}`}</span
                ></label
              >`,
          )}
        </div>`,
  )}`;
}

/** A kind's changes as the edit form sends them. */
const kindChangesOf = (f: Fields) => ({
  name: str(f, 'name'),
  price: str(f, 'price'),
  marketPrice: str(f, 'market_price'),
  validDays: intOf(str(f, 'valid_days')),
  remark: str(f, 'remark'),
});

/** A new kind as the create form sends it (no valid days typed: refused by the rule). */
const kindOf = (f: Fields) => ({
  ...kindChangesOf(f),
  kindId: str(f, 'kind_id').trim(),
  validDays: intOf(str(f, 'valid_days')) as number,
  active: checked(f, 'active'),
  cinemaIds: strs(f, 'cinema_ids'),
});
