import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { Clock } from '../../domain/clock.js';
import { SandboxService } from '../../domain/sandbox.service.js';
import { AppError, contractError, StorageUnavailable } from '../../errors.js';
import type { Services } from '../../composition.js';
import { errorResponse, type Format } from '../envelope.js';
import type { Metrics } from '../metrics.js';
import { bodyTooLarge, parseForm, readMultipart } from './body.js';
import { INTERFACES, SANDBOX_INTERFACES } from './interfaces.js';
import { PartnerApi } from './partner-api.js';

export interface PartnerPluginOptions extends Services {
  config: Config;
  db: Db;
  clock: Clock;
  metrics: Metrics;
  log: FastifyBaseLogger;
}

/** Bodies of the partner API, and the app's default. */
export const BODY_LIMIT = 16 * 1024;

/**
 * The signed partner API at `/movTicket/:method`, on the root instance itself (not a child
 * scope): its form and multipart parsers, its error and 404 handlers in the contract's envelope
 * are the app's defaults, which the admin area replaces in its own scope.
 */
export async function registerPartnerApi(
  fastify: FastifyInstance,
  opts: PartnerPluginOptions,
): Promise<void> {
  const { config, db, clock, registry, requestLog, cards, outbox, notify, metrics, log } = opts;
  const partnerApi = new PartnerApi({
    db,
    clock,
    registry,
    requestLog,
    cards,
    sandbox: config.sandbox
      ? new SandboxService(clock, config.timeZone, (partnerId) => notify.sendTest(partnerId))
      : undefined,
    timeZone: config.timeZone,
    timestampWindowSec: config.timestampWindowSec,
    requestTimeoutMs: config.requestTimeoutMs,
    onMutation: (method) => {
      if (method === 'payByCard' || method === 'resendSms') setImmediate(() => outbox.nudge());
      if (method === 'ban' || method.startsWith('sandbox')) setImmediate(() => notify.nudge());
    },
    onInternalError: (err, req) => log.error({ err, method: req.method }, 'partner request failed'),
  });

  const known = (name: string) => INTERFACES.has(name) || (config.sandbox && SANDBOX_INTERFACES.has(name));

  // Fastify's own JSON and text parsers would let such bodies through; the contract takes forms only.
  fastify.removeAllContentTypeParsers();
  await fastify.register(formbody, { bodyLimit: BODY_LIMIT, parser: parseForm });
  await fastify.register(multipart, {
    limits: {
      fieldSize: BODY_LIMIT,
      fields: 100,
      fileSize: BODY_LIMIT,
      files: 10,
      parts: 110,
      headerPairs: 20,
    },
  });
  // Parsed here rather than by the plugin so that repeated fields become arrays, files are ignored,
  // the body limit holds, and a malformed body is a 400 (only for a POST to a real interface).
  // Callback-style hooks: an async hook costs every request a promise even when it does nothing.
  fastify.addHook('preValidation', (request, _reply, done) => {
    if (!request.isMultipart() || precedingError(request, known)) return done();
    readMultipart(request, BODY_LIMIT).then(
      (body) => {
        request.body = body;
        done();
      },
      (err: Error) => done(err),
    );
  });
  // Any other body is accepted as unparsed so the contract's validation order decides the answer.
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_req, _body, done) =>
    done(null, UNSUPPORTED_BODY),
  );

  fastify.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    let apiError: AppError;
    const status = err instanceof AppError ? err.partnerStatus : (err.statusCode ?? 500);
    // A body that fails to parse must not hide the contract's earlier answers (404, then 405).
    const preceding = status >= 400 && status < 500 ? precedingError(request, known) : undefined;
    if (preceding) apiError = preceding;
    // Includes StorageUnavailable (e.g. a query while PostgreSQL restarts): the contract's 503.
    else if (err instanceof AppError) {
      if (err instanceof StorageUnavailable) request.log.warn({ err }, 'storage unavailable');
      apiError = err;
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') apiError = bodyTooLarge();
    else if (status >= 400 && status < 500) {
      apiError = contractError('invalid_param', `malformed request: ${err.code ?? 'bad request'}`);
    } else {
      request.log.error({ err }, 'unhandled error');
      apiError = contractError('internal', 'internal error');
    }
    const { status: code, contentType, body, headers } = errorResponse(apiError, requestFormat(request));
    void reply.code(code).headers(headers).type(contentType).send(body);
  });

  fastify.setNotFoundHandler((request, reply) => {
    const { contentType, body } = errorResponse(
      contractError('no_such_method', 'no such interface'),
      requestFormat(request),
    );
    void reply.code(404).type(contentType).send(body);
  });

  fastify.route({
    method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'],
    url: PARTNER_ROUTE,
    handler: async (request, reply) => {
      const body = request.body;
      const params =
        body === UNSUPPORTED_BODY
          ? null
          : body === undefined || body === null
            ? {}
            : (body as Record<string, unknown>);
      const started = performance.now();
      const method = (request.params as { method: string }).method;
      const res = await partnerApi.handle({
        method,
        httpMethod: request.method,
        params,
        queryFormat: (request.query as Record<string, unknown>).format,
        accept: request.headers.accept,
        ip: request.ip,
      });
      const ms = performance.now() - started;
      metrics.observe(method, res.status, ms / 1000);
      const line = {
        partner_id: res.partnerId,
        sec_id: res.secId,
        req_id: res.reqId,
        interface: method,
        code: res.status,
        type: res.errorType,
        ms: Math.round(ms * 10) / 10,
      };
      if (res.status >= 500) request.log.warn(line, 'partner request not served');
      else if (res.status !== 200 || (INTERFACES.get(method) ?? SANDBOX_INTERFACES.get(method))?.mutates)
        request.log.info(line, 'partner request');
      else request.log.debug(line, 'partner request');
      return reply.code(res.status).headers(res.headers).type(res.contentType).send(res.body);
    },
  });
}

const UNSUPPORTED_BODY = Symbol('unsupported body');
const PARTNER_ROUTE = '/movTicket/:method';

/** The answer the contract gives before looking at the body: unknown interface, then not a POST. */
function precedingError(request: FastifyRequest, known: (name: string) => boolean): AppError | undefined {
  const route = request.routeOptions.url;
  if (route === undefined) return contractError('no_such_method', 'no such interface');
  if (route !== PARTNER_ROUTE) return undefined;
  const name = (request.params as { method?: string }).method ?? '';
  if (!known(name)) return contractError('no_such_method', `no such interface: ${name.slice(0, 64)}`);
  if (request.method !== 'POST') {
    return contractError('method_not_allowed', `${name} accepts POST only`, { allow: 'POST' });
  }
  return undefined;
}

/** `format` from the body or the query, else `Accept`; an invalid `format` answers in XML. */
function requestFormat(request: FastifyRequest): Format {
  const body = request.body as Record<string, unknown> | symbol | undefined | null;
  const fromBody = body && typeof body === 'object' ? body.format : undefined;
  const raw = fromBody ?? (request.query as Record<string, unknown> | undefined)?.format;
  if (raw === 'json' || raw === 'xml') return raw;
  if (raw !== undefined) return 'xml';
  return request.headers.accept?.includes('application/json') ? 'json' : 'xml';
}
