import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { newSubmissionToken } from '../../../domain/admin/idempotency.service.js';
import { href, html, type Html, type Interpolation, raw } from './html.js';
import { ROLE_LABEL } from './format.js';
import { fillForms, queryOf, str } from './forms.js';
import { resumedFields } from '../auth/resume.js';
import { describeData } from './labels.zh.js';

/** The shared page frame (header, navigation by role, flash and error banners) and form parts. */

type Role = 'admin' | 'operator' | 'cinema';

export type NavKey =
  | 'dashboard'
  | 'partners'
  | 'catalog'
  | 'cards'
  | 'sms'
  | 'statements'
  | 'audit'
  | 'tester'
  | 'users'
  | 'settings'
  | 'redeem'
  | 'history'
  | 'settlement';

const STAFF: readonly Role[] = ['admin', 'operator'];

const NAV: { key: NavKey; path: string; label: string; roles: readonly Role[] }[] = [
  { key: 'dashboard', path: '/admin', label: '概览', roles: STAFF },
  { key: 'partners', path: '/admin/partners', label: '渠道', roles: STAFF },
  { key: 'catalog', path: '/admin/catalog', label: '影院目录', roles: STAFF },
  { key: 'cards', path: '/admin/cards', label: '卡券', roles: STAFF },
  { key: 'sms', path: '/admin/sms', label: '短信', roles: STAFF },
  { key: 'statements', path: '/admin/statements', label: '对账单', roles: STAFF },
  { key: 'audit', path: '/admin/audit', label: '审计日志', roles: STAFF },
  { key: 'tester', path: '/admin/tester', label: '接口调试', roles: STAFF },
  { key: 'users', path: '/admin/users', label: '账号', roles: ['admin'] },
  { key: 'settings', path: '/admin/settings', label: '设置', roles: ['admin'] },
  { key: 'redeem', path: '/admin/redeem', label: '兑换', roles: ['cinema'] },
  { key: 'history', path: '/admin/redeem/history', label: '兑换记录', roles: ['cinema'] },
  { key: 'settlement', path: '/admin/settlement', label: '结算', roles: ['cinema'] },
];

/** Messages shown after a POST-redirect-GET (`?ok=KEY`); only these fixed texts can appear. */
const FLASH: Record<string, string> = {
  'partner.created': '渠道已创建。下一步：为它创建密钥。',
  'partner.saved': '渠道设置已保存。',
  'callback.tested': '测试通知已送达：回调 URL 在 5 秒内返回了 2xx。',
  'partner.suspended': '渠道已暂停，它的请求将被拒绝。',
  'partner.resumed': '渠道已恢复。',
  'partner.permissions': '接口权限已更新。',
  'key.revoked': '密钥已吊销。',
  'price.set': '渠道价格已设置。',
  'price.cleared': '渠道价格已清除，恢复默认价格。',
  'city.saved': '城市已保存。',
  'region.saved': '区域已保存。',
  'cinema.saved': '影院已保存。',
  'cinema.activated': '影院已启用。',
  'cinema.deactivated': '影院已停用。',
  'kind.saved': '券种已保存。',
  'kind.activated': '券种已启用。',
  'kind.deactivated': '券种已停用。',
  'kind.cinemas': '券种的适用影院已更新。',
  'card.banned': '卡已作废。',
  'card.resent': '短信已重新排队发送。',
  'card.frozen': '此卡剩余的票已冻结，解冻前不能兑换。',
  'card.unfrozen': '此卡已解冻，剩余的票可以照常兑换。',
  'card.unlocked': '密码锁定已解除，错误次数已清零。',
  'card.resent_new_mobile': '短信已排队发送到新手机号，此后此卡的短信都发到该号码。',
  'settings.saved': '设置已保存，立即生效。',
  'user.created': '账号已创建。',
  'user.disabled': '账号已停用，其登录会话已结束。',
  'user.enabled': '账号已启用。',
  'user.password': '密码已重置，该账号需重新登录。',
  redeemed: '兑换成功。',
  undone: '兑换已撤销。',
};

export interface PageOptions {
  title: string;
  nav?: NavKey;
  body: Html;
  status?: number;
  /** A refusal to show above the content (forms show their own errors inline too). */
  error?: string | null;
  /** An informational message (besides the `?ok=` flash). */
  notice?: string | null;
}

