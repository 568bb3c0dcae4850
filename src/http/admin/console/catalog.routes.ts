import type { FastifyReply, FastifyRequest } from 'fastify';
import type {
  CatalogView,
  CinemaView,
  ImportReport,
  KindView,
} from '../../../domain/admin/catalog-admin.service.js';
import { notFound } from '../../../errors.js';
import { CINEMA_CSV_COLUMNS } from '../../../domain/admin/catalog-import.js';
import { uploadedFile } from '../body.js';
import { actorOf, type ConsoleContext } from './context.js';
import { formatYuan, isRefusal, refusalOf } from './format.js';
import { bodyOf, checked, type Fields, intOf, pageOf, queryOf, str, strs } from './forms.js';
import { href, html, type Html, seg } from './html.js';
import {
  badge,
  csrfField,
  field,
  pager,
  postButton,
  redirectOk,
  selectField,
  sendPage,
  table,
  textareaField,
} from './layout.js';

type Section = 'cinemas' | 'kinds' | 'cities' | 'regions' | 'import';

const SECTIONS: { key: Section; path: string; label: string }[] = [
  { key: 'cinemas', path: '/admin/catalog', label: '影院' },
  { key: 'kinds', path: '/admin/catalog/kinds', label: '券种' },
  { key: 'cities', path: '/admin/catalog/cities', label: '城市' },
  { key: 'regions', path: '/admin/catalog/regions', label: '区域' },
  { key: 'import', path: '/admin/catalog/import', label: 'CSV 导入' },
];

const CINEMAS_PER_PAGE = 100;

interface Refused {
  status: number;
  error: string;
  values: Fields;
  fields: Record<string, string>;
}

const subnav = (on: Section) =>
  html`<nav class="subnav">
    ${SECTIONS.map((s) => html`<a href="${s.path}" class="${s.key === on ? 'on' : ''}">${s.label}</a>`)}
  </nav>`;

const activeBadge = (active: boolean) => (active ? badge('启用', 'green') : badge('停用', 'red'));

