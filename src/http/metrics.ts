import client from 'prom-client';
import type { Db } from '../db/database.js';
import { countCardsByStatus } from '../db/card.repository.js';
import { countSmsByStatus } from '../db/sms.repository.js';
import { INTERFACES } from './partner/interfaces.js';

const CARD_STATES = ['inactive', 'active', 'used', 'expired', 'banned'];
const SMS_STATES = ['queued', 'sent', 'failed'];

/** Prometheus metrics of one process; database-wide gauges are read at scrape time. */
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

  constructor(db: Db) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'movticket_' });
    new client.Gauge({
      name: 'movticket_cards',
      help: 'Cards by stored state',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const counts = new Map((await countCardsByStatus(db.kysely)).map((r) => [r.status, r.n]));
        for (const s of CARD_STATES) this.set({ status: s }, counts.get(s) ?? 0);
      },
    });
    new client.Gauge({
      name: 'movticket_sms_messages',
      help: 'SMS messages by delivery state (queued is the outbox depth; failed gave up after all tries)',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const counts = new Map((await countSmsByStatus(db.kysely)).map((r) => [r.status, r.n]));
        for (const s of SMS_STATES) this.set({ status: s }, counts.get(s) ?? 0);
      },
    });
  }

  /** Records one partner request; unknown interface names share one label. */
  observe(method: string, code: number, seconds: number): void {
    const name = INTERFACES.has(method) ? method : 'unknown';
    this.requests.inc({ interface: name, code: String(code) });
    this.latency.observe({ interface: name }, seconds);
  }
}
