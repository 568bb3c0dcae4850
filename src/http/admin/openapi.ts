import type { FastifyInstance, RouteOptions } from 'fastify';
import type { Role } from '../../db/schema.js';
import type { AdminRouteConfig } from './api/route.js';
import { ErrorSchema } from './api/schemas.js';
import { requireRole } from './auth/guards.js';
import { escapeText } from './errors.js';

/** One operation of the JSON API, as Fastify registered it. */
interface CollectedRoute {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  roles: readonly Role[] | 'public' | undefined;
  idempotent: boolean;
}

/**
 * Collects every route under /admin/api registered in `scope` (and its children) from now on,
 * so the document describes exactly the routes Fastify serves, with their own schemas.
 */
export function collectApiRoutes(scope: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  scope.addHook('onRoute', (opts: RouteOptions) => {
    if (!(opts.url === '/admin/api' || opts.url.startsWith('/admin/api/'))) return;
    for (const method of [opts.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({
        method,
        url: opts.url,
        schema: (opts.schema ?? {}) as Record<string, unknown>,
        roles: (opts.config as AdminRouteConfig | undefined)?.roles,
        idempotent: (opts.config as AdminRouteConfig | undefined)?.idempotent === true,
      });
    }
  });
  return routes;
}

/** A plain JSON copy: drops TypeBox's symbol keys and undefined values. */
const plain = (schema: unknown): Record<string, unknown> =>
  JSON.parse(JSON.stringify(schema ?? {})) as Record<string, unknown>;

interface ObjectSchema {
  properties?: Record<string, { description?: string }>;
  required?: string[];
}

function parameters(schema: unknown, where: 'path' | 'query') {
  const s = plain(schema) as ObjectSchema;
  return Object.entries(s.properties ?? {}).map(([name, p]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    ...(p.description ? { description: p.description } : {}),
    schema: p,
  }));
}

/** The optional header of every change (see once.ts). */
const IDEMPOTENCY_KEY_PARAMETER = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retry safe: the first request with a key runs and its response (status and body) is kept ' +
    '24 hours for the signed-in user; the same key with the same method, path and body gets that ' +
    'response again, marked `Idempotent-Replayed: true`, without running again. The same key with ' +
    'another method, path or body: 409 `idempotency_key_reused`. While the first request is still ' +
    'running: 409 `idempotency_key_in_progress` with `Retry-After: 1` (no waiting). 16–255 visible ' +
    'ASCII characters; use a random UUID (the key also seals the stored response). Without the header ' +
    'nothing changes.',
  schema: { type: 'string', minLength: 16, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
};

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No content',
  400: 'Invalid request',
  401: 'Not signed in',
  403: 'Forbidden (role, CSRF token or origin)',
  404: 'Not found',
  409: 'Conflict',
  413: 'Body too large',
  415: 'Unsupported content type',
  422: 'Wrong card password',
  423: 'Card locked',
  429: 'Too many attempts',
};

