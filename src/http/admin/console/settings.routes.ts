import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResendNewMobile, Settings } from '../../../domain/admin/settings.service.js';
import { actorOf, type ConsoleContext } from './context.js';
import { isRefusal, messageOf } from './format.js';
import { bodyOf, str } from './forms.js';
import { html } from './html.js';
import { csrfField, redirectOk, selectField, sendPage } from './layout.js';

const RESEND_NEW_MOBILE_LABEL: Record<ResendNewMobile, string> = {
  operators: '管理员和运营',
  admins: '仅管理员',
};

/** Platform settings (admins): they apply at once, in every instance, without a restart. */
export function settingsRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  const page = (
    request: FastifyRequest,
    reply: FastifyReply,
    s: Settings,
    refused?: { status: number; error: string },
  ) =>
    sendPage(request, reply, {
      title: '设置',
      nav: 'settings',
      status: refused?.status,
      error: refused?.error,
      body: html`<form method="post" action="/admin/settings" class="panel">
        ${csrfField(request)}
        <div class="form-grid">
          ${selectField({ label: '谁可以把卡的短信（含卡密码）发送到新手机号', name: 'resend_new_mobile', value: s.resendNewMobile, options: (['operators', 'admins'] as const).map((v) => ({ value: v, label: RESEND_NEW_MOBILE_LABEL[v] })), hint: '发送到卡原来的手机号不受此限制。每次发送到新手机号都要填写原因并确认，记入审计日志。' })}
        </div>
        <div class="actions"><button type="submit">保存</button></div>
      </form>`,
    });

  app.get('/admin/settings', { preHandler: c.view.admin }, async (request, reply) =>
    page(request, reply, await deps.settings.get()),
  );

  app.post('/admin/settings', { preHandler: c.change.admin }, async (request, reply) => {
    const f = bodyOf(request);
    try {
      await deps.settings.set(actorOf(request), {
        resendNewMobile: str(f, 'resend_new_mobile') as ResendNewMobile,
      });
      return redirectOk(reply, '/admin/settings', 'settings.saved');
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return page(request, reply, await deps.settings.get(), {
        status: err.status,
        error: messageOf(err),
      });
    }
  });
}
