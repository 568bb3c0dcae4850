/** Per-partner token buckets (per process): `rate` requests a second, bursts up to `rate`. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Seconds to wait when over the limit, else 0 (and a token is spent). */
  take(key: string, rate: number, now: number): number {
    if (rate <= 0) return 0;
    const b = this.buckets.get(key) ?? { tokens: rate, at: now };
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / rate;
  }
}