/** The OpenAPI 3.1 document of the routes collected so far. */
export function buildOpenApi(routes: readonly CollectedRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of [...routes].sort((a, b) => a.url.localeCompare(b.url))) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const s = r.schema;
    const produces = (s.produces as string[] | undefined)?.[0] ?? 'application/json';
    const consumes = (s.consumes as string[] | undefined) ?? ['application/json'];
    const responses: Record<string, unknown> = {};
    const declared = { ...((s.response ?? {}) as Record<string, unknown>) };
    if (r.idempotent) declared[409] ??= ErrorSchema;
    for (const [status, schema] of Object.entries(declared)) {
      const code = Number(status);
      const type = code < 300 ? produces : 'application/json';
      responses[status] =
        code === 204
          ? { description: STATUS_TEXT[204] }
          : {
              description: STATUS_TEXT[code] ?? 'Response',
              content: {
                [type]: { schema: type === 'application/json' ? plain(schema) : { type: 'string' } },
              },
            };
    }
    const roles = r.roles;
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c?: string) => (c ? c.toUpperCase() : ''))}`,
      summary: s.summary,
      ...(s.description ? { description: s.description } : {}),
      tags: s.tags,
      'x-roles': roles ?? null,
      parameters: [
        ...parameters(s.params, 'path'),
        ...parameters(s.querystring, 'query'),
        ...(r.idempotent ? [IDEMPOTENCY_KEY_PARAMETER] : []),
      ],
      responses,
      security: roles === 'public' ? [] : [{ session: [], ...(r.method === 'GET' ? {} : { csrf: [] }) }],
    };
    if (s.body) {
      const body = plain(s.body);
      op.requestBody = {
        required: true,
        content: Object.fromEntries(
          consumes.map((type) => [type, { schema: type === 'application/json' ? body : { type: 'string' } }]),
        ),
      };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'movticket management API',
      version: '1',
      description:
        'JSON API of the management platform. Sign in with POST /admin/api/session; send the returned ' +
        'csrfToken as `x-csrf-token` on POST/PUT/PATCH/DELETE. Errors are `{error: {code, message, field?}}`. ' +
        'Changes take an optional `Idempotency-Key` header so that a retried request runs once. ' +
        'Times are epoch milliseconds; amounts are integer fen unless a field says yuan.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'mt_session' },
        csrf: { type: 'apiKey', in: 'header', name: 'x-csrf-token' },
      },
    },
    paths,
  };
}

const METHOD_COLOR: Record<string, string> = {
  get: '#1a7f37',
  post: '#1a56db',
  put: '#9a6700',
  patch: '#9a6700',
  delete: '#b91c1c',
};

/** A page listing the operations of the document; no scripts or outside assets. */
function docsPage(doc: Record<string, unknown>): string {
  const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
  const byTag = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = ((op.tags as string[] | undefined) ?? ['other'])[0]!;
      const roles = op['x-roles'];
      const who = roles === 'public' ? '无需登录' : Array.isArray(roles) ? roles.join(', ') : '';
      const params = (op.parameters as { name: string; in: string; required: boolean }[])
        .map((p) => `${p.name}${p.required ? '' : '?'}`)
        .join(', ');
      const body = op.requestBody
        ? Object.keys((op.requestBody as { content: object }).content).join(' | ')
        : '';
      const statuses = Object.keys(op.responses as object).join(' ');
      byTag.set(tag, [
        ...(byTag.get(tag) ?? []),
        `<tr><td><b style="color:${METHOD_COLOR[method] ?? '#222'}">${method.toUpperCase()}</b></td>` +
          `<td><code>${escapeText(path)}</code></td><td>${escapeText(String(op.summary ?? ''))}</td>` +
          `<td>${escapeText(who)}</td><td>${escapeText(params)}</td><td>${escapeText(body)}</td>` +
          `<td>${escapeText(statuses)}</td></tr>`,
      ]);
    }
  }
  const sections = [...byTag]
    .map(
      ([tag, rows]) =>
        `<h2>${escapeText(tag)}</h2><table><thead><tr><th>方法</th><th>路径</th><th>说明</th><th>角色</th>` +
        `<th>参数</th><th>请求体</th><th>状态码</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
    )
    .join('\n');
  const info = doc.info as { title: string; description: string };
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>管理接口文档 - 电影票管理平台</title>
<style>body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;font-size:.9rem;vertical-align:top}
th{background:#f4f5f7}code{font-size:.9rem}h2{font-size:1.1rem;margin-top:2rem}</style></head>
<body><h1>${escapeText(info.title)}</h1><p>${escapeText(info.description)}</p>
<p>OpenAPI 3.1 文档：<a href="/admin/docs/openapi.json">/admin/docs/openapi.json</a></p>
${sections}
</body></html>`;
}

/** GET /admin/docs (HTML) and /admin/docs/openapi.json, for any signed-in user. */
export function registerDocs(scope: FastifyInstance, routes: readonly CollectedRoute[]): void {
  let cached: Record<string, unknown> | undefined;
  const doc = () => (cached ??= buildOpenApi(routes));
  const signedIn = requireRole();
  scope.get('/admin/docs/openapi.json', { preValidation: signedIn }, async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send(JSON.stringify(doc(), null, 2)),
  );
  scope.get('/admin/docs', { preValidation: signedIn }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(docsPage(doc())),
  );
}
