import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../../../db/schema.js';
import { isConfirmed, sendConfirmation } from './confirm.js';
import { MIN_PASSWORD_LENGTH, newUserRefusals, ROLES } from '../../../domain/admin/user.service.js';
import { actorOf, type ConsoleContext, userOf } from './context.js';
import { allRefusals, isRefusal, label, refusalOf, ROLE_LABEL, USER_STATUS_LABEL } from './format.js';
import { bodyOf, type Fields, str } from './forms.js';
import { html, seg } from './html.js';
import { badge, csrfField, field, postButton, redirectOk, selectField, sendPage, table } from './layout.js';

interface Refused {
  status: number;
  error: string;
  fields: Record<string, string>;
}

const userPath = (name: string) => `/admin/users/${seg(name)}`;

export function userRoutes(c: ConsoleContext): void {
  const { app, deps } = c;

  const listPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    refused?: Omit<Refused, 'fields'>,
  ) => {
    const users = await deps.users.list(actorOf(request));
    const me = userOf(request).username;
    const rows = users.map(
      (u) =>
        html`<tr>
          <td class="mono">
            ${u.username}${u.username === me ? html` <span class="muted">（我）</span>` : ''}
          </td>
          <td>${label(ROLE_LABEL, u.role)}</td>
          <td class="mono">${u.cinemaId ?? ''}</td>
          <td>${badge(label(USER_STATUS_LABEL, u.status), u.status === 'active' ? 'green' : 'red')}</td>
          <td>${c.time(u.createdAt)}</td>
          <td>${c.time(u.lastLoginAt)}</td>
          <td>
            ${
              u.status === 'active'
                ? postButton(request, `${userPath(u.username)}/disable`, '停用', {
                    className: 'small danger',
                  })
                : postButton(request, `${userPath(u.username)}/enable`, '启用')
            } <a href="${userPath(u.username)}/password">重置密码</a>
          </td>
        </tr>`,
    );
    return sendPage(request, reply, {
      title: '账号',
      nav: 'users',
      status: refused?.status,
      error: refused?.error,
      body: html`<div class="actions" style="margin:0 0 12px">
          <a class="button" href="/admin/users/new">新建账号</a>
        </div>
        ${table(['用户名', '角色', '影院', '状态', '创建时间', '最近登录', ''], rows)}`,
    });
  };

  const newPage = async (request: FastifyRequest, reply: FastifyReply, values: Fields, refused?: Refused) => {
    const cinemas = (await deps.catalog.list(actorOf(request))).cinemas;
    const e = refused?.fields ?? {};
    return sendPage(request, reply, {
      title: '新建账号',
      nav: 'users',
      status: refused?.status,
      error: refused?.error,
      body: html`<form method="post" action="/admin/users" class="panel" autocomplete="off">
        ${csrfField(request)}
        <div class="form-grid">
          ${field({ label: '用户名', name: 'username', value: str(values, 'username'), required: true, hint: '3–32 位小写字母、数字、_ . -', error: e.username })}
          ${field({ label: '初始密码', name: 'password', type: 'password', value: '', required: true, autocomplete: 'new-password', hint: `至少 ${MIN_PASSWORD_LENGTH} 个字符`, error: e.password })}
          ${selectField({ label: '角色', name: 'role', value: str(values, 'role') || 'operator', required: true, options: ROLES.map((r) => ({ value: r, label: label(ROLE_LABEL, r) })), error: e.role })}
          ${selectField({ label: '影院（仅影院账号）', name: 'cinema_id', value: str(values, 'cinema_id'), options: [{ value: '', label: '—' }, ...cinemas.map((x) => ({ value: x.cinemaId, label: `${x.cinemaId} ${x.name}` }))], error: e.cinema_id })}
        </div>
        <p class="muted">
          管理员：全部功能；运营：渠道、目录、卡券、报表（不能查看或管理密钥、账号）；影院：只能在绑定的影院兑换卡券。
        </p>
        <div class="actions"><button type="submit">创建账号</button><a href="/admin/users">取消</a></div>
      </form>`,
    });
  };

  app.get('/admin/users', { preHandler: c.view.admin }, (request, reply) => listPage(request, reply));
  app.get('/admin/users/new', { preHandler: c.view.admin }, (request, reply) => newPage(request, reply, {}));

  app.post('/admin/users', { preHandler: c.change.admin }, async (request, reply) => {
    const f = bodyOf(request);
    const input = {
      username: str(f, 'username').trim(),
      password: str(f, 'password'),
      role: str(f, 'role') as Role,
      cinemaId: str(f, 'role') === 'cinema' ? str(f, 'cinema_id') || null : null,
    };
    // Every field that breaks a rule is named at once.
    const refusals = newUserRefusals(input);
    if (refusals.length) return newPage(request, reply, f, allRefusals(refusals));
    try {
      await deps.users.create(actorOf(request), input);
      return redirectOk(reply, '/admin/users', 'user.created');
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return newPage(request, reply, f, refusalOf(err));
    }
  });

  type Name = { Params: { name: string } };
  for (const [action, ok] of [
    ['disable', 'user.disabled'],
    ['enable', 'user.enabled'],
  ] as const) {
    app.post<Name>(`/admin/users/:name/${action}`, { preHandler: c.change.admin }, async (request, reply) => {
      if (action === 'disable' && !isConfirmed(request)) {
        return sendConfirmation(request, reply, {
          title: `停用账号 ${request.params.name}`,
          nav: 'users',
          consequences: [
            '此账号立即被退出登录，之后不能再登录，直到重新启用。',
            '它过去的操作记录（兑换、审计日志）保留不变。',
          ],
          confirmLabel: '确认停用',
          back: '/admin/users',
        });
      }
      try {
        await deps.users[action](actorOf(request), request.params.name);
        return redirectOk(reply, '/admin/users', ok);
      } catch (err) {
        if (!isRefusal(err)) throw err;
        return listPage(request, reply, refusalOf(err));
      }
    });
  }

  const passwordPage = (request: FastifyRequest<Name>, reply: FastifyReply, refused?: Refused) =>
    sendPage(request, reply, {
      title: `重置密码 · ${request.params.name}`,
      nav: 'users',
      status: refused?.status,
      error: refused?.error,
      body: html`<form
        method="post"
        action="${userPath(request.params.name)}/password"
        class="panel"
        autocomplete="off"
      >
        ${csrfField(request)}
        <div class="form-grid">
          ${field({ label: '新密码', name: 'password', type: 'password', value: '', required: true, autocomplete: 'new-password', hint: `至少 ${MIN_PASSWORD_LENGTH} 个字符；该账号的登录会话会全部结束`, error: refused?.fields.password })}
        </div>
        <div class="actions"><button type="submit">重置密码</button><a href="/admin/users">取消</a></div>
      </form>`,
    });

  app.get<Name>('/admin/users/:name/password', { preHandler: c.view.admin }, async (request, reply) => {
    // Only a known account gets the form.
    const users = await deps.users.list(actorOf(request));
    if (!users.some((u) => u.username === request.params.name)) {
      return listPage(request, reply, { status: 404, error: `未找到用户 ${request.params.name}` });
    }
    return passwordPage(request, reply);
  });

  app.post<Name>('/admin/users/:name/password', { preHandler: c.change.admin }, async (request, reply) => {
    try {
      await deps.users.resetPassword(actorOf(request), request.params.name, str(bodyOf(request), 'password'));
      return redirectOk(reply, '/admin/users', 'user.password');
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return passwordPage(request, reply, refusalOf(err));
    }
  });

  // Everyone changes their own password: the current one, the new one twice.
  const ownPage = (request: FastifyRequest, reply: FastifyReply, refused?: Refused) =>
    sendPage(request, reply, {
      title: '修改密码',
      status: refused?.status,
      error: refused?.error,
      body: html`<form
        method="post"
        action="/admin/account/password"
        class="panel"
        autocomplete="off"
        novalidate
      >
        ${csrfField(request)}
        <div class="form-grid">
          ${field({ label: '当前密码', name: 'current_password', type: 'password', value: '', required: true, autocomplete: 'current-password', error: refused?.fields.current_password })}
          ${field({ label: '新密码', name: 'password', type: 'password', value: '', required: true, autocomplete: 'new-password', hint: `至少 ${MIN_PASSWORD_LENGTH} 个字符`, error: refused?.fields.password })}
          ${field({ label: '再次输入新密码', name: 'password_again', type: 'password', value: '', required: true, autocomplete: 'new-password', error: refused?.fields.password_again })}
        </div>
        <p class="muted">修改后，这个账号的所有登录会话都会结束，请用新密码重新登录。</p>
        <div class="actions"><button type="submit">修改密码</button><a href="/admin">取消</a></div>
      </form>`,
    });

  app.get('/admin/account/password', { preHandler: c.view.anyone }, (request, reply) =>
    ownPage(request, reply),
  );

  app.post('/admin/account/password', { preHandler: c.change.anyone }, async (request, reply) => {
    const body = bodyOf(request);
    const [current, next, again] = [
      str(body, 'current_password'),
      str(body, 'password'),
      str(body, 'password_again'),
    ];
    // Every field that is wrong is named at once.
    const fields: Record<string, string> = {};
    if (!current) fields.current_password = '当前密码为必填项';
    if ([...next].length < MIN_PASSWORD_LENGTH) fields.password = `密码至少 ${MIN_PASSWORD_LENGTH} 个字符`;
    if (next !== again) fields.password_again = '两次输入的新密码不一致';
    if (Object.keys(fields).length) {
      return ownPage(request, reply, { status: 400, error: '请修改标出的内容后重新提交。', fields });
    }
    try {
      await deps.users.changeOwnPassword(actorOf(request), userOf(request).username, current, next);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return ownPage(request, reply, refusalOf(err));
    }
    return reply.redirect('/admin/login?changed=1', 303);
  });
}
