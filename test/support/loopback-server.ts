import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The plumbing shared by the loopback fakes (SMS gateway, SMS providers): an HTTP server on
 * 127.0.0.1 that reads each request's body, counts requests in flight, can hold an answer
 * forever or send it late, keeps the first acceptance of each message id, and on `close` ends
 * every socket and timer it made.
 */
export abstract class LoopbackServer<Accepted extends { id: string }> {
  /** Delay of `slow` answers; a function is asked once per request. */
  slowMs: number | (() => number) = 1_500;
  /** Requests received and not yet answered or closed, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** First acceptance of each id, in order: what a real service would deliver. */
  readonly delivered = new Map<string, Accepted>();
  /** How often each id was accepted. */
  readonly acceptances = new Map<string, number>();
  url = '';
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server: http.Server;

  protected constructor() {
    this.server = http.createServer((req, res) => {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      res.once('close', () => this.inFlight--);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  /** Answers one request whose body has been read. */
  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void;

  /** Listens on a free port; `url` is then `http://127.0.0.1:PORT` + `pathname`. */
  protected async listen(pathname: string): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${pathname}`;
  }

  /** Never answers `res` (until `dropHanging` or `close`). */
  protected hold(res: http.ServerResponse): void {
    this.hanging.add(res);
    res.once('close', () => this.hanging.delete(res));
  }

  /** Calls `answer` after `slowMs`. */
  protected later(answer: () => void): void {
    const ms = typeof this.slowMs === 'function' ? this.slowMs() : this.slowMs;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      answer();
    }, ms);
    this.timers.add(timer);
  }

  /** Records an acceptance of `m.id`; returns the first acceptance of that id. */
  protected record(m: Accepted): Accepted {
    this.acceptances.set(m.id, (this.acceptances.get(m.id) ?? 0) + 1);
    if (!this.delivered.has(m.id)) this.delivered.set(m.id, m);
    return this.delivered.get(m.id)!;
  }

  /** Acceptances of an id already accepted. */
  protected duplicates(): number {
    let duplicates = 0;
    for (const n of this.acceptances.values()) duplicates += n - 1;
    return duplicates;
  }

  /** Ids accepted more than once, with their count. */
  duplicatedIds(): [string, number][] {
    return [...this.acceptances].filter(([, n]) => n > 1);
  }

  /** Cuts the connections of the requests held by `hold`, as a network failure would. */
  dropHanging(): void {
    for (const res of this.hanging) res.socket?.destroy();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
