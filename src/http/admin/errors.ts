import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';
import { sentenceOf } from './console/messages.zh.js';

/**
 * Errors of the management API and console. The JSON API answers `{error: {code, message,
 * field?, details?}}`; pages get a small Chinese HTML page. Messages of 5xx are never shown.
 */

export interface ErrorBody {
  error: { code: string; message: string; field?: string; details?: object };
}

interface Rendered {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

/** Turns anything thrown below the HTTP layer (or by Fastify) into a status and a safe body. */
export function describeError(err: unknown): Rendered {
  const out = (
    status: number,
    code: string,
    message: string,
    extra: { field?: string; headers?: Record<string, string>; details?: object } = {},
  ): Rendered => {
    const error: ErrorBody['error'] = { code, message };
    if (extra.field !== undefined) error.field = extra.field;
    if (extra.details !== undefined && Object.keys(extra.details).length) error.details = extra.details;
    return { status, body: { error }, headers: extra.headers ?? {} };
  };
  if (err instanceof AppError) {
    // Faults of the server say nothing about themselves; a database out of reach is a 503.
    if (err.status >= 500 && err.status !== 503) return out(500, 'internal', 'internal error');
    const headers = { ...err.headers };
    if (err.details.retryAfterSec && !headers['retry-after']) {
      headers['retry-after'] = String(err.details.retryAfterSec);
    }
    return out(err.status, err.code, err.message, { field: err.field, headers, details: err.details });
  }
  const e = err as Partial<FastifyError> & { validationContext?: string };
  if (e && typeof e === 'object' && Array.isArray(e.validation)) {
    const first = e.validation[0];
    const missing = (first?.params as { missingProperty?: unknown } | undefined)?.missingProperty;
    const path = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    const field = typeof missing === 'string' ? (path ? `${path}.${missing}` : missing) : path || undefined;
    return out(400, 'invalid', e.message ?? 'invalid request', { field });
  }
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return out(413, 'too_large', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return out(415, 'unsupported_media_type', 'unsupported content type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return out(400, 'invalid', 'malformed JSON body');
  }
  if (err instanceof SyntaxError) return out(400, 'invalid', 'malformed JSON body');
  const status = e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return out(
      status,
      status === 404 ? 'not_found' : 'invalid',
      e.code?.startsWith('FST_') ? e.message! : 'bad request',
    );
  }
  return out(500, 'internal', 'internal error');
}

/** True for the JSON API's URLs; everything else under /admin is a page. */
export function isApiUrl(url: string): boolean {
  return url === '/admin/api' || url.startsWith('/admin/api/') || url.startsWith('/admin/api?');
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export const escapeText = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const TITLES: Record<number, string> = {
  400: '请求有误',
  401: '请先登录',
  403: '无权访问',
  404: '页面不存在',
  405: '请求方法不允许',
  409: '操作冲突',
  413: '上传内容过大',
  415: '不支持的内容类型',
  429: '操作过于频繁',
  500: '服务器内部错误',
};

/**
 * A self-contained error page in the console's colours, with a way on: the home page (which
 * takes cinema staff to redemption), the counter screen, and the sign-in page.
 */
export function errorPage(status: number, message?: string): string {
  const title = TITLES[status] ?? (status >= 500 ? TITLES[500]! : TITLES[400]!);
  const detail = message ? `<p class="msg" role="alert">${escapeText(message)}</p>` : '';
  const hint =
    status === 403
      ? '<p>你的账号没有使用这个页面的权限。如确实需要，请联系管理员调整账号角色。</p>'
      : status === 404
        ? '<p>请检查地址是否正确，或从下面的链接继续。</p>'
        : '';
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeText(title)} - 电影票管理平台</title>
<style>
body{margin:0;font:14px/1.6 -apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",system-ui,sans-serif;color:#1f2933;background:#f4f6f8}
header{background:#1f2d3d;color:#fff;padding:0 24px;min-height:52px;display:flex;align-items:center;font-weight:600;font-size:16px}
main{max-width:40rem;margin:2rem auto;padding:0 1rem}
.panel{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:20px 22px}
h1{font-size:20px;margin:0 0 12px}
.msg{background:#fdecec;border:1px solid #f1a9a9;color:#9b1c1c;padding:10px 14px;border-radius:6px}
nav{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}
nav a{display:inline-block;border:1px solid #1d5fbf;border-radius:4px;padding:6px 14px;color:#1d5fbf;text-decoration:none}
nav a.primary{background:#1d5fbf;color:#fff}
</style>
</head><body><header>电影票兑换券 · 管理平台</header><main><div class="panel">
<h1>${escapeText(title)}</h1>${detail}${hint}
<nav aria-label="继续"><a class="primary" href="/admin">返回首页</a><a href="/admin/redeem">影院兑换</a><a href="/admin/login">登录页</a></nav>
</div></main></body></html>`;
}

/** Answers with the error as JSON (API URLs) or as a page. */
export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body, headers } = describeError(err);
  if (status >= 500) request.log.error({ err }, 'admin request failed');
  void reply.code(status).headers(headers);
  if (isApiUrl(request.url)) return reply.type('application/json; charset=utf-8').send(body);
  return reply.type('text/html; charset=utf-8').send(
    errorPage(
      status,
      // The title says it in Chinese; a framework's English detail stays in the JSON body only.
      status >= 500 || !(err instanceof AppError) ? undefined : sentenceOf(err),
    ),
  );
}