export function catalogRoutes(c: ConsoleContext): void {
  const { app, deps } = c;
  const page = (
    request: FastifyRequest,
    reply: FastifyReply,
    section: Section,
    title: string,
    body: Html,
    refused?: Refused,
  ) =>
    sendPage(request, reply, {
      title,
      nav: 'catalog',
      status: refused?.status,
      error: refused?.error,
      body: html`${subnav(section)}${body}`,
    });

  /** Runs a change: redirect with a flash, or `again` renders the form with the refusal. */
  const change = async (
    request: FastifyRequest,
    reply: FastifyReply,
    fn: (f: Fields) => Promise<unknown>,
    done: string,
    ok: string,
    again: (r: Refused) => Promise<unknown> | unknown,
  ) => {
    const f = bodyOf(request);
    try {
      await fn(f);
      await deps.afterRegistryChange();
      return redirectOk(reply, done, ok);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const r = refusalOf(err);
      return again({ status: r.status, error: r.error, values: f, fields: r.fields });
    }
  };

  // Cinemas.

  app.get('/admin/catalog', { preHandler: c.view.staff }, async (request, reply) => {
    const cat = await deps.catalog.list(actorOf(request));
    const q = queryOf(request);
    const city = str(q, 'city');
    const text = str(q, 'q').trim().toLowerCase();
    const found = cat.cinemas.filter(
      (x) =>
        (!city || x.cityId === city) &&
        (!text || `${x.cinemaId} ${x.name} ${x.address}`.toLowerCase().includes(text)),
    );
    const pageNo = pageOf(q);
    const offset = (pageNo - 1) * CINEMAS_PER_PAGE;
    const shown = found.slice(offset, offset + CINEMAS_PER_PAGE);
    const names = placeNames(cat);
    const rows = shown.map(
      (x) =>
        html`<tr>
          <td class="mono"><a href="/admin/catalog/cinemas/${seg(x.cinemaId)}">${x.cinemaId}</a></td>
          <td>${x.name}</td>
          <td>${names.city(x.cityId)} / ${names.region(x.regionId)}</td>
          <td>${x.address}</td>
          <td>${x.tel}</td>
          <td class="num">${formatYuan(x.priceFen)}</td>
          <td class="num">${formatYuan(x.marketPriceFen)}</td>
          <td class="num">${x.validDays}</td>
          <td>${activeBadge(x.active)}</td>
          <td>${activeButton(request, `/admin/catalog/cinemas/${seg(x.cinemaId)}/active`, x.active)}</td>
        </tr>`,
    );
    const filter = html`<form method="get" action="/admin/catalog" class="panel">
      <div class="form-grid">
        ${selectField({ label: '城市', name: 'city', value: city, options: [{ value: '', label: '全部城市' }, ...cat.cities.map((x) => ({ value: x.codeId, label: `${x.codeId} ${x.name}` }))] })}
        ${field({ label: '编号、名称或地址', name: 'q', type: 'search', value: str(q, 'q') })}
        <div>
          <button type="submit">筛选</button>
          <a class="button secondary" href="/admin/catalog/cinemas/new">新建影院</a>
        </div>
      </div>
    </form>`;
    return page(
      request,
      reply,
      'cinemas',
      '影院目录',
      html`${filter}
      ${table(['编号', '名称', '城市 / 区域', '地址', '电话', { label: '默认价', num: true }, { label: '市场价', num: true }, { label: '有效天数', num: true }, '状态', ''], rows, '没有符合条件的影院')}
      ${pager('/admin/catalog', { city, q: str(q, 'q') }, { offset, limit: CINEMAS_PER_PAGE, total: found.length, hasNext: offset + CINEMAS_PER_PAGE < found.length })}`,
    );
  });

  const cinemaForm = async (
    request: FastifyRequest,
    reply: FastifyReply,
    cinema: CinemaView | null,
    refused?: Refused,
  ) => {
    const cat = await deps.catalog.list(actorOf(request));
    const names = placeNames(cat);
    const init: Fields = cinema
      ? {
          name: cinema.name,
          region_id: cinema.regionId,
          address: cinema.address,
          tel: cinema.tel,
          price: formatYuan(cinema.priceFen),
          market_price: formatYuan(cinema.marketPriceFen),
          valid_days: String(cinema.validDays),
        }
      : { valid_days: '90', active: '1' };
    const v = refused?.values ?? init;
    const e = refused?.fields ?? {};
    const action = cinema ? `/admin/catalog/cinemas/${seg(cinema.cinemaId)}` : '/admin/catalog/cinemas';
    return page(
      request,
      reply,
      'cinemas',
      cinema ? `影院 ${cinema.cinemaId} · ${cinema.name}` : '新建影院',
      html`<p><a href="/admin/catalog">‹ 影院目录</a></p>
        <form method="post" action="${action}" class="panel">
          ${csrfField(request)}
          <div class="form-grid">
            ${cinema ? html`<div class="field"><span>影院编号</span><strong class="mono">${cinema.cinemaId}</strong></div>` : field({ label: '影院编号', name: 'cinema_id', value: str(v, 'cinema_id'), required: true, hint: '1–32 位字母、数字、_ 或 -', error: e.cinema_id })}
            ${field({ label: '名称', name: 'name', value: str(v, 'name'), required: true, error: e.name })}
            ${selectField({ label: '区域', name: 'region_id', value: str(v, 'region_id'), required: true, options: [{ value: '', label: '请选择' }, ...cat.regions.map((r) => ({ value: r.codeId, label: `${names.city(r.cityId)} / ${r.name}（${r.codeId}）` }))], error: e.region_id })}
            ${field({ label: '地址', name: 'address', value: str(v, 'address'), error: e.address })}
            ${field({ label: '电话', name: 'tel', value: str(v, 'tel'), error: e.tel })}
            ${field({ label: '默认结算价（元）', name: 'price', value: str(v, 'price'), required: true, placeholder: '35.00', error: e.price })}
            ${field({ label: '市场价（元）', name: 'market_price', value: str(v, 'market_price'), required: true, placeholder: '70.00', error: e.market_price })}
            ${field({ label: '有效天数', name: 'valid_days', type: 'number', value: str(v, 'valid_days'), error: e.valid_days })}
            ${
              cinema
                ? html`<div class="field"><span>状态</span><span>${activeBadge(cinema.active)}</span></div>`
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
          <div class="actions"><button type="submit">${cinema ? '保存' : '创建影院'}</button></div>
        </form>
        ${
          cinema
            ? html`<div class="actions">
                ${activeButton(request, `/admin/catalog/cinemas/${seg(cinema.cinemaId)}/active`, cinema.active)}
                <a href="${href('/admin/audit', { entity_type: 'cinema', entity_id: cinema.cinemaId })}"
                  >审计日志</a
                >
              </div>`
            : ''
        }`,
      refused,
    );
  };

  app.get('/admin/catalog/cinemas/new', { preHandler: c.view.staff }, (request, reply) =>
    cinemaForm(request, reply, null),
  );

  app.post('/admin/catalog/cinemas', { preHandler: c.change.staff }, (request, reply) =>
    change(
      request,
      reply,
      (f) =>
        deps.catalog.createCinema(actorOf(request), {
          cinemaId: str(f, 'cinema_id').trim(),
          name: str(f, 'name'),
          regionId: str(f, 'region_id'),
          address: str(f, 'address'),
          tel: str(f, 'tel'),
          price: str(f, 'price'),
          marketPrice: str(f, 'market_price'),
          validDays: intOf(str(f, 'valid_days')),
          active: checked(f, 'active'),
        }),
      '/admin/catalog',
      'cinema.saved',
      (r) => cinemaForm(request, reply, null, r),
    ),
  );

  type Id = { Params: { id: string } };
  const findCinema = async (request: FastifyRequest, id: string) => {
    const found = (await deps.catalog.list(actorOf(request))).cinemas.find((x) => x.cinemaId === id);
    if (!found) throw notFound('cinema', id);
    return found;
  };

  app.get<Id>('/admin/catalog/cinemas/:id', { preHandler: c.view.staff }, async (request, reply) =>
    cinemaForm(request, reply, await findCinema(request, request.params.id)),
  );

  app.post<Id>('/admin/catalog/cinemas/:id', { preHandler: c.change.staff }, (request, reply) =>
    change(
      request,
      reply,
      (f) =>
        deps.catalog.editCinema(actorOf(request), request.params.id, {
          name: str(f, 'name'),
          regionId: str(f, 'region_id'),
          address: str(f, 'address'),
          tel: str(f, 'tel'),
          price: str(f, 'price'),
          marketPrice: str(f, 'market_price'),
          validDays: intOf(str(f, 'valid_days')),
        }),
      `/admin/catalog/cinemas/${seg(request.params.id)}`,
      'cinema.saved',
      async (r) => cinemaForm(request, reply, await findCinema(request, request.params.id), r),
    ),
  );

  app.post<Id>(
    '/admin/catalog/cinemas/:id/active',
    { preHandler: c.change.staff },
    async (request, reply) => {
      const active = str(bodyOf(request), 'active') === '1';
      await deps.catalog.setCinemaActive(actorOf(request), request.params.id, active);
      await deps.afterRegistryChange();
      return redirectOk(
        reply,
        back(request, '/admin/catalog'),
        active ? 'cinema.activated' : 'cinema.deactivated',
      );
    },
  );

  // Kinds.

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
              ${e.cinema_ids ? html`<p class="err">${e.cinema_ids}</p>` : ''}${cinemaChecks(cat, strs(v, 'cinema_ids'))}`
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
      (f) =>
        deps.catalog.createKind(actorOf(request), {
          kindId: str(f, 'kind_id').trim(),
          name: str(f, 'name'),
          price: str(f, 'price'),
          marketPrice: str(f, 'market_price'),
          validDays: intOf(str(f, 'valid_days')) as number,
          remark: str(f, 'remark'),
          active: checked(f, 'active'),
          cinemaIds: strs(f, 'cinema_ids'),
        }),
      '/admin/catalog/kinds',
      'kind.saved',
      (r) => kindForm(request, reply, null, r),
    ),
  );

  app.get<Id>('/admin/catalog/kinds/:id', { preHandler: c.view.staff }, async (request, reply) =>
    kindForm(request, reply, await findKind(request, request.params.id)),
  );

  app.post<Id>('/admin/catalog/kinds/:id', { preHandler: c.change.staff }, (request, reply) =>
    change(
      request,
      reply,
      (f) =>
        deps.catalog.editKind(actorOf(request), request.params.id, {
          name: str(f, 'name'),
          price: str(f, 'price'),
          marketPrice: str(f, 'market_price'),
          validDays: intOf(str(f, 'valid_days')),
          remark: str(f, 'remark'),
        }),
      `/admin/catalog/kinds/${seg(request.params.id)}`,
      'kind.saved',
      async (r) => kindForm(request, reply, await findKind(request, request.params.id), r),
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
    await deps.catalog.setKindActive(actorOf(request), request.params.id, active);
    await deps.afterRegistryChange();
    return redirectOk(
      reply,
      back(request, '/admin/catalog/kinds'),
      active ? 'kind.activated' : 'kind.deactivated',
    );
  });

  // Cities and regions: a list with a create form, and an edit page each.

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
        (f) => {
          const input = {
            codeId: str(f, 'code_id').trim(),
            name: str(f, 'name'),
            remark: str(f, 'remark'),
            sort: intOf(str(f, 'sort'), 0),
          };
          return isCity
            ? deps.catalog.createCity(actorOf(request), input)
            : deps.catalog.createRegion(actorOf(request), { ...input, cityId: str(f, 'city_id') });
        },
        `/admin/catalog/${kind}`,
        isCity ? 'city.saved' : 'region.saved',
        (r) => placeList(request, reply, kind, r),
      ),
    );
    app.get<Id>(`/admin/catalog/${kind}/:id`, { preHandler: c.view.staff }, (request, reply) =>
      placeEdit(request, reply, kind, request.params.id),
    );
    app.post<Id>(`/admin/catalog/${kind}/:id`, { preHandler: c.change.staff }, (request, reply) =>
      change(
        request,
        reply,
        (f) => {
          const changes = { name: str(f, 'name'), remark: str(f, 'remark'), sort: intOf(str(f, 'sort'), 0) };
          return isCity
            ? deps.catalog.editCity(actorOf(request), request.params.id, changes)
            : deps.catalog.editRegion(actorOf(request), request.params.id, changes);
        },
        `/admin/catalog/${kind}`,
        isCity ? 'city.saved' : 'region.saved',
        (r) => placeEdit(request, reply, kind, request.params.id, r),
      ),
    );
  }

  // CSV import.

  const importPage = (
    request: FastifyRequest,
    reply: FastifyReply,
    values: Fields,
    report?: ImportReport,
    refused?: { status: number; error: string },
  ) => {
    const reportHtml = report ? importReport(report) : '';
    // After a clean dry run the form is ready for the real run; after a real run it is empty again.
    const csv = report?.applied ? '' : str(values, 'csv');
    const dryRun = report
      ? report.dryRun && report.errors.length > 0
      : !values.csv || checked(values, 'dry_run');
    return sendPage(request, reply, {
      title: 'CSV 导入影院',
      nav: 'catalog',
      status: refused?.status ?? (report && report.errors.length ? 400 : 200),
      error: refused?.error,
      body: html`${subnav('import')}${reportHtml}
        <form method="post" action="/admin/catalog/import" enctype="multipart/form-data" class="panel">
          ${csrfField(request)}
          <p>
            第一行为表头，须包含这些列（顺序不限）：<code>${CINEMA_CSV_COLUMNS.join(',')}</code>。
            城市、区域不存在时自动创建；影院按编号新建或更新。只要有一行出错，整个文件都不会导入。
          </p>
          <label class="field"
            ><span>上传 CSV 文件（UTF-8，最大 5 MiB）</span
            ><input type="file" name="file" accept=".csv,text/csv"
          /></label>
          ${textareaField({ label: '或粘贴 CSV 内容（选择了文件时以文件为准）', name: 'csv', id: 'csv', value: csv, rows: 14 })}
          <div class="actions">
            <label
              ><input type="checkbox" name="dry_run" value="1" ${dryRun ? html` checked` : ''} />
              仅试运行（只检查，不写入）</label
            >
            <button type="submit">提交</button>
          </div>
        </form>`,
    });
  };

  app.get('/admin/catalog/import', { preHandler: c.view.staff }, (request, reply) =>
    importPage(request, reply, {}),
  );

  // Multipart (the admin scope buffers it, files included): the file wins over the textarea.
  app.post('/admin/catalog/import', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    const file = uploadedFile(request.body, 'file');
    const fromFile = file && file.data.length > 0 ? decodeCsv(file.data) : null;
    if (fromFile === false) {
      return importPage(request, reply, f, undefined, {
        status: 400,
        error: '文件不是 UTF-8 编码的文本，请另存为 UTF-8 CSV 后再上传。',
      });
    }
    const csv = fromFile ?? str(f, 'csv');
    if (csv.trim() === '') {
      return importPage(request, reply, f, undefined, { status: 400, error: '请粘贴 CSV 内容或选择文件。' });
    }
    try {
      const report = await deps.catalog.importCinemas(actorOf(request), csv, {
        dryRun: checked(f, 'dry_run'),
        source: file ? `console:${file.filename.slice(0, 100)}` : 'console',
      });
      if (report.applied) await deps.afterRegistryChange();
      return importPage(request, reply, { ...f, csv }, report);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const r = refusalOf(err);
      return importPage(request, reply, f, undefined, { status: r.status, error: r.error });
    }
  });
}

/** The file's text (a BOM is fine); false when it is not UTF-8. */
function decodeCsv(data: Buffer): string | false {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return false;
  }
}

function importReport(r: ImportReport): Html {
  const verdict = r.errors.length
    ? html`<div class="error" role="alert">
        发现 ${r.errors.length} 个问题，没有导入任何数据。请修改后重新提交。
      </div>`
    : r.applied
      ? html`<div class="flash" role="status">导入完成。</div>`
      : r.dryRun
        ? html`<div class="notice" role="status">
            试运行通过，没有写入。取消勾选“仅试运行”后再次提交即可正式导入。
          </div>`
        : html`<div class="notice" role="status">没有需要变更的内容。</div>`;
  const stat = (k: string, v: number) =>
    html`<div class="stat">
      <div class="k">${k}</div>
      <div class="v">${v}</div>
    </div>`;
  return html`${verdict}
    <div class="stats">
      ${stat('数据行', r.rows)}${stat('新建影院', r.created)}${stat('更新影院', r.updated)}
      ${stat('未变化', r.unchanged)}${stat('新建城市', r.citiesCreated)}${stat('新建区域', r.regionsCreated)}
    </div>
    ${
      r.errors.length
        ? table(
            ['行', '列', '问题'],
            r.errors.map(
              (e) =>
                html`<tr>
                  <td class="num">${e.row}</td>
                  <td class="mono">${e.column}</td>
                  <td>${e.message}</td>
                </tr>`,
            ),
          )
        : ''
    }`;
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

function activeButton(request: FastifyRequest, action: string, active: boolean, backTo?: string): Html {
  return postButton(request, action, active ? '停用' : '启用', {
    hidden: { active: active ? '0' : '1', ...(backTo ? { back: backTo } : {}) },
    className: active ? 'small secondary' : 'small',
  });
}

/** Where an activate/deactivate button returns to: a catalog page only. */
function back(request: FastifyRequest, fallback: string): string {
  const to = str(bodyOf(request), 'back');
  return /^\/admin\/catalog(\/[A-Za-z0-9_%-]+)*$/.test(to) ? to : fallback;
}

function placeNames(cat: CatalogView) {
  const cities = new Map(cat.cities.map((x) => [x.codeId, x.name]));
  const regions = new Map(cat.regions.map((x) => [x.codeId, x.name]));
  return { city: (id: string) => cities.get(id) ?? id, region: (id: string) => regions.get(id) ?? id };
}
