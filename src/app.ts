import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import type { Config } from './config.js';
import type { Db } from './db/database.js';
import { CallbackPolicy } from './domain/callback-policy.js';
import { CardService } from './domain/card.service.js';
import type { Clock } from './domain/clock.js';
import { Registry } from './domain/registry.js';
import { RequestLog } from './domain/request-log.js';
import type { SecretBox } from './domain/secret-box.js';
import { sealLegacySecrets } from './domain/secrets-at-rest.js';
import { AppError, contractError, StorageUnavailable } from './errors.js';
import { errorResponse, type Format } from './http/envelope.js';
import { INTERFACES } from './http/partner/interfaces.js';
import { PartnerApi } from './http/partner/partner-api.js';
import { Metrics, registerMetricsRoute } from './http/metrics.js';
import { createAdminDeps, registerAdmin } from './http/admin/index.js';
import { AdminHttpError, sendError } from './http/admin/errors.js';
import { bodyTooLarge, parseForm, readMultipart } from './http/partner/body.js';
import { callbackTransport } from './workers/callback-transport.js';
import { DEFAULT_NOTIFY_OUTBOX, NotifyOutbox } from './workers/notify-outbox.js';
import { SmsOutbox } from './workers/sms-outbox.js';
import type { SmsSender } from './workers/sms-senders.js';
import { clientErrorHandler } from './http/client-errors.js';

export interface AppDeps {
  config: Config;
  db: Db;
  clock: Clock;
  sms: SmsSender;
  /** Seals card passwords (and what carries them) at rest; from the key file (see secret-key-file.ts). */
  secrets: SecretBox;
  logger?: FastifyServerOptions['logger'];
}

export interface App {
  fastify: FastifyInstance;
  registry: Registry;
  requestLog: RequestLog;
  cards: CardService;
  outbox: SmsOutbox;
  /** Delivers card events to partners' callback URLs. */
  notify: NotifyOutbox;
  /** Serves only /metrics, when `metricsPort` is set; the server listens on it. */
  metricsServer: FastifyInstance | undefined;
  /** Starts background workers (the server does; tests drive them by hand). */
  startWorkers(): void;
  close(): Promise<void>;
}

const BODY_LIMIT = 16 * 1024;