export const CONSOLE_CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.6 -apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC",system-ui,sans-serif;color:#1f2933;background:#f4f6f8}
a{color:#1d5fbf;text-decoration:none}a:hover{text-decoration:underline}
header{background:#1f2d3d;color:#fff;display:flex;align-items:center;gap:24px;padding:0 24px;min-height:52px;flex-wrap:wrap}
header .brand{font-weight:600;font-size:16px;white-space:nowrap}
header nav{display:flex;gap:4px;flex-wrap:wrap;flex:1}
header nav a{color:#cfd8e3;padding:6px 10px;border-radius:4px}
header nav a.on,header nav a:hover{background:#34495e;color:#fff;text-decoration:none}
header .who{display:flex;align-items:center;gap:10px;white-space:nowrap;color:#cfd8e3}
header .who a{color:#cfd8e3}
header .who button{background:transparent;color:#cfd8e3;border:1px solid #58708a;padding:3px 10px}
main{max-width:1240px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:20px;margin:4px 0 16px}h2{font-size:16px;margin:24px 0 10px}h3{font-size:14px;margin:16px 0 8px}
.panel{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:16px 18px;margin-bottom:16px}
.flash,.error,.notice,.warn{padding:10px 14px;border-radius:6px;margin-bottom:16px;border:1px solid}
.flash{background:#e8f6ee;border-color:#9fd6b4;color:#17603a}
.error{background:#fdecec;border-color:#f1a9a9;color:#9b1c1c}
.notice{background:#eef4fd;border-color:#a9c5ef;color:#1d4f91}
.warn{background:#fff7e0;border-color:#f0d27a;color:#7a5a00}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e6ebf0;vertical-align:top}
th{background:#f7f9fb;font-weight:600;color:#52606d;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#fafcff}
.table-wrap{overflow-x:auto;border:1px solid #dde3ea;border-radius:6px;margin-bottom:16px}
.table-wrap table{border:0}
form.inline{display:inline}
.form-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px 16px;align-items:end}
.field{display:flex;flex-direction:column;gap:4px}
.field>span{color:#52606d;font-size:13px}
.field .hint{color:#5f6b7a;font-size:12px}
.field .err{color:#b42318;font-size:12px}
.field.bad input,.field.bad select,.field.bad textarea{border-color:#e5484d;background:#fff8f8}
input,select,textarea,button{font:inherit}
input[type=text],input[type=password],input[type=number],input[type=date],input[type=search],select,textarea{border:1px solid #c5ced8;border-radius:4px;padding:6px 8px;background:#fff;width:100%}
textarea{min-height:160px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
button,.button{display:inline-block;border:1px solid #1d5fbf;background:#1d5fbf;color:#fff;border-radius:4px;padding:6px 14px;cursor:pointer;line-height:1.4}
button.secondary,.button.secondary{background:#fff;color:#1d5fbf}
button.danger{background:#c62828;border-color:#c62828}
button.small{padding:2px 8px;font-size:12px}
.actions{display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin-top:12px}
.checks{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:6px 16px}
.checks label{display:flex;gap:6px;align-items:baseline}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;background:#e6ebf0;color:#3e4c59;white-space:nowrap}
.badge.green{background:#e3f5ea;color:#17603a}.badge.red{background:#fdecec;color:#9b1c1c}
.badge.yellow{background:#fff4d6;color:#7a5a00}.badge.blue{background:#e7effc;color:#1d4f91}
.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px;margin-bottom:16px}
.stat{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:12px 14px}
.stat .k{color:#52606d;font-size:13px}.stat .v{font-size:22px;font-weight:600}.stat .s{color:#5f6b7a;font-size:12px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:6px 18px;margin:0}
dl.kv dt{color:#52606d}dl.kv dd{margin:0;word-break:break-all}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f7f9fb;border:1px solid #e6ebf0;border-radius:4px;padding:8px 10px;white-space:pre-wrap;word-break:break-all;margin:0;max-height:420px;overflow:auto}
.muted{color:#5f6b7a}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.pager{display:flex;gap:12px;align-items:center;margin:8px 0 16px}
.kv{margin:0;padding:0;list-style:none}
.subnav{display:flex;gap:6px;margin-bottom:16px;flex-wrap:wrap}
.subnav a{padding:4px 12px;border:1px solid #c5ced8;border-radius:16px;background:#fff}
.subnav a.on{background:#1d5fbf;color:#fff;border-color:#1d5fbf}
.secret{font-size:16px;letter-spacing:1px;padding:10px;border:2px dashed #c62828;background:#fff}
.chart{width:100%;height:auto;max-height:320px}
details summary{cursor:pointer;color:#1d5fbf}
`;

// The copy button: a nicety, everything works without it.
const SCRIPT = `document.addEventListener('click',function(e){var b=e.target.closest&&e.target.closest('[data-copy]');if(!b)return;var el=document.getElementById(b.getAttribute('data-copy'));if(!el)return;var done=function(){b.textContent='已复制';};if(navigator.clipboard){navigator.clipboard.writeText(el.value||el.textContent).then(done);}else{el.select();document.execCommand('copy');done();}});`;

interface Viewer {
  username: string;
  role: Role;
}

function viewerOf(request: FastifyRequest): Viewer | null {
  const u = request.user;
  return u ? { username: u.username, role: u.role } : null;
}

/**
 * The hidden fields every state-changing form carries: the session's CSRF token and a fresh
 * one-time submission token (`_once`, see once.ts) so that submitting the form twice acts once.
 */
export function csrfField(request: FastifyRequest): Html {
  return html`<input type="hidden" name="_csrf" value="${request.csrfToken ?? ''}" />
    <input type="hidden" name="_once" value="${newSubmissionToken()}" />`;
}

/** Renders a full page and sends it. */
export function sendPage(request: FastifyRequest, reply: FastifyReply, opts: PageOptions): FastifyReply {
  const kept = resumedFields(request);
  if (kept) {
    // Signed in again after the session expired: the form shows what was typed.
    opts = {
      ...opts,
      body: raw(fillForms(opts.body.value, kept)),
      notice: '会话已过期，已重新登录。下面保留了你刚才填写的内容（密码等敏感内容除外），请检查后重新提交。',
    };
  }
  const viewer = viewerOf(request);
  const nonce = randomBytes(12).toString('base64');
  const flash = FLASH[str(queryOf(request), 'ok')];
  const nav = viewer ? NAV.filter((n) => n.roles.includes(viewer.role)) : [];
  const page = html`<!doctype html>
    <html lang="zh-CN">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${opts.title} · 电影票兑换券管理平台</title>
        <style>
          ${raw(CONSOLE_CSS)}
        </style>
      </head>
      <body>
        <header>
          <div class="brand">电影票兑换券 · 管理平台</div>
          <nav>
            ${nav.map((n) => html`<a href="${n.path}" class="${n.key === opts.nav ? 'on' : ''}">${n.label}</a>`)}
          </nav>
          ${
            viewer
              ? html`<div class="who">
                  <a href="/admin/account/password" title="修改密码"
                    >${viewer.username}（${ROLE_LABEL[viewer.role] ?? viewer.role}）</a
                  >
                  <form method="post" action="/admin/logout" class="inline">
                    ${csrfField(request)}<button type="submit">退出</button>
                  </form>
                </div>`
              : ''
          }
        </header>
        <main>
          <h1>${opts.title}</h1>
          ${flash ? html`<div class="flash" role="status">${flash}</div>` : ''}
          ${opts.notice ? html`<div class="notice" role="status">${opts.notice}</div>` : ''}
          ${opts.error ? html`<div class="error" role="alert">${opts.error}</div>` : ''} ${opts.body}
        </main>
        <script nonce="${nonce}">
          ${raw(SCRIPT)};
        </script>
      </body>
    </html>`;
  return reply
    .code(opts.status ?? 200)
    .header('cache-control', 'no-store')
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'nonce-${nonce}'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    )
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .type('text/html; charset=utf-8')
    .send(page.value);
}

/** Redirects after a successful POST, with a flash key the next page shows. */
export function redirectOk(
  reply: FastifyReply,
  path: string,
  ok: string,
  query: Record<string, string> = {},
) {
  return reply.redirect(href(path, { ...query, ok }), 303);
}

// Form parts.

export interface FieldOptions {
  label: string;
  name: string;
  value?: string;
  type?: 'text' | 'password' | 'number' | 'date' | 'search';
  error?: string | null;
  hint?: Interpolation;
  required?: boolean;
  placeholder?: string;
  maxlength?: number;
  autocomplete?: string;
  autofocus?: boolean;
  pattern?: string;
}

export function field(o: FieldOptions): Html {
  return html`<label class="field ${o.error ? 'bad' : ''}"
    ><span>${o.label}${o.required ? ' *' : ''}</span>
    <input
      type="${o.type ?? 'text'}"
      name="${o.name}"
      value="${o.value ?? ''}"
      ${o.error ? raw(' aria-invalid="true"') : ''}${o.required ? raw(' required') : ''}${
        o.placeholder ? html` placeholder="${o.placeholder}"` : ''
      }${o.maxlength ? html` maxlength="${o.maxlength}"` : ''}${o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ''}${o.autofocus ? html` autofocus` : ''}${
        o.pattern ? html` pattern="${o.pattern}"` : ''
      }
    />
    ${o.hint ? html`<small class="hint">${o.hint}</small>` : ''}${o.error ? html`<small class="err">${o.error}</small>` : ''}</label
  >`;
}

export interface Option {
  value: string;
  label: string;
}

export function selectField(o: {
  label: string;
  name: string;
  options: readonly Option[];
  value?: string;
  error?: string | null;
  hint?: Interpolation;
  required?: boolean;
}): Html {
  return html`<label class="field ${o.error ? 'bad' : ''}"
    ><span>${o.label}${o.required ? ' *' : ''}</span>
    <select
      name="${o.name}"
      ${o.error ? raw(' aria-invalid="true"') : ''}${o.required ? raw(' required') : ''}
    >
      ${o.options.map(
        (op) =>
          html`<option value="${op.value}" ${op.value === (o.value ?? '') ? raw(' selected') : ''}>
            ${op.label}
          </option>`,
      )}
    </select>
    ${o.hint ? html`<small class="hint">${o.hint}</small>` : ''}${o.error ? html`<small class="err">${o.error}</small>` : ''}</label
  >`;
}

export function textareaField(o: {
  label: string;
  name: string;
  value?: string;
  error?: string | null;
  hint?: Interpolation;
  rows?: number;
  id?: string;
}): Html {
  return html`<label class="field ${o.error ? 'bad' : ''}"
    ><span>${o.label}</span>
    <textarea
      name="${o.name}"
      rows="${o.rows ?? 4}"
      ${o.id ? html` id="${o.id}"` : ''}${o.error ? raw(' aria-invalid="true"') : ''}
    >
${o.value ?? ''}</textarea>
    ${o.hint ? html`<small class="hint">${o.hint}</small>` : ''}${o.error ? html`<small class="err">${o.error}</small>` : ''}</label
  >`;
}

/** A form with one button posting to `action` (with the CSRF field and optional hidden values). */
export function postButton(
  request: FastifyRequest,
  action: string,
  label: string,
  opts: { hidden?: Record<string, string>; className?: string } = {},
): Html {
  return html`<form method="post" action="${action}" class="inline">
    ${csrfField(request)}${Object.entries(opts.hidden ?? {}).map(
      ([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`,
    )}<button type="submit" class="${opts.className ?? 'small secondary'}">${label}</button>
  </form>`;
}

export function badge(text: string, color: '' | 'green' | 'red' | 'yellow' | 'blue' = ''): Html {
  return html`<span class="badge ${color}">${text}</span>`;
}

/** A table; `rows` empty shows `empty`. */
export function table(
  headers: readonly (string | { label: string; num?: boolean })[],
  rows: readonly Html[],
  empty = '没有记录',
): Html {
  return html`<div class="table-wrap">
    <table>
      <thead>
        <tr>
          ${headers.map((h) =>
            typeof h === 'string'
              ? html`<th>${h}</th>`
              : html`<th class="${h.num ? 'num' : ''}">${h.label}</th>`,
          )}
        </tr>
      </thead>
      <tbody>
        ${
          rows.length
            ? rows
            : html`<tr>
                <td colspan="${headers.length}" class="muted">${empty}</td>
              </tr>`
        }
      </tbody>
    </table>
  </div>`;
}

/** Previous/next links keeping the other query parameters. */
export function pager(
  path: string,
  query: Record<string, string>,
  page: { offset: number; limit: number; total?: number; hasNext: boolean },
): Html {
  const current = Math.floor(page.offset / page.limit) + 1;
  const link = (p: number) => href(path, { ...query, page: p > 1 ? String(p) : undefined });
  const pages = page.total === undefined ? null : Math.max(1, Math.ceil(page.total / page.limit));
  return html`<div class="pager">
    ${current > 1 ? html`<a href="${link(current - 1)}">‹ 上一页</a>` : ''}
    <span class="muted"
      >第 ${current}${pages === null ? '' : ` / ${pages}`}
      页${page.total === undefined ? '' : `，共 ${page.total} 条`}</span
    >
    ${page.hasNext ? html`<a href="${link(current + 1)}">下一页 ›</a>` : ''}
  </div>`;
}

/**
 * Audit before/after and ledger data for people: "名称：值" lines with Chinese field names, money
 * in yuan and times in the platform time zone (see labels.zh.ts), not raw JSON.
 */
export function jsonBlock(value: unknown, time: (ms: number) => string = String): Html {
  return describeData(value, time);
}
