import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Config } from './config.js';
import type { Db } from './db/database.js';
import { CardService } from './domain/card.service.js';
import type { Clock } from './domain/clock.js';
import { Registry } from './domain/registry.js';
import { RequestLog } from './domain/request-log.js';
import { ApiError } from './errors.js';
import { CONTENT_TYPE, renderEnvelope } from './http/envelope.js';
import { PartnerApi } from './http/partner/partner-api.js';
import { SmsOutbox } from './workers/sms-outbox.js';
import type { SmsSender } from './workers/sms-senders.js';

export interface AppDeps {
  config: Config;
  db: Db;
  clock: Clock;
  sms: SmsSender;
  logger?: FastifyServerOptions['logger'];
}

export interface App {
  fastify: FastifyInstance;
  registry: Registry;
  requestLog: RequestLog;
  cards: CardService;
  outbox: SmsOutbox;
  /** Starts background workers (the server does; tests drive them by hand). */
  startWorkers(): void;
  close(): Promise<void>;
}

const BODY_LIMIT = 16 * 1024;

/** Builds the application from its dependencies; never listens. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, db, clock } = deps;
  const fastify = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: BODY_LIMIT,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    return503OnClosing: false,
  });
  const log = fastify.log;
  const registry = await Registry.load(db);
  const requestLog = new RequestLog(db, clock, (err) => log.error({ err }, 'could not record read requests'));
  const cards = new CardService(registry, clock, {
    timeZone: config.timeZone,
    payDeadlineMin: config.payDeadlineMin,
    cinemaValidDays: config.cinemaValidDays,
    smsTemplate: config.smsTemplate,
  });
  const outbox = new SmsOutbox(db, clock, deps.sms, log, {
    maxAttempts: config.smsMaxAttempts,
    leaseMs: Math.max(60_000, config.smsTimeoutMs * 3),
    batchSize: 20,
    pollMs: 250,
    backoffBaseMs: 2_000,
    backoffMaxMs: 600_000,
  });
  const partnerApi = new PartnerApi({
    db,
    clock,
    registry,
    requestLog,
    cards,
    timeZone: config.timeZone,
    timestampWindowSec: config.timestampWindowSec,
    requestTimeoutMs: config.requestTimeoutMs,
    onMutation: (method) => {
      if (method === 'payByCard' || method === 'resendSms') setImmediate(() => outbox.nudge());
    },
    onInternalError: (err, req) => log.error({ err, method: req.method }, 'partner request failed'),
  });

  let closing = false;

  await fastify.register(formbody, { bodyLimit: BODY_LIMIT });
  // Any other body is accepted as unparsed so the contract's validation order decides the answer.
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_req, _body, done) =>
    done(null, UNSUPPORTED_BODY),
  );

  const renderError = (err: ApiError, format: 'xml' | 'json') => ({
    body: renderEnvelope({ code: err.status, error: { message: err.message, type: err.type } }, format),
    type: CONTENT_TYPE[format],
  });

  fastify.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    let apiError: ApiError;
    if (err instanceof ApiError) apiError = err;
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      apiError = new ApiError('invalid_param', 'request body exceeds 16 KiB');
    else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      apiError = new ApiError('invalid_param', `malformed request: ${err.code ?? 'bad request'}`);
    } else {
      request.log.error({ err }, 'unhandled error');
      apiError = new ApiError('internal', 'internal error');
    }
    const format = request.headers.accept?.includes('application/json') ? 'json' : 'xml';
    const { body, type } = renderError(apiError, format);
    void reply.code(apiError.status).headers(apiError.headers).type(type).send(body);
  });

  fastify.setNotFoundHandler((request, reply) => {
    const format = request.headers.accept?.includes('application/json') ? 'json' : 'xml';
    const { body, type } = renderError(new ApiError('no_such_method', 'no such interface'), format);
    void reply.code(404).type(type).send(body);
  });

  fastify.addHook('onRequest', async (request, reply) => {
    if (!closing) return;
    const format = request.headers.accept?.includes('application/json') ? 'json' : 'xml';
    const { body, type } = renderError(
      new ApiError('unavailable', 'server is shutting down; retry shortly'),
      format,
    );
    return reply.code(503).header('connection', 'close').type(type).send(body);
  });

  fastify.route({
    method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'],
    url: '/movTicket/:method',
    handler: async (request, reply) => {
      const body = request.body;
      const params =
        body === UNSUPPORTED_BODY
          ? null
          : body === undefined || body === null
            ? {}
            : (body as Record<string, unknown>);
      const res = await partnerApi.handle({
        method: (request.params as { method: string }).method,
        httpMethod: request.method,
        params,
        queryFormat: (request.query as Record<string, unknown>).format,
        accept: request.headers.accept,
        ip: request.ip,
      });
      if (res.status >= 500) {
        request.log.warn(
          { partner_id: res.partnerId, req_id: res.reqId, type: res.errorType },
          'partner request not served',
        );
      }
      return reply.code(res.status).headers(res.headers).type(res.contentType).send(res.body);
    },
  });

  fastify.get('/healthz', async (_request, reply) => {
    try {
      await db.ping();
      return reply.type('application/json').send({ status: 'ok' });
    } catch {
      return reply.code(503).type('application/json').send({ status: 'unavailable' });
    }
  });

  return {
    fastify,
    registry,
    requestLog,
    cards,
    outbox,
    startWorkers: () => outbox.start(),
    close: async () => {
      closing = true;
      await fastify.close();
      await outbox.stop();
      await requestLog.flush();
    },
  };
}

const UNSUPPORTED_BODY = Symbol('unsupported body');
