import { FakeAliyun } from '../test/support/fake-aliyun.js';
import type { FakeGateway, GatewayMode } from '../test/support/fake-gateway.js';
import type { FakeProvider, ProviderMode } from '../test/support/fake-provider.js';
import { FakeTencent } from '../test/support/fake-tencent.js';

/** What the SMS soak sends to: the generic gateway, or one or two fake providers. */
export interface SoakTarget {
  describe: string;
  /** The fault phases, in order; the last is `ok`. */
  phases: string[];
  setMode(mode: string): void;
  stats(): { requests: number; distinct: number; duplicates: number };
  /** Message ids accepted more than once (across providers too), with their count. */
  duplicatedIds(): [string, number][];
  /** The card numbers of the messages accepted. */
  deliveredCards(): Set<string>;
  duplicateLabel: string;
  /** Further lines of the summary. */
  details(): [string, string][];
  /** The target saw nothing wrong: no bad request, and (for providers) nothing sent twice. */
  clean(): boolean;
  close(): Promise<void>;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** The generic http gateway, which drops repeated ids itself: a repeat is acknowledged, not sent. */
export function gatewayTarget(gateway: FakeGateway): SoakTarget {
  return {
    describe: gateway.url,
    phases: ['fail', 'hang', 'slow', 'drop', 'ok'] satisfies GatewayMode[],
    setMode: (mode) => (gateway.mode = mode as GatewayMode),
    stats: () => {
      const s = gateway.stats();
      return { requests: sum(s.requests), distinct: s.distinct, duplicates: s.duplicates };
    },
    duplicatedIds: () => gateway.duplicatedIds(),
    deliveredCards: () => {
      const cards = new Set<string>();
      for (const m of gateway.delivered.values()) {
        const match = /卡号(\d+)/.exec(m.text);
        if (match) cards.add(match[1]!);
      }
      return cards;
    },
    duplicateLabel: 'duplicates (same id, acknowledged)',
    details: () => {
      const s = gateway.stats();
      return [
        ['idempotency-key != body id', String(s.keyMismatches)],
        ['malformed bodies', String(s.malformed)],
        ['gateway requests by mode', JSON.stringify(s.requests)],
      ];
    },
    clean: () => gateway.stats().keyMismatches === 0,
    close: () => gateway.close(),
  };
}

/**
 * Fake providers in failover order; the faults hit the first, the others stay up. A provider
 * sends every request it accepts: one id accepted twice, by one provider or two, is an SMS sent twice.
 */
export function providerTarget(names: string[], fakes: FakeProvider[]): SoakTarget {
  const counts = () => {
    const total = new Map<string, number>();
    for (const f of fakes) for (const [id, n] of f.acceptances) total.set(id, (total.get(id) ?? 0) + n);
    return total;
  };
  const acrossProviders = () => {
    let n = 0;
    const seen = new Set<string>();
    for (const f of fakes) {
      for (const id of f.delivered.keys()) {
        if (seen.has(id)) n++;
        seen.add(id);
      }
    }
    return n;
  };
  return {
    describe: names.map((n, i) => `${n}@${fakes[i]!.url}`).join(','),
    phases: ['fail', 'throttle', 'hang', 'slow', 'drop', 'ok'] satisfies ProviderMode[],
    setMode: (mode) => {
      fakes[0]!.mode = mode as ProviderMode;
    },
    stats: () => {
      const total = counts();
      let duplicates = 0;
      for (const n of total.values()) duplicates += n - 1;
      const requests = fakes.reduce((a, f) => a + f.sendCalls, 0);
      return { requests, distinct: total.size, duplicates };
    },
    duplicatedIds: () => [...counts()].filter(([, n]) => n > 1),
    deliveredCards: () => {
      const cards = new Set<string>();
      for (const f of fakes) {
        for (const m of f.delivered.values()) {
          const card = f instanceof FakeAliyun ? FakeAliyun.cardOf(m) : FakeTencent.cardOf(m);
          if (card) cards.add(card);
        }
      }
      return cards;
    },
    duplicateLabel: 'sent twice (an id accepted again)',
    details: () => [
      ...names.map((n, i): [string, string] => [
        `${n} sends by mode`,
        JSON.stringify(fakes[i]!.stats().requests),
      ]),
      ...names.map((n, i): [string, string] => [`${n} accepted messages`, String(fakes[i]!.delivered.size)]),
      ['sent through two providers', String(acrossProviders())],
      ['bad signatures', String(fakes.reduce((a, f) => a + f.stats().badSignatures, 0))],
      ['malformed requests', String(fakes.reduce((a, f) => a + f.stats().malformed, 0))],
    ],
    clean: () => {
      const total = counts();
      return (
        [...total.values()].every((n) => n === 1) &&
        fakes.every((f) => f.stats().badSignatures === 0 && f.stats().malformed === 0)
      );
    },
    close: async () => {
      await Promise.all(fakes.map((f) => f.close()));
    },
  };
}
