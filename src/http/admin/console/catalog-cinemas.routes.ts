import { isConfirmed, sendConfirmation } from './confirm.js';
import { notFound } from '../../../errors.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CinemaView } from '../../../domain/admin/catalog-views.js';
import { checkCinema, checkCinemaChanges } from '../../../domain/admin/catalog-checks.js';
import { actorOf, type ConsoleContext } from './context.js';
import { formatYuan } from './format.js';
import { bodyOf, checked, type Fields, intOf, pageOf, queryOf, str } from './forms.js';
import { href, html, seg } from './html.js';
import { csrfField, field, pager, redirectOk, selectField, table } from './layout.js';
import {
  activeBadge,
  activeButton,
  back,
  catalogHelpers,
  type Id,
  placeNames,
  type Refused,
} from './catalog-shared.js';

const CINEMAS_PER_PAGE = 100;

/** Cinemas: the searchable list, the create form and the edit page. */
export function cinemaRoutes(c: ConsoleContext): void {
  const { app, deps } = c;
  const { page, change } = catalogHelpers(c);

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
      (f) => deps.catalog.createCinema(actorOf(request), cinemaOf(f)),
      '/admin/catalog',
      'cinema.saved',
      (r) => cinemaForm(request, reply, null, r),
      (f) => checkCinema(cinemaOf(f)).refusals,
    ),
  );

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
      (f) => deps.catalog.editCinema(actorOf(request), request.params.id, cinemaChangesOf(f)),
      `/admin/catalog/cinemas/${seg(request.params.id)}`,
      'cinema.saved',
      async (r) => cinemaForm(request, reply, await findCinema(request, request.params.id), r),
      (f) => checkCinemaChanges(cinemaChangesOf(f)).refusals,
    ),
  );

  app.post<Id>(
    '/admin/catalog/cinemas/:id/active',
    { preHandler: c.change.staff },
    async (request, reply) => {
      const active = str(bodyOf(request), 'active') === '1';
      if (!active && !isConfirmed(request)) {
        const id = request.params.id;
        const [cinema, open] = await Promise.all([findCinema(request, id), deps.cardAdmin.openCardsAt(id)]);
        return sendConfirmation(request, reply, {
          title: `停用影院 ${id} ${cinema.name}`,
          nav: 'catalog',
          consequences: [
            '此影院不再出现在渠道的影院目录中，渠道不能再按此影院购买新卡。',
            `已售出、仍有剩余票的按影院购买的卡：${open.cinema} 张；它们仍可在此影院兑换，到期照常过期。`,
            `包含此影院的券种卡（仍有剩余票）：${open.kind} 张；仍可在此影院和券种的其他影院兑换。`,
            `未付款、仍在支付期限内的卡：${open.unpaid} 张；渠道仍可在期限内激活。`,
            '停用可随时撤回（重新启用）。',
          ],
          confirmLabel: '确认停用',
          back: `/admin/catalog/cinemas/${seg(id)}`,
        });
      }
      await deps.catalog.setCinemaActive(actorOf(request), request.params.id, active);
      await deps.afterRegistryChange();
      return redirectOk(
        reply,
        back(request, '/admin/catalog'),
        active ? 'cinema.activated' : 'cinema.deactivated',
      );
    },
  );
}

/** A cinema's changes as the edit form sends them. */
const cinemaChangesOf = (f: Fields) => ({
  name: str(f, 'name'),
  regionId: str(f, 'region_id'),
  address: str(f, 'address'),
  tel: str(f, 'tel'),
  price: str(f, 'price'),
  marketPrice: str(f, 'market_price'),
  validDays: intOf(str(f, 'valid_days')),
});

/** A new cinema as the create form sends it. */
const cinemaOf = (f: Fields) => ({
  ...cinemaChangesOf(f),
  cinemaId: str(f, 'cinema_id').trim(),
  active: checked(f, 'active'),
});
