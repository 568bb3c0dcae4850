// An open-loop load generator: units of work (one request, or a buy then its pay) start at
// evenly spaced moments, whatever the answers before them did, and each response's latency is
// measured from the moment the generator came to send it — a unit's first request when its
// scheduled start came round, each later one when the answer before it arrived — so the time it
// waits for a free connection (all of them busy with a slow server) counts: no coordinated
// omission. How late the generator's own timer fired is reported apart (maxStartLagMs). autocannon's rate options give
// every connection a per-second quota it spends at the start of each second (bursts of up to
// `connections` requests), and correct for coordinated omission at a 1 ms interval, which counts
// one slow answer many times; neither is what a paced arrival of real buyers looks like.
import net from 'node:net';
import type { AutocannonRequest } from 'autocannon';

export interface PacedOptions {
  url: string;
  /** Units started per second. */
  rate: number;
  durationSec: number;
  /** Sockets kept open to the server (at most this many requests in flight). */
  connections: number;
  /** The unit: requests sent one after another, sharing one context. */
  requests: AutocannonRequest[];
}

export interface PacedResult {
  /** Per-response latencies, ms, sorted. */
  latenciesMs: Float64Array;
  /** Units started. */
  started: number;
  /** How late, at worst, the generator started a unit (ms): large means it could not keep up. */
  maxStartLagMs: number;
  errors: number;
  durationSec: number;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

/** One keep-alive connection speaking just enough HTTP/1.1: content-length bodies, no chunking. */
class Connection {
  readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  dead = false;
  private pending: ((status: number, body: string) => void) | null = null;

  /** `onEnd` is called once, when the connection fails or closes, saying whether a request was lost. */
  constructor(host: string, port: number, onEnd: (lostRequest: boolean) => void) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk) => this.onData(chunk));
    const end = (): void => {
      if (this.dead) return;
      this.dead = true;
      const lost = this.pending !== null;
      this.pending = null;
      onEnd(lost);
    };
    this.socket.on('error', end);
    this.socket.on('close', end);
  }

  send(head: string, body: string, onResponse: (status: number, body: string) => void): void {
    this.pending = onResponse;
    this.socket.write(head + body);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    const status = Number(head.slice(9, 12));
    const done = this.pending;
    this.pending = null;
    done?.(status, body);
  }
}

export async function runPaced(opts: PacedOptions): Promise<PacedResult> {
  const target = new URL(opts.url);
  const host = target.hostname;
  const port = Number(target.port);
  const latencies: number[] = [];
  let errors = 0;
  let inFlight = 0;
  let started = 0;
  let maxStartLagMs = 0;
  let allStarted = false;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));

  const idle: Connection[] = [];
  const waiting: (() => void)[] = [];
  let opened = 0;
  const settle = (): void => {
    inFlight--;
    if (allStarted && inFlight === 0) finish();
  };
  /** A free connection now, a new one while fewer than `connections` are open, else the first to free up. */
  const withConnection = (use: (c: Connection) => void): void => {
    const free = idle.pop();
    if (free) return use(free);
    if (opened < opts.connections) {
      opened++;
      const c: Connection = new Connection(host, port, (lost) => {
        opened--;
        const at = idle.indexOf(c);
        if (at >= 0) idle.splice(at, 1);
        if (lost) {
          errors++;
          settle();
        }
        // A request waiting for a connection gets a new one.
        waiting.shift()?.();
      });
      return use(c);
    }
    waiting.push(() => withConnection(use));
  };
  const release = (c: Connection): void => {
    if (c.dead) return;
    idle.push(c);
    waiting.shift()?.();
  };

  const send = (index: number, context: Record<string, unknown>): void => {
    const template = opts.requests[index];
    if (!template) return;
    const req = template.setupRequest ? template.setupRequest({ ...template }, context) : template;
    if (!req) return;
    const body = String(req.body ?? '');
    let head = `${req.method ?? 'GET'} ${req.path ?? '/'} HTTP/1.1\r\nhost: ${target.host}\r\n`;
    for (const [name, value] of Object.entries(req.headers ?? {})) head += `${name}: ${value}\r\n`;
    head += `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    inFlight++;
    const askedAt = performance.now();
    withConnection((c) => {
      c.send(head, body, (status, text) => {
        latencies.push(performance.now() - askedAt);
        release(c);
        template.onResponse?.(status, text, context, {});
        send(index + 1, context);
        settle();
      });
    });
  };

  const intervalMs = 1000 / opts.rate;
  const total = Math.round(opts.rate * opts.durationSec);
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (started < total && t0 + started * intervalMs <= now) {
        maxStartLagMs = Math.max(maxStartLagMs, now - (t0 + started * intervalMs));
        started++;
        send(0, {});
      }
      if (started >= total) return resolve();
      setTimeout(tick, Math.max(0, t0 + started * intervalMs - performance.now()));
    };
    tick();
  });
  allStarted = true;
  if (inFlight > 0) await done;
  const durationSec = (performance.now() - t0) / 1000;
  for (const c of idle) c.socket.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return { latenciesMs: sorted, started, maxStartLagMs, errors, durationSec };
}
