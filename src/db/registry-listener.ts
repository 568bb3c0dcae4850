import pg from 'pg';
import { REGISTRY_CHANNEL } from './migrations/013_registry_notify.js';

/** Name the listening session carries in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'movticket-registry-listener';

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

/**
 * One connection of its own, outside the pool, that LISTENs for registry changes (migration 013)
 * and calls every watcher on each. When the connection is lost (the server restarted, a failover
 * moved the leader) it connects again, waiting a little longer each time up to 5 s, and then
 * calls the watchers once: a change may have committed while nobody listened. Watchers must
 * therefore treat a call as "look again", not as proof of a change; the registry's version
 * check decides.
 */
export class RegistryListener {
  private readonly watchers = new Set<() => void>();
  private client: pg.Client | null = null;
  private started = false;
  private closed = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly url: string) {}

  /** Calls `onChange` on every change heard; returns a function that stops calling it. */
  watch(onChange: () => void): () => void {
    this.watchers.add(onChange);
    if (!this.started) {
      this.started = true;
      void this.connect();
    }
    return () => this.watchers.delete(onChange);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private notify(): void {
    for (const w of this.watchers) {
      try {
        w();
      } catch {
        // A watcher's failure is its own; the others still hear of the change.
      }
    }
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      application_name: LISTENER_APPLICATION_NAME,
    });
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = null;
      client.end().catch(() => {});
      this.retryLater();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (msg) => {
      if (msg.channel === REGISTRY_CHANNEL) this.notify();
    });
    try {
      await client.connect();
      await client.query(`listen ${REGISTRY_CHANNEL}`);
    } catch {
      onLost();
      return;
    }
    if (lost) return;
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.retryMs = RETRY_MIN_MS;
    this.notify();
  }

  private retryLater(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}
