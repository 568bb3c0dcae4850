import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PriceTargetType, SignMode } from '../../../domain/admin/partner-views.js';
import { type AppError, conflict } from '../../../errors.js';
import {
  checkNewPartner,
  checkPartnerEdit,
  checkPartnerPrice,
} from '../../../domain/admin/partner-checks.js';
import { INTERFACE_NAMES } from '../../partner/interfaces.js';
import { actorOf, type ConsoleContext } from './context.js';
import { isConfirmed, sendConfirmation } from './confirm.js';
import { allRefusals, isRefusal, notifyErrorText, refusalOf, yuan } from './format.js';
import { bodyOf, type Fields, intOf, splitList, str, strs } from './forms.js';
import { parseYuan } from '../../../domain/money.js';
import { html } from './html.js';
import { redirectOk, sendPage, table } from './layout.js';
import { detailPage, type FormState, newPartnerPage, partnerPath, statusBadge } from './partner-pages.js';

export function partnerRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  app.get('/admin/partners', { preHandler: c.view.staff }, async (request, reply) => {
    const partners = await deps.partners.list(actorOf(request));
    const rows = partners.map(
      (p) =>
        html`<tr>
          <td><a href="${partnerPath(p.partnerId)}" class="mono">${p.partnerId}</a></td>
          <td>${p.name}</td>
          <td class="mono">${p.busId}</td>
          <td>${statusBadge(p.status)}</td>
          <td class="num">${p.permissions.length} / ${INTERFACE_NAMES.length}</td>
          <td class="num">${p.activeKeys}</td>
          <td class="num">${p.rateLimit || '不限'}</td>
          <td>${p.ipAllow.length ? p.ipAllow.join(', ') : html`<span class="muted">任意</span>`}</td>
          <td>${c.time(p.createdAt)}</td>
        </tr>`,
    );
    return sendPage(request, reply, {
      title: '渠道',
      nav: 'partners',
      body: html`<div class="actions" style="margin:0 0 12px">
          <a class="button" href="/admin/partners/new">新建渠道</a>
        </div>
        ${table(
          [
            'partner_id',
            '名称',
            'bus_id',
            '状态',
            { label: '接口', num: true },
            { label: '有效密钥', num: true },
            { label: '限流/秒', num: true },
            'IP 白名单',
            '创建时间',
          ],
          rows,
          '还没有渠道',
        )}`,
    });
  });

  app.get('/admin/partners/new', { preHandler: c.view.staff }, async (request, reply) =>
    newPartnerPage(request, reply, { prefix: 'MT', permissions: [...INTERFACE_NAMES], rate_limit: '0' }),
  );

  app.post('/admin/partners', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    const input = {
      name: str(f, 'name'),
      prefix: str(f, 'prefix').trim() || undefined,
      permissions: strs(f, 'permissions'),
      ipAllow: splitList(str(f, 'ip_allow')),
      rateLimit: rateLimitOf(f),
    };
    // Every field that breaks a rule is named at once.
    const refusals = checkNewPartner(input).refusals;
    if (refusals.length) {
      const r = allRefusals(refusals);
      return newPartnerPage(request, reply, f, r.status, r.error, r.fields);
    }
    try {
      const p = await deps.partners.create(actorOf(request), input);
      await deps.afterRegistryChange();
      return redirectOk(reply, partnerPath(p.partnerId), 'partner.created');
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const r = refusalOf(err);
      return newPartnerPage(request, reply, f, r.status, r.error, r.fields);
    }
  });

  app.get<{ Params: { id: string } }>(
    '/admin/partners/:id',
    { preHandler: c.view.staff },
    async (request, reply) => detailPage(c, request, reply, request.params.id),
  );

  /** Runs a change from the detail page: redirect with a flash, or the page again with the refusal. */
  const change = async (
    request: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
    form: FormState['form'],
    ok: string,
    fn: (f: Fields) => Promise<unknown>,
    refusals: readonly AppError[] = [],
  ) => {
    const f = bodyOf(request);
    if (refusals.length) {
      const r = allRefusals(refusals);
      return detailPage(c, request, reply, request.params.id, { ...r, form, values: f });
    }
    try {
      await fn(f);
      await deps.afterRegistryChange();
      return redirectOk(reply, partnerPath(request.params.id), ok);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const r = refusalOf(err);
      return detailPage(c, request, reply, request.params.id, {
        status: r.status,
        error: r.error,
        form,
        values: f,
        fields: r.fields,
      });
    }
  };

  type P = { Params: { id: string } };
  app.post<P>('/admin/partners/:id/edit', { preHandler: c.change.staff }, (request, reply) => {
    const f = bodyOf(request);
    const input = { name: str(f, 'name'), ipAllow: splitList(str(f, 'ip_allow')), rateLimit: rateLimitOf(f) };
    return change(
      request,
      reply,
      'edit',
      'partner.saved',
      () => deps.partners.edit(actorOf(request), request.params.id, input),
      checkPartnerEdit(input).refusals,
    );
  });

  app.post<P>('/admin/partners/:id/suspend', { preHandler: c.change.staff }, async (request, reply) => {
    if (!isConfirmed(request)) {
      const p = await deps.partners.show(actorOf(request), request.params.id);
      return sendConfirmation(request, reply, {
        title: `暂停渠道 ${p.partnerId} ${p.name}`,
        nav: 'partners',
        consequences: [
          '此渠道的所有接口调用（购买、激活、查询、作废、重发短信）立即被拒绝（403 partner_disabled）。',
          '已售出的卡不受影响：仍可在影院兑换，到期照常过期。',
          '可随时在渠道页面恢复。',
        ],
        confirmLabel: '确认暂停',
        back: partnerPath(p.partnerId),
      });
    }
    return change(request, reply, 'status', 'partner.suspended', () =>
      deps.partners.suspend(actorOf(request), request.params.id),
    );
  });

  app.post<P>('/admin/partners/:id/resume', { preHandler: c.change.staff }, (request, reply) =>
    change(request, reply, 'status', 'partner.resumed', () =>
      deps.partners.resume(actorOf(request), request.params.id),
    ),
  );

  // The checkboxes say which interfaces should be granted; the difference is granted and revoked.
  app.post<P>('/admin/partners/:id/permissions', { preHandler: c.change.staff }, (request, reply) =>
    change(request, reply, 'permissions', 'partner.permissions', async (f) => {
      const by = actorOf(request);
      const current = await deps.partners.show(by, request.params.id);
      const wanted = new Set(strs(f, 'permissions'));
      const grant = [...wanted].filter((n) => !current.permissions.includes(n));
      const revoke = current.permissions.filter((n) => !wanted.has(n));
      if (grant.length) await deps.partners.grant(by, request.params.id, grant);
      if (revoke.length) await deps.partners.revoke(by, request.params.id, revoke);
    }),
  );

  // The new key is shown on this response only: no redirect, nothing stored to show it again.
  app.post<P>('/admin/partners/:id/keys', { preHandler: c.change.admin }, async (request, reply) => {
    const f = bodyOf(request);
    try {
      const key = await deps.partners.createKey(actorOf(request), request.params.id, {
        secId: str(f, 'sec_id').trim() || undefined,
        signMode: (str(f, 'sign_mode') || 'full') as SignMode,
      });
      await deps.afterRegistryChange();
      const p = await deps.partners.show(actorOf(request), key.partnerId);
      return sendPage(request, reply, {
        title: `新密钥 · ${p.partnerId}`,
        nav: 'partners',
        body: html`<div class="warn" role="alert">
            <strong>请立即复制并安全地交给渠道。</strong> 这个 md5key
            只在本页显示这一次，之后无法再查看；离开本页后如遗失，只能吊销并新建密钥。
          </div>
          <div class="panel">
            <dl class="kv">
              <dt>渠道</dt>
              <dd>${p.partnerId} ${p.name}</dd>
              <dt>partner_id</dt>
              <dd class="mono">${key.partnerId}</dd>
              <dt>bus_id</dt>
              <dd class="mono">${p.busId}</dd>
              <dt>sec_id</dt>
              <dd class="mono">${key.secId}</dd>
              <dt>签名方式</dt>
              <dd>${key.signMode}</dd>
              <dt>md5key</dt>
              <dd>
                <input
                  type="text"
                  id="md5key"
                  class="secret mono"
                  readonly
                  value="${key.md5key}"
                  size="40"
                  autocomplete="off"
                />
                <button type="button" class="secondary" data-copy="md5key">复制</button>
              </dd>
            </dl>
          </div>
          <p><a href="${partnerPath(p.partnerId)}">‹ 返回渠道 ${p.partnerId}</a></p>`,
      });
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const r = refusalOf(err);
      return detailPage(c, request, reply, request.params.id, {
        status: r.status,
        error: r.error,
        form: 'key',
        values: f,
        fields: r.fields,
      });
    }
  });

  app.post<P>('/admin/partners/:id/keys/revoke', { preHandler: c.change.admin }, async (request, reply) => {
    const f = bodyOf(request);
    if (!isConfirmed(request)) {
      return sendConfirmation(request, reply, {
        title: `吊销渠道 ${request.params.id} 的密钥 ${str(f, 'sec_id')}`,
        nav: 'partners',
        consequences: [
          `用 sec_id ${str(f, 'sec_id')} 签名的请求立即被拒绝（401），渠道须改用其他有效密钥。`,
          '吊销不可撤销：同一个密钥不能恢复，只能新建密钥交给渠道。',
          '已售出的卡不受影响。',
        ],
        confirmLabel: '确认吊销',
        back: partnerPath(request.params.id),
      });
    }
    return change(request, reply, 'revoke', 'key.revoked', () =>
      deps.partners.revokeKey(actorOf(request), request.params.id, str(f, 'sec_id')),
    );
  });

  app.post<P>('/admin/partners/:id/callback', { preHandler: c.change.staff }, (request, reply) =>
    change(request, reply, 'callback', 'partner.saved', (f) =>
      deps.partners.setCallback(actorOf(request), request.params.id, str(f, 'callback_url')),
    ),
  );

  // Nothing changes: the result is shown (delivered), or refused with the reason it was not.
  app.post<P>('/admin/partners/:id/callback/test', { preHandler: c.change.staff }, (request, reply) =>
    change(request, reply, 'callback', 'callback.tested', async () => {
      const sent = await deps.notify.sendTest(request.params.id);
      if (sent.url === null) throw conflict('the partner has no callback URL', 'callback.test_no_url');
      if (sent.error !== null) {
        throw conflict(`the test event was not delivered: ${sent.error}`, 'callback.test_failed', {
          reason: notifyErrorText(sent.error),
        });
      }
    }),
  );

  app.post<P>('/admin/partners/:id/notify/retry', { preHandler: c.change.staff }, (request, reply) =>
    change(request, reply, 'notify', 'notify.retried', (f) =>
      deps.partners.retryNotify(actorOf(request), str(f, 'event_id')),
    ),
  );

  app.post<P>('/admin/partners/:id/prices', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    const target = targetOf(str(f, 'target'));
    // A price or target that breaks a rule is refused (every one named) before any confirmation.
    const refusals = checkPartnerPrice(target, str(f, 'price')).refusals;
    if (refusals.length) return change(request, reply, 'price', 'price.set', async () => {}, refusals);
    const unusual = isConfirmed(request) ? null : await unusualPrice(c, request, target, str(f, 'price'));
    if (unusual) {
      return sendConfirmation(request, reply, {
        title: `为渠道 ${request.params.id} 设置${unusual.name}的价格 ${yuan(unusual.priceFen)}`,
        nav: 'partners',
        warning: unusual.warning,
        consequences: [
          `此渠道此后购买${unusual.name}的卡按 ${yuan(unusual.priceFen)} 计价（默认价 ${yuan(unusual.defaultFen)}，市场价 ${yuan(unusual.marketFen)}）。`,
          '已售出的卡价格不变。',
        ],
        confirmLabel: '确认设置此价格',
        back: partnerPath(request.params.id),
      });
    }
    return change(request, reply, 'price', 'price.set', () =>
      deps.partners.setPrice(actorOf(request), request.params.id, target, str(f, 'price')),
    );
  });

  app.post<P>('/admin/partners/:id/prices/clear', { preHandler: c.change.staff }, async (request, reply) => {
    const f = bodyOf(request);
    const target = targetOf(str(f, 'target'));
    if (!isConfirmed(request)) {
      const what = `${target.type === 'cinema' ? '影院' : '券种'} ${target.id}`;
      return sendConfirmation(request, reply, {
        title: `清除渠道 ${request.params.id} 在${what}的专属价格`,
        nav: 'partners',
        consequences: [`此渠道此后购买${what}的卡按平台的默认价计价。`, '已售出的卡价格不变。'],
        confirmLabel: '确认清除',
        back: partnerPath(request.params.id),
      });
    }
    return change(request, reply, 'price', 'price.cleared', () =>
      deps.partners.clearPrice(actorOf(request), request.params.id, target),
    );
  });
}