/** Builds the application from its dependencies; never listens. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, db, clock, secrets } = deps;
  const fastify = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: BODY_LIMIT,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    connectionTimeout: 30_000,
    // Slow clients: headers and the whole request each have a deadline, checked every second.
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: 1000 },
    requestTimeout: config.receiveTimeoutMs,
    clientErrorHandler: clientErrorHandler(config),
    return503OnClosing: false,
    // A path that cannot be decoded or is too long names no interface; answer with the envelope.
    frameworkErrors: (err, request, reply) => {
      const apiError =
        err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? contractError('no_such_method', 'no such interface')
          : contractError('internal', 'internal error');
      // The admin area answers in its own shape (`{error:{code,message}}` or a page), not the envelope.
      if (request.url.startsWith('/admin')) {
        const adminError =
          apiError.partnerStatus === 404
            ? new AdminHttpError(404, 'not_found', 'not found')
            : new AdminHttpError(500, 'internal', 'internal error');
        void sendError(request as FastifyRequest, reply as FastifyReply, adminError);
        return;
      }
      const format: Format = request.headers.accept?.includes('application/json') ? 'json' : 'xml';
      const { status, contentType, body } = errorResponse(apiError, format);
      void (reply as FastifyReply).code(status).type(contentType).send(body);
    },
  });
  const log = fastify.log;
  const sealed = await sealLegacySecrets(db, secrets);
  if (sealed) log.info(sealed, 'sealed card passwords stored in plaintext by an earlier version');
  const registry = await Registry.load(db);
  const requestLog = new RequestLog(db, clock, secrets, (err) =>
    log.error({ err }, 'could not record read requests'),
  );
  const cards = new CardService(
    registry,
    clock,
    {
      timeZone: config.timeZone,
      payDeadlineMin: config.payDeadlineMin,
      cinemaValidDays: config.cinemaValidDays,
      smsTemplate: config.smsTemplate,
    },
    secrets,
  );
  const outbox = new SmsOutbox(db, clock, deps.sms, secrets, log, {
    maxAttempts: config.smsMaxAttempts,
    leaseMs: config.smsLeaseMs,
    concurrency: config.smsConcurrency,
    pollMs: 250,
    backoffBaseMs: config.smsBackoffBaseMs,
    backoffMaxMs: config.smsBackoffMaxMs,
  });
  const notify = new NotifyOutbox(
    db,
    clock,
    log,
    { ...DEFAULT_NOTIFY_OUTBOX, timeZone: config.timeZone },
    callbackTransport(new CallbackPolicy(config.callbackAllow)),
  );
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
      if (method === 'ban') setImmediate(() => notify.nudge());
    },
    onInternalError: (err, req) => log.error({ err, method: req.method }, 'partner request failed'),
  });

  let closing = false;
  const metrics = new Metrics(db, clock);

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
    if (!request.isMultipart() || precedingError(request)) return done();
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
    const preceding = status >= 400 && status < 500 ? precedingError(request) : undefined;
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

  fastify.addHook('onRequest', (request, reply, done) => {
    // /readyz reports the shutdown itself, in its own shape.
    if (!closing || request.routeOptions.url === READYZ) return done();
    const format = request.headers.accept?.includes('application/json') ? 'json' : 'xml';
    const { contentType, body } = errorResponse(
      contractError('unavailable', 'server is shutting down; retry shortly'),
      format,
    );
    void reply.code(503).header('connection', 'close').type(contentType).send(body);
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
      else if (res.status !== 200 || INTERFACES.get(method)?.mutates)
        request.log.info(line, 'partner request');
      else request.log.debug(line, 'partner request');
      return reply.code(res.status).headers(res.headers).type(res.contentType).send(res.body);
    },
  });

  await registerAdmin(fastify, createAdminDeps({ db, clock, config, registry, cards, outbox, secrets }));

  // /metrics goes to a listener of its own (loopback by default) when a port is set; otherwise it
  // is on the main port only behind a bearer token, and without either it is not served at all.
  const metricsRoute = { token: config.metricsToken, db, log };
  let metricsServer: FastifyInstance | undefined;
  if (config.metricsPort !== undefined) {
    metricsServer = Fastify({ logger: false });
    registerMetricsRoute(metricsServer, metrics, metricsRoute);
  } else if (config.metricsToken !== undefined) {
    registerMetricsRoute(fastify, metrics, metricsRoute);
  }

  fastify.get('/healthz', async (_request, reply) => {
    try {
      await db.ping();
      return reply.type('application/json').send({ status: 'ok' });
    } catch {
      return reply.code(503).type('application/json').send({ status: 'unavailable' });
    }
  });

  // Ready: the registry is loaded (buildApp awaited it), the database answers, and no shutdown began.
  fastify.get(READYZ, async (_request, reply) => {
    const answer = (code: number, status: string) =>
      reply.code(code).header('cache-control', 'no-store').type('application/json').send({ status });
    if (closing) return answer(503, 'shutting down');
    try {
      await db.ping();
    } catch {
      return answer(503, 'unavailable');
    }
    return closing ? answer(503, 'shutting down') : answer(200, 'ready');
  });

  return {
    fastify,
    registry,
    requestLog,
    cards,
    outbox,
    notify,
    metricsServer,
    startWorkers: () => {
      outbox.start();
      notify.start();
    },
    close: async () => {
      closing = true;
      await Promise.all([fastify.close(), metricsServer?.close()]);
      await outbox.stop();
      await notify.stop();
      await requestLog.flush();
    },
  };
}

const UNSUPPORTED_BODY = Symbol('unsupported body');
const PARTNER_ROUTE = '/movTicket/:method';
const READYZ = '/readyz';

/** The answer the contract gives before looking at the body: unknown interface, then not a POST. */
function precedingError(request: FastifyRequest): AppError | undefined {
  const route = request.routeOptions.url;
  if (route === undefined) return contractError('no_such_method', 'no such interface');
  if (route !== PARTNER_ROUTE) return undefined;
  const name = (request.params as { method?: string }).method ?? '';
  if (!INTERFACES.has(name))
    return contractError('no_such_method', `no such interface: ${name.slice(0, 64)}`);
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
