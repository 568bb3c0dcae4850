import {
  SmsSendError,
  type Accepted,
  type Receipt,
  type ReceiptQuery,
  type SmsMessage,
  type SmsSender,
  type SmsProvider,
} from './types.js';

/**
 * Sends through the providers in order (`MOVTICKET_SMS=aliyun,tencent`): the next one only when
 * the one before surely did not accept the message and another could (outage, throttling,
 * account trouble; see refusals.ts). A message an earlier attempt may have left with a provider
 * (timeout, lost connection) stays with it: that provider is asked whether it has the message,
 * and only if it has no record is the message sent again, through it alone. So a message is never
 * sent through two providers.
 */
export function providerChain(
  providers: readonly SmsProvider[],
  wallClock: () => number = Date.now,
): SmsSender {
  const byName = new Map(providers.map((p) => [p.name, p]));
  return {
    name: providers.map((p) => p.name).join(','),
    async send(m: SmsMessage): Promise<Accepted> {
      if (m.provider) {
        const pinned = byName.get(m.provider);
        // Taken off the setting while a message may be with it: sending through another one could
        // deliver it twice, so the message waits (and fails after its tries) instead.
        if (!pinned) {
          throw new SmsSendError('uncertain', m.provider, null, `${m.provider} is no longer configured`);
        }
        const now = wallClock();
        const since = m.createdAt ?? now;
        const known = await pinned.find({
          id: m.id,
          mobile: m.mobile,
          provider: pinned.name,
          ref: null,
          since,
          now,
        });
        if (known.state !== 'unknown') return { provider: pinned.name, ref: known.ref };
        if (m.verifyOnly || (m.queuedForMs ?? 0) < (pinned.recordsCompleteAfterMs ?? 0)) {
          throw new SmsSendError(
            'uncertain',
            pinned.name,
            null,
            `${pinned.name} has no record of the message yet`,
          );
        }
        return pinned.send(m);
      }
      let last: unknown;
      for (const p of providers) {
        try {
          return await p.send(m);
        } catch (err) {
          if (!(err instanceof SmsSendError) || err.kind !== 'failover') throw err;
          last = err;
        }
      }
      throw last;
    },
    async receipt(q: ReceiptQuery): Promise<Receipt> {
      const p = byName.get(q.provider);
      if (!p) return { state: 'unknown' };
      return p.find(q);
    },
  };
}
