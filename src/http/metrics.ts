import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { Db } from '../db/database.js';
import { countCardsByStatus } from '../db/card.repository.js';
import { countSmsByDelivery, countSmsByStatus } from '../db/sms.repository.js';
import type { Clock } from '../domain/clock.js';
import { StorageUnavailable } from '../errors.js';
import { INTERFACES } from './partner/interfaces.js';

const CARD_STATES = ['inactive', 'active', 'used', 'expired', 'banned'];
const SMS_STATES = ['queued', 'sent', 'failed'];
const DELIVERY_STATES = ['delivered', 'undelivered', 'none'];

/**
 * How old the card and SMS counts a scrape reports may be. Counting scans both tables, which
 * grow with every card sold; a scraper (or anyone hammering /metrics) runs it at most this often.
 */
export const METRICS_REFRESH_MS = 15_000;

interface StateCounts {
  cards: Map<string, number>;
  sms: Map<string, number>;
  delivery: Map<string, number>;
}

/** Prometheus metrics of one process; database-wide gauges come from a count refreshed now and then. */
export class Metrics {
  readonly registry = new client.Registry();
  private readonly requests = new client.Counter({
    name: 'movticket_partner_requests_total',
    help: 'Partner API requests by interface and answered code',
    labelNames: ['interface', 'code'] as const,
    registers: [this.registry],
  });
  private readonly latency = new client.Histogram({
    name: 'movticket_partner_request_duration_seconds',
    help: 'Partner API request latency by interface',
    labelNames: ['interface'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  private counted: { at: number; counts: StateCounts } | null = null;
  private counting: Promise<StateCounts> | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly refreshMs = METRICS_REFRESH_MS,
  ) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'movticket_' });
    if (db.observeWalSync) {
      const fsyncs = new client.Histogram({
        name: 'movticket_sqlite_wal_fsync_seconds',
        help: 'Duration of each fsync of the SQLite WAL: every answer to a write waits for one or two',
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
        registers: [this.registry],
      });
      db.observeWalSync((seconds) => fsyncs.observe(seconds));
    }
    const counts = () => this.stateCounts();
    new client.Gauge({
      name: 'movticket_cards',
      help: `Cards by stored state (counted at most every ${refreshMs / 1000} s)`,
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const { cards } = await counts();
        for (const s of CARD_STATES) this.set({ status: s }, cards.get(s) ?? 0);
      },
    });
    new client.Gauge({
      name: 'movticket_sms_messages',
      help: `SMS messages by delivery state (queued is the outbox depth; failed gave up after all tries; counted at most every ${refreshMs / 1000} s)`,
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const { sms } = await counts();
        for (const s of SMS_STATES) this.set({ status: s }, sms.get(s) ?? 0);
      },
    });
    new client.Gauge({
      name: 'movticket_sms_delivery',
      help: `Sent SMS messages by the handset's report from the provider (none: no report yet, or a sender without reports; counted at most every ${refreshMs / 1000} s)`,
      labelNames: ['result'] as const,
      registers: [this.registry],
      async collect() {
        const { delivery } = await counts();
        for (const s of DELIVERY_STATES) this.set({ result: s }, delivery.get(s) ?? 0);
      },
    });
  }

  /** Per interface and code, the counter and histogram children: no label lookup per request. */
  private readonly children = new Map<
    string,
    { count: client.Counter.Internal; time: client.Histogram.Internal<string> }
  >();

  /** Records one partner request; unknown interface names share one label. */
  observe(method: string, code: number, seconds: number): void {
    const name = INTERFACES.has(method) ? method : 'unknown';
    const key = `${name} ${code}`;
    let child = this.children.get(key);
    if (!child) {
      child = {
        count: this.requests.labels({ interface: name, code: String(code) }),
        time: this.latency.labels({ interface: name }),
      };
      this.children.set(key, child);
    }
    child.count.inc();
    child.time.observe(seconds);
  }

  /** The last count while it is fresh; otherwise one new count, shared by every scrape waiting for it. */
  private stateCounts(): Promise<StateCounts> {
    const now = this.clock.now();
    if (this.counted && now - this.counted.at < this.refreshMs) return Promise.resolve(this.counted.counts);
    this.counting ??= (async () => {
      try {
        const [cards, sms, delivery] = await Promise.all([
          countCardsByStatus(this.db.kysely),
          countSmsByStatus(this.db.kysely),
          countSmsByDelivery(this.db.kysely),
        ]);
        const counts = {
          cards: new Map(cards.map((r) => [r.status, r.n])),
          sms: new Map(sms.map((r) => [r.status, r.n])),
          delivery: new Map(delivery.map((r) => [r.delivery, r.n])),
        };
        this.counted = { at: now, counts };
        return counts;
      } finally {
        this.counting = null;
      }
    })();
    return this.counting;
  }
}

export interface MetricsRouteOptions {
  /** When set, a scrape must send `Authorization: Bearer TOKEN`. */
  token: string | undefined;
  db: Db;
  log: FastifyBaseLogger;
}

/** `GET /metrics` on `fastify`: the token checked first, then the registry rendered. */
export function registerMetricsRoute(
  fastify: FastifyInstance,
  metrics: Metrics,
  opts: MetricsRouteOptions,
): void {
  fastify.get('/metrics', async (request, reply) => {
    if (opts.token !== undefined && !bearerMatches(request.headers.authorization, opts.token)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="metrics"')
        .type('text/plain; charset=utf-8')
        .send('a bearer token is required\n');
    }
    try {
      const text = await metrics.registry.metrics();
      return await reply.type(metrics.registry.contentType).send(text);
    } catch (err) {
      // e.g. counting cards while PostgreSQL restarts.
      const unavailable = err instanceof StorageUnavailable;
      if (unavailable) opts.log.warn({ err }, 'metrics: storage unavailable');
      else opts.log.error({ err }, 'metrics failed');
      return reply
        .code(unavailable ? 503 : 500)
        .type('text/plain; charset=utf-8')
        .send(unavailable ? 'storage is unavailable; retry later\n' : 'internal error\n');
    }
  });
}

/** Compared in constant time: both sides are hashed to equal length first. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer +(\S+)$/i.exec(header ?? '')?.[1];
  const a = createHash('sha256')
    .update(given ?? '')
    .digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}