/** `cinema:1001` / `kind:K2D` from the price forms. */
function targetOf(value: string): { type: PriceTargetType; id: string } {
  const i = value.indexOf(':');
  return { type: value.slice(0, i) as PriceTargetType, id: i < 0 ? '' : value.slice(i + 1) };
}

/** A partner price more than this share away from the default price asks for a confirmation. */
export const FAR_FROM_DEFAULT = 0.2;

/**
 * Why a partner price deserves a second look: more than 20% away from the cinema's (or kind's)
 * default price, or above its market price. Null when it does not (or the price does not parse:
 * the service refuses it with its own sentence).
 */
async function unusualPrice(
  c: ConsoleContext,
  request: FastifyRequest,
  target: { type: PriceTargetType; id: string },
  priceText: string,
): Promise<{
  name: string;
  priceFen: number;
  defaultFen: number;
  marketFen: number;
  warning: string;
} | null> {
  const priceFen = parseYuan(priceText.trim());
  if (priceFen === null) return null;
  const catalog = await c.deps.catalog.list(actorOf(request));
  const found =
    target.type === 'cinema'
      ? catalog.cinemas.find((x) => x.cinemaId === target.id)
      : catalog.kinds.find((x) => x.kindId === target.id);
  if (!found) return null;
  const name = `${target.type === 'cinema' ? '影院' : '券种'} ${target.id} ${found.name}`;
  const { priceFen: defaultFen, marketPriceFen: marketFen } = found;
  const warnings: string[] = [];
  if (priceFen > marketFen) warnings.push(`高于市场价 ${yuan(marketFen)}`);
  const off = Math.abs(priceFen - defaultFen) / defaultFen;
  if (off > FAR_FROM_DEFAULT) {
    const dir = priceFen > defaultFen ? '高' : '低';
    warnings.push(
      `比默认价 ${yuan(defaultFen)} ${dir} ${Math.round(off * 100)}%（超过 ${FAR_FROM_DEFAULT * 100}%）`,
    );
  }
  if (warnings.length === 0) return null;
  return {
    name,
    priceFen,
    defaultFen,
    marketFen,
    warning: `请核对：价格 ${yuan(priceFen)} ${warnings.join('，')}。`,
  };
}

/** An empty rate limit means none (0). */
const rateLimitOf = (f: Fields) => intOf(str(f, 'rate_limit'), 0);
