import type http from 'node:http';
import { LoopbackServer } from './loopback-server.js';

/**
 * What a fake provider does with a send (its other calls are always answered):
 * - `ok`: accepts and answers at once.
 * - `fail`: an outage: answers the provider's service error without accepting.
 * - `throttle`: refuses with the provider's rate-limit code, without accepting.
 * - `hang`: reads the request and never answers (nothing accepted).
 * - `slow`: accepts, then answers after `slowMs`: past the sender's timeout the sender sees a
 *   failure although the provider has the message.
 * - `drop`: accepts, then destroys the socket before answering (a reply lost on the way back).
 */
export type ProviderMode = 'ok' | 'fail' | 'throttle' | 'hang' | 'slow' | 'drop';
export const PROVIDER_MODES: ProviderMode[] = ['ok', 'fail', 'throttle', 'hang', 'slow', 'drop'];

/** A message the provider accepted: what the handset gets. */
export interface AcceptedSms {
  /** Our message id (Aliyun OutId, Tencent SessionContext). */
  id: string;
  /** The provider's id (BizId, SerialNo). */
  ref: string;
  mobile: string;
  /** Template values, by the template's variable names (Aliyun) or positions (Tencent). */
  params: Record<string, string>;
  at: number;
}

export interface FakeProviderStats {
  requests: Record<ProviderMode, number>;
  distinct: number;
  /** Acceptances of an id already accepted: a second SMS to the handset. */
  duplicates: number;
  /** Requests refused because their signature or credentials did not verify. */
  badSignatures: number;
  malformed: number;
}

export interface Verdict {
  status: number;
  body: unknown;
}

/** The plumbing of a loopback fake provider; subclasses speak the wire protocol. */
export abstract class FakeProvider extends LoopbackServer<AcceptedSms> {
  mode: ProviderMode = 'ok';
  /** Picks the mode of one message by its mobile number; undefined falls back to `mode`. */
  modeFor: ((mobile: string) => ProviderMode | undefined) | null = null;
  /** Numbers the provider refuses as invalid (as it does for a number that is no mobile). */
  readonly invalidNumbers = new Set<string>();
  /** Numbers whose handset never receives: their report says undelivered. */
  readonly unreachable = new Set<string>();
  /** While true, reports have not come back yet. */
  holdReports = false;
  /** SendSms requests that passed authentication, whatever their answer. */
  sendCalls = 0;
  protected readonly requests: Record<ProviderMode, number> = {
    ok: 0,
    fail: 0,
    throttle: 0,
    hang: 0,
    slow: 0,
    drop: 0,
  };
  protected badSignatures = 0;
  protected malformed = 0;
  private seq = 0;

  /** Answers one request: verifies it, then calls `send` for a send or answers a query. */
  protected abstract answer(
    req: http.IncomingMessage,
    body: string,
    send: (mobile: string, accept: () => Verdict) => Verdict | 'held',
  ): Verdict | 'held';
  /** The answer to a send refused by `fail` or `throttle`. */
  protected abstract refusedAnswer(mode: 'fail' | 'throttle'): Verdict;

  stats(): FakeProviderStats {
    return {
      requests: { ...this.requests },
      distinct: this.delivered.size,
      duplicates: this.duplicates(),
      badSignatures: this.badSignatures,
      malformed: this.malformed,
    };
  }

  protected nextRef(): string {
    return `${Date.now()}${String(++this.seq).padStart(6, '0')}`;
  }

  /** The report of an accepted message: null while reports are held. */
  protected reportOf(sms: AcceptedSms): { delivered: boolean; at: number } | null {
    if (this.holdReports) return null;
    return { delivered: !this.unreachable.has(sms.mobile), at: sms.at + 1_000 };
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    let mode = 'ok' as ProviderMode;
    let accepted: Verdict | null = null;
    const verdict = this.answer(req, body, (mobile, accept) => {
      mode = this.modeFor?.(mobile) ?? this.mode;
      this.requests[mode]++;
      if (mode === 'fail' || mode === 'throttle') return this.refusedAnswer(mode);
      if (mode === 'hang') return 'held';
      accepted = accept();
      return 'held';
    });
    if (verdict !== 'held') return void this.reply(res, verdict);
    if (mode === 'hang') return this.hold(res);
    if (mode === 'drop') return void req.socket.destroy();
    const result = accepted as Verdict | null;
    if (mode === 'ok') return void this.reply(res, result!);
    this.later(() => this.reply(res, result!));
  }

  private reply(res: http.ServerResponse, v: Verdict): void {
    if (res.destroyed) return;
    res
      .writeHead(v.status, { 'content-type': 'application/json; charset=utf-8' })
      .end(JSON.stringify(v.body));
  }
}
