import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { buildServices, type ServiceDeps } from './composition.js';
import type { CardService } from './domain/card.service.js';
import type { Registry } from './domain/registry.js';
import type { RequestLog } from './domain/request-log.js';
import { contractError, httpRefusal } from './errors.js';
import { createAdminDeps, registerAdmin } from './http/admin/index.js';
import { sendError } from './http/admin/errors.js';
import { clientErrorHandler } from './http/client-errors.js';
import { registerDocs } from './http/docs.js';
import { errorResponse, type Format } from './http/envelope.js';
import { Metrics } from './http/metrics.js';
import { installShutdownGate, registerOps } from './http/ops.js';
import { BODY_LIMIT, registerPartnerApi } from './http/partner/partner.plugin.js';
import type { NotifyOutbox } from './workers/notify-outbox.js';
import type { SmsOutbox } from './workers/sms-outbox.js';

export interface AppDeps extends ServiceDeps {
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

/**
 * Builds the application from its dependencies (the services, then the partner API, the admin
 * area and the operations endpoints on one Fastify instance); never listens.
 */
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
            ? httpRefusal('not_found', 'not found')
            : httpRefusal('internal', 'internal error');
        void sendError(request as FastifyRequest, reply as FastifyReply, adminError);
        return;
      }
      const format: Format = request.headers.accept?.includes('application/json') ? 'json' : 'xml';
      const { status, contentType, body } = errorResponse(apiError, format);
      void (reply as FastifyReply).code(status).type(contentType).send(body);
    },
  });
  const log = fastify.log;
  const services = await buildServices(deps, log);
  const { registry, requestLog, cards, outbox, notify } = services;
  let closing = false;
  const isClosing = () => closing;
  const metrics = new Metrics(db, clock);

  installShutdownGate(fastify, isClosing);
  await registerPartnerApi(fastify, { config, db, clock, ...services, metrics, log });
  await registerAdmin(
    fastify,
    createAdminDeps({ db, clock, config, registry, cards, outbox, notify, secrets }),
  );
  registerDocs(fastify);
  const metricsServer = registerOps(fastify, { config, db, metrics, log, isClosing });

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
