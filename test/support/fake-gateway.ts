import type http from 'node:http';
import { LoopbackServer } from './loopback-server.js';

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
export class FakeGateway extends LoopbackServer<ReceivedSms> {
  mode: GatewayMode = 'ok';
  /** Picks the mode of one message by its id; `undefined` falls back to `mode`. */
  modeFor: ((id: string) => GatewayMode | undefined) | null = null;
  private readonly requests: Record<GatewayMode, number> = { ok: 0, fail: 0, hang: 0, slow: 0, drop: 0 };
  private keyMismatches = 0;
  private malformed = 0;

  private constructor() {
    super();
  }

  /** Starts a gateway on a free port; `url` is where to POST. */
  static async start(): Promise<FakeGateway> {
    const g = new FakeGateway();
    await g.listen('/sms');
    return g;
  }

  stats(): GatewayStats {
    return {
      requests: { ...this.requests },
      distinct: this.delivered.size,
      duplicates: this.duplicates(),
      keyMismatches: this.keyMismatches,
      malformed: this.malformed,
    };
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const mode = this.modeOf(body);
    this.requests[mode]++;
    if (mode === 'fail') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('gateway failure');
      return;
    }
    if (mode === 'hang') return this.hold(res);
    const accepted = this.accept(body, req.headers['idempotency-key']);
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
    this.later(answer);
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
    this.record({ id: m.id, mobile: m.mobile, text: m.text, key: k, at: Date.now() });
    return true;
  }
}
