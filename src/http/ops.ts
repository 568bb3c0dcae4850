import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import { contractError } from '../errors.js';
import { errorResponse } from './envelope.js';
import { type Metrics, registerMetricsRoute } from './metrics.js';

export interface OpsOptions {
  config: Config;
  db: Db;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** True once `App.close` began. */
  isClosing(): boolean;
}

const READYZ = '/readyz';

/**
 * Once shutting down, answers every request with 503 (`connection: close`) in the partner
 * API's envelope, except /readyz, which reports the shutdown itself. Install before the routes.
 */
export function installShutdownGate(fastify: FastifyInstance, isClosing: () => boolean): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    // /readyz reports the shutdown itself, in its own shape.
    if (!isClosing() || request.routeOptions.url === READYZ) return done();
    const format = request.headers.accept?.includes('application/json') ? 'json' : 'xml';
    const { contentType, body } = errorResponse(
      contractError('unavailable', 'server is shutting down; retry shortly'),
      format,
    );
    void reply.code(503).header('connection', 'close').type(contentType).send(body);
  });
}

/**
 * The operations endpoints: /healthz, /readyz and /metrics. Returns the separate server that
 * serves only /metrics when `metricsPort` is set (the caller listens on it).
 */
export function registerOps(fastify: FastifyInstance, opts: OpsOptions): FastifyInstance | undefined {
  const { config, db, metrics, log, isClosing } = opts;
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
    if (isClosing()) return answer(503, 'shutting down');
    try {
      await db.ping();
    } catch {
      return answer(503, 'unavailable');
    }
    return isClosing() ? answer(503, 'shutting down') : answer(200, 'ready');
  });
  return metricsServer;
}
