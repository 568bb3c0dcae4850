import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * - `ok`: accepts and answers 200 at once.
 * - `fail`: answers 500 without accepting.
 * - `hang`: reads the request and never answers (nothing accepted).
 * - `slow`: accepts, then answers 200 after `slowMs` — past the sender's timeout the sender
 *   sees a failure although the gateway has the message.
 * - `drop`: accepts, then destroys the socket before answering (a reply lost on the way back).
 */
export type GatewayMode = 'ok' | 'fail' | 'hang' | 'slow' | 'drop';

export interface ReceivedSms {
  id: string;
  mobile: string;
  text: string;
  /** The `idempotency-key` header, which should equal `id`. */
  key: string | undefined;
  at: number;
}

export interface GatewayStats {
  /** Requests by the mode that handled them. */
  requests: Record<GatewayMode, number>;
  /** Distinct message ids accepted. */
  distinct: number;
  /** Acceptances of an id already accepted (acknowledged, not delivered again). */
  duplicates: number;
  /** Requests whose `idempotency-key` header differed from the body's id. */
  keyMismatches: number;
  /** Bodies that were not `{id, mobile, text}` JSON. */
  malformed: number;
}

/** A local SMS gateway on 127.0.0.1 that can be switched between failure modes. */
export class FakeGateway {
  mode: GatewayMode = 'ok';
  /** Delay of `slow` answers; a function is asked once per request. */
  slowMs: number | (() => number) = 1_500;
  /** Picks the mode of one message by its id; `undefined` falls back to `mode`. */
  modeFor: ((id: string) => GatewayMode | undefined) | null = null;
  /** Requests received and not yet answered or closed, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** First acceptance of each id, in order: what a real gateway would deliver. */
  readonly delivered = new Map<string, ReceivedSms>();
  /** How often each id was accepted. */
  readonly acceptances = new Map<string, number>();
  private readonly requests: Record<GatewayMode, number> = { ok: 0, fail: 0, hang: 0, slow: 0, drop: 0 };
  private keyMismatches = 0;
  private malformed = 0;
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server: http.Server;
  url = '';

  private constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  /** Starts a gateway on a free port; `url` is where to POST. */
  static async start(): Promise<FakeGateway> {
    const g = new FakeGateway();
    await new Promise<void>((resolve) => g.server.listen(0, '127.0.0.1', resolve));
    g.url = `http://127.0.0.1:${(g.server.address() as AddressInfo).port}/sms`;
    return g;
  }

  stats(): GatewayStats {
    let duplicates = 0;
    for (const n of this.acceptances.values()) duplicates += n - 1;
    return {
      requests: { ...this.requests },
      distinct: this.delivered.size,
      duplicates,
      keyMismatches: this.keyMismatches,
      malformed: this.malformed,
    };
  }

  /** Ids accepted more than once, with their count. */
  duplicatedIds(): [string, number][] {
    return [...this.acceptances].filter(([, n]) => n > 1);
  }

  /** Cuts the connections of the requests held by `hang`, as a network failure would. */
  dropHanging(): void {
    for (const res of this.hanging) res.socket?.destroy();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.once('close', () => this.inFlight--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mode = this.modeOf(Buffer.concat(chunks).toString('utf8'));
      this.requests[mode]++;
      if (mode === 'fail') {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('gateway failure');
        return;
      }
      if (mode === 'hang') {
        this.hanging.add(res);
        res.once('close', () => this.hanging.delete(res));
        return;
      }
      const accepted = this.accept(Buffer.concat(chunks).toString('utf8'), req.headers['idempotency-key']);
      if (!accepted) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('malformed');
        return;
      }
      if (mode === 'drop') {
        req.socket.destroy();
        return;
      }
      const answer = () => {
        if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      };
      if (mode === 'ok') return answer();
      const ms = typeof this.slowMs === 'function' ? this.slowMs() : this.slowMs;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        answer();
      }, ms);
      this.timers.add(timer);
    });
  }

  private modeOf(body: string): GatewayMode {
    if (!this.modeFor) return this.mode;
    let id: unknown;
    try {
      id = (JSON.parse(body) as { id?: unknown }).id;
    } catch {
      return this.mode;
    }
    return (typeof id === 'string' ? this.modeFor(id) : undefined) ?? this.mode;
  }

  private accept(body: string, key: string | string[] | undefined): boolean {
    let m: Partial<Record<'id' | 'mobile' | 'text', unknown>>;
    try {
      m = JSON.parse(body) as typeof m;
    } catch {
      this.malformed++;
      return false;
    }
    if (typeof m.id !== 'string' || typeof m.mobile !== 'string' || typeof m.text !== 'string') {
      this.malformed++;
      return false;
    }
    const k = Array.isArray(key) ? key[0] : key;
    if (k !== m.id) this.keyMismatches++;
    this.acceptances.set(m.id, (this.acceptances.get(m.id) ?? 0) + 1);
    if (!this.delivered.has(m.id)) {
      this.delivered.set(m.id, { id: m.id, mobile: m.mobile, text: m.text, key: k, at: Date.now() });
    }
    return true;
  }
}
