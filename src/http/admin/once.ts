import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import {
  bodyHash,
  type ClaimResult,
  type IdempotencyService,
  isSubmissionToken,
  type StoredResponse,
  type Ticket,
} from '../../domain/admin/idempotency.service.js';
import { html } from './console/html.js';
import { sendPage } from './console/layout.js';
import { httpRefusal } from '../../errors.js';

/*
 * A change submitted twice happens once (see idempotency.service.ts for what is stored).
 *
 * - Console forms carry a hidden `_once` token, fresh in every form rendered (`csrfField` adds
 *   it). `onceForm` refuses a POST without one, claims it before the handler runs, and answers a
 *   repeat with the first response (the same redirect, or the same page). A twin that arrives
 *   while the first is still running in this process waits for its result; one running in
 *   another process gives 「此操作正在处理，请稍候刷新」.
 * - The JSON API takes an optional `Idempotency-Key` header on POST/PUT/PATCH/DELETE
 *   (`onceHeader`): same key and same request → the stored response with
 *   `Idempotent-Replayed: true`; another method, path or body → 409 idempotency_key_reused; the
 *   first still running → 409 idempotency_key_in_progress (no waiting) with Retry-After: 1.
 * - `installOnce` adds the hook that stores each claimed request's response as it is sent.
 */

export const ONCE_FIELD = '_once';
export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';

/** A console twin waits this long for the first submission running in this process. */
const FORM_WAIT_MS = 15_000;
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Response headers a replay repeats (the page's CSP carries the nonce of its inline script). */
const KEPT_HEADERS = [
  'content-type',
  'location',
  'content-security-policy',
  'content-disposition',
  'retry-after',
];
const API_KEY = /^[\x21-\x7e]{16,255}$/;

const claims = new WeakMap<FastifyRequest, Ticket>();

/** Stores the response of every request that claimed a token, as it is sent. */
export function installOnce(scope: FastifyInstance, service: IdempotencyService): void {
  scope.addHook('onSend', async (request, reply, payload) => {
    const ticket = claims.get(request);
    if (!ticket) return payload;
    claims.delete(request);
    try {
      await service.complete(ticket, responseOf(reply, payload));
    } catch (err) {
      // The change ran; its key stays claimed (in progress) until it expires, never re-run.
      request.log.error({ err }, 'could not store the result of a one-time submission');
    }
    return payload;
  });
  // A request that ended without sending (the client went away first) releases its waiters.
  scope.addHook('onResponse', async (request) => {
    const ticket = claims.get(request);
    if (!ticket) return;
    claims.delete(request);
    service.release(ticket);
  });
}

function responseOf(reply: FastifyReply, payload: unknown): StoredResponse {
  const headers: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const v = reply.getHeader(name);
    if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  const body =
    payload === undefined || payload === null
      ? ''
      : typeof payload === 'string'
        ? payload
        : Buffer.isBuffer(payload)
          ? payload.toString('utf8')
          : null;
  return { status: reply.statusCode, headers, body };
}

function replay(reply: FastifyReply, response: StoredResponse): FastifyReply {
  return reply
    .code(response.status)
    .headers({ ...response.headers, [REPLAYED_HEADER]: 'true' })
    .send(response.body ?? '');
}

const pathOf = (url: string) => url.split('?')[0]!;

function field(body: unknown, name: string): unknown {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, name)) return undefined;
  return (body as Record<string, unknown>)[name];
}

/** A console page saying why the form was not run. */
function formRefusal(request: FastifyRequest, reply: FastifyReply, status: number, error: string) {
  return sendPage(request, reply, {
    title: status === 409 ? '请稍候' : '无法提交',
    status,
    error,
    body: html`<p><a href="/admin">返回首页</a></p>`,
  });
}

/**
 * Guard of a state-changing console form (after the role and CSRF checks): runs the handler
 * only for the first submission of the form's `_once` token.
 */
export function onceForm(service: IdempotencyService): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    if (request.method !== 'POST' || !request.user) return;
    const token = field(request.body, ONCE_FIELD);
    if (!isSubmissionToken(token)) {
      return formRefusal(request, reply, 400, '页面缺少防重复提交标记，请刷新页面后重新提交。');
    }
    const result = await service.claim(
      {
        userId: request.user.userId,
        scope: 'form',
        key: token,
        method: request.method,
        path: pathOf(request.url),
        requestHash: '',
      },
      { waitMs: FORM_WAIT_MS },
    );
    return settle(request, reply, result, {
      mismatch: () => formRefusal(request, reply, 409, '这个表单已提交过另一项操作，请刷新页面后重新提交。'),
      inProgress: (stale) =>
        formRefusal(
          request,
          reply,
          409,
          stale
            ? '此操作的处理已中断，结果未知。请先到相关页面核对，再刷新页面后重新提交。'
            : '此操作正在处理，请稍候刷新。',
        ),
      tooLarge: () =>
        formRefusal(
          request,
          reply,
          409,
          '此表单已提交过，操作没有重复执行；结果页面过大未保存，请到相关页面查看。',
        ),
    });
  };
}

/**
 * Guard of a JSON API route (after authentication, CSRF and validation): with an
 * `Idempotency-Key`, runs the handler only for the first request under that key.
 */
export function onceHeader(service: IdempotencyService): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    const header = request.headers[IDEMPOTENCY_HEADER];
    if (header === undefined || !UNSAFE_METHODS.has(request.method) || !request.user) return;
    if (typeof header !== 'string' || !API_KEY.test(header)) {
      throw httpRefusal(
        'invalid',
        'Idempotency-Key 须为 16–255 个可见 ASCII 字符，建议使用随机 UUID（invalid Idempotency-Key）',
        { field: 'Idempotency-Key' },
      );
    }
    const result = await service.claim({
      userId: request.user.userId,
      scope: 'api',
      key: header,
      method: request.method,
      path: request.url,
      requestHash: bodyHash(request.body),
    });
    return settle(request, reply, result, {
      mismatch: () => {
        throw httpRefusal(
          'idempotency_key_reused',
          '该 Idempotency-Key 已用于另一个请求（方法、路径或请求体不同），新请求请使用新的键（idempotency_key_reused）',
        );
      },
      inProgress: () => {
        throw httpRefusal(
          'idempotency_key_in_progress',
          '使用该 Idempotency-Key 的请求仍在处理中，请稍后重试（idempotency_key_in_progress）',
          { headers: { 'retry-after': '1' } },
        );
      },
      tooLarge: () => {
        throw httpRefusal(
          'idempotency_response_not_stored',
          '使用该 Idempotency-Key 的请求已执行，但其响应过大未保存（idempotency_response_not_stored）',
        );
      },
    });
  };
}

function settle(
  request: FastifyRequest,
  reply: FastifyReply,
  result: ClaimResult,
  refuse: {
    mismatch(): FastifyReply;
    inProgress(stale: boolean): FastifyReply;
    tooLarge(): FastifyReply;
  },
): FastifyReply | undefined {
  switch (result.kind) {
    case 'claimed':
      claims.set(request, result.ticket);
      return undefined;
    case 'replay':
      return result.response.body === null ? refuse.tooLarge() : replay(reply, result.response);
    case 'mismatch':
      return refuse.mismatch();
    case 'in_progress':
      return refuse.inProgress(result.stale);
  }
}
