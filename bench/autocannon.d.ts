// autocannon ships no types; this declares only the part of its API the benchmark uses.
declare module 'autocannon' {
  /** A request template; autocannon turns it into raw HTTP bytes. */
  export interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    /** Called before each send; returning nothing restarts the connection's sequence at request 1. */
    setupRequest?: (
      req: AutocannonRequest,
      context: Record<string, unknown>,
    ) => AutocannonRequest | undefined;
    onResponse?: (
      status: number,
      body: string,
      context: Record<string, unknown>,
      headers: Record<string, string | string[]>,
    ) => void;
  }

  export interface AutocannonOptions {
    url: string;
    connections?: number;
    /** Seconds. */
    duration?: number;
    pipelining?: number;
    /** Seconds before a request counts as a timeout. */
    timeout?: number;
    /** Requests per second over all connections (spread per connection, per second). */
    overallRate?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    requests?: AutocannonRequest[];
  }

  /** Summary of an HDR histogram; latency figures are in milliseconds. */
  export interface AutocannonHistogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
  }

  export interface AutocannonResult {
    requests: AutocannonHistogram;
    latency: AutocannonHistogram;
    throughput: AutocannonHistogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    duration: number;
    '2xx': number;
  }

  /** A running load test; also a promise of its result. */
  export interface AutocannonInstance extends PromiseLike<AutocannonResult> {
    /** Ends the run early; the promise then resolves with what was measured so far. */
    stop(): void;
  }

  export default function autocannon(options: AutocannonOptions): AutocannonInstance;
}
