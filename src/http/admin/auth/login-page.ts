import type { FastifyReply, FastifyRequest } from 'fastify';
import { isToken, newToken } from '../../../domain/admin/session.service.js';
import { formatYmdHis } from '../../../domain/time.js';
import { escapeText } from '../errors.js';
import { LOGIN_COOKIE, readCookie, setLoginCookie } from './cookies.js';
import type { KeptFields } from './resume.js';

export interface LoginView {
  csrf: string;
  next?: string;
  username?: string;
  error?: string;
  /** An informational message (password changed, session expired). */
  notice?: string;
  /** A form's fields to carry through the sign-in (never secrets; see resume.ts). */
  keep?: KeptFields;
}

function loginPage(v: LoginView): string {
  const error = v.error ? `<p class="error" role="alert">${escapeText(v.error)}</p>` : '';
  const next = v.next ? `<input type="hidden" name="next" value="${escapeText(v.next)}">` : '';
  const notice = v.notice ? `<p class="notice" role="status">${escapeText(v.notice)}</p>` : '';
  const keep = Object.entries(v.keep ?? {})
    .flatMap(([name, values]) =>
      values.map((x) => `<input type="hidden" name="keep.${escapeText(name)}" value="${escapeText(x)}">`),
    )
    .join('');
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 - 电影票管理平台</title>
<style>
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f4f5f7;color:#222;margin:0}
main{max-width:22rem;margin:6rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.1)}
h1{font-size:1.3rem;margin:0 0 1.5rem}label{display:block;margin:0 0 1rem}
input[type=text],input[type=password]{display:block;width:100%;box-sizing:border-box;margin-top:.3rem;padding:.5rem;font-size:1rem;border:1px solid #bbb;border-radius:4px}
button{width:100%;padding:.6rem;font-size:1rem;background:#1a56db;color:#fff;border:0;border-radius:4px;cursor:pointer}
.error{color:#b91c1c;background:#fef2f2;padding:.5rem;border-radius:4px}
.notice{color:#1d4f91;background:#eef4fd;padding:.5rem;border-radius:4px}
</style></head>
<body><main>
<h1>电影票管理平台</h1>
${notice}${error}
<form method="post" action="/admin/login">
<input type="hidden" name="_csrf" value="${escapeText(v.csrf)}">${next}${keep}
<label>用户名<input type="text" name="username" value="${escapeText(v.username ?? '')}" autocomplete="username" required maxlength="64" autofocus></label>
<label>密码<input type="password" name="password" autocomplete="current-password" required maxlength="256"></label>
<button type="submit">登录</button>
</form>
</main></body></html>`;
}

export function sendLoginPage(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  view: Omit<LoginView, 'csrf'>,
): FastifyReply {
  const existing = readCookie(request, LOGIN_COOKIE);
  const csrf = isToken(existing) ? existing : newToken();
  setLoginCookie(reply, csrf);
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(loginPage({ ...view, csrf }));
}

/** 「登录失败次数过多，请于 14:35 后再试（约 12 分钟）。」 in the platform's time zone. */
export function throttledMessage(now: number, retryAfterSec: number, timeZone: string): string {
  // Rounded up to the minute shown, so that trying at that minute works.
  const at = Math.ceil((now + retryAfterSec * 1000) / 60_000) * 60_000;
  const hhmm = formatYmdHis(at, timeZone).slice(8, 12);
  const minutes = Math.max(1, Math.ceil(retryAfterSec / 60));
  return `登录失败次数过多，请于 ${hhmm.slice(0, 2)}:${hhmm.slice(2)} 后再试（约 ${minutes} 分钟）。`;
}
