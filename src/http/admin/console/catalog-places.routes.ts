import type { FastifyReply, FastifyRequest } from 'fastify';
import { notFound } from '../../../errors.js';
import { actorOf, type ConsoleContext } from './context.js';
import { type Fields, intOf, str } from './forms.js';
import { checkCity, checkPlaceChanges, checkRegion } from '../../../domain/admin/catalog-checks.js';
import { href, html, seg } from './html.js';
import { csrfField, field, selectField, table } from './layout.js';
import { catalogHelpers, type Id, placeNames, type Refused } from './catalog-shared.js';

/** Cities and regions: a list with a create form, and an edit page each. */
export function placeRoutes(c: ConsoleContext): void {
  const { app, deps } = c;
  const { page, change } = catalogHelpers(c);

  const placeList = async (
    request: FastifyRequest,
    reply: FastifyReply,
    kind: 'cities' | 'regions',
    refused?: Refused,
  ) => {
    const cat = await deps.catalog.list(actorOf(request));
    const names = placeNames(cat);
    const v = refused?.values ?? { sort: '0' };
    const e = refused?.fields ?? {};
    const isCity = kind === 'cities';
    const rows = isCity
      ? cat.cities.map(
          (x) =>
            html`<tr>
              <td class="mono"><a href="/admin/catalog/cities/${seg(x.codeId)}">${x.codeId}</a></td>
              <td>${x.name}</td>
              <td>${x.remark}</td>
              <td class="num">${x.sort}</td>
              <td class="num">${cat.regions.filter((r) => r.cityId === x.codeId).length}</td>
            </tr>`,
        )
      : cat.regions.map(
          (x) =>
            html`<tr>
              <td class="mono"><a href="/admin/catalog/regions/${seg(x.codeId)}">${x.codeId}</a></td>
              <td>${x.name}</td>
              <td>${names.city(x.cityId)}</td>
              <td>${x.remark}</td>
              <td class="num">${x.sort}</td>
              <td class="num">${cat.cinemas.filter((m) => m.regionId === x.codeId).length}</td>
            </tr>`,
        );
    const form = html`<form method="post" action="/admin/catalog/${kind}" class="panel">
      ${csrfField(request)}
      <h3>${isCity ? '新建城市' : '新建区域'}</h3>
      <div class="form-grid">
        ${field({ label: isCity ? '城市编号' : '区域编号', name: 'code_id', value: str(v, 'code_id'), required: true, hint: isCity ? '3 位数字，如 001' : '1–32 位字母、数字、_ 或 -', error: e.city_id && isCity ? e.city_id : e.region_id })}
        ${isCity ? '' : selectField({ label: '所属城市', name: 'city_id', value: str(v, 'city_id'), required: true, options: [{ value: '', label: '请选择' }, ...cat.cities.map((x) => ({ value: x.codeId, label: `${x.codeId} ${x.name}` }))], error: e.city_id })}
        ${field({ label: '名称', name: 'name', value: str(v, 'name'), required: true, error: e.name })}
        ${field({ label: '备注', name: 'remark', value: str(v, 'remark'), error: e.remark })}
        ${field({ label: '排序', name: 'sort', type: 'number', value: str(v, 'sort'), error: e.sort })}
        <div><button type="submit">创建</button></div>
      </div>
    </form>`;
    return page(
      request,
      reply,
      kind,
      isCity ? '城市' : '区域',
      html`${table(isCity ? ['编号', '名称', '备注', { label: '排序', num: true }, { label: '区域数', num: true }] : ['编号', '名称', '城市', '备注', { label: '排序', num: true }, { label: '影院数', num: true }], rows, '还没有记录')}${form}`,
      refused,
    );
  };

  const placeEdit = async (
    request: FastifyRequest,
    reply: FastifyReply,
    kind: 'cities' | 'regions',
    id: string,
    refused?: Refused,
  ) => {
    const cat = await deps.catalog.list(actorOf(request));
    const isCity = kind === 'cities';
    const region = isCity ? undefined : cat.regions.find((x) => x.codeId === id);
    const place = isCity ? cat.cities.find((x) => x.codeId === id) : region;
    if (!place) throw notFound(isCity ? 'city' : 'region', id);
    const v = refused?.values ?? { name: place.name, remark: place.remark, sort: String(place.sort) };
    const e = refused?.fields ?? {};
    const entity = isCity ? 'city' : 'region';
    return page(
      request,
      reply,
      kind,
      `${isCity ? '城市' : '区域'} ${place.codeId} · ${place.name}`,
      html`<p><a href="/admin/catalog/${kind}">‹ ${isCity ? '城市' : '区域'}</a></p>
        <form method="post" action="/admin/catalog/${kind}/${seg(place.codeId)}" class="panel">
          ${csrfField(request)}
          <div class="form-grid">
            <div class="field"><span>编号</span><strong class="mono">${place.codeId}</strong></div>
            ${region ? html`<div class="field"><span>所属城市</span><span>${placeNames(cat).city(region.cityId)}（区域不能换城市）</span></div>` : ''}
            ${field({ label: '名称', name: 'name', value: str(v, 'name'), required: true, error: e.name })}
            ${field({ label: '备注', name: 'remark', value: str(v, 'remark'), error: e.remark })}
            ${field({ label: '排序', name: 'sort', type: 'number', value: str(v, 'sort'), error: e.sort })}
          </div>
          <div class="actions">
            <button type="submit">保存</button>
            <a href="${href('/admin/audit', { entity_type: entity, entity_id: place.codeId })}">审计日志</a>
          </div>
        </form>`,
      refused,
    );
  };

  for (const kind of ['cities', 'regions'] as const) {
    const isCity = kind === 'cities';
    app.get(`/admin/catalog/${kind}`, { preHandler: c.view.staff }, (request, reply) =>
      placeList(request, reply, kind),
    );
    app.post(`/admin/catalog/${kind}`, { preHandler: c.change.staff }, (request, reply) =>
      change(
        request,
        reply,
        (f) =>
          isCity
            ? deps.catalog.createCity(actorOf(request), placeOf(f))
            : deps.catalog.createRegion(actorOf(request), placeOf(f)),
        `/admin/catalog/${kind}`,
        isCity ? 'city.saved' : 'region.saved',
        (r) => placeList(request, reply, kind, r),
        (f) => (isCity ? checkCity(placeOf(f)) : checkRegion(placeOf(f))).refusals,
      ),
    );
    app.get<Id>(`/admin/catalog/${kind}/:id`, { preHandler: c.view.staff }, (request, reply) =>
      placeEdit(request, reply, kind, request.params.id),
    );
    app.post<Id>(`/admin/catalog/${kind}/:id`, { preHandler: c.change.staff }, (request, reply) =>
      change(
        request,
        reply,
        (f) =>
          isCity
            ? deps.catalog.editCity(actorOf(request), request.params.id, placeChangesOf(f))
            : deps.catalog.editRegion(actorOf(request), request.params.id, placeChangesOf(f)),
        `/admin/catalog/${kind}`,
        isCity ? 'city.saved' : 'region.saved',
        (r) => placeEdit(request, reply, kind, request.params.id, r),
        (f) => checkPlaceChanges(placeChangesOf(f)).refusals,
      ),
    );
  }
}

/** A city's or region's changes as the edit form sends them. */
const placeChangesOf = (f: Fields) => ({
  name: str(f, 'name'),
  remark: str(f, 'remark'),
  sort: intOf(str(f, 'sort'), 0),
});

/** A new city or region as the create form sends it (a city's form has no city_id). */
const placeOf = (f: Fields) => ({
  codeId: str(f, 'code_id').trim(),
  cityId: str(f, 'city_id'),
  ...placeChangesOf(f),
});
